/* lib/freelist.c: flushing the per-thread freelists (lib/freelist.h). */
#include "freelist.h"

void _weft_freelists_flush(weft_thread *t)
{
    _weft_heap_remote_batch_begin(); /* many may be other threads' blocks */
    for (unsigned i = 0; i < WEFT_FREELISTS; i++) {
        weft_freelist *fl = &t->freelists[i];
        while (fl->head) {
            weft_object *o = fl->head;
            _weft_block_unpoison(o, _weft_freelist_block_size(o));
            fl->head = (weft_object *)*_weft_block_link((weft_block *)o,
                                                        WEFT_LINK_OFFSET(WEFT_KIND_OBJ));
            /* It leaves the list and is counted freed in one step for a
             * reader of the live count (both are this thread's). */
            weft_store_relaxed(&fl->xn, weft_load_relaxed(&fl->xn) - 1);
            weft_counter_add_owner(&t->xfreed, 1);
            _weft_object_free_memory(o);
        }
    }
    _weft_heap_remote_batch_end();
}
