/* ag_kernels.c -- the matrix products behind matmul and linear. All accumulate into C.
 *
 * Every element C[i][j] is computed in an order that depends only on K, never on N or
 * M or on where (i, j) falls in a tile: a row's result is the same bit for bit whether
 * it is computed alone or inside a batch. The padding tests rely on that.
 *
 * nt (C += A B^T) is a dot product per element: LANES independent partial sums, so the
 * compiler can keep them in vector registers, reduced in a fixed tree at the end.
 * nn and tn sum over k in ascending order with the innermost loop running along a row
 * of C and of B, which vectorises as it stands. */
#include "ag_internal.h"

/* On x86-64 each kernel is compiled three times, for AVX-512 (x86-64-v4), AVX2
 * (x86-64-v3) and the baseline, and the loader picks the best the processor has. The
 * code and its order of operations are the same in all three (no FMA contraction under
 * -std=c11), so every machine computes the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(AG_NO_CLONES)
#define AG_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AG_KERNEL
#endif

enum { LANES = 16 };

/* sum(acc[0..LANES)) + tail, in a fixed pairwise order */
static inline ag_float reduce(ag_float *acc, ag_float tail)
{
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0] + tail;
}

/* C (N,M) += A (N,K) . B^T, B (M,K). Four rows of B at a time share each load of A. */
AG_KERNEL void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    int K0 = K - K % LANES;
    for (int i = 0; i < N; i++) {
        const ag_float *a = A + (size_t)i * K;
        ag_float *c = C + (size_t)i * M;
        int j = 0;
        for (; j + 4 <= M; j += 4) {
            const ag_float *b0 = B + (size_t)j * K, *b1 = b0 + K, *b2 = b1 + K, *b3 = b2 + K;
            ag_float s0[LANES] = {0}, s1[LANES] = {0}, s2[LANES] = {0}, s3[LANES] = {0};
            for (int k = 0; k < K0; k += LANES)
                for (int l = 0; l < LANES; l++) {
                    ag_float x = a[k + l];
                    s0[l] += x * b0[k + l];
                    s1[l] += x * b1[k + l];
                    s2[l] += x * b2[k + l];
                    s3[l] += x * b3[k + l];
                }
            ag_float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
            for (int k = K0; k < K; k++) {
                t0 += a[k] * b0[k];
                t1 += a[k] * b1[k];
                t2 += a[k] * b2[k];
                t3 += a[k] * b3[k];
            }
            c[j] += reduce(s0, t0);
            c[j + 1] += reduce(s1, t1);
            c[j + 2] += reduce(s2, t2);
            c[j + 3] += reduce(s3, t3);
        }
        for (; j < M; j++) {
            const ag_float *b = B + (size_t)j * K;
            ag_float s[LANES] = {0}, t = 0;
            for (int k = 0; k < K0; k += LANES)
                for (int l = 0; l < LANES; l++) s[l] += a[k + l] * b[k + l];
            for (int k = K0; k < K; k++) t += a[k] * b[k];
            c[j] += reduce(s, t);
        }
    }
}

/* C (N,M) += A (N,K) . B (K,M): row i of C stays in cache while B streams past. */
AG_KERNEL void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    for (int i = 0; i < N; i++) {
        ag_float *c = C + (size_t)i * M;
        for (int k = 0; k < K; k++) {
            ag_float a = A[(size_t)i * K + k];
            const ag_float *b = B + (size_t)k * M;
            for (int j = 0; j < M; j++) c[j] += a * b[j];
        }
    }
}

/* C (N,M) += A^T . B, A (K,N), B (K,M): as nn, reading A down a column. */
AG_KERNEL void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    for (int i = 0; i < N; i++) {
        ag_float *c = C + (size_t)i * M;
        for (int k = 0; k < K; k++) {
            ag_float a = A[(size_t)k * N + i];
            if (a == 0) continue; /* one-hot inputs and masked rows: most of A is zero */
            const ag_float *b = B + (size_t)k * M;
            for (int j = 0; j < M; j++) c[j] += a * b[j];
        }
    }
}
