/* lib/objlock.h: a per-object lock in the header's flags word, biased to
 * the object's owner (docs/containers.md, "The lock").
 *
 * Containers lock themselves for every change (no global lock). A container
 * starts *biased*: its owner thread (the one whose index is in the header's
 * owner field) locks and unlocks it with plain stores and no atomic
 * read-modify-write, the way it counts its references. The first other thread
 * that locks it *revokes* the bias, once for the object's life
 * (threads/lockbias.c): from then on every locker, owner included, takes the
 * atomic lock, whose fast path is one CAS; a contended locker spins briefly,
 * then waits on a futex on the flags word inside a blocking region, so that a
 * thread waiting for a lock never holds up a stop of the world or a merge on
 * its behalf. Other flag bits of a published object change only by atomic
 * RMW (the collector's too: a waiter keeps running through a stop), so the
 * lock's CAS keeps them.
 *
 * The biased lock is a Dekker handshake made one-sided: the owner announces
 * the object in its thread record's `xlock_held` and then reads the flags; a
 * revoker sets LOCK_REVOKING, forces a full barrier on every running thread
 * of the process (membarrier(2)), then waits until no record announces the
 * object. Either the owner's read sees LOCK_REVOKING and it backs off to the
 * atomic lock, or the revoker sees the announcement and waits for the
 * release. (ThreadSanitizer does not know membarrier: under it both sides
 * use sequentially consistent accesses, which make the same argument in the
 * C11 model, and the tests check that protocol.)
 *
 * Rules: a thread releases a lock before any decref that may run a dealloc
 * or any other user code (a type's eq runs with the dict unlocked), so it
 * holds at most one. A revoker that waits long for a section waits inside a blocking
 * region, so that it never holds up a stop of the world. The owner's unlock
 * goes by its own announcement, not by the owner field, and a revoker scans
 * every record: neither relies on the owner field staying put.
 */
#ifndef WEFT_LIB_OBJLOCK_H
#define WEFT_LIB_OBJLOCK_H

#include "internal/core.h"
#include "threads/thread.h"
#include <weft/object.h>

#define WEFT_OBJ_FOREIGN_READER (1u << 27) /* another thread read o without its lock */
#define WEFT_OBJ_LOCK_BIASED (1u << 28)   /* the owner locks with plain stores */
#define WEFT_OBJ_LOCK_REVOKING (1u << 29) /* a revocation started: owner, back off */
#define WEFT_OBJ_LOCKED (1u << 30)
#define WEFT_OBJ_LOCK_WAITERS (1u << 31)

void _weft_object_lock_slow(weft_object *o);
void _weft_object_unlock_wake(weft_object *o);
/* Make o's lock atomic for good (threads/lockbias.c); any thread. */
void _weft_object_lock_revoke(weft_object *o);
/* At the first weft_init: is the bias available (membarrier, WEFT_LOCK_BIAS)?
 * weft_lock_bias_enabled (weft/runtime.h) says. */
void _weft_lockbias_init(void);

/* A container just made by the calling thread, still unpublished: make its
 * lock biased, unless the bias does not pay here (lockbias.c). */
void _weft_object_lock_init(weft_object *o);

/* The biased lock, if t owns o and o's lock is biased: the owner's side of
 * the handshake, announce, then look. Locks do not nest (rules above); if
 * one ever did, the inner one would take the atomic lock rather than
 * overwrite the outer's announcement. */
WEFT_INLINE bool _weft_object_lock_biased(weft_thread *t, weft_object *o)
{
    if (weft_load_relaxed(&o->owner) != t->index ||
        WEFT_UNLIKELY(weft_load_relaxed(&t->xlock_held) != NULL))
        return false;
#if WEFT_TSAN
    weft_store_seq_cst(&t->xlock_held, o);
    uint32_t flags = weft_load_seq_cst(&o->flags);
#else
    weft_store_relaxed(&t->xlock_held, o);
    /* The revoker's membarrier orders this store before the load below. */
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t flags = weft_load_relaxed(&o->flags);
#endif
    if (WEFT_LIKELY((flags & (WEFT_OBJ_LOCK_BIASED | WEFT_OBJ_LOCK_REVOKING)) ==
                    WEFT_OBJ_LOCK_BIASED))
        return true;
    weft_store_relaxed(&t->xlock_held, NULL);
    return false;
}

/* The release of a biased lock t holds (_weft_object_lock_biased said yes). */
WEFT_INLINE void _weft_object_unlock_biased(weft_thread *t)
{
    /* A revoker waiting on the announcement acquires the section. */
    weft_store_release(&t->xlock_held, NULL);
}

WEFT_INLINE void _weft_object_lock(weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_LIKELY(t) && _weft_object_lock_biased(t, o))
        return;
    uint32_t flags = weft_load_relaxed(&o->flags);
    if (WEFT_LIKELY(!(flags & (WEFT_OBJ_LOCKED | WEFT_OBJ_LOCK_BIASED))) &&
        atomic_compare_exchange_weak_explicit(&o->flags, &flags, flags | WEFT_OBJ_LOCKED,
                                              memory_order_acquire, memory_order_relaxed))
        return;
    _weft_object_lock_slow(o);
}

WEFT_INLINE void _weft_object_unlock(weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_LIKELY(t && weft_load_relaxed(&t->xlock_held) == o)) {
        _weft_object_unlock_biased(t);
        return;
    }
    uint32_t old = atomic_fetch_and_explicit(&o->flags, ~(WEFT_OBJ_LOCKED | WEFT_OBJ_LOCK_WAITERS),
                                             memory_order_release);
    if (WEFT_UNLIKELY(old & WEFT_OBJ_LOCK_WAITERS))
        _weft_object_unlock_wake(o);
}

/* Storage a container replaces (a list's store; dicts do not use this yet)
 * is read by lock-free readers, so it is freed after a QSBR grace period,
 * unless no thread but the writer can be reading it: the writer holds the
 * biased lock (it is the owner, and no other thread ever locked o) and no
 * other thread ever read o without the lock. A grace period often costs a
 * system call and keeps the block from coming back hot: freeing at once
 * took list_append/weft from 16 to 6.4 ns per append (bench/run.sh).
 *
 * The handshake is on o's flags, and every change of a published object's
 * flags is an RMW (objlock above), so they form one release sequence. A reader that is not the owner
 * sets WEFT_OBJ_FOREIGN_READER (acq_rel RMW) or sees it set (acquire)
 * before it loads a storage pointer; the owner, after it unpublished the old
 * storage (a release store of the pointer), reads the flags with an acq_rel
 * RMW. If the owner's RMW comes first in the flags' modification order, the
 * reader acquires it (directly, or through the RMW of the reader that set
 * the flag) and loads the new pointer; otherwise the owner sees the flag and
 * defers the free. The flag is never cleared, and only the owner, whose own
 * reads cannot overlap its writes, reads without it. The owner field takes
 * a thread's index only from that thread (at creation) or from the
 * collector adopting unreachable objects; its other changes write 0 or a
 * buffered id, which no thread's index equals. An index is held by one
 * attached thread at a time. */
WEFT_INLINE bool _weft_object_reader_noted(weft_object *o)
{
    return weft_load_relaxed(&o->owner) == _weft_tls_index ||
           (weft_load_acquire(&o->flags) & WEFT_OBJ_FOREIGN_READER);
}

/* Before a lock-free load of o's storage pointer by any thread. */
WEFT_INLINE void _weft_object_note_reader(weft_object *o)
{
    if (!_weft_object_reader_noted(o))
        atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_FOREIGN_READER, memory_order_acq_rel);
}

/* Lock held, after the release store that replaced the storage pointer:
 * may the replaced storage be freed at once? */
WEFT_INLINE bool _weft_object_storage_private(weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (!t || weft_load_relaxed(&t->xlock_held) != o)
        return false; /* the atomic lock: the bias was revoked */
    uint32_t flags = atomic_fetch_add_explicit(&o->flags, 0, memory_order_acq_rel);
    return !(flags & WEFT_OBJ_FOREIGN_READER);
}

#endif
