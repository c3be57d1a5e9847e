/* nn_embedding.c -- Embedding: rows of a (num, dim) weight, as torch.nn.Embedding. */
#include "nn_internal.h"

nn_status nn_embedding_init(nn_embedding *m, nn_params *ps, const char *prefix, int num, int dim, int padding_idx,
                            ag_rng *rng)
{
    if (!prefix) prefix = "";
    if (num < 1 || dim < 1)
        return nn__params_fail(ps, NN_EARG, "embedding '%s': num = %d and dim = %d must be >= 1", prefix, num, dim);
    if (padding_idx < -1 || padding_idx >= num)
        return nn__params_fail(ps, NN_EARG, "embedding '%s': padding_idx = %d must be in [0, %d) or -1 for none",
                               prefix, padding_idx, num);
    ag_tensor *w = NULL;
    nn_status s = nn__params_add3(ps, prefix, "", "weight", 2, (int[]){num, dim}, &w);
    if (s != NN_OK) return s; /* the registry's error stays */
    m->weight = w;
    m->num = num;
    m->dim = dim;
    m->padding_idx = padding_idx;
    ag_fill_normal(w, rng, 0, 1); /* torch.nn.Embedding: N(0, 1), the padding row zeroed */
    if (padding_idx >= 0)
        for (int j = 0; j < dim; j++) w->data[(long)padding_idx * dim + j] = 0;
    return NN_OK;
}

/* idx: (shape) -> (shape, dim) */
ag_tensor *nn_embedding_forward(ag_tape *t, const nn_embedding *m, int rank, const int *shape, const int *idx)
{
    if (rank < 0 || rank >= AG_MAX_RANK || (rank > 0 && !shape))
        return ag_tape_fail(t, AG_EARG, "embedding: indices of rank %d (0..%d and a shape needed)", rank,
                            AG_MAX_RANK - 1);
    long n = 1;
    int out[AG_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        if (shape[d] < 1 || (n *= shape[d]) > 0x7fffffff)
            return ag_tape_fail(t, AG_ESHAPE, "embedding: dim %d of the indices' shape is %d (must be >= 1, %s)", d,
                                shape[d], "fewer than 2^31 indices in all");
        out[d] = shape[d];
    }
    out[rank] = m->dim;
    ag_tensor *rows = ag_embedding(t, m->weight, idx, (int)n, m->padding_idx); /* (n, dim) */
    if (!rows || rank == 1) return rows;
    return ag_reshape(t, rows, rank + 1, out);
}
