/* lib/objlock.c: the contended paths of the per-object lock (objlock.h). */
#include "objlock.h"
#include "internal/futex.h"

#include <sched.h>
#include <weft/runtime.h>

#define SPINS 64

static bool try_lock(weft_object *o, uint32_t extra)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    return !(flags & WEFT_OBJ_LOCKED) &&
           atomic_compare_exchange_strong_explicit(&o->flags, &flags,
                                                   flags | WEFT_OBJ_LOCKED | extra,
                                                   memory_order_acquire, memory_order_relaxed);
}

void _weft_object_lock_slow(weft_object *o)
{
    if (weft_load_relaxed(&o->flags) & WEFT_OBJ_LOCK_BIASED)
        _weft_object_lock_revoke(o);
    for (int i = 0; i < SPINS; i++) {
        if (try_lock(o, 0))
            return;
        sched_yield();
    }
    /* Each wait is a blocking region (a stop of the world must not wait for
     * a thread asleep here), and the lock is taken only outside one: leaving
     * a region runs the thread's safepoint, whose merges can deallocate
     * (user code), and code that runs under a container's lock may take that
     * lock again (a self-deadlock) or park a stop for as long. */
    bool attached = weft_thread_is_attached();
    /* Once we have waited we take the lock with WAITERS set, since others may
     * still sleep; a spurious wake-up of them is harmless. */
    while (!try_lock(o, WEFT_OBJ_LOCK_WAITERS)) {
        uint32_t flags = weft_load_relaxed(&o->flags);
        if (!(flags & WEFT_OBJ_LOCKED))
            continue;
        if (!(flags & WEFT_OBJ_LOCK_WAITERS) &&
            !atomic_compare_exchange_strong_explicit(&o->flags, &flags,
                                                     flags | WEFT_OBJ_LOCK_WAITERS,
                                                     memory_order_relaxed, memory_order_relaxed))
            continue;
        if (attached)
            weft_blocking_begin();
        _weft_futex_wait(&o->flags, flags | WEFT_OBJ_LOCK_WAITERS, 0);
        if (attached)
            weft_blocking_end();
    }
}

void _weft_object_unlock_wake(weft_object *o)
{
    _weft_futex_wake_all(&o->flags);
}
