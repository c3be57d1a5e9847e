/* ag_ops_shape.c -- ops that move values without arithmetic: cat, select, slice, index_select,
 * reshape, permute, transpose, stack, embedding.
 *
 * reshape, and select or slice of a contiguous block (nothing before the dim is wider
 * than 1), copy nothing: the output is a view (ag__view) whose data and gradient lie
 * inside its input's, so their backward has nothing to do. Ops that move whole rows
 * carry their input's one-hot columns (ag.h, `hot`) to the output. */
#include <string.h>

#include "ag_internal.h"

/* out's rows (of its last dim) are rows of x, viewed as (outer, D, rows, C): out row
 * (o, j, r) is x row (o, start + j, r), or (o, index[j], r) with an index. d is the dim
 * picked from, below the last. Carries x's one-hot columns; on a failed allocation
 * out gets none (the tape's error is set, and the op fails). */
static void carry_hot(ag_tape *t, ag_tensor *out, const ag_tensor *x, int d, int n, int start, const int *index)
{
    if (!x->hot || d >= x->rank - 1) return;
    int C = x->shape[x->rank - 1], D = x->shape[d], outer, inner;
    ag__split(x, d, &outer, &inner);
    int rows = inner / C;
    if (outer == 1 && !index) {
        out->hot = x->hot + (size_t)start * rows;
    } else {
        int *h = ag__arena(t, (size_t)outer * n * rows * sizeof *h);
        if (!h) return;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < n; j++)
                memcpy(h + ((size_t)o * n + j) * rows, x->hot + ((size_t)o * D + (index ? index[j] : start + j)) * rows,
                       (size_t)rows * sizeof *h);
        out->hot = h;
    }
    out->hot_col = x->hot_col;
    out->hot_cols = x->hot_cols;
}

/* ---- cat ----
 * Each input viewed as (outer, D_i, inner); the output is (outer, sum D_i, inner) and
 * row o of the output is the rows o of the inputs laid end to end. */

static ag_status cat_backward(ag_tape *t, const ag_node *nd);
static const ag_op cat_op = {"cat", cat_backward};

typedef struct {
    int dim; /* normalised */
} cat_saved;

ag_tensor *ag_cat(ag_tape *t, ag_tensor *const *xs, int n, int dim)
{
    if (!xs || n < 1) return ag_tape_fail(t, AG_EARG, "cat: need at least one tensor (got n=%d)", n);
    if (!ag_op_inputs(t, &cat_op, xs, n)) return NULL;
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
    ag_tensor *out = ag_op_output(t, &cat_op, xs[0]->rank, shape);
    if (!out) return NULL;
    int outer, inner;
    ag__split(xs[0], d, &outer, &inner);
    for (int o = 0, at = 0; o < outer; o++)
        for (int k = 0; k < n; k++) {
            int len = xs[k]->shape[d] * inner;
            memcpy(out->data + at, xs[k]->data + o * len, (size_t)len * sizeof(ag_float));
            at += len;
        }
    if (d == out->rank - 1) /* side by side: the widest block of one-hot columns goes along */
        for (int k = 0, col = 0; k < n; col += xs[k]->shape[d], k++)
            if (xs[k]->hot && xs[k]->hot_cols > out->hot_cols) {
                out->hot = xs[k]->hot;
                out->hot_col = col + xs[k]->hot_col;
                out->hot_cols = xs[k]->hot_cols;
            }
    ag_node *nd = ag_op_record(t, &cat_op, out, xs, n, sizeof(cat_saved));
    if (nd) ((cat_saved *)nd->saved)->dim = d;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx_k += the slice of g that came from x_k */
static ag_status cat_backward(ag_tape *t, const ag_node *nd)
{
    int d = ((const cat_saved *)nd->saved)->dim, outer, inner;
    ag__split(nd->out, d, &outer, &inner);
    const ag_float *g = nd->out->grad;
    int rowlen = nd->out->shape[d] * inner;
    for (int k = 0, off = 0; k < nd->n_in; k++) {
        ag_tensor *x = nd->in[k];
        int len = x->shape[d] * inner;
        ag_float *dx = ag_grad(t, x);
        if (dx)
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < len; i++) dx[o * len + i] += g[o * rowlen + off + i];
        off += len;
    }
    return ag_tape_status(t);
}

/* ---- select and slice: one narrowing, with or without the dim ----
 * x viewed as (outer, D, inner) -> (outer, end - start, inner). */

static ag_status narrow_backward(ag_tape *t, const ag_node *nd);
static const ag_op select_op = {"select", narrow_backward};
static const ag_op slice_op = {"slice", narrow_backward};

typedef struct {
    int dim, start, end; /* dim normalised; [start, end) of it */
} narrow_saved;

static ag_tensor *narrow(ag_tape *t, const ag_op *op, ag_tensor *x, int dim, int start, int end)
{
    if (!ag_op_inputs(t, op, &x, 1)) return NULL;
    int d = ag__dim(t, op->name, x, dim);
    if (d < 0) return NULL;
    int D = x->shape[d];
    if (start < 0 || end > D || start >= end) {
        char buf[64];
        ag_shape_str(x, buf, sizeof buf);
        if (op == &select_op)
            return ag_tape_fail(t, AG_EINDEX, "select: index %d is out of range [0, %d) for dim %d of %s",
                                start, D, d, buf);
        return ag_tape_fail(t, AG_EINDEX, "slice: [%d, %d) is not a non-empty range inside [0, %d) for dim %d of %s",
                            start, end, D, d, buf);
    }
    int shape[AG_MAX_RANK], rank = 0;
    for (int e = 0; e < x->rank; e++) {
        if (e != d) shape[rank++] = x->shape[e];
        else if (op == &slice_op) shape[rank++] = end - start;
    }
    int outer, inner, len = (end - start);
    ag__split(x, d, &outer, &inner);
    ag_tensor *out = outer == 1 ? ag__view(t, op, x, start * inner, rank, shape) : ag_op_output(t, op, rank, shape);
    if (!out) return NULL;
    if (!out->view_of)
        for (int o = 0; o < outer; o++)
            memcpy(out->data + o * len * inner, x->data + (o * D + start) * inner,
                   (size_t)(len * inner) * sizeof(ag_float));
    carry_hot(t, out, x, d, len, start, NULL);
    ag_node *nd = ag_op_record(t, op, out, &x, 1, sizeof(narrow_saved));
    if (nd) *(narrow_saved *)nd->saved = (narrow_saved){d, start, end};
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx[o, start:end, i] += g[o, :, i]; a view's g already is that part of dx */
static ag_status narrow_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    if (nd->out->view_of) return AG_OK;
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const narrow_saved *s = nd->saved;
    int outer, inner, D = x->shape[s->dim], len = s->end - s->start;
    ag__split(x, s->dim, &outer, &inner);
    const ag_float *g = nd->out->grad;
    for (int o = 0; o < outer; o++) {
        ag_float *dst = dx + (o * D + s->start) * inner;
        const ag_float *src = g + o * len * inner;
        for (int i = 0; i < len * inner; i++) dst[i] += src[i];
    }
    return AG_OK;
}

ag_tensor *ag_select(ag_tape *t, ag_tensor *x, int dim, int index)
{
    return narrow(t, &select_op, x, dim, index, index + 1);
}

ag_tensor *ag_slice(ag_tape *t, ag_tensor *x, int dim, int start, int end)
{
    return narrow(t, &slice_op, x, dim, start, end);
}

/* ---- index_select: chosen entries of one dim ----
 * x viewed as (outer, D, inner) -> (outer, n, inner); entry j is x's entry index[j]. */

static ag_status index_select_backward(ag_tape *t, const ag_node *nd);
static const ag_op index_select_op = {"index_select", index_select_backward};

typedef struct {
    int dim, n;        /* dim normalised; n indices */
    const int *index;  /* n, in the arena */
} index_select_saved;

ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int dim, const int *index, int n)
{
    if (!ag_op_inputs(t, &index_select_op, &x, 1)) return NULL;
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
    ag_tensor *out = ag_op_output(t, &index_select_op, x->rank, shape);
    if (!out) return NULL;
    int outer, inner;
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < n; j++)
            memcpy(out->data + ((size_t)o * n + j) * inner, x->data + ((size_t)o * D + index[j]) * inner,
                   (size_t)inner * sizeof(ag_float));
    carry_hot(t, out, x, d, n, 0, index);
    ag_node *nd = ag_op_record(t, &index_select_op, out, &x, 1, sizeof(index_select_saved));
    if (nd) *(index_select_saved *)nd->saved = (index_select_saved){d, n, ag__save_ints(t, index, n)};
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx[o, index[j], i] += g[o, j, i] */
static ag_status index_select_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const index_select_saved *s = nd->saved;
    int outer, inner, D = x->shape[s->dim], n = s->n;
    const int *index = s->index;
    ag__split(x, s->dim, &outer, &inner);
    const ag_float *g = nd->out->grad;
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < n; j++) {
            ag_float *dst = dx + ((size_t)o * D + index[j]) * inner;
            const ag_float *src = g + ((size_t)o * n + j) * inner;
            for (int i = 0; i < inner; i++) dst[i] += src[i];
        }
    return AG_OK;
}

/* ---- reshape ---- */

static ag_status reshape_backward(ag_tape *t, const ag_node *nd);
static const ag_op reshape_op = {"reshape", reshape_backward};

ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int rank, const int *shape)
{
    if (!ag_op_inputs(t, &reshape_op, &x, 1)) return NULL;
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
    ag_tensor *out = ag__view(t, &reshape_op, x, 0, rank, s); /* the flat order does not change */
    if (!out) return NULL;
    if (x->hot && rank > 0 && s[rank - 1] == x->shape[x->rank - 1]) { /* the same rows */
        out->hot = x->hot;
        out->hot_col = x->hot_col;
        out->hot_cols = x->hot_cols;
    }
    ag_op_record(t, &reshape_op, out, &x, 1, 0);
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx += g, element for element: out is a view, so g already lies in dx */
static ag_status reshape_backward(ag_tape *t, const ag_node *nd)
{
    (void)t;
    (void)nd;
    return AG_OK;
}

/* ---- permute and transpose: the dims reordered ----
 * out.shape[i] = x.shape[perm[i]]. Both shapes are padded on the left to AG_MAX_RANK;
 * one loop over the output walks x with the strides of the permuted dims. */

static ag_status permute_backward(ag_tape *t, const ag_node *nd);
static const ag_op permute_op = {"permute", permute_backward};
static const ag_op transpose_op = {"transpose", permute_backward};

typedef struct {
    int perm[AG_MAX_RANK]; /* normalised; perm[0..rank-1] */
} permute_saved;

/* n[], s[]: the output's padded dims and, for each, the stride in x it moves along */
static void permute_walk(const ag_tensor *x, const int *perm, int *n, int *s)
{
    int stride[AG_MAX_RANK], pad = AG_MAX_RANK - x->rank;
    for (int d = x->rank - 1, st = 1; d >= 0; d--) {
        stride[d] = st;
        st *= x->shape[d];
    }
    for (int i = 0; i < AG_MAX_RANK; i++) {
        n[i] = i < pad ? 1 : x->shape[perm[i - pad]];
        s[i] = i < pad ? 0 : stride[perm[i - pad]];
    }
}

static ag_tensor *permute(ag_tape *t, const ag_op *op, ag_tensor *x, const int *perm)
{
    int shape[AG_MAX_RANK], n[AG_MAX_RANK], s[AG_MAX_RANK];
    for (int i = 0; i < x->rank; i++) shape[i] = x->shape[perm[i]];
    ag_tensor *out = ag_op_output(t, op, x->rank, shape);
    if (!out) return NULL;
    permute_walk(x, perm, n, s);
    ag_float *z = out->data;
    for (int i0 = 0; i0 < n[0]; i0++)
        for (int i1 = 0; i1 < n[1]; i1++)
            for (int i2 = 0; i2 < n[2]; i2++)
                for (int i3 = 0; i3 < n[3]; i3++) *z++ = x->data[i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3]];
    ag_node *nd = ag_op_record(t, op, out, &x, 1, sizeof(permute_saved));
    if (nd) memcpy(((permute_saved *)nd->saved)->perm, perm, (size_t)x->rank * sizeof *perm);
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx[where out element k came from] += g[k] */
static ag_status permute_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    int n[AG_MAX_RANK], s[AG_MAX_RANK];
    permute_walk(x, ((const permute_saved *)nd->saved)->perm, n, s);
    const ag_float *g = nd->out->grad;
    for (int i0 = 0; i0 < n[0]; i0++)
        for (int i1 = 0; i1 < n[1]; i1++)
            for (int i2 = 0; i2 < n[2]; i2++)
                for (int i3 = 0; i3 < n[3]; i3++) dx[i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3]] += *g++;
    return AG_OK;
}

ag_tensor *ag_permute(ag_tape *t, ag_tensor *x, const int *dims)
{
    if (!ag_op_inputs(t, &permute_op, &x, 1)) return NULL;
    if (!dims && x->rank > 0) return ag_tape_fail(t, AG_EARG, "permute: dims are NULL");
    int perm[AG_MAX_RANK], seen[AG_MAX_RANK] = {0};
    for (int i = 0; i < x->rank; i++) {
        int d = ag__dim(t, "permute", x, dims[i]);
        if (d < 0) return NULL;
        if (seen[d]++) {
            char buf[64];
            return ag_tape_fail(t, AG_EARG, "permute: dim %d appears twice in dims for %s (need each of 0..%d once)",
                                d, ag_shape_str(x, buf, sizeof buf), x->rank - 1);
        }
        perm[i] = d;
    }
    return permute(t, &permute_op, x, perm);
}

ag_tensor *ag_transpose(ag_tape *t, ag_tensor *x, int dim0, int dim1)
{
    if (!ag_op_inputs(t, &transpose_op, &x, 1)) return NULL;
    int a = ag__dim(t, "transpose", x, dim0);
    int b = a < 0 ? -1 : ag__dim(t, "transpose", x, dim1);
    if (b < 0) return NULL;
    int perm[AG_MAX_RANK];
    for (int i = 0; i < x->rank; i++) perm[i] = i == a ? b : i == b ? a : i;
    return permute(t, &transpose_op, x, perm);
}

/* ---- stack: n tensors of one shape along a new dim ----
 * Each input viewed as (outer, inner) around the new dim d -> (outer, n, inner). */

static ag_status stack_backward(ag_tape *t, const ag_node *nd);
static const ag_op stack_op = {"stack", stack_backward};

typedef struct {
    int dim; /* the new dim, normalised against the output's rank */
} stack_saved;

ag_tensor *ag_stack(ag_tape *t, ag_tensor *const *xs, int n, int dim)
{
    if (!xs || n < 1) return ag_tape_fail(t, AG_EARG, "stack: need at least one tensor (got n=%d)", n);
    if (!ag_op_inputs(t, &stack_op, xs, n)) return NULL;
    char s0[64], sk[64];
    int r = xs[0]->rank, d = dim < 0 ? dim + r + 1 : dim;
    if (d < 0 || d > r)
        return ag_tape_fail(t, AG_EARG, "stack: dim %d is out of range for tensors of shape %s (need -%d..%d)", dim,
                            ag_shape_str(xs[0], s0, sizeof s0), r + 1, r);
    if (r + 1 > AG_MAX_RANK)
        return ag_tape_fail(t, AG_EARG, "stack: tensors of shape %s would give rank %d, above %d",
                            ag_shape_str(xs[0], s0, sizeof s0), r + 1, AG_MAX_RANK);
    for (int k = 1; k < n; k++)
        if (!ag_same_shape(xs[k], xs[0]))
            return ag_tape_fail(t, AG_ESHAPE, "stack: tensor 0 is %s but tensor %d is %s (all must be equal)",
                                ag_shape_str(xs[0], s0, sizeof s0), k, ag_shape_str(xs[k], sk, sizeof sk));
    int shape[AG_MAX_RANK];
    for (int e = 0, i = 0; e <= r; e++) shape[e] = e == d ? n : xs[0]->shape[i++];
    ag_tensor *out = ag_op_output(t, &stack_op, r + 1, shape);
    if (!out) return NULL;
    int outer, inner;
    ag__split(out, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int k = 0; k < n; k++)
            memcpy(out->data + ((size_t)o * n + k) * inner, xs[k]->data + (size_t)o * inner,
                   (size_t)inner * sizeof(ag_float));
    ag_node *nd = ag_op_record(t, &stack_op, out, xs, n, sizeof(stack_saved));
    if (nd) ((stack_saved *)nd->saved)->dim = d;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx_k[o, :] += g[o, k, :] */
static ag_status stack_backward(ag_tape *t, const ag_node *nd)
{
    int outer, inner, n = nd->n_in;
    ag__split(nd->out, ((const stack_saved *)nd->saved)->dim, &outer, &inner);
    const ag_float *g = nd->out->grad;
    for (int k = 0; k < n; k++) {
        ag_float *dx = ag_grad(t, nd->in[k]);
        if (dx)
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++) dx[o * inner + i] += g[((size_t)o * n + k) * inner + i];
    }
    return ag_tape_status(t);
}

/* ---- embedding: rows of a (V, D) weight, as torch.nn.functional.embedding ----
 * out[j, :] = W[idx[j], :], a gather; backward is the scatter-add. */

static ag_status embedding_backward(ag_tape *t, const ag_node *nd);
static const ag_op embedding_op = {"embedding", embedding_backward};

typedef struct {
    int n, padding_idx; /* padding_idx -1: none */
    const int *idx;     /* n, in the arena */
} embedding_saved;

ag_tensor *ag_embedding(ag_tape *t, ag_tensor *W, const int *idx, int n, int padding_idx)
{
    if (!ag_op_inputs(t, &embedding_op, &W, 1)) return NULL;
    char buf[64];
    if (W->rank != 2)
        return ag_tape_fail(t, AG_ESHAPE, "embedding: weight must be (V, D), got %s", ag_shape_str(W, buf, sizeof buf));
    int V = W->shape[0], D = W->shape[1];
    if (!idx || n < 1) return ag_tape_fail(t, AG_EARG, "embedding: needs at least one index (got %d)", n);
    if (padding_idx < -1 || padding_idx >= V)
        return ag_tape_fail(t, AG_EARG, "embedding: padding_idx %d is outside [0, %d) and not -1 (none) for weight %s",
                            padding_idx, V, ag_shape_str(W, buf, sizeof buf));
    for (int j = 0; j < n; j++)
        if (idx[j] < 0 || idx[j] >= V)
            return ag_tape_fail(t, AG_EINDEX, "embedding: index[%d] = %d is out of range [0, %d) for weight %s", j,
                                idx[j], V, ag_shape_str(W, buf, sizeof buf));
    ag_tensor *out = ag_op_output(t, &embedding_op, 2, (int[]){n, D});
    if (!out) return NULL;
    for (int j = 0; j < n; j++)
        memcpy(out->data + (size_t)j * D, W->data + (size_t)idx[j] * D, (size_t)D * sizeof(ag_float));
    ag_node *nd = ag_op_record(t, &embedding_op, out, &W, 1, sizeof(embedding_saved));
    if (nd) *(embedding_saved *)nd->saved = (embedding_saved){n, padding_idx, ag__save_ints(t, idx, n)};
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dW[idx[j], :] += g[j, :], except for j with idx[j] == padding_idx */
static ag_status embedding_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *W = nd->in[0];
    ag_float *dW = ag_grad(t, W);
    if (!dW) return ag_tape_status(t);
    const embedding_saved *s = nd->saved;
    int D = W->shape[1];
    const ag_float *g = nd->out->grad;
    for (int j = 0; j < s->n; j++) {
        if (s->idx[j] == s->padding_idx) continue;
        ag_float *dst = dW + (size_t)s->idx[j] * D;
        for (int i = 0; i < D; i++) dst[i] += g[(size_t)j * D + i];
    }
    return AG_OK;
}
