/* nn_train.c -- what training loops share beside the optimizer: copies of a model for
 * threads (values one way, gradients the other), the scan for a value that is not
 * finite, the check before an update (that scan and clipping's factor in one pass),
 * and learning-rate schedules. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

/* The same number of parameters, each of the same shape, in the same order. */
static nn_status same_layout(const nn_params *a, const nn_params *b, const char *fn, char *err, size_t errlen)
{
    if (a->n != b->n) {
        if (err && errlen) snprintf(err, errlen, "%s: %d parameters against %d", fn, a->n, b->n);
        return NN_EMISMATCH;
    }
    for (int k = 0; k < a->n; k++)
        if (!ag_same_shape(a->p[k], b->p[k])) {
            char sa[64], sb[64];
            if (err && errlen)
                snprintf(err, errlen, "%s: parameter %d ('%s') is %s in one and %s in the other", fn, k,
                         a->p[k]->name, ag_shape_str(a->p[k], sa, sizeof sa), ag_shape_str(b->p[k], sb, sizeof sb));
            return NN_EMISMATCH;
        }
    return NN_OK;
}

nn_status nn_params_copy_data(nn_params *to, const nn_params *from, char *err, size_t errlen)
{
    nn_status s = same_layout(to, from, "nn_params_copy_data", err, errlen);
    for (int k = 0; s == NN_OK && k < from->n; k++)
        memcpy(to->p[k]->data, from->p[k]->data, (size_t)from->p[k]->size * sizeof(ag_float));
    return s;
}

NN_CLONES nn_status nn_params_add_grads(nn_params *to, const nn_params *from, char *err, size_t errlen)
{
    nn_status s = same_layout(to, from, "nn_params_add_grads", err, errlen);
    for (int k = 0; s == NN_OK && k < to->n; k++) {
        ag_float *g = to->p[k]->grad;
        const ag_float *h = from->p[k]->grad;
        for (int j = 0; j < to->p[k]->size; j++) g[j] += h[j];
    }
    return s;
}

NN_CLONES const char *nn_params_first_nonfinite(const nn_params *ps, int grads)
{
    for (int i = 0; i < ps->n; i++) {
        const ag_float *v = grads ? ps->p[i]->grad : ps->p[i]->data;
        /* v - v is 0 for a finite value and NaN otherwise; 64 independent sums vectorise
         * into four chains, so the adds overlap instead of waiting on each other */
        int n = ps->p[i]->size, n64 = n - n % 64;
        ag_float z[64] = {0};
        for (int k = 0; k < n64; k += 64)
            for (int l = 0; l < 64; l++) z[l] += v[k + l] - v[k + l];
        for (int k = n64; k < n; k++) z[0] += v[k] - v[k];
        for (int l = 0; l < 64; l++)
            if (z[l] != 0) return ps->p[i]->name;
    }
    return NULL;
}

/* The norm decides the factor, and nn_clip_grad_norm adds the squares one after another
 * in double: a chain of dependent adds, four cycles each. Here they are added in 32
 * lanes, which vectorise and overlap. Both are sums of the same n non-negative terms,
 * each within (n-1) 2^-53 of their exact sum (relative, to first order), so within
 * (n-1) 2^-52 of each other: the serial sum lies in [sq - err, sq + err] with err =
 * (n+2) 2^-50 sq (four times that bound, so the rounding of err itself and the
 * first-order terms fit in it), plus 2^-1000 for what rounds below DBL_MIN (double
 * builds). The factor never increases with the sum, so if it is the same at both ends
 * it is the serial sum's. If not (the norm within about n 2^-53 of max_norm, or of
 * where the factor rounds to the next float: about one clipped step in 2^26 / n), the
 * serial sum is taken after all: nn_clip_grad_norm with max_norm = inf, which scales
 * nothing. A sum that is not finite means a NaN or an infinity (a float squared cannot
 * overflow a double), which the exact scan names; in double builds squares can
 * overflow, and then too the serial sum decides. */
NN_CLONES const char *nn_params_check_grads(const nn_params *ps, double max_norm, ag_float *scale)
{
    *scale = 1;
    if (!(max_norm > 0) || isinf(max_norm)) return nn_params_first_nonfinite(ps, 1);
    double z[32] = {0}, sq = 0;
    long n = 0;
    for (int i = 0; i < ps->n; i++) {
        const ag_float *g = ps->p[i]->grad;
        int m = ps->p[i]->size, m32 = m - m % 32;
        for (int k = 0; k < m32; k += 32)
            for (int l = 0; l < 32; l++) z[l] += (double)g[k + l] * g[k + l];
        for (int k = m32; k < m; k++) z[0] += (double)g[k] * g[k];
        n += m;
    }
    for (int l = 0; l < 32; l++) sq += z[l];
    if (!isfinite(sq)) {
        const char *bad = nn_params_first_nonfinite(ps, 1);
        if (bad) return bad;
    } else if ((double)n < 0x1p40) { /* (past 2^40 values the first-order bound is not enough) */
        double err = sq * (double)(n + 2) * 0x1p-50 + 0x1p-1000;
        ag_float at_hi = nn__clip_factor(sqrt(sq + err), max_norm);
        ag_float at_lo = nn__clip_factor(sqrt(sq > err ? sq - err : 0), max_norm);
        if (at_hi == at_lo) {
            *scale = at_hi;
            return NULL;
        }
    }
    /* (ps is not changed: an infinite bound scales nothing) */
    *scale = nn__clip_factor(nn_clip_grad_norm((nn_params *)ps, INFINITY), max_norm);
    return NULL;
}

/* ---- learning-rate schedules ---- */

static const double PI = 3.14159265358979323846;

nn_status nn_schedule_check(const nn_schedule *s, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!(s->base_lr >= 0) || !isfinite(s->base_lr)) why = "base_lr must be finite and >= 0";
    else if (s->warmup < 0) why = "warmup must be >= 0";
    else if (s->warmup > 0 && !(s->warmup_start >= 0 && s->warmup_start <= 1)) why = "warmup_start must be in [0, 1]";
    else if (s->kind == NN_SCHED_STEP && (s->step_size < 1 || !(s->gamma > 0) || !isfinite(s->gamma)))
        why = "a step schedule needs step_size >= 1 and a finite gamma > 0";
    else if (s->kind == NN_SCHED_COSINE && (s->total < 1 || !(s->min_lr >= 0) || !isfinite(s->min_lr)))
        why = "a cosine schedule needs total >= 1 and a finite min_lr >= 0";
    else if (s->kind != NN_SCHED_CONSTANT && s->kind != NN_SCHED_STEP && s->kind != NN_SCHED_COSINE)
        why = "unknown kind";
    if (why && err && errlen) snprintf(err, errlen, "nn_schedule: %s", why);
    return why ? NN_EARG : NN_OK;
}

double nn_schedule_lr(const nn_schedule *s, long step)
{
    double lr = s->base_lr;
    if (step < 0) step = 0;
    switch (s->kind) {
    case NN_SCHED_STEP:
        lr = s->base_lr * pow(s->gamma, (double)(step / s->step_size));
        break;
    case NN_SCHED_COSINE: {
        long t = step < s->total ? step : s->total;
        lr = s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1 + cos(PI * (double)t / (double)s->total));
        break;
    }
    case NN_SCHED_CONSTANT:
        break;
    }
    if (step < s->warmup) /* linear from warmup_start * lr at step 0 to lr at step warmup */
        lr *= s->warmup_start + (1 - s->warmup_start) * (double)step / (double)s->warmup;
    return lr;
}
