/* lib/trace.h: what the allocator and the rest of the library tell allocation
 * tracing (trace.c), and what they may ask it.
 *
 * The domain layer calls the hooks only while WEFT_AF_TRACE is set, so tracing
 * costs nothing when it is off: every entry point already tests the flag word.
 * The hooks may still run a little after weft_trace_stop cleared the flag (a
 * thread that read it just before); they then see that the session is over and
 * do nothing. No hook ever fails the allocation: a block the tracer cannot
 * record for lack of memory is simply not traced (nor counted). */
#ifndef WEFT_LIB_TRACE_H
#define WEFT_LIB_TRACE_H

#include "internal/core.h"
#include <weft/mem.h>

/* A block of `size` requested bytes was allocated in domain d. The stack is
 * unwound and weft's own frames skipped. */
void _weft_trace_on_alloc(void *ptr, size_t size, weft_domain d);
/* The same, from the domain layer's slow dispatch, with its return address:
 * when that lies outside weft it is frame 0, found without unwinding. */
void _weft_trace_on_alloc_at(void *ptr, size_t size, weft_domain d, const void *caller);
/* A block is about to be freed (called before the free, so that a concurrent
 * reuse of the address cannot be confused with it). Unknown pointers (made
 * before tracing started) are ignored. Until this thread's next free, the
 * block's traceback stays known to _weft_trace_format_block, so that a fatal
 * message raised inside the free can still say where the block came from. */
void _weft_trace_on_free(void *ptr, weft_domain d);

/* realloc: the old block's trace is taken out before the inner realloc (once
 * it returns, the address may already be another thread's), and put back as
 * it was, size and traceback, if the realloc fails. */
typedef struct weft_trace_taken {
    size_t size;
    const void *traceback; /* opaque; NULL: the block was not traced */
    unsigned session;
    weft_domain domain;
} weft_trace_taken;
void _weft_trace_on_realloc_begin(void *ptr, weft_domain d, weft_trace_taken *taken);
void _weft_trace_on_realloc_failed(void *ptr, const weft_trace_taken *taken);

/* Write "  allocated at:\n    file:line in function\n..." (one line a frame,
 * whole lines only) for a traced block to buf, NUL-terminated, for fatal
 * messages and leak reports; returns the length written, 0 (and "") when the
 * block is not traced or tracing is off. Takes the tracer's locks: do not call
 * it from inside an allocation hook. */
size_t _weft_trace_format_block(const void *ptr, char *buf, size_t cap);

#endif
