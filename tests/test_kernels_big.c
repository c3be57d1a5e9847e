/* test_kernels_big.c -- the matrix kernels at sizes where they work in blocks (B past
 * L2, many rows of A, k in several blocks), against references that add the same
 * products in the same order, so the comparison is exact: every C element must be
 * bit for bit the reference's. That is the kernels' contract (ag_kernels.c): nt sums
 * 16 lanes, lane l taking the k with k % 16 == l in ascending order (the last block
 * zero-padded), then adds the lanes in a fixed pairwise tree and that sum to C; nn and
 * tn add their products to C for k ascending. The order depends only on K, so blocking
 * over rows or columns, or taking k in ascending blocks, must not change one bit.
 *
 * Whether a product and its sum round once (FMA) or twice depends on the processor and
 * the build: AVX2, AVX-512 and NEON fuse them (the build makes sure, CMakeLists.txt),
 * so there every element must match the fused reference; the x86-64 baseline does
 * not, and there each case must match one of the two references in every element. A
 * product added out of order, twice or not at all changes some elements' last bits,
 * so it matches neither. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"

/* internal (ag_kernels.c): C (N,M) += A B^T, A B, A^T B, rows lda, ldb, ldc apart */
void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
void ag__gemm_nn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
void ag__gemm_tn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
const char *ag__kernel_path(void);

enum { NT, NN, TN };
static const char *const kind_name[] = {"nt", "nn", "tn"};

/* c + x y, rounded once (fused) or twice */
static ag_float madd(ag_float c, ag_float x, ag_float y, int fused)
{
#ifdef AG_DOUBLE
    if (fused) return fma(x, y, c);
#else
    if (fused) return fmaf(x, y, c);
#endif
    ag_float p = x * y; /* a statement of its own: no compiler contracts it with the add */
    return c + p;
}

/* C[i][j] of the kernel `kind` in the kernels' order. a(k) and b(k) are A's and B's
 * factors for this element: A[i][k] or A[k][i], B[j][k] or B[k][j]. */
static ag_float ref_elem(int kind, int K, const ag_float *A, int lda, const ag_float *B, int ldb, int i, int j,
                         ag_float c, int fused)
{
    if (kind == NT) {
        ag_float lane[16] = {0};
        int Kp = (K + 15) / 16 * 16; /* zero-padded to whole blocks of 16, as the kernels do */
        for (int k = 0; k < Kp; k++) {
            ag_float x = k < K ? A[(size_t)i * lda + k] : 0, y = k < K ? B[(size_t)j * ldb + k] : 0;
            lane[k % 16] = madd(lane[k % 16], x, y, fused);
        }
        for (int w = 8; w > 0; w /= 2)
            for (int l = 0; l < w; l++) lane[l] += lane[l + w];
        return c + lane[0];
    }
    for (int k = 0; k < K; k++) {
        ag_float x = kind == NN ? A[(size_t)i * lda + k] : A[(size_t)k * lda + i];
        c = madd(c, x, B[(size_t)k * ldb + j], fused);
    }
    return c;
}

/* The build in use fuses every product with its sum (float builds only). */
static int fma_build(void)
{
    const char *path = ag__kernel_path();
    return sizeof(ag_float) == sizeof(float) &&
           (!strcmp(path, "x86-64 AVX2") || !strcmp(path, "x86-64 AVX-512") || !strcmp(path, "aarch64 NEON"));
}

static ag_float *random_floats(ag_rng *r, size_t n)
{
    ag_float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (ag_float)ag_rng_uniform(r) - (ag_float)0.5;
    return p;
}

/* One case: A, B and C inside wider matrices (pad columns on the right of every row),
 * the kernel against both references; the pad columns of C must stay as they were. */
static void check_case(ag_rng *r, int kind, int N, int M, int K, int pad)
{
    int ar = kind == TN ? K : N, ac = kind == TN ? N : K, br = kind == NT ? M : K, bc = kind == NT ? K : M;
    int lda = ac + pad, ldb = bc + pad, ldc = M + pad;
    ag_float *A = random_floats(r, (size_t)ar * lda), *B = random_floats(r, (size_t)br * ldb);
    ag_float *C0 = random_floats(r, (size_t)N * ldc), *C = malloc((size_t)N * ldc * sizeof *C);
    assert_non_null(C);
    memcpy(C, C0, (size_t)N * ldc * sizeof *C);
    if (kind == NT) ag__gemm_nt_ld(N, M, K, A, lda, B, ldb, C, ldc);
    else if (kind == NN) ag__gemm_nn_ld(N, M, K, A, lda, B, ldb, C, ldc);
    else ag__gemm_tn_ld(N, M, K, A, lda, B, ldb, C, ldc);
    long miss[2] = {0, 0}; /* elements unlike the unfused, the fused reference */
    int first[2][2] = {{-1, -1}, {-1, -1}};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < M; j++)
            for (int fused = 0; fused < 2; fused++) {
                ag_float want = ref_elem(kind, K, A, lda, B, ldb, i, j, C0[(size_t)i * ldc + j], fused);
                if (memcmp(&want, &C[(size_t)i * ldc + j], sizeof want) && !miss[fused]++) {
                    first[fused][0] = i;
                    first[fused][1] = j;
                }
            }
        for (int j = M; j < ldc; j++)
            if (memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof *C))
                fail_msg("%s N=%d M=%d K=%d: pad column C[%d][%d] was written", kind_name[kind], N, M, K, i, j);
    }
    if (fma_build() && miss[1]) {
        int i = first[1][0], j = first[1][1];
        fail_msg("%s N=%d M=%d K=%d pad=%d on %s: %ld elements differ from the fused reference; C[%d][%d] = %.9g, "
                 "fused reference %.9g",
                 kind_name[kind], N, M, K, pad, ag__kernel_path(), miss[1], i, j, (double)C[(size_t)i * ldc + j],
                 (double)ref_elem(kind, K, A, lda, B, ldb, i, j, C0[(size_t)i * ldc + j], 1));
    }
    if (miss[0] && miss[1]) {
        int i = first[1][0], j = first[1][1];
        fail_msg("%s N=%d M=%d K=%d pad=%d: %ld elements differ from the reference in the kernels' order unfused, "
                 "%ld fused; C[%d][%d] = %.9g, fused reference %.9g",
                 kind_name[kind], N, M, K, pad, miss[0], miss[1], i, j, (double)C[(size_t)i * ldc + j],
                 (double)ref_elem(kind, K, A, lda, B, ldb, i, j, C0[(size_t)i * ldc + j], 1));
    }
    free(A), free(B), free(C0), free(C);
}

/* Shapes that take each blocked path with its edges: rows of A past a block of 64 and
 * not a multiple of 4, columns not a multiple of 16 past a block of 64, k past a block
 * of 128 and not a multiple of it, nt tails (K % 16 != 0) and chunks of B past 128
 * rows, rows of B 4 KB apart (nn with M = 1024: the case the copy of B is for), and
 * one case per kernel with B past the 2 MB of L2. The same shapes with one row of A
 * (no blocking) give the rows alone; the contract makes the two agree. */
static void kernels_in_order_big(void **state)
{
    (void)state;
    static const int cases[][5] = {
        /* kind, N, M, K, pad */
        {NN, 9, 1030, 600, 5},  /* B 2.4 MB; k in blocks 128 x 4 + 88; 16 + 6 columns at the end */
        {NN, 16, 1024, 300, 0}, /* rows of B 4 KB apart */
        {NN, 75, 200, 131, 3},  /* row blocks 64 + 11; k blocks 128 + 3 */
        {NN, 1, 1030, 600, 5},  /* one row: not blocked */
        {TN, 75, 1030, 40, 2},  /* row blocks 64 + 11 of C (columns of A); C 0.3 MB */
        {TN, 8, 2100, 300, 0},  /* B 2.5 MB */
        {TN, 1, 2100, 300, 0},
        {NT, 70, 300, 100, 1},  /* rows of A in blocks of 60 + 8, +2 one by one; chunks 128, 128, 44 */
        {NT, 5, 600, 1030, 3},  /* B 2.5 MB; tails of 6 */
        {NT, 1, 600, 1030, 3},
        {NT, 7, 131, 45, 2},    /* odd rows and columns (AVX2: 2 x 2 tiles and their edges), tails of 13 */
        {NT, 3, 17, 16, 0},     /* K a whole block: no tail */
        {NT, 19, 301, 1000, 2}, /* long rows: 2 bands of 8 rows of A (copied), then 3 one by one; tails of 8 */
        {NT, 12, 130, 1024, 0}, /* a band of 8, then a 4 x 4 tile; rows of A and B 4 KB apart */
        {NT, 3, 5, 7, 1},       /* K < 16: only a tail (masked loads; near the end of B, copies) */
        {NT, 1, 3, 15, 0},
        {NT, 2, 2, 17, 0},
        {NN, 3, 5, 7, 1},       /* narrow C: plain rows */
        {TN, 5, 40, 2, 0},      /* K <= 2: plain rows */
        {TN, 6, 33, 9, 1},      /* one vector and a tail of columns, rows of C one by one */
    };
    printf("  kernels: %s\n", ag__kernel_path());
    assert_string_equal(ag_kernels(), ag__kernel_path()); /* the public name of the same choice */
    ag_rng r;
    ag_rng_seed(&r, 21);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        check_case(&r, cases[c][0], cases[c][1], cases[c][2], cases[c][3], cases[c][4]);
}

/* With AG_KERNELS set (CTest's test_kernels_big_avx2 and _baseline), the build asked
 * for is the one in use, when this processor has it: those runs test what they say. */
static void kernels_asked_for(void **state)
{
    (void)state;
    const char *want = getenv("AG_KERNELS");
    if (!want) skip();
#if defined(AG_X86_BUILDS) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!strcmp(want, "baseline")) assert_string_equal(ag__kernel_path(), "x86-64 baseline (SSE2)");
    else if (!strcmp(want, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        assert_string_equal(ag__kernel_path(), "x86-64 AVX2");
    else if (!strcmp(want, "avx2")) skip();
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(kernels_asked_for), cmocka_unit_test(kernels_in_order_big)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
