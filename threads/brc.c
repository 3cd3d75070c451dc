/* threads/brc.c: the merge half of biased reference counting (docs/refcount.md).
 *
 * When a non-owner decrement takes an object's shared count below zero, the
 * object is queued to its owner's record. If the owner is running (ATTACHED)
 * it merges at its next safepoint. If it is not (BLOCKED or DETACHED) the
 * queuing thread suspends the record and merges for it at once, so that a
 * queue never holds memory while its owner sleeps or is gone. An object that
 * non-owners keep reading is merged the same way to have its counts
 * buffered (countbuf.c): at the owner's next safepoint, or at once by the
 * reader if the owner is not running.
 *
 * A merge reads the owner's local count: only the owner (running) or a
 * thread holding the owner's record suspended (so the owner cannot run) may
 * merge, which is what makes that read safe.
 */
#include "thread.h"
#include "stw.h"
#include "object_internal.h"

#include <stdlib.h>

/* Records this thread is currently merging for, innermost first: a dealloc
 * during a merge may queue to the same record again, and the running loop
 * picks such objects up instead of recursing. */
typedef struct merge_frame {
    weft_thread *record;
    struct merge_frame *outer;
} merge_frame;

static __thread merge_frame *tls_merge_frames;

static bool merging_for(weft_thread *t)
{
    for (merge_frame *f = tls_merge_frames; f; f = f->outer)
        if (f->record == t)
            return true;
    return false;
}

/* Merge one object's counts, plus `extra` references the caller takes, into
 * ref_shared and give up ownership. Returns true if the total is zero (the
 * caller frees it). */
static bool merge_counts(weft_object *o, int64_t extra)
{
    int64_t local = (int64_t)weft_load_relaxed(&o->ref_local) + extra;
    int32_t shared = weft_load_relaxed(&o->ref_shared), merged;
    uint32_t owner = _weft_countbuf_owner_at_merge(o, local + (shared >> WEFT_SHARED_SHIFT));
    int64_t total;
    do {
        total = local + (shared >> WEFT_SHARED_SHIFT);
        if (total < 0)
            _weft_refcount_underflow(o, "merge");
        if (total > WEFT_SHARED_COUNT_MAX) {
            /* Never dies: a buffered owner would never give its id back. */
            weft_store_relaxed(&o->owner, 0);
            weft_set_immortal(o);
            _weft_countbuf_forget_owner(owner);
            return false;
        }
        merged = (int32_t)(total << WEFT_SHARED_SHIFT) | WEFT_SHARED_MERGED;
        /* Ownership is given up before the merged count is published (to a
         * buffered owner, if the object's counts are to be buffered). */
        weft_store_release(&o->owner, owner); /* an id: after its last holder's death */
        weft_store_relaxed(&o->ref_local, 0);
    } while (!weft_cas_weak_acq_rel(&o->ref_shared, &shared, merged));
    return total == 0;
}

void _weft_brc_adopt_and_hold(weft_object *o)
{
    /* Nobody else holds a reference, so the owner cannot be writing its
     * local count: the read below is safe with the world running.
     * Not so for a QUEUED object: the stop merged every queue, so it sits in
     * the batch of a merger that parked in the middle of it (a finalizer run
     * by the merge reached a safepoint), and that merger will merge it when
     * it resumes. Adopting it here would let it die on our side first and
     * the merger then merge a freed object; it is only held, and it dies in
     * that merge. */
    /* A MERGED one may just have been merged by that merger: acquire, and
     * only hold it, so that its owner's stale local count is never read. */
    int32_t shared = weft_load_acquire(&o->ref_shared);
    int32_t state = shared & 3;
    uint32_t local = weft_load_relaxed(&o->ref_local);
    if (state == WEFT_SHARED_QUEUED || state == WEFT_SHARED_MERGED ||
        weft_load_relaxed(&o->owner) == 0 || local == WEFT_IMMORTAL_LOCAL) {
        /* A buffered one is counted in its header again: the stop that
         * found it unreachable flushed every pin, and no thread can reach
         * it to pin it again, so the collector's counts of U are exact.
         * MERGED only: a QUEUED one's merger may be between its store of
         * a fresh id and the CAS that publishes the merge (our incref
         * below makes that CAS retry, and the retry stores the id again),
         * so an id freed here could end up in two objects. Its id stays
         * (no thread pins an unreachable object) and goes at its death. */
        if (state == WEFT_SHARED_MERGED && _weft_countbuf_is_buffered(weft_load_relaxed(&o->owner)))
            _weft_countbuf_release_id(o);
        weft_incref(o); /* one atomic add on the shared count */
        return;
    }
    int64_t total = (int64_t)local + (shared >> WEFT_SHARED_SHIFT) + 1; /* + our hold */
    if (total < 1)
        _weft_refcount_underflow(o, "collector");
    if (total >= WEFT_IMMORTAL_LOCAL - 1) {
        weft_set_immortal(o); /* saturate, as an owner's incref would */
        return;
    }
    /* The whole count becomes the calling thread's local count: the
     * collector's clears and releases are then an owner's plain decrements,
     * and U dies on its thread. No other thread can look at these fields. */
    weft_store_relaxed(&o->owner, _weft_tls_index);
    weft_store_relaxed(&o->ref_local, (uint32_t)total);
    weft_store_relaxed(&o->ref_shared, 0);
}

static void merge_object(weft_object *o)
{
    if (merge_counts(o, 0))
        _weft_dealloc(o);
}

/* Merge a batch taken from t's queue. Returns false if a stop of the world
 * was asked for first: the rest of the batch is back in t's queue (merged
 * by the stop itself), so no object is QUEUED outside a queue while the
 * world is stopped - the collection that follows sees every count merged and
 * frees what it finds before weft_gc_collect returns. Time-to-safepoint does
 * not grow with a long queue. */
static bool merge_batch(weft_thread *self, weft_thread *t, weft_objstack *batch)
{
    weft_object *o;
    while ((o = _weft_objstack_pop(batch)) != NULL) {
        merge_object(o);
        if (WEFT_UNLIKELY(weft_load_relaxed(&self->xbreaker) & WEFT_BREAK_STOP) &&
            !_weft_objstack_is_empty(batch)) {
            pthread_mutex_lock(&t->lock);
            _weft_objstack_splice(&t->merge_queue, batch);
            pthread_mutex_unlock(&t->lock);
            return false;
        }
    }
    return true;
}

/* Give back our suspension of t (t->lock held): its thread may run again
 * once no one else holds it. */
static void release_locked(weft_thread *t)
{
    if (--t->suspend_count == 0)
        pthread_cond_broadcast(&t->released);
}

/* Take the queue of t (lock held by the caller's loop) and merge it, until
 * empty. `on_behalf`: t is suspended by us and released at the end. */
static void drain(weft_thread *t, bool on_behalf)
{
    weft_thread *self = _weft_tls_thread;
    merge_frame frame = {t, tls_merge_frames};
    tls_merge_frames = &frame;
    for (;;) {
        weft_objstack batch = {NULL};
        pthread_mutex_lock(&t->lock);
        _weft_objstack_take(&batch, &t->merge_queue);
        if (_weft_objstack_is_empty(&batch)) {
            atomic_fetch_and_explicit(&t->xbreaker, ~WEFT_BREAK_MERGE, memory_order_relaxed);
            if (on_behalf)
                release_locked(t);
            pthread_mutex_unlock(&t->lock);
            break;
        }
        pthread_mutex_unlock(&t->lock);
        if (on_behalf)
            weft_fetch_add_relaxed(&t->xmerged_on_behalf, 1);
        if (!merge_batch(self, t, &batch))
            _weft_stw_park(self);
    }
    tls_merge_frames = frame.outer;
}

/* Push o on t's queue (t->lock held). */
static void push_locked(weft_thread *t, weft_object *o)
{
    if (!_weft_objstack_push(&t->merge_queue, o))
        _weft_fatal("out of memory queueing object %p to thread %u for a refcount merge",
                    (void *)o, t->index);
}

/* t is running (t->lock held): it merges at its next safepoint. */
static void ask_owner_locked(weft_thread *t)
{
    atomic_fetch_or_explicit(&t->xbreaker, WEFT_BREAK_MERGE, memory_order_release);
}

void _weft_brc_queue(weft_object *o, uint32_t owner)
{
    weft_thread *t = _weft_thread_record(owner);
    if (!t)
        _weft_fatal("object %p (type %s) has no valid owner (index %u): a freed or corrupt "
                    "object", (void *)o, _weft_type_name(o), owner);
    pthread_mutex_lock(&t->lock);
    push_locked(t, o);
    if (weft_load_seq_cst(&t->xstate) == WEFT_THREAD_ATTACHED) {
        ask_owner_locked(t);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (merging_for(t)) { /* an outer loop of ours will take it */
        pthread_mutex_unlock(&t->lock);
        return;
    }
    t->suspend_count++;
    pthread_mutex_unlock(&t->lock);
    drain(t, true);
}

/* Make a NORMAL or MAYBE_WEAKREF object QUEUED: claimed for one merge, so
 * that no other thread queues it again. False if it is not in those states. */
static bool claim_for_merge(weft_object *o)
{
    int32_t shared = weft_load_relaxed(&o->ref_shared);
    while ((shared & 3) == WEFT_SHARED_NORMAL || (shared & 3) == WEFT_SHARED_MAYBE_WEAKREF)
        if (weft_cas_weak_acq_rel(&o->ref_shared, &shared, (shared & ~3) | WEFT_SHARED_QUEUED))
            return true;
    return false;
}

/* Merge o, claimed, for t, suspended by the caller (which holds a reference
 * to o: the merge cannot find it dead), then release t. One object, not t's
 * queue: draining the queue could run deallocations inside the caller's
 * lock-free read, and a blocked owner's queue is empty anyway (it drains it
 * on its way in, and a queuer that finds it blocked drains what it adds). */
static void merge_one_on_behalf(weft_thread *t, weft_object *o)
{
    weft_fetch_add_relaxed(&t->xmerged_on_behalf, 1);
    if (merge_counts(o, 0))
        _weft_fatal("object %p (type %s) merged to a zero count while the merging thread held "
                    "a reference", (void *)o, _weft_type_name(o));
    pthread_mutex_lock(&t->lock);
    release_locked(t);
    pthread_mutex_unlock(&t->lock);
}

void _weft_brc_queue_for_buffering(weft_object *o)
{
    uint32_t owner = weft_load_relaxed(&o->owner);
    weft_thread *t = _weft_thread_record(owner);
    if (!t)
        return;
    /* The record's lock keeps its state until we are done: ATTACHED, the
     * owner merges at its next safepoint; else we hold it suspended (it
     * cannot come back and touch its local counts) and merge for it, so
     * that readers of a blocked thread's objects (a server's main thread
     * waiting in accept or join while workers read what it built) buffer
     * their counts too instead of sharing one atomic count. */
    pthread_mutex_lock(&t->lock);
    if (weft_load_relaxed(&o->owner) != owner || !claim_for_merge(o)) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    /* Seen by the merge, which reads it under or after this lock. */
    atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_COUNTS_BUFFERED, memory_order_relaxed);
    if (weft_load_relaxed(&t->xstate) == WEFT_THREAD_ATTACHED) {
        push_locked(t, o);
        ask_owner_locked(t);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    t->suspend_count++;
    pthread_mutex_unlock(&t->lock);
    merge_one_on_behalf(t, o);
}

void _weft_brc_merge_own_queue(weft_thread *t)
{
    drain(t, false);
}


void _weft_brc_merge_all_world_stopped(weft_objstack *dead)
{
    /* Every owner is parked or suspended: their local counts are stable. The
     * dead cannot be freed now (a dealloc may run user code): they are
     * untracked, so the collection skips them, and freed after the world
     * resumes. */
    _weft_countbuf_flush_all_world_stopped(dead);
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        weft_objstack batch = {NULL};
        pthread_mutex_lock(&t->lock);
        _weft_objstack_take(&batch, &t->merge_queue);
        atomic_fetch_and_explicit(&t->xbreaker, ~WEFT_BREAK_MERGE, memory_order_relaxed);
        pthread_mutex_unlock(&t->lock);
        weft_object *o;
        while ((o = _weft_objstack_pop(&batch)) != NULL)
            if (merge_counts(o, 0)) {
                _weft_object_untrack_dying(o);
                if (!_weft_objstack_push(dead, o))
                    _weft_fatal("out of memory setting aside a dead object during a collection");
            }
    }
}
