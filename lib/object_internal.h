/* lib/object_internal.h: the object model's internals shared by lib/ and threads/. */
#ifndef WEFT_LIB_OBJECT_INTERNAL_H
#define WEFT_LIB_OBJECT_INTERNAL_H

#include "internal/core.h"
#include <weft/object.h>

/* Object flag (internal, next to the public WEFT_OBJ_* bits): the object's
 * memory is a block of an object pool, so its death needs no arena-map
 * lookup. Set at creation, never changed. */
#define WEFT_OBJ_POOLED (1u << 5)
/* Object flags (internal) of buffered counting (threads/countbuf.c): a
 * thread other than the owner took a reference to it out of a container;
 * every thread counts it in its own table. Hints: a lost bit costs speed,
 * never correctness, so plain stores of the flags may drop them. */
#define WEFT_OBJ_READ_SHARED (1u << 6)
#define WEFT_OBJ_COUNTS_BUFFERED (1u << 7)
/* Container flag (a hint too): another thread took one of its items without
 * its lock, so its owner's own reads of its items count as shared reads
 * (_weft_try_incref_item, _weft_countbuf_note_owner_read). */
#define WEFT_OBJ_ITEMS_READ_SHARED (1u << 8)
/* Object flag (lib/gc.c): a member of the garbage a collection holds, from
 * its listing (before the collecting thread's next safepoint, so before any
 * other stop of the world) until it dies, is resurrected or goes to
 * weft_gc_garbage(). Introspection skips it, as CPython's does the objects
 * on its unreachable list. Set and cleared with read-modify-writes. */
#define WEFT_OBJ_GC_COLLECTING (1u << 9)

/* Largest shared count before an object is made immortal instead. */
#define WEFT_SHARED_COUNT_MAX (INT32_MAX >> WEFT_SHARED_SHIFT)
/* ref_shared of a freed object: a decref of it is reported as such. */
#define WEFT_SHARED_DEAD ((int32_t)(INT32_MIN | WEFT_SHARED_MERGED))

/* NORMAL -> MAYBE_WEAKREF (other states need nothing): from then on another
 * thread's weft_try_incref on it is exact, which weakrefs and the lock-free
 * reads of containers need. Costs the owner a CAS at the object's death. */
void _weft_object_mark_shareable_slow(weft_object *o);
static inline void _weft_object_mark_shareable(weft_object *o)
{
    /* Most objects put in a container were marked before: one load. */
    if ((weft_load_relaxed(&o->ref_shared) & 3) == WEFT_SHARED_NORMAL)
        _weft_object_mark_shareable_slow(o);
}

/* weft_refcount's body, inline: the collector reads every candidate's count. */
static inline long _weft_refcount_inline(const weft_object *o)
{
    uint32_t local = weft_load_relaxed(&o->ref_local);
    if (local == WEFT_IMMORTAL_LOCAL)
        return (long)WEFT_IMMORTAL_LOCAL;
    return (long)local + (weft_load_relaxed(&o->ref_shared) >> WEFT_SHARED_SHIFT);
}

/* Add delta (may be negative) to the shared count of an object the caller
 * has a reference to or a pin on: a count that goes negative queues the
 * object to its owner, a merged count that reaches zero frees it. */
void _weft_shared_add(weft_object *o, int32_t delta);

/* Whether an owner's plain increment of this local count is safe: one sign
 * test for both ends, 0 (the owner's references are gone) and a count in
 * the top half, which keeps an immortal out and cannot saturate by one
 * more. Any other count is left to the caller's general path (where an
 * increment that would saturate makes the object immortal: weft_incref). */
static inline bool _weft_local_takes_one(uint32_t local)
{
    return (int32_t)local > 0;
}

/* A reference to an immortal object or one the calling thread owns and
 * still counts locally, taken with no atomic; false for any other. */
static inline bool _weft_incref_if_ours(weft_object *o)
{
    uint32_t local = weft_load_relaxed(&o->ref_local);
    /* The immortal test is on the way out, so that an owned object, the
     * common case, does not pay for it. */
    if (WEFT_LIKELY(_weft_local_takes_one(local) &&
                    weft_load_relaxed(&o->owner) == _weft_tls_index)) {
        weft_store_relaxed(&o->ref_local, local + 1);
        return true;
    }
    return local == WEFT_IMMORTAL_LOCAL;
}

/* The count reached zero: finalize, clear weakrefs, dealloc, free. Deep
 * chains are unwound iteratively on the calling thread. */
void _weft_dealloc(weft_object *o);
__attribute__((noreturn)) void _weft_refcount_underflow(const weft_object *o, const char *where);
const char *_weft_type_name(const weft_object *o);
/* o's type's finalize, the caller's error set aside around it; an error it
 * leaves is reported as unraisable (weft/error.h). o stays alive meanwhile. */
void _weft_call_finalize(weft_object *o);

/* The object is dying (count zero): the collector must no longer see it. */
void _weft_object_untrack_dying(weft_object *o);

/* Weak references (weakref.c): clear every weakref to a dying object and run
 * the callbacks of those that survive. */
void _weft_weakref_clear_referent(weft_object *o);
/* World stopped, o is garbage: clear its weakrefs; those that are not garbage
 * themselves and have a callback are set aside, with a reference, on the
 * collection's own stack (threads that collect for themselves can run
 * collections that overlap outside their stops) for ... */
struct weft_objstack;
void _weft_weakref_clear_for_gc(weft_object *o, struct weft_objstack *callbacks);
/* ... this, called once the world has resumed: did any run? With callbacks
 * NULL, the clear runs none (weakrefs made by finalizers, cleared after). */
bool _weft_weakref_run_gc_callbacks(struct weft_objstack *callbacks);
/* World stopped, a weakref that is garbage itself: unlinked from its
 * referent, so that no thread reaches it (the collection adopts it). */
void _weft_weakref_detach_for_gc(weft_object *weakref);
void _weft_gc_frozen_died(void);
void _weft_gc_release_garbage(void);
/* Objects whose memory the runtime allocated (weft_new): freed with this. */
void _weft_object_free_memory(weft_object *o);

/* Statically allocated objects (small ints): immortal, never counted live. */
void _weft_make_static_immortal(weft_object *o);
uint64_t _weft_immortalized_count(void);

/* Runtime (runtime.c). */
void _weft_builtin_types_init(void);

#endif
