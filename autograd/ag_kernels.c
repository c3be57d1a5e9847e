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
 * and tiles that keep their accumulators in registers: vectors of 16 floats on x86-64,
 * of 4 (one NEON register) on ARM64, where an nt accumulator of 16 lanes is held in 4
 * registers. Elsewhere, and in the double build, plain loops that compute the same
 * sums in the same order. ag__kernel_path() names the path this build runs. */
#include <math.h>
#include <string.h>

#include "ag_internal.h"

/* On x86-64 with GCC each kernel is compiled three times, for AVX-512 (x86-64-v4),
 * AVX2 (x86-64-v3) and the baseline, and the loader picks the best the processor has.
 * (Clang 14 does not resolve clones called from another file: it gets the baseline.)
 * On ARM64 the choice is made at build time: every ARMv8-A processor has NEON
 * (Advanced SIMD), so the NEON kernels are the baseline there, with GCC and Clang. */
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

/* Vector values never cross a function boundary (every helper is inlined), so the ABI
 * note GCC gives for the baseline clone does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* vf: the vector of the element-wise code (nn and tn, exp, tanh, sigmoid), VL floats.
 * 16 on x86-64: one AVX-512 register, two AVX2 ones. 4 on ARM64, one NEON register:
 * GCC 12 keeps a wider vector there in memory, not in registers, and goes element by
 * element through its shuffles and comparisons. */
#if defined(__aarch64__)
#define AG_KERNEL_PATH "aarch64 NEON"
enum { VL = 4 };
#else
enum { VL = 16 };
#endif
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int vi __attribute__((vector_size(VL * sizeof(int))));
typedef unsigned vu __attribute__((vector_size(VL * sizeof(unsigned))));

AG_INLINE vf loadv(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

AG_INLINE void storev(float *p, const vf *v)
{
    memcpy(p, v, sizeof *v);
}

/* a vector cast keeps the bits: float lanes as ints and back */
#define BITS(v) ((vi)(v))
#define FLOATS(i) ((vf)(i))

/* The tail (k >= K0) of row p, zero-padded to 16 */
AG_INLINE void pack_tail(float *t, const float *p, int K0, int K)
{
    memset(t, 0, LANES * sizeof(float));
    memcpy(t, p + K0, (size_t)(K - K0) * sizeof(float));
}

#if defined(__aarch64__)

/* ---- nt on ARM64: the same sums, 4 registers per accumulator ------------------------
 * Lanes 0-3, 4-7, 8-11 and 12-15 of a 16-lane accumulator are 4 NEON registers, so the
 * products and the pairwise tree are those of the x86-64 code, with one FMA per lane
 * as there. Four dot products at a time (one row of A, four of B) take 16 of the 32
 * registers. The tail of a row of B is read from where it starts, 16 floats on into
 * the next row, and the lanes past K are masked to zero; a zero-padded copy serves
 * the last rows, whose 16 floats would run past the end of B. */

/* 16 floats from p as 4 registers, the lanes where keep is zero set to +0 */
AG_INLINE void load16_masked(vf *x, const float *p, const vi *keep)
{
    for (int g = 0; g < 4; g++) x[g] = FLOATS(BITS(loadv(p + 4 * g)) & keep[g]);
}

/* s[q]: 4 accumulators of 16 lanes -> lane q is reduce16(s[q]), in its order: w = 8
 * and 4 add whole registers, w = 2 and 1 pair lanes of four accumulators at once */
AG_INLINE vf reduce4x16(const vf (*s)[4])
{
    vf b[4];
    for (int q = 0; q < 4; q++) b[q] = (s[q][0] + s[q][2]) + (s[q][1] + s[q][3]);
    vf c01 = __builtin_shufflevector(b[0], b[1], 0, 1, 4, 5) + __builtin_shufflevector(b[0], b[1], 2, 3, 6, 7);
    vf c23 = __builtin_shufflevector(b[2], b[3], 0, 1, 4, 5) + __builtin_shufflevector(b[2], b[3], 2, 3, 6, 7);
    return __builtin_shufflevector(c01, c23, 0, 2, 4, 6) + __builtin_shufflevector(c01, c23, 1, 3, 5, 7);
}

/* Row a of A with rows b[0..3] of B. at: a's tail, zero-padded; bt[q]: where b[q]'s
 * tail starts, loaded with the mask keep (lanes below K % 16). */
AG_INLINE vf nt_dots4(int K, const float *a, const float *at, const float *const *b, const float *const *bt,
                      const vi *keep)
{
    int K0 = K - K % LANES;
    vf s[4][4], x[4], y[4];
    for (int q = 0; q < 4; q++)
        for (int g = 0; g < 4; g++) s[q][g] = (vf){0};
    for (int k = 0; k < K0; k += LANES) {
        for (int g = 0; g < 4; g++) x[g] = loadv(a + k + 4 * g);
        for (int q = 0; q < 4; q++)
            for (int g = 0; g < 4; g++) s[q][g] += x[g] * loadv(b[q] + k + 4 * g);
    }
    if (K0 < K) {
        for (int g = 0; g < 4; g++) x[g] = loadv(at + 4 * g);
        for (int q = 0; q < 4; q++) {
            load16_masked(y, bt[q], keep);
            for (int g = 0; g < 4; g++) s[q][g] += x[g] * y[g];
        }
    }
    return reduce4x16(s);
}

AG_KERNEL void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                              int ldc)
{
    int K0 = K - K % LANES;
    float at[LANES], bt[4][LANES];
    vi lane = {0, 1, 2, 3}, keep[4];
    for (int g = 0; g < 4; g++) keep[g] = lane + 4 * g < K - K0; /* all ones below the tail's length */
    for (int i = 0; i < N; i++) {
        const float *a = A + (size_t)i * lda;
        if (K0 < K) pack_tail(at, a, K0, K);
        for (int j = 0; j < M; j += 4) {
            int nb = M - j < 4 ? M - j : 4; /* rows past nb repeat the last */
            const float *b[4], *tb[4];
            for (int q = 0; q < 4; q++) {
                size_t row = (size_t)j + (q < nb ? q : nb - 1);
                b[q] = B + row * ldb;
                tb[q] = b[q] + K0;
                if (K0 < K && row * ldb + K0 + LANES > (size_t)(M - 1) * ldb + K) { /* past B's last value */
                    pack_tail(bt[q], b[q], K0, K);
                    tb[q] = bt[q];
                }
            }
            vf sum = nt_dots4(K, a, at, b, tb, keep);
            float *c = C + (size_t)i * ldc + j;
            if (nb == 4) {
                vf old = loadv(c);
                old += sum;
                storev(c, &old);
            } else {
                float t[4];
                storev(t, &sum);
                for (int q = 0; q < nb; q++) c[q] += t[q];
            }
        }
    }
}

#else /* x86-64 and the rest: 16 lanes in one vector */

typedef vf v16;
typedef vi vi16;

AG_INLINE v16 load16(const float *p)
{
    return loadv(p);
}

AG_INLINE void store16(float *p, const v16 *v)
{
    storev(p, v);
}

typedef float v4 __attribute__((vector_size(16)));

/* ---- nt: dot products -------------------------------------------------------------
 * Each C element is the sum of a 16-lane accumulator, reduced by the pairwise tree of
 * reduce16 (lane l plus lane l + w, for w = 8, 4, 2, 1). Sixteen accumulators are
 * reduced together: each step adds the two halves of every pair of vectors and packs
 * the results of both into one vector, so 16 sums cost 15 vector additions. */

/* lanes [0, w) of the result: x[l] + x[l + w]; lanes [w, 2w): y[l] + y[l + w]; and so on
 * for each group of 2w lanes (w = 8, 4, 2, 1) */
#define HALF_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define HALF_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define HALF_LO4 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27
#define HALF_HI4 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31
#define HALF_LO2 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29
#define HALF_HI2 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31
#define HALF_LO1 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define HALF_HI1 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31

/* s[0..15] -> one vector whose lane q is reduce16(s[q]) */
AG_INLINE v16 reduce16x16(v16 *s)
{
    v16 a[8], b[4], c[2];
    for (int i = 0; i < 8; i++)
        a[i] = __builtin_shufflevector(s[2 * i], s[2 * i + 1], HALF_LO8) +
               __builtin_shufflevector(s[2 * i], s[2 * i + 1], HALF_HI8);
    for (int i = 0; i < 4; i++)
        b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], HALF_LO4) +
               __builtin_shufflevector(a[2 * i], a[2 * i + 1], HALF_HI4);
    for (int i = 0; i < 2; i++)
        c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], HALF_LO2) +
               __builtin_shufflevector(b[2 * i], b[2 * i + 1], HALF_HI2);
    return __builtin_shufflevector(c[0], c[1], HALF_LO1) + __builtin_shufflevector(c[0], c[1], HALF_HI1);
}

/* The tail of a row of K >= 16 values, row[K0 .. K) with K0 = K - K % 16, in lanes
 * 0 .. K-K0-1 and zeros above: as a zero-padded copy would give, but from one load of
 * the row's last 16 values, a lane rotation and a mask (GCC), instead of a copy through
 * memory for each row. */
AG_INLINE v16 row_tail(const float *row, int K)
{
    int n = K % LANES;
#if defined(__clang__)
    float t[LANES] = {0};
    memcpy(t, row + K - n, (size_t)n * sizeof(float));
    return load16(t);
#else
    vi16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    vi16 from = (lane + (LANES - n)) & (LANES - 1), keep = lane < n; /* keep: all ones where lane < n */
    v16 last = load16(row + K - LANES);
    return FLOATS(BITS(__builtin_shuffle(last, from)) & keep);
#endif
}

/* Dot products of RA rows of A (a[r]) with RB rows of B (b[q]), RA * RB = 16, into
 * s[r * RB + q]. The k past the last full block of 16 come from at[r] and bt[q]: those
 * rows' tails, zero-padded to 16 (unused when K is a multiple of 16); bt NULL: taken
 * from B's rows with row_tail. */
AG_INLINE void nt_dots(int RA, int RB, int K, const float *const *a, const float *const *b, const float *const *at,
                       const float *const *bt, v16 *s)
{
    int K0 = K - K % LANES;
    for (int i = 0; i < 16; i++) s[i] = (v16){0};
    for (int k = 0; k < K0; k += LANES) {
        v16 x[4], y[16];
        for (int r = 0; r < RA; r++) x[r] = load16(a[r] + k);
        for (int q = 0; q < RB; q++) y[q] = load16(b[q] + k);
        for (int r = 0; r < RA; r++)
            for (int q = 0; q < RB; q++) s[r * RB + q] += x[r] * y[q];
    }
    if (K0 < K) {
        v16 x[4], y[16];
        for (int r = 0; r < RA; r++) x[r] = load16(at[r]);
        if (bt)
            for (int q = 0; q < RB; q++) y[q] = load16(bt[q]);
        else
            for (int q = 0; q < RB; q++) y[q] = row_tail(b[q], K);
        for (int r = 0; r < RA; r++)
            for (int q = 0; q < RB; q++) s[r * RB + q] += x[r] * y[q];
    }
}

/* nt in blocks: a chunk of 128 rows of B (their tails packed: 8 KB) against blocks of
 * up to 64 rows of A (4 KB of tails), as many as fit in NT_L1 floats (24 KB). In a
 * block each 4 rows of B meet every 4 rows of A in turn: the rows of B are read from
 * L2 or memory once per block, those of A from L1. Past K = 768 a block is a single
 * band of 4 rows of A, which meets every row of the chunk. */
enum { NT_CHUNK = 128, NT_ROWS = 64, NT_L1 = 6144 };

/* C (RA rows from c) += the RA x RB sums, lane r * RB + q for row r, column q < nb */
AG_INLINE void nt_store(int RA, int RB, int nb, const v16 *sum, float *c, int ldc)
{
    if (RA == 1 && nb == 16) {
        v16 old = load16(c);
        old += *sum;
        store16(c, &old);
    } else if (RA == 4 && nb == 4) { /* lanes 4r .. 4r+3 are row r's 4 sums */
        v4 q[4] = {__builtin_shufflevector(*sum, *sum, 0, 1, 2, 3), __builtin_shufflevector(*sum, *sum, 4, 5, 6, 7),
                   __builtin_shufflevector(*sum, *sum, 8, 9, 10, 11),
                   __builtin_shufflevector(*sum, *sum, 12, 13, 14, 15)};
        for (int r = 0; r < 4; r++) {
            v4 old;
            memcpy(&old, c + (size_t)r * ldc, sizeof old);
            old += q[r];
            memcpy(c + (size_t)r * ldc, &old, sizeof old);
        }
    } else {
        float t[LANES];
        store16(t, sum);
        for (int r = 0; r < RA; r++)
            for (int q = 0; q < nb; q++) c[(size_t)r * ldc + q] += t[r * RB + q];
    }
}

/* RA rows of A (tails at) with rows j .. j+nb-1 of B (tails bt[j ..] when packed; the
 * RB - nb rows past them repeat the last), added to C from c */
AG_INLINE void nt_tile(int RA, int RB, int K, const float *A, int lda, const float (*at)[LANES], const float *B, int ldb,
                       const float (*bt)[LANES], int packed, int j, int nb, float *c, int ldc)
{
    const float *a[4], *ta[4], *b[16], *tb[16];
    for (int r = 0; r < RA; r++) {
        a[r] = A + (size_t)r * lda;
        ta[r] = at[r];
    }
    for (int q = 0; q < RB; q++) {
        int row = j + (q < nb ? q : nb - 1);
        b[q] = B + (size_t)row * ldb;
        tb[q] = bt[row];
    }
    v16 s[16], sum;
    nt_dots(RA, RB, K, a, b, ta, packed ? tb : NULL, s);
    sum = reduce16x16(s);
    nt_store(RA, RB, nb, &sum, c, ldc);
}

AG_KERNEL void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                              int ldc)
{
    int K0 = K - K % LANES, N4 = N - N % 4;
    int rows = K * NT_ROWS <= NT_L1 ? NT_ROWS : NT_L1 / K / 4 * 4; /* rows of A in a block */
    rows = rows < 4 ? 4 : rows;
    float bt[NT_CHUNK][LANES], at[NT_ROWS][LANES];
    for (int j0 = 0; j0 < M; j0 += NT_CHUNK) {
        int mj = M - j0 < NT_CHUNK ? M - j0 : NT_CHUNK;
        const float *Bj = B + (size_t)j0 * ldb;
        float *Cj = C + j0;
        /* B's tails are packed when 4-row tiles will reuse them (or K < 16, where a row
         * has no 16 values to load); a single row takes them straight from B */
        int packed = K0 < K && (N >= 4 || K < LANES);
        if (packed)
            for (int q = 0; q < mj; q++) pack_tail(bt[q], Bj + (size_t)q * ldb, K0, K);
        for (int i0 = 0; i0 < N4; i0 += rows) { /* 4 x 4 tiles */
            int ni = N4 - i0 < rows ? N4 - i0 : rows;
            const float *Ai = A + (size_t)i0 * lda;
            if (K0 < K)
                for (int r = 0; r < ni; r++) pack_tail(at[r], Ai + (size_t)r * lda, K0, K);
            for (int j = 0; j < mj; j += 4)
                for (int i = 0; i < ni; i += 4)
                    nt_tile(4, 4, K, Ai + (size_t)i * lda, lda, at + i, Bj, ldb, bt, packed, j, mj - j < 4 ? mj - j : 4,
                            Cj + (size_t)(i0 + i) * ldc + j, ldc);
        }
        for (int i = N4; i < N; i++) { /* the last rows of A one by one, with 16 rows of B */
            if (K0 < K) pack_tail(at[0], A + (size_t)i * lda, K0, K);
            for (int j = 0; j < mj; j += 16)
                nt_tile(1, 16, K, A + (size_t)i * lda, lda, at, Bj, ldb, bt, packed, j, mj - j < 16 ? mj - j : 16,
                        Cj + (size_t)i * ldc + j, ldc);
        }
    }
}

#endif /* nt */

/* ---- nn and tn: rows of B scaled and added ----------------------------------------
 * C[r][j .. j+VL*V) += sum_k a(r, k) B[k][j .. j+VL*V) for r < R, with a(r, k) =
 * A[r * sa + k * sk]: nn has sa = K, sk = 1 and tn sa = 1, sk = N. R and V are
 * constants at each call, so the R x V accumulators stay in registers (16 of the 32
 * on AVX-512 and on NEON). keep < VL stores only the last `keep` lanes of the (single)
 * vector: the block then overlaps columns already done, and its first lanes are
 * computed and dropped. P not NULL: the rows of B read are also copied there, ldp
 * apart. */
AG_INLINE void axpy_block(int R, int V, int keep, int K, const float *A, size_t sa, size_t sk, const float *B, int ldb,
                          float *C, int ldc, float *P, int ldp)
{
    vf c[4][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) c[r][v] = loadv(C + (size_t)r * ldc + v * VL);
    for (int k = 0; k < K; k++) {
        const float *brow = B + (size_t)k * ldb;
        vf b[4];
        for (int v = 0; v < V; v++) b[v] = loadv(brow + v * VL);
        if (P)
            for (int v = 0; v < V; v++) storev(P + (size_t)k * ldp + v * VL, &b[v]);
        for (int r = 0; r < R; r++) {
            float x = A[r * sa + k * sk];
            for (int v = 0; v < V; v++) c[r][v] += x * b[v];
        }
    }
    for (int r = 0; r < R; r++) {
        if (keep == VL)
            for (int v = 0; v < V; v++) storev(C + (size_t)r * ldc + v * VL, &c[r][v]);
        else {
            float t[VL];
            storev(t, &c[r][0]);
            memcpy(C + (size_t)r * ldc + VL - keep, t + VL - keep, (size_t)keep * sizeof(float));
        }
    }
}

/* One band of R rows (R = 4 or 1) across all M >= VL columns (and B copied to P). */
AG_INLINE void axpy_band(int R, int M, int K, const float *A, size_t sa, size_t sk, const float *B, int ldb,
                         float *C, int ldc, float *P, int ldp)
{
    int MV = M - M % VL, j = 0; /* MV: the columns in whole vectors */
    for (; j + 4 * VL <= MV; j += 4 * VL) axpy_block(R, 4, VL, K, A, sa, sk, B + j, ldb, C + j, ldc, P ? P + j : NULL, ldp);
    switch ((MV - j) / VL) {
    case 3: axpy_block(R, 3, VL, K, A, sa, sk, B + j, ldb, C + j, ldc, P ? P + j : NULL, ldp); break;
    case 2: axpy_block(R, 2, VL, K, A, sa, sk, B + j, ldb, C + j, ldc, P ? P + j : NULL, ldp); break;
    case 1: axpy_block(R, 1, VL, K, A, sa, sk, B + j, ldb, C + j, ldc, P ? P + j : NULL, ldp); break;
    }
    if (MV < M) axpy_block(R, 1, M - MV, K, A, sa, sk, B + M - VL, ldb, C + M - VL, ldc, P ? P + M - VL : NULL, ldp);
}

/* ---- exp, tanh, sigmoid on VL lanes ----------------------------------------------
 * exp: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 in two parts, so
 * r is exact), e^r = 1 + r + r^2 P(r) with P of degree 5 (the minimax fit used by
 * Cephes' expf), and 2^n applied as two powers of two so results down in the
 * subnormals and up to overflow come out right. Within 1 ulp of the exact value over
 * the whole range (tests/test_ops.c measures it). tanh: an odd polynomial below 0.625
 * (where 1 - 2 / (e^2x + 1) would cancel), that formula above. */

/* lanes of a where m is all ones, b where it is zero */
#define BLEND(m, a, b) FLOATS(((m) & BITS(a)) | (~(m) & BITS(b)))

AG_INLINE vf splat(float f)
{
    return (vf){0} + f;
}

AG_INLINE vf expv(const vf *xp)
{
    vf x = *xp;
    const vf shifter = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    x = BLEND(x > splat(89.0f), splat(89.0f), x); /* beyond: inf or 0 anyway; NaN passes */
    x = BLEND(x < splat(-104.0f), splat(-104.0f), x);
    vf t = x * splat(1.44269504088896341f) + shifter;
    vf nf = t - shifter;
    vi n = BITS(t) - BITS(shifter);
    vf r = x - nf * splat(0.693359375f);
    r = r - nf * splat(-2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    vf e = p * (r * r) + r + splat(1.0f);
    vi n1 = n >> 1, n2 = n - n1;
    vf s1 = FLOATS((vi)(((vu)(n1 + 127)) << 23)), s2 = FLOATS((vi)(((vu)(n2 + 127)) << 23));
    return e * s1 * s2;
}

AG_INLINE vf tanhv(const vf *xp)
{
    vf x = *xp;
    vi sign = BITS(x) & ((vi){0} + (-0x7fffffff - 1));
    vf a = FLOATS(BITS(x) & ~sign);
    vf z = a * a;
    vf p = splat(-5.70498872745e-3f);
    p = p * z + splat(2.06390887954e-2f);
    p = p * z + splat(-5.37397155531e-2f);
    p = p * z + splat(1.33314422036e-1f);
    p = p * z + splat(-3.33332819422e-1f);
    vf small = p * z * a + a;
    vf a2 = a + a;
    vf big = splat(1.0f) - splat(2.0f) / (expv(&a2) + splat(1.0f));
    return FLOATS(BITS(BLEND(a < splat(0.625f), small, big)) | sign);
}

AG_INLINE vf sigmoidv(const vf *xp)
{
    vf x = *xp;
    vf na = -FLOATS(BITS(x) & ((vi){0} + 0x7fffffff)); /* -|x|: e^-|x| never overflows */
    vf e = expv(&na);
    vf d = splat(1.0f) + e;
    return BLEND(x >= splat(0.0f), splat(1.0f) / d, e / d);
}

/* z[i] = f(x[i]) for the VL-lane f, the last short block through a padded copy */
#define AG_VMAP(NAME, F)                                                                  \
    AG_KERNEL void NAME(int n, const ag_float *x, ag_float *z)                            \
    {                                                                                     \
        int i = 0;                                                                        \
        for (; i + VL <= n; i += VL) {                                                    \
            vf v = loadv(x + i);                                                          \
            v = F(&v);                                                                    \
            storev(z + i, &v);                                                            \
        }                                                                                 \
        if (i < n) {                                                                      \
            float t[VL] = {0};                                                            \
            memcpy(t, x + i, (size_t)(n - i) * sizeof(float));                            \
            vf v = loadv(t);                                                              \
            v = F(&v);                                                                    \
            storev(t, &v);                                                                \
            memcpy(z + i, t, (size_t)(n - i) * sizeof(float));                            \
        }                                                                                 \
    }

AG_VMAP(ag__vexp, expv)
AG_VMAP(ag__vtanh, tanhv)
AG_VMAP(ag__vsigmoid, sigmoidv)

#define AXPY_VECTOR 1

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


AG_KERNEL void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                              int ldc)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            const ag_float *a = A + (size_t)i * lda, *b = B + (size_t)j * ldb;
            ag_float s[LANES] = {0};
            for (int k = 0; k < K; k++) s[k % LANES] += a[k] * b[k];
            C[(size_t)i * ldc + j] += reduce16(s);
        }
}


/* exp, tanh, sigmoid through libm in double, rounded once to ag_float */
void ag__vexp(int n, const ag_float *x, ag_float *z)
{
    for (int i = 0; i < n; i++) z[i] = (ag_float)exp((double)x[i]);
}

void ag__vtanh(int n, const ag_float *x, ag_float *z)
{
    for (int i = 0; i < n; i++) z[i] = (ag_float)tanh((double)x[i]);
}

void ag__vsigmoid(int n, const ag_float *x, ag_float *z)
{
    for (int i = 0; i < n; i++) { /* exp of a non-positive argument only: no overflow */
        double e = exp(-fabs((double)x[i]));
        z[i] = (ag_float)(x[i] >= 0 ? 1 / (1 + e) : e / (1 + e));
    }
}

#endif

/* nn and tn in blocks, when 8 or more rows of A share them and B is past 32 KB: for
 * up to 64 rows of A (so their rows of C stay in a few pages), 128 rows (k) by 64
 * columns of B. The first band of 4 rows copies the block, as it reads it, into a
 * buffer (34-40 KB, in L1: rows of B a multiple of 4 KB apart would all fall in the
 * same few sets of L1 and evict each other); the other bands read the copy. Blocks
 * go through k in ascending order, each adding into C, so every C element still sums
 * its k in ascending order. */
enum { AXPY_NB = 64, AXPY_KB = 128, AXPY_JB = 64 };

AG_INLINE void axpy_gemm(int N, int M, int K, const ag_float *A, size_t sa, size_t sk, const ag_float *B, int ldb,
                         ag_float *C, int ldc)
{
#ifdef AXPY_VECTOR
    if (K > 2 && M >= VL) {
        _Alignas(64) float bp[AXPY_KB * (AXPY_JB + VL)]; /* the last block of columns takes up to JB + VL - 1 */
        int blocked = N >= 8 && (size_t)K * M > AXPY_KB * AXPY_JB;
        for (int i0 = 0, nb; i0 < N; i0 += nb) {
            nb = !blocked || N - i0 - AXPY_NB < 8 ? N - i0 : AXPY_NB; /* >= 8 rows when blocked */
            int N4 = i0 + nb - nb % 4;
            for (int k0 = 0, kb; k0 < K; k0 += kb) {
                kb = !blocked || K - k0 < AXPY_KB ? K - k0 : AXPY_KB;
                for (int j0 = 0, mj; j0 < M; j0 += mj) {
                    mj = !blocked || M - j0 - AXPY_JB < VL ? M - j0 : AXPY_JB;
                    const float *a = A + (size_t)k0 * sk, *b = B + (size_t)k0 * ldb + j0;
                    int ld = ldb;
                    for (int i = i0; i < i0 + nb; i += i < N4 ? 4 : 1) {
                        float *c = C + (size_t)i * ldc + j0;
                        for (int r = i + 4; blocked && r < i + 8 && r < i0 + nb; r++) /* the next band's C */
                            for (int j = 0; j < mj; j += 16) __builtin_prefetch(c + (size_t)(r - i) * ldc + j, 1, 3);
                        if (blocked && i == i0) {
                            axpy_band(4, mj, kb, a + i * sa, sa, sk, b, ldb, c, ldc, bp, mj);
                            b = bp;
                            ld = mj;
                        } else if (i < N4) axpy_band(4, mj, kb, a + i * sa, sa, sk, b, ld, c, ldc, NULL, 0);
                        else axpy_band(1, mj, kb, a + i * sa, sa, sk, b, ld, c, ldc, NULL, 0);
                    }
                }
            }
        }
        return;
    }
#endif
    /* K <= 2 (a tile would spend more on loading C than on arithmetic), narrow C, or
     * no vector types: plain rows, k ascending as everywhere */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            ag_float x = A[i * sa + k * sk];
            const ag_float *b = B + (size_t)k * ldb;
            ag_float *c = C + (size_t)i * ldc;
            for (int j = 0; j < M; j++) c[j] += x * b[j];
        }
}

/* C (N,M) += A (N,K) . B (K,M), rows lda, ldb and ldc apart */
AG_KERNEL void ag__gemm_nn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                              int ldc)
{
    axpy_gemm(N, M, K, A, (size_t)lda, 1, B, ldb, C, ldc);
}

/* C (N,M) += A^T . B, A (K,N), B (K,M), rows lda, ldb and ldc apart */
AG_KERNEL void ag__gemm_tn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                              int ldc)
{
    axpy_gemm(N, M, K, A, 1, (size_t)lda, B, ldb, C, ldc);
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

/* The kernels this build runs on this processor, by name: the x86-64 level is the
 * clone the loader picks (the first level the processor has, as target_clones'
 * resolver checks them); elsewhere the choice was made at build time. */
const char *ag__kernel_path(void)
{
#if defined(AG_DOUBLE) || !defined(__GNUC__)
    return "plain C";
#elif defined(AG_KERNEL_PATH)
    return AG_KERNEL_PATH;
#elif defined(__x86_64__) && !defined(__clang__) && !defined(AG_NO_CLONES)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2)";
    return "x86-64 baseline";
#else
    return "16-lane vectors, baseline";
#endif
}
