/* ag_kernels.c -- the matrix products behind matmul and linear. All accumulate into C.
 *
 * Every element C[i][j] is computed in an order that depends only on K, never on N or
 * M or on where (i, j) falls in a tile: a row's result is the same bit for bit whether
 * it is computed alone or inside a batch. The padding tests rely on that.
 *
 * nt (C += A B^T) is a dot product per element: 16 partial sums, lane l taking the k
 * with k % 16 == l in ascending order (the last, short block zero-padded), then added
 * in a fixed pairwise tree. nn and tn sum over k in ascending order.
 *
 * With GCC or Clang and float elements the kernels use the compilers' vector types
 * (16 floats) and tiles that keep their accumulators in registers; elsewhere, and in
 * the double build, plain loops that compute the same sums in the same order. */
#include <string.h>

#include "ag_internal.h"

/* On x86-64 with GCC each kernel is compiled three times, for AVX-512 (x86-64-v4),
 * AVX2 (x86-64-v3) and the baseline, and the loader picks the best the processor has.
 * (Clang 14 does not resolve clones called from another file: it gets the baseline.) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(AG_NO_CLONES)
#define AG_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AG_KERNEL
#endif

/* Every helper is forced inline, so it is compiled for the clone that calls it. */
#if defined(__GNUC__)
#define AG_INLINE static inline __attribute__((always_inline))
#else
#define AG_INLINE static inline
#endif

enum { LANES = 16 };

#if defined(__GNUC__) && !defined(AG_DOUBLE)

/* v16 values never cross a function boundary (every helper is inlined), so the ABI
 * note GCC gives for the baseline clone does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));

AG_INLINE v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

AG_INLINE void store16(float *p, const v16 *v)
{
    memcpy(p, v, sizeof *v);
}

typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v2 __attribute__((vector_size(8)));

/* reduce16 in registers: the same pairwise tree (lane l plus lane l + w, w = 8, 4, 2, 1) */
AG_INLINE float hsum(const v16 *p)
{
    v16 s = *p;
    v8 a = __builtin_shufflevector(s, s, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    v2 c = __builtin_shufflevector(b, b, 0, 1) + __builtin_shufflevector(b, b, 2, 3);
    return c[0] + c[1];
}

/* x[k0 .. K) zero-padded to 16 lanes */
AG_INLINE v16 load_tail(const float *p, int n)
{
    float t[LANES] = {0};
    memcpy(t, p, (size_t)n * sizeof(float));
    return load16(t);
}

/* Dot products of 4 rows of A with 4 rows of B (rows past RA / RB repeat the last one
 * and their results are dropped). */
AG_INLINE void nt_tile(int RA, int RB, int K, const float *const *a, const float *const *b, float *C, int ldc)
{
    int K0 = K - K % LANES;
    v16 s00 = {0}, s01 = {0}, s02 = {0}, s03 = {0}, s10 = {0}, s11 = {0}, s12 = {0}, s13 = {0};
    v16 s20 = {0}, s21 = {0}, s22 = {0}, s23 = {0}, s30 = {0}, s31 = {0}, s32 = {0}, s33 = {0};
    for (int k = 0; k <= K0; k += LANES) {
        v16 a0, a1, a2, a3, b0, b1, b2, b3;
        if (k < K0) {
            a0 = load16(a[0] + k), a1 = load16(a[1] + k), a2 = load16(a[2] + k), a3 = load16(a[3] + k);
            b0 = load16(b[0] + k), b1 = load16(b[1] + k), b2 = load16(b[2] + k), b3 = load16(b[3] + k);
        } else {
            if (K0 == K) break;
            a0 = load_tail(a[0] + k, K - k), a1 = load_tail(a[1] + k, K - k);
            a2 = load_tail(a[2] + k, K - k), a3 = load_tail(a[3] + k, K - k);
            b0 = load_tail(b[0] + k, K - k), b1 = load_tail(b[1] + k, K - k);
            b2 = load_tail(b[2] + k, K - k), b3 = load_tail(b[3] + k, K - k);
        }
        s00 += a0 * b0, s01 += a0 * b1, s02 += a0 * b2, s03 += a0 * b3;
        s10 += a1 * b0, s11 += a1 * b1, s12 += a1 * b2, s13 += a1 * b3;
        s20 += a2 * b0, s21 += a2 * b1, s22 += a2 * b2, s23 += a2 * b3;
        s30 += a3 * b0, s31 += a3 * b1, s32 += a3 * b2, s33 += a3 * b3;
    }
    v16 s[4][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}, {s20, s21, s22, s23}, {s30, s31, s32, s33}};
    for (int r = 0; r < RA; r++)
        for (int q = 0; q < RB; q++) C[(size_t)r * ldc + q] += hsum(&s[r][q]);
}

/* One row of A against 8 rows of B (rows past RB repeat the last; dropped). */
AG_INLINE void nt_row(int RB, int K, const float *a, const float *const *b, float *C)
{
    int K0 = K - K % LANES;
    v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
    for (int k = 0; k < K0; k += LANES) {
        v16 x = load16(a + k);
        s0 += x * load16(b[0] + k), s1 += x * load16(b[1] + k), s2 += x * load16(b[2] + k), s3 += x * load16(b[3] + k);
        s4 += x * load16(b[4] + k), s5 += x * load16(b[5] + k), s6 += x * load16(b[6] + k), s7 += x * load16(b[7] + k);
    }
    if (K0 < K) {
        int n = K - K0;
        v16 x = load_tail(a + K0, n);
        s0 += x * load_tail(b[0] + K0, n), s1 += x * load_tail(b[1] + K0, n);
        s2 += x * load_tail(b[2] + K0, n), s3 += x * load_tail(b[3] + K0, n);
        s4 += x * load_tail(b[4] + K0, n), s5 += x * load_tail(b[5] + K0, n);
        s6 += x * load_tail(b[6] + K0, n), s7 += x * load_tail(b[7] + K0, n);
    }
    v16 s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int q = 0; q < RB; q++) C[q] += hsum(&s[q]);
}

AG_KERNEL void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    int N4 = N - N % 4;
    for (int i = N4; i < N; i++) { /* rows that do not fill a tile of 4: one at a time */
        for (int j = 0; j < M; j += 8) {
            int RB = M - j < 8 ? M - j : 8;
            const float *b[8];
            for (int q = 0; q < 8; q++) b[q] = B + (size_t)(j + (q < RB ? q : RB - 1)) * K;
            nt_row(RB, K, A + (size_t)i * K, b, C + (size_t)i * M + j);
        }
    }
    for (int i = 0; i < N4; i += 4) {
        int RA = 4;
        const float *a[4];
        for (int r = 0; r < 4; r++) a[r] = A + (size_t)(i + (r < RA ? r : RA - 1)) * K;
        for (int j = 0; j < M; j += 4) {
            int RB = M - j < 4 ? M - j : 4;
            const float *b[4];
            for (int q = 0; q < 4; q++) b[q] = B + (size_t)(j + (q < RB ? q : RB - 1)) * K;
            nt_tile(RA, RB, K, a, b, C + (size_t)i * M + j, M);
        }
    }
}

/* C[r][j .. j+W) += sum_k a(r, k) B[k][j .. j+W) for r < 4, W <= 64, a(r, k) =
 * A[r * sa + k * sk]: the body of nn (sa = K, sk = 1) and tn (sa = 1, sk = N). Rows
 * past R repeat the last one; only R rows are stored. */
AG_INLINE void axpy_tile(int R, int W, int K, const float *A, size_t sa,
                                                            size_t sk, const float *B, int ldb, float *C, int ldc)
{
    v16 c[4][4];
    int nv = (W + LANES - 1) / LANES;
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++) {
            float t[LANES] = {0};
            int n = W - v * LANES;
            if (n > 0) memcpy(t, C + (size_t)r * ldc + v * LANES, (size_t)(n < LANES ? n : LANES) * sizeof(float));
            c[r][v] = load16(t);
        }
    for (int k = 0; k < K; k++) {
        const float *brow = B + (size_t)k * ldb;
        v16 b[4];
        for (int v = 0; v < 4; v++)
            b[v] = v < nv ? (W - v * LANES >= LANES ? load16(brow + v * LANES) : load_tail(brow + v * LANES, W - v * LANES))
                          : (v16){0};
        for (int r = 0; r < R; r++) {
            float x = A[r * sa + k * sk];
            for (int v = 0; v < 4; v++) c[r][v] += x * b[v];
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nv; v++) {
            float t[LANES];
            store16(t, &c[r][v]);
            int n = W - v * LANES;
            memcpy(C + (size_t)r * ldc + v * LANES, t, (size_t)(n < LANES ? n : LANES) * sizeof(float));
        }
}

#else /* plain C: the same sums in the same order */

/* sum of 16 lanes in a fixed pairwise order */
static inline ag_float reduce16(const ag_float *acc)
{
    ag_float t[LANES];
    memcpy(t, acc, sizeof t);
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
}


AG_KERNEL void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            const ag_float *a = A + (size_t)i * K, *b = B + (size_t)j * K;
            ag_float s[LANES] = {0};
            for (int k = 0; k < K; k++) s[k % LANES] += a[k] * b[k];
            C[(size_t)i * M + j] += reduce16(s);
        }
}

AG_INLINE void axpy_tile(int R, int W, int K, const ag_float *A, size_t sa, size_t sk, const ag_float *B, int ldb,
                             ag_float *C, int ldc)
{
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++) {
            ag_float x = A[r * sa + k * sk];
            for (int c = 0; c < W; c++) C[(size_t)r * ldc + c] += x * B[(size_t)k * ldb + c];
        }
}

#endif

AG_INLINE void axpy_gemm(int N, int M, int K, const ag_float *A, size_t sa, size_t sk, const ag_float *B,
                             ag_float *C)
{
    if (K <= 2) { /* a tile would spend more on loading C than on arithmetic: plain rows */
        for (int i = 0; i < N; i++)
            for (int k = 0; k < K; k++) {
                ag_float x = A[i * sa + k * sk];
                const ag_float *b = B + (size_t)k * M;
                ag_float *c = C + (size_t)i * M;
                for (int j = 0; j < M; j++) c[j] += x * b[j];
            }
        return;
    }
    for (int i = 0; i < N; i += 4) {
        int R = N - i < 4 ? N - i : 4;
        for (int j = 0; j < M; j += 64) {
            int W = M - j < 64 ? M - j : 64;
            if (R == 4) axpy_tile(4, W, K, A + (size_t)i * sa, sa, sk, B + j, M, C + (size_t)i * M + j, M);
            else
                for (int r = 0; r < R; r++) /* leftover rows one at a time: no wasted lanes */
                    axpy_tile(1, W, K, A + (size_t)(i + r) * sa, sa, sk, B + j, M, C + (size_t)(i + r) * M + j, M);
        }
    }
}

/* C (N,M) += A (N,K) . B (K,M) */
AG_KERNEL void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    axpy_gemm(N, M, K, A, (size_t)K, 1, B, C);
}

/* C (N,M) += A^T . B, A (K,N), B (K,M) */
AG_KERNEL void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    axpy_gemm(N, M, K, A, 1, (size_t)N, B, C);
}
