/* ag_ops_linear.c -- matmul and linear, over the kernels in ag_kernels.c. */
#include <string.h>

#include "ag_internal.h"

/* ---- matmul: a (N, K) . b (K, M) -> (N, M) ---- */

ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b)
{
    ag_tensor *in[2] = {a, b};
    if (!ag__inputs(t, "matmul", in, 2)) return NULL;
    if (a->rank != 2 || b->rank != 2 || a->shape[1] != b->shape[0]) {
        char sa[64], sb[64];
        return ag_tape_fail(t, AG_ESHAPE, "matmul: a is %s but b is %s (need (N, K) and (K, M))",
                            ag_shape_str(a, sa, sizeof sa), ag_shape_str(b, sb, sizeof sb));
    }
    int N = a->shape[0], K = a->shape[1], M = b->shape[1];
    ag_tensor *out = ag__new(t, "matmul", 2, (int[]){N, M});
    if (!out) return NULL;
    memset(out->data, 0, (size_t)out->size * sizeof(ag_float));
    ag__gemm_nn(N, M, K, a->data, b->data, out->data);
    int ok;
    ag__record(t, AG_OP_MATMUL, out, in, 2, &ok);
    return ok ? out : NULL;
}

/* da (N, K) += g (N, M) . b^T      db (K, M) += a^T . g */
int ag__backward_matmul(ag_tape *t, ag_node *nd)
{
    ag_tensor *a = nd->in[0], *b = nd->in[1];
    int N = a->shape[0], K = a->shape[1], M = b->shape[1];
    const ag_float *g = nd->out->grad;
    if (a->requires_grad) {
        ag_float *da = ag__grad(t, a);
        if (!da) return 0;
        ag__gemm_nt(N, K, M, g, b->data, da);
    }
    if (b->requires_grad) {
        ag_float *db = ag__grad(t, b);
        if (!db) return 0;
        ag__gemm_tn(K, M, N, a->data, g, db);
    }
    return 1;
}

/* ---- linear: x (N, I), W (O, I), b (O) or NULL -> (N, O) = x W^T + b ---- */

ag_tensor *ag_linear(ag_tape *t, ag_tensor *x, ag_tensor *W, ag_tensor *b)
{
    ag_tensor *in[3] = {x, W, b};
    if (!ag__inputs(t, "linear", in, 2)) return NULL;
    char sx[64], sw[64], sb[64];
    if (x->rank != 2 || W->rank != 2 || x->shape[1] != W->shape[1])
        return ag_tape_fail(t, AG_ESHAPE, "linear: x is %s but weight is %s (need (N, I) and (O, I))",
                            ag_shape_str(x, sx, sizeof sx), ag_shape_str(W, sw, sizeof sw));
    int N = x->shape[0], I = x->shape[1], O = W->shape[0];
    if (b && (b->rank != 1 || b->shape[0] != O))
        return ag_tape_fail(t, AG_ESHAPE, "linear: weight is %s but bias is %s (need (%d))",
                            ag_shape_str(W, sw, sizeof sw), ag_shape_str(b, sb, sizeof sb), O);
    ag_tensor *out = ag__new(t, "linear", 2, (int[]){N, O});
    if (!out) return NULL;
    for (int n = 0; n < N; n++) {
        ag_float *y = out->data + n * O;
        if (b) memcpy(y, b->data, (size_t)O * sizeof(ag_float));
        else memset(y, 0, (size_t)O * sizeof(ag_float));
    }
    ag__gemm_nt(N, O, I, x->data, W->data, out->data);
    int ok;
    ag__record(t, AG_OP_LINEAR, out, in, b ? 3 : 2, &ok);
    return ok ? out : NULL;
}

/* dx (N, I) += g (N, O) . W (O, I)     dW (O, I) += g^T . x     db (O) += sum_n g */
int ag__backward_linear(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0], *W = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    int N = x->shape[0], I = x->shape[1], O = W->shape[0];
    const ag_float *g = nd->out->grad;
    if (x->requires_grad) {
        ag_float *dx = ag__grad(t, x);
        if (!dx) return 0;
        ag__gemm_nn(N, I, O, g, W->data, dx);
    }
    if (W->requires_grad && !W->grad_fn && N < 16) { /* a parameter, few rows: at the end of the pass */
        ag__defer(t, nd);
    } else if (W->requires_grad) {
        ag_float *dW = ag__grad(t, W);
        if (!dW) return 0;
        ag__gemm_tn(O, I, N, g, x->data, dW);
    }
    if (b && b->requires_grad) {
        ag_float *db = ag__grad(t, b);
        if (!db) return 0;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) db[o] += g[n * O + o];
    }
    return 1;
}
