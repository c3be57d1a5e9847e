/* ag_kernels.c -- the matrix products behind matmul and linear (all accumulate into C),
 * and exp, tanh and sigmoid over arrays.
 *
 * Every element C[i][j] is computed in an order that depends only on K, never on N or
 * M or on where (i, j) falls in a tile or a cache block: a row's result is the same bit
 * for bit whether it is computed alone or inside a batch. The padding tests rely on
 * that, and tests/test_kernels_big.c checks it against references in that order.
 *
 * nt (C += A B^T) is a dot product per element: 16 partial sums, lane l taking the k
 * with k % 16 == l in ascending order (the last, short block zero-padded), then added
 * in a fixed pairwise tree. nn and tn sum over k in ascending order.
 *
 * With GCC or Clang and float elements the kernels use the compilers' vector types
 * and tiles that keep their accumulators in registers, one vector per register: the
 * code is written once (ag_simd.h) for a vector of KV floats and built for each
 * processor it serves. On x86-64 three builds: AVX-512 (KV 16, ag_kernels_avx512.c),
 * AVX2 with FMA (KV 8, ag_kernels_avx2.c) and the baseline, SSE2 (KV 4, here); the
 * first call picks the best the processor has, as GCC and Clang see it
 * (__builtin_cpu_supports), or the one the environment variable AG_KERNELS names
 * (avx512, avx2, baseline: a lower one than the best, for tests and comparisons).
 * On ARM64 NEON (KV 4) is the baseline, so there is one build, here. Elsewhere, and in
 * the double build, plain loops that compute the same sums in the same order.
 * ag__kernel_path() names the build in use. A 16-lane nt accumulator is held in
 * 16 / KV registers, so every build adds the same products in the same order. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ag_internal.h"

/* This file's own build of the kernels: ag__*_base */
#if defined(__GNUC__) && !defined(AG_DOUBLE)
#if defined(__x86_64__) || defined(__aarch64__)
#define AG_SIMD_KV 4
#else
#define AG_SIMD_KV 16
#endif
#else
#define AG_SIMD_KV 0
#endif
#define AG_SIMD_FN(name) ag__##name##_base
#include "ag_simd.h"

typedef void (*gemm_fn)(int, int, int, const ag_float *, int, const ag_float *, int, ag_float *, int);
typedef void (*map_fn)(int, const ag_float *, ag_float *);

/* The builds this processor may run, best last */
typedef struct {
    const char *name, *env; /* as ag__kernel_path says it; the value of AG_KERNELS that picks it */
    gemm_fn nt, nn, tn;
    map_fn exp, tanh, sigmoid;
} kernels;

#define KERNELS(name, env, sfx)                                                                          \
    {                                                                                                    \
        name, env, ag__nt_ld_##sfx, ag__nn_ld_##sfx, ag__tn_ld_##sfx, ag__vexp_##sfx, ag__vtanh_##sfx, \
            ag__vsigmoid_##sfx                                                                           \
    }

/* The AVX2 and AVX-512 builds exist (CMakeLists.txt defines AG_X86_BUILDS when it builds them) */
#if defined(AG_X86_BUILDS) && defined(__x86_64__) && defined(__GNUC__) && !defined(AG_DOUBLE)
#define X86_BUILDS 1
#endif

#ifdef X86_BUILDS
#define DECLARE(sfx)                                                                                              \
    void ag__nt_ld_##sfx(int, int, int, const ag_float *, int, const ag_float *, int, ag_float *, int);           \
    void ag__nn_ld_##sfx(int, int, int, const ag_float *, int, const ag_float *, int, ag_float *, int);           \
    void ag__tn_ld_##sfx(int, int, int, const ag_float *, int, const ag_float *, int, ag_float *, int);           \
    void ag__vexp_##sfx(int, const ag_float *, ag_float *);                                                       \
    void ag__vtanh_##sfx(int, const ag_float *, ag_float *);                                                      \
    void ag__vsigmoid_##sfx(int, const ag_float *, ag_float *);
DECLARE(avx2)
DECLARE(avx512)
static const kernels builds[] = {KERNELS("x86-64 baseline (SSE2)", "baseline", base),
                                 KERNELS("x86-64 AVX2", "avx2", avx2), KERNELS("x86-64 AVX-512", "avx512", avx512)};
#elif AG_SIMD_KV == 0
static const kernels builds[] = {KERNELS("plain C", "baseline", base)};
#elif defined(__aarch64__)
static const kernels builds[] = {KERNELS("aarch64 NEON", "baseline", base)};
#elif defined(__x86_64__)
static const kernels builds[] = {KERNELS("x86-64 baseline (SSE2)", "baseline", base)};
#else
static const kernels builds[] = {KERNELS("16-lane vectors, baseline", "baseline", base)};
#endif

/* The best build this processor has, or a lower one named by AG_KERNELS */
static int pick(void)
{
    int best = 0;
#ifdef X86_BUILDS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 1;
    if (best == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        best = 2;
#endif
    const char *want = getenv("AG_KERNELS");
    for (int i = 0; want && i < best; i++)
        if (!strcmp(want, builds[i].env)) return i;
    return best;
}

static const kernels *use(void)
{
    static atomic_int chosen = -1; /* every thread that races here finds the same build */
    int k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (k < 0) {
        k = pick();
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return &builds[k];
}

void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc)
{
    use()->nt(N, M, K, A, lda, B, ldb, C, ldc);
}

void ag__gemm_nn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc)
{
    use()->nn(N, M, K, A, lda, B, ldb, C, ldc);
}

void ag__gemm_tn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc)
{
    use()->tn(N, M, K, A, lda, B, ldb, C, ldc);
}

void ag__vexp(int n, const ag_float *x, ag_float *z)
{
    use()->exp(n, x, z);
}

void ag__vtanh(int n, const ag_float *x, ag_float *z)
{
    use()->tanh(n, x, z);
}

void ag__vsigmoid(int n, const ag_float *x, ag_float *z)
{
    use()->sigmoid(n, x, z);
}

/* the contiguous forms: rows as long as the matrices are wide */
void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    ag__gemm_nt_ld(N, M, K, A, K, B, K, C, M);
}

void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    ag__gemm_nn_ld(N, M, K, A, K, B, M, C, M);
}

void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    ag__gemm_tn_ld(N, M, K, A, N, B, M, C, M);
}

const char *ag_kernels(void)
{
    return use()->name;
}

const char *ag__kernel_path(void)
{
    return ag_kernels();
}
