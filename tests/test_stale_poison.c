/* test_stale_poison.c -- built only with -DAG_SANITIZE=ON: a raw read through a tape
 * tensor's data pointer after ag_tape_reset must be reported by AddressSanitizer
 * (the arena poisons what a reset releases). CTest passes it only when the output
 * says "use-after-poison"; a run that reads the old value quietly fails. */
#include <stdio.h>

#include "ag.h"

int main(void)
{
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_full(t, 1, (int[]){4}, 2);
    if (!x) return 1;
    const ag_float *data = x->data;
    ag_tape_reset(t);
    volatile ag_float v = data[1]; /* the stale read */
    printf("read %g through a stale pointer, and nothing reported it\n", (double)v);
    ag_tape_free(t);
    return 0;
}
