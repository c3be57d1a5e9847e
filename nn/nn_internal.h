/* nn_internal.h -- helpers shared by the nn/ modules; not part of the public API. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn.h"

/* On x86-64 with GCC the loops over every parameter value (optimizer step, gradient
 * sums, the non-finite scan) are also compiled for AVX2 and AVX-512, and the loader
 * picks the widest the processor has, as for the matrix kernels (-DAG_CLONES=OFF: the
 * baseline only). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(AG_NO_CLONES)
#define NN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_CLONES
#endif

/* The registry's outcome (nn_params_status, nn_params_error): sets the status and the
 * printf-style message and returns the status; _ok clears both and returns NN_OK. */
nn_status nn__params_fail(nn_params *ps, nn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
nn_status nn__params_ok(nn_params *ps);

/* nn_params_add with the full name a + b + c (a, b may be NULL: ""), so a module can
 * add its own part to a caller's prefix without a buffer of fixed size. */
nn_status nn__params_add3(nn_params *ps, const char *a, const char *b, const char *c, int rank,
                          const int *shape, ag_tensor **out);

/* nn_linear_init with weight and bias named a + b + "weight", a + b + "bias". */
nn_status nn__linear_init(nn_linear *m, nn_params *ps, const char *a, const char *b, int in, int out,
                          int bias, ag_rng *rng);

/* A padded batch of N sequences of lengths 1..T, ordered for work on live rows only:
 * sorted position j holds sequence order[j] (longest first, ties in input order), and
 * sequence n sits at back[n]. At step s the first live[s] sorted rows are still running
 * (live[T] = 0); their rows of the input viewed as (T*N, I) are rows[off[s] .. off[s] +
 * live[s]) (row s*N + order[j]); off[T] is the total number of live (step, sequence)
 * pairs. Every array is in the tape's arena. */
typedef struct {
    int *order, *back, *live, *off, *rows;
} nn__packing;

/* 0, or -1 (out of memory: the tape's error is set). lengths are already checked. */
int nn__pack(ag_tape *t, const int *lengths, int T, int N, nn__packing *pk);

/* The factor nn_clip_grad_norm scales every gradient by at this norm (as torch:
 * max_norm / (norm + 1e-6), rounded to ag_float); 1 when it leaves them as they are.
 * nn_params_check_grads computes the same factor from its own sum. For max_norm > 0
 * it never increases with the norm. */
static inline ag_float nn__clip_factor(double norm, double max_norm)
{
    return norm > max_norm && norm > 0 ? (ag_float)(max_norm / (norm + 1e-6)) : 1;
}

/* part is a part number of parts (0 <= part < parts) */
static inline int nn__part_ok(int part, int parts)
{
    return parts >= 1 && part >= 0 && part < parts;
}

/* Where part `part` of `parts` begins among n values laid end to end (nn.h, "one update
 * in parts"): part n / parts rounded down to a multiple of 16, so that each part starts
 * on a whole vector; n for part == parts. */
static inline long nn__part_at(long n, int part, int parts)
{
    return part >= parts ? n : (long)((long long)n * part / parts) & ~15L;
}

/* The values k0 .. k1-1 of a parameter that starts at `at` among the values laid end to
 * end and has `size` of them, that fall in [lo, hi); 0 when none do. */
static inline int nn__part_span(long at, int size, long lo, long hi, int *k0, int *k1)
{
    long a = lo > at ? lo - at : 0, b = hi - at < size ? hi - at : size;
    *k0 = (int)a;
    *k1 = (int)b;
    return a < b;
}

#endif
