/* names_model.h -- the name classifiers of rnn_names, built from nn/ modules:
 *   tutorial: the tutorial's RNN (nn_tutorial_rnn), output read at each name's last letter;
 *   elman, gru, lstm: nn_rnn over the letters, then Linear(hidden, classes) and
 *          log_softmax on each name's last hidden state. */
#ifndef NAMES_MODEL_H
#define NAMES_MODEL_H

#include "names_data.h"
#include "nn.h"

typedef enum { NAMES_TUTORIAL, NAMES_ELMAN, NAMES_GRU, NAMES_LSTM } names_kind;

#define NAMES_MAX_LAYERS 4

typedef struct {
    names_kind kind;
    int hidden, layers, n_classes;
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    nn_params ps;    /* owns every parameter */
    nn_tutorial_rnn tutorial;
    nn_rnn rnn[NAMES_MAX_LAYERS]; /* elman, gru, lstm: a stack of `layers` */
    int bidirectional;             /* a second stack reads each name from its end */
    int pool_mean;                 /* the classifier also reads the mean of the top layer's
                                      states over each name's letters */
    nn_rnn rev[NAMES_MAX_LAYERS];
    nn_linear head;
    double prior_shift[NAMES_MAX_CLASSES]; /* added to each language's log-probability when
                                      predicting (not in training), then renormalised:
                                      puts back the proportions of languages that training
                                      on distinct names changed (names_distinct); all 0
                                      for a model trained on every line */
    double dropout;   /* training only: dropout between layers and before the head */
    ag_rng *drop_rng; /* NULL: no dropout (evaluation) */
} names_model;

const char *names_kind_name(names_kind k);
int names_kind_parse(const char *s, names_kind *k); /* 0 ok, -1 unknown */

/* Flags of names_model_init (elman, gru, lstm only). NAMES_BIDIRECTIONAL adds a second
 * stack ("rnn_reverse.") that reads each name from its last letter to its first; the
 * classifier reads both final states. NAMES_POOL_MEAN makes the classifier also read,
 * for each stack, the mean of its top layer's states over the name's letters. */
enum { NAMES_BIDIRECTIONAL = 1, NAMES_POOL_MEAN = 2 };

/* Builds a freshly initialised model (layers > 1 and flags only for elman, gru, lstm).
 * 0 on success, -1 (out of memory or bad size). */
int names_model_init(names_model *m, names_kind kind, int hidden, int layers, int flags, int n_classes,
                     const char (*classes)[NAMES_MAX_CLASS_NAME], ag_rng *rng);
/* The same, writing the cause of a failure into err[errlen] (a bad size, or nn/'s
 * message: which parameter, and why). */
int names_model_build(names_model *m, names_kind kind, int hidden, int layers, int flags, int n_classes,
                      const char (*classes)[NAMES_MAX_CLASS_NAME], ag_rng *rng, char *err, size_t errlen);
void names_model_free(names_model *m);

/* items[0..N-1] -> (N, classes) log-probabilities; NULL with the tape's error set. */
ag_tensor *names_model_forward(ag_tape *t, names_model *m, const names_item *const *items, int N);

/* Prediction from one row of names_model_forward's output: out[c] = logp[c] +
 * prior_shift[c], renormalised so that their exps sum to 1. */
void names_model_predict_row(const names_model *m, const ag_float *logp, double *out);

/* The meta text a checkpoint needs to rebuild the model (model, hidden, layers,
 * bidirectional, pool, letters, classes, and prior_shift when it is not all 0),
 * snprintf-style: writes at most n bytes and returns the length the whole text needs,
 * so that a caller can size its buffer and nothing is ever cut. */
size_t names_model_meta(const names_model *m, char *buf, size_t n);

/* Rebuilds a model from a checkpoint's meta text: the model's settings checked as their
 * flags are (names_settings_from_meta), the alphabet, the class list, prior_shift.
 * 0, or -1 with err naming the key. */
int names_model_from_meta(names_model *m, const char *meta, char *err, size_t errlen);

/* The checkpoint's class list ("classes=a,b,c"): 2 to NAMES_MAX_CLASSES names, each
 * one names_class_check accepts. 0, or -1 with err naming the key and the language. */
int names_classes_from_meta(const char *meta, char (*classes)[NAMES_MAX_CLASS_NAME], int *n, char *err,
                            size_t errlen);

/* 0 when the checkpoint's `letters` are this program's alphabet, or -1 with err. */
int names_letters_check(const char *meta, char *err, size_t errlen);

#endif
