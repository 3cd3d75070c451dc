/* lib/object.c: creating objects, the slow paths of biased reference counting,
 * and deallocation (docs/refcount.md).
 *
 * Invariants of ref_shared's state (object.h):
 *   NORMAL, MAYBE_WEAKREF  the owner holds ref_local; the shared count is >= 0.
 *   QUEUED                 the shared count went negative; the object sits in
 *                          its owner's merge queue, which decides its fate.
 *   MERGED                 owner == 0 and ref_local == 0: the whole count is
 *                          shared; it dies when that reaches 0.
 * An object dies exactly once, in one of four places: the owner's last local
 * decref finds ref_shared == 0 (NORMAL with no shared count: no one else can
 * hold or revive it); the owner's CAS to MERGED finds a zero count; a
 * non-owner's decrement of a MERGED count reaches 0; or a queue merge finds a
 * zero total. weft_try_incref fails on exactly the zero states these leave.
 */
#include "object_internal.h"
#include "error.h"
#include "trace.h"
#include "threads/thread.h"
#include "threads/countbuf.h"
#include "threads/qsbr.h"
#include "threads/stw.h"
#include "arena.h"
#include "heap.h"
#include "domain.h"
#include "pool.h"
#include "gc_internal.h"
#include "freelist.h"

#include <stdio.h>
#include <string.h>
#include <weft/mem.h>
#include <weft/runtime.h>
#include <weft/gc.h>

/* ---------------------------------------------------------------- misuse */

const char *_weft_type_name(const weft_object *o)
{
    const weft_type *t = o->type;
    return t && t->name ? t->name : "?";
}

__attribute__((noreturn)) static void fatal_with_trace(const weft_object *o, const char *what)
{
    char trace[2048];
    size_t n = _weft_trace_format_block(o, trace, sizeof trace);
    while (n && trace[n - 1] == '\n') /* _weft_fatal ends the line itself */
        trace[--n] = 0;
    _weft_fatal("%s: object %p of type %s%s%s", what, (const void *)o, _weft_type_name(o),
                n ? "\n" : "", n ? trace : "");
}

void _weft_refcount_underflow(const weft_object *o, const char *where)
{
    if (weft_load_relaxed(&o->ref_shared) == WEFT_SHARED_DEAD)
        fatal_with_trace(o, "decref of a freed object");
    char what[96];
    snprintf(what, sizeof what, "reference count underflow (%s)", where);
    fatal_with_trace(o, what);
}

/* ---------------------------------------------------------------- creation */

/* Zeroed memory for an object: weft's object pools, unless the obj domain is
 * hooked (then the hook, e.g. the debug allocator, serves objects too). The
 * public weft_obj_* calls allocate plain memory, never in object pools, so
 * that every block of an object pool is an object (the collector relies on
 * it). *pooled tells which. */
static void *_weft_object_alloc(size_t size, bool *pooled)
{
    if (WEFT_LIKELY(weft_load_relaxed(&_weft_alloc_flags) == 0)) {
        void *p = _weft_heap_alloc_obj(size);
        if (p)
            _weft_object_zero_body(p, size);
        *pooled = size <= WEFT_SMALL_MAX;
        return p;
    }
    return _weft_domain_object_alloc(size, pooled);
}

weft_object *_weft_object_new_slow(const weft_type *type, size_t size, bool track)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_UNLIKELY(!t)) {
        _weft_set_error(WEFT_ESTATE, "weft_new(%s): the thread is not attached",
                        type->name ? type->name : "?");
        return NULL;
    }
    if (WEFT_UNLIKELY(weft_load_relaxed(&t->xbreaker)))
        _weft_safepoint_slow(t);
    if (WEFT_UNLIKELY(_weft_pool_retired_pending()))
        _weft_qsbr_flush_retired_pools();
    _weft_quiescent_every(t, WEFT_NEW_QUIESCENT_PERIOD);
    bool pooled;
    weft_object *o = _weft_object_alloc(size, &pooled);
    if (!o)
        return NULL;
    _weft_object_init_header(o, t, type,
                             (track ? WEFT_OBJ_GC_TRACKED : 0) | (pooled ? WEFT_OBJ_POOLED : 0));
    /* The collector finds objects by walking the object pools; an object
     * outside them (too large, or allocated by a hook) is registered, tracked
     * or not (it may be tracked later). */
    if ((type->flags & WEFT_TYPE_GC) && !pooled && _weft_gc_register(o) != 0) {
        weft_obj_free(o);
        return NULL;
    }
    weft_counter_add_owner(&t->xcreated, 1);
    if (track)
        _weft_gc_young_count(1);
    return o;
}

/* weft_new's checks of a caller's type (the built-in types skip them). */
static bool type_is_valid(const weft_type *type)
{
    if (!type || type->basic_size < sizeof(weft_object)) {
        _weft_set_error(WEFT_EINVAL, "weft_new: type %s has a basic size below the header",
                        type && type->name ? type->name : "(null)");
        return false;
    }
    if ((type->flags & WEFT_TYPE_GC) && !type->traverse) {
        _weft_set_error(WEFT_EINVAL, "weft_new: GC type %s has no traverse", type->name);
        return false;
    }
    return true;
}

weft_object *weft_new(const weft_type *type)
{
    if (!type_is_valid(type))
        return NULL;
    return _weft_object_new_inline(type, type->basic_size, true, type->flags & WEFT_TYPE_GC);
}

weft_object *weft_new_var(const weft_type *type, size_t n)
{
    size_t extra, size;
    if (!type || __builtin_mul_overflow(n, type->item_size, &extra) ||
        __builtin_add_overflow(type->basic_size, extra, &size)) {
        _weft_set_error(type ? WEFT_EOVERFLOW : WEFT_EINVAL,
                        "weft_new_var: %zu items of type %s overflow", n,
                        type && type->name ? type->name : "(null)");
        return NULL;
    }
    if (!type_is_valid(type))
        return NULL;
    return _weft_object_new_inline(type, size, true, type->flags & WEFT_TYPE_GC);
}

const weft_type *weft_type_of(const weft_object *o)
{
    return o->type;
}

/* ---------------------------------------------------------------- counts */

int weft_is_immortal(const weft_object *o)
{
    return weft_load_relaxed(&o->ref_local) == WEFT_IMMORTAL_LOCAL;
}

/* Heap objects made immortal: they are never freed, so live-object counts
 * leave them out. */
static WEFT_ATOMIC(uint64_t) immortalized;

uint64_t _weft_immortalized_count(void)
{
    return weft_load_relaxed(&immortalized);
}

void _weft_make_static_immortal(weft_object *o)
{
    weft_store_relaxed(&o->ref_local, WEFT_IMMORTAL_LOCAL);
    weft_store_relaxed(&o->ref_shared, (int32_t)(WEFT_SHARED_COUNT_MAX << WEFT_SHARED_SHIFT) |
                                           WEFT_SHARED_MERGED);
}

void weft_set_immortal(weft_object *o)
{
    if (weft_exchange_acq_rel(&o->ref_local, WEFT_IMMORTAL_LOCAL) != WEFT_IMMORTAL_LOCAL)
        weft_fetch_add_relaxed(&immortalized, 1);
    weft_store_relaxed(&o->ref_shared, (int32_t)(WEFT_SHARED_COUNT_MAX << WEFT_SHARED_SHIFT) |
                                           WEFT_SHARED_MERGED);
}

long weft_refcount(const weft_object *o)
{
    long count = _weft_refcount_inline(o);
    if (_weft_countbuf_is_buffered(weft_load_relaxed(&o->owner)))
        count = _weft_countbuf_refcount(o, count);
    return count;
}

void _weft_incref_local_overflow(weft_object *o)
{
    weft_set_immortal(o); /* saturate: never freed, never wrong */
}

void _weft_incref_shared(weft_object *o)
{
    /* Acquire, as in try_incref_shared. */
    uint32_t owner = weft_load_acquire(&o->owner);
    weft_thread *t = _weft_tls_thread;
    if (_weft_countbuf_is_buffered(owner) && t) {
        if (!_weft_countbuf_take_pinned(owner))
            _weft_countbuf_pin(t, o, owner);
        return;
    }
    int32_t old = weft_fetch_add_relaxed(&o->ref_shared, 1 << WEFT_SHARED_SHIFT);
    if (WEFT_UNLIKELY((old >> WEFT_SHARED_SHIFT) >= WEFT_SHARED_COUNT_MAX - 1))
        weft_set_immortal(o);
}

void _weft_decref_nonowner(weft_object *o, uint32_t owner)
{
    if (_weft_countbuf_is_buffered(owner)) {
        _weft_countbuf_decref(o, owner); /* it checks that the thread is attached */
        return;
    }
    _weft_thread_current_or_die("weft_decref", o);
    _weft_shared_add(o, -1);
}

__attribute__((noinline)) void _weft_shared_add(weft_object *o, int32_t delta)
{
    /* A pin can outlive the object's turn to immortal (a saturated count). */
    if (WEFT_UNLIKELY(weft_load_relaxed(&o->ref_local) == WEFT_IMMORTAL_LOCAL))
        return;
    int32_t old = weft_load_relaxed(&o->ref_shared), new;
    uint32_t owner;
    bool queue;
    do {
        int32_t state = old & 3, count = old >> WEFT_SHARED_SHIFT;
        /* Read before the CAS that queues: once QUEUED is set, the owner may
         * drop its last local reference and store owner 0 (give_up_ownership),
         * but not before, as the count going negative means its local count
         * still holds references. */
        owner = weft_load_relaxed(&o->owner);
        queue = false;
        new = old + (int32_t)((uint32_t)delta << WEFT_SHARED_SHIFT);
        if (WEFT_UNLIKELY(delta > 0 && count >= WEFT_SHARED_COUNT_MAX - delta)) {
            weft_set_immortal(o); /* saturate, as _weft_incref_shared does */
            return;
        }
        if (state == WEFT_SHARED_MERGED) {
            if (count + delta < 0)
                _weft_refcount_underflow(o, "weft_decref");
        } else if (state != WEFT_SHARED_QUEUED && count + delta < 0) {
            new = (new & ~3) | WEFT_SHARED_QUEUED;
            queue = true;
        }
    } while (!weft_cas_weak_acq_rel(&o->ref_shared, &old, new));
    if (queue)
        _weft_brc_queue(o, owner);
    else if (new == WEFT_SHARED_MERGED)
        _weft_dealloc(o);
}

static inline __attribute__((always_inline)) void dealloc_on(weft_thread *t, weft_object *o);

/* The owner dropped its last local reference while others hold shared ones:
 * the object becomes ownerless (or its queue merge decides). */
static __attribute__((noinline)) void give_up_ownership(weft_object *o, int32_t shared)
{
    /* From here on this thread counts the object in the shared count too:
     * others may still hold references and hand us one. The CAS orders the
     * store against a concurrent weft_try_incref. */
    weft_store_relaxed(&o->owner, 0);
    int32_t merged;
    do {
        /* Queued (a negative count, or a request to merge it for buffered
         * counting): the queue holds it, and its merge decides. */
        if ((shared & 3) == WEFT_SHARED_QUEUED)
            return;
        merged = (shared & ~3) | WEFT_SHARED_MERGED;
    } while (!weft_cas_weak_acq_rel(&o->ref_shared, &shared, merged));
    if ((merged >> WEFT_SHARED_SHIFT) < 0)
        _weft_refcount_underflow(o, "weft_decref");
    if (merged == WEFT_SHARED_MERGED)
        _weft_dealloc(o);
}

/* A decref by a thread that is not attached, or below zero: either stops the
 * process. A call of its own, so that the caller's fast path needs no frame. */
static __attribute__((noinline, cold)) void decref_misuse(weft_object *o)
{
    _weft_thread_current_or_die("weft_decref", o);
    _weft_refcount_underflow(o, "weft_decref");
}

void _weft_decref_local_zero(weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_UNLIKELY(!t || weft_load_relaxed(&o->ref_local) == 0)) {
        decref_misuse(o);
        return;
    }
    weft_store_relaxed(&o->ref_local, 0);
    int32_t shared = weft_load_acquire(&o->ref_shared);
    if (WEFT_LIKELY(shared == 0))
        dealloc_on(t, o);
    else
        give_up_ownership(o, shared);
}

void _weft_object_mark_shareable_slow(weft_object *o)
{
    int32_t shared = weft_load_relaxed(&o->ref_shared);
    while ((shared & 3) == WEFT_SHARED_NORMAL &&
           !weft_cas_weak_acq_rel(&o->ref_shared, &shared,
                                  (shared & ~3) | WEFT_SHARED_MAYBE_WEAKREF)) {
    }
}

static int try_incref_shared(weft_object *o, weft_object *container);

int weft_try_incref(weft_object *o)
{
    if (_weft_incref_if_ours(o))
        return 1;
    if (weft_load_relaxed(&o->owner) == _weft_tls_index) {
        if (weft_load_relaxed(&o->ref_local) == 0)
            return 0; /* no local count: dead, or alive only through a merge */
        weft_incref(o); /* a count about to saturate: weft_incref makes it immortal */
        return 1;
    }
    return try_incref_shared(o, NULL);
}

/* A non-owner's try-incref. `container`: the list or dict the reference
 * comes out of (NULL if none), the reads that make an object
 * COUNTS_BUFFERED. */
static int try_incref_shared(weft_object *o, weft_object *container)
{
    /* Acquire: a buffered id seen here was stored after the death of any
     * object that had it before, whose owner field was cleared first
     * (_weft_countbuf_release_id); the pin taken below makes every later
     * read of a stale header by this thread see that. */
    uint32_t owner = weft_load_acquire(&o->owner);
    weft_thread *t = _weft_tls_thread;
    /* Before the buffered path: an object made immortal while buffered
     * (a saturated count) may be taken through a pin with no room left. */
    if (weft_load_relaxed(&o->ref_local) == WEFT_IMMORTAL_LOCAL)
        return 1;
    if (container && t)
        _weft_countbuf_note_items_read(container);
    if (_weft_countbuf_is_buffered(owner) && t)
        return _weft_countbuf_take_pinned(owner) || _weft_countbuf_try_pin(t, o, owner);
    uint32_t flags = weft_load_relaxed(&o->flags);
    int32_t shared = weft_load_relaxed(&o->ref_shared);
    for (;;) {
        /* NORMAL with no shared count: only the owner's local count could keep
         * it alive and we cannot see that; MERGED at zero: dead. */
        if (shared == 0 || shared == WEFT_SHARED_MERGED || shared == WEFT_SHARED_DEAD)
            return 0;
        /* Saturate, as _weft_incref_shared does (the count is positive:
         * the object is alive). */
        if (WEFT_UNLIKELY((shared >> WEFT_SHARED_SHIFT) >= WEFT_SHARED_COUNT_MAX - 1)) {
            weft_set_immortal(o);
            return 1;
        }
        if (weft_cas_weak_acq_rel(&o->ref_shared, &shared, shared + (1 << WEFT_SHARED_SHIFT)))
            break;
    }
    if (container && t)
        _weft_countbuf_note_shared_read(o, flags);
    return 1;
}

int _weft_try_incref_item_shared(weft_object *o, weft_object *c)
{
    return try_incref_shared(o, c);
}

/* ---------------------------------------------------------------- deallocation */

static inline __attribute__((always_inline)) void untrack_dying(weft_thread *t, weft_object *o,
                                                                uint32_t flags)
{
    /* Nobody else references a dying object: a plain load and store. */
    weft_store_relaxed(&o->flags, flags & ~WEFT_OBJ_GC_TRACKED);
    _weft_gc_young_count_on(t, -1);
    if ((flags & WEFT_OBJ_POOLED) && weft_load_relaxed(&_weft_pool_of(o)->gc_age) == 2)
        _weft_gc_old_death();
}

void _weft_object_untrack_dying(weft_object *o)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    if (flags & WEFT_OBJ_GC_TRACKED)
        untrack_dying(_weft_tls_thread, o, flags);
}

void _weft_object_free_memory(weft_object *o)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    if (flags & WEFT_OBJ_GC_REGISTERED)
        _weft_gc_unregister(o);
    if (flags & WEFT_OBJ_FROZEN)
        _weft_gc_frozen_died();
    weft_store_relaxed(&o->ref_shared, WEFT_SHARED_DEAD);
    /* A large object (outside the pools) is freed after a grace period, for
     * the same reason object pools are retired only after one. */
    bool in_pools = flags & WEFT_OBJ_POOLED;
    if (in_pools && weft_load_relaxed(&_weft_alloc_flags) == 0)
        _weft_heap_free_small_kind(o, WEFT_KIND_OBJ); /* weft_obj_free's fast path, without the call */
    else if (!in_pools && !_weft_objects_hooked())
        _weft_defer_free_with(o, weft_obj_free); /* its domain's, not mem's */
    else
        weft_obj_free(o);
}

/* The common case of the above inline: a pooled object, no hooks, tracing or
 * collector bookkeeping. */
static inline __attribute__((always_inline)) void free_memory(weft_object *o, uint32_t flags)
{
    uint32_t special = WEFT_OBJ_POOLED | WEFT_OBJ_GC_REGISTERED | WEFT_OBJ_FROZEN;
    if (WEFT_LIKELY((flags & special) == WEFT_OBJ_POOLED &&
                    weft_load_relaxed(&_weft_alloc_flags) == 0)) {
        weft_store_relaxed(&o->ref_shared, WEFT_SHARED_DEAD);
        _weft_heap_free_small_kind(o, WEFT_KIND_OBJ);
    } else {
        _weft_object_free_memory(o);
    }
}

void _weft_call_finalize(weft_object *o)
{
    weft_error_saved saved;
    _weft_error_set_aside(&saved);
    o->type->finalize(o);
    _weft_error_report_and_restore(&saved, "finalizer", o);
}

/* PEP 442: the finalizer runs once, with the object alive again: one local
 * reference (ours) and a NORMAL shared count of zero, so that references the
 * finalizer hands to other threads can only queue the object back to us, never
 * free it under us. At death ref_shared is NORMAL|0 or MERGED|0, states no
 * weft_try_incref can leave, so the plain store is safe. Returns true if the
 * finalizer resurrected the object. */
static bool run_finalizer(weft_thread *t, weft_object *o)
{
    weft_store_relaxed(&o->flags, weft_load_relaxed(&o->flags) | WEFT_OBJ_FINALIZED);
    weft_store_relaxed(&o->owner, t->index);
    weft_store_relaxed(&o->ref_local, 1);
    weft_store_release(&o->ref_shared, 0);
    _weft_call_finalize(o);
    if (weft_load_relaxed(&o->ref_local) == 1 && weft_load_acquire(&o->ref_shared) == 0) {
        weft_store_relaxed(&o->ref_local, 0);
        return false;
    }
    /* Another reference exists (or the object sits in our merge queue, whose
     * merge will free it if this was the last): it lives on, tracked again
     * if its type is a GC type; drop our reference normally. */
    if (o->type->flags & WEFT_TYPE_GC)
        weft_gc_track(o);
    weft_decref(o);
    return true;
}

static inline __attribute__((always_inline)) void dealloc_one(weft_thread *t, weft_object *o)
{
    const weft_type *type = o->type;
    if (type->finalize && !(weft_load_relaxed(&o->flags) & WEFT_OBJ_FINALIZED) &&
        run_finalizer(t, o))
        return;
    if (weft_load_relaxed(&o->flags) & WEFT_OBJ_WEAKREFS)
        _weft_weakref_clear_referent(o);
    if (type->dealloc)
        type->dealloc(o);
    uint32_t flags = weft_load_relaxed(&o->flags);
    if (_weft_freelist_push(t, o, flags))
        return;
    weft_counter_add_owner(&t->xfreed, 1);
    free_memory(o, flags);
}

/* The deaths deferred by the depth limit, run by the outermost dealloc
 * (dealloc_depth 1) on its way out. */
static __attribute__((noinline)) void dealloc_pending(weft_thread *t)
{
    weft_object *next;
    while ((next = _weft_objstack_pop(&t->dealloc_pending)) != NULL) {
        dealloc_one(t, next);
        /* The pending objects are untracked and keep what they own:
         * a collection may run now. */
        _weft_poll_stop(t);
    }
}

/* Past the depth limit, a death waits on the thread's pending stack (the
 * outermost dealloc will get to it): true if o was pushed there. */
static inline __attribute__((always_inline)) bool dealloc_deferred(weft_thread *t,
                                                                    weft_object *o)
{
    return t->dealloc_depth >= WEFT_DEALLOC_DEPTH_MAX &&
           _weft_objstack_push(&t->dealloc_pending, o);
}

/* The end of a death that ran code: the outermost one runs those deferred. */
static inline __attribute__((always_inline)) void dealloc_leave(weft_thread *t)
{
    if (t->dealloc_depth == 1 && WEFT_UNLIKELY(!_weft_objstack_is_empty(&t->dealloc_pending)))
        dealloc_pending(t);
    t->dealloc_depth--;
}

/* Deallocation that runs code (a finalizer, weakref callbacks, the type's
 * dealloc) and so may free more objects, recursively. */
static __attribute__((noinline)) void dealloc_running_code(weft_thread *t, weft_object *o)
{
    if (dealloc_deferred(t, o))
        return;
    t->dealloc_depth++;
    dealloc_one(t, o);
    dealloc_leave(t);
}

/* Free a dead object that is not to be listed. */
static inline __attribute__((always_inline)) void free_unlisted(weft_thread *t, weft_object *o,
                                                                uint32_t flags)
{
    weft_counter_add_owner(&t->xfreed, 1);
    free_memory(o, flags);
}

/* A dying tuple's items released without running code, where each is
 * immortal or ours with a local count above one: the plain decrement
 * weft_decref would make. Returns the number released: short of the size at
 * the first other item (whose release could free something, or takes an
 * atomic). */
static inline __attribute__((always_inline)) size_t tuple_release_items_quietly(weft_tuple *tu)
{
    uint32_t me = _weft_tls_index;
    size_t n = tu->size, i = 0;
    for (; i < n; i++) {
        weft_object *item = tu->items[i];
        if (!item)
            continue;
        uint32_t local = weft_load_relaxed(&item->ref_local);
        if (local == WEFT_IMMORTAL_LOCAL)
            continue;
        if (local <= 1 || weft_load_relaxed(&item->owner) != me)
            break;
        weft_store_relaxed(&item->ref_local, local - 1);
    }
    return i;
}

/* The general death of a tuple whose first `released` items were released:
 * tuple_clear releases the rest. */
static __attribute__((noinline)) void dealloc_tuple_rest(weft_thread *t, weft_object *o,
                                                         size_t released)
{
    memset(((weft_tuple *)o)->items, 0, released * sizeof(weft_object *));
    dealloc_running_code(t, o);
}

/* An untracked tuple without weakrefs (no finalizer: the type has none)
 * dies without a frame when its items all survive it. */
static __attribute__((noinline)) void dealloc_quiet_tuple(weft_thread *t, weft_object *o,
                                                          uint32_t flags)
{
    weft_tuple *tu = (weft_tuple *)o;
    size_t n = tu->size, released = tuple_release_items_quietly(tu);
    if (released < n) {
        dealloc_tuple_rest(t, o, released);
        return;
    }
    if (!_weft_freelist_push_on(_weft_freelist_of_tuple(t, n), o, flags))
        free_unlisted(t, o, flags);
}

/* The death of an object whose type has a dealloc and nothing else to run
 * (no finalizer, no weakrefs): most user containers'. dealloc_running_code
 * without the checks that cannot apply here, in the caller's frame; no listed
 * type comes here (the tuple is the one listed type with a dealloc). */
static inline __attribute__((always_inline)) void dealloc_by_type(weft_thread *t,
                                                                   weft_object *o)
{
    if (dealloc_deferred(t, o))
        return;
    t->dealloc_depth++;
    o->type->dealloc(o);
    free_unlisted(t, o, weft_load_relaxed(&o->flags));
    dealloc_leave(t);
}

static __attribute__((noinline)) void dealloc_tracked_or_running_code(weft_thread *t,
                                                                      weft_object *o)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    const weft_type *type = o->type;
    if (flags & WEFT_OBJ_GC_TRACKED) {
        untrack_dying(t, o, flags);
        flags &= ~WEFT_OBJ_GC_TRACKED;
    }
    /* A death that releases references is where a thread freeing a large
     * structure spends its time: park here if a stop waits, so that its
     * time to safepoint does not grow with the structure (docs/threads.md).
     * The collection cannot see o (untracked, no count, no weakref reaches
     * it as garbage), and what o still holds counts as held from outside. */
    _weft_poll_stop(t);
    if (type == &weft_tuple_type && !(flags & WEFT_OBJ_WEAKREFS))
        dealloc_quiet_tuple(t, o, flags);
    else if (type->finalize || (flags & WEFT_OBJ_WEAKREFS))
        dealloc_running_code(t, o);
    else if (!type->dealloc)
        free_unlisted(t, o, flags); /* a tracked leaf: no listed type is one */
    else
        dealloc_by_type(t, o);
}

/* The body of _weft_dealloc. Its common cases (an untracked object with nothing
 * to run: ints, strs; a tuple of survivors) make no call but tail calls, so
 * that they need no frame. */
static inline __attribute__((always_inline)) void dealloc_on(weft_thread *t, weft_object *o)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    const weft_type *type = o->type;
    /* The commonest death of all, first: a plain int goes to its list. The
     * int is the one leaf type with a list, so other leaves go unlisted. */
    if (type == &weft_int_type &&
        _weft_freelist_push_on(&t->freelists[WEFT_FREELIST_INT], o, flags))
        return;
    if (WEFT_LIKELY(!(flags & (WEFT_OBJ_GC_TRACKED | WEFT_OBJ_WEAKREFS)) && !type->dealloc &&
                    !type->finalize))
        free_unlisted(t, o, flags);
    else if (type == &weft_tuple_type && !(flags & (WEFT_OBJ_GC_TRACKED | WEFT_OBJ_WEAKREFS)))
        dealloc_quiet_tuple(t, o, flags);
    else
        dealloc_tracked_or_running_code(t, o);
}

void _weft_dealloc(weft_object *o)
{
    if (_weft_countbuf_is_buffered(weft_load_relaxed(&o->owner)))
        _weft_countbuf_release_id(o);
    dealloc_on(_weft_thread_current_or_die("deallocation", o), o);
}
