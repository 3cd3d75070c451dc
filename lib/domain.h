/* lib/domain.h: the switch in front of weft's allocator.
 *
 * Every public allocation entry point tests one word, `_weft_alloc_flags`: zero
 * means "no hooks, no fault injection, no tracing, settings read", and the
 * call goes straight to the heap's inline fast path. Any bit sends it through
 * the slow dispatch in domain.c. */
#ifndef WEFT_LIB_DOMAIN_H
#define WEFT_LIB_DOMAIN_H

#include "internal/core.h"
#include <string.h>
#include <weft/mem.h>
#include <weft/object.h>

enum {
    WEFT_AF_UNREAD_ENV = 1u << 0, /* WEFT_MALLOC / WEFT_FAULT_ALLOC not read yet */
    /* Some domain has a non-default allocator. A bit no object flag uses:
     * the list's inline read tests it together with a list's flags. */
    WEFT_AF_HOOKED = 1u << 16,
    WEFT_AF_FAULT = 1u << 2,      /* fault injection armed */
    WEFT_AF_TRACE = 1u << 3       /* allocation tracing on */
};

extern WEFT_HIDDEN WEFT_ATOMIC(unsigned) _weft_alloc_flags;

WEFT_INLINE void _weft_alloc_flags_set(unsigned bits, bool on)
{
    if (on)
        atomic_fetch_or_explicit(&_weft_alloc_flags, bits, memory_order_acq_rel);
    else
        atomic_fetch_and_explicit(&_weft_alloc_flags, ~bits, memory_order_acq_rel);
}

/* Read the environment settings once (env.c). */
void _weft_env_init(void);
/* Fault injection (fault.c): true if this allocation is the one to fail. */
bool _weft_fault_should_fail(void);
/* The system malloc as a weft_allocator (WEFT_MALLOC=malloc). */
extern const weft_allocator _weft_system_allocator;
const char *_weft_domain_name(weft_domain domain);
/* Without reading the environment first (for env.c itself). */
int _weft_domain_set_allocator(weft_domain domain, const weft_allocator *a);
void _weft_domain_get_allocator(weft_domain domain, weft_allocator *out);
void _weft_debug_hooks_install(void);
/* Zero a new object-pool block past its header. The header of an object block
 * is only ever written atomically: a lock-free reader may still be looking at
 * the counts of the object that used the block before (pool.h, "Pool
 * kinds"); weft_new stores every header field itself. */
WEFT_INLINE void _weft_object_zero_body(void *p, size_t size)
{
    /* Small bodies (most objects) by words: a memset call costs more than
     * the stores. Blocks are 16-byte multiples and the header 24 bytes, so
     * rounding the body up to 8 bytes stays inside the block. */
    typedef uint64_t __attribute__((may_alias)) word;
    size_t body = size - sizeof(weft_object);
    word *w = (word *)((char *)p + sizeof(weft_object));
    switch ((body + 7) / 8) { /* a loop would be turned back into memset */
    case 5: w[4] = 0; /* fall through */
    case 4: w[3] = 0; /* fall through */
    case 3: w[2] = 0; /* fall through */
    case 2: w[1] = 0; /* fall through */
    case 1: w[0] = 0; /* fall through */
    case 0: return;
    default: memset(w, 0, body);
    }
}

/* Zeroed memory for a new object (object.c): an object pool block, or the
 * obj domain's hook when it has one. Fault injection and tracing apply. */
void *_weft_domain_object_alloc(size_t size, bool *pooled);
/* Does the domain use weft's own allocator (no hook)? */
bool _weft_domain_is_default(weft_domain domain);

/* Are objects outside the object pools (the obj domain is hooked)? One load
 * in the common case. */
WEFT_INLINE bool _weft_objects_hooked(void)
{
    return (weft_load_relaxed(&_weft_alloc_flags) & WEFT_AF_HOOKED) &&
           !_weft_domain_is_default(WEFT_DOMAIN_OBJ);
}
/* Is this the debug allocator's malloc hook (so setup is idempotent)? */
bool _weft_is_debug_allocator(const weft_allocator *a);

#endif
