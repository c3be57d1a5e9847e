/* names_train.h -- training, evaluation and prediction for rnn_names. */
#ifndef NAMES_TRAIN_H
#define NAMES_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "names_model.h"

/* Where a run is: everything besides the parameters and the optimizer that a resumed run
 * needs to continue exactly as if it had never stopped. */
typedef struct {
    long names_seen, steps;
    ag_rng rng;              /* draws names (tutorial sampling) or shuffles (epochs) */
    ag_rng drop;             /* dropout masks */
    ag_rng noise;            /* letter noise (letter_noise) */
    ag_rng epoch_rng;        /* rng as it was when the current epoch was shuffled */
    long pos;                /* next index into the current epoch's order (epochs) */
} names_train_state;

/* Several processes training one model (MPI: cmd_train.c fills this from nn_dist.h, whose
 * functions have these types, so this library needs no MPI). Every process runs the same
 * loop on the same data and draws the same batches; the batch is cut into `threads`
 * slices for the whole run and this process trains slices [rank*threads/ranks,
 * (rank+1)*threads/ranks) on as many threads. sum_grads adds the slices' gradients in
 * slice order across the processes (nn_dist_sum_grads); first_failed agrees on a
 * failure (nn_dist_check); compare and compare_params name the first process whose
 * bytes differ from rank 0's. */
typedef struct {
    int rank, ranks;
    nn_status (*sum_grads)(nn_params *out, nn_params *const *parts, int n_parts, const double *vals, int n_vals,
                           double *sums);
    int (*first_failed)(int failed, char *msg, size_t msglen);
    int (*compare)(const void *p, size_t n);                 /* nn_dist_compare */
    int (*compare_params)(const nn_params *ps, int grads);   /* nn_dist_compare_params */
} names_dist;

typedef struct {
    int optim;               /* 0 SGD, 1 Adam */
    double lr, momentum, weight_decay, clip; /* clip <= 0: no clipping */
    long iters;              /* names to see, drawn as the tutorial does; 0 when epochs is used */
    int epochs;              /* passes over the shuffled training set; 0 when iters is used */
    int batch;
    int cosine;              /* 1: learning rate follows a cosine from lr down to 0 */
    double dropout;          /* dropout probability (elman, gru, lstm), 0 for none */
    double letter_noise;     /* each letter of a name trained on is replaced, with this
                                probability, by one of the 57 drawn uniformly (0: none);
                                the data set itself is not changed */
    uint64_t seed;
    int threads;             /* > 1: each batch is cut into this many slices, run on as many
                                threads, gradients summed in a fixed order (a seed and a
                                thread count always give the same run); 0 or 1: one thread */
    FILE *progress;          /* progress lines (stderr), or NULL */
    long save_every;         /* call save() each time the names seen pass a multiple of this (0:
                                never), just before the update: the saved parameters are ones
                                that gave a finite loss and gradient */
    int (*save)(void *ud, const names_train_state *st, char *err, size_t errlen); /* 0 ok */
    void *save_ud;
    const names_train_state *resume; /* continue from here (NULL: a fresh run) */
    const names_dist *dist;  /* NULL (or ranks 1): this process alone. Else threads is the
                                run's number of slices, at least ranks; save and progress
                                are set on rank 0 only, and every rank stops together */
} names_train_opts;

typedef struct {
    long names_seen;
    long saved_at;           /* names seen at the last successful save() (-1: none) */
    long steps;
    names_train_state end;   /* the state after the last step, for the final checkpoint */
    double seconds, names_per_s, mean_loss;
    int n_points;            /* the loss curve: mean loss over each stretch of names */
    double *curve_x, *curve_y; /* owned; free with names_train_result_free */
} names_train_result;

/* A fresh run's starting state for a seed. */
void names_train_state_init(names_train_state *st, uint64_t seed);

/* The state as meta text ("state.rng=...\n" ...), snprintf-style (writes at most n
 * bytes, returns the length the whole text needs); and back: 0, or -1 with err naming
 * the key that is missing or malformed. */
size_t names_train_state_meta(const names_train_state *st, char *buf, size_t n);
int names_train_state_parse(names_train_state *st, const char *meta, char *err, size_t errlen);


/* The optimizer o asks for, over m's parameters. 0, or -1 with err set. */
int names_optim_init(nn_optim *opt, names_model *m, const names_train_opts *o, char *err, size_t errlen);

/* Trains m on d->train with opt (from names_optim_init; its state is kept, so it can be
 * saved with the model). Stops at the first step whose loss or any gradient is NaN or
 * infinite, naming the step and the tensor, before that step changes a parameter.
 * 0, or -1 with err set. */
int names_train(names_model *m, nn_optim *opt, const names_data *d, const names_train_opts *o,
                names_train_result *r, char *err, size_t errlen);
void names_train_result_free(names_train_result *r);

typedef struct {
    int n, correct;
    double accuracy, macro; /* macro: mean over languages with test names of their accuracy */
    int C;
    int *confusion;         /* C x C, row = true, column = predicted; owned */
} names_eval;

int names_evaluate(names_model *m, const names_item *items, int n, names_eval *e, char *err, size_t errlen);
void names_eval_free(names_eval *e);

/* The k best languages for one folded name: classes[idx[i]] with log-probability lp[i]. */
int names_predict(names_model *m, const names_item *item, int k, int *idx, double *lp, char *err, size_t errlen);

#endif
