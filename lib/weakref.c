/* lib/weakref.c: weak references and their side-table registry.
 *
 * Registry: liburcu's lock-free hash table maps a referent's address to an
 * entry holding the list of weakrefs to it; objects carry only the
 * WEFT_OBJ_WEAKREFS flag. Every change to an entry, its list, or a weakref's
 * referent pointer holds the stripe lock of the referent's address, so a
 * referent's death (which clears under that lock) and weft_weakref_get (which
 * takes a reference under it) are ordered. Entries are freed after a QSBR
 * grace period, as the table requires.
 *
 * Referents and weakrefs are both put in the MAYBE_WEAKREF shared state, in
 * which weft_try_incref is exact: it fails only on a dead object. A
 * referent whose counts are buffered is the exception (its death may wait
 * for the next stop of the world): weft_weakref_get settles it with a stop
 * when its header cannot (referent_incref_locked).
 */
#include "builtins.h"
#include "error.h"
#include "object_internal.h"
#include "objstack.h"
#include "gc_internal.h"
#include "threads/thread.h"

#include <pthread.h>
#include <stdlib.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <weft/runtime.h>

#define STRIPES 64

typedef struct weakref_entry {
    struct cds_lfht_node node;
    weft_object *referent;
    weft_weakref *head; /* stripe lock */
    struct rcu_head rcu;
} weakref_entry;

static struct cds_lfht *registry;
static pthread_mutex_t stripes[STRIPES];

static uint64_t address_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static pthread_mutex_t *stripe_of(const void *referent)
{
    return &stripes[address_hash(referent) % STRIPES];
}

static int entry_match(struct cds_lfht_node *node, const void *key)
{
    return caa_container_of(node, weakref_entry, node)->referent == key;
}

static weakref_entry *lookup_locked(weft_object *referent)
{
    struct cds_lfht_iter iter;
    cds_lfht_lookup(registry, address_hash(referent), entry_match, referent, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    return node ? caa_container_of(node, weakref_entry, node) : NULL;
}

/* TSan cannot see that call_rcu orders the free after every use: the
 * remover releases the entry, the callback acquires it. */
static void free_entry(struct rcu_head *head)
{
    weakref_entry *e = caa_container_of(head, weakref_entry, rcu);
    WEFT_TSAN_ACQUIRE(e);
    free(e);
}

static void remove_entry_locked(weakref_entry *e)
{
    cds_lfht_del(registry, &e->node);
    WEFT_TSAN_RELEASE(e);
    urcu_qsbr_call_rcu(&e->rcu, free_entry);
}

void _weft_weakref_init(void)
{
    if (registry)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
    registry = cds_lfht_new_flavor(256, 256, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                   &urcu_qsbr_flavor, NULL);
    if (!registry)
        _weft_fatal("cannot create the weakref registry");
}

static void unlink_locked(weakref_entry *e, weft_weakref *r)
{
    /* A weakref made after its referent became immortal was never linked. */
    if (!r->prev && e->head != r)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        e->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

/* Unlink r from its referent's list: from then on no thread reaches r
 * through the referent. */
static void weakref_detach(weft_weakref *r)
{
    weft_object *referent = weft_load_acquire(&r->referent);
    if (!referent)
        return;
    pthread_mutex_t *lock = stripe_of(referent);
    pthread_mutex_lock(lock);
    if (weft_load_relaxed(&r->referent) == referent) {
        weakref_entry *e = lookup_locked(referent);
        if (e)
            unlink_locked(e, r);
        weft_store_relaxed(&r->referent, NULL);
    }
    pthread_mutex_unlock(lock);
}

static void weakref_dealloc(weft_object *self)
{
    weakref_detach((weft_weakref *)self);
}

/* A weakref holds no strong reference; it is tracked so that a collection
 * can tell one that is garbage itself (held only by garbage), whose
 * callback must not run (CPython's rule). */
static int weakref_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}

static void weakref_clear(weft_object *self)
{
    weft_weakref *r = (weft_weakref *)self;
    weakref_detach(r);
    r->callback = NULL; /* detached: no thread reads it any more */
}

const weft_type weft_weakref_type = {
    .name = "weakref",
    .basic_size = sizeof(weft_weakref),
    .flags = WEFT_TYPE_GC,
    .traverse = weakref_traverse,
    .clear = weakref_clear,
    .dealloc = weakref_dealloc,
};

void _weft_weakref_detach_for_gc(weft_object *weakref)
{
    weakref_detach((weft_weakref *)weakref);
}

int weft_is_weakref(const weft_object *o)
{
    return o && o->type == &weft_weakref_type;
}

weft_object *weft_weakref_new(weft_object *obj, weft_weakref_callback callback, void *arg)
{
    if (!obj) {
        _weft_set_error(WEFT_EINVAL, "weft_weakref_new: NULL referent");
        return NULL;
    }
    weft_object *self = weft_new(&weft_weakref_type);
    if (!self)
        return NULL;
    weft_weakref *r = (weft_weakref *)self;
    r->callback = callback;
    r->callback_arg = arg;
    _weft_object_mark_shareable(self);
    if (weft_is_immortal(obj)) { /* never dies: nothing to register */
        weft_store_relaxed(&r->referent, obj);
        return self;
    }
    _weft_object_mark_shareable(obj);
    atomic_fetch_or_explicit(&obj->flags, WEFT_OBJ_WEAKREFS, memory_order_relaxed);

    pthread_mutex_t *lock = stripe_of(obj);
    pthread_mutex_lock(lock);
    weakref_entry *e = lookup_locked(obj);
    if (!e) {
        e = malloc(sizeof *e);
        if (!e) {
            pthread_mutex_unlock(lock);
            weft_decref(self);
            _weft_set_error(WEFT_ENOMEM, "weft_weakref_new: out of memory");
            return NULL;
        }
        cds_lfht_node_init(&e->node);
        e->referent = obj;
        e->head = NULL;
        cds_lfht_add(registry, address_hash(obj), &e->node);
    }
    r->next = e->head;
    r->prev = NULL;
    if (e->head)
        e->head->prev = r;
    e->head = r;
    weft_store_release(&r->referent, obj);
    pthread_mutex_unlock(lock);
    return self;
}

/* A reference to a referent whose stripe lock is held: 1, or 0 if it is
 * dead; -1 if only a flush can tell. A buffered object (threads/countbuf.c)
 * whose last reference went while another thread keeps a pin on it lives
 * until the next stop of the world, and its count in the header does not
 * say so: handing it out would revive an object that a single thread would
 * have seen die (CPython's weakref returns None there). A thread that may
 * not stop the world (inside a blocking region, where it should not touch
 * objects at all) gets weft_try_incref's answer. */
static int referent_incref_locked(weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (_weft_countbuf_is_buffered(weft_load_relaxed(&o->owner)) && t && !t->blocking_depth &&
        !_weft_countbuf_proven_alive(o))
        return -1;
    return weft_try_incref(o);
}

typedef struct flushed_get {
    weft_weakref *r;
    weft_object *referent;
    int alive;
} flushed_get;

/* With the world stopped and every count exact (no thread parks holding a
 * stripe lock: no code under one reaches a safepoint). A referent whose
 * count the flush took to zero is set aside to die once the world runs,
 * its weakrefs still set: try_incref fails on its count. */
static void incref_world_stopped(void *arg)
{
    flushed_get *g = arg;
    pthread_mutex_t *lock = stripe_of(g->referent);
    pthread_mutex_lock(lock);
    g->alive = weft_load_relaxed(&g->r->referent) == g->referent && weft_try_incref(g->referent);
    pthread_mutex_unlock(lock);
}

/* referent_incref_locked's -1, settled by a stop of the world that flushes
 * every thread's buffered counts: rare, as the header proves a buffered
 * object alive whenever a reference to it was taken before it was buffered
 * (a container's) or by the calling thread. */
static int referent_incref_flushed(weft_weakref *r, weft_object *referent)
{
    flushed_get g = {r, referent, 0};
    _weft_gc_with_world_stopped(incref_world_stopped, &g);
    return g.alive;
}

weft_object *weft_weakref_get(weft_object *self)
{
    if (!weft_is_weakref(self)) {
        _weft_set_error(WEFT_EINVAL, "weft_weakref_get: %s is not a weakref",
                        self ? _weft_type_name(self) : "NULL");
        return NULL;
    }
    weft_weakref *r = (weft_weakref *)self;
    weft_object *referent = weft_load_acquire(&r->referent);
    if (!referent)
        return NULL;
    if (weft_is_immortal(referent))
        return referent;
    pthread_mutex_t *lock = stripe_of(referent);
    pthread_mutex_lock(lock);
    /* Under the lock a referent still set is not yet past its clearing step,
     * so its memory is valid; try_incref decides whether it is alive. */
    int alive = weft_load_relaxed(&r->referent) == referent ? referent_incref_locked(referent) : 0;
    pthread_mutex_unlock(lock);
    if (alive < 0)
        alive = referent_incref_flushed(r, referent);
    return alive ? referent : NULL;
}

size_t weft_weakref_count(weft_object *obj)
{
    if (!obj) {
        _weft_set_error(WEFT_EINVAL, "weft_weakref_count: NULL");
        return 0;
    }
    if (!(weft_load_relaxed(&obj->flags) & WEFT_OBJ_WEAKREFS))
        return 0;
    pthread_mutex_t *lock = stripe_of(obj);
    pthread_mutex_lock(lock);
    size_t n = 0;
    weakref_entry *e = lookup_locked(obj);
    for (weft_weakref *r = e ? e->head : NULL; r; r = r->next)
        n++;
    pthread_mutex_unlock(lock);
    return n;
}

/* Clear every weakref to o and set aside, with a reference, those whose
 * callback must run: live weakrefs with a callback, except (for a collection)
 * weakrefs that are garbage themselves; none if callbacks is NULL. A dying
 * weakref is skipped: its dealloc waits for the stripe lock, then finds
 * itself cleared. */
static void clear_weakrefs_to(weft_object *o, weft_objstack *callbacks, bool in_collection)
{
    pthread_mutex_t *lock = stripe_of(o);
    pthread_mutex_lock(lock);
    weakref_entry *e = lookup_locked(o);
    if (e) {
        for (weft_weakref *r = e->head, *next; r; r = next) {
            next = r->next;
            r->next = r->prev = NULL;
            weft_store_release(&r->referent, NULL);
            if (!r->callback || !callbacks)
                continue;
            if (in_collection) {
                gc_slot *slot = _weft_gc_slot_of(&r->ob);
                if (slot && slot->state == GC_SLOT_CANDIDATE)
                    continue;
            }
            if (weft_try_incref(&r->ob) && !_weft_objstack_push(callbacks, r))
                weft_decref(&r->ob);
        }
        e->head = NULL;
        remove_entry_locked(e);
    }
    atomic_fetch_and_explicit(&o->flags, ~WEFT_OBJ_WEAKREFS, memory_order_relaxed);
    pthread_mutex_unlock(lock);
}

static void run_callbacks(weft_objstack *callbacks)
{
    weft_weakref *r;
    while ((r = _weft_objstack_pop(callbacks)) != NULL) {
        weft_error_saved saved;
        _weft_error_set_aside(&saved);
        r->callback(&r->ob, r->callback_arg);
        _weft_error_report_and_restore(&saved, "weakref callback", &r->ob);
        weft_decref(&r->ob);
    }
}

void _weft_weakref_clear_referent(weft_object *o)
{
    weft_objstack callbacks = {NULL};
    clear_weakrefs_to(o, &callbacks, false);
    run_callbacks(&callbacks);
}

void _weft_weakref_clear_for_gc(weft_object *o, weft_objstack *callbacks)
{
    clear_weakrefs_to(o, callbacks, true);
}

bool _weft_weakref_run_gc_callbacks(weft_objstack *callbacks)
{
    bool any = !_weft_objstack_is_empty(callbacks);
    run_callbacks(callbacks);
    return any;
}
