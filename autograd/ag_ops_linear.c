/* ag_ops_linear.c -- matmul, bmm and linear, over the kernels in ag_kernels.c. */
#include <string.h>

#include "ag_internal.h"

/* ---- matmul: a (N, K) . b (K, M) -> (N, M) ---- */

static ag_status matmul_backward(ag_tape *t, const ag_node *nd);
static const ag_op matmul_op = {"matmul", matmul_backward};

ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b)
{
    ag_tensor *in[2] = {a, b};
    if (!ag_op_inputs(t, &matmul_op, in, 2)) return NULL;
    if (a->rank != 2 || b->rank != 2 || a->shape[1] != b->shape[0]) {
        char sa[64], sb[64];
        return ag_tape_fail(t, AG_ESHAPE, "matmul: a is %s but b is %s (need (N, K) and (K, M))",
                            ag_shape_str(a, sa, sizeof sa), ag_shape_str(b, sb, sizeof sb));
    }
    int N = a->shape[0], K = a->shape[1], M = b->shape[1];
    ag_tensor *out = ag_op_output(t, &matmul_op, 2, (int[]){N, M});
    if (!out) return NULL;
    memset(out->data, 0, (size_t)out->size * sizeof(ag_float));
    ag__gemm_nn(N, M, K, a->data, b->data, out->data);
    ag_op_record(t, &matmul_op, out, in, 2, 0);
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* da (N, K) += g (N, M) . b^T      db (K, M) += a^T . g */
static ag_status matmul_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *a = nd->in[0], *b = nd->in[1];
    int N = a->shape[0], K = a->shape[1], M = b->shape[1];
    const ag_float *g = nd->out->grad;
    ag_float *da = ag_grad(t, a), *db = ag_grad(t, b);
    if (da) ag__gemm_nt(N, K, M, g, b->data, da);
    if (db) ag__gemm_tn(K, M, N, a->data, g, db);
    return ag_tape_status(t);
}

/* ---- bmm: a (B, N, K) . b (B, K, M) -> (B, N, M), one matmul per batch entry ---- */

static ag_status bmm_backward(ag_tape *t, const ag_node *nd);
static const ag_op bmm_op = {"bmm", bmm_backward};

ag_tensor *ag_bmm(ag_tape *t, ag_tensor *a, ag_tensor *b)
{
    ag_tensor *in[2] = {a, b};
    if (!ag_op_inputs(t, &bmm_op, in, 2)) return NULL;
    if (a->rank != 3 || b->rank != 3 || a->shape[0] != b->shape[0] || a->shape[2] != b->shape[1]) {
        char sa[64], sb[64];
        return ag_tape_fail(t, AG_ESHAPE, "bmm: a is %s but b is %s (need (B, N, K) and (B, K, M))",
                            ag_shape_str(a, sa, sizeof sa), ag_shape_str(b, sb, sizeof sb));
    }
    int B = a->shape[0], N = a->shape[1], K = a->shape[2], M = b->shape[2];
    ag_tensor *out = ag_op_output(t, &bmm_op, 3, (int[]){B, N, M});
    if (!out) return NULL;
    memset(out->data, 0, (size_t)out->size * sizeof(ag_float));
    for (int i = 0; i < B; i++)
        ag__gemm_nn(N, M, K, a->data + (size_t)i * N * K, b->data + (size_t)i * K * M, out->data + (size_t)i * N * M);
    ag_op_record(t, &bmm_op, out, in, 2, 0);
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* per batch entry i:  da_i (N, K) += g_i (N, M) . b_i^T     db_i (K, M) += a_i^T . g_i */
static ag_status bmm_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *a = nd->in[0], *b = nd->in[1];
    int B = a->shape[0], N = a->shape[1], K = a->shape[2], M = b->shape[2];
    const ag_float *g = nd->out->grad;
    ag_float *da = ag_grad(t, a), *db = ag_grad(t, b);
    for (int i = 0; i < B; i++) {
        const ag_float *gi = g + (size_t)i * N * M;
        if (da) ag__gemm_nt(N, K, M, gi, b->data + (size_t)i * K * M, da + (size_t)i * N * K);
        if (db) ag__gemm_tn(K, M, N, a->data + (size_t)i * N * K, gi, db + (size_t)i * K * M);
    }
    return ag_tape_status(t);
}

/* ---- linear: x (N, I), W (O, I), b (O) or NULL -> (N, O) = x W^T + b ---- */

static ag_status linear_backward(ag_tape *t, const ag_node *nd);
static const ag_op linear_op = {"linear", linear_backward};

/* A node whose weight gradient waits for the end of the pass (linear_flush). */
typedef struct {
    const ag_node *next_deferred;
} linear_saved;

ag_tensor *ag_linear(ag_tape *t, ag_tensor *x, ag_tensor *W, ag_tensor *b)
{
    ag_tensor *in[3] = {x, W, b};
    if (!ag_op_inputs(t, &linear_op, in, 2) || (b && !ag_op_inputs(t, &linear_op, in + 2, 1))) return NULL;
    char sx[64], sw[64], sb[64];
    if (x->rank != 2 || W->rank != 2 || x->shape[1] != W->shape[1])
        return ag_tape_fail(t, AG_ESHAPE, "linear: x is %s but weight is %s (need (N, I) and (O, I))",
                            ag_shape_str(x, sx, sizeof sx), ag_shape_str(W, sw, sizeof sw));
    int N = x->shape[0], I = x->shape[1], O = W->shape[0];
    if (b && (b->rank != 1 || b->shape[0] != O))
        return ag_tape_fail(t, AG_ESHAPE, "linear: weight is %s but bias is %s (need (%d))",
                            ag_shape_str(W, sw, sizeof sw), ag_shape_str(b, sb, sizeof sb), O);
    ag_tensor *out = ag_op_output(t, &linear_op, 2, (int[]){N, O});
    if (!out) return NULL;
    for (int n = 0; n < N; n++) {
        ag_float *y = out->data + n * O;
        if (b) memcpy(y, b->data, (size_t)O * sizeof(ag_float));
        else memset(y, 0, (size_t)O * sizeof(ag_float));
    }
    ag__gemm_nt(N, O, I, x->data, W->data, out->data);
    ag_op_record(t, &linear_op, out, in, b ? 3 : 2, sizeof(linear_saved));
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

static ag_status linear_flush(ag_tape *t, void *first);

/* dx (N, I) += g (N, O) . W (O, I)     dW (O, I) += g^T . x     db (O) += sum_n g
 * A weight used at every step of a recurrence gets one outer product per step, each a
 * pass over all of dW; with few rows (under 16) that pass costs more than its
 * arithmetic, so such a node is filed for the end of the backward pass instead, where
 * linear_flush does all of one weight's nodes as a single product. */
static ag_status linear_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0], *W = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    int N = x->shape[0], I = x->shape[1], O = W->shape[0];
    const ag_float *g = nd->out->grad;
    ag_float *dx = ag_grad(t, x);
    if (dx) ag__gemm_nn(N, I, O, g, W->data, dx);
    if (W->requires_grad && !W->grad_fn && N < 16) { /* a parameter, few rows */
        void **first = ag_backward_at_end(t, linear_flush);
        if (!first) return ag_tape_status(t);
        ((linear_saved *)nd->saved)->next_deferred = *first;
        *first = (void *)nd;
    } else {
        ag_float *dW = ag_grad(t, W);
        if (dW) ag__gemm_tn(O, I, N, g, x->data, dW);
    }
    ag_float *db = ag_grad(t, b);
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) db[o] += g[n * O + o];
    return ag_tape_status(t);
}

static const ag_node *next_deferred(const ag_node *n)
{
    return ((const linear_saved *)n->saved)->next_deferred;
}

/* The deferred nodes, a list through linear_saved: for each weight W, its nodes' G (R, O)
 * stacked over their X (R, I), R their rows in all, for a single dW += G^T X. */
static ag_status linear_flush(ag_tape *t, void *first)
{
    const ag_node *list = first;
    while (list) {
        ag_tensor *W = list->in[1];
        int O = W->shape[0], I = W->shape[1], R = 0, nodes = 0;
        for (const ag_node *n = list; n; n = next_deferred(n))
            if (n->in[1] == W) R += n->in[0]->shape[0], nodes++;
        ag_float *dW = ag_grad(t, W);
        if (!dW) return ag_tape_status(t);
        if (nodes == 1) {
            ag__gemm_tn(O, I, R, list->out->grad, list->in[0]->data, dW);
            list = next_deferred(list);
            continue;
        }
        ag_float *G = ag__arena(t, (size_t)R * O * sizeof *G), *X = ag__arena(t, (size_t)R * I * sizeof *X);
        if (!G || !X) return ag_tape_status(t);
        int r = 0;
        const ag_node *rest = NULL, **tail = &rest; /* the other weights' nodes, in order */
        for (const ag_node *n = list; n; n = next_deferred(n)) {
            if (n->in[1] != W) {
                *tail = n;
                tail = (const ag_node **)&((linear_saved *)n->saved)->next_deferred;
                continue;
            }
            int rows = n->in[0]->shape[0];
            memcpy(G + (size_t)r * O, n->out->grad, (size_t)rows * O * sizeof *G);
            memcpy(X + (size_t)r * I, n->in[0]->data, (size_t)rows * I * sizeof *X);
            r += rows;
        }
        *tail = NULL;
        ag__gemm_tn(O, I, R, G, X, dW);
        list = rest;
    }
    return AG_OK;
}
