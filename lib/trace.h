/* lib/trace.h: what the allocator tells allocation tracing (trace.c).
 *
 * The domain layer calls these only while WEFT_AF_TRACE is set, so tracing
 * costs nothing when it is off: every entry point already tests the flag word. */
#ifndef WEFT_LIB_TRACE_H
#define WEFT_LIB_TRACE_H

#include "internal/core.h"
#include <weft/mem.h>

/* A block of `size` requested bytes was allocated in domain d. */
void _weft_trace_on_alloc(void *ptr, size_t size, weft_domain d);
/* A block is about to be freed (called before the free, so that a concurrent
 * reuse of the address cannot be confused with it). Unknown pointers (made
 * before tracing started) are ignored. */
void _weft_trace_on_free(void *ptr, weft_domain d);
/* Append "  allocated at:\n    file:line func\n..." for a traced block to buf
 * (for fatal messages and leak reports); returns the length written, 0 when
 * the block is not traced. */
size_t _weft_trace_format_block(const void *ptr, char *buf, size_t cap);

#endif
