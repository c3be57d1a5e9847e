/* nn_optim.c -- SGD (momentum, weight decay) and Adam, as torch.optim defines them. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

static nn_status init(nn_optim *o, nn_params *ps, nn_optim_kind kind, long state_len)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->params = ps;
    o->state_len = state_len;
    if (state_len > 0) {
        o->state = ag_alloc((size_t)state_len * sizeof(ag_float));
        if (!o->state) return NN_ENOMEM;
        memset(o->state, 0, (size_t)state_len * sizeof(ag_float));
    }
    return NN_OK;
}

nn_status nn_sgd_init(nn_optim *o, nn_params *ps, double lr, double momentum, double weight_decay)
{
    if (!(lr > 0) || momentum < 0 || weight_decay < 0) return NN_EARG;
    nn_status s = init(o, ps, NN_SGD, momentum != 0 ? nn_params_numel(ps) : 0);
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    return s;
}

nn_status nn_adam_init(nn_optim *o, nn_params *ps, double lr, double beta1, double beta2, double eps,
                       double weight_decay)
{
    if (!(lr > 0) || beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || !(eps > 0) || weight_decay < 0)
        return NN_EARG;
    nn_status s = init(o, ps, NN_ADAM, 2 * nn_params_numel(ps));
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return s;
}

#ifdef AG_DOUBLE
#define SQRT sqrt
#else
#define SQRT sqrtf
#endif

/* In ag_float arithmetic, as torch.optim does in float32, with one loop per case so the
 * common ones (plain SGD above all) vectorise. */
NN_CLONES void nn_optim_step(nn_optim *o)
{
    nn_params *ps = o->params;
    long numel = nn_params_numel(ps), at = 0;
    o->step++;
    const ag_float lr = (ag_float)o->lr, wd = (ag_float)o->weight_decay, mom = (ag_float)o->momentum;
    /* Adam's bias corrections for this step */
    const ag_float c1 = (ag_float)(1 - pow(o->beta1, (double)o->step)), c2 = (ag_float)(1 - pow(o->beta2, (double)o->step));
    const ag_float b1 = (ag_float)o->beta1, b2 = (ag_float)o->beta2, eps = (ag_float)o->eps;
    const ag_float one_b1 = (ag_float)(1 - o->beta1), one_b2 = (ag_float)(1 - o->beta2); /* exact before rounding */
    for (int i = 0; i < ps->n; i++) {
        ag_float *p = ps->p[i]->data;
        const ag_float *g = ps->p[i]->grad;
        int n = ps->p[i]->size;
        if (o->kind == NN_SGD && mom == 0 && wd == 0) { /* p -= lr g */
            for (int k = 0; k < n; k++) p[k] -= lr * g[k];
        } else if (o->kind == NN_SGD) { /* d = g + wd p; buf = mom buf + d (buf starts at 0); p -= lr buf */
            ag_float *buf = o->state + at;
            for (int k = 0; k < n; k++) {
                ag_float d = g[k] + wd * p[k];
                if (mom != 0) d = buf[k] = mom * buf[k] + d;
                p[k] -= lr * d;
            }
        } else { /* Adam */
            ag_float *m = o->state + at, *v = o->state + numel + at;
            for (int k = 0; k < n; k++) {
                ag_float d = g[k] + wd * p[k];
                m[k] = b1 * m[k] + one_b1 * d;
                v[k] = b2 * v[k] + one_b2 * d * d;
                p[k] -= lr * (m[k] / c1) / (SQRT(v[k] / c2) + eps);
            }
        }
        at += n;
    }
}

void nn_optim_free(nn_optim *o)
{
    if (!o) return;
    ag_free(o->state);
    o->state = NULL;
    o->state_len = 0;
}
