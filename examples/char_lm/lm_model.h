/* lm_model.h -- char_lm's model, built from nn/ modules: the characters one-hot, a stack
 * of `layers` recurrent layers (torch.nn.RNN / GRU / LSTM layout: "rnn.weight_ih_l0",
 * ...), and a Linear head ("head.") from the top layer's state to a logit per character:
 *
 *     x_t = one_hot(char_t)                          (N, V)
 *     h_t^l = cell^l(h_t^(l-1), h_(t-1)^l)           (N, H), h_t^0 = x_t
 *     logits_t = head(h_t^L)                         (N, V)
 *
 * The recurrent state (h, and an LSTM's c) lives in caller-owned buffers (lm_state)
 * between chunks of truncated BPTT: each chunk starts from them as constants, and
 * lm_state_keep fills them from the chunk's last step with ag_detach_into. */
#ifndef LM_MODEL_H
#define LM_MODEL_H

#include <stddef.h>

#include "nn.h"

#define LM_MAX_LAYERS 4

typedef struct {
    nn_rnn_kind kind;
    int vocab, hidden, layers;
    nn_params ps; /* owns every parameter */
    nn_rnn rnn[LM_MAX_LAYERS];
    nn_linear head;
} lm_model;

/* A fresh model, initialised as torch.nn does. 0, or -1 with err (bad size, nn/'s
 * message). */
int lm_model_build(lm_model *m, nn_rnn_kind kind, int vocab, int hidden, int layers, ag_rng *rng, char *err,
                   size_t errlen);
void lm_model_free(lm_model *m);

/* The state carried across chunks: h[l] (and c[l] for an LSTM), each (N, H), caller-
 * owned buffers (ag_buffer_new), zeros at first. */
typedef struct {
    int batch, n;                   /* n = layers, or 2 layers for an LSTM */
    ag_tensor *buf[2 * LM_MAX_LAYERS]; /* h_0..h_{L-1}, then c_0..c_{L-1} for an LSTM */
} lm_state;

int lm_state_new(lm_state *s, const lm_model *m, int batch); /* 0, or -1: out of memory */
void lm_state_free(lm_state *s);
void lm_state_zero(lm_state *s);

/* A chunk of T steps of N streams: idx[t * N + n] is stream n's character at step t.
 * Starts from the buffers of s and returns the logits (T * N, V), row t * N + n; out[]
 * (s->n entries) receives the tape tensors of the state after the last step, for
 * lm_state_keep. NULL with the tape's error set. */
ag_tensor *lm_forward(ag_tape *t, const lm_model *m, const lm_state *s, const int *idx, int T, int N,
                      ag_tensor **out);

/* The buffers := out (ag_detach_into): the next chunk starts there. AG_OK or the error. */
ag_status lm_state_keep(ag_tape *t, lm_state *s, ag_tensor **out);

#endif
