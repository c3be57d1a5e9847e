/* ag_kernels.c -- the matrix products behind matmul and linear. All accumulate into C.
 * Loop orders keep the innermost loop walking contiguous memory so it vectorises. */
#include "ag_internal.h"

/* C (N,M) += A (N,K) . B (K,M) */
void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
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

/* C (N,M) += A (N,K) . B^T, B (M,K): each C[i][j] is a dot product of two rows. */
void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    for (int i = 0; i < N; i++) {
        const ag_float *a = A + (size_t)i * K;
        for (int j = 0; j < M; j++) {
            const ag_float *b = B + (size_t)j * K;
            ag_float s = 0;
            for (int k = 0; k < K; k++) s += a[k] * b[k];
            C[(size_t)i * M + j] += s;
        }
    }
}

/* C (N,M) += A^T . B, A (K,N), B (K,M) */
void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    for (int k = 0; k < K; k++) {
        const ag_float *a = A + (size_t)k * N, *b = B + (size_t)k * M;
        for (int i = 0; i < N; i++) {
            ag_float s = a[i];
            ag_float *c = C + (size_t)i * M;
            for (int j = 0; j < M; j++) c[j] += s * b[j];
        }
    }
}
