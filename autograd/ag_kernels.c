/* ag_kernels.c -- the matrix products behind matmul and linear (all accumulate into C),
 * and exp, tanh and sigmoid over arrays.
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
#include <math.h>
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

typedef int vi16 __attribute__((vector_size(64)));
typedef unsigned vu16 __attribute__((vector_size(64)));

/* a vector cast keeps the bits: float lanes as ints and back */
#define BITS(v) ((vi16)(v))
#define FLOATS(i) ((v16)(i))

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

enum { NT_CHUNK = 128 }; /* rows of B whose tails are packed at a time (8 KB) */

/* The tail (k >= K0) of row p, zero-padded to 16 */
AG_INLINE void pack_tail(float *t, const float *p, int K0, int K)
{
    memset(t, 0, LANES * sizeof(float));
    memcpy(t, p + K0, (size_t)(K - K0) * sizeof(float));
}

AG_KERNEL void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C)
{
    int K0 = K - K % LANES;
    float bt[NT_CHUNK][LANES], at[4][LANES];
    for (int j0 = 0; j0 < M; j0 += NT_CHUNK) {
        int mj = M - j0 < NT_CHUNK ? M - j0 : NT_CHUNK;
        /* B's tails are packed when 4-row tiles will reuse them (or K < 16, where a row
         * has no 16 values to load); a single row takes them straight from B */
        int packed = K0 < K && (N >= 4 || K < LANES);
        if (packed)
            for (int q = 0; q < mj; q++) pack_tail(bt[q], B + (size_t)(j0 + q) * K, K0, K);
        for (int i = 0; i < N; i += 4) {
            int RA = N - i < 4 ? 1 : 4; /* 4 rows of A at a time, then the rest one by one */
            for (int ii = i; ii < i + 4 && ii < N; ii += RA) {
                const float *a[4], *ta[4];
                for (int r = 0; r < RA; r++) {
                    a[r] = A + (size_t)(ii + r) * K;
                    ta[r] = at[r];
                    if (K0 < K) pack_tail(at[r], a[r], K0, K);
                }
                int RB = RA == 4 ? 4 : 16;
                for (int j = j0; j < j0 + mj; j += RB) {
                    int nb = j0 + mj - j < RB ? j0 + mj - j : RB; /* rows past nb repeat the last */
                    const float *b[16], *tb[16];
                    for (int q = 0; q < RB; q++) {
                        int row = j + (q < nb ? q : nb - 1);
                        b[q] = B + (size_t)row * K;
                        tb[q] = bt[row - j0];
                    }
                    v16 s[16], sum;
                    if (RA == 4) nt_dots(4, 4, K, a, b, ta, packed ? tb : NULL, s);
                    else nt_dots(1, 16, K, a, b, ta, packed ? tb : NULL, s);
                    sum = reduce16x16(s);
                    float *c = C + (size_t)ii * M + j;
                    if (RA == 1 && nb == 16) {
                        v16 old = load16(c);
                        old += sum;
                        store16(c, &old);
                    } else if (RA == 4 && nb == 4) { /* lanes 4r .. 4r+3 are row r's 4 sums */
                        v4 q[4] = {__builtin_shufflevector(sum, sum, 0, 1, 2, 3),
                                   __builtin_shufflevector(sum, sum, 4, 5, 6, 7),
                                   __builtin_shufflevector(sum, sum, 8, 9, 10, 11),
                                   __builtin_shufflevector(sum, sum, 12, 13, 14, 15)};
                        for (int r = 0; r < 4; r++) {
                            v4 old;
                            memcpy(&old, c + (size_t)r * M, sizeof old);
                            old += q[r];
                            memcpy(c + (size_t)r * M, &old, sizeof old);
                        }
                    } else {
                        float t[LANES];
                        store16(t, &sum);
                        for (int r = 0; r < RA; r++)
                            for (int q = 0; q < nb; q++) c[(size_t)r * M + q] += t[r * RB + q];
                    }
                }
            }
        }
    }
}

/* ---- nn and tn: rows of B scaled and added ----------------------------------------
 * C[r][j .. j+16V) += sum_k a(r, k) B[k][j .. j+16V) for r < R, with a(r, k) =
 * A[r * sa + k * sk]: nn has sa = K, sk = 1 and tn sa = 1, sk = N. R and V are
 * constants at each call, so the R x V accumulators stay in registers. keep < 16 stores
 * only the last `keep` lanes of the (single) vector: the block then overlaps columns
 * already done, and its first lanes are computed and dropped. */
AG_INLINE void axpy_block(int R, int V, int keep, int K, const float *A, size_t sa, size_t sk, const float *B, int ldb,
                          float *C, int ldc)
{
    v16 c[4][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) c[r][v] = load16(C + (size_t)r * ldc + v * LANES);
    for (int k = 0; k < K; k++) {
        const float *brow = B + (size_t)k * ldb;
        v16 b[4];
        for (int v = 0; v < V; v++) b[v] = load16(brow + v * LANES);
        for (int r = 0; r < R; r++) {
            float x = A[r * sa + k * sk];
            for (int v = 0; v < V; v++) c[r][v] += x * b[v];
        }
    }
    for (int r = 0; r < R; r++) {
        if (keep == LANES)
            for (int v = 0; v < V; v++) store16(C + (size_t)r * ldc + v * LANES, &c[r][v]);
        else {
            float t[LANES];
            store16(t, &c[r][0]);
            memcpy(C + (size_t)r * ldc + LANES - keep, t + LANES - keep, (size_t)keep * sizeof(float));
        }
    }
}

/* One band of R rows (R = 4 or 1) across all M >= 16 columns. */
AG_INLINE void axpy_band(int R, int M, int K, const float *A, size_t sa, size_t sk, const float *B, float *C)
{
    int M16 = M - M % LANES, j = 0;
    for (; j + 4 * LANES <= M16; j += 4 * LANES) axpy_block(R, 4, LANES, K, A, sa, sk, B + j, M, C + j, M);
    switch ((M16 - j) / LANES) {
    case 3: axpy_block(R, 3, LANES, K, A, sa, sk, B + j, M, C + j, M); break;
    case 2: axpy_block(R, 2, LANES, K, A, sa, sk, B + j, M, C + j, M); break;
    case 1: axpy_block(R, 1, LANES, K, A, sa, sk, B + j, M, C + j, M); break;
    }
    if (M16 < M) axpy_block(R, 1, M - M16, K, A, sa, sk, B + M - LANES, M, C + M - LANES, M);
}

/* ---- exp, tanh, sigmoid on 16 lanes ----------------------------------------------
 * exp: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 in two parts, so
 * r is exact), e^r = 1 + r + r^2 P(r) with P of degree 5 (the minimax fit used by
 * Cephes' expf), and 2^n applied as two powers of two so results down in the
 * subnormals and up to overflow come out right. Within 1 ulp of the exact value over
 * the whole range (tests/test_ops.c measures it). tanh: an odd polynomial below 0.625
 * (where 1 - 2 / (e^2x + 1) would cancel), that formula above. */

/* lanes of a where m is all ones, b where it is zero */
#define BLEND(m, a, b) FLOATS(((m) & BITS(a)) | (~(m) & BITS(b)))

AG_INLINE v16 splat(float f)
{
    return (v16){0} + f;
}

AG_INLINE v16 exp16(const v16 *xp)
{
    v16 x = *xp;
    const v16 shifter = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    x = BLEND(x > splat(89.0f), splat(89.0f), x); /* beyond: inf or 0 anyway; NaN passes */
    x = BLEND(x < splat(-104.0f), splat(-104.0f), x);
    v16 t = x * splat(1.44269504088896341f) + shifter;
    v16 nf = t - shifter;
    vi16 n = BITS(t) - BITS(shifter);
    v16 r = x - nf * splat(0.693359375f);
    r = r - nf * splat(-2.12194440e-4f);
    v16 p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    v16 e = p * (r * r) + r + splat(1.0f);
    vi16 n1 = n >> 1, n2 = n - n1;
    v16 s1 = FLOATS((vi16)(((vu16)(n1 + 127)) << 23)), s2 = FLOATS((vi16)(((vu16)(n2 + 127)) << 23));
    return e * s1 * s2;
}

AG_INLINE v16 tanh16(const v16 *xp)
{
    v16 x = *xp;
    vi16 sign = BITS(x) & ((vi16){0} + (-0x7fffffff - 1));
    v16 a = FLOATS(BITS(x) & ~sign);
    v16 z = a * a;
    v16 p = splat(-5.70498872745e-3f);
    p = p * z + splat(2.06390887954e-2f);
    p = p * z + splat(-5.37397155531e-2f);
    p = p * z + splat(1.33314422036e-1f);
    p = p * z + splat(-3.33332819422e-1f);
    v16 small = p * z * a + a;
    v16 a2 = a + a;
    v16 big = splat(1.0f) - splat(2.0f) / (exp16(&a2) + splat(1.0f));
    return FLOATS(BITS(BLEND(a < splat(0.625f), small, big)) | sign);
}

AG_INLINE v16 sigmoid16(const v16 *xp)
{
    v16 x = *xp;
    v16 na = -FLOATS(BITS(x) & ((vi16){0} + 0x7fffffff)); /* -|x|: e^-|x| never overflows */
    v16 e = exp16(&na);
    v16 d = splat(1.0f) + e;
    return BLEND(x >= splat(0.0f), splat(1.0f) / d, e / d);
}

/* z[i] = f(x[i]) for the 16-lane f, the last short block through a padded copy */
#define AG_VMAP(NAME, F)                                                                      \
    AG_KERNEL void NAME(int n, const ag_float *x, ag_float *z)                                \
    {                                                                                         \
        int i = 0;                                                                            \
        for (; i + LANES <= n; i += LANES) {                                                  \
            v16 v = load16(x + i);                                                            \
            v = F(&v);                                                                        \
            store16(z + i, &v);                                                               \
        }                                                                                     \
        if (i < n) {                                                                          \
            float t[LANES] = {0};                                                             \
            memcpy(t, x + i, (size_t)(n - i) * sizeof(float));                                \
            v16 v = load16(t);                                                                \
            v = F(&v);                                                                        \
            store16(t, &v);                                                                   \
            memcpy(z + i, t, (size_t)(n - i) * sizeof(float));                                \
        }                                                                                     \
    }

AG_VMAP(ag__vexp, exp16)
AG_VMAP(ag__vtanh, tanh16)
AG_VMAP(ag__vsigmoid, sigmoid16)

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

AG_INLINE void axpy_gemm(int N, int M, int K, const ag_float *A, size_t sa, size_t sk, const ag_float *B,
                         ag_float *C)
{
#ifdef AXPY_VECTOR
    if (K > 2 && M >= LANES) {
        int N4 = N - N % 4;
        for (int i = 0; i < N4; i += 4) axpy_band(4, M, K, A + (size_t)i * sa, sa, sk, B, C + (size_t)i * M);
        for (int i = N4; i < N; i++) axpy_band(1, M, K, A + (size_t)i * sa, sa, sk, B, C + (size_t)i * M);
        return;
    }
#endif
    /* K <= 2 (a tile would spend more on loading C than on arithmetic), narrow C, or
     * no vector types: plain rows, k ascending as everywhere */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            ag_float x = A[i * sa + k * sk];
            const ag_float *b = B + (size_t)k * M;
            ag_float *c = C + (size_t)i * M;
            for (int j = 0; j < M; j++) c[j] += x * b[j];
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
