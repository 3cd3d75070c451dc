/* lib/objstack.h: a stack of pointers in chunks, for the merge queues of
 * biased reference counting and the deferred-deallocation list.
 *
 * Chunks come from the system malloc, not from weft's domains: these stacks
 * are the runtime's own bookkeeping and must not fail by fault injection nor
 * recurse into weft's allocator. Not synchronised: the owner of the stack
 * (or its lock) serialises access. */
#ifndef WEFT_LIB_OBJSTACK_H
#define WEFT_LIB_OBJSTACK_H

#include "internal/core.h"

#define WEFT_OBJSTACK_CHUNK 254

typedef struct weft_objstack_chunk {
    struct weft_objstack_chunk *prev;
    size_t n;
    void *items[WEFT_OBJSTACK_CHUNK];
} weft_objstack_chunk;

typedef struct weft_objstack {
    weft_objstack_chunk *head; /* NULL when empty */
} weft_objstack;

/* Push; false (stack unchanged) only if a new chunk cannot be allocated. */
bool _weft_objstack_push(weft_objstack *s, void *item);
/* Pop; NULL when empty. */
void *_weft_objstack_pop(weft_objstack *s);
/* Move everything from src to dst (dst must be empty). */
void _weft_objstack_take(weft_objstack *dst, weft_objstack *src);
/* Move everything from src on top of dst (no allocation: chunks are linked;
 * a partly filled chunk may then sit below a full one, which pop allows). */
void _weft_objstack_splice(weft_objstack *dst, weft_objstack *src);
void _weft_objstack_clear(weft_objstack *s);

WEFT_INLINE bool _weft_objstack_is_empty(const weft_objstack *s)
{
    return s->head == NULL;
}

#endif
