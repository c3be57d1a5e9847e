/* ag_ops_shape.c -- ops that move values without arithmetic: cat, select, slice, reshape. */
#include <string.h>

#include "ag_internal.h"

/* ---- cat ----
 * Each input viewed as (outer, D_i, inner); the output is (outer, sum D_i, inner) and
 * row o of the output is the rows o of the inputs laid end to end. */

ag_tensor *ag_cat(ag_tape *t, ag_tensor *const *xs, int n, int dim)
{
    if (!xs || n < 1) return ag_tape_fail(t, AG_EARG, "cat: need at least one tensor (got n=%d)", n);
    if (!ag__inputs(t, "cat", xs, n)) return NULL;
    int d = ag__dim(t, "cat", xs[0], dim);
    if (d < 0) return NULL;
    int shape[AG_MAX_RANK];
    memcpy(shape, xs[0]->shape, sizeof shape);
    for (int k = 1; k < n; k++) {
        int same = xs[k]->rank == xs[0]->rank;
        for (int e = 0; same && e < xs[0]->rank; e++) same = e == d || xs[k]->shape[e] == xs[0]->shape[e];
        if (!same) {
            char s0[64], sk[64];
            return ag_tape_fail(t, AG_ESHAPE, "cat: tensor 0 is %s but tensor %d is %s (only dim %d may differ)",
                                ag_shape_str(xs[0], s0, sizeof s0), k, ag_shape_str(xs[k], sk, sizeof sk), d);
        }
        shape[d] += xs[k]->shape[d];
    }
    ag_tensor *out = ag__new(t, "cat", xs[0]->rank, shape);
    if (!out) return NULL;
    int outer, inner;
    ag__split(xs[0], d, &outer, &inner);
    for (int o = 0, at = 0; o < outer; o++)
        for (int k = 0; k < n; k++) {
            int len = xs[k]->shape[d] * inner;
            memcpy(out->data + at, xs[k]->data + o * len, (size_t)len * sizeof(ag_float));
            at += len;
        }
    int ok;
    ag_node *nd = ag__record(t, AG_OP_CAT, out, xs, n, &ok);
    if (nd) nd->i0 = d;
    return ok ? out : NULL;
}

/* dx_k += the slice of g that came from x_k */
int ag__backward_cat(ag_tape *t, ag_node *nd)
{
    int d = nd->i0, outer, inner;
    ag__split(nd->out, d, &outer, &inner);
    const ag_float *g = nd->out->grad;
    int rowlen = nd->out->shape[d] * inner;
    for (int k = 0, off = 0; k < nd->n_in; k++) {
        ag_tensor *x = nd->in[k];
        int len = x->shape[d] * inner;
        if (x->requires_grad) {
            ag_float *dx = ag__grad(t, x);
            if (!dx) return 0;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < len; i++) dx[o * len + i] += g[o * rowlen + off + i];
        }
        off += len;
    }
    return 1;
}

/* ---- select and slice: one narrowing, with or without the dim ----
 * x viewed as (outer, D, inner) -> (outer, end - start, inner). */

static ag_tensor *narrow(ag_tape *t, ag_op op, ag_tensor *x, int dim, int start, int end)
{
    const char *name = ag__op_names[op];
    if (!ag__inputs(t, name, &x, 1)) return NULL;
    int d = ag__dim(t, name, x, dim);
    if (d < 0) return NULL;
    int D = x->shape[d];
    if (start < 0 || end > D || start >= end) {
        char buf[64];
        ag_shape_str(x, buf, sizeof buf);
        if (op == AG_OP_SELECT)
            return ag_tape_fail(t, AG_EINDEX, "select: index %d is out of range [0, %d) for dim %d of %s",
                                start, D, d, buf);
        return ag_tape_fail(t, AG_EINDEX, "slice: [%d, %d) is not a non-empty range inside [0, %d) for dim %d of %s",
                            start, end, D, d, buf);
    }
    int shape[AG_MAX_RANK], rank = 0;
    for (int e = 0; e < x->rank; e++) {
        if (e != d) shape[rank++] = x->shape[e];
        else if (op == AG_OP_SLICE) shape[rank++] = end - start;
    }
    ag_tensor *out = ag__new(t, name, rank, shape);
    if (!out) return NULL;
    int outer, inner, len = (end - start);
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        memcpy(out->data + o * len * inner, x->data + (o * D + start) * inner,
               (size_t)(len * inner) * sizeof(ag_float));
    int ok;
    ag_node *nd = ag__record(t, op, out, &x, 1, &ok);
    if (nd) {
        nd->i0 = d;
        nd->i1 = start;
        nd->i2 = end;
    }
    return ok ? out : NULL;
}

ag_tensor *ag_select(ag_tape *t, ag_tensor *x, int dim, int index)
{
    return narrow(t, AG_OP_SELECT, x, dim, index, index + 1);
}

ag_tensor *ag_slice(ag_tape *t, ag_tensor *x, int dim, int start, int end)
{
    return narrow(t, AG_OP_SLICE, x, dim, start, end);
}

/* dx[o, start:end, i] += g[o, :, i] */
int ag__backward_narrow(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag__grad(t, x);
    if (!dx) return 0;
    int outer, inner, D = x->shape[nd->i0], len = nd->i2 - nd->i1;
    ag__split(x, nd->i0, &outer, &inner);
    const ag_float *g = nd->out->grad;
    for (int o = 0; o < outer; o++) {
        ag_float *dst = dx + (o * D + nd->i1) * inner;
        const ag_float *src = g + o * len * inner;
        for (int i = 0; i < len * inner; i++) dst[i] += src[i];
    }
    return 1;
}

/* ---- index_select: chosen entries of one dim ----
 * x viewed as (outer, D, inner) -> (outer, n, inner); entry j is x's entry index[j]. */

ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int dim, const int *index, int n)
{
    if (!ag__inputs(t, "index_select", &x, 1)) return NULL;
    int d = ag__dim(t, "index_select", x, dim);
    if (d < 0) return NULL;
    if (n < 1 || !index) return ag_tape_fail(t, AG_EARG, "index_select: needs at least one index (got %d)", n);
    int D = x->shape[d];
    for (int j = 0; j < n; j++)
        if (index[j] < 0 || index[j] >= D) {
            char buf[64];
            return ag_tape_fail(t, AG_EINDEX, "index_select: index[%d] = %d is out of range [0, %d) for dim %d of %s",
                                j, index[j], D, d, ag_shape_str(x, buf, sizeof buf));
        }
    int shape[AG_MAX_RANK];
    for (int e = 0; e < x->rank; e++) shape[e] = e == d ? n : x->shape[e];
    ag_tensor *out = ag__new(t, "index_select", x->rank, shape);
    if (!out) return NULL;
    int outer, inner;
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < n; j++)
            memcpy(out->data + ((size_t)o * n + j) * inner, x->data + ((size_t)o * D + index[j]) * inner,
                   (size_t)inner * sizeof(ag_float));
    int ok;
    ag_node *nd = ag__record(t, AG_OP_INDEX_SELECT, out, &x, 1, &ok);
    if (nd) {
        if (!(nd->saved = ag__save_ints(t, index, n))) return NULL;
        nd->i0 = d;
        nd->i1 = n;
    }
    return ok ? out : NULL;
}

/* dx[o, index[j], i] += g[o, j, i] */
int ag__backward_index_select(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag__grad(t, x);
    if (!dx) return 0;
    int outer, inner, D = x->shape[nd->i0], n = nd->i1;
    const int *index = nd->saved;
    ag__split(x, nd->i0, &outer, &inner);
    const ag_float *g = nd->out->grad;
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < n; j++) {
            ag_float *dst = dx + ((size_t)o * D + index[j]) * inner;
            const ag_float *src = g + ((size_t)o * n + j) * inner;
            for (int i = 0; i < inner; i++) dst[i] += src[i];
        }
    return 1;
}

/* ---- reshape ---- */

ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int rank, const int *shape)
{
    if (!ag__inputs(t, "reshape", &x, 1)) return NULL;
    if (rank < 0 || rank > AG_MAX_RANK || (rank > 0 && !shape))
        return ag_tape_fail(t, AG_EARG, "reshape: rank %d is outside 0..%d", rank, AG_MAX_RANK);
    int s[AG_MAX_RANK], infer = -1, known = 1;
    for (int d = 0; d < rank; d++) {
        s[d] = shape[d];
        if (s[d] == -1 && infer < 0) infer = d;
        else if (s[d] < 1)
            return ag_tape_fail(t, AG_EARG, "reshape: dim %d is %d (only one dim may be -1)", d, s[d]);
        else known *= s[d];
    }
    if (infer >= 0 && known > 0 && x->size % known == 0) s[infer] = x->size / known;
    int size = ag__shape_size(rank, s);
    if (size != x->size) {
        char from[64], to[64];
        ag_tensor want = {.rank = rank};
        memcpy(want.shape, shape, (size_t)rank * sizeof *shape);
        return ag_tape_fail(t, AG_ESHAPE, "reshape: %s has %d elements and cannot become %s",
                            ag_shape_str(x, from, sizeof from), x->size, ag_shape_str(&want, to, sizeof to));
    }
    ag_tensor *out = ag__new(t, "reshape", rank, s);
    if (!out) return NULL;
    memcpy(out->data, x->data, (size_t)x->size * sizeof(ag_float));
    int ok;
    ag__record(t, AG_OP_RESHAPE, out, &x, 1, &ok);
    return ok ? out : NULL;
}

/* dx += g, element for element (the flat order does not change) */
int ag__backward_reshape(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag__grad(t, x);
    if (!dx) return 0;
    for (int i = 0; i < x->size; i++) dx[i] += nd->out->grad[i];
    return 1;
}
