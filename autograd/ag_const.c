/* ag_const.c -- tensors that need no gradient: constants on the tape (zeros, ones,
 * values from an array, random draws, one-hot rows, a detached copy), and the copy of
 * a tape tensor's values into a caller-owned tensor that outlives the tape's reset. */
#include <string.h>

#include "ag_internal.h"

/* The constructors record no node; the descriptor names them in error messages. */
static ag_tensor *fresh(ag_tape *t, const char *name, int rank, const int *shape)
{
    const ag_op named = {name, NULL};
    return ag_op_output(t, &named, rank, shape);
}

static ag_tensor *filled(ag_tape *t, const char *name, int rank, const int *shape, ag_float v)
{
    ag_tensor *x = fresh(t, name, rank, shape);
    if (x) ag_fill(x, v);
    return x;
}

ag_tensor *ag_full(ag_tape *t, int rank, const int *shape, ag_float v)
{
    return filled(t, "full", rank, shape, v);
}

ag_tensor *ag_zeros(ag_tape *t, int rank, const int *shape)
{
    return filled(t, "zeros", rank, shape, 0);
}

ag_tensor *ag_ones(ag_tape *t, int rank, const int *shape)
{
    return filled(t, "ones", rank, shape, 1);
}

ag_tensor *ag_from_array(ag_tape *t, int rank, const int *shape, const ag_float *v)
{
    if (!v) return ag_tape_fail(t, AG_EARG, "from_array: values are NULL");
    ag_tensor *x = fresh(t, "from_array", rank, shape);
    if (x) memcpy(x->data, v, (size_t)x->size * sizeof(ag_float));
    return x;
}

ag_tensor *ag_rand(ag_tape *t, ag_rng *r, int rank, const int *shape, double lo, double hi)
{
    ag_tensor *x = fresh(t, "rand", rank, shape);
    if (x) ag_fill_uniform(x, r, lo, hi);
    return x;
}

ag_tensor *ag_randn(ag_tape *t, ag_rng *r, int rank, const int *shape, double mean, double std)
{
    ag_tensor *x = fresh(t, "randn", rank, shape);
    if (x) ag_fill_normal(x, r, mean, std);
    return x;
}

ag_tensor *ag_one_hot(ag_tape *t, const int *idx, int n, int classes)
{
    if (!idx || n < 1 || classes < 1)
        return ag_tape_fail(t, AG_EARG, "one_hot: need indices, n >= 1 and classes >= 1 (got n=%d, classes=%d)",
                            n, classes);
    for (int i = 0; i < n; i++)
        if (idx[i] < -1 || idx[i] >= classes)
            return ag_tape_fail(t, AG_EINDEX, "one_hot: index %d at position %d is outside [0, %d) (-1 pads)",
                                idx[i], i, classes);
    ag_tensor *x = fresh(t, "one_hot", 2, (int[]){n, classes});
    if (!x) return NULL;
    memset(x->data, 0, (size_t)x->size * sizeof(ag_float));
    for (int i = 0; i < n; i++)
        if (idx[i] >= 0) x->data[i * classes + idx[i]] = 1;
    /* marked one-hot (ag.h): linear and matmul then gather its columns */
    if (!(x->hot = ag__save_ints(t, idx, n))) return NULL;
    x->hot_cols = classes;
    return x;
}

/* ---- detach ---- */

ag_tensor *ag_detach(ag_tape *t, ag_tensor *x)
{
    const ag_op named = {"detach", NULL};
    if (!ag_op_inputs(t, &named, &x, 1)) return NULL;
    ag_tensor *y = ag_op_output(t, &named, x->rank, x->shape);
    if (y) memcpy(y->data, x->data, (size_t)x->size * sizeof(ag_float));
    return y;
}

ag_status ag_detach_into(ag_tape *t, ag_tensor *dst, ag_tensor *src)
{
    const ag_op named = {"detach_into", NULL};
    if (!ag_op_inputs(t, &named, &src, 1)) return ag_tape_status(t);
    char sd[64], ss[64];
    if (!dst || dst->stamp != 0 || dst->grad_fn) {
        ag_tape_fail(t, AG_EARG, "detach_into: the destination must be a caller-owned tensor (ag_buffer_new)");
        return ag_tape_status(t);
    }
    if (!ag_same_shape(dst, src)) {
        ag_tape_fail(t, AG_ESHAPE, "detach_into: the destination is %s but the source is %s",
                     ag_shape_str(dst, sd, sizeof sd), ag_shape_str(src, ss, sizeof ss));
        return ag_tape_status(t);
    }
    if (dst->data != src->data) memcpy(dst->data, src->data, (size_t)src->size * sizeof(ag_float));
    return AG_OK;
}
