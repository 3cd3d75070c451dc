/* lib/domain.c: the raw, mem and obj domains: public entry points, replaceable
 * allocators, and the slow dispatch taken when hooks, fault injection or
 * tracing are on (domain.h).
 *
 * The domain table is written only by weft_mem_set_allocator and friends, which
 * the documentation asks to be called before other threads allocate; the
 * release in _weft_alloc_flags_set publishes a table entry before the HOOKED
 * bit that makes callers read it, and the dispatch reads the flags with acquire.
 */
#include "domain.h"
#include "error.h"
#include "heap.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

WEFT_ATOMIC(unsigned) _weft_alloc_flags = WEFT_AF_UNREAD_ENV;

/* ---------------------------------------------------------------- weft's own allocator */

static void *heap_calloc(unsigned kind, size_t total)
{
    if (total > WEFT_SMALL_MAX)
        return _weft_large_alloc(total, true);
    void *p = _weft_heap_alloc_kind(kind, total);
    if (p)
        memset(p, 0, total);
    return p;
}

/* realloc across the small/large boundary: a block keeps its place while the
 * new size stays in its size class; otherwise it moves. */
static void *heap_realloc(unsigned kind, void *ptr, size_t size)
{
    if (!ptr)
        return _weft_heap_alloc_kind(kind, size);
    size_t old;
    if (_weft_arena_map_contains(ptr)) {
        unsigned cls = _weft_pool_of(ptr)->cls;
        if (size <= WEFT_SMALL_MAX && _weft_size_class(size) == cls)
            return ptr;
        old = _weft_class_block_size(cls);
    } else {
        if (size > WEFT_SMALL_MAX)
            return _weft_large_realloc(ptr, size);
        old = _weft_large_usable_size(ptr);
    }
    void *q = _weft_heap_alloc_kind(kind, size);
    if (!q)
        return NULL;
    memcpy(q, ptr, old < size ? old : size);
    _weft_heap_free(ptr);
    return q;
}

/* Every public domain call allocates from MEM pools; only objects made by
 * weft_new go to OBJ pools (_weft_domain_object_alloc; pool.h explains why
 * objects get pools of their own). The obj domain remains a separate domain
 * for hooks and the debug allocator's domain checks. */
#define DOMAIN_KIND(d) WEFT_KIND_MEM
/* The default allocator's ctx is its pool kind. */
#define CTX_KIND(ctx) ((unsigned)(uintptr_t)(ctx))

static void *default_malloc(void *ctx, size_t size)
{
    return _weft_heap_alloc_kind(CTX_KIND(ctx), size);
}

static void *default_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return heap_calloc(CTX_KIND(ctx), nelem * elsize); /* the caller checked for overflow */
}

static void *default_realloc(void *ctx, void *ptr, size_t size)
{
    return heap_realloc(CTX_KIND(ctx), ptr, size);
}

static void default_free(void *ctx, void *ptr)
{
    _weft_heap_free(ptr);
}


/* ---------------------------------------------------------------- the system allocator */

static void *system_malloc(void *ctx, size_t size)
{
    return malloc(size ? size : 1);
}

static void *system_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return calloc(nelem ? nelem : 1, elsize ? elsize : 1);
}

static void *system_realloc(void *ctx, void *ptr, size_t size)
{
    return realloc(ptr, size ? size : 1); /* realloc(p, 0) would free p */
}

static void system_free(void *ctx, void *ptr)
{
    free(ptr);
}

const weft_allocator _weft_system_allocator = {
    NULL, system_malloc, system_calloc, system_realloc, system_free};

/* ---------------------------------------------------------------- the domain table */

static weft_allocator domains[WEFT_DOMAIN_COUNT] = {
    {(void *)(uintptr_t)WEFT_KIND_MEM, default_malloc, default_calloc, default_realloc, default_free},
    {(void *)(uintptr_t)WEFT_KIND_MEM, default_malloc, default_calloc, default_realloc, default_free},
    {(void *)(uintptr_t)WEFT_KIND_MEM, default_malloc, default_calloc, default_realloc, default_free},
};

const char *_weft_domain_name(weft_domain domain)
{
    static const char *const names[WEFT_DOMAIN_COUNT] = {"raw", "mem", "obj"};
    return (unsigned)domain < WEFT_DOMAIN_COUNT ? names[domain] : "?";
}

static bool is_default(const weft_allocator *a)
{
    return a->malloc == default_malloc && a->calloc == default_calloc &&
           a->realloc == default_realloc && a->free == default_free;
}

int _weft_domain_set_allocator(weft_domain domain, const weft_allocator *a)
{
    if ((unsigned)domain >= WEFT_DOMAIN_COUNT) {
        _weft_set_error(WEFT_EINVAL, "weft_mem_set_allocator: unknown domain %d", (int)domain);
        return -1;
    }
    if (!a || !a->malloc || !a->calloc || !a->realloc || !a->free) {
        _weft_set_error(WEFT_EINVAL, "weft_mem_set_allocator: the allocator for domain %s "
                                     "needs all four hooks", _weft_domain_name(domain));
        return -1;
    }
    domains[domain] = *a;
    bool hooked = false;
    for (int d = 0; d < WEFT_DOMAIN_COUNT; d++)
        hooked |= !is_default(&domains[d]);
    _weft_alloc_flags_set(WEFT_AF_HOOKED, hooked);
    return 0;
}

int weft_mem_set_allocator(weft_domain domain, const weft_allocator *allocator)
{
    _weft_env_init();
    return _weft_domain_set_allocator(domain, allocator);
}

void _weft_domain_get_allocator(weft_domain domain, weft_allocator *out)
{
    *out = domains[domain];
}

int weft_mem_get_allocator(weft_domain domain, weft_allocator *out)
{
    _weft_env_init();
    if ((unsigned)domain >= WEFT_DOMAIN_COUNT || !out) {
        _weft_set_error(WEFT_EINVAL, "weft_mem_get_allocator: unknown domain %d or NULL output",
                        (int)domain);
        return -1;
    }
    *out = domains[domain];
    return 0;
}

void weft_mem_default_allocator(weft_domain domain, weft_allocator *out)
{
    weft_allocator a = {(void *)(uintptr_t)DOMAIN_KIND(domain), default_malloc, default_calloc,
                        default_realloc, default_free};
    *out = a;
}

bool _weft_domain_is_default(weft_domain domain)
{
    return is_default(&domains[domain]);
}

int weft_mem_setup_debug_hooks(void)
{
    _weft_env_init();
    _weft_debug_hooks_install();
    return 0;
}

/* ---------------------------------------------------------------- slow dispatch */

static unsigned dispatch_flags(void)
{
    unsigned flags = weft_load_acquire(&_weft_alloc_flags);
    if (flags & WEFT_AF_UNREAD_ENV) {
        _weft_env_init();
        flags = weft_load_acquire(&_weft_alloc_flags);
    }
    return flags;
}

static bool inject_failure(unsigned flags, weft_domain d, size_t size)
{
    if (!(flags & WEFT_AF_FAULT) || !_weft_fault_should_fail())
        return false;
    _weft_set_error(WEFT_ENOMEM, "out of memory (injected): %zu bytes in domain %s", size,
                    _weft_domain_name(d));
    return true;
}

static void *hook_result(void *p, weft_domain d, size_t size)
{
    if (!p && weft_error() != WEFT_ENOMEM)
        _weft_set_error(WEFT_ENOMEM, "out of memory: the %s domain's allocator returned NULL "
                                     "for %zu bytes", _weft_domain_name(d), size);
    return p;
}

/* Always inlined, so that the return address is the slow dispatch's own: the
 * caller of the public entry point, which tail-calls the dispatch (the tracer
 * then needs no unwinding for one frame; it checks that the address is not
 * weft's before it trusts it). */
WEFT_INLINE void *traced(unsigned flags, void *p, size_t size, weft_domain d)
{
    if ((flags & WEFT_AF_TRACE) && p)
        _weft_trace_on_alloc_at(p, size, d, __builtin_return_address(0));
    return p;
}

static void *malloc_slow(weft_domain d, size_t size)
{
    unsigned flags = dispatch_flags();
    if (inject_failure(flags, d, size))
        return NULL;
    if (!(flags & WEFT_AF_HOOKED))
        return traced(flags, _weft_heap_alloc_kind(DOMAIN_KIND(d), size), size, d);
    return traced(flags, hook_result(domains[d].malloc(domains[d].ctx, size), d, size), size, d);
}

static bool calloc_overflows(size_t nelem, size_t elsize, size_t *total)
{
    if (!__builtin_mul_overflow(nelem, elsize, total))
        return false;
    _weft_set_error(WEFT_EOVERFLOW, "calloc: %zu elements of %zu bytes overflow size_t", nelem,
                    elsize);
    return true;
}

static void *calloc_slow(weft_domain d, size_t nelem, size_t elsize)
{
    size_t total;
    if (calloc_overflows(nelem, elsize, &total))
        return NULL;
    unsigned flags = dispatch_flags();
    if (inject_failure(flags, d, total))
        return NULL;
    if (!(flags & WEFT_AF_HOOKED))
        return traced(flags, heap_calloc(DOMAIN_KIND(d), total), total, d);
    return traced(flags, hook_result(domains[d].calloc(domains[d].ctx, nelem, elsize), d, total),
                  total, d);
}

static void *realloc_slow(weft_domain d, void *ptr, size_t size)
{
    unsigned flags = dispatch_flags();
    if (inject_failure(flags, d, size))
        return NULL;
    /* The old block's trace goes first: once realloc returns, its address
     * may already be reused by another thread. On failure it is put back as it
     * was (size and traceback). */
    weft_trace_taken taken = {.traceback = NULL};
    if ((flags & WEFT_AF_TRACE) && ptr)
        _weft_trace_on_realloc_begin(ptr, d, &taken);
    void *q = (flags & WEFT_AF_HOOKED)
                  ? hook_result(domains[d].realloc(domains[d].ctx, ptr, size), d, size)
                  : heap_realloc(DOMAIN_KIND(d), ptr, size);
    if ((flags & WEFT_AF_TRACE) && !q && ptr)
        _weft_trace_on_realloc_failed(ptr, &taken);
    return traced(flags, q, size, d);
}

static void free_slow(weft_domain d, void *ptr)
{
    unsigned flags = dispatch_flags();
    if ((flags & WEFT_AF_TRACE) && ptr)
        _weft_trace_on_free(ptr, d);
    if (!(flags & WEFT_AF_HOOKED))
        _weft_heap_free(ptr);
    else
        domains[d].free(domains[d].ctx, ptr);
}

/* ---------------------------------------------------------------- public entry points */

#define WEFT_FAST_PATH_OK() WEFT_LIKELY(weft_load_relaxed(&_weft_alloc_flags) == 0)

#define DEFINE_DOMAIN_ENTRY_POINTS(prefix, D)                                            \
    void *prefix##_malloc(size_t size)                                                   \
    {                                                                                    \
        return WEFT_FAST_PATH_OK() ? _weft_heap_alloc_kind(DOMAIN_KIND(D), size)         \
                                   : malloc_slow(D, size);                               \
    }                                                                                    \
    void *prefix##_calloc(size_t nelem, size_t elsize)                                   \
    {                                                                                    \
        size_t total;                                                                    \
        if (WEFT_FAST_PATH_OK() && !__builtin_mul_overflow(nelem, elsize, &total))       \
            return heap_calloc(DOMAIN_KIND(D), total);                                   \
        return calloc_slow(D, nelem, elsize);                                            \
    }                                                                                    \
    void *prefix##_realloc(void *ptr, size_t size)                                       \
    {                                                                                    \
        return WEFT_FAST_PATH_OK() ? heap_realloc(DOMAIN_KIND(D), ptr, size)             \
                                   : realloc_slow(D, ptr, size);                         \
    }                                                                                    \
    void prefix##_free(void *ptr)                                                        \
    {                                                                                    \
        if (WEFT_FAST_PATH_OK())                                                         \
            _weft_heap_free(ptr);                                                        \
        else                                                                             \
            free_slow(D, ptr);                                                           \
    }

DEFINE_DOMAIN_ENTRY_POINTS(weft_raw, WEFT_DOMAIN_RAW)
DEFINE_DOMAIN_ENTRY_POINTS(weft_mem, WEFT_DOMAIN_MEM)
DEFINE_DOMAIN_ENTRY_POINTS(weft_obj, WEFT_DOMAIN_OBJ)

/* The short names are the mem domain's entry points, not wrappers. */
WEFT_API void *weft_malloc(size_t size) __attribute__((alias("weft_mem_malloc")));
WEFT_API void *weft_calloc(size_t nelem, size_t elsize) __attribute__((alias("weft_mem_calloc")));
WEFT_API void *weft_realloc(void *ptr, size_t size) __attribute__((alias("weft_mem_realloc")));
WEFT_API void weft_free(void *ptr) __attribute__((alias("weft_mem_free")));

void *_weft_domain_object_alloc(size_t size, bool *pooled)
{
    unsigned flags = dispatch_flags();
    *pooled = false;
    if (inject_failure(flags, WEFT_DOMAIN_OBJ, size))
        return NULL;
    void *p;
    /* Only a hook of the obj domain itself takes objects out of the object
     * pools (a raw or mem hook must not: object.c registers exactly those). */
    if ((flags & WEFT_AF_HOOKED) && !is_default(&domains[WEFT_DOMAIN_OBJ])) {
        weft_allocator *a = &domains[WEFT_DOMAIN_OBJ];
        p = hook_result(a->calloc(a->ctx, 1, size), WEFT_DOMAIN_OBJ, size);
    } else {
        p = _weft_heap_alloc_obj(size);
        if (p)
            _weft_object_zero_body(p, size);
        *pooled = size <= WEFT_SMALL_MAX;
    }
    return traced(flags, p, size, WEFT_DOMAIN_OBJ);
}

size_t weft_usable_size(const void *ptr)
{
    return _weft_heap_usable_size(ptr);
}

weft_owner weft_pointer_owner(const void *ptr)
{
    if (!ptr)
        return WEFT_OWNER_NONE;
    return _weft_arena_map_contains(ptr) ? WEFT_OWNER_POOL : WEFT_OWNER_LARGE;
}
