/* nn_optim.c -- SGD (momentum, weight decay), Adam, Adagrad, RMSprop and AdamW, as
 * torch.optim defines them (the update alone, or with clipping's factor and zero_grad in
 * the same pass), and the gradient value clip. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

int nn_optim_buffers(const nn_optim *o)
{
    switch (o->kind) {
    case NN_SGD: return o->momentum != 0;
    case NN_ADAM: return 2;
    case NN_ADAGRAD: return 1;
    case NN_RMSPROP: return 1 + (o->momentum != 0) + (o->centered != 0);
    case NN_ADAMW: return 2;
    }
    return 0;
}

const char *nn_optim_buffer_name(const nn_optim *o, int k)
{
    if (k < 0 || k >= nn_optim_buffers(o)) return NULL;
    switch (o->kind) {
    case NN_SGD: return "sgd.momentum.";
    case NN_ADAM: return k ? "adam.v." : "adam.m.";
    case NN_ADAGRAD: return "adagrad.sum.";
    case NN_RMSPROP: /* square_avg, then momentum_buffer (if any), then grad_avg (if any) */
        if (k == 0) return "rmsprop.sq.";
        return k == 1 && o->momentum != 0 ? "rmsprop.buf." : "rmsprop.avg.";
    case NN_ADAMW: return k ? "adamw.v." : "adamw.m.";
    }
    return NULL;
}

const char *nn_optim_kind_name(nn_optim_kind k)
{
    static const char *names[] = {"sgd", "adam", "adagrad", "rmsprop", "adamw"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static nn_status fail(nn_optim *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static nn_status fail(nn_optim *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
    return NN_EARG;
}

/* o's settings are in place: allocate its buffers (zeros). */
static nn_status init(nn_optim *o, nn_params *ps)
{
    o->params = ps;
    o->step = 0;
    o->state = NULL;
    o->state_len = nn_optim_buffers(o) * nn_params_numel(ps);
    if (o->state_len > 0) {
        o->state = ag_alloc((size_t)o->state_len * sizeof(ag_float));
        if (!o->state) {
            snprintf(o->error, sizeof o->error, "%s: out of memory for %ld state values", nn_optim_kind_name(o->kind),
                     o->state_len);
            o->state_len = 0;
            return NN_ENOMEM;
        }
        memset(o->state, 0, (size_t)o->state_len * sizeof(ag_float));
    }
    return NN_OK;
}

nn_status nn_sgd_init(nn_optim *o, nn_params *ps, double lr, double momentum, double weight_decay)
{
    memset(o, 0, sizeof *o);
    if (!(lr > 0)) return fail(o, "sgd: lr = %g must be > 0", lr);
    if (!(momentum >= 0)) return fail(o, "sgd: momentum = %g must be >= 0", momentum);
    if (!(weight_decay >= 0)) return fail(o, "sgd: weight_decay = %g must be >= 0", weight_decay);
    o->kind = NN_SGD;
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    return init(o, ps);
}

static nn_status adam_args(nn_optim *o, const char *who, double lr, double beta1, double beta2, double eps,
                           double weight_decay)
{
    if (!(lr > 0)) return fail(o, "%s: lr = %g must be > 0", who, lr);
    if (!(beta1 >= 0 && beta1 < 1)) return fail(o, "%s: beta1 = %g must be in [0, 1)", who, beta1);
    if (!(beta2 >= 0 && beta2 < 1)) return fail(o, "%s: beta2 = %g must be in [0, 1)", who, beta2);
    if (!(eps > 0)) return fail(o, "%s: eps = %g must be > 0", who, eps);
    if (!(weight_decay >= 0)) return fail(o, "%s: weight_decay = %g must be >= 0", who, weight_decay);
    return NN_OK;
}

/* Adam and AdamW take the same settings; they differ in how the step uses weight_decay. */
static nn_status adam_like_init(nn_optim *o, nn_params *ps, nn_optim_kind kind, double lr, double beta1,
                                double beta2, double eps, double weight_decay)
{
    o->kind = kind;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return init(o, ps);
}

nn_status nn_adam_init(nn_optim *o, nn_params *ps, double lr, double beta1, double beta2, double eps,
                       double weight_decay)
{
    memset(o, 0, sizeof *o);
    if (adam_args(o, "adam", lr, beta1, beta2, eps, weight_decay) != NN_OK) return NN_EARG;
    return adam_like_init(o, ps, NN_ADAM, lr, beta1, beta2, eps, weight_decay);
}

nn_status nn_adamw_init(nn_optim *o, nn_params *ps, double lr, double beta1, double beta2, double eps,
                        double weight_decay)
{
    memset(o, 0, sizeof *o);
    if (adam_args(o, "adamw", lr, beta1, beta2, eps, weight_decay) != NN_OK) return NN_EARG;
    if (!(lr * weight_decay <= 1))
        return fail(o, "adamw: lr * weight_decay = %g must be <= 1 (each step scales p by 1 - lr wd)", lr * weight_decay);
    return adam_like_init(o, ps, NN_ADAMW, lr, beta1, beta2, eps, weight_decay);
}

nn_status nn_adagrad_init(nn_optim *o, nn_params *ps, double lr, double lr_decay, double weight_decay,
                          double initial_accumulator_value, double eps)
{
    memset(o, 0, sizeof *o);
    if (!(lr > 0)) return fail(o, "adagrad: lr = %g must be > 0", lr);
    if (!(lr_decay >= 0) || !isfinite(lr_decay)) return fail(o, "adagrad: lr_decay = %g must be >= 0", lr_decay);
    if (!(weight_decay >= 0)) return fail(o, "adagrad: weight_decay = %g must be >= 0", weight_decay);
    if (!(initial_accumulator_value >= 0) || !isfinite(initial_accumulator_value))
        return fail(o, "adagrad: initial_accumulator_value = %g must be >= 0", initial_accumulator_value);
    if (!(eps >= 0)) return fail(o, "adagrad: eps = %g must be >= 0", eps);
    o->kind = NN_ADAGRAD;
    o->lr = lr;
    o->lr_decay = lr_decay;
    o->weight_decay = weight_decay;
    o->initial_accumulator_value = initial_accumulator_value;
    o->eps = eps;
    nn_status s = init(o, ps);
    for (long i = 0; i < o->state_len; i++) o->state[i] = (ag_float)initial_accumulator_value;
    return s;
}

nn_status nn_rmsprop_init(nn_optim *o, nn_params *ps, double lr, double alpha, double eps, double weight_decay,
                          double momentum, int centered)
{
    memset(o, 0, sizeof *o);
    if (!(lr > 0)) return fail(o, "rmsprop: lr = %g must be > 0", lr);
    if (!(alpha >= 0 && alpha < 1)) return fail(o, "rmsprop: alpha = %g must be in [0, 1)", alpha);
    if (!(eps >= 0)) return fail(o, "rmsprop: eps = %g must be >= 0", eps);
    if (!(weight_decay >= 0)) return fail(o, "rmsprop: weight_decay = %g must be >= 0", weight_decay);
    if (!(momentum >= 0)) return fail(o, "rmsprop: momentum = %g must be >= 0", momentum);
    if (centered != 0 && centered != 1) return fail(o, "rmsprop: centered = %d must be 0 or 1", centered);
    o->kind = NN_RMSPROP;
    o->lr = lr;
    o->alpha = alpha;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->momentum = momentum;
    o->centered = centered;
    return init(o, ps);
}

#ifdef AG_DOUBLE
#define SQRT sqrt
#else
#define SQRT sqrtf
#endif

/* The update loops are inlined into each public step (and so into each of its clones,
 * NN_CLONES), where zero and, for nn_optim_step, the scale are constants. */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* Every update below reads the gradient through read_grad(), once per value: g[k] times
 * the step's scale s, rounded to ag_float on its own (exactly what nn_clip_grad_norm
 * leaves in place; s = 1 gives g[k] itself), and with zero = 1 it sets g[k] to 0 once
 * read, so the update and nn_params_zero_grad are one pass. */
INLINE ag_float read_grad(ag_float *g, int k, ag_float s, int zero)
{
    ag_float d = g[k] * s;
    if (zero) g[k] = 0;
    return d;
}

/* Adagrad, RMSprop and AdamW on one parameter's n values, each in torch.optim's
 * operation order (its _single_tensor_ functions, torch 1.13), in ag_float. `st` is the
 * first buffer at this parameter; buffer k is st + k * numel. */
INLINE void adagrad(const nn_optim *o, ag_float *p, ag_float *g, int n, ag_float s, int zero, ag_float *sum)
{
    /* clr = lr / (1 + (step - 1) lr_decay), in double as torch's Python does */
    const ag_float wd = (ag_float)o->weight_decay, eps = (ag_float)o->eps;
    const ag_float nclr = (ag_float)-(o->lr / (1 + (double)(o->step - 1) * o->lr_decay));
    for (int k = 0; k < n; k++) {
        ag_float gk = read_grad(g, k, s, zero);
        ag_float d = wd != 0 ? gk + wd * p[k] : gk;   /* grad.add(param, alpha=wd) */
        sum[k] = sum[k] + d * d;                       /* state_sum.addcmul_(grad, grad, value=1) */
        ag_float std = SQRT(sum[k]) + eps;             /* state_sum.sqrt().add_(eps) */
        p[k] = p[k] + nclr * d / std;                  /* param.addcdiv_(grad, std, value=-clr) */
    }
}

INLINE void rmsprop(const nn_optim *o, ag_float *p, ag_float *g, int n, ag_float s, int zero, ag_float *st,
                    long numel)
{
    const ag_float wd = (ag_float)o->weight_decay, eps = (ag_float)o->eps, a = (ag_float)o->alpha;
    const ag_float one_a = (ag_float)(1 - o->alpha), mom = (ag_float)o->momentum, nlr = (ag_float)-o->lr;
    ag_float *sq = st, *buf = o->momentum != 0 ? st + numel : NULL;
    ag_float *avg = o->centered ? st + numel * (buf ? 2 : 1) : NULL;
    for (int k = 0; k < n; k++) {
        ag_float gk = read_grad(g, k, s, zero);
        ag_float d = wd != 0 ? gk + wd * p[k] : gk;
        sq[k] = sq[k] * a + one_a * d * d; /* square_avg.mul_(alpha).addcmul_(grad, grad, value=1-alpha) */
        ag_float den;
        if (avg) {
            avg[k] = avg[k] * a + one_a * d;       /* grad_avg.mul_(alpha).add_(grad, alpha=1-alpha) */
            den = SQRT(sq[k] + -1 * avg[k] * avg[k]); /* square_avg.addcmul(ga, ga, value=-1).sqrt_() */
        } else {
            den = SQRT(sq[k]);
        }
        den = den + eps;
        if (buf) {
            buf[k] = buf[k] * mom + d / den; /* buf.mul_(momentum).addcdiv_(grad, avg) */
            p[k] = p[k] + nlr * buf[k];      /* param.add_(buf, alpha=-lr) */
        } else {
            p[k] = p[k] + nlr * d / den;     /* param.addcdiv_(grad, avg, value=-lr) */
        }
    }
}

INLINE void adamw(const nn_optim *o, ag_float *p, ag_float *g, int n, ag_float s, int zero, ag_float *m,
                  ag_float *v)
{
    const ag_float decay = (ag_float)(1 - o->lr * o->weight_decay);
    const ag_float b1 = (ag_float)o->beta1, b2 = (ag_float)o->beta2, eps = (ag_float)o->eps;
    const ag_float one_b1 = (ag_float)(1 - o->beta1), one_b2 = (ag_float)(1 - o->beta2);
    const double c1 = 1 - pow(o->beta1, (double)o->step), c2 = 1 - pow(o->beta2, (double)o->step);
    const ag_float nstep = (ag_float)-(o->lr / c1), c2s = (ag_float)sqrt(c2);
    for (int k = 0; k < n; k++) {
        ag_float gk = read_grad(g, k, s, zero);
        p[k] = p[k] * decay;                         /* param.mul_(1 - lr * weight_decay) */
        m[k] = m[k] * b1 + one_b1 * gk;              /* exp_avg.mul_(beta1).add_(grad, alpha=1-beta1) */
        v[k] = v[k] * b2 + one_b2 * gk * gk;         /* exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1-beta2) */
        ag_float den = SQRT(v[k]) / c2s + eps;       /* (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps) */
        p[k] = p[k] + nstep * m[k] / den;            /* param.addcdiv_(exp_avg, denom, value=-lr/bc1) */
    }
}

/* Step o->step's update of the values [lo, hi) of the parameters laid end to end, from
 * the gradients times s, zeroing them as they are read when zero is 1. In ag_float
 * arithmetic, as torch.optim does in float32, with one loop per case so the common ones
 * (plain SGD above all) vectorise. Each value's update reads only its own gradient and
 * state, so any split of [0, numel) gives the same values. */
INLINE void step_span(nn_optim *o, ag_float s, int zero, long lo, long hi)
{
    nn_params *ps = o->params;
    long numel = nn_params_numel(ps), at = 0;
    const ag_float lr = (ag_float)o->lr, wd = (ag_float)o->weight_decay, mom = (ag_float)o->momentum;
    /* Adam's bias corrections for this step */
    const ag_float c1 = (ag_float)(1 - pow(o->beta1, (double)o->step)), c2 = (ag_float)(1 - pow(o->beta2, (double)o->step));
    const ag_float b1 = (ag_float)o->beta1, b2 = (ag_float)o->beta2, eps = (ag_float)o->eps;
    const ag_float one_b1 = (ag_float)(1 - o->beta1), one_b2 = (ag_float)(1 - o->beta2); /* exact before rounding */
    for (int i = 0; i < ps->n; at += ps->p[i]->size, i++) {
        int k0, k1;
        if (!nn__part_span(at, ps->p[i]->size, lo, hi, &k0, &k1)) continue;
        ag_float *p = ps->p[i]->data + k0, *g = ps->p[i]->grad + k0, *st = o->state + at + k0;
        int n = k1 - k0;
        if (o->kind == NN_SGD && mom == 0 && wd == 0) { /* p -= lr g */
            for (int k = 0; k < n; k++) p[k] -= lr * read_grad(g, k, s, zero);
        } else if (o->kind == NN_SGD) { /* d = g + wd p; buf = mom buf + d (buf starts at 0); p -= lr buf */
            ag_float *buf = st;
            for (int k = 0; k < n; k++) {
                ag_float d = read_grad(g, k, s, zero) + wd * p[k];
                if (mom != 0) d = buf[k] = mom * buf[k] + d;
                p[k] -= lr * d;
            }
        } else if (o->kind == NN_ADAM) {
            ag_float *m = st, *v = st + numel;
            for (int k = 0; k < n; k++) {
                ag_float d = read_grad(g, k, s, zero) + wd * p[k];
                m[k] = b1 * m[k] + one_b1 * d;
                v[k] = b2 * v[k] + one_b2 * d * d;
                p[k] -= lr * (m[k] / c1) / (SQRT(v[k] / c2) + eps);
            }
        } else if (o->kind == NN_ADAGRAD) {
            adagrad(o, p, g, n, s, zero, st);
        } else if (o->kind == NN_RMSPROP) {
            rmsprop(o, p, g, n, s, zero, st, numel);
        } else if (o->kind == NN_ADAMW) {
            adamw(o, p, g, n, s, zero, st, st + numel);
        }
    }
}

NN_CLONES void nn_optim_step(nn_optim *o)
{
    nn_optim_begin_step(o);
    step_span(o, 1, 0, 0, nn_params_numel(o->params));
}

NN_CLONES void nn_optim_step_zero(nn_optim *o, ag_float grad_scale)
{
    nn_optim_begin_step(o);
    step_span(o, grad_scale, 1, 0, nn_params_numel(o->params));
}

void nn_optim_begin_step(nn_optim *o)
{
    o->step++;
}

NN_CLONES nn_status nn_optim_step_zero_part(nn_optim *o, ag_float grad_scale, int part, int parts)
{
    if (!nn__part_ok(part, parts)) return NN_EARG;
    long n = nn_params_numel(o->params);
    step_span(o, grad_scale, 1, nn__part_at(n, part, parts), nn__part_at(n, part + 1, parts));
    return NN_OK;
}

void nn_optim_free(nn_optim *o)
{
    if (!o) return;
    ag_free(o->state);
    o->state = NULL;
    o->state_len = 0;
}

nn_status nn_clip_grad_value(nn_params *ps, double clip)
{
    if (!(clip >= 0)) return NN_EARG;
    const ag_float c = (ag_float)clip;
    for (int i = 0; i < ps->n; i++) {
        ag_float *g = ps->p[i]->grad;
        for (int k = 0; k < ps->p[i]->size; k++) g[k] = g[k] < -c ? -c : g[k] > c ? c : g[k];
    }
    return NN_OK;
}
