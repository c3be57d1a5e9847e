/* ag_internal.h -- what the autograd sources share and users do not see. */
#ifndef AG_INTERNAL_H
#define AG_INTERNAL_H

#include "ag.h"

/* ---- allocation (ag_alloc.c) ---- */

void *ag__alloc(size_t n); /* through the hook; NULL on failure */
void ag__free(void *p);

/* ---- shapes (ag_tensor.c) ---- */

/* Number of elements, or -1 when rank is outside 0..AG_MAX_RANK, a dim is < 1, or the
 * size passes INT_MAX. */
int ag__shape_size(int rank, const int *shape);
void ag__set_shape(ag_tensor *x, int rank, const int *shape, int size);

/* ---- ops: an enum with a name table (ag_tape.c checks the count) ---- */

typedef enum {
    AG_OP_ADD, AG_OP_SUB, AG_OP_MUL, AG_OP_DIV,
    AG_OP_NEG, AG_OP_EXP, AG_OP_LOG, AG_OP_TANH, AG_OP_SIGMOID, AG_OP_RELU, AG_OP_SCALE,
    AG_OP_SUM, AG_OP_MEAN, AG_OP_SUM_DIM, AG_OP_MEAN_DIM,
    AG_OP_MATMUL, AG_OP_LINEAR,
    AG_OP_CAT, AG_OP_LOG_SOFTMAX, AG_OP_NLL_LOSS,
    AG_OP_SELECT, AG_OP_SLICE, AG_OP_RESHAPE, AG_OP_INDEX_SELECT,
    AG_OP_COUNT
} ag_op;

extern const char *const ag__op_names[AG_OP_COUNT];

/* One recorded op. `in` are its inputs in argument order; ints and f hold what its
 * backward needs besides inputs and output (dims, sizes, the scale factor). */
typedef struct ag_node {
    ag_op op;
    struct ag_node *prev; /* the node recorded before this one */
    ag_tensor *out;
    ag_tensor **in;
    int n_in;
    int i0, i1, i2, i3; /* op-specific */
    int group;          /* ag_tape_group in force when it was recorded; 0 = none */
    ag_float f;         /* op-specific */
    void *saved;        /* op-specific arena data (nll targets) */
    struct ag_node *defer_next; /* in the tape's list of deferred weight gradients */
} ag_node;

/* ---- the tape (ag_tape.c) ---- */

/* The most recent node (the tape is a list linked through ->prev), and the label of
 * group g (1-based; NULL for 0 or out of range). For ag_dot.c. */
ag_node *ag__last(const ag_tape *t);
const char *ag__group_label(const ag_tape *t, int g);
int ag__groups(const ag_tape *t);

/* Weight gradients of linear nodes are deferred to the end of a backward pass, when
 * all of one weight's are done as a single product (ag_tape.c). */
void ag__defer(ag_tape *t, ag_node *n);

/* Arena bytes, 64-byte aligned, released by reset; NULL (and AG_ENOMEM set) on failure. */
void *ag__arena(ag_tape *t, size_t n);

/* A copy of v[0..n-1] in the arena, for a node to keep (nll_loss's targets,
 * index_select's indices); NULL (and AG_ENOMEM set) on failure. */
int *ag__save_ints(ag_tape *t, const int *v, int n);

/* Fails with AG_EARG/AG_ESHAPE if shape is not valid; otherwise an uninitialised tape
 * tensor. `op` names the caller in the message. */
ag_tensor *ag__new(ag_tape *t, const char *op, int rank, const int *shape);

/* Records a node for `out` when recording is on and some input requires a gradient;
 * sets out->requires_grad and out->grad_fn. Returns the node, or NULL when nothing
 * was recorded (then ok is still 1) or on failure (ok = 0, error set). */
ag_node *ag__record(ag_tape *t, ag_op op, ag_tensor *out, ag_tensor *const *in, int n_in,
                    int *ok);

/* Zeroed gradient buffer of x, made on first use (arena for tape tensors). NULL on
 * failure. Only called for tensors that require a gradient. */
ag_float *ag__grad(ag_tape *t, ag_tensor *x);

/* Common argument checks: each returns 0 and sets the error when they fail.
 * ag__inputs: all n inputs non-NULL (a NULL after an earlier error stays quiet). */
int ag__inputs(ag_tape *t, const char *op, ag_tensor *const *xs, int n);
/* Normalises a possibly negative dim against rank; -1 on error (message set). */
int ag__dim(ag_tape *t, const char *op, const ag_tensor *x, int dim);

/* Split a shape around dim: outer = prod(shape[<dim]), inner = prod(shape[>dim]). */
void ag__split(const ag_tensor *x, int dim, int *outer, int *inner);

/* ---- backward of each op, beside its forward in the op files ---- */

int ag__backward_binary(ag_tape *t, ag_node *n);  /* ADD SUB MUL DIV */
int ag__backward_unary(ag_tape *t, ag_node *n);   /* NEG .. SCALE */
int ag__backward_reduce(ag_tape *t, ag_node *n);  /* SUM MEAN SUM_DIM MEAN_DIM */
int ag__backward_matmul(ag_tape *t, ag_node *n);
int ag__backward_linear(ag_tape *t, ag_node *n);
int ag__backward_cat(ag_tape *t, ag_node *n);
int ag__backward_log_softmax(ag_tape *t, ag_node *n);
int ag__backward_nll_loss(ag_tape *t, ag_node *n);
int ag__backward_narrow(ag_tape *t, ag_node *n);  /* SELECT SLICE */
int ag__backward_reshape(ag_tape *t, ag_node *n);
int ag__backward_index_select(ag_tape *t, ag_node *n);

/* ---- matrix kernels (ag_kernels.c); all accumulate into C ---- */

/* C (N,M) += A (N,K) . B (K,M) */
void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
/* C (N,M) += A (N,K) . B^T, B is (M,K) */
void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
/* C (N,M) += A^T . B, A is (K,N), B is (K,M) */
void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);

/* z[i] = exp, tanh or sigmoid of x[i], i < n (ag_kernels.c; z may be x) */
void ag__vexp(int n, const ag_float *x, ag_float *z);
void ag__vtanh(int n, const ag_float *x, ag_float *z);
void ag__vsigmoid(int n, const ag_float *x, ag_float *z);

#endif
