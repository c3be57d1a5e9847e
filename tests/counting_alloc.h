/* counting_alloc.h -- an allocator hook for tests: counts allocations and frees, and
 * makes every allocation from the fail_after-th on fail (fail_after < 0: never).
 *     counter c = {0, 0, -1};
 *     ag_set_allocator(&(ag_allocator){count_alloc, count_free, &c}); */
#ifndef COUNTING_ALLOC_H
#define COUNTING_ALLOC_H

#include <stdlib.h>

typedef struct {
    long allocs, frees;
    long fail_after; /* allocations allowed before they fail; < 0 = never fail */
} counter;

static inline void *count_alloc(size_t n, void *ud)
{
    counter *c = ud;
    if (c->fail_after >= 0 && c->allocs >= c->fail_after) return NULL;
    c->allocs++;
    return malloc(n);
}

static inline void count_free(void *p, void *ud)
{
    counter *c = ud;
    c->frees++;
    free(p);
}

#endif
