/* weft/mem.h: weft's private heap, its three allocation domains and their hooks.
 *
 * Domains, as in CPython:
 *   raw  any thread at any time, including threads unknown to weft;
 *   mem  general buffers of attached threads (list storage, strings' bytes);
 *   obj  objects.
 * All three are served by weft's allocator by default: blocks of at most
 * WEFT_SMALL_MAX bytes come from size-classed pools with per-thread caches,
 * larger ones from a private jemalloc (docs/allocator.md). A block must be
 * freed through the domain that allocated it; the debug allocator checks that.
 *
 * Every block is aligned to 16 bytes. Allocating 0 bytes returns a unique
 * pointer. On failure the allocating calls return NULL and set WEFT_ENOMEM (or
 * WEFT_EOVERFLOW for calloc/realloc size overflow); realloc then leaves the
 * old block untouched. Freeing NULL does nothing.
 *
 * The environment variable WEFT_MALLOC, read at the first allocation (or by
 * weft_mem_setup_from_env), selects:
 *   (unset) or "weft"  weft's allocator;
 *   "debug"            weft's allocator wrapped in the debug allocator;
 *   "malloc"           the system malloc for every domain (for valgrind);
 *   "malloc_debug"     the system malloc wrapped in the debug allocator.
 * WEFT_FAULT_ALLOC=N makes the Nth allocation from then on fail. */
#ifndef WEFT_MEM_H
#define WEFT_MEM_H

#include <stddef.h>
#include <weft/export.h>

WEFT_BEGIN_DECLS

#define WEFT_SMALL_MAX 512

typedef enum weft_domain {
    WEFT_DOMAIN_RAW = 0,
    WEFT_DOMAIN_MEM = 1,
    WEFT_DOMAIN_OBJ = 2
} weft_domain;
#define WEFT_DOMAIN_COUNT 3

WEFT_API void *weft_raw_malloc(size_t size);
WEFT_API void *weft_raw_calloc(size_t nelem, size_t elsize);
WEFT_API void *weft_raw_realloc(void *ptr, size_t size);
WEFT_API void weft_raw_free(void *ptr);

WEFT_API void *weft_mem_malloc(size_t size);
WEFT_API void *weft_mem_calloc(size_t nelem, size_t elsize);
WEFT_API void *weft_mem_realloc(void *ptr, size_t size);
WEFT_API void weft_mem_free(void *ptr);

WEFT_API void *weft_obj_malloc(size_t size);
WEFT_API void *weft_obj_calloc(size_t nelem, size_t elsize);
WEFT_API void *weft_obj_realloc(void *ptr, size_t size);
WEFT_API void weft_obj_free(void *ptr);

/* The mem domain under short names. */
WEFT_API void *weft_malloc(size_t size);
WEFT_API void *weft_calloc(size_t nelem, size_t elsize);
WEFT_API void *weft_realloc(void *ptr, size_t size);
WEFT_API void weft_free(void *ptr);

/* Bytes usable in a block of weft's own allocator (>= the size asked for). */
WEFT_API size_t weft_usable_size(const void *ptr);

/* Which allocator a pointer belongs to, found without reading the block. */
typedef enum weft_owner {
    WEFT_OWNER_NONE = 0,  /* NULL */
    WEFT_OWNER_POOL = 1,  /* a small block in one of weft's arenas */
    WEFT_OWNER_LARGE = 2  /* anything else: weft's large-block allocator, or foreign */
} weft_owner;
WEFT_API weft_owner weft_pointer_owner(const void *ptr);

/* A replaceable allocator, as CPython's PyMemAllocatorEx. */
typedef struct weft_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} weft_allocator;

/* The allocator in force for a domain. */
WEFT_API int weft_mem_get_allocator(weft_domain domain, weft_allocator *out);
/* Replace a domain's allocator. Call it before any block of that domain is
 * live (blocks keep the allocator that made them); returns -1 (WEFT_EINVAL)
 * for an unknown domain or an allocator with a NULL hook. */
WEFT_API int weft_mem_set_allocator(weft_domain domain, const weft_allocator *allocator);
/* Wrap every domain's current allocator in the debug allocator (idempotent). */
WEFT_API int weft_mem_setup_debug_hooks(void);
/* weft's own allocator for a domain, to chain to from a hook. */
WEFT_API void weft_mem_default_allocator(weft_domain domain, weft_allocator *out);

/* Fault injection: the nth allocation from now (1 = the next one) in any
 * domain and thread fails with WEFT_ENOMEM; 0 disarms. Returns the previous
 * setting's remaining count. */
WEFT_API long weft_fault_alloc_after(long nth);
/* How many allocations were made to fail since the process started. */
WEFT_API unsigned long weft_fault_alloc_injected(void);

/* Return the calling thread's cached empty pools and drained remote frees to
 * the shared arenas, so that empty arenas can go back to the OS. Never needed
 * for correctness; weft does this by itself at thread exit. */
WEFT_API void weft_heap_trim(void);

WEFT_END_DECLS

#endif
