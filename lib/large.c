/* lib/large.c: blocks above WEFT_SMALL_MAX, served by the private jemalloc.
 *
 * jemalloc is linked into libweft with all its symbols made local (CMakeLists.txt),
 * so these mallocx/sdallocx calls reach weft's own copy and never the process's
 * malloc. In sanitizer builds (WEFT_LARGE_SYSTEM_MALLOC) large blocks come from
 * the system malloc instead: the sanitizers intercept it, while they cannot see
 * jemalloc's internal synchronisation.
 *
 * Counters are process-wide relaxed atomics: a large block costs far more than
 * one shared increment. */
#include "heap.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

#ifndef WEFT_LARGE_SYSTEM_MALLOC
#define WEFT_LARGE_SYSTEM_MALLOC 0
#endif

#if WEFT_LARGE_SYSTEM_MALLOC
#include <malloc.h>
#else
/* The private copy's renamed entry points (CMakeLists.txt, cmake/jemalloc-rename.txt). */
#define mallocx weftje_mallocx
#define rallocx weftje_rallocx
#define sallocx weftje_sallocx
#define sdallocx weftje_sdallocx
#define mallctl weftje_mallctl
#include <jemalloc/jemalloc.h>
#endif

static WEFT_ATOMIC(uint64_t) large_allocs, large_frees, large_bytes_live, large_requested;

static void *large_raw_alloc(size_t size, bool zero)
{
#if WEFT_LARGE_SYSTEM_MALLOC
    return zero ? calloc(1, size) : malloc(size);
#else
    return mallocx(size, zero ? MALLOCX_ZERO : 0);
#endif
}

size_t _weft_large_usable_size(const void *p)
{
#if WEFT_LARGE_SYSTEM_MALLOC
    return malloc_usable_size((void *)p);
#else
    return sallocx((void *)p, 0);
#endif
}

void *_weft_large_alloc(size_t size, bool zero)
{
    void *p = large_raw_alloc(size, zero);
    if (!p) {
        _weft_set_error(WEFT_ENOMEM, "out of memory: cannot allocate a large block of %zu bytes",
                        size);
        return NULL;
    }
    weft_fetch_add_relaxed(&large_allocs, 1);
    weft_fetch_add_relaxed(&large_requested, size);
    weft_fetch_add_relaxed(&large_bytes_live, _weft_large_usable_size(p));
    return p;
}

void _weft_large_free(void *p)
{
    size_t usable = _weft_large_usable_size(p);
    weft_fetch_add_relaxed(&large_frees, 1);
    weft_fetch_sub_relaxed(&large_bytes_live, usable);
#if WEFT_LARGE_SYSTEM_MALLOC
    free(p);
#else
    sdallocx(p, usable, 0);
#endif
}

void *_weft_large_realloc(void *p, size_t size)
{
    size_t old_usable = _weft_large_usable_size(p);
#if WEFT_LARGE_SYSTEM_MALLOC
    void *q = realloc(p, size);
#else
    void *q = rallocx(p, size, 0);
#endif
    if (!q) {
        _weft_set_error(WEFT_ENOMEM, "out of memory: cannot resize a large block to %zu bytes",
                        size);
        return NULL;
    }
    weft_fetch_sub_relaxed(&large_bytes_live, old_usable);
    weft_fetch_add_relaxed(&large_bytes_live, _weft_large_usable_size(q));
    return q;
}

void _weft_large_get_counts(uint64_t *allocs, uint64_t *frees, uint64_t *bytes_live,
                            uint64_t *requested)
{
    *requested = weft_load_relaxed(&large_requested);
    *allocs = weft_load_relaxed(&large_allocs);
    *frees = weft_load_relaxed(&large_frees);
    *bytes_live = weft_load_relaxed(&large_bytes_live);
}

void _weft_large_get_je_stats(size_t *allocated, size_t *active, size_t *resident,
                              size_t *mapped)
{
    *allocated = *active = *resident = *mapped = 0;
#if !WEFT_LARGE_SYSTEM_MALLOC
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    mallctl("epoch", &epoch, &len, &epoch, len);
    len = sizeof(size_t);
    mallctl("stats.allocated", allocated, &len, NULL, 0);
    mallctl("stats.active", active, &len, NULL, 0);
    mallctl("stats.resident", resident, &len, NULL, 0);
    mallctl("stats.mapped", mapped, &len, NULL, 0);
#endif
}
