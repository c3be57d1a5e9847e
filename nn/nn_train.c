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

/* to's gradients += from's over the values [lo, hi) laid end to end (from's set to 0 as
 * read when zero_from); the layouts match. */
static inline void add_span(nn_params *to, nn_params *from, int zero_from, long lo, long hi)
{
    long at = 0;
    for (int i = 0; i < to->n; at += to->p[i]->size, i++) {
        int k0, k1;
        if (!nn__part_span(at, to->p[i]->size, lo, hi, &k0, &k1)) continue;
        ag_float *g = to->p[i]->grad, *h = from->p[i]->grad;
        if (zero_from)
            for (int j = k0; j < k1; j++) {
                g[j] += h[j];
                h[j] = 0;
            }
        else
            for (int j = k0; j < k1; j++) g[j] += h[j];
    }
}

NN_CLONES nn_status nn_params_add_grads(nn_params *to, const nn_params *from, char *err, size_t errlen)
{
    nn_status s = same_layout(to, from, "nn_params_add_grads", err, errlen);
    if (s == NN_OK) add_span(to, (nn_params *)from, 0, 0, nn_params_numel(to)); /* (from is only read) */
    return s;
}

NN_CLONES nn_status nn_params_add_grads_part(nn_params *to, nn_params *from, int zero_from, int part, int parts,
                                             char *err, size_t errlen)
{
    nn_status s = same_layout(to, from, "nn_params_add_grads_part", err, errlen);
    if (s == NN_OK && !nn__part_ok(part, parts)) {
        if (err && errlen) snprintf(err, errlen, "nn_params_add_grads_part: part %d of %d", part, parts);
        s = NN_EARG;
    }
    long n = nn_params_numel(to);
    if (s == NN_OK) add_span(to, from, zero_from, nn__part_at(n, part, parts), nn__part_at(n, part + 1, parts));
    return s;
}

/* w[l] += v - v over v[0 .. n) in 64 lanes: v - v is 0 for a finite value and NaN
 * otherwise; 64 independent sums vectorise into four chains, so the adds overlap
 * instead of waiting on each other. */
static inline void nonfinite_lanes(const ag_float *v, int n, ag_float *w)
{
    int n64 = n - n % 64;
    for (int k = 0; k < n64; k += 64)
        for (int l = 0; l < 64; l++) w[l] += v[k + l] - v[k + l];
    for (int k = n64; k < n; k++) w[0] += v[k] - v[k];
}

static int any_nonzero(const ag_float *w)
{
    int bad = 0;
    for (int l = 0; l < 64; l++) bad |= w[l] != 0;
    return bad;
}

NN_CLONES const char *nn_params_first_nonfinite(const nn_params *ps, int grads)
{
    for (int i = 0; i < ps->n; i++) {
        ag_float w[64] = {0};
        nonfinite_lanes(grads ? ps->p[i]->grad : ps->p[i]->data, ps->p[i]->size, w);
        if (any_nonzero(w)) return ps->p[i]->name;
    }
    return NULL;
}

/* The norm decides the factor, and nn_clip_grad_norm adds the squares one after another
 * in double: a chain of dependent adds, four cycles each. Here they are added in 32
 * lanes, which vectorise and overlap (and with parts, each part's lanes, then the parts
 * in order). Both are sums of the same n non-negative terms, and any order of adding
 * them is within (n-1) 2^-53 of their exact sum (relative, to first order), so within
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
static int clipping(double max_norm)
{
    return max_norm > 0 && !isinf(max_norm);
}

NN_CLONES nn_status nn_params_grad_part(const nn_params *ps, double max_norm, int part, int parts, nn_grad_part *out)
{
    memset(out, 0, sizeof *out);
    if (!nn__part_ok(part, parts)) return NN_EARG;
    long N = nn_params_numel(ps), lo = nn__part_at(N, part, parts), hi = nn__part_at(N, part + 1, parts), at = 0;
    out->n = hi - lo;
    out->clipping = clipping(max_norm);
    double z[32] = {0};   /* clipping: the squares, in 32 lanes */
    ag_float w[64] = {0}; /* not: v - v, in 64 lanes (nonfinite_lanes) */
    for (int i = 0; i < ps->n; at += ps->p[i]->size, i++) {
        int k0, k1;
        if (!nn__part_span(at, ps->p[i]->size, lo, hi, &k0, &k1)) continue;
        const ag_float *g = ps->p[i]->grad + k0;
        int m = k1 - k0;
        if (out->clipping) {
            int m32 = m - m % 32;
            for (int k = 0; k < m32; k += 32)
                for (int l = 0; l < 32; l++) z[l] += (double)g[k + l] * g[k + l];
            for (int k = m32; k < m; k++) z[0] += (double)g[k] * g[k];
        } else {
            nonfinite_lanes(g, m, w);
        }
    }
    for (int l = 0; l < 32; l++) out->sq += z[l];
    out->nonfinite = any_nonzero(w);
    return NN_OK;
}

/* The verdict from one whole pass's reading: the sum of squares of n values (clipping),
 * or whether one is not finite (not clipping). */
static const char *check(const nn_params *ps, double max_norm, double sq, long count, int nonfinite,
                         ag_float *scale)
{
    *scale = 1;
    if (!clipping(max_norm)) return nonfinite ? nn_params_first_nonfinite(ps, 1) : NULL;
    if (!isfinite(sq)) {
        const char *bad = nn_params_first_nonfinite(ps, 1);
        if (bad) return bad;
    } else if ((double)count < 0x1p40) { /* (past 2^40 values the first-order bound is not enough) */
        double err = sq * (double)(count + 2) * 0x1p-50 + 0x1p-1000;
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

const char *nn_params_check_parts(const nn_params *ps, double max_norm, const nn_grad_part *parts, int n,
                                  ag_float *scale)
{
    double sq = 0;
    long count = 0;
    int nonfinite = 0, same_mode = n >= 1;
    for (int i = 0; i < n; i++) { /* in part order */
        sq += parts[i].sq;
        count += parts[i].n;
        nonfinite |= parts[i].nonfinite;
        same_mode &= parts[i].clipping == clipping(max_norm);
    }
    if (count != nn_params_numel(ps) || !same_mode) /* not the readings of one whole pass: read it again */
        return nn_params_check_grads(ps, max_norm, scale);
    return check(ps, max_norm, sq, count, nonfinite, scale);
}

const char *nn_params_check_grads(const nn_params *ps, double max_norm, ag_float *scale)
{
    nn_grad_part all;
    nn_params_grad_part(ps, max_norm, 0, 1, &all);
    return check(ps, max_norm, all.sq, all.n, all.nonfinite, scale);
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
