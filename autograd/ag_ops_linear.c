/* ag_ops_linear.c -- matmul, bmm and linear, over the kernels in ag_kernels.c.
 *
 * One-hot operands. When the left operand carries one-hot columns (ag.h, `hot`: made
 * by ag_one_hot, carried by the ops that move its rows), matmul and linear multiply
 * only the other columns, and for the one-hot ones add the column (linear) or row
 * (matmul) of the weight that each row picks; backward scatters into those columns
 * or rows of the weight's gradient and computes no gradient for the one-hot columns
 * (they come from a constant). The forward pass first checks that the values still
 * are the promised one-hot rows, and does the dense product otherwise. */
#include <string.h>

#include "ag_internal.h"

/* 1 when v[0 .. n) are all +0 (bit for bit: a -0 or anything else gives 0, and the
 * caller takes the dense path, which is right for any values) */
static int all_zero(const ag_float *v, int n)
{
    static const ag_float zeros[256];
    for (; n > 256; v += 256, n -= 256)
        if (memcmp(v, zeros, sizeof zeros)) return 0;
    return memcmp(v, zeros, (size_t)n * sizeof *v) == 0;
}

/* 1 when x (rows of its last dim) holds exactly the one-hot rows its `hot` promises */
static int hot_holds(const ag_tensor *x)
{
    if (!x->hot) return 0;
    int C = x->shape[x->rank - 1], R = x->size / C, W = x->hot_cols;
    if (x->hot_col < 0 || W < 1 || x->hot_col + W > C) return 0;
    for (int r = 0; r < R; r++) {
        const ag_float *v = x->data + (size_t)r * C + x->hot_col;
        int h = x->hot[r];
        if (h < -1 || h >= W) return 0;
        if (h < 0 ? !all_zero(v, W) : v[h] != 1 || !all_zero(v, h) || !all_zero(v + h + 1, W - h - 1)) return 0;
    }
    return 1;
}

/* The columns [0, K) of x other than its one-hot block: [0, c0) and [c1, K) */
typedef struct {
    int c0, c1;
} dense_cols;

static dense_cols dense_of(const ag_tensor *x, int hot)
{
    int K = x->shape[x->rank - 1];
    return hot ? (dense_cols){x->hot_col, x->hot_col + x->hot_cols} : (dense_cols){K, K};
}

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
    int N = a->shape[0], K = a->shape[1], M = b->shape[1], hot = hot_holds(a);
    ag_tensor *out = ag_op_output(t, &matmul_op, 2, (int[]){N, M});
    if (!out) return NULL;
    memset(out->data, 0, (size_t)out->size * sizeof(ag_float));
    dense_cols dc = dense_of(a, hot);
    if (dc.c0 > 0) ag__gemm_nn_ld(N, M, dc.c0, a->data, K, b->data, M, out->data, M);
    if (dc.c1 < K) ag__gemm_nn_ld(N, M, K - dc.c1, a->data + dc.c1, K, b->data + (size_t)dc.c1 * M, M, out->data, M);
    for (int n = 0; hot && n < N; n++) /* the one-hot columns: row c0 + hot[n] of b */
        if (a->hot[n] >= 0) {
            const ag_float *brow = b->data + (size_t)(dc.c0 + a->hot[n]) * M;
            for (int m = 0; m < M; m++) out->data[(size_t)n * M + m] += brow[m];
        }
    ag_node *nd = ag_op_record(t, &matmul_op, out, in, 2, sizeof(int));
    if (nd) *(int *)nd->saved = hot;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* da (N, K) += g (N, M) . b^T      db (K, M) += a^T . g
 * one-hot a: da only in the dense columns; db's row c0 + hot[n] += g's row n */
static ag_status matmul_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *a = nd->in[0], *b = nd->in[1];
    int N = a->shape[0], K = a->shape[1], M = b->shape[1], hot = *(const int *)nd->saved;
    const ag_float *g = nd->out->grad;
    ag_float *da = ag_grad(t, a), *db = ag_grad(t, b);
    dense_cols dc = dense_of(a, hot);
    if (da && dc.c0 > 0) ag__gemm_nt_ld(N, dc.c0, M, g, M, b->data, M, da, K);
    if (da && dc.c1 < K) ag__gemm_nt_ld(N, K - dc.c1, M, g, M, b->data + (size_t)dc.c1 * M, M, da + dc.c1, K);
    if (db && dc.c0 > 0) ag__gemm_tn_ld(dc.c0, M, N, a->data, K, g, M, db, M);
    if (db && dc.c1 < K) ag__gemm_tn_ld(K - dc.c1, M, N, a->data + dc.c1, K, g, M, db + (size_t)dc.c1 * M, M);
    for (int n = 0; db && hot && n < N; n++)
        if (a->hot[n] >= 0) {
            ag_float *drow = db + (size_t)(dc.c0 + a->hot[n]) * M;
            for (int m = 0; m < M; m++) drow[m] += g[(size_t)n * M + m];
        }
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

/* hot: the forward pass took the one-hot path; next_deferred: a node whose weight
 * gradient waits for the end of the pass (linear_flush). */
typedef struct {
    const ag_node *next_deferred;
    int hot;
} linear_saved;

/* y (N, O) += the one-hot columns' part of x W^T: column c0 + hot[n] of W for row n */
static void hot_columns(const ag_tensor *x, const ag_tensor *W, ag_float *y)
{
    int N = x->shape[0], I = W->shape[1], O = W->shape[0];
    for (int n = 0; n < N; n++)
        if (x->hot[n] >= 0) {
            const ag_float *w = W->data + x->hot_col + x->hot[n];
            ag_float *yn = y + (size_t)n * O;
            for (int o = 0; o < O; o++) yn[o] += w[(size_t)o * I];
        }
}

/* dW (O, I): column c0 + hot[n] += g's row n, for each row n of x */
static void hot_scatter(const ag_tensor *x, const ag_float *g, int O, int I, ag_float *dW)
{
    for (int n = 0; n < x->shape[0]; n++)
        if (x->hot[n] >= 0) {
            ag_float *d = dW + x->hot_col + x->hot[n];
            const ag_float *gn = g + (size_t)n * O;
            for (int o = 0; o < O; o++) d[(size_t)o * I] += gn[o];
        }
}

/* dW (O, I) += g^T x over x's dense columns (all of them when hot is 0) */
static void dense_dW(const ag_tensor *x, int hot, const ag_float *g, int O, ag_float *dW)
{
    int N = x->shape[0], I = x->shape[1];
    dense_cols dc = dense_of(x, hot);
    if (dc.c0 > 0) ag__gemm_tn_ld(O, dc.c0, N, g, O, x->data, I, dW, I);
    if (dc.c1 < I) ag__gemm_tn_ld(O, I - dc.c1, N, g, O, x->data + dc.c1, I, dW + dc.c1, I);
}

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
    int hot = hot_holds(x);
    dense_cols dc = dense_of(x, hot);
    if (dc.c0 > 0) ag__gemm_nt_ld(N, O, dc.c0, x->data, I, W->data, I, out->data, O);
    if (dc.c1 < I) ag__gemm_nt_ld(N, O, I - dc.c1, x->data + dc.c1, I, W->data + dc.c1, I, out->data, O);
    if (hot) hot_columns(x, W, out->data);
    ag_node *nd = ag_op_record(t, &linear_op, out, in, b ? 3 : 2, sizeof(linear_saved));
    if (nd) ((linear_saved *)nd->saved)->hot = hot;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* 1 when W's gradient is a parameter's (W is one, or a view of one): nothing reads it
 * during the pass, so its products may wait for the end */
static int grad_of_leaf(const ag_tensor *W)
{
    while (W->view_of) W = W->view_of;
    return W->requires_grad && !W->grad_fn;
}

/* the same weight: the same tensor, or views of the same values */
static int same_weight(const ag_tensor *a, const ag_tensor *b)
{
    return a == b || (a->data == b->data && ag_same_shape(a, b));
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
    int N = x->shape[0], I = x->shape[1], O = W->shape[0], hot = ((const linear_saved *)nd->saved)->hot;
    const ag_float *g = nd->out->grad;
    ag_float *dx = ag_grad(t, x);
    dense_cols dc = dense_of(x, hot); /* dx of one-hot columns would flow to a constant */
    if (dx && dc.c0 > 0) ag__gemm_nn_ld(N, dc.c0, O, g, O, W->data, I, dx, I);
    if (dx && dc.c1 < I) ag__gemm_nn_ld(N, I - dc.c1, O, g, O, W->data + dc.c1, I, dx + dc.c1, I);
    if (W->requires_grad && grad_of_leaf(W) && N < 16) { /* a parameter's, few rows */
        void **first = ag_backward_at_end(t, linear_flush);
        if (!first) return ag_tape_status(t);
        ((linear_saved *)nd->saved)->next_deferred = *first;
        *first = (void *)nd;
    } else {
        ag_float *dW = ag_grad(t, W);
        if (dW) dense_dW(x, hot, g, O, dW);
        if (dW && hot) hot_scatter(x, g, O, I, dW);
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
 * stacked over their X (R, I), R their rows in all, for a single dW += G^T X. When
 * every node of W took the one-hot path with the same block, X holds only the other
 * columns and each node's one-hot columns are scattered on their own. */
static ag_status linear_flush(ag_tape *t, void *first)
{
    const ag_node *list = first;
    while (list) {
        ag_tensor *W = list->in[1];
        const ag_tensor *x0 = list->in[0];
        int O = W->shape[0], I = W->shape[1], R = 0, nodes = 0, hot = 1;
        for (const ag_node *n = list; n; n = next_deferred(n))
            if (same_weight(n->in[1], W)) {
                const ag_tensor *x = n->in[0];
                R += x->shape[0], nodes++;
                hot &= ((const linear_saved *)n->saved)->hot && x->hot_col == x0->hot_col && x->hot_cols == x0->hot_cols;
            }
        ag_float *dW = ag_grad(t, W);
        if (!dW) return ag_tape_status(t);
        if (nodes == 1) {
            dense_dW(x0, hot, list->out->grad, O, dW);
            if (hot) hot_scatter(x0, list->out->grad, O, I, dW);
            list = next_deferred(list);
            continue;
        }
        dense_cols dc = dense_of(x0, hot);
        int D = I - (dc.c1 - dc.c0); /* X's columns: x's [0, c0) then [c1, I) */
        ag_float *G = ag__arena(t, (size_t)R * O * sizeof *G), *X = ag__arena(t, (size_t)R * (D ? D : 1) * sizeof *X);
        if (!G || !X) return ag_tape_status(t);
        int r = 0;
        const ag_node *rest = NULL, **tail = &rest; /* the other weights' nodes, in order */
        for (const ag_node *n = list; n; n = next_deferred(n)) {
            if (!same_weight(n->in[1], W)) {
                *tail = n;
                tail = (const ag_node **)&((linear_saved *)n->saved)->next_deferred;
                continue;
            }
            const ag_tensor *x = n->in[0];
            int rows = x->shape[0];
            memcpy(G + (size_t)r * O, n->out->grad, (size_t)rows * O * sizeof *G);
            for (int i = 0; i < rows; i++) {
                const ag_float *xi = x->data + (size_t)i * I;
                ag_float *Xi = X + (size_t)(r + i) * D;
                memcpy(Xi, xi, (size_t)dc.c0 * sizeof *X);
                memcpy(Xi + dc.c0, xi + dc.c1, (size_t)(I - dc.c1) * sizeof *X);
            }
            if (hot) hot_scatter(x, n->out->grad, O, I, dW);
            r += rows;
        }
        *tail = NULL;
        if (dc.c0 > 0) ag__gemm_tn_ld(O, dc.c0, R, G, O, X, D, dW, I);
        if (dc.c1 < I) ag__gemm_tn_ld(O, I - dc.c1, R, G, O, X + dc.c0, D, dW + dc.c1, I);
        list = rest;
    }
    return AG_OK;
}
