/* ag_alloc.c -- the allocator hook: every byte the library takes passes here. */
#include <stdlib.h>

#include "ag_internal.h"

static void *default_alloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n);
}

static void default_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static ag_allocator hook = {default_alloc, default_free, NULL};

void ag_set_allocator(const ag_allocator *a)
{
    if (a && a->alloc && a->free) {
        hook = *a;
    } else {
        hook.alloc = default_alloc;
        hook.free = default_free;
        hook.ud = NULL;
    }
}

void *ag__alloc(size_t n)
{
    return hook.alloc(n ? n : 1, hook.ud);
}

void ag__free(void *p)
{
    if (p) hook.free(p, hook.ud);
}

void *ag_alloc(size_t n)
{
    return ag__alloc(n);
}

void ag_free(void *p)
{
    ag__free(p);
}
