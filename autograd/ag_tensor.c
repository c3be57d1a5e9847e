/* ag_tensor.c -- parameters (leaves), fills, shapes and printing. */
#include <string.h>

#include "ag_internal.h"

int ag__shape_size(int rank, const int *shape)
{
    if (rank < 0 || rank > AG_MAX_RANK || (rank > 0 && !shape)) return -1;
    long long size = 1;
    for (int d = 0; d < rank; d++) {
        if (shape[d] < 1) return -1;
        size *= shape[d];
        if (size > 0x7fffffffLL) return -1;
    }
    return (int)size;
}

void ag__set_shape(ag_tensor *x, int rank, const int *shape, int size)
{
    x->rank = rank;
    for (int d = 0; d < AG_MAX_RANK; d++) x->shape[d] = d < rank ? shape[d] : 1;
    x->size = size;
}

/* A caller-owned tensor in one block: the struct, then data, then grad (parameters
 * only), then the name. Its stamp is 0: no tape reset makes it stale. */
static ag_tensor *owned_new(int rank, const int *shape, const char *name, int with_grad)
{
    int size = ag__shape_size(rank, shape);
    if (size < 0) return NULL;
    size_t nlen = name ? strlen(name) + 1 : 0;
    size_t head = (sizeof(ag_tensor) + 63) & ~(size_t)63;
    size_t bytes = (size_t)size * sizeof(ag_float), nbuf = with_grad ? 2 : 1;
    unsigned char *mem = ag__alloc(head + nbuf * bytes + nlen);
    if (!mem) return NULL;
    ag_tensor *p = (ag_tensor *)mem;
    memset(p, 0, sizeof *p);
    ag__set_shape(p, rank, shape, size);
    p->data = (ag_float *)(mem + head);
    memset(p->data, 0, nbuf * bytes);
    if (with_grad) {
        p->grad = (ag_float *)(mem + head + bytes);
        p->requires_grad = 1;
    }
    if (name) {
        char *s = (char *)(mem + head + nbuf * bytes);
        memcpy(s, name, nlen);
        p->name = s;
    }
    return p;
}

ag_tensor *ag_param_new(int rank, const int *shape, const char *name)
{
    return owned_new(rank, shape, name, 1);
}

ag_tensor *ag_buffer_new(int rank, const int *shape, const char *name)
{
    return owned_new(rank, shape, name, 0);
}

void ag_param_free(ag_tensor *p)
{
    ag__free(p);
}

void ag_buffer_free(ag_tensor *b)
{
    ag__free(b);
}

void ag_zero_grad(ag_tensor *p)
{
    if (p && p->grad) memset(p->grad, 0, (size_t)p->size * sizeof(ag_float));
}

void ag_fill(ag_tensor *t, ag_float v)
{
    for (int i = 0; i < t->size; i++) t->data[i] = v;
}

void ag_fill_uniform(ag_tensor *t, ag_rng *r, double lo, double hi)
{
    for (int i = 0; i < t->size; i++) t->data[i] = (ag_float)(lo + (hi - lo) * ag_rng_uniform(r));
}

void ag_fill_normal(ag_tensor *t, ag_rng *r, double mean, double std)
{
    for (int i = 0; i < t->size; i++) t->data[i] = (ag_float)(mean + std * ag_rng_normal(r));
}

int ag_same_shape(const ag_tensor *a, const ag_tensor *b)
{
    if (a->rank != b->rank) return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

const char *ag_shape_str(const ag_tensor *t, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return buf;
    buf[0] = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int d = 0; d < t->rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %d" : "%d", t->shape[d]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

enum { PRINT_EDGE = 3 }; /* values kept at each end of a long dim */

static void print_dim(FILE *f, const ag_tensor *t, int d, int offset, int indent)
{
    int n = t->shape[d], stride = 1;
    for (int e = d + 1; e < t->rank; e++) stride *= t->shape[e];
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (n > 2 * PRINT_EDGE && i == PRINT_EDGE) {
            fprintf(f, d == t->rank - 1 ? "..., " : "...,\n%*s", d == t->rank - 1 ? 0 : indent + 1, "");
            i = n - PRINT_EDGE;
        }
        if (d == t->rank - 1)
            fprintf(f, "%.4g", (double)t->data[offset + i]);
        else
            print_dim(f, t, d + 1, offset + i * stride, indent + 1);
        if (i < n - 1) fprintf(f, d == t->rank - 1 ? ", " : ",\n%*s", indent + 1, "");
    }
    fputc(']', f);
}

void ag_print(FILE *f, const ag_tensor *t)
{
    char buf[64];
    if (!t) {
        fprintf(f, "tensor NULL\n");
        return;
    }
    fprintf(f, "tensor %s%s%s\n", ag_shape_str(t, buf, sizeof buf), t->name ? " " : "",
            t->name ? t->name : "");
    if (t->rank == 0)
        fprintf(f, "%.4g", (double)t->data[0]);
    else
        print_dim(f, t, 0, 0, 0);
    fputc('\n', f);
}
