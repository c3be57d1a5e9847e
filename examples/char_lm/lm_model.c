/* lm_model.c -- the recurrent stack and its head over chunks of text. */
#include <stdio.h>
#include <string.h>

#include "lm_model.h"

int lm_model_build(lm_model *m, nn_rnn_kind kind, int vocab, int hidden, int layers, ag_rng *rng, char *err,
                   size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (vocab < 2 || hidden < 1 || hidden > 4096 || layers < 1 || layers > LM_MAX_LAYERS ||
        (kind != NN_ELMAN && kind != NN_GRU && kind != NN_LSTM)) {
        snprintf(err, errlen, "bad sizes: vocab=%d (at least 2), hidden=%d (1 to 4096), layers=%d (1 to %d)", vocab,
                 hidden, layers, LM_MAX_LAYERS);
        return -1;
    }
    m->kind = kind;
    m->vocab = vocab;
    m->hidden = hidden;
    m->layers = layers;
    nn_params_init(&m->ps);
    nn_status s = NN_OK;
    for (int l = 0; l < layers && s == NN_OK; l++)
        s = nn_rnn_init_layer(&m->rnn[l], &m->ps, kind, "rnn.", l, l ? hidden : vocab, hidden, rng);
    if (s == NN_OK) s = nn_linear_init(&m->head, &m->ps, "head.", hidden, vocab, 1, rng);
    if (s != NN_OK) {
        snprintf(err, errlen, "%s", nn_params_error(&m->ps));
        nn_params_free(&m->ps);
        return -1;
    }
    return 0;
}

void lm_model_free(lm_model *m)
{
    nn_params_free(&m->ps);
}

int lm_state_new(lm_state *s, const lm_model *m, int batch)
{
    memset(s, 0, sizeof *s);
    s->batch = batch;
    s->n = m->layers * (m->kind == NN_LSTM ? 2 : 1);
    for (int i = 0; i < s->n; i++) {
        char name[16];
        snprintf(name, sizeof name, "%c_l%d", i < m->layers ? 'h' : 'c', i % m->layers);
        if (!(s->buf[i] = ag_buffer_new(2, (int[]){batch, m->hidden}, name))) {
            lm_state_free(s);
            return -1;
        }
    }
    return 0;
}

void lm_state_free(lm_state *s)
{
    for (int i = 0; i < s->n; i++) ag_buffer_free(s->buf[i]);
    memset(s, 0, sizeof *s);
}

void lm_state_zero(lm_state *s)
{
    for (int i = 0; i < s->n; i++) ag_fill(s->buf[i], 0);
}

/* One LSTM layer over x (T, N, I) from h0, c0 (N, H), written out step by step because
 * nn_rnn_forward starts every cell state at zero and truncated BPTT carries it.
 * torch's gate order i, f, g, o:  c' = f * c + i * g,  h' = o * tanh(c').
 * -> every step's h (T, N, H); *h_out, *c_out: the last step's. */
static ag_tensor *lstm_layer(ag_tape *t, const nn_rnn *r, ag_tensor *x, ag_tensor *h, ag_tensor *c,
                             ag_tensor **h_out, ag_tensor **c_out)
{
    if (!x) return NULL;
    int T = x->shape[0], N = x->shape[1], H = r->hidden;
    /* the input's share of every gate for all steps at once: (T * N, 4H) */
    ag_tensor *xg = ag_linear(t, ag_reshape(t, x, 2, (int[]){T * N, x->shape[2]}), r->weight_ih, r->bias_ih);
    ag_tensor **hs = ag_tape_alloc(t, (size_t)T * sizeof *hs);
    if (!hs) return NULL;
    for (int s = 0; s < T; s++) {
        ag_tensor *g = ag_add(t, ag_slice(t, xg, 0, s * N, (s + 1) * N),
                              ag_linear(t, h, r->weight_hh, r->bias_hh)); /* (N, 4H) */
        ag_tensor *i = ag_sigmoid(t, ag_slice(t, g, 1, 0, H));
        ag_tensor *f = ag_sigmoid(t, ag_slice(t, g, 1, H, 2 * H));
        ag_tensor *gg = ag_tanh(t, ag_slice(t, g, 1, 2 * H, 3 * H));
        ag_tensor *o = ag_sigmoid(t, ag_slice(t, g, 1, 3 * H, 4 * H));
        c = ag_add(t, ag_mul(t, f, c), ag_mul(t, i, gg));
        h = hs[s] = ag_mul(t, o, ag_tanh(t, c));
    }
    *h_out = h;
    *c_out = c;
    return ag_stack(t, hs, T, 0);
}

ag_tensor *lm_forward(ag_tape *t, const lm_model *m, const lm_state *s, const int *idx, int T, int N,
                      ag_tensor **out)
{
    ag_tensor *x = ag_reshape(t, ag_one_hot(t, idx, T * N, m->vocab), 3, (int[]){T, N, m->vocab}); /* (T, N, V) */
    for (int l = 0; l < m->layers; l++) {
        ag_tensor *all = NULL;
        if (m->kind == NN_LSTM)
            all = lstm_layer(t, &m->rnn[l], x, s->buf[l], s->buf[m->layers + l], &out[l], &out[m->layers + l]);
        else
            out[l] = nn_rnn_forward(t, &m->rnn[l], x, NULL, s->buf[l], &all);
        x = all; /* (T, N, H) */
    }
    if (!x) return NULL;
    return nn_linear_forward(t, &m->head, ag_reshape(t, x, 2, (int[]){T * N, m->hidden})); /* (T * N, V) */
}

ag_status lm_state_keep(ag_tape *t, lm_state *s, ag_tensor **out)
{
    for (int i = 0; i < s->n; i++) {
        ag_status st = ag_detach_into(t, s->buf[i], out[i]);
        if (st != AG_OK) return st;
    }
    return AG_OK;
}
