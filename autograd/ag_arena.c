/* ag_arena.c -- the memory behind a tape: chunks that are filled in order, released
 * all at once, and kept for the next step. */
#include <stdint.h>
#include <string.h>

#include "ag_internal.h"

/* Built with AddressSanitizer (gcc defines __SANITIZE_ADDRESS__, clang answers
 * __has_feature), released arena memory is poisoned: a read through a tensor pointer
 * kept past ag_tape_reset is then reported as use-after-poison instead of reading
 * whatever the next step wrote there. */
#if defined(__SANITIZE_ADDRESS__)
#define AG_POISON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_POISON 1
#endif
#endif

#ifdef AG_POISON
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct ag__chunk {
    ag__chunk *next;
    size_t cap, used;
    unsigned char *mem; /* 64-byte aligned start inside this allocation */
};

enum { CHUNK_MIN = 1 << 20, ALIGN = 64 };

static ag__chunk *chunk_new(size_t cap)
{
    unsigned char *raw = ag__alloc(sizeof(ag__chunk) + ALIGN + cap);
    if (!raw) return NULL;
    ag__chunk *c = (ag__chunk *)raw;
    uintptr_t start = ((uintptr_t)(raw + sizeof(ag__chunk)) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    c->mem = (unsigned char *)start;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    POISON(c->mem, cap);
    return c;
}

void *ag__arena_take(ag__arena_t *a, size_t n)
{
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n == 0) n = ALIGN;
    ag__chunk *c = a->cur;
    /* Walk forward to the first chunk with room; chunks after cur are empty. */
    while (c && c->cap - c->used < n) {
        if (!c->next) break;
        c = c->next;
    }
    if (!c || c->cap - c->used < n) {
        size_t total = 0;
        for (ag__chunk *k = a->first; k; k = k->next) total += k->cap;
        size_t cap = total > CHUNK_MIN ? total : CHUNK_MIN; /* doubles the arena */
        if (cap < n) cap = n;
        ag__chunk *fresh = chunk_new(cap);
        if (!fresh) return NULL;
        if (!a->first) {
            a->first = fresh;
        } else {
            ag__chunk *tail = a->first;
            while (tail->next) tail = tail->next;
            tail->next = fresh;
        }
        c = fresh;
    }
    a->cur = c;
    void *p = c->mem + c->used;
    c->used += n;
    UNPOISON(p, n);
    return p;
}

void ag__arena_release(ag__arena_t *a)
{
    for (ag__chunk *c = a->first; c; c = c->next) {
        POISON(c->mem, c->used);
        c->used = 0;
    }
    a->cur = a->first;
}

void ag__arena_free(ag__arena_t *a)
{
    for (ag__chunk *c = a->first, *next; c; c = next) {
        next = c->next;
        UNPOISON(c->mem, c->cap);
        ag__free(c);
    }
    a->first = a->cur = NULL;
}

void ag__arena_poison(void *p, size_t n)
{
    POISON(p, n);
}

void ag__arena_unpoison(void *p, size_t n)
{
    UNPOISON(p, n);
}

int ag__arena_released(const void *p, size_t n)
{
#ifdef AG_POISON
    return __asan_region_is_poisoned((void *)p, n) != NULL;
#else
    (void)p;
    (void)n;
    return 0;
#endif
}

size_t ag__arena_used(const ag__arena_t *a)
{
    size_t n = 0;
    for (ag__chunk *c = a->first; c; c = c->next) {
        n += c->used;
        if (c == a->cur) break;
    }
    return n;
}
