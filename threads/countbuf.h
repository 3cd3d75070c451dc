/* threads/countbuf.h: buffered reference counts of read-shared objects; the
 * hit paths, inline into the refcount slow paths of lib/object.c (the rest
 * and the reasoning: threads/countbuf.c). */
#ifndef WEFT_THREADS_COUNTBUF_H
#define WEFT_THREADS_COUNTBUF_H

#include "threads/thread.h"
#include "lib/object_internal.h"

#define WEFT_COUNTBUF_PIN (1 << 20) /* counts a pin adds to ref_shared */
#define WEFT_COUNTBUF_DELTA_MAX (WEFT_COUNTBUF_PIN / 4) /* a delta stays below it */

/* The calling thread's arrays (threads/thread.h: the record's countbuf and
 * countbuf_len), in TLS as well, so that a hit needs no record: NULL and 0
 * on a detached thread. */
extern WEFT_TLS int32_t *_weft_tls_counts;
extern WEFT_TLS uint32_t _weft_tls_counts_len;

/* The calling thread's entry for a buffered object: 0 if it has no pin on
 * it, else its delta + 1. NULL if the id is past the thread's array (no
 * pin either), or the thread is detached. */
static inline int32_t *_weft_countbuf_entry(uint32_t owner)
{
    uint32_t id = owner & ~WEFT_COUNTBUF_ID_BIT;
    return id < _weft_tls_counts_len ? &_weft_tls_counts[id] : NULL;
}

/* False if the references the header counts, net of pins, may be none:
 * with every other thread's delta at zero the object would be dead. Pins
 * sit above a net count below PIN / 2 (deltas are >= 0, so the net count is
 * at most the true one); only the low bits are looked at. */
static inline bool _weft_countbuf_net_positive(const weft_object *o)
{
    uint32_t count = (uint32_t)(weft_load_relaxed(&o->ref_shared) >> WEFT_SHARED_SHIFT);
    return (count & (WEFT_COUNTBUF_PIN - 1)) - 1 < WEFT_COUNTBUF_PIN / 2 - 1;
}

/* Drop the calling thread's pin (entry: its entry) on o. */
void _weft_countbuf_unpin(weft_object *o, int32_t *entry);
/* The decrements below that are not a hit on a delta above 0 (entry:
 * NULL, or the calling thread's entry). */
void _weft_countbuf_decref_unbuffered(weft_object *o, int32_t *entry);

/* A decrement of a buffered object (owner: its owner field). Every call
 * out is a tail call: the hit needs no frame, and no thread record. */
static inline void _weft_countbuf_decref(weft_object *o, uint32_t owner)
{
    uint32_t id = owner & ~WEFT_COUNTBUF_ID_BIT;
    int32_t *e = id < _weft_tls_counts_len ? &_weft_tls_counts[id] : NULL;
    if (WEFT_UNLIKELY(id >= _weft_tls_counts_len || *e <= 1)) {
        _weft_countbuf_decref_unbuffered(o, e);
        return;
    }
    /* At a delta of 0 the last reference may have gone: unpin now rather
     * than at the next flush, so that the common case dies at once. */
    if (--*e > 1 || WEFT_LIKELY(_weft_countbuf_net_positive(o)))
        return;
    _weft_countbuf_unpin(o, e);
}

/* A reference through the calling thread's pin on a buffered object, if it
 * has one with room for it (the pin keeps the object alive): false if not. */
static inline bool _weft_countbuf_take_pinned(uint32_t owner)
{
    int32_t *e = _weft_countbuf_entry(owner);
    /* A pin (> 0) with room for one more. */
    if (!e || (uint32_t)*e - 1 >= WEFT_COUNTBUF_DELTA_MAX - 1)
        return false;
    ++*e;
    return true;
}

/* The misses of the above: an increment of a buffered object the caller
 * holds a reference to, and weft_try_incref of one (may be dying, or reused). */
void _weft_countbuf_pin(weft_thread *t, weft_object *o, uint32_t owner);
int _weft_countbuf_try_pin(weft_thread *t, weft_object *o, uint32_t owner);

/* weft_try_incref for the lock-free reads of lists and dicts, which take
 * most references here: an immortal object, one of the calling thread's,
 * or a buffered one it has a pin on needs no atomic and no call. */
static inline int _weft_try_incref_inline(weft_object *o)
{
    uint32_t local = weft_load_relaxed(&o->ref_local);
    uint32_t owner = weft_load_relaxed(&o->owner);
    /* As _weft_incref_if_ours, with each field loaded once for the paths
     * below. */
    if (WEFT_LIKELY(local - 1 < WEFT_IMMORTAL_LOCAL - 2 && owner == _weft_tls_index)) {
        weft_store_relaxed(&o->ref_local, local + 1);
        return 1;
    }
    if (local == WEFT_IMMORTAL_LOCAL)
        return 1;
    /* Ours with no local count left (or one about to saturate): fail, and
     * the caller takes its locked path. */
    if (owner == _weft_tls_index)
        return 0;
    if (_weft_countbuf_is_buffered(owner) && WEFT_LIKELY(_weft_countbuf_take_pinned(owner)))
        return 1;
    return _weft_try_incref_shared(o);
}

#endif
