/* lib/freelist.c: flushing the per-thread freelists (lib/freelist.h). */
#include "freelist.h"

void _weft_freelists_flush(weft_thread *t)
{
    _weft_heap_remote_batch_begin(); /* many may be other threads' blocks */
    for (unsigned i = 0; i < WEFT_FREELISTS; i++) {
        weft_freelist *fl = &t->freelists[i];
        while (fl->head) {
            weft_object *o = _weft_freelist_take(fl, fl->head);
            /* It leaves the list and is counted freed in one step for a
             * reader of the live count (both are this thread's). */
            weft_counter_add_owner(&t->xfreed, 1);
            _weft_object_free_memory(o);
        }
    }
    _weft_heap_remote_batch_end();
}
