/* nn_params.c -- the parameter registry (a list that grows through the allocator hook,
 * with the cause of its last failure), gradient clipping, status names, CRC-32. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "nn_internal.h"

const char *nn_status_name(nn_status s)
{
    switch (s) {
    case NN_OK: return "ok";
    case NN_EARG: return "bad argument";
    case NN_ENOMEM: return "out of memory";
    case NN_EIO: return "I/O error";
    case NN_EFORMAT: return "bad file format";
    case NN_EMISMATCH: return "does not fit the model";
    case NN_EDUP: return "name already registered";
    case NN_ENAME: return "bad name";
    case NN_ESHAPE: return "bad shape";
    }
    return "unknown status";
}

void nn_params_init(nn_params *ps)
{
    memset(ps, 0, sizeof *ps);
}

nn_status nn__params_fail(nn_params *ps, nn_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->error, sizeof ps->error, fmt, ap);
    va_end(ap);
    ps->status = s;
    return s;
}

nn_status nn__params_ok(nn_params *ps)
{
    ps->status = NN_OK;
    ps->error[0] = 0;
    return NN_OK;
}

nn_status nn_params_status(const nn_params *ps)
{
    return ps->status;
}

const char *nn_params_error(const nn_params *ps)
{
    return ps->error;
}

/* Room for n parameters in ps->p, doubling; the list is never shrunk. */
static int reserve(nn_params *ps, int n)
{
    if (n <= ps->cap) return 0;
    if (n > INT_MAX / 2) return -1;
    int cap = ps->cap ? ps->cap : 16;
    while (cap < n) cap *= 2;
    ag_tensor **p = ag_alloc((size_t)cap * sizeof *p);
    if (!p) return -1;
    if (ps->n) memcpy(p, ps->p, (size_t)ps->n * sizeof *p);
    ag_free(ps->p);
    ps->p = p;
    ps->cap = cap;
    return 0;
}

/* "(3, 0)" for a message; rank and shape as given, not yet checked. */
static const char *shape_text(int rank, const int *shape, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < rank && shape && d < AG_MAX_RANK && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %d" : "%d", shape[d]);
    if (k < n) snprintf(buf + k, n - k, rank > AG_MAX_RANK ? ", ...)" : ")");
    return buf;
}

nn_status nn__params_add3(nn_params *ps, const char *a, const char *b, const char *c, int rank,
                          const int *shape, ag_tensor **out)
{
    if (out) *out = NULL;
    if (!a) a = "";
    if (!b) b = "";
    if (!c) return nn__params_fail(ps, NN_ENAME, "nn_params: the name after prefix '%s%s' is NULL", a, b);
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c), len = la + lb + lc;
    if (len == 0) return nn__params_fail(ps, NN_ENAME, "nn_params: a parameter needs a non-empty name");
    if (len > NN_NAME_MAX)
        return nn__params_fail(ps, NN_ENAME, "nn_params: the name '%.24s%.24s%.24s...' is %zu bytes, more than %d", a,
                               b, c, len, NN_NAME_MAX);
    char small[256], *full = len < sizeof small ? small : ag_alloc(len + 1);
    if (!full)
        return nn__params_fail(ps, NN_ENOMEM, "nn_params: out of memory for a name of %zu bytes ('%.24s%.24s%.24s...')",
                               len, a, b, c);
    memcpy(full, a, la);
    memcpy(full + la, b, lb);
    memcpy(full + la + lb, c, lc + 1);
    nn_status s = NN_OK;
    long long size = 1;
    int dims_ok = rank >= 0 && rank <= AG_MAX_RANK && (rank == 0 || shape);
    for (int d = 0; dims_ok && d < rank; d++) {
        dims_ok = shape[d] >= 1;
        size *= dims_ok ? shape[d] : 1;
        if (size > 0x7fffffffLL) dims_ok = 0;
    }
    char buf[96];
    ag_tensor *p = NULL;
    if (nn_params_get(ps, full)) {
        s = nn__params_fail(ps, NN_EDUP, "nn_params: '%s' is already registered", full);
    } else if (!dims_ok) {
        s = nn__params_fail(ps, NN_ESHAPE,
                            "nn_params: '%s' has rank %d and shape %s (need rank 0..%d, every dim >= 1, fewer "
                            "than 2^31 values)",
                            full, rank, shape_text(rank, shape, buf, sizeof buf), AG_MAX_RANK);
    } else if (reserve(ps, ps->n + 1) != 0 || !(p = ag_param_new(rank, shape, full))) {
        s = nn__params_fail(ps, NN_ENOMEM, "nn_params: out of memory for '%s' %s", full,
                            shape_text(rank, shape, buf, sizeof buf));
    } else {
        ps->p[ps->n++] = p;
        nn__params_ok(ps);
        if (out) *out = p;
    }
    if (full != small) ag_free(full);
    return s;
}

nn_status nn_params_add(nn_params *ps, const char *prefix, const char *name, int rank, const int *shape,
                        ag_tensor **out)
{
    return nn__params_add3(ps, prefix, "", name, rank, shape, out);
}

ag_tensor *nn_params_new(nn_params *ps, const char *prefix, const char *name, int rank, const int *shape)
{
    ag_tensor *p;
    nn__params_add3(ps, prefix, "", name, rank, shape, &p);
    return p;
}

void nn_params_truncate(nn_params *ps, int n)
{
    if (n < 0) n = 0;
    while (ps->n > n) ag_param_free(ps->p[--ps->n]);
}

ag_tensor *nn_params_get(const nn_params *ps, const char *name)
{
    for (int i = 0; name && i < ps->n; i++)
        if (strcmp(ps->p[i]->name, name) == 0) return ps->p[i];
    return NULL;
}

long nn_params_numel(const nn_params *ps)
{
    long n = 0;
    for (int i = 0; i < ps->n; i++) n += ps->p[i]->size;
    return n;
}

void nn_params_zero_grad(nn_params *ps)
{
    for (int i = 0; i < ps->n; i++) ag_zero_grad(ps->p[i]);
}

void nn_params_free(nn_params *ps)
{
    if (!ps) return;
    nn_params_truncate(ps, 0);
    ag_free(ps->p);
    nn_params_init(ps);
}

double nn_clip_grad_norm(nn_params *ps, double max_norm)
{
    double sq = 0;
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < ps->p[i]->size; k++) sq += (double)ps->p[i]->grad[k] * ps->p[i]->grad[k];
    double norm = sqrt(sq);
    ag_float k = nn__clip_factor(norm, max_norm);
    if (k != 1) /* (a factor of 1 changes no value) */
        for (int i = 0; i < ps->n; i++)
            for (int j = 0; j < ps->p[i]->size; j++) ps->p[i]->grad[j] *= k;
    return norm;
}

/* CRC-32 with the reflected polynomial 0xEDB88320, as zlib's crc32(). */
uint32_t nn_crc32(uint32_t crc, const void *data, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) { /* filled once; every fill writes the same values */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}
