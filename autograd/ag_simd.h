/* ag_simd.h -- the kernels (ag_kernels.c) written once, for a vector of AG_SIMD_KV
 * floats, and compiled by each file that includes it with AG_SIMD_KV and
 * AG_SIMD_FN(name) (the name of that build of a kernel) defined:
 *   AG_SIMD_KV 16  one AVX-512 register (ag_kernels_avx512.c, built with -mavx512*)
 *   AG_SIMD_KV 8   one AVX2 register (ag_kernels_avx2.c, -mavx2 -mfma)
 *   AG_SIMD_KV 4   one SSE2 or NEON register (ag_kernels.c: the x86-64 baseline, ARM64)
 *   AG_SIMD_KV 0   no vector types: plain loops (ag_kernels.c: other compilers, doubles)
 * Each defines AG_SIMD_FN(nt_ld), (nn_ld), (tn_ld), (vexp), (vtanh) and (vsigmoid),
 * with the arguments of ag__gemm_nt_ld and the others (ag_internal.h), and every
 * build computes the same sums in the same order (ag_kernels.c); only whether a
 * product and its sum round once (FMA) or twice depends on the build. The tiles are
 * the build's: they keep their accumulators in that build's registers (32 for
 * AVX-512 and NEON, 16 for AVX2 and SSE2). Not a public header. */
#include <math.h>
#include <string.h>

#include "ag_internal.h"

/* Every helper is forced inline into the kernels of this build. */
#if defined(__GNUC__)
#define AG_INLINE static inline __attribute__((always_inline))
#else
#define AG_INLINE static inline
#endif

enum { LANES = 16 };

#if AG_SIMD_KV > 0

/* Vector values never cross a function boundary (every helper is inlined), so the ABI
 * note GCC gives for vectors wider than the baseline's does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* vf: one register of VL floats. (A vector wider than the registers is kept in
 * memory, not in registers: GCC 12 then goes element by element through its shuffles
 * and comparisons, and a tile of them spills.) */
enum { VL = AG_SIMD_KV };
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

#if AG_SIMD_KV == 4

/* ---- nt on NEON and SSE2: the same sums, 4 registers per accumulator ----------------
 * Lanes 0-3, 4-7, 8-11 and 12-15 of a 16-lane accumulator are 4 NEON registers, so the
 * products and the pairwise tree are those of the x86-64 code, with one FMA per lane
 * as there. Four dot products at a time (one row of A, four of B) take 16 of NEON's 32
 * registers (SSE2 has 16, so there some spill: the baseline of x86-64, for processors
 * without AVX2). The tail of a row of B is read from where it starts, 16 floats on into
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

void AG_SIMD_FN(nt_ld)(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
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

#elif AG_SIMD_KV == 8
/* ---- nt on AVX2: the same sums, 2 registers per accumulator -------------------------
 * Lanes 0-7 and 8-15 of a 16-lane accumulator are two registers, so the products and
 * the pairwise tree are those of the 16-lane code: w = 8 adds the two registers, w =
 * 4, 2 and 1 pair lanes of four accumulators at once. A tile is four rows of A with two
 * of B, taken in two passes over k: lanes 0-7 of its 8 sums, then lanes 8-15, each in 8
 * of the 16 registers. The tail of a row (its last K % 16 values) comes in with masked
 * loads, which read nothing past the row. Blocks as in the 16-lane code: a chunk of 128 rows
 * of B against bands of rows of A that fit in L1. */
#include <immintrin.h>

/* lo[q] + hi[q] (lanes 0-7 and 8-15 of accumulator q) -> out[q] = reduce16 of it, for
 * q < 4, in its order */
AG_INLINE void reduce4x16(const vf *lo, const vf *hi, float *out)
{
    vf t[4];
    for (int q = 0; q < 4; q++) t[q] = lo[q] + hi[q]; /* w = 8 */
    vf x = __builtin_shufflevector(t[0], t[1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(t[0], t[1], 4, 5, 6, 7, 12, 13, 14, 15); /* w = 4: lanes 4q' .. of t[q'] */
    vf y = __builtin_shufflevector(t[2], t[3], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(t[2], t[3], 4, 5, 6, 7, 12, 13, 14, 15);
    vf z = __builtin_shufflevector(x, y, 0, 1, 4, 5, 8, 9, 12, 13) +
           __builtin_shufflevector(x, y, 2, 3, 6, 7, 10, 11, 14, 15); /* w = 2: lanes 2q, 2q+1 */
    vf u = __builtin_shufflevector(z, z, 0, 2, 4, 6, 0, 2, 4, 6) +
           __builtin_shufflevector(z, z, 1, 3, 5, 7, 1, 3, 5, 7); /* w = 1: lane q */
    memcpy(out, &u, 4 * sizeof(float));
}

/* Rows a[0 .. RA) of A with rows b[0 .. RB) of B (RA * RB = 4 or 8): C[r][q] (row c[r],
 * column q < nb) += their dot product. Rows of B past nb repeat the last. The lanes
 * 0-7 of every accumulator are summed over all of k first, then lanes 8-15: each pass
 * keeps RA * RB registers of sums and loads RA + RB values per RA * RB products, so
 * the multiply-adds, not the loads, set the pace. */
AG_INLINE void nt_tile8(int RA, int RB, int K, const float *const *a, const float *const *b, int nb,
                        float *const *c)
{
    int K0 = K - K % LANES, n = K - K0;
    vf s[2][8]; /* [half][r * RB + q] */
    for (int h = 0; h < 2; h++) {
        vf acc[8];
        for (int i = 0; i < RA * RB; i++) acc[i] = (vf){0};
        for (int k = h * 8; k < K0; k += LANES) {
            vf y[4];
            for (int q = 0; q < RB; q++) {
                y[q] = loadv(b[q] + k);
                __asm__("" : "+x"(y[q])); /* in a register: GCC would otherwise load it again for each
                                             product, as a memory operand, and the loads would set the pace */
            }
            for (int r = 0; r < RA; r++) {
                vf x = loadv(a[r] + k);
                __asm__("" : "+x"(x)); /* (the same) */
                for (int q = 0; q < RB; q++) acc[r * RB + q] += x * y[q];
            }
        }
        if (n > 8 * h) { /* the tail's lanes 8h .. 8h+7: those below n */
            vi lane = {0, 1, 2, 3, 4, 5, 6, 7};
            __m256i keep = (__m256i)(lane + 8 * h < n); /* all ones where the lane is in the row */
            vf y[4];
            for (int q = 0; q < RB; q++) y[q] = (vf)_mm256_maskload_ps(b[q] + K0 + 8 * h, keep);
            for (int r = 0; r < RA; r++) {
                vf x = (vf)_mm256_maskload_ps(a[r] + K0 + 8 * h, keep);
                for (int q = 0; q < RB; q++) acc[r * RB + q] += x * y[q];
            }
        }
        for (int i = 0; i < RA * RB; i++) s[h][i] = acc[i];
    }
    float sum[8];
    for (int g = 0; g < RA * RB; g += 4) reduce4x16(s[0] + g, s[1] + g, sum + g);
    for (int r = 0; r < RA; r++)
        for (int q = 0; q < nb; q++) c[r][q] += sum[r * RB + q];
}

enum { NT_CHUNK = 128, NT_ROWS = 64, NT_L1 = 6144 };

void AG_SIMD_FN(nt_ld)(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                       int ldc)
{
    int N4 = N - N % 4;
    int rows = K * NT_ROWS <= NT_L1 ? NT_ROWS : NT_L1 / K / 4 * 4; /* rows of A in a band */
    rows = rows < 4 ? 4 : rows;
    for (int j0 = 0; j0 < M; j0 += NT_CHUNK) {
        int mj = M - j0 < NT_CHUNK ? M - j0 : NT_CHUNK;
        const float *Bj = B + (size_t)j0 * ldb;
        for (int i0 = 0; i0 < N4; i0 += rows) { /* 4 x 2 tiles */
            int ni = N4 - i0 < rows ? N4 - i0 : rows;
            for (int j = 0; j < mj; j += 2) {
                int nb = mj - j < 2 ? mj - j : 2;
                const float *b[2] = {Bj + (size_t)j * ldb, Bj + (size_t)(j + nb - 1) * ldb};
                for (int i = i0; i < i0 + ni; i += 4) {
                    const float *a[4];
                    float *c[4];
                    for (int r = 0; r < 4; r++) {
                        a[r] = A + (size_t)(i + r) * lda;
                        c[r] = C + (size_t)(i + r) * ldc + j0 + j;
                    }
                    nt_tile8(4, 2, K, a, b, nb, c);
                }
            }
        }
        for (int i = N4; i < N; i++) { /* the last rows of A one by one, with 4 rows of B at a time */
            const float *a[1] = {A + (size_t)i * lda};
            float *c[1];
            for (int j = 0; j < mj; j += 4) {
                int nb = mj - j < 4 ? mj - j : 4;
                const float *b[4];
                for (int q = 0; q < 4; q++) b[q] = Bj + (size_t)(j + (q < nb ? q : nb - 1)) * ldb;
                c[0] = C + (size_t)i * ldc + j0 + j;
                nt_tile8(1, 4, K, a, b, nb, c);
            }
        }
    }
}
#else /* 16 lanes in one vector */

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
        v16 x[16], y[16];
        for (int r = 0; r < RA; r++) x[r] = load16(a[r] + k);
        for (int q = 0; q < RB; q++) y[q] = load16(b[q] + k);
        for (int r = 0; r < RA; r++)
            for (int q = 0; q < RB; q++) s[r * RB + q] += x[r] * y[q];
    }
    if (K0 < K) {
        v16 x[16], y[16];
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

/* Long rows (768 < K <= NT_PACK_K, a GRU of hidden 1024): bands of 8 rows of A, copied
 * NT_PACK_K + 16 floats apart (rows of A 4 KB apart would share a few sets of L1 and
 * evict each other), meet the rows of B two at a time: each 16 values of B loaded
 * from L2 serve 8 products instead of 4, which halves what the 4 x 4 tiles read from
 * L2 and takes nt at (64, 3072, 1024) from about 44% to 51-55% of the peak. */
enum { NT_PACK_K = 1152 };

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
    const float *a[16], *ta[16], *b[16], *tb[16];
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

void AG_SIMD_FN(nt_ld)(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
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
        int i8 = 0; /* rows of A done in bands of 8 */
        if (K > NT_L1 / 8 && K <= NT_PACK_K && N >= 8) {
            _Alignas(64) float ap[8][NT_PACK_K + LANES];
            for (; i8 + 8 <= N; i8 += 8) {
                for (int r = 0; r < 8; r++) {
                    memcpy(ap[r], A + (size_t)(i8 + r) * lda, (size_t)K * sizeof(float));
                    if (K0 < K) pack_tail(at[r], ap[r], K0, K);
                }
                for (int j = 0; j < mj; j += 2)
                    nt_tile(8, 2, K, ap[0], NT_PACK_K + LANES, at, Bj, ldb, bt, packed, j, mj - j < 2 ? mj - j : 2,
                            Cj + (size_t)i8 * ldc + j, ldc);
            }
        }
        for (int i0 = i8; i0 < N4; i0 += rows) { /* 4 x 4 tiles */
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

/* AXPY_V: the most vectors across a block (R = 4 rows by V vectors of accumulators:
 * 16 of 32 registers, or 8 of 16 with AVX2 and SSE2) */
#if AG_SIMD_KV == 16 || defined(__aarch64__)
enum { AXPY_V = 4 };
#else
enum { AXPY_V = 2 };
#endif

/* One band of R rows (R = 4 or 1) across all M >= VL columns (and B copied to P). */
AG_INLINE void axpy_band(int R, int M, int K, const float *A, size_t sa, size_t sk, const float *B, int ldb,
                         float *C, int ldc, float *P, int ldp)
{
    int MV = M - M % VL, j = 0; /* MV: the columns in whole vectors */
    for (; j + AXPY_V * VL <= MV; j += AXPY_V * VL)
        axpy_block(R, AXPY_V, VL, K, A, sa, sk, B + j, ldb, C + j, ldc, P ? P + j : NULL, ldp);
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
    void NAME(int n, const ag_float *x, ag_float *z)                                      \
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

AG_VMAP(AG_SIMD_FN(vexp), expv)
AG_VMAP(AG_SIMD_FN(vtanh), tanhv)
AG_VMAP(AG_SIMD_FN(vsigmoid), sigmoidv)

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


void AG_SIMD_FN(nt_ld)(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
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
void AG_SIMD_FN(vexp)(int n, const ag_float *x, ag_float *z)
{
    for (int i = 0; i < n; i++) z[i] = (ag_float)exp((double)x[i]);
}

void AG_SIMD_FN(vtanh)(int n, const ag_float *x, ag_float *z)
{
    for (int i = 0; i < n; i++) z[i] = (ag_float)tanh((double)x[i]);
}

void AG_SIMD_FN(vsigmoid)(int n, const ag_float *x, ag_float *z)
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
void AG_SIMD_FN(nn_ld)(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                       int ldc)
{
    axpy_gemm(N, M, K, A, (size_t)lda, 1, B, ldb, C, ldc);
}

/* C (N,M) += A^T . B, A (K,N), B (K,M), rows lda, ldb and ldc apart */
void AG_SIMD_FN(tn_ld)(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C,
                       int ldc)
{
    axpy_gemm(N, M, K, A, 1, (size_t)lda, B, ldb, C, ldc);
}
