/* nn_linear.c -- Linear and the tutorial's RNN, which is two Linears over cat(x, h). */
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

/* ---- the tutorial's RNN ---- */

nn_status nn_seed_rnn_init(nn_seed_rnn *m, nn_params *ps, const char *prefix, int input, int hidden,
                           int output, ag_rng *rng)
{
    if (input < 1 || hidden < 1 || output < 1)
        return nn__params_fail(ps, NN_EARG, "seed_rnn '%s': input = %d, hidden = %d and output = %d must be >= 1",
                               prefix ? prefix : "", input, hidden, output);
    int n0 = ps->n;
    nn_status s = nn__linear_init(&m->i2h, ps, prefix, "i2h.", input + hidden, hidden, 1, rng);
    if (s == NN_OK) s = nn__linear_init(&m->i2o, ps, prefix, "i2o.", input + hidden, output, 1, rng);
    if (s != NN_OK) {
        nn_params_truncate(ps, n0);
        return s;
    }
    m->input = input;
    m->hidden = hidden;
    m->output = output;
    return NN_OK;
}

ag_tensor *nn_seed_rnn_init_hidden(ag_tape *t, const nn_seed_rnn *m, int N)
{
    return ag_zeros(t, 2, (int[]){N, m->hidden});
}

ag_tensor *nn_seed_rnn_step(ag_tape *t, const nn_seed_rnn *m, ag_tensor *x, ag_tensor *h, ag_tensor **h_next,
                            int out_needed)
{
    ag_tensor *xs[2] = {x, h};
    ag_tensor *combined = ag_cat(t, xs, 2, 1);              /* (N, I + H) */
    *h_next = nn_linear_forward(t, &m->i2h, combined);       /* (N, H) */
    if (!out_needed) return NULL;
    return ag_log_softmax(t, nn_linear_forward(t, &m->i2o, combined), 1); /* (N, O) */
}

/* A padded batch without wasted work. The sequences are put in order of decreasing
 * length (ties in input order), so at step s the ones still running are the first
 * live[s] rows: the step runs on those rows only, the output layer only on the rows
 * whose sequence ends at s, and the outputs go back to input order at the end. Every
 * row's values are those of its sequence run alone (the kernels give a row the same
 * result whatever rows surround it). */
static ag_tensor *seed_forward_packed(ag_tape *t, const nn_seed_rnn *m, ag_tensor *x, const int *lengths)
{
    int T = x->shape[0], N = x->shape[1];
    nn__packing pk;
    ag_tensor **pieces = ag_tape_alloc(t, (size_t)T * sizeof *pieces);
    if (!pieces || nn__pack(t, lengths, T, N, &pk) != 0) return NULL;
    ag_tensor *flat = ag_reshape(t, x, 2, (int[]){T * N, m->input}); /* (T*N, I) */
    ag_tensor *h = nn_seed_rnn_init_hidden(t, m, N);                 /* (live, H), sorted */
    int np = 0;
    for (int s = 0; s < T && h && flat; s++) {
        char label[32];
        snprintf(label, sizeof label, "step %d", s);
        ag_tape_group(t, label);
        int n = pk.live[s], ending = n - pk.live[s + 1];
        ag_tensor *xs[2] = {ag_index_select(t, flat, 0, pk.rows + pk.off[s], n), h->shape[0] > n ? ag_slice(t, h, 0, 0, n) : h};
        ag_tensor *combined = ag_cat(t, xs, 2, 1);                 /* (n, I + H) */
        h = nn_linear_forward(t, &m->i2h, combined);                /* (n, H) */
        if (ending > 0) /* rows [live[s+1], live[s]) end here: (ending, O) */
            pieces[np++] = ag_log_softmax(t, nn_linear_forward(t, &m->i2o, ag_slice(t, combined, 0, n - ending, n)), 1);
    }
    ag_tape_group(t, NULL);
    if (!h || !flat) return NULL;
    for (int i = 0; i < np / 2; i++) { /* latest step first: sorted rows 0, 1, ... */
        ag_tensor *tmp = pieces[i];
        pieces[i] = pieces[np - 1 - i];
        pieces[np - 1 - i] = tmp;
    }
    ag_tensor *sorted = np == 1 ? pieces[0] : ag_cat(t, pieces, np, 0); /* (N, O) */
    return ag_index_select(t, sorted, 0, pk.back, N);
}

ag_tensor *nn_seed_rnn_forward(ag_tape *t, const nn_seed_rnn *m, ag_tensor *x, const int *lengths)
{
    if (!x) return ag_tape_fail(t, AG_EARG, "seed_rnn: input is NULL");
    if (x->rank != 3 || x->shape[2] != m->input) {
        char buf[64];
        return ag_tape_fail(t, AG_ESHAPE, "seed_rnn: input is %s but must be (T, N, %d)",
                            ag_shape_str(x, buf, sizeof buf), m->input);
    }
    int T = x->shape[0], N = x->shape[1];
    for (int n = 0; lengths && n < N; n++)
        if (lengths[n] < 1 || lengths[n] > T)
            return ag_tape_fail(t, AG_EINDEX, "seed_rnn: length %d of sequence %d is outside 1..%d", lengths[n], n, T);
    if (lengths) return seed_forward_packed(t, m, x, lengths);
    /* every sequence ends at T - 1: only the last output matters */
    ag_tensor *h = nn_seed_rnn_init_hidden(t, m, N), *out = NULL;
    for (int s = 0; s < T; s++) {
        ag_tensor *h_new;
        char label[32];
        snprintf(label, sizeof label, "step %d", s);
        ag_tape_group(t, label); /* graph dumps draw each step as a cluster */
        ag_tensor *o = nn_seed_rnn_step(t, m, ag_select(t, x, 0, s), h, &h_new, s == T - 1);
        h = h_new;
        if (o) out = o;
    }
    ag_tape_group(t, NULL);
    return out;
}
