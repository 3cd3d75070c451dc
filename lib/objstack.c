/* lib/objstack.c: chunked pointer stacks (objstack.h). An empty chunk is freed
 * as soon as it is popped empty, so an idle stack holds no memory. */
#include "objstack.h"

#include <stdlib.h>

bool _weft_objstack_push(weft_objstack *s, void *item)
{
    weft_objstack_chunk *c = s->head;
    if (!c || c->n == WEFT_OBJSTACK_CHUNK) {
        weft_objstack_chunk *fresh = malloc(sizeof *fresh);
        if (!fresh)
            return false;
        fresh->prev = c;
        fresh->n = 0;
        s->head = c = fresh;
    }
    c->items[c->n++] = item;
    return true;
}

void *_weft_objstack_pop(weft_objstack *s)
{
    weft_objstack_chunk *c = s->head;
    if (!c)
        return NULL;
    void *item = c->items[--c->n];
    if (c->n == 0) {
        s->head = c->prev;
        free(c);
    }
    return item;
}

void _weft_objstack_take(weft_objstack *dst, weft_objstack *src)
{
    WEFT_ASSERT(dst->head == NULL);
    dst->head = src->head;
    src->head = NULL;
}

void _weft_objstack_clear(weft_objstack *s)
{
    while (s->head) {
        weft_objstack_chunk *c = s->head;
        s->head = c->prev;
        free(c);
    }
}

void _weft_objstack_splice(weft_objstack *dst, weft_objstack *src)
{
    weft_objstack_chunk *bottom = src->head;
    if (!bottom)
        return;
    while (bottom->prev)
        bottom = bottom->prev;
    bottom->prev = dst->head;
    dst->head = src->head;
    src->head = NULL;
}
