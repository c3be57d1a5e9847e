/* nn_params.c -- the parameter registry, gradient clipping, status names, CRC-32. */
#include <math.h>
#include <string.h>

#include "nn.h"

const char *nn_status_name(nn_status s)
{
    switch (s) {
    case NN_OK: return "ok";
    case NN_EARG: return "bad argument";
    case NN_ENOMEM: return "out of memory";
    case NN_EIO: return "I/O error";
    case NN_EFORMAT: return "bad file format";
    case NN_EMISMATCH: return "does not fit the model";
    }
    return "unknown status";
}

void nn_params_init(nn_params *ps)
{
    memset(ps, 0, sizeof *ps);
}

ag_tensor *nn_params_new(nn_params *ps, const char *prefix, const char *name, int rank, const int *shape)
{
    char full[NN_MAX_NAME];
    if (!prefix) prefix = "";
    if (!name || ps->n >= NN_MAX_PARAMS) return NULL;
    if ((size_t)snprintf(full, sizeof full, "%s%s", prefix, name) >= sizeof full) return NULL;
    if (nn_params_get(ps, full)) return NULL;
    ag_tensor *p = ag_param_new(rank, shape, full);
    if (p) ps->p[ps->n++] = p;
    return p;
}

ag_tensor *nn_params_get(const nn_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
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
    for (int i = 0; i < ps->n; i++) ag_param_free(ps->p[i]);
    nn_params_init(ps);
}

double nn_clip_grad_norm(nn_params *ps, double max_norm)
{
    double sq = 0;
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < ps->p[i]->size; k++) sq += (double)ps->p[i]->grad[k] * ps->p[i]->grad[k];
    double norm = sqrt(sq);
    if (norm > max_norm && norm > 0) {
        /* as torch: scale by max_norm / (norm + 1e-6) */
        ag_float k = (ag_float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < ps->n; i++)
            for (int j = 0; j < ps->p[i]->size; j++) ps->p[i]->grad[j] *= k;
    }
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
