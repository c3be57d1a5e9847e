/* ag_ops_reduce.c -- the ops that reduce a dim: sum, mean, softmax, log_softmax, nll_loss,
 * max and min along a dim, argmax. */
#include <math.h>
#include <string.h>

#include "ag_internal.h"

/* ---- sum / mean over everything -> () ---- */

static ag_status reduce_all_backward(ag_tape *t, const ag_node *nd);
static const ag_op sum_op = {"sum", reduce_all_backward};
static const ag_op mean_op = {"mean", reduce_all_backward};

/* x: any shape -> () */
static ag_tensor *reduce_all(ag_tape *t, const ag_op *op, ag_tensor *x)
{
    if (!ag_op_inputs(t, op, &x, 1)) return NULL;
    ag_tensor *out = ag_op_output(t, op, 0, NULL);
    if (!out) return NULL;
    double s = 0; /* double accumulator: sums of many floats stay exact enough */
    for (int i = 0; i < x->size; i++) s += x->data[i];
    out->data[0] = (ag_float)(op == &mean_op ? s / x->size : s);
    ag_op_record(t, op, out, &x, 1, 0);
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* sum: dx += g; mean: dx += g / size */
static ag_status reduce_all_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const ag_float *g = nd->out->grad;
    ag_float s = nd->op == &mean_op ? g[0] / (ag_float)x->size : g[0];
    for (int i = 0; i < x->size; i++) dx[i] += s;
    return AG_OK;
}

ag_tensor *ag_sum(ag_tape *t, ag_tensor *x) { return reduce_all(t, &sum_op, x); }
ag_tensor *ag_mean(ag_tape *t, ag_tensor *x) { return reduce_all(t, &mean_op, x); }

/* ---- sum / mean along dim ----
 * x viewed as (outer, D, inner) -> (outer, inner), with dim kept as 1 if keepdim. */

static ag_status reduce_dim_backward(ag_tape *t, const ag_node *nd);
static const ag_op sum_dim_op = {"sum_dim", reduce_dim_backward};
static const ag_op mean_dim_op = {"mean_dim", reduce_dim_backward};

typedef struct {
    int dim; /* normalised */
} dim_saved;

static ag_tensor *reduce_dim(ag_tape *t, const ag_op *op, ag_tensor *x, int dim, int keepdim)
{
    if (!ag_op_inputs(t, op, &x, 1)) return NULL;
    int d = ag__dim(t, op->name, x, dim);
    if (d < 0) return NULL;
    int shape[AG_MAX_RANK], rank = 0;
    for (int e = 0; e < x->rank; e++) {
        if (e != d) shape[rank++] = x->shape[e];
        else if (keepdim) shape[rank++] = 1;
    }
    ag_tensor *out = ag_op_output(t, op, rank, shape);
    if (!out) return NULL;
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            double s = 0;
            for (int j = 0; j < D; j++) s += x->data[(o * D + j) * inner + i];
            out->data[o * inner + i] = (ag_float)(op == &mean_dim_op ? s / D : s);
        }
    ag_node *nd = ag_op_record(t, op, out, &x, 1, sizeof(dim_saved));
    if (nd) ((dim_saved *)nd->saved)->dim = d;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* sum: dx += g broadcast back over dim; mean: dx += g / D. */
static ag_status reduce_dim_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const ag_float *g = nd->out->grad;
    int d = ((const dim_saved *)nd->saved)->dim, outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    ag_float k = nd->op == &mean_dim_op ? (ag_float)1 / (ag_float)D : 1;
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < D; j++)
            for (int i = 0; i < inner; i++) dx[(o * D + j) * inner + i] += g[o * inner + i] * k;
    return AG_OK;
}

ag_tensor *ag_sum_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim)
{
    return reduce_dim(t, &sum_dim_op, x, dim, keepdim);
}

ag_tensor *ag_mean_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim)
{
    return reduce_dim(t, &mean_dim_op, x, dim, keepdim);
}

/* What softmax and log_softmax both start from, over v[0], v[inner], ... v[(D-1) inner]:
 * *m = their max, and sum_j exp(v_j - m) in double (every exponent <= 0: no overflow). */
static double max_and_sum_exp(const ag_float *v, int D, int inner, ag_float *m)
{
    ag_float top = v[0];
    for (int j = 1; j < D; j++)
        if (v[j * inner] > top) top = v[j * inner];
    double s = 0;
    for (int j = 0; j < D; j++) s += exp((double)(v[j * inner] - top));
    *m = top;
    return s;
}

/* ---- log_softmax along dim ----
 * y_j = x_j - m - log(sum_k exp(x_k - m)), m = max_k x_k: every exp argument is <= 0,
 * so logits of any finite size give finite results. */

static ag_status log_softmax_backward(ag_tape *t, const ag_node *nd);
static const ag_op log_softmax_op = {"log_softmax", log_softmax_backward};

ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int dim)
{
    if (!ag_op_inputs(t, &log_softmax_op, &x, 1)) return NULL;
    int d = ag__dim(t, "log_softmax", x, dim);
    if (d < 0) return NULL;
    ag_tensor *out = ag_op_output(t, &log_softmax_op, x->rank, x->shape);
    if (!out) return NULL;
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const ag_float *v = x->data + o * D * inner + i;
            ag_float *y = out->data + o * D * inner + i, m;
            /* (x - m) - ls, not x - (m + ls): with logits of 1e4 the sum m + ls would
             * round to float's spacing there, 1e-3 */
            ag_float ls = (ag_float)log(max_and_sum_exp(v, D, inner, &m));
            for (int j = 0; j < D; j++) y[j * inner] = (v[j * inner] - m) - ls;
        }
    ag_node *nd = ag_op_record(t, &log_softmax_op, out, &x, 1, sizeof(dim_saved));
    if (nd) ((dim_saved *)nd->saved)->dim = d;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx_j += g_j - softmax_j * sum_k g_k, with softmax_j = exp(y_j). */
static ag_status log_softmax_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    int d = ((const dim_saved *)nd->saved)->dim, outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            int base = o * D * inner + i;
            const ag_float *y = nd->out->data + base, *g = nd->out->grad + base;
            double gs = 0;
            for (int j = 0; j < D; j++) gs += g[j * inner];
            for (int j = 0; j < D; j++)
                dx[base + j * inner] += g[j * inner] - (ag_float)exp(y[j * inner]) * (ag_float)gs;
        }
    return AG_OK;
}

/* ---- softmax along dim ----
 * y_j = exp(x_j - m) / sum_k exp(x_k - m), m = max_k x_k (no overflow for any finite x). */

static ag_status softmax_backward(ag_tape *t, const ag_node *nd);
static const ag_op softmax_op = {"softmax", softmax_backward};

ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int dim)
{
    if (!ag_op_inputs(t, &softmax_op, &x, 1)) return NULL;
    int d = ag__dim(t, "softmax", x, dim);
    if (d < 0) return NULL;
    ag_tensor *out = ag_op_output(t, &softmax_op, x->rank, x->shape);
    if (!out) return NULL;
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const ag_float *v = x->data + o * D * inner + i;
            ag_float *y = out->data + o * D * inner + i, m;
            double s = max_and_sum_exp(v, D, inner, &m);
            for (int j = 0; j < D; j++) y[j * inner] = (ag_float)(exp((double)(v[j * inner] - m)) / s);
        }
    ag_node *nd = ag_op_record(t, &softmax_op, out, &x, 1, sizeof(dim_saved));
    if (nd) ((dim_saved *)nd->saved)->dim = d;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx_j += y_j (g_j - sum_k g_k y_k) */
static ag_status softmax_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    int d = ((const dim_saved *)nd->saved)->dim, outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            int base = o * D * inner + i;
            const ag_float *y = nd->out->data + base, *g = nd->out->grad + base;
            double gy = 0;
            for (int j = 0; j < D; j++) gy += (double)g[j * inner] * y[j * inner];
            for (int j = 0; j < D; j++) dx[base + j * inner] += y[j * inner] * (g[j * inner] - (ag_float)gy);
        }
    return AG_OK;
}

/* ---- nll_loss ----
 * logp: (N, C), targets: N ints -> () = -sum_n logp[n, t_n] (/ N for mean). */

static ag_status nll_loss_backward(ag_tape *t, const ag_node *nd);
static const ag_op nll_loss_op = {"nll_loss", nll_loss_backward};

typedef struct {
    const int *targets; /* N, in the arena */
    ag_reduction red;
} nll_saved;

ag_tensor *ag_nll_loss(ag_tape *t, ag_tensor *logp, const int *targets, ag_reduction red)
{
    if (!ag_op_inputs(t, &nll_loss_op, &logp, 1)) return NULL;
    char buf[64];
    if (logp->rank != 2)
        return ag_tape_fail(t, AG_ESHAPE, "nll_loss: log_probs must be (N, C), got %s",
                            ag_shape_str(logp, buf, sizeof buf));
    if (!targets) return ag_tape_fail(t, AG_EARG, "nll_loss: targets are NULL");
    if (red != AG_MEAN && red != AG_SUM)
        return ag_tape_fail(t, AG_EARG, "nll_loss: reduction %d is neither AG_MEAN nor AG_SUM", (int)red);
    int N = logp->shape[0], C = logp->shape[1];
    for (int n = 0; n < N; n++)
        if (targets[n] < 0 || targets[n] >= C)
            return ag_tape_fail(t, AG_EINDEX, "nll_loss: target %d at index %d is out of range [0, %d)",
                                targets[n], n, C);
    ag_tensor *out = ag_op_output(t, &nll_loss_op, 0, NULL);
    if (!out) return NULL;
    double s = 0;
    for (int n = 0; n < N; n++) s -= logp->data[n * C + targets[n]];
    out->data[0] = (ag_float)(red == AG_MEAN ? s / N : s);
    ag_node *nd = ag_op_record(t, &nll_loss_op, out, &logp, 1, sizeof(nll_saved));
    if (nd) {
        nll_saved *s = nd->saved;
        s->targets = ag__save_ints(t, targets, N);
        s->red = red;
    }
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dlogp[n, t_n] -= g (/ N for mean); every other element gets nothing. */
static ag_status nll_loss_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *lp = nd->in[0];
    ag_float *dlp = ag_grad(t, lp);
    if (!dlp) return ag_tape_status(t);
    const nll_saved *s = nd->saved;
    int N = lp->shape[0], C = lp->shape[1];
    ag_float g = nd->out->grad[0];
    if (s->red == AG_MEAN) g /= (ag_float)N;
    for (int n = 0; n < N; n++) dlp[n * C + s->targets[n]] -= g;
    return AG_OK;
}

/* ---- max / min along dim, argmax ----
 * x viewed as (outer, D, inner) -> (outer, inner): the largest (smallest) of each D
 * values and where it is. Ties go to the first index, as torch 1.13 on the CPU does
 * (tensor([1., 3., 3.]).max(0) gives index 1); a NaN counts as larger (smaller) than
 * anything, so it propagates, and the first NaN wins. */

static ag_status pick_backward(ag_tape *t, const ag_node *nd);
static const ag_op max_dim_op = {"max_dim", pick_backward};
static const ag_op min_dim_op = {"min_dim", pick_backward};
static const ag_op argmax_op = {"argmax", pick_backward}; /* never recorded */

typedef struct {
    int dim;          /* normalised */
    const int *index; /* outer * inner chosen indices along dim, in the arena */
} pick_saved;

/* 1 when v beats the best so far, best: strictly larger (smaller), or a first NaN */
static int beats(int want_max, ag_float v, ag_float best)
{
    if (isnan(best)) return 0;
    if (isnan(v)) return 1;
    return want_max ? v > best : v < best;
}

/* Fills idx[outer * inner] with the chosen index along d; the output shape goes to
 * *rank, shape. 0 (error set) on a bad dim. */
static int pick(ag_tape *t, const char *name, ag_tensor *x, int dim, int keepdim, int want_max, int *d_out,
                int *rank, int *shape, int **idx)
{
    int d = ag__dim(t, name, x, dim);
    if (d < 0) return 0;
    *rank = 0;
    for (int e = 0; e < x->rank; e++) {
        if (e != d) shape[(*rank)++] = x->shape[e];
        else if (keepdim) shape[(*rank)++] = 1;
    }
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    *idx = ag__arena(t, (size_t)outer * inner * sizeof **idx);
    if (!*idx) return 0;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const ag_float *v = x->data + o * D * inner + i;
            int best = 0;
            for (int j = 1; j < D; j++)
                if (beats(want_max, v[j * inner], v[best * inner])) best = j;
            (*idx)[o * inner + i] = best;
        }
    *d_out = d;
    return 1;
}

static ag_tensor *max_min(ag_tape *t, const ag_op *op, ag_tensor *x, int dim, int keepdim, int *indices)
{
    if (!ag_op_inputs(t, op, &x, 1)) return NULL;
    int d, rank, shape[AG_MAX_RANK], *idx;
    if (!pick(t, op->name, x, dim, keepdim, op == &max_dim_op, &d, &rank, shape, &idx)) return NULL;
    ag_tensor *out = ag_op_output(t, op, rank, shape);
    if (!out) return NULL;
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
            out->data[o * inner + i] = x->data[(o * D + idx[o * inner + i]) * inner + i];
    if (indices) memcpy(indices, idx, (size_t)outer * inner * sizeof *indices);
    ag_node *nd = ag_op_record(t, op, out, &x, 1, sizeof(pick_saved));
    if (nd) *(pick_saved *)nd->saved = (pick_saved){d, idx};
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* dx[o, index[o, i], i] += g[o, i]: the chosen element alone gets the gradient */
static ag_status pick_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const pick_saved *s = nd->saved;
    int outer, inner, D = x->shape[s->dim];
    ag__split(x, s->dim, &outer, &inner);
    const ag_float *g = nd->out->grad;
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) dx[(o * D + s->index[o * inner + i]) * inner + i] += g[o * inner + i];
    return AG_OK;
}

ag_tensor *ag_max_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim, int *indices)
{
    return max_min(t, &max_dim_op, x, dim, keepdim, indices);
}

ag_tensor *ag_min_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim, int *indices)
{
    return max_min(t, &min_dim_op, x, dim, keepdim, indices);
}

/* The indices as the values of a tape tensor without gradient (torch gives int64). An
 * index is exact in float up to 2^24, so a longer dim is refused. */
ag_tensor *ag_argmax(ag_tape *t, ag_tensor *x, int dim, int keepdim)
{
    if (!ag_op_inputs(t, &argmax_op, &x, 1)) return NULL;
    int d, rank, shape[AG_MAX_RANK], *idx;
    if (!pick(t, "argmax", x, dim, keepdim, 1, &d, &rank, shape, &idx)) return NULL;
    if (x->shape[d] > (1 << 24)) {
        char buf[64];
        return ag_tape_fail(t, AG_EARG, "argmax: dim %d of %s is longer than 2^24, so its indices are not exact as values",
                            d, ag_shape_str(x, buf, sizeof buf));
    }
    ag_tensor *out = ag_op_output(t, &argmax_op, rank, shape);
    if (!out) return NULL;
    for (int i = 0; i < out->size; i++) out->data[i] = (ag_float)idx[i];
    return out;
}
