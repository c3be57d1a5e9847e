/* nn_linear.c -- Linear: y = x W^T + b, initialised as torch.nn.Linear. */
#include <math.h>

#include "nn_internal.h"

nn_status nn__linear_init(nn_linear *m, nn_params *ps, const char *a, const char *b, int in, int out, int bias,
                          ag_rng *rng)
{
    if (in < 1 || out < 1)
        return nn__params_fail(ps, NN_EARG, "linear '%s%s': in = %d and out = %d must be >= 1", a ? a : "", b ? b : "",
                               in, out);
    int n0 = ps->n;
    ag_tensor *w = NULL, *bs = NULL;
    nn_status s = nn__params_add3(ps, a, b, "weight", 2, (int[]){out, in}, &w);
    if (s == NN_OK && bias) s = nn__params_add3(ps, a, b, "bias", 1, (int[]){out}, &bs);
    if (s != NN_OK) { /* no weight left without its bias; the registry's error stays */
        nn_params_truncate(ps, n0);
        return s;
    }
    m->in = in;
    m->out = out;
    m->weight = w;
    m->bias = bs;
    double k = 1 / sqrt((double)in); /* torch.nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) */
    ag_fill_uniform(m->weight, rng, -k, k);
    if (m->bias) ag_fill_uniform(m->bias, rng, -k, k);
    return NN_OK;
}

nn_status nn_linear_init(nn_linear *m, nn_params *ps, const char *prefix, int in, int out, int bias,
                         ag_rng *rng)
{
    return nn__linear_init(m, ps, prefix, "", in, out, bias, rng);
}

ag_tensor *nn_linear_forward(ag_tape *t, const nn_linear *m, ag_tensor *x)
{
    return ag_linear(t, x, m->weight, m->bias);
}
