/* nn_internal.h -- helpers shared by the nn/ modules; not part of the public API. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn.h"

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

#endif
