/* threads/countbuf.c: buffered reference counts for read-shared objects
 * (docs/refcount.md, "Objects that many threads read").
 *
 * Biased counting lets an object's owner count with plain stores, but every
 * other thread still writes the object's header: two threads that read the
 * values of one dict make the values' cache lines move between their cores on
 * nearly every get. So an object that threads other than its owner keep
 * reading out of lists and dicts (a second lock-free read by a non-owner) is
 * merged (its owner gives up its local count, at its next safepoint) and
 * given an id, kept in its owner field with WEFT_COUNTBUF_ID_BIT so that
 * every owner test fails. From then on every thread, the former owner too,
 * counts its references to it in an array of its own, indexed by the id, and
 * leaves the header alone.
 *
 * A thread's first reference to a buffered object pins it: one atomic add of
 * PIN counts to ref_shared. Its later increments and decrements change its
 * entry's delta only; unpinning adds delta - PIN. A release of a reference
 * that did not come through the thread's entry (its delta is 0) goes to the
 * header, so deltas are never negative. With d_i the delta of each thread
 * that pins the object,
 *
 *     true count = ref_shared's count - PIN * pins + sum(d_i)
 *
 * and, every delta being below PIN, ref_shared's count stays above zero while
 * any thread pins the object: it cannot die while an entry names it, and its
 * id cannot be handed out again. It dies when the last pin goes and the
 * count reaches zero, on the unpinning thread, like any release of a merged
 * count; its id is given back then.
 *
 * When pins go:
 *   - a thread whose decrement leaves its delta at 0 on an object whose count
 *     net of pins is 0 unpins it at once (the one-reader case dies at once);
 *   - at every stop of the world, the stopping thread flushes every thread's
 *     entries before the collector reads a count: counts are exact there, and
 *     an object whose last reference went while another thread still had a
 *     pin on it dies at the next stop;
 *   - while pins exist, the collector thread makes a stop that only flushes
 *     when none happened for a whole period (100 ms, or ten times the last
 *     such stop's pause: collector.c);
 *   - a detaching thread flushes its own.
 *
 * The arrays belong to their thread. The only other reader or writer is the
 * thread that stops the world, while their owner is parked at a safepoint or
 * inside a blocking region: neither is ever inside this file's functions with
 * an entry in hand (no function here keeps an entry across a call that may
 * run user code).
 */
#include "threads/countbuf.h"
#include "lib/builtins.h"
#include "lib/domain.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <weft/runtime.h>

#define PIN WEFT_COUNTBUF_PIN
/* A count past this takes the unbuffered path: pins cannot saturate it. */
#define PIN_COUNT_MAX (WEFT_SHARED_COUNT_MAX / 2)
#define ID_CHUNK 4096           /* ids per chunk of the id table */
#define ID_LIMIT WEFT_COUNTBUF_ID_LIMIT
#define ID_CHUNKS (ID_LIMIT / ID_CHUNK)

/* The entries of a thread with no array: never written (a write needs a
 * pin, which needs the thread's own array). Zero pages, never touched. */
static int32_t no_counts[ID_LIMIT];
WEFT_TLS int32_t *_weft_tls_counts = no_counts;

void _weft_countbuf_attached(weft_thread *t, bool attached)
{
    _weft_tls_counts = attached && t->countbuf ? t->countbuf : no_counts;
    t->countbuf_unreserved = false;
}

/* ---------------------------------------------------------------- ids */

/* id -> object, for flushes: set while the object is buffered and alive.
 * Chunks are allocated once and never freed; id 0 is never handed out. */
static weft_object **id_chunks[ID_CHUNKS];         /* id_lock */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *free_ids, free_ids_n, free_ids_cap; /* id_lock */
static uint32_t ids_made = 1;                        /* id_lock */
static WEFT_ATOMIC(bool) out_of_ids; /* a hint: no id was left at the last try */
static WEFT_ATOMIC(uint64_t) objects_buffered;
static bool enabled; /* written once, by _weft_countbuf_init */

void _weft_countbuf_init(void)
{
    enabled = _weft_env_flag("WEFT_COUNT_BUFFERS", 1);
}

int weft_count_buffers_enabled(void)
{
    return enabled;
}

uint64_t weft_count_buffered_objects(void)
{
    return weft_load_relaxed(&objects_buffered);
}

/* The object of a pinned id (flushes only: the lock is what orders the
 * table's writes before this read). */
static weft_object *object_of(uint32_t id)
{
    pthread_mutex_lock(&id_lock);
    weft_object *o = id_chunks[id / ID_CHUNK][id % ID_CHUNK];
    pthread_mutex_unlock(&id_lock);
    return o;
}

/* A fresh id for o, or 0 if none is left (o is then counted unbuffered). */
static uint32_t id_take(weft_object *o)
{
    if (weft_load_relaxed(&out_of_ids))
        return 0;
    uint32_t id = 0;
    pthread_mutex_lock(&id_lock);
    if (free_ids_n)
        id = free_ids[--free_ids_n];
    else if (ids_made < ID_LIMIT) {
        weft_object ***chunk = &id_chunks[ids_made / ID_CHUNK];
        if (!*chunk)
            *chunk = calloc(ID_CHUNK, sizeof **chunk);
        if (*chunk)
            id = ids_made++;
    }
    if (id)
        id_chunks[id / ID_CHUNK][id % ID_CHUNK] = o;
    else
        weft_store_relaxed(&out_of_ids, true);
    pthread_mutex_unlock(&id_lock);
    if (id)
        weft_fetch_add_relaxed(&objects_buffered, 1);
    return id;
}

static void id_give_back(uint32_t id)
{
    pthread_mutex_lock(&id_lock);
    id_chunks[id / ID_CHUNK][id % ID_CHUNK] = NULL;
    if (free_ids_n == free_ids_cap) {
        uint32_t cap = free_ids_cap ? 2 * free_ids_cap : 256;
        uint32_t *grown = realloc(free_ids, cap * sizeof *grown);
        if (grown) {
            free_ids = grown;
            free_ids_cap = cap;
        }
    }
    if (free_ids_n < free_ids_cap) { /* else the id is lost: fewer ids, never a wrong one */
        free_ids[free_ids_n++] = id;
        weft_store_relaxed(&out_of_ids, false);
    }
    pthread_mutex_unlock(&id_lock);
}

/* The object is dead: no thread has a pin on it (a pin keeps the count
 * above zero), so every thread's entry for the id is 0 and it can be
 * handed out again. */
void _weft_countbuf_release_id(weft_object *o)
{
    uint32_t id = weft_load_relaxed(&o->owner) & ~WEFT_COUNTBUF_ID_BIT;
    weft_store_relaxed(&o->owner, 0);
    id_give_back(id);
}

/* Ids go to objects whose count is below this: pins are found by rounding
 * the count to a multiple of PIN (_weft_countbuf_refcount), which needs the
 * count net of pins well inside (-PIN/2, PIN/2). */
#define ID_COUNT_MAX (PIN / 4)

uint32_t _weft_countbuf_owner_at_merge(weft_object *o, int64_t total)
{
    if (!(weft_load_relaxed(&o->flags) & WEFT_OBJ_COUNTS_BUFFERED) || total >= ID_COUNT_MAX)
        return 0;
    uint32_t id = id_take(o);
    return id ? WEFT_COUNTBUF_ID_BIT | id : 0;
}

/* An id taken and never stored in its object. */
static void id_give_back_unused(uint32_t id)
{
    id_give_back(id);
    weft_fetch_sub_relaxed(&objects_buffered, 1);
}

void _weft_countbuf_forget_owner(uint32_t owner)
{
    if (owner)
        id_give_back_unused(owner & ~WEFT_COUNTBUF_ID_BIT);
}

/* ---------------------------------------------------------------- pins */

/* A thread's arrays are reserved whole at its first pin, so that the hit
 * paths need no bounds test (countbuf.h); pages are committed as ids are
 * used, and a freed id is handed out again before a new one, so ids stay
 * below the most objects ever buffered at once: a thread that pins among a
 * few thousand of them touches a few pages.
 * Kept for the record's life, as records are. Huge pages are refused: one
 * would commit 2 MiB for the first entry. */
static void *reserve(size_t bytes)
{
    /* Failures on demand too (lib/fault.c), so that tests reach the
     * fallback: the object counted in the header. */
    if ((weft_load_relaxed(&_weft_alloc_flags) & WEFT_AF_FAULT) && _weft_fault_should_fail())
        return NULL;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return p;
}

/* The thread's entry for id (t: the calling thread's record), its arrays
 * reserved if they were not; NULL if that failed (the object is then
 * counted in the header). */
static int32_t *entry_made(weft_thread *t, uint32_t id)
{
    if (!t->countbuf) {
        /* One try per attach: a miss on every read would retry it. */
        if (t->countbuf_unreserved)
            return NULL;
        uint64_t *map = reserve(ID_LIMIT / 8);
        int32_t *counts = map ? reserve(ID_LIMIT * sizeof *counts) : NULL;
        if (!counts) {
            if (map)
                munmap(map, ID_LIMIT / 8);
            t->countbuf_unreserved = true;
            return NULL;
        }
        t->countbuf_map = map;
        t->countbuf = counts;
        _weft_countbuf_attached(t, true);
    }
    if (id >= t->countbuf_len) /* the flushes' scan goes this far */
        t->countbuf_len = (id / 64 + 1) * 64;
    return &t->countbuf[id];
}

static void pinned(weft_thread *t, uint32_t id, int32_t *e)
{
    *e = 2; /* delta 1: the reference the pin came with */
    t->countbuf_map[id / 64] |= 1ull << (id % 64);
    weft_counter_add_owner(&t->xcountbuf_pins, 1);
}

/* Whether a pin may be added to this count: merged (a pin on an owned
 * object would hide from its owner that its shared count went negative, the
 * sign that it may be dead; MERGED is final), far from saturation, and with
 * a count net of pins well inside (-PIN/2, PIN/2), so that rounding to a
 * multiple of PIN finds the pins (weft_refcount, and the release that checks
 * whether the last reference went). An object outside these is counted in
 * its header. */
static bool pinnable(int32_t shared)
{
    uint32_t count = (uint32_t)(shared >> WEFT_SHARED_SHIFT);
    uint32_t net = count & (PIN - 1);
    return (shared & 3) == WEFT_SHARED_MERGED && count <= PIN_COUNT_MAX &&
           (net < PIN / 4 || net >= PIN - PIN / 4);
}

void _weft_countbuf_pin(weft_thread *t, weft_object *o, uint32_t owner)
{
    uint32_t id = owner & (ID_LIMIT - 1);
    int32_t *e = entry_made(t, id);
    /* The caller holds a reference: the object is alive, its id stable. */
    int32_t shared = weft_load_relaxed(&o->ref_shared);
    if (e && *e == 0)
        while (pinnable(shared))
            if (weft_cas_weak_acq_rel(&o->ref_shared, &shared,
                                      shared + (PIN << WEFT_SHARED_SHIFT))) {
                pinned(t, id, e);
                return;
            }
    _weft_shared_add(o, 1); /* a delta at its maximum, no room, or not pinnable */
}

int _weft_countbuf_try_pin(weft_thread *t, weft_object *o, uint32_t owner)
{
    uint32_t id = owner & (ID_LIMIT - 1);
    int32_t *e = entry_made(t, id);
    bool may_pin = e && *e == 0;
    int32_t shared = weft_load_relaxed(&o->ref_shared);
    bool pin;
    for (;;) { /* the zero states are those weft_try_incref fails on */
        if (shared == 0 || shared == WEFT_SHARED_MERGED || shared == WEFT_SHARED_DEAD)
            return 0;
        pin = may_pin && pinnable(shared);
        /* Saturate, as _weft_incref_shared does (a pinnable count is far
         * below it). */
        if (!pin && WEFT_UNLIKELY((shared >> WEFT_SHARED_SHIFT) >= WEFT_SHARED_COUNT_MAX - 1)) {
            weft_set_immortal(o);
            return 1;
        }
        if (weft_cas_weak_acq_rel(&o->ref_shared, &shared,
                                  shared + ((pin ? PIN : 1) << WEFT_SHARED_SHIFT)))
            break;
    }
    if (!pin)
        return 1;
    /* Alive now, so its owner field is stable: still the id we read, unless
     * the memory was another object's when we read it. */
    /* Acquire: the id's previous holders' deaths (their owner fields
     * cleared) come before any later read of a stale header here. */
    if (weft_load_acquire(&o->owner) != owner) {
        _weft_shared_add(o, 1 - PIN); /* keep one plain reference */
        return 1;
    }
    pinned(t, id, e);
    return 1;
}

void _weft_countbuf_unpin(weft_object *o, int32_t *e)
{
    weft_thread *t = _weft_tls_thread;
    uint32_t id = (uint32_t)(e - t->countbuf);
    int32_t delta = *e - 1;
    /* The entry is cleared before the call: a death may run user code. */
    *e = 0;
    t->countbuf_map[id / 64] &= ~(1ull << (id % 64));
    weft_counter_add_owner(&t->xcountbuf_pins, -1);
    _weft_shared_add(o, delta - PIN);
}

void _weft_countbuf_decref_unbuffered(weft_object *o, int32_t *e)
{
    _weft_thread_current_or_die("weft_decref", o);
    /* Not a reference that came through our table: released in the header,
     * so that deltas stay >= 0. */
    bool pinned = *e != 0;
    _weft_shared_add(o, -1); /* with no pin of ours, this may free it (and run user code) */
    if (!pinned)
        return;
    /* Our pin kept it alive (the call ran no user code); our delta is 0. */
    if (!_weft_countbuf_net_positive(o))
        _weft_countbuf_unpin(o, e);
}

long _weft_countbuf_refcount(const weft_object *o, long count)
{
    if (count == (long)WEFT_IMMORTAL_LOCAL)
        return count;
    /* Pins out; the calling thread's delta in; other threads' deltas are
     * not known (exact again after a flush or a stop of the world). */
    count -= (count + PIN / 2) / PIN * PIN;
    int32_t *e = _weft_countbuf_entry(weft_load_relaxed(&o->owner));
    return count + (*e ? *e - 1 : 0);
}

bool _weft_countbuf_proven_alive(const weft_object *o)
{
    if (weft_is_immortal(o))
        return true;
    /* Merged: the whole count is in ref_shared (a dead object's state
     * rounds to a net of 0, never proven). */
    return _weft_countbuf_refcount(o, weft_load_relaxed(&o->ref_shared) >> WEFT_SHARED_SHIFT) > 0;
}

/* ---------------------------------------------------------------- flushes */

/* The next pinned id of t at or after `from`, or UINT32_MAX. */
static uint32_t next_pinned(const weft_thread *t, uint32_t from)
{
    for (uint32_t w = from / 64; w < t->countbuf_len / 64; w++) {
        uint64_t bits = t->countbuf_map[w] & (~0ull << (w == from / 64 ? from % 64 : 0));
        if (bits)
            return w * 64 + (uint32_t)__builtin_ctzll(bits);
    }
    return UINT32_MAX;
}

void _weft_countbuf_flush(weft_thread *t)
{
    /* Deaths may run user code that pins again (and moves countbuf_len):
     * everything is read afresh at each step, until no pin is left. */
    uint32_t id = 0;
    while (weft_load_relaxed(&t->xcountbuf_pins)) {
        if ((id = next_pinned(t, id)) == UINT32_MAX) {
            id = 0;
            continue;
        }
        _weft_countbuf_unpin(object_of(id), &t->countbuf[id]);
    }
}

/* With the world stopped: an entry's delta and unpin, applied for a parked or
 * blocked thread. */
static void apply_world_stopped(weft_object *o, int32_t delta, weft_objstack *dead)
{
    if (weft_is_immortal(o))
        return;
    int32_t old = weft_fetch_add_acq_rel(&o->ref_shared,
                                         (int32_t)((uint32_t)delta << WEFT_SHARED_SHIFT));
    long count = (long)(old >> WEFT_SHARED_SHIFT) + delta;
    if ((old & 3) != WEFT_SHARED_MERGED || count < 0)
        _weft_refcount_underflow(o, "buffered count flush");
    if (count == 0) {
        _weft_object_untrack_dying(o);
        if (!_weft_objstack_push(dead, o))
            _weft_fatal("out of memory setting aside a dead object during a collection");
    }
}

void _weft_countbuf_flush_all_world_stopped(weft_objstack *dead)
{
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        for (uint32_t id = 0;
             weft_load_relaxed(&t->xcountbuf_pins) && (id = next_pinned(t, id)) != UINT32_MAX;
             id++) {
            int32_t delta = t->countbuf[id] - 1;
            t->countbuf[id] = 0;
            t->countbuf_map[id / 64] &= ~(1ull << (id % 64));
            weft_counter_add_owner(&t->xcountbuf_pins, -1); /* its thread is parked */
            apply_world_stopped(object_of(id), delta - PIN, dead);
        }
    }
}

bool _weft_countbuf_pins_outstanding(void)
{
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++)
        if (weft_load_relaxed(&_weft_thread_record(i)->xcountbuf_pins))
            return true;
    return false;
}

/* ---------------------------------------------------------------- marking */

void _weft_countbuf_note_shared_read(weft_object *o, uint32_t flags)
{
    if (!enabled)
        return;
    if (!(flags & WEFT_OBJ_READ_SHARED)) {
        atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_READ_SHARED, memory_order_relaxed);
        return;
    }
    /* An owned object is merged first, which gives it an id
     * (_weft_countbuf_owner_at_merge): by its owner at its next safepoint,
     * or here, on its behalf, if the owner is blocked or gone. */
    int32_t state = weft_load_relaxed(&o->ref_shared) & 3;
    if (state != WEFT_SHARED_MERGED) {
        /* Queued: its merge comes anyway. Out of ids: the merge would give
         * none, and only cost the owner its local count. */
        if (state != WEFT_SHARED_QUEUED && !weft_load_relaxed(&out_of_ids))
            _weft_brc_queue_for_buffering(o);
        return;
    }
    /* A merged object (no owner counts in the header) takes its id now. */
    uint32_t expected = 0, id;
    if (weft_load_relaxed(&o->owner) != 0 ||
        weft_load_relaxed(&o->ref_shared) >> WEFT_SHARED_SHIFT >= ID_COUNT_MAX ||
        !(id = id_take(o)))
        return;
    /* Release: the id's table entry, before the id is seen. */
    if (!atomic_compare_exchange_strong_explicit(&o->owner, &expected, WEFT_COUNTBUF_ID_BIT | id,
                                                 memory_order_release, memory_order_relaxed))
        id_give_back_unused(id);
}

void _weft_countbuf_note_items_read(weft_object *c)
{
    /* The owner's own reads of other threads' items do not count. */
    if (enabled && weft_load_relaxed(&c->owner) != _weft_tls_index &&
        !(weft_load_relaxed(&c->flags) & WEFT_OBJ_ITEMS_READ_SHARED))
        atomic_fetch_or_explicit(&c->flags, WEFT_OBJ_ITEMS_READ_SHARED, memory_order_relaxed);
}

void _weft_countbuf_note_owner_read(weft_object *o)
{
    /* The caller just counted a reference in o's local count: o is the
     * calling thread's, and neither immortal nor buffered. */
    _weft_countbuf_note_shared_read(o, weft_load_relaxed(&o->flags));
}
