/* nn_optim.c -- SGD (momentum, weight decay) and Adam, as torch.optim defines them. */
#include <math.h>
#include <string.h>

#include "nn.h"

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

void nn_optim_step(nn_optim *o)
{
    nn_params *ps = o->params;
    long numel = nn_params_numel(ps), at = 0;
    o->step++;
    /* Adam's bias corrections for this step */
    double c1 = 1 - pow(o->beta1, (double)o->step), c2 = 1 - pow(o->beta2, (double)o->step);
    for (int i = 0; i < ps->n; i++) {
        ag_tensor *p = ps->p[i];
        for (int k = 0; k < p->size; k++, at++) {
            double g = p->grad[k] + o->weight_decay * p->data[k];
            if (o->kind == NN_SGD) {
                /* buf = momentum * buf + g (buf starts at 0, so the first buf is g); p -= lr buf */
                if (o->momentum != 0) g = o->state[at] = (ag_float)(o->momentum * o->state[at] + g);
                p->data[k] -= (ag_float)(o->lr * g);
            } else {
                ag_float *m = o->state + at, *v = o->state + numel + at;
                *m = (ag_float)(o->beta1 * *m + (1 - o->beta1) * g);
                *v = (ag_float)(o->beta2 * *v + (1 - o->beta2) * g * g);
                double mhat = *m / c1, vhat = *v / c2;
                p->data[k] -= (ag_float)(o->lr * mhat / (sqrt(vhat) + o->eps));
            }
        }
    }
}

void nn_optim_free(nn_optim *o)
{
    if (!o) return;
    ag_free(o->state);
    o->state = NULL;
    o->state_len = 0;
}
