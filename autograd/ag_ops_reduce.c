/* ag_ops_reduce.c -- sum, mean, log_softmax and nll_loss: the ops that reduce a dim. */
#include <math.h>

#include "ag_internal.h"

/* ---- sum / mean over everything -> () ---- */

static ag_tensor *reduce_all(ag_tape *t, ag_op op, ag_tensor *x)
{
    if (!ag__inputs(t, ag__op_names[op], &x, 1)) return NULL;
    ag_tensor *out = ag__new(t, ag__op_names[op], 0, NULL);
    if (!out) return NULL;
    double s = 0; /* double accumulator: sums of many floats stay exact enough */
    for (int i = 0; i < x->size; i++) s += x->data[i];
    out->data[0] = (ag_float)(op == AG_OP_MEAN ? s / x->size : s);
    int ok;
    ag__record(t, op, out, &x, 1, &ok);
    return ok ? out : NULL;
}

ag_tensor *ag_sum(ag_tape *t, ag_tensor *x) { return reduce_all(t, AG_OP_SUM, x); }
ag_tensor *ag_mean(ag_tape *t, ag_tensor *x) { return reduce_all(t, AG_OP_MEAN, x); }

/* ---- sum / mean along dim ----
 * x viewed as (outer, D, inner) -> (outer, inner), with dim kept as 1 if keepdim. */

static ag_tensor *reduce_dim(ag_tape *t, ag_op op, ag_tensor *x, int dim, int keepdim)
{
    const char *name = ag__op_names[op];
    if (!ag__inputs(t, name, &x, 1)) return NULL;
    int d = ag__dim(t, name, x, dim);
    if (d < 0) return NULL;
    int shape[AG_MAX_RANK], rank = 0;
    for (int e = 0; e < x->rank; e++) {
        if (e != d) shape[rank++] = x->shape[e];
        else if (keepdim) shape[rank++] = 1;
    }
    ag_tensor *out = ag__new(t, name, rank, shape);
    if (!out) return NULL;
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            double s = 0;
            for (int j = 0; j < D; j++) s += x->data[(o * D + j) * inner + i];
            out->data[o * inner + i] = (ag_float)(op == AG_OP_MEAN_DIM ? s / D : s);
        }
    int ok;
    ag_node *nd = ag__record(t, op, out, &x, 1, &ok);
    if (nd) nd->i0 = d;
    return ok ? out : NULL;
}

ag_tensor *ag_sum_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim)
{
    return reduce_dim(t, AG_OP_SUM_DIM, x, dim, keepdim);
}

ag_tensor *ag_mean_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim)
{
    return reduce_dim(t, AG_OP_MEAN_DIM, x, dim, keepdim);
}

/* sum: dx += g (broadcast back over what was summed); mean: dx += g / count. */
int ag__backward_reduce(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag__grad(t, x);
    if (!dx) return 0;
    const ag_float *g = nd->out->grad;
    if (nd->op == AG_OP_SUM || nd->op == AG_OP_MEAN) {
        ag_float s = nd->op == AG_OP_MEAN ? g[0] / (ag_float)x->size : g[0];
        for (int i = 0; i < x->size; i++) dx[i] += s;
        return 1;
    }
    int outer, inner, D = x->shape[nd->i0];
    ag__split(x, nd->i0, &outer, &inner);
    ag_float k = nd->op == AG_OP_MEAN_DIM ? (ag_float)1 / (ag_float)D : 1;
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < D; j++)
            for (int i = 0; i < inner; i++) dx[(o * D + j) * inner + i] += g[o * inner + i] * k;
    return 1;
}

/* ---- log_softmax along dim ----
 * y_j = x_j - m - log(sum_k exp(x_k - m)), m = max_k x_k: every exp argument is <= 0,
 * so logits of any finite size give finite results. */

ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int dim)
{
    if (!ag__inputs(t, "log_softmax", &x, 1)) return NULL;
    int d = ag__dim(t, "log_softmax", x, dim);
    if (d < 0) return NULL;
    ag_tensor *out = ag__new(t, "log_softmax", x->rank, x->shape);
    if (!out) return NULL;
    int outer, inner, D = x->shape[d];
    ag__split(x, d, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            const ag_float *v = x->data + o * D * inner + i;
            ag_float *y = out->data + o * D * inner + i;
            ag_float m = v[0];
            for (int j = 1; j < D; j++)
                if (v[j * inner] > m) m = v[j * inner];
            double s = 0;
            for (int j = 0; j < D; j++) s += exp((double)(v[j * inner] - m));
            ag_float lse = m + (ag_float)log(s);
            for (int j = 0; j < D; j++) y[j * inner] = v[j * inner] - lse;
        }
    int ok;
    ag_node *nd = ag__record(t, AG_OP_LOG_SOFTMAX, out, &x, 1, &ok);
    if (nd) nd->i0 = d;
    return ok ? out : NULL;
}

/* dx_j += g_j - softmax_j * sum_k g_k, with softmax_j = exp(y_j). */
int ag__backward_log_softmax(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag__grad(t, x);
    if (!dx) return 0;
    int outer, inner, D = x->shape[nd->i0];
    ag__split(x, nd->i0, &outer, &inner);
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            int base = o * D * inner + i;
            const ag_float *y = nd->out->data + base, *g = nd->out->grad + base;
            double gs = 0;
            for (int j = 0; j < D; j++) gs += g[j * inner];
            for (int j = 0; j < D; j++)
                dx[base + j * inner] += g[j * inner] - (ag_float)exp(y[j * inner]) * (ag_float)gs;
        }
    return 1;
}

/* ---- nll_loss ----
 * logp: (N, C), targets: N ints -> () = -sum_n logp[n, t_n] (/ N for mean). */

ag_tensor *ag_nll_loss(ag_tape *t, ag_tensor *logp, const int *targets, ag_reduction red)
{
    if (!ag__inputs(t, "nll_loss", &logp, 1)) return NULL;
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
    ag_tensor *out = ag__new(t, "nll_loss", 0, NULL);
    if (!out) return NULL;
    double s = 0;
    for (int n = 0; n < N; n++) s -= logp->data[n * C + targets[n]];
    out->data[0] = (ag_float)(red == AG_MEAN ? s / N : s);
    int ok;
    ag_node *nd = ag__record(t, AG_OP_NLL_LOSS, out, &logp, 1, &ok);
    if (nd) {
        if (!(nd->saved = ag__save_ints(t, targets, N))) return NULL;
        nd->i0 = red;
    }
    return ok ? out : NULL;
}

/* dlogp[n, t_n] -= g (/ N for mean); every other element gets nothing. */
int ag__backward_nll_loss(ag_tape *t, ag_node *nd)
{
    ag_tensor *lp = nd->in[0];
    ag_float *dlp = ag__grad(t, lp);
    if (!dlp) return 0;
    const int *tg = nd->saved;
    int N = lp->shape[0], C = lp->shape[1];
    ag_float g = nd->out->grad[0];
    if (nd->i0 == AG_MEAN) g /= (ag_float)N;
    for (int n = 0; n < N; n++) dlp[n * C + tg[n]] -= g;
    return 1;
}
