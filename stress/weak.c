/* stress/weak.c: weak references, as tests and as the oracle's eyes.
 *
 * Two uses, one callback. Random weakrefs to stress.objs test weft's weakref
 * semantics: weft_weakref_get returns the referent while it lives and NULL
 * for good once its death was reported; the callback runs once per live
 * weakref, after the finalizer and before the dealloc. Watch weakrefs are how
 * the oracle sees the death of a built-in object (int, str, tuple have no
 * hook of the harness): the callback of the watch reports the death of its id.
 * The callback's argument is the referent's id.
 *
 * A watch must outlive its referent, or the death goes unseen: a thread keeps
 * its watches until their callbacks ran, and a thread that leaves hands the
 * rest to a shared orphan list that any thread sweeps. At the end every watch
 * must have fired; one that did not is a leak. */
#include "stress.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t orphans_lock = PTHREAD_MUTEX_INITIALIZER;
static wlist orphans; /* orphans_lock */

static void weak_callback(weft_object *ref, void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    weft_object *o = weft_weakref_get(ref);
    if (o)
        violation("weakref callback for id %" PRIu64
                  ": the weakref still returns its referent %p",
                  id, (void *)o);
    oracle_weak_callback(id);
}

weft_object *weak_new(weft_object *referent, uint64_t id)
{
    weft_object *ref = weft_weakref_new(referent, weak_callback, (void *)(uintptr_t)id);
    if (ref)
        stat_add(ST_NEW_WEAKREF, 1);
    return ref;
}

int wlist_push(wlist *l, weft_object *ref, uint64_t id, bool ring)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        wentry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "weft-stress: out of memory (weakref list)\n");
            abort();
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (wentry){ref, id, ring};
    return 0;
}

/* The referent's death was reported: the weakref must be cleared. */
static void check_cleared(const wentry *e)
{
    weft_object *o = weft_weakref_get(e->ref);
    if (o)
        violation("weakref to id %" PRIu64
                  " returns %p after the death of its referent was "
                  "reported",
                  e->id, (void *)o);
}

size_t wlist_sweep(wlist *l)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < l->n; i++) {
        wentry e = l->v[i];
        if (oracle_is_dead(e.id)) {
            check_cleared(&e);
            weft_decref(e.ref);
            dropped++;
        } else {
            l->v[kept++] = e;
        }
    }
    l->n = kept;
    return dropped;
}

void wlist_clear(wlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        weft_decref(l->v[i].ref);
    l->n = 0;
}

void wlist_free(wlist *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

void weak_orphan(wlist *l)
{
    pthread_mutex_lock(&orphans_lock);
    for (size_t i = 0; i < l->n; i++)
        wlist_push(&orphans, l->v[i].ref, l->v[i].id, l->v[i].ring);
    pthread_mutex_unlock(&orphans_lock);
    l->n = 0;
}

/* Take the orphans whose referent died out of the list under the lock; drop
 * them (weft calls) outside it. */
size_t weak_sweep_orphans(void)
{
    wlist dead = {0};
    pthread_mutex_lock(&orphans_lock);
    size_t kept = 0;
    for (size_t i = 0; i < orphans.n; i++) {
        if (oracle_is_dead(orphans.v[i].id))
            wlist_push(&dead, orphans.v[i].ref, orphans.v[i].id, orphans.v[i].ring);
        else
            orphans.v[kept++] = orphans.v[i];
    }
    orphans.n = kept;
    pthread_mutex_unlock(&orphans_lock);
    for (size_t i = 0; i < dead.n; i++) {
        check_cleared(&dead.v[i]);
        weft_decref(dead.v[i].ref);
    }
    size_t n = dead.n;
    wlist_free(&dead);
    return n;
}

size_t weak_orphans_fini(unsigned show)
{
    weak_sweep_orphans();
    pthread_mutex_lock(&orphans_lock);
    wlist left = orphans;
    memset(&orphans, 0, sizeof orphans);
    pthread_mutex_unlock(&orphans_lock);
    for (size_t i = 0; i < left.n; i++) {
        if (i < show)
            fprintf(stderr,
                    "weft-stress: leak: the watched object of id %" PRIu64
                    " never died (its watch weakref never fired)\n",
                    left.v[i].id);
        weft_decref(left.v[i].ref);
    }
    size_t n = left.n;
    wlist_free(&left);
    return n;
}
