/* threads/countbuf.h: buffered reference counts of read-shared objects; the
 * hit paths, inline into the refcount slow paths of lib/object.c (the rest
 * and the reasoning: threads/countbuf.c). */
#ifndef WEFT_THREADS_COUNTBUF_H
#define WEFT_THREADS_COUNTBUF_H

#include "threads/thread.h"
#include "lib/object_internal.h"

#define WEFT_COUNTBUF_PIN (1 << 20) /* counts a pin adds to ref_shared */
#define WEFT_COUNTBUF_DELTA_MAX (WEFT_COUNTBUF_PIN / 4) /* a delta stays below it */

/* Ids are below this: a thread's array is reserved at this length, so that
 * an id masked with it needs no bounds test. */
#define WEFT_COUNTBUF_ID_LIMIT (1u << 20)

/* The calling thread's array (threads/thread.h: the record's countbuf), in
 * TLS as well, so that a hit needs no record; on a thread with no array
 * (detached, never attached, or no pin yet) an array of zeros nobody writes
 * (no pins: every hit test fails). */
extern WEFT_TLS int32_t *_weft_tls_counts;

/* The calling thread's entry for a buffered object: 0 if it has no pin on
 * it, else its delta + 1. The mask drops the id bit and keeps any owner
 * field, even one read from a header being reused, inside the array. */
static inline int32_t *_weft_countbuf_entry(uint32_t owner)
{
    return &_weft_tls_counts[owner & (WEFT_COUNTBUF_ID_LIMIT - 1)];
}

/* Whether the header counts references net of pins (the count modulo PIN,
 * its low bits), for a thread whose delta fell to 0 on the hit path: it
 * keeps its pin if so. At 0, with every other thread's delta at zero the
 * object would be dead: the thread unpins (and the object may die). Below 0
 * (the low bits near PIN: references taken through other threads' tables
 * were released through the header) it keeps its pin too, as those
 * threads' deltas keep the object alive; if the last of them goes by a
 * thread's own flush (its detach), the object waits for the next stop of
 * the world, as one does whose last reference goes while another thread
 * has a pin (docs/refcount.md). Testing for 0 alone takes two
 * instructions, not five, on every release that ends a reader's get. */
static inline bool _weft_countbuf_net_nonzero(const weft_object *o)
{
    const uint32_t low = (WEFT_COUNTBUF_PIN - 1) << WEFT_SHARED_SHIFT;
    return (uint32_t)weft_load_relaxed(&o->ref_shared) & low;
}

/* The exact test, for the slow path of a release through the header with
 * a pin (a handoff: a reference another thread took through its table):
 * whether the count net of pins is above 0. At or below 0 the thread
 * unpins, so that the object dies when the taker's delta goes (its detach
 * flushes it), not at the next stop. */
static inline bool _weft_countbuf_net_positive(const weft_object *o)
{
    const uint32_t one = 1u << WEFT_SHARED_SHIFT, low = (WEFT_COUNTBUF_PIN - 1) * one;
    /* Pins sit above a net count below PIN / 2: a count in [1, PIN / 2). */
    return ((uint32_t)weft_load_relaxed(&o->ref_shared) & low) - one <
           (WEFT_COUNTBUF_PIN / 2 - 1) * one;
}

/* Drop the calling thread's pin (entry: its entry) on o. */
void _weft_countbuf_unpin(weft_object *o, int32_t *entry);
/* The decrements below that are not a hit on a delta above 0 (entry: the
 * calling thread's entry, or one of the array of zeros). */
void _weft_countbuf_decref_unbuffered(weft_object *o, int32_t *entry);

/* A decrement of a buffered object (owner: its owner field). Every call
 * out is a tail call: the hit needs no frame, and no thread record. */
static inline void _weft_countbuf_decref(weft_object *o, uint32_t owner)
{
    int32_t *e = _weft_countbuf_entry(owner);
    if (WEFT_UNLIKELY(*e <= 1)) {
        _weft_countbuf_decref_unbuffered(o, e);
        return;
    }
    /* At a delta of 0 the last reference may have gone: unpin now rather
     * than at the next flush, so that the common case dies at once. */
    if (--*e > 1 || WEFT_LIKELY(_weft_countbuf_net_nonzero(o)))
        return;
    _weft_countbuf_unpin(o, e);
}

/* A reference through the calling thread's pin on a buffered object, if it
 * has one with room for it (the pin keeps the object alive): false if not. */
static inline bool _weft_countbuf_take_pinned(uint32_t owner)
{
    int32_t *e = _weft_countbuf_entry(owner);
    /* A pin (> 0) with room for one more. */
    if ((uint32_t)*e - 1 >= WEFT_COUNTBUF_DELTA_MAX - 1)
        return false;
    ++*e;
    return true;
}

/* The misses of the above: an increment of a buffered object the caller
 * holds a reference to, and weft_try_incref of one (may be dying, or reused). */
void _weft_countbuf_pin(weft_thread *t, weft_object *o, uint32_t owner);
int _weft_countbuf_try_pin(weft_thread *t, weft_object *o, uint32_t owner);

/* A thread other than c's owner took an item of c on its slow path (its
 * first references to each item take it): sets WEFT_OBJ_ITEMS_READ_SHARED
 * on c if it is not set yet (a load, then one RMW in c's life). */
void _weft_countbuf_note_items_read(weft_object *c);

/* The owner of o took a reference to it out of container c (c's owner, as
 * a rule). If other threads read c's items, this read counts as a shared
 * read too, so that o, read twice, gets buffered counts like the items they
 * read: else the owner's local count, written on every read, shares cache
 * lines with those items (two objects to a line), whose readers then miss
 * on them. Items only the owner reads are the ones this buffers: with a
 * shared dict of 1 000 values read by two threads, the ~17 that one
 * thread's 4 096 draws miss cost 13 % of the throughput before. */
void _weft_countbuf_note_owner_read(weft_object *o);
static inline bool _weft_countbuf_items_read_shared(const weft_object *c)
{
    return WEFT_UNLIKELY(weft_load_relaxed(&c->flags) & WEFT_OBJ_ITEMS_READ_SHARED);
}

/* weft_try_incref of an item of container c for the lock-free reads of
 * lists and dicts, which take most references here: an immortal object, one
 * of the calling thread's, or a buffered one it has a pin on needs no atomic
 * and no call. */
int _weft_try_incref_item_shared(weft_object *o, weft_object *c);
static inline int _weft_try_incref_item(weft_object *o, weft_object *c)
{
    uint32_t local = weft_load_relaxed(&o->ref_local);
    uint32_t owner = weft_load_relaxed(&o->owner);
    /* As _weft_incref_if_ours, with each field loaded once for the paths
     * below. */
    if (WEFT_LIKELY(_weft_local_takes_one(local) && owner == _weft_tls_index)) {
        weft_store_relaxed(&o->ref_local, local + 1);
        if (_weft_countbuf_items_read_shared(c))
            _weft_countbuf_note_owner_read(o);
        return 1;
    }
    /* A buffered id is no thread's index: one test, not the owner's again,
     * and before the immortal test (an object made immortal while buffered
     * just takes deltas nobody applies, then the slow path's answer). */
    if (_weft_countbuf_is_buffered(owner))
        return WEFT_LIKELY(_weft_countbuf_take_pinned(owner)) || _weft_try_incref_item_shared(o, c);
    if (local == WEFT_IMMORTAL_LOCAL)
        return 1;
    /* Ours with no local count left, or one in the top half: fail, and the
     * caller takes its locked path. */
    if (owner == _weft_tls_index)
        return 0;
    return _weft_try_incref_item_shared(o, c);
}

#endif
