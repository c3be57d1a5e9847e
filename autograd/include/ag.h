/* ag.h -- a small tape-based reverse-mode autograd over dynamic float32 tensors.
 *
 * Overview
 * --------
 * A tensor (ag_tensor) is a contiguous row-major block of ag_float with a shape of
 * rank 0 to AG_MAX_RANK chosen at run time. There are two kinds:
 *
 *   - leaves (parameters), made by ag_param_new: the caller owns them, they survive
 *     tape resets, and they carry a gradient buffer that backward accumulates into;
 *   - tape tensors: every op and every ag_zeros/ag_from_array/... result lives in the
 *     tape's arena and is released, all together, by ag_tape_reset.
 *
 * Each op whose inputs need gradients records a node on the tape. ag_backward walks
 * the tape in reverse and accumulates (+=) into every gradient it reaches, so a
 * tensor used twice (a hidden state through time) receives the sum of both paths.
 *
 * Errors: ops never abort. On a bad argument (a shape mismatch, an index out of
 * range, a NULL input) or a failed allocation an op returns NULL and the tape keeps
 * the first error: ag_tape_status() gives its code, ag_tape_error() its message,
 * which names the op and the shapes involved. An op handed a NULL input after an
 * earlier error returns NULL quietly, so a whole forward pass can be written
 * straight through and checked once at the end.
 *
 * Minimal example (compiled and run by tests/test_header_example.c):
 *
 *     ag_tape *tape = ag_tape_new();
 *     ag_tensor *W = ag_param_new(2, (int[]){3, 2}, "W");     // (O=3, I=2)
 *     ag_rng rng;
 *     ag_rng_seed(&rng, 42);
 *     ag_fill_uniform(W, &rng, -0.5, 0.5);
 *     ag_tensor *x = ag_from_array(tape, 2, (int[]){1, 2},
 *                                  (ag_float[]){1, 2});          // (N=1, I=2)
 *     ag_tensor *logp = ag_log_softmax(tape, ag_linear(tape, x, W, NULL), 1);
 *     ag_tensor *loss = ag_nll_loss(tape, logp, (int[]){2}, AG_MEAN);
 *     if (!loss) fprintf(stderr, "%s\n", ag_tape_error(tape));
 *     else ag_backward(tape, loss);                  // W->grad = dloss/dW
 *     ag_tape_reset(tape);                           // x, logp, loss are gone
 *     ag_param_free(W);
 *     ag_tape_free(tape);
 *
 * Element type: ag_float is float. Built with -DAG_DOUBLE it is double; the project
 * builds that variant only to run the gradient checks tightly (docs/design.md).
 */
#ifndef AG_H
#define AG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ------------------------------------------------------------------ */

/* The version of this header; ag_version() gives the library's, so a program can
 * check that the two agree. CMakeLists.txt reads the numbers from here. */
#define AG_VERSION_MAJOR 0
#define AG_VERSION_MINOR 3
#define AG_VERSION_PATCH 0
#define AG_VERSION_STRING "0.3.0"

/* "MAJOR.MINOR.PATCH" of the library linked in. */
const char *ag_version(void);

/* The build of the matrix kernels and vector math this process runs: "x86-64 AVX-512",
 * "x86-64 AVX2", "x86-64 baseline (SSE2)", "aarch64 NEON", "16-lane vectors, baseline"
 * (another processor, GCC or Clang) or "plain C" (other compilers, the double build).
 * On x86-64 the first call picks the best the processor has, or the lower one the
 * environment variable AG_KERNELS names ("avx2" or "baseline"; any other value, or one
 * the processor lacks, is not used). Never NULL. */
const char *ag_kernels(void);

#ifdef AG_DOUBLE
typedef double ag_float;
#else
typedef float ag_float;
#endif

/* A program built with -DAG_DOUBLE must link the double build of the library, and one
 * built without it the float build: every tensor's values are read as ag_float on both
 * sides. So two entry points every program calls carry the element type in their
 * link names, and a mismatch stops at link time ("undefined reference to
 * `ag_tape_new_f64'") instead of running on misread memory. In source they are
 * ag_tape_new and ag_param_new, as declared below. */
#ifdef AG_DOUBLE
#define ag_tape_new ag_tape_new_f64
#define ag_param_new ag_param_new_f64
#else
#define ag_tape_new ag_tape_new_f32
#define ag_param_new ag_param_new_f32
#endif

#define AG_MAX_RANK 4

/* ---- status codes ---------------------------------------------------------- */

typedef enum {
    AG_OK = 0,
    AG_ESHAPE, /* shapes of the arguments do not fit the op */
    AG_EARG,   /* a bad argument: NULL, dim out of range, bad rank, ... */
    AG_EINDEX, /* an index (target, class, position) out of range */
    AG_ENOMEM, /* the allocator returned NULL */
    AG_ESTATE, /* the call does not fit the tape's state (e.g. backward of a non-scalar) */
    AG_EIO     /* writing output failed */
} ag_status;

/* A short name for a status code ("shape mismatch", ...). Never NULL. */
const char *ag_status_name(ag_status s);

/* ---- allocator hook ------------------------------------------------------- */

/* Every byte the library takes comes from this hook, so tests can count allocations
 * or make them fail. alloc returns NULL on failure; free(NULL) must be a no-op.
 * Process-wide; set it before creating any tape or parameter and keep it until every
 * object made under it is freed. */
typedef struct {
    void *(*alloc)(size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} ag_allocator;

/* Installs a (copied) allocator; NULL restores malloc/free. */
void ag_set_allocator(const ag_allocator *a);

/* Allocate and free through the hook, for code built on the library (nn/) that wants
 * its memory counted and failable the same way. ag_free(NULL) is a no-op. */
void *ag_alloc(size_t n);
void ag_free(void *p);

/* ---- random numbers --------------------------------------------------------- */

/* The project's own generator (splitmix64): a given seed gives the same numbers on
 * every machine. A plain struct: copy it to save and restore the stream. */
typedef struct {
    uint64_t state;
} ag_rng;

void ag_rng_seed(ag_rng *r, uint64_t seed);
uint64_t ag_rng_u64(ag_rng *r);
double ag_rng_uniform(ag_rng *r);       /* in [0, 1) */
double ag_rng_normal(ag_rng *r);        /* mean 0, standard deviation 1 */
int ag_rng_below(ag_rng *r, int n);     /* uniform integer in [0, n); 0 when n <= 0 */
/* out[i] = 0 when the i-th of n draws of ag_rng_uniform is < p, else keep: the same
 * draws and the same stream afterwards as n calls, several times faster (dropout). */
void ag_rng_mask(ag_rng *r, double p, ag_float keep, ag_float *out, int n);

/* ---- tensors ---------------------------------------------------------------- */

typedef struct ag_node ag_node; /* a tape entry: an op, its inputs and output */

typedef struct ag_tensor {
    int rank;                 /* 0 .. AG_MAX_RANK; rank 0 is a scalar of size 1 */
    int shape[AG_MAX_RANK];   /* shape[0..rank-1]; the rest are 1 */
    int size;                 /* number of elements */
    ag_float *data;           /* size values, row-major */
    ag_float *grad;           /* size values, or NULL when nothing flows here */
    int requires_grad;        /* a leaf that wants a gradient, or an op result on one */
    const char *name;         /* a parameter's or buffer's name; NULL for tape tensors */
    ag_node *grad_fn;         /* the node that made it; NULL for leaves and constants */
    uint64_t stamp;           /* tape tensors: the tape generation they belong to (ops
                                 refuse one from before the last reset); 0 for
                                 caller-owned tensors */
    /* Set by the library, read by its ops; users leave them alone. */
    struct ag_tensor *view_of; /* a view (reshape, select, slice of a contiguous block):
                                  data is view_of->data + view_offset, and the gradient
                                  lies in view_of's the same way; NULL: owns its data */
    int view_offset;
    const int *hot;           /* one-hot columns (ag_one_hot, and what selects rows of
                                 it): with R = size / shape[rank-1] rows, row r is 1 at
                                 column hot_col + hot[r] (none when hot[r] is -1) and 0
                                 elsewhere in [hot_col, hot_col + hot_cols); linear and
                                 matmul then gather instead of multiplying by zeros.
                                 NULL: no such columns */
    int hot_col, hot_cols;
} ag_tensor;

/* A parameter (leaf) of the given shape, zero-filled, with a zeroed gradient.
 * The caller owns it and frees it with ag_param_free; it outlives tape resets.
 * name is copied (may be NULL). Returns NULL if rank or a dim is out of range
 * (rank 0..AG_MAX_RANK, each dim >= 1, size < 2^31) or memory runs out. */
ag_tensor *ag_param_new(int rank, const int *shape, const char *name);
void ag_param_free(ag_tensor *p); /* NULL is a no-op */

/* A caller-owned tensor without a gradient (torch's "buffer"): zero-filled, survives
 * tape resets, usable as an op input on any tape (it is a constant there). It holds
 * state carried from one tape to the next, e.g. an RNN's hidden state between chunks
 * of truncated backpropagation (ag_detach_into fills it). NULL on a bad shape or when
 * memory runs out. Free with ag_buffer_free (NULL is a no-op). */
ag_tensor *ag_buffer_new(int rank, const int *shape, const char *name);
void ag_buffer_free(ag_tensor *b);

/* Sets p->grad to zeros. */
void ag_zero_grad(ag_tensor *p);

/* Fill any tensor's data in place (parameters: initialisation). */
void ag_fill(ag_tensor *t, ag_float v);
void ag_fill_uniform(ag_tensor *t, ag_rng *r, double lo, double hi);
void ag_fill_normal(ag_tensor *t, ag_rng *r, double mean, double std);

/* True when a and b have the same rank and shape. */
int ag_same_shape(const ag_tensor *a, const ag_tensor *b);

/* Writes "(2, 3)" (or "()" for a scalar) into buf, truncated to n bytes. */
const char *ag_shape_str(const ag_tensor *t, char *buf, size_t n);

/* Prints shape, then values; more than 2*edge values per row/dim are elided with
 * "...". Readable for any rank. */
void ag_print(FILE *f, const ag_tensor *t);

/* Flat index of element (i0, i1, ...) given rank indices; no bounds checks. */
static inline int ag_index(const ag_tensor *t, const int *idx)
{
    int k = 0;
    for (int d = 0; d < t->rank; d++) k = k * t->shape[d] + idx[d];
    return k;
}

/* ---- the tape ----------------------------------------------------------------- */

typedef struct ag_tape ag_tape;

/* A new, empty tape with gradients enabled. NULL when memory runs out. */
ag_tape *ag_tape_new(void);

/* Frees the tape and every tape tensor on it. Parameters are not touched. NULL ok. */
void ag_tape_free(ag_tape *t);

/* Releases every tape tensor and node at once, clears the error, and keeps the arena
 * for reuse: once a training step has run, the same step again allocates nothing. */
void ag_tape_reset(ag_tape *t);

/* Turns recording on or off (no-grad mode for inference); returns the old setting.
 * With recording off, ops compute values but record no node and no gradient. */
int ag_tape_set_grad(ag_tape *t, int enabled);

ag_status ag_tape_status(const ag_tape *t);
const char *ag_tape_error(const ag_tape *t); /* "" when status is AG_OK */

/* Sets the tape's error (first one wins) and returns NULL, for user-written ops and
 * modules that want to report through the same channel. printf-style. */
void *ag_tape_fail(ag_tape *t, ag_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Scratch memory from the tape's arena, 64-byte aligned, released by the next reset
 * (for modules that need a small array per step). NULL, with AG_ENOMEM set, on failure. */
void *ag_tape_alloc(ag_tape *t, size_t n);

/* Files the nodes recorded from now on under `label` (copied), until the next call;
 * NULL ends the group. Graph dumps draw each group as a cluster: an RNN labels each
 * time step so its unrolled graph stays readable. Groups end at reset. */
void ag_tape_group(ag_tape *t, const char *label);

/* Number of nodes recorded since the last reset, and bytes of arena in use. */
int ag_tape_nodes(const ag_tape *t);
size_t ag_tape_bytes(const ag_tape *t);

/* Reverse pass from a scalar (size 1) tensor: seeds dloss = 1, visits the recorded
 * nodes in reverse and accumulates into every gradient reached, parameters included.
 * Tape-tensor gradients are cleared first, so calling it twice adds the parameter
 * gradients twice (like retain_graph=True). Returns AG_OK, or an error (also stored
 * on the tape) for a NULL/non-scalar loss or a failed allocation. */
ag_status ag_backward(ag_tape *t, ag_tensor *loss);

/* As ag_backward from any tensor, with a caller-given upstream gradient `seed` of
 * out->size values (copied). */
ag_status ag_backward_seed(ag_tape *t, ag_tensor *out, const ag_float *seed);

/* Gradients of intermediates given back during backward (on != 0; off by default):
 * as soon as the node that made a tensor has used its gradient, the buffer is reused
 * for gradients further back, so a pass holds about one recurrence step's gradients
 * instead of the whole graph's (a training loop's memory: the forward values stay).
 * Afterwards the intermediates' ->grad are NULL (ag_dot then shows no gradient
 * statistics for them); parameters', leaves' and the output's gradients are as
 * always. A backward function that registers with ag_backward_at_end keeps its
 * node's output gradient until the end of the pass. Returns the previous setting. */
int ag_tape_release_grads(ag_tape *t, int on);

/* ---- tape tensors (constants; no gradient) --------------------------------------- */

ag_tensor *ag_zeros(ag_tape *t, int rank, const int *shape);
ag_tensor *ag_ones(ag_tape *t, int rank, const int *shape);
ag_tensor *ag_full(ag_tape *t, int rank, const int *shape, ag_float v);
ag_tensor *ag_from_array(ag_tape *t, int rank, const int *shape, const ag_float *v);
ag_tensor *ag_rand(ag_tape *t, ag_rng *r, int rank, const int *shape, double lo, double hi);
ag_tensor *ag_randn(ag_tape *t, ag_rng *r, int rank, const int *shape, double mean, double std);

/* (n, classes): row i is the one-hot vector of idx[i]; idx[i] == -1 gives a row of
 * zeros (padding). Any other index outside [0, classes) is AG_EINDEX. */
ag_tensor *ag_one_hot(ag_tape *t, const int *idx, int n, int classes);

/* A tape tensor with x's values and no gradient (torch's x.detach()): what is computed
 * from it does not reach x's inputs in backward. */
ag_tensor *ag_detach(ag_tape *t, ag_tensor *x);

/* Copies src's values into dst, a caller-owned tensor of the same shape (ag_buffer_new),
 * so they outlive the next ag_tape_reset without a gradient path back. The way to
 * carry a hidden state across resets (truncated BPTT, docs/guide.md):
 *
 *     ag_tensor *h_keep = ag_buffer_new(2, (int[]){1, H}, "h");   // zeros at first
 *     for each chunk:
 *         ag_tape_reset(t);
 *         ag_tensor *h = h_keep;                 // an input: no gradient flows back
 *         for each step: h = ag_tanh(t, ...h...);
 *         ... loss, ag_backward, optimizer step ...
 *         ag_detach_into(t, h_keep, h);          // the state for the next chunk
 *
 * Returns AG_OK, or AG_EARG/AG_ESHAPE (set on the tape) for a dst that is not
 * caller-owned or a shape that differs. */
ag_status ag_detach_into(ag_tape *t, ag_tensor *dst, ag_tensor *src);

/* ---- ops ---------------------------------------------------------------------------
 * PyTorch semantics. A dim may be negative (-1 is the last). Every op returns a new
 * tape tensor, or NULL with the tape's error set. */

/* Elementwise with NumPy broadcasting: shapes are aligned on the right and each pair
 * of dims must be equal or one of them 1. */
ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b);

/* Elementwise, same shape out. log of x <= 0 gives -inf/NaN as in C. */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *x);
ag_tensor *ag_exp(ag_tape *t, ag_tensor *x);
ag_tensor *ag_log(ag_tape *t, ag_tensor *x);
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *x);
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *x);
ag_tensor *ag_relu(ag_tape *t, ag_tensor *x);
ag_tensor *ag_scale(ag_tape *t, ag_tensor *x, ag_float s); /* x * s */

/* Reductions. ag_sum/ag_mean of everything give a scalar (rank 0). The _dim forms
 * reduce one dim, which is kept with size 1 when keepdim is nonzero. */
ag_tensor *ag_sum(ag_tape *t, ag_tensor *x);
ag_tensor *ag_mean(ag_tape *t, ag_tensor *x);
ag_tensor *ag_sum_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim);
ag_tensor *ag_mean_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim);

/* a: (N, K)  b: (K, M)  -> (N, M) */
ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b);

/* x: (N, I)  W: (O, I)  b: (O) or NULL  -> (N, O) = x W^T + b, as torch.nn.Linear */
ag_tensor *ag_linear(ag_tape *t, ag_tensor *x, ag_tensor *W, ag_tensor *b);

/* Joins n >= 1 tensors along dim; all other dims must agree. */
ag_tensor *ag_cat(ag_tape *t, ag_tensor *const *xs, int n, int dim);

/* log(softmax(x)) along dim, stable for any finite input (max subtracted first). */
ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int dim);

typedef enum { AG_MEAN = 0, AG_SUM = 1 } ag_reduction;

/* logp: (N, C) log-probabilities, targets: N class indices in [0, C).
 * -> scalar: -sum_n logp[n, targets[n]], divided by N for AG_MEAN. targets is copied. */
ag_tensor *ag_nll_loss(ag_tape *t, ag_tensor *logp, const int *targets, ag_reduction red);

/* Index `index` of dim `dim`, which is removed: x (T, N, V), dim 0 -> (N, V). */
ag_tensor *ag_select(ag_tape *t, ag_tensor *x, int dim, int index);

/* Indices [start, end) of dim `dim`; 0 <= start < end <= shape[dim]. */
ag_tensor *ag_slice(ag_tape *t, ag_tensor *x, int dim, int start, int end);

/* Entries index[0..n-1] of dim `dim`, in that order (as torch.index_select): x (D, H),
 * dim 0, index {2, 0, 2} -> (3, H) holding rows 2, 0 and 2. An index may repeat; its
 * gradients add up. Each index must be in [0, D); index is copied. */
ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int dim, const int *index, int n);

/* Same data, new shape of the same size; one dim may be -1 (inferred). */
ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int rank, const int *shape);

/* Elementwise, same shape out, as torch. sqrt and pow of x < 0 give NaN as in C;
 * d/dx is sqrt: 1/(2 sqrt x), pow: p x^(p-1) (0 everywhere when p == 0, as torch),
 * abs: sign(x), 0 at 0 (as torch). */
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *x);
ag_tensor *ag_pow(ag_tape *t, ag_tensor *x, ag_float p); /* x^p, scalar exponent */
ag_tensor *ag_abs(ag_tape *t, ag_tensor *x);

/* min(max(x, min), max) elementwise; pass -INFINITY / INFINITY for no lower / upper
 * bound. The gradient passes where min <= x <= max, bounds included (as torch); with
 * min > max every value is max and nothing passes. A NaN bound is AG_EARG. */
ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, ag_float min, ag_float max);

/* softmax(x) along dim: exp(x - max) / sum, stable for any finite input. Same shape. */
ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int dim);

/* Largest (smallest) value along dim, which is removed (kept as 1 with keepdim):
 * x (N, C), dim 1 -> (N). The gradient goes to the chosen element only. Ties go to
 * the first index, as torch 1.13 on the CPU; a NaN wins (propagates). indices, when
 * not NULL, receives the chosen index of each output element (output->size ints,
 * i.e. outer * inner, row-major as the output). */
ag_tensor *ag_max_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim, int *indices);
ag_tensor *ag_min_dim(ag_tape *t, ag_tensor *x, int dim, int keepdim, int *indices);

/* The index of the largest value along dim (first on ties), as the values of a tape
 * tensor without gradient, shaped as ag_max_dim's result; for int indices, pass an
 * indices buffer to ag_max_dim. AG_EARG for a dim longer than 2^24 (not exact in float). */
ag_tensor *ag_argmax(ag_tape *t, ag_tensor *x, int dim, int keepdim);

/* Dims reordered: out.shape[i] = x.shape[dims[i]]; dims holds each of 0..rank-1 once
 * (negative allowed). x (B, T, D), dims {1, 0, 2} -> (T, B, D). Values are copied. */
ag_tensor *ag_permute(ag_tape *t, ag_tensor *x, const int *dims);

/* Dims dim0 and dim1 swapped: x (N, K), 0, 1 -> (K, N). Values are copied. */
ag_tensor *ag_transpose(ag_tape *t, ag_tensor *x, int dim0, int dim1);

/* a: (B, N, K)  b: (B, K, M)  -> (B, N, M), a matmul per batch entry (torch.bmm). */
ag_tensor *ag_bmm(ag_tape *t, ag_tensor *a, ag_tensor *b);

/* n >= 1 tensors of one shape joined along a new dim (0 .. rank, negative counts from
 * rank + 1): n x (N, D), dim 1 -> (N, n, D). The result's rank must be <= AG_MAX_RANK. */
ag_tensor *ag_stack(ag_tape *t, ag_tensor *const *xs, int n, int dim);

/* Rows idx[0..n-1] of W (V, D) -> (n, D), as torch.nn.functional.embedding; an index
 * may repeat (its gradients add up). Rows equal to padding_idx get no gradient; -1
 * means none (unlike torch, other negative values are AG_EARG, not counted from the
 * end). Each index must be in [0, V); idx is copied. */
ag_tensor *ag_embedding(ag_tape *t, ag_tensor *W, const int *idx, int n, int padding_idx);

/* Options of ag_cross_entropy; NULL means ag_cross_entropy_default. */
typedef struct {
    ag_reduction reduction; /* AG_MEAN: divided by the number of targets not ignored */
    int ignore_index;       /* a target equal to it adds nothing (torch's default -100) */
    double label_smoothing; /* eps in [0, 1]: the target becomes (1 - eps) one-hot + eps / C */
} ag_cross_entropy_options;

extern const ag_cross_entropy_options ag_cross_entropy_default; /* {AG_MEAN, -100, 0} */

/* logits: (N, C), targets: N class indices in [0, C) or ignore_index -> () as
 * torch.nn.functional.cross_entropy: sum over rows not ignored of
 * (1 - eps) (-logp[n, t_n]) + eps / C sum_c (-logp[n, c]), logp = log_softmax(logits, 1);
 * / (rows not ignored) for AG_MEAN (NaN when every row is ignored, as torch).
 * targets is copied. */
ag_tensor *ag_cross_entropy(ag_tape *t, ag_tensor *logits, const int *targets,
                            const ag_cross_entropy_options *o);

/* input, target: the same shape -> () = sum (input - target)^2, / size for AG_MEAN.
 * Both may require gradients. */
ag_tensor *ag_mse_loss(ag_tape *t, ag_tensor *input, ag_tensor *target, ag_reduction red);

/* logits x, targets y: the same shape, y in [0, 1] -> () = sum of
 * max(x, 0) - x y + log1p(exp(-|x|)) (torch's binary_cross_entropy_with_logits, finite
 * for any finite x), / size for AG_MEAN. Both may require gradients. */
ag_tensor *ag_bce_with_logits(ag_tape *t, ag_tensor *logits, ag_tensor *targets, ag_reduction red);

/* ---- recurrent cells -------------------------------------------------------------------
 * One step of a GRU or an LSTM from each gate's input projection gi[k] = x W_ih,k^T +
 * b_ih,k and hidden projection gh[k] = h W_hh,k^T + b_hh,k (biases included), all
 * (N, H), in torch.nn.GRUCell's and LSTMCell's gate order: what those modules compute
 * after their two products. Fused: one node (the LSTM: one per output) with the gates
 * kept for backward, instead of about ten elementwise ops each with an output and a
 * gradient. The values are bit for bit those of the composition shown with each op
 * (the same float operations in the same order). An input may be a view, and may be
 * passed twice (gi[k] == gh[k]: its gradients add up); inputs that need no gradient
 * get none. Errors: AG_EARG for a NULL array or entry, AG_ESHAPE for a state that is
 * not (N, H) or an input shaped otherwise, naming it: "gru_cell: gh[1] is (4, 7) but h
 * is (4, 8) (all must be (N, H))". A stale input is reported by number: gi[0..], then
 * gh[0..], then the state. */

/* gi[0..2], gh[0..2] (reset, update, new), h: (N, H) -> h' (N, H), with
 *   r = sigmoid(add(gi[0], gh[0]))        z = sigmoid(add(gi[1], gh[1]))
 *   n = tanh(add(gi[2], mul(r, gh[2])))   h' = add(n, mul(z, sub(h, n)))  = (1 - z) n + z h */
ag_tensor *ag_gru_cell(ag_tape *t, ag_tensor *const *gi, ag_tensor *const *gh, ag_tensor *h);

/* gi[0..3], gh[0..3] (input, forget, cell, output), c: (N, H) -> h' (N, H), and the
 * new cell state c' (N, H) in *c_out, with
 *   i = sigmoid(add(gi[0], gh[0]))   f = sigmoid(add(gi[1], gh[1]))
 *   g = tanh(add(gi[2], gh[2]))      o = sigmoid(add(gi[3], gh[3]))
 *   c' = add(mul(f, c), mul(i, g))   h' = mul(o, tanh(c'))
 * c' is a tape tensor of its own (the next step's c): what reaches it from later use
 * and what reaches it through h' both flow back. Recorded as two nodes, "lstm_cell_c"
 * making c' and "lstm_cell" making h'. On error *c_out is NULL; a NULL c_out is AG_EARG. */
ag_tensor *ag_lstm_cell(ag_tape *t, ag_tensor *const *gi, ag_tensor *const *gh, ag_tensor *c, ag_tensor **c_out);

/* ---- sampling ------------------------------------------------------------------------ */

/* Draws an index in [0, n) from v: logits when is_logits (probabilities softmax(v / T)),
 * otherwise probabilities or weights >= 0, not necessarily summing to 1 (probabilities
 * p^(1/T), renormalised). T = temperature > 0: below 1 sharpens, above 1 flattens.
 * Uses exactly one ag_rng_uniform(r). Returns -1, drawing nothing, for bad arguments:
 * v or r NULL, n < 1, T not finite and > 0, a NaN or +inf entry, a negative or infinite
 * probability, or no entry with positive weight (all -inf logits, all-zero weights). */
int ag_sample_categorical(const ag_float *v, int n, int is_logits, double temperature, ag_rng *r);

/* ---- your own ops ----------------------------------------------------------------------
 * An op is a forward function and a descriptor: the op's name (for error messages and
 * ag_dot) and its backward. Every built-in op is written this way (autograd/ag_ops_*.c),
 * and an op written in user code is recorded, reached by ag_backward, checked by
 * ag_gradcheck and drawn by ag_dot exactly like them. docs/guide.md builds softplus:
 *
 *     static ag_status softplus_backward(ag_tape *t, const ag_node *n)
 *     {
 *         ag_tensor *x = ag_node_in(n, 0), *y = ag_node_out(n);
 *         ag_float *dx = ag_grad(t, x);           // NULL: x needs no gradient
 *         for (int i = 0; dx && i < x->size; i++)
 *             dx[i] += y->grad[i] / (1 + expf(-x->data[i]));
 *         return ag_tape_status(t);
 *     }
 *     static const ag_op softplus_op = {"softplus", softplus_backward};
 *
 *     ag_tensor *softplus(ag_tape *t, ag_tensor *x)
 *     {
 *         if (!ag_op_inputs(t, &softplus_op, &x, 1)) return NULL;
 *         ag_tensor *y = ag_op_output(t, &softplus_op, x->rank, x->shape);
 *         if (!y) return NULL;
 *         for (int i = 0; i < x->size; i++) {              // log(1 + e^v), no overflow
 *             ag_float v = x->data[i];
 *             y->data[i] = v > 0 ? v + log1pf(expf(-v)) : log1pf(expf(v));
 *         }
 *         ag_op_record(t, &softplus_op, y, &x, 1, 0);
 *         return ag_tape_status(t) == AG_OK ? y : NULL;
 *     }
 */

/* The backward of a node: adds (+=) the output gradient ag_node_out(n)->grad, pushed
 * back through the op, into ag_grad(t, input) of each input that requires one.
 * Returns AG_OK, or an error (set it with ag_tape_fail to give a message). */
typedef ag_status (*ag_backward_fn)(ag_tape *t, const ag_node *n);

typedef struct ag_op {
    const char *name;          /* "softplus": error messages and graph dumps */
    ag_backward_fn backward;
} ag_op;

/* 1 when each of xs[0..n-1] can be read by op: non-NULL, and either caller-owned or
 * made on this tape since its last reset. Otherwise 0, with the tape's error set
 * (naming op and the input), or quietly when the tape already holds an error. */
int ag_op_inputs(ag_tape *t, const ag_op *op, ag_tensor *const *xs, int n);

/* A new tape tensor of the given shape for op's result; its values are not set.
 * NULL (error set, naming op) on a bad shape or when memory runs out. */
ag_tensor *ag_op_output(ag_tape *t, const ag_op *op, int rank, const int *shape);

/* Records that op made `out` from in[0..n_in-1], when recording is on and some input
 * requires a gradient; `saved` bytes of zeroed arena memory come with the node for
 * what the backward needs besides inputs and output (ag_node_saved). Returns the node,
 * or NULL when nothing was recorded -- because no gradient is wanted (status AG_OK)
 * or on an error (status set). in[] is copied; the op must outlive the tape's use. */
ag_node *ag_op_record(ag_tape *t, const ag_op *op, ag_tensor *out, ag_tensor *const *in, int n_in,
                      size_t saved);

/* What a backward reads of its node. ag_node_in gives NULL for i out of range. */
const ag_op *ag_node_op(const ag_node *n);
int ag_node_n_in(const ag_node *n);
ag_tensor *ag_node_in(const ag_node *n, int i);
ag_tensor *ag_node_out(const ag_node *n);
void *ag_node_saved(const ag_node *n);

/* x's gradient buffer, zeroed when first asked for in a pass (parameters keep theirs),
 * or NULL when x requires no gradient (and, with AG_ENOMEM set, when memory runs out). */
ag_float *ag_grad(ag_tape *t, ag_tensor *x);

/* Work for the end of a backward pass. A backward may ask the tape to call fn(t, slot)
 * once after every node's backward has run; the returned slot (NULL at the start of
 * each pass, one per fn) is where the op keeps what fn needs, e.g. a list of its nodes
 * whose work is cheaper done together (linear stacks the weight gradients of a
 * recurrence into one product this way). Only a backward may call it; NULL (error
 * set) otherwise or when memory runs out. */
typedef ag_status (*ag_end_fn)(ag_tape *t, void *slot);
void **ag_backward_at_end(ag_tape *t, ag_end_fn fn);

/* ---- graph dumps --------------------------------------------------------------------- */

typedef struct {
    int stats;     /* nonzero: each node also shows norm, min and max of its values and
                      gradient, and a red NaN/Inf mark where one appears */
    int clusters;  /* nonzero: draw each ag_tape_group as a box (default in ag_dot_default) */
    const char *title;  /* a caption, or NULL */
} ag_dot_options;

extern const ag_dot_options ag_dot_default; /* {stats 0, clusters 1, no title} */

/* Writes the graph behind `root` as Graphviz dot to f: one node per op and per leaf or
 * constant it reads, labelled with the op (or parameter name) and the shape; edges in
 * the direction data flows. Parameters, inputs/constants, intermediates and the root
 * (the loss) are drawn in different shapes and colours. With root == NULL, the whole
 * tape. Render with `dot -Tsvg graph.dot -o graph.svg`. Returns AG_OK, AG_ENOMEM or
 * AG_EIO (the tape says which). The tape is not changed. */
ag_status ag_dot(ag_tape *t, const ag_tensor *root, FILE *f, const ag_dot_options *o);

/* ---- gradient check ------------------------------------------------------------------ */

/* The function under test: builds a forward pass on `tape` from the parameters it
 * knows through `ud` and returns its output (any shape), or NULL on error. */
typedef ag_tensor *(*ag_fn)(ag_tape *tape, void *ud);

typedef struct {
    double max_abs_err;   /* max |analytic - numeric| over all checked elements */
    double max_rel_err;   /* max |analytic - numeric| / max(1, |analytic|, |numeric|) */
    int worst_param;      /* index into params of the element with max_rel_err */
    int worst_index;      /* flat index of that element */
    double worst_analytic, worst_numeric;
    int n_checked;        /* elements compared */
} ag_gradcheck_result;

/* Compares the tape's gradient of fn with central finite differences
 * (f(p+eps) - f(p-eps)) / (2 eps) for every element of every parameter in params.
 * A non-scalar output y is reduced to sum(y * w) with fixed pseudo-random weights w,
 * which checks the whole Jacobian against one random direction per output.
 * The tape is reset between evaluations; parameter values are restored exactly and
 * their gradients are left holding the analytic gradient. NaN anywhere counts as an
 * infinite error. Returns AG_OK, or the error fn produced (the tape says which).
 * Choose eps by precision: about 1e-2 for float (the tests use it; smaller steps
 * drown the difference in float rounding), 1e-6 for double. The relative error is an
 * absolute one for gradients below 1: in float a correct gradient shows 1e-5 to 1e-3,
 * and the tests fail above 3e-3 (docs/guide.md, "Check the gradients"). */
ag_status ag_gradcheck(ag_tape *tape, ag_fn fn, void *ud, ag_tensor *const *params,
                       int n_params, double eps, ag_gradcheck_result *res);

/* One line: "gradcheck: 120 elements, max abs 3e-9, max rel 1e-9 at W[17] ...". */
void ag_gradcheck_print(FILE *f, const ag_gradcheck_result *res, ag_tensor *const *params);

#ifdef __cplusplus
}
#endif

#endif /* AG_H */
