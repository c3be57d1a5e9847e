/* ag_internal.h -- what the autograd sources share and users do not see.
 *
 * The layering, bottom up: ag_alloc.c (the hook) < ag_arena.c (chunks) < ag_tape.c
 * (nodes, errors, the reverse pass) < the op files, each of which defines its ops'
 * descriptors and backward functions and knows nothing of the others. The tape calls
 * a node's backward through its descriptor and knows no op. */
#ifndef AG_INTERNAL_H
#define AG_INTERNAL_H

#include "ag.h"

/* ---- allocation (ag_alloc.c) ---- */

void *ag__alloc(size_t n); /* through the hook; NULL on failure */
void ag__free(void *p);

/* ---- the arena (ag_arena.c) ----
 * A chain of chunks kept across releases: a step that takes the same sizes in the same
 * order as the one before walks the same chunks and calls the hook zero times. Built
 * with AddressSanitizer, released memory is poisoned, so a read through a pointer kept
 * from before a release is reported. */

typedef struct ag__chunk ag__chunk;
typedef struct {
    ag__chunk *first, *cur;
} ag__arena_t;

void *ag__arena_take(ag__arena_t *a, size_t n); /* 64-byte aligned; NULL when the hook fails */
void ag__arena_release(ag__arena_t *a);         /* everything taken is given back at once */
void ag__arena_free(ag__arena_t *a);            /* the chunks themselves go */
size_t ag__arena_used(const ag__arena_t *a);
/* 1 when [p, p+n) lies in memory a release has poisoned (AddressSanitizer builds
 * only; 0 otherwise): lets the stale-tensor check look at a tensor without reading
 * poisoned memory itself. */
int ag__arena_released(const void *p, size_t n);
/* Marks [p, p+n) of a chunk unusable (poisoned) or usable again, as a release and a take
 * do (AddressSanitizer builds; no-ops otherwise): for buffers reused inside a step. */
void ag__arena_poison(void *p, size_t n);
void ag__arena_unpoison(void *p, size_t n);

/* ---- shapes (ag_tensor.c) ---- */

/* Number of elements, or -1 when rank is outside 0..AG_MAX_RANK, a dim is < 1, or the
 * size passes INT_MAX. */
int ag__shape_size(int rank, const int *shape);
void ag__set_shape(ag_tensor *x, int rank, const int *shape, int size);

/* ---- the tape (ag_tape.c) ---- */

/* One recorded op: the descriptor of its op, its output, its inputs in argument order,
 * and the op's own saved struct (ag_op_record's `saved` bytes; NULL when 0). The
 * inputs and the saved struct sit in the same arena block as the node. */
struct ag_node {
    const ag_op *op;
    struct ag_node *prev; /* the node recorded before this one */
    ag_tensor *out;
    ag_tensor **in;
    int n_in;
    int group; /* ag_tape_group in force when it was recorded; 0 = none */
    void *saved;
};

/* The most recent node (the tape is a list linked through ->prev), and the label of
 * group g (1-based; NULL for 0 or out of range). For ag_dot.c. */
ag_node *ag__last(const ag_tape *t);
const char *ag__group_label(const ag_tape *t, int g);
int ag__groups(const ag_tape *t);

/* A view for op: an output of the given shape whose data is base->data + offset (size
 * elements of it must lie inside base), no copy; its gradient will lie in base's in
 * the same way (ag_grad), so the op's backward has nothing to do for it. NULL (error
 * set) on failure. */
ag_tensor *ag__view(ag_tape *t, const ag_op *op, ag_tensor *base, int offset, int rank, const int *shape);

/* Arena bytes, 64-byte aligned, released by reset; NULL (and AG_ENOMEM set) on failure. */
void *ag__arena(ag_tape *t, size_t n);

/* A copy of v[0..n-1] in the arena, for a node to keep (nll_loss's targets,
 * index_select's indices); NULL (and AG_ENOMEM set) on failure. */
int *ag__save_ints(ag_tape *t, const int *v, int n);

/* 1 when x is a tape tensor of an earlier generation of t, or of another tape: every
 * tape tensor carries the stamp its tape had when it was made, and a reset draws a
 * new one. */
int ag__stale(const ag_tape *t, const ag_tensor *x);

/* Normalises a possibly negative dim against rank; -1 on error (message set). */
int ag__dim(ag_tape *t, const char *op, const ag_tensor *x, int dim);

/* Split a shape around dim: outer = prod(shape[<dim]), inner = prod(shape[>dim]). */
void ag__split(const ag_tensor *x, int dim, int *outer, int *inner);

/* ---- matrix kernels (ag_kernels.c); all accumulate into C ---- */

/* C (N,M) += A (N,K) . B (K,M) */
void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
/* C (N,M) += A (N,K) . B^T, B is (M,K) */
void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
/* C (N,M) += A^T . B, A is (K,N), B is (K,M) */
void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
/* The same over sub-matrices: row i of A starts at A + i*lda, and so on (a block of
 * columns of a wider matrix). The sums are the same as the contiguous forms'. */
void ag__gemm_nn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
void ag__gemm_tn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);

/* z[i] = exp, tanh or sigmoid of x[i], i < n (ag_kernels.c; z may be x) */
void ag__vexp(int n, const ag_float *x, ag_float *z);
void ag__vtanh(int n, const ag_float *x, ag_float *z);
void ag__vsigmoid(int n, const ag_float *x, ag_float *z);
/* the name of the kernels in use: "aarch64 NEON", "x86-64-v4 (AVX-512)", ... (ag_kernels.c) */
const char *ag__kernel_path(void);

#endif
