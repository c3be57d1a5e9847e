/* nn.h -- PyTorch-style modules on the autograd API (ag.h).
 *
 * Overview
 * --------
 * A model keeps its parameters in an nn_params registry: a flat list of named leaf
 * tensors ("i2h.weight", "rnn.weight_ih_l0", ...), which it owns and frees together.
 * Modules (nn_linear, nn_tutorial_rnn, nn_rnn) are small structs that point into that
 * registry; their forward functions only call ag_ ops, so every gradient, through
 * time included, comes out of the tape. Nothing here writes a backward pass.
 *
 *     nn_params ps;
 *     nn_params_init(&ps);
 *     ag_rng rng;
 *     ag_rng_seed(&rng, 1);
 *     nn_tutorial_rnn rnn;
 *     if (nn_tutorial_rnn_init(&rnn, &ps, "", 57, 128, 18, &rng) != NN_OK) ...;
 *     nn_optim opt;
 *     nn_sgd_init(&opt, &ps, 0.005, 0, 0);
 *     // per name:  ag_tape_reset(tape); nn_params_zero_grad(&ps);
 *     //            h = nn_tutorial_rnn_init_hidden(tape, &rnn, 1);
 *     //            for each letter: out = nn_tutorial_rnn_step(tape, &rnn, x_t, h, &h);
 *     //            ag_backward(tape, ag_nll_loss(tape, out, &target, AG_MEAN));
 *     //            nn_optim_step(&opt);
 *     nn_optim_free(&opt);
 *     nn_params_free(&ps);
 *
 * Errors: functions that can fail return an nn_status and, where they take one, write
 * a message naming the file, offset, tensor or argument into err[errlen]. Functions
 * that register parameters keep their message in the registry (nn_params_error).
 * Forward functions report through the tape, like every ag_ op.
 *
 * Linking: the nn library (CMake target autograd_c::nn, pkg-config autograd_c), which
 * brings the autograd library (ag.h) with it.
 */
#ifndef NN_H
#define NN_H

#include <stddef.h>

#include "ag.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NN_OK = 0,
    NN_EARG,      /* a bad argument (a size < 1, an unknown kind, ...) */
    NN_ENOMEM,    /* the allocator returned NULL */
    NN_EIO,       /* a file could not be opened, read, written or renamed */
    NN_EFORMAT,   /* a file is not a valid checkpoint (magic, version, truncated, checksum) */
    NN_EMISMATCH, /* a valid checkpoint that does not fit the model (names, shapes) */
    NN_EDUP,      /* a parameter of that full name is already registered */
    NN_ENAME,     /* a parameter name that is NULL, empty or too long (NN_NAME_MAX) */
    NN_ESHAPE     /* a parameter shape out of range (rank 0..AG_MAX_RANK, dims >= 1, size < 2^31) */
} nn_status;

const char *nn_status_name(nn_status s);

/* ---- parameter registry ---------------------------------------------------------
 * A growable list of named parameters (its array comes from ag_alloc, so the allocator
 * hook counts it and can make it fail). There is no limit on how many it holds. A full
 * name (prefix + name) may be up to NN_NAME_MAX bytes: the checkpoint format stores a
 * name's length in 16 bits, and an optimizer's state records add a prefix of up to 13
 * bytes ("sgd.momentum."), so every registered parameter can be saved.
 *
 * Every call that registers parameters (nn_params_new, nn_params_add and the module
 * inits: nn_linear_init, nn_tutorial_rnn_init, nn_rnn_init, nn_rnn_init_layer,
 * nn_embedding_init, nn_layernorm_init) leaves its
 * outcome in the registry: nn_params_status() and nn_params_error() give the status
 * and a message naming the parameter and the cause, e.g.
 *     nn_params: 'fc.weight' is already registered
 * (NN_OK and "" after a success). A module init that fails leaves the registry holding
 * exactly the parameters it held before the call. */

#define NN_NAME_MAX 65522 /* bytes in a full parameter name, without the NUL */

typedef struct {
    ag_tensor **p;    /* owned: p[0..n-1]; p[i]->name is the full dotted name */
    int n;            /* parameters registered */
    int cap;          /* room in p before it must grow */
    nn_status status; /* outcome of the last registering call */
    char error[256];  /* its message, "" for NN_OK (a long name is cut short here) */
} nn_params;

/* An empty registry; allocates nothing. */
void nn_params_init(nn_params *ps);

/* A new zeroed parameter named `prefix` + `name` (prefix may be NULL), owned by ps.
 * NULL on failure; nn_params_status(ps) then says why: NN_EDUP (the name is taken),
 * NN_ENAME (NULL, empty or longer than NN_NAME_MAX), NN_ESHAPE (rank or a dim out of
 * range), NN_ENOMEM; nn_params_error(ps) names the parameter. */
ag_tensor *nn_params_new(nn_params *ps, const char *prefix, const char *name, int rank,
                         const int *shape);

/* The same, returning the status; *out (may be NULL) is set to the parameter, or NULL
 * on failure. */
nn_status nn_params_add(nn_params *ps, const char *prefix, const char *name, int rank,
                        const int *shape, ag_tensor **out);

/* Outcome of the last registering call on ps: its status, and a message that names the
 * parameter and what was wrong ("" for NN_OK). The message is owned by ps. */
nn_status nn_params_status(const nn_params *ps);
const char *nn_params_error(const nn_params *ps);

/* Frees the parameters registered after the first n (0 <= n <= ps->n), newest first:
 * undoes the registrations made since ps->n was n. For module inits of your own that
 * register several parameters: on failure, truncate back to the count at entry. */
void nn_params_truncate(nn_params *ps, int n);

/* The parameter with this full name, or NULL. */
ag_tensor *nn_params_get(const nn_params *ps, const char *name);

long nn_params_numel(const nn_params *ps);  /* total number of values */
void nn_params_zero_grad(nn_params *ps);
void nn_params_free(nn_params *ps);         /* frees every parameter and the list; ps is
                                               empty and reusable after; NULL ok */

/* Scales every gradient so that their joint L2 norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
double nn_clip_grad_norm(nn_params *ps, double max_norm);

/* Clamps every gradient value into [-clip, clip] (as torch.nn.utils.clip_grad_value_).
 * NN_EARG for clip < 0 or NaN (nothing is changed). */
nn_status nn_clip_grad_value(nn_params *ps, double clip);

/* ---- Linear -------------------------------------------------------------------------- */

typedef struct {
    ag_tensor *weight; /* (out, in) */
    ag_tensor *bias;   /* (out), or NULL */
    int in, out;
} nn_linear;

/* Registers `prefix`weight and `prefix`bias in ps, initialised as torch.nn.Linear does:
 * uniform in +-1/sqrt(in). */
nn_status nn_linear_init(nn_linear *m, nn_params *ps, const char *prefix, int in, int out,
                         int bias, ag_rng *rng);

/* x: (N, in) -> (N, out) */
ag_tensor *nn_linear_forward(ag_tape *t, const nn_linear *m, ag_tensor *x);

/* ---- Elman RNN, GRU, LSTM (torch.nn layout, one layer) -------------------------------------
 * Parameters `prefix`weight_ih_l0 (G*H, I), weight_hh_l0 (G*H, H), bias_ih_l0 (G*H),
 * bias_hh_l0 (G*H), with G = 1 (Elman), 3 (GRU: r, z, n) or 4 (LSTM: i, f, g, o),
 * initialised uniform in +-1/sqrt(H) as torch.nn does.
 *   Elman: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 *   GRU:   r = sigmoid(.), z = sigmoid(.), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
 *          h' = (1 - z) * n + z * h
 *   LSTM:  c' = f * c + i * g,  h' = o * tanh(c') */

typedef enum { NN_ELMAN = 0, NN_GRU = 1, NN_LSTM = 2 } nn_rnn_kind;

typedef struct {
    nn_rnn_kind kind;
    int input, hidden, gates;
    ag_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
} nn_rnn;

nn_status nn_rnn_init(nn_rnn *m, nn_params *ps, nn_rnn_kind kind, const char *prefix, int input,
                      int hidden, ag_rng *rng);

/* The same for layer k of a stack (names end in _l<k>, as torch.nn's num_layers > 1):
 * feed layer k-1's every-step output (`all` of nn_rnn_forward) to layer k. */
nn_status nn_rnn_init_layer(nn_rnn *m, nn_params *ps, nn_rnn_kind kind, const char *prefix, int layer,
                            int input, int hidden, ag_rng *rng);

/* x: (T, N, I); lengths: N values in 1..T or NULL (all T); h0: (N, H) or NULL (zeros;
 * an LSTM's cell state always starts at zero). Returns (N, H): each sequence's hidden
 * state after its own last step. If all != NULL, *all is set to (T, N, H), every
 * step's state (a finished sequence repeats its last state). Each step's nodes are
 * filed under ag_tape_group "gru step t" (elman, lstm likewise). With lengths, no
 * work is spent on padding: the sequences are taken longest first, the input
 * projection runs once over the live (step, sequence) pairs and each step over the
 * sequences still running; results come back in input order. */
ag_tensor *nn_rnn_forward(ag_tape *t, const nn_rnn *m, ag_tensor *x, const int *lengths,
                          ag_tensor *h0, ag_tensor **all);

const char *nn_rnn_kind_name(nn_rnn_kind k); /* "elman", "gru", "lstm" */

/* Masks for padded batches: (N, 1) with 1 where step t is inside sequence n
 * (t < lengths[n]) or, for nn_mask_last, where t is its last step. */
ag_tensor *nn_mask_live(ag_tape *t, const int *lengths, int N, int step);
ag_tensor *nn_mask_last(ag_tape *t, const int *lengths, int N, int step);

/* mask * a + (1 - mask) * b with mask (N, 1) of 0/1: exact, a where 1 and b where 0. */
ag_tensor *nn_where(ag_tape *t, ag_tensor *mask, ag_tensor *a, ag_tensor *b);

/* Inverted dropout for training: each element of x is zeroed with probability p and the
 * rest are scaled by 1 / (1 - p), from rng. The mask is a constant, so the gradient
 * flows through the kept elements only. p == 0 returns x itself; p outside [0, 1) is
 * an error on the tape. */
ag_tensor *nn_dropout(ag_tape *t, ag_tensor *x, double p, ag_rng *rng);

/* ---- the tutorial's RNN -----------------------------------------------------------------
 * The RNN of the PyTorch tutorial "Classifying names with a character-level RNN":
 * combined = cat(input, hidden) on dim 1; hidden' = i2h(combined);
 * output = log_softmax(i2o(combined)), exactly as the tutorial writes it. (Called
 * nn_seed_rnn before version 0.2.) */

typedef struct {
    nn_linear i2h, i2o;
    int input, hidden, output;
} nn_tutorial_rnn;

/* Parameters `prefix`i2h.weight, i2h.bias, i2o.weight, i2o.bias. */
nn_status nn_tutorial_rnn_init(nn_tutorial_rnn *m, nn_params *ps, const char *prefix, int input,
                               int hidden, int output, ag_rng *rng);

/* zeros (N, hidden) */
ag_tensor *nn_tutorial_rnn_init_hidden(ag_tape *t, const nn_tutorial_rnn *m, int N);

/* One step. x: (N, input), h: (N, hidden) -> returns output (N, output) log-probs and
 * sets *h_next to (N, hidden). With out_needed == 0 the output is not computed (it
 * would be discarded) and NULL is returned with *h_next still set. */
ag_tensor *nn_tutorial_rnn_step(ag_tape *t, const nn_tutorial_rnn *m, ag_tensor *x, ag_tensor *h,
                                ag_tensor **h_next, int out_needed);

/* A padded batch. x: (T, N, input); lengths: N values in 1..T, or NULL for all T.
 * Sequence n's hidden state stops changing after its step lengths[n]-1, and its output
 * is the one computed at that step. Returns (N, output) log-probs. Each step's nodes are
 * filed under ag_tape_group "step t" (graph dumps draw them as clusters).
 * With lengths, no work is spent on padding: the sequences are taken longest first
 * (ag_index_select), each step runs on the rows still running and the output layer on
 * the rows that end at that step; the result is back in input order. */
ag_tensor *nn_tutorial_rnn_forward(ag_tape *t, const nn_tutorial_rnn *m, ag_tensor *x, const int *lengths);

/* ---- Embedding, LayerNorm ------------------------------------------------------------ */

typedef struct {
    ag_tensor *weight; /* (num, dim) */
    int num, dim;
    int padding_idx;   /* a row in [0, num) that gets no gradient, or -1 for none */
} nn_embedding;

/* Registers `prefix`weight (num, dim), initialised N(0, 1) as torch.nn.Embedding, with
 * row padding_idx (0..num-1, or -1 for none) set to zeros as torch does. Unlike torch,
 * a padding_idx below -1 is NN_EARG, not counted from the end. */
nn_status nn_embedding_init(nn_embedding *m, nn_params *ps, const char *prefix, int num, int dim,
                            int padding_idx, ag_rng *rng);

/* idx: indices of any shape (rank 0..AG_MAX_RANK-1, shape[] of `rank` dims), each in
 * [0, num) -> (shape..., dim), rows of weight (ag_embedding: repeated indices add
 * their gradients; padding_idx's row gets none). idx is copied. */
ag_tensor *nn_embedding_forward(ag_tape *t, const nn_embedding *m, int rank, const int *shape,
                                const int *idx);

typedef struct {
    ag_tensor *weight, *bias; /* normalized shape, or both NULL without elementwise_affine */
    int rank, shape[AG_MAX_RANK]; /* the normalized shape: the last `rank` dims of x */
    double eps;
} nn_layernorm;

/* torch.nn.LayerNorm(shape, eps, elementwise_affine): normalises over the last `rank`
 * (1..AG_MAX_RANK) dims; `prefix`weight (ones) and `prefix`bias (zeros) of that shape
 * when elementwise_affine. eps > 0 (torch's default 1e-5). */
nn_status nn_layernorm_init(nn_layernorm *m, nn_params *ps, const char *prefix, int rank, const int *shape,
                            double eps, int elementwise_affine);

/* x: (..., shape) -> the same shape: (x - mean) / sqrt(var + eps) * weight + bias, the
 * mean and the biased variance taken over the normalized dims of each row. Built from
 * ag_ ops (mean_dim, sub, mul, sqrt, div). */
ag_tensor *nn_layernorm_forward(ag_tape *t, const nn_layernorm *m, ag_tensor *x);

/* ---- optimizers ------------------------------------------------------------------------ */

typedef enum { NN_SGD = 0, NN_ADAM = 1, NN_ADAGRAD = 2, NN_RMSPROP = 3, NN_ADAMW = 4 } nn_optim_kind;

typedef struct {
    nn_optim_kind kind;
    double lr, momentum, weight_decay, beta1, beta2, eps;
    long step;          /* steps taken */
    nn_params *params;  /* not owned */
    ag_float *state;    /* owned: nn_optim_buffers() buffers of nn_params_numel() values each */
    long state_len;     /* values in state */
    double lr_decay, initial_accumulator_value; /* Adagrad */
    double alpha;       /* RMSprop's smoothing constant */
    int centered;       /* RMSprop: normalise by the variance (1) or the second moment (0) */
    char error[192];    /* why the init failed, naming the optimizer and the value; "" if not */
} nn_optim;

/* torch.optim.SGD (dampening 0, no Nesterov). State only when momentum != 0. */
nn_status nn_sgd_init(nn_optim *o, nn_params *ps, double lr, double momentum, double weight_decay);

/* torch.optim.Adam (L2 weight decay added to the gradient, no amsgrad). */
nn_status nn_adam_init(nn_optim *o, nn_params *ps, double lr, double beta1, double beta2, double eps,
                       double weight_decay);

/* torch.optim.Adagrad: lr > 0, lr_decay >= 0, weight_decay >= 0,
 * initial_accumulator_value >= 0, eps >= 0 (torch's defaults 0.01, 0, 0, 0, 1e-10). */
nn_status nn_adagrad_init(nn_optim *o, nn_params *ps, double lr, double lr_decay, double weight_decay,
                          double initial_accumulator_value, double eps);

/* torch.optim.RMSprop: lr > 0, alpha in [0, 1), eps >= 0, weight_decay >= 0, momentum
 * >= 0, centered 0/1 (torch's defaults 0.01, 0.99, 1e-8, 0, 0, 0). State: square_avg,
 * then a momentum buffer when momentum != 0, then grad_avg when centered. */
nn_status nn_rmsprop_init(nn_optim *o, nn_params *ps, double lr, double alpha, double eps, double weight_decay,
                          double momentum, int centered);

/* torch.optim.AdamW (decoupled weight decay: p *= 1 - lr wd before the Adam step; no
 * amsgrad): torch's defaults 1e-3, 0.9, 0.999, 1e-8, 1e-2. */
nn_status nn_adamw_init(nn_optim *o, nn_params *ps, double lr, double beta1, double beta2, double eps,
                        double weight_decay);

/* Every init returns NN_EARG for a value out of range, NN_ENOMEM when the state cannot
 * be allocated, with o->error saying which, e.g. "rmsprop: alpha = 1 must be in [0, 1)";
 * *o is then safe to pass to nn_optim_free. */

/* The state buffers of o: how many (each nn_params_numel values, buffer k at o->state +
 * k * numel), and buffer k's record prefix in checkpoints, at most 13 bytes
 * ("sgd.momentum.", "adam.m.", "adam.v.", "adagrad.sum.", "rmsprop.sq." (torch's
 * square_avg), "rmsprop.buf." (momentum_buffer), "rmsprop.avg." (grad_avg), "adamw.m.",
 * "adamw.v."); NULL for k out of range. */
int nn_optim_buffers(const nn_optim *o);
const char *nn_optim_buffer_name(const nn_optim *o, int k);

/* "sgd", "adam", "adagrad", "rmsprop", "adamw"; "?" for anything else. */
const char *nn_optim_kind_name(nn_optim_kind k);

void nn_optim_step(nn_optim *o); /* one update from the parameters' current gradients */
void nn_optim_free(nn_optim *o); /* NULL or a zeroed struct is fine */

/* nn_optim_step on the gradients times grad_scale (each product rounded to ag_float, as
 * nn_clip_grad_norm leaves them; 1: the gradients as they are), setting every gradient
 * to 0 right after reading it. The parameters, state and gradients of
 * nn_clip_grad_norm (when grad_scale is its factor, from nn_params_check_grads), then
 * nn_optim_step, then nn_params_zero_grad, bit for bit, in one pass over the values
 * instead of three. For loops that zero the gradients before the next backward anyway:
 * zero them once before the first. nn_optim_step keeps them. */
void nn_optim_step_zero(nn_optim *o, ag_float grad_scale);

/* ---- training helpers -------------------------------------------------------------------
 * For loops that run copies of one model (threads, processes): two registries of the
 * same model hold the same parameters in the same order. Both return NN_OK, or
 * NN_EMISMATCH with a message when the counts or a shape differ (nothing is changed). */

/* to's values := from's. */
nn_status nn_params_copy_data(nn_params *to, const nn_params *from, char *err, size_t errlen);

/* to's gradients += from's, element for element (a fixed order: the same inputs always
 * give the same sums). */
nn_status nn_params_add_grads(nn_params *to, const nn_params *from, char *err, size_t errlen);

/* The name of the first parameter holding a NaN or an infinity in its values (grads =
 * 0) or its gradient (grads = 1), or NULL when all are finite. One pass, vectorised. */
const char *nn_params_first_nonfinite(const nn_params *ps, int grads);

/* The check before an update, and clipping's factor, changing nothing: the name of the
 * first parameter whose gradient holds a NaN or an infinity (the one
 * nn_params_first_nonfinite names), with *scale = 1; or NULL, with *scale = the factor
 * nn_clip_grad_norm(ps, max_norm) would multiply every gradient by (1 when their norm is
 * at most max_norm). max_norm <= 0 or infinite: no clipping, *scale = 1. One vectorised
 * pass: the squares are added in parallel lanes, and only when that sum cannot settle
 * the factor (the norm within about n 2^-53 of max_norm, or of where the factor rounds
 * to the next float: about one clipped step in 2^26 / n, for n values) is
 * nn_clip_grad_norm's own serial sum taken as well. So a training step that read every
 * gradient four or five times:
 *     bad = nn_params_first_nonfinite(&ps, 1);   // stop if bad: nothing changed yet
 *     nn_clip_grad_norm(&ps, clip);              // when clip > 0
 *     nn_optim_step(&opt);
 *     nn_params_zero_grad(&ps);
 * reads them twice, with the same results bit for bit:
 *     ag_float scale;
 *     bad = nn_params_check_grads(&ps, clip, &scale);   // stop if bad
 *     nn_optim_step_zero(&opt, scale);                   // the gradients are then 0 */
const char *nn_params_check_grads(const nn_params *ps, double max_norm, ag_float *scale);

/* ---- one update in parts, for threads -------------------------------------------------
 * A loop whose threads each hold a copy of the model can also share the work between its
 * gradients and its update: the sum of the copies' gradients, the check and the update.
 * Part i of n (0 <= i < n) of a registry is its values laid end to end (parameter 0's,
 * then 1's, ...), from i N / n to (i + 1) N / n, each end rounded down to a multiple of
 * 16 (N: nn_params_numel; the last part ends at N). Each value's sum and update read only
 * that value, so the parts give exactly what the whole calls give:
 *
 *     every thread i, on its part:                 then one thread:
 *       nn_params_add_grads_part(&ps, &copy_j, 1,    bad = nn_params_check_parts(&ps,
 *                                i, n, ...);                 clip, g, n, &scale);
 *         (for each copy j, in the same order)       nn_optim_begin_step(&opt);
 *       nn_params_grad_part(&ps, clip, i, n, &g[i]);
 *                                                  then every thread i:
 *                                                    nn_optim_step_zero_part(&opt, scale, i, n);
 *
 * gives the gradients, check, factor and update of nn_params_add_grads for each copy,
 * nn_params_check_grads and nn_optim_step_zero, bit for bit. The threads must all be
 * done with one phase before any starts the next. Part numbers out of range: NN_EARG. */

/* to's gradients += from's over part `part` of `parts` (and with zero_from, from's set
 * to 0 as they are read: the copy is then ready for its next backward). NN_EMISMATCH
 * (the layouts differ) or NN_EARG, with a message in err, changes nothing. */
nn_status nn_params_add_grads_part(nn_params *to, nn_params *from, int zero_from, int part, int parts, char *err,
                                   size_t errlen);

/* What nn_params_check_grads reads from one part: with clipping (max_norm > 0 and
 * finite), the sum of the squares of its gradients, in double; without, only whether one
 * is a NaN or an infinity. NN_EARG (and *out zeroed) for a part number out of range. */
typedef struct {
    double sq;      /* clipping: the sum of squares (not finite: a NaN or an infinity) */
    long n;         /* the values in the part */
    int nonfinite;  /* no clipping: 1 if a gradient in the part is a NaN or an infinity */
    int clipping;   /* 1 if read for clipping */
} nn_grad_part;
nn_status nn_params_grad_part(const nn_params *ps, double max_norm, int part, int parts, nn_grad_part *out);

/* nn_params_check_grads from the n parts' readings (added in part order): the same name
 * or NULL, and the same *scale. Readings that are not those of one whole pass (their
 * counts do not add up to the registry's, or they were read with the other max_norm
 * mode) are not trusted: the whole check is made instead. */
const char *nn_params_check_parts(const nn_params *ps, double max_norm, const nn_grad_part *parts, int n,
                                  ag_float *scale);

/* nn_optim_step_zero in parts: nn_optim_begin_step once (it counts the step, which Adam's
 * bias corrections read), then nn_optim_step_zero_part for every part, each once. */
void nn_optim_begin_step(nn_optim *o);
nn_status nn_optim_step_zero_part(nn_optim *o, ag_float grad_scale, int part, int parts);

/* Learning-rate schedules as torch.optim.lr_scheduler computes them, as a function of
 * the step (0-based):
 *   NN_SCHED_CONSTANT  base_lr
 *   NN_SCHED_STEP      base_lr * gamma^floor(step / step_size)             (StepLR)
 *   NN_SCHED_COSINE    min_lr + (base_lr - min_lr) (1 + cos(pi t / total)) / 2,
 *                      t = min(step, total)                       (CosineAnnealingLR)
 * and on top of any of them, for warmup > 0, a linear warm-up: the rate is multiplied
 * by warmup_start + (1 - warmup_start) step / warmup while step < warmup (LinearLR).
 * Set o->lr = nn_schedule_lr(&s, step) before each nn_optim_step. */
typedef enum { NN_SCHED_CONSTANT, NN_SCHED_STEP, NN_SCHED_COSINE } nn_sched_kind;

typedef struct {
    nn_sched_kind kind;
    double base_lr;
    long step_size;      /* STEP: steps between decays (>= 1) */
    double gamma;        /* STEP: factor per decay (> 0) */
    long total;          /* COSINE: steps from base_lr down to min_lr (>= 1) */
    double min_lr;       /* COSINE: the floor (>= 0) */
    long warmup;         /* steps of linear warm-up; 0 = none */
    double warmup_start; /* the warm-up's factor at step 0, in [0, 1] */
} nn_schedule;

/* NN_OK, or NN_EARG with a message for a value out of the ranges above. */
nn_status nn_schedule_check(const nn_schedule *s, char *err, size_t errlen);
double nn_schedule_lr(const nn_schedule *s, long step);

/* ---- files written whole or not at all -------------------------------------------------
 * nn_file_open creates PATH.tmp (not following a link there) and gives its FILE in
 * w->f; write to it, then nn_file_commit flushes it to disk (fsync), closes it and
 * renames it over PATH. On any failure, and on nn_file_abort, PATH.tmp is removed and
 * PATH is left as it was. Messages name the file and the system's reason. */
typedef struct {
    FILE *f;
    char *tmp, *path; /* owned until commit or abort */
} nn_file;

nn_status nn_file_open(nn_file *w, const char *path, char *err, size_t errlen);
nn_status nn_file_commit(nn_file *w, char *err, size_t errlen);
void nn_file_abort(nn_file *w); /* NULL, or a file already committed, is fine */

/* ---- text and plots, for the programs that train models ------------------------------
 * UTF-8, strictly (no overlong forms, no surrogates, nothing past U+10FFFF). */

/* The code point starting at text[*i] (i < n), moving *i past it; -1 (and *i
 * unchanged) for bytes that are not such a code point. */
long nn_utf8_decode(const char *text, size_t n, size_t *i);

/* cp as UTF-8 into out (4 bytes of room): the number of bytes, or 0 for a value that
 * is not a code point (a surrogate, or past U+10FFFF). */
int nn_utf8_encode(uint32_t cp, char *out);

/* s as XML text or attribute value: & < > " ' escaped, and what XML cannot hold
 * (control characters, U+FFFE/F, bytes that are not UTF-8) written as U+FFFD. */
void nn_xml_put(FILE *f, const char *s);

/* y[i] against x[i] (x increasing), i < n, as an SVG line chart with axes, ticks, a
 * title and axis labels (escaped), written whole or not at all (nn_file). Non-finite
 * y values are left out. NN_OK, or nn_file's status with err naming the file. */
nn_status nn_plot_line(const char *path, const double *x, const double *y, int n, const char *title,
                       const char *xlabel, const char *ylabel, char *err, size_t errlen);

/* ---- checkpoints (format: docs/checkpoint.md) ------------------------------------------ */

/* Writes magic, version, the caller's meta text (e.g. "model=gru\nhidden=128\n"), every
 * parameter, the optimizer (if any) and a CRC-32, to path + ".tmp", then renames it over
 * path: a failure at any point leaves an earlier file at path as it was. */
nn_status nn_ckpt_save(const char *path, const char *meta, const nn_params *ps, const nn_optim *opt,
                       char *err, size_t errlen);

typedef struct nn_ckpt nn_ckpt; /* a checkpoint read into memory and verified */

/* Reads and verifies the whole file (size, magic, version, checksum, every record's
 * bounds) before anything else may use it. *out is NULL on failure. The file is opened
 * without blocking and must be a regular file (a FIFO or device is refused, NN_EIO);
 * its magic and version are checked before the rest is read. */
nn_status nn_ckpt_open(const char *path, nn_ckpt **out, char *err, size_t errlen);
void nn_ckpt_close(nn_ckpt *c); /* NULL ok */

/* The meta text (NUL-terminated, owned by c). */
const char *nn_ckpt_meta(const nn_ckpt *c);

/* The value of `key=value` in the meta text, copied to buf; NULL when absent or when
 * it does not fit in n bytes with its NUL (a value is never cut). */
const char *nn_meta_get(const char *meta, const char *key, char *buf, size_t n);

/* The value of `key=value` in the meta text, in place (not NUL-terminated): a pointer
 * into meta and its length in *len; NULL when absent. For values of any length. */
const char *nn_meta_find(const char *meta, const char *key, size_t *len);

/* The value of `key=value` as a number, taken only when all of it is the number (no
 * spaces, no '+') and it lies in [lo, hi]: 1 with *out set, 0 when the key is absent,
 * -1 when it is present but not such a number (*out untouched). nn_meta_u64 takes
 * decimal digits only (0 .. 2^64-1); nn_meta_double, finite values only. */
int nn_meta_long(const char *meta, const char *key, long lo, long hi, long *out);
int nn_meta_u64(const char *meta, const char *key, uint64_t *out);
int nn_meta_double(const char *meta, const char *key, double lo, double hi, double *out);

/* Copies the file's tensors into the model's parameters and, if opt != NULL, the
 * optimizer's kind, settings, step and state. Every name and shape is checked first: on
 * any mismatch nothing is changed and NN_EMISMATCH names the tensor and both shapes. */
nn_status nn_ckpt_load(const nn_ckpt *c, nn_params *ps, nn_optim *opt, char *err, size_t errlen);

/* ---- looking into a checkpoint without the model ---------------------------------------
 * Every tensor record of an open checkpoint, parameters and optimizer state alike
 * ("adam.m.fc.weight"), in file order. i runs over 0 .. nn_ckpt_count(c) - 1. */

int nn_ckpt_count(const nn_ckpt *c);
const char *nn_ckpt_name(const nn_ckpt *c, int i); /* owned by c; NULL for i out of range */
int nn_ckpt_find(const nn_ckpt *c, const char *name); /* its index, or -1 */

/* Record i's rank (0..AG_MAX_RANK), with its dims in shape[0 .. rank) (room for
 * AG_MAX_RANK; may be NULL); -1 for i out of range. */
int nn_ckpt_shape(const nn_ckpt *c, int i, int *shape);
long nn_ckpt_numel(const nn_ckpt *c, int i); /* values in record i; -1 out of range */

/* Record i's values (float32 in the file) into out[0 .. n); n must be its numel.
 * NN_EARG with a message naming the record for i out of range or another n. */
nn_status nn_ckpt_values(const nn_ckpt *c, int i, ag_float *out, long n, char *err, size_t errlen);

/* The optimizer the file holds: 1 with out's kind, lr, momentum, weight_decay, beta1,
 * beta2, eps, lr_decay, initial_accumulator_value, alpha, centered and step set (its
 * params and state NULL: nothing to free); 0 when the file holds none (out zeroed). */
int nn_ckpt_optim(const nn_ckpt *c, nn_optim *out);

/* ---- CRC-32 (zlib's polynomial) ---------------------------------------------------------- */

uint32_t nn_crc32(uint32_t crc, const void *data, size_t n); /* start with crc = 0 */

#ifdef __cplusplus
}
#endif

#endif /* NN_H */
