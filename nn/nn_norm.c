/* nn_norm.c -- LayerNorm over the last dims, as torch.nn.LayerNorm, from ag_ ops. */
#include "nn_internal.h"

nn_status nn_layernorm_init(nn_layernorm *m, nn_params *ps, const char *prefix, int rank, const int *shape, double eps,
                            int elementwise_affine)
{
    if (!prefix) prefix = "";
    if (rank < 1 || rank > AG_MAX_RANK || !shape)
        return nn__params_fail(ps, NN_EARG, "layernorm '%s': the normalized shape has rank %d (must be 1..%d)", prefix,
                               rank, AG_MAX_RANK);
    for (int d = 0; d < rank; d++)
        if (shape[d] < 1)
            return nn__params_fail(ps, NN_EARG, "layernorm '%s': dim %d of the normalized shape is %d (must be >= 1)",
                                   prefix, d, shape[d]);
    if (!(eps > 0))
        return nn__params_fail(ps, NN_EARG, "layernorm '%s': eps = %g must be > 0", prefix, eps);
    int n0 = ps->n;
    ag_tensor *w = NULL, *b = NULL;
    nn_status s = NN_OK;
    if (elementwise_affine) {
        s = nn__params_add3(ps, prefix, "", "weight", rank, shape, &w);
        if (s == NN_OK) s = nn__params_add3(ps, prefix, "", "bias", rank, shape, &b);
    }
    if (s != NN_OK) {
        nn_params_truncate(ps, n0);
        return s;
    }
    m->weight = w;
    m->bias = b;
    m->rank = rank;
    for (int d = 0; d < AG_MAX_RANK; d++) m->shape[d] = d < rank ? shape[d] : 0;
    m->eps = eps;
    if (w) ag_fill(w, 1); /* torch: weight ones, bias zeros */
    if (b) ag_fill(b, 0);
    return NN_OK;
}

/* x: (..., shape) -> the same */
ag_tensor *nn_layernorm_forward(ag_tape *t, const nn_layernorm *m, ag_tensor *x)
{
    if (!x) return ag_tape_fail(t, AG_EARG, "layernorm: input is NULL");
    int lead = x->rank - m->rank, ok = lead >= 0;
    long k = 1;
    for (int d = 0; ok && d < m->rank; d++) {
        ok = x->shape[lead + d] == m->shape[d];
        k *= m->shape[d];
    }
    if (!ok) {
        char a[64], b[64];
        ag_tensor want = {.rank = m->rank};
        for (int d = 0; d < m->rank; d++) want.shape[d] = m->shape[d];
        ag_shape_str(x, a, sizeof a);
        ag_shape_str(&want, b, sizeof b);
        return ag_tape_fail(t, AG_ESHAPE, "layernorm: input is %s but must end in the normalized shape %s", a, b);
    }
    int rows = (int)(x->size / (k ? k : 1));
    ag_tensor *x2 = ag_reshape(t, x, 2, (int[]){rows, (int)k});               /* (M, K) */
    ag_tensor *mean = ag_mean_dim(t, x2, 1, 1);                                /* (M, 1) */
    ag_tensor *xc = ag_sub(t, x2, mean);                                       /* (M, K) */
    ag_tensor *var = ag_mean_dim(t, ag_mul(t, xc, xc), 1, 1);                  /* (M, 1), biased */
    ag_tensor *eps = ag_full(t, 0, NULL, (ag_float)m->eps);                    /* () */
    ag_tensor *y = ag_div(t, xc, ag_sqrt(t, ag_add(t, var, eps)));             /* (M, K) */
    y = ag_reshape(t, y, x->rank, x->shape);                                   /* as x */
    if (m->weight) y = ag_add(t, ag_mul(t, y, m->weight), m->bias);            /* weight, bias broadcast on the right */
    return y;
}
