/* lib/objlock.h: a per-object lock in two bits of the header's flags word.
 *
 * Containers lock themselves for every change (no global lock). The fast path
 * is one CAS; a contended locker spins briefly, then waits on a futex on the
 * flags word inside a blocking region, so that a thread waiting for a lock
 * never holds up a stop of the world or a merge on its behalf. Other flag
 * bits change only by atomic RMW, so the lock's CAS keeps them.
 *
 * Lock order: a thread holds at most one object lock at a time, and releases
 * it before any decref that may run a dealloc. */
#ifndef WEFT_LIB_OBJLOCK_H
#define WEFT_LIB_OBJLOCK_H

#include "internal/core.h"
#include <weft/object.h>

#define WEFT_OBJ_LOCKED (1u << 30)
#define WEFT_OBJ_LOCK_WAITERS (1u << 31)

void _weft_object_lock_slow(weft_object *o);
void _weft_object_unlock_wake(weft_object *o);

WEFT_INLINE void _weft_object_lock(weft_object *o)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    if (WEFT_LIKELY(!(flags & WEFT_OBJ_LOCKED)) &&
        atomic_compare_exchange_weak_explicit(&o->flags, &flags, flags | WEFT_OBJ_LOCKED,
                                              memory_order_acquire, memory_order_relaxed))
        return;
    _weft_object_lock_slow(o);
}

WEFT_INLINE void _weft_object_unlock(weft_object *o)
{
    uint32_t old = atomic_fetch_and_explicit(&o->flags, ~(WEFT_OBJ_LOCKED | WEFT_OBJ_LOCK_WAITERS),
                                             memory_order_release);
    if (WEFT_UNLIKELY(old & WEFT_OBJ_LOCK_WAITERS))
        _weft_object_unlock_wake(o);
}

#endif
