/* stress/rings.c: reference cycles of stress.objs, from their drop to their
 * death (workload.c has the rules that make a ring safe to break by hand).
 *
 * Without a collector a ring is broken before it is dropped. With one it is
 * dropped whole and its members' ids are kept: the members die in a
 * collection, whose clearing decrefs them from the collector's thread. With
 * biased counting an object owned by a running thread then dies at that
 * owner's next safepoint, so only the rings a thread made itself are checked
 * right after its own full collection (and a safepoint); the others are
 * checked in the end phase, when every owner is gone and merges happen on
 * their behalf at once. */
#include "worker.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rings dropped whole that the end phase checks: made by another thread,
 * dropped by threads that left, or by the end phase itself. */
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *global_rings; /* rings_lock */
static size_t nglobal_rings, capglobal_rings;

static void push_id(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        uint64_t *nv = realloc(*v, c * sizeof *nv);
        if (!nv) {
            fprintf(stderr, "weft-stress: out of memory (ring ids)\n");
            abort();
        }
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = id;
}

/* Break a ring (its one holder only; see workload.c). */
void ring_break(weft_object *head)
{
    sobj *s = (sobj *)head;
    slot_clear(&s->child); /* the ring unwinds back to head, which we still hold */
    stat_add(ST_RINGS_BROKEN, 1);
}

/* Collect the ids of a ring about to be dropped whole; none for a ring
 * with a member that resurrects (the collection then frees nothing of it:
 * what the resurrected member reaches, the whole ring, survives). */
static void ring_ids(weft_object *head, uint64_t **v, size_t *n, size_t *cap)
{
    sobj *s = (sobj *)head;
    uint32_t len = s->ring_len;
    for (uint32_t i = 0; i < len && s; i++, s = (sobj *)slot_load(&s->child))
        if (s->flags & SOBJ_RESURRECT)
            return;
    s = (sobj *)head;
    for (uint32_t i = 0; i < len && s; i++, s = (sobj *)slot_load(&s->child))
        push_id(v, n, cap, s->id);
}

/* A ring about to be dropped: break it, or (with a collector) note its
 * members' ids, in the worker's list if it made the ring, else in the end
 * phase's (w NULL: the end phase itself). */
void drop_ring(worker *w, weft_object *head)
{
    if (gc_cycles_need_breaking()) {
        ring_break(head);
    } else if (w && ((sobj *)head)->maker == w->serial) {
        rings_prune_own(w);
        ring_ids(head, &w->rings, &w->nrings, &w->caprings);
    } else {
        pthread_mutex_lock(&rings_lock);
        ring_ids(head, &global_rings, &nglobal_rings, &capglobal_rings);
        pthread_mutex_unlock(&rings_lock);
    }
}

static void check_rings(uint64_t *ids, size_t n, const char *who)
{
    for (size_t i = 0; i < n; i++) {
        if (oracle_is_resolved(ids[i]))
            continue;
        char d[160];
        oracle_describe(ids[i], d, sizeof d);
        size_t alive = 0, later = 0;
        for (size_t k = 0; k < n; k++)
            alive += !oracle_is_resolved(ids[k]);
        /* Tell a collection that returned before its work was done from one
         * that missed the garbage: look again a little later. */
        weft_blocking_begin();
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        weft_blocking_end();
        for (size_t k = 0; k < n; k++)
            later += !oracle_is_resolved(ids[k]);
        violation(
            "%s: ring member id %" PRIu64
            " (%s) is alive after weft_gc_collect(2) returned, "
            "though its ring was dropped before the call: %zu of the %zu members of the "
            "rings dropped before it were alive when it returned, %zu still are 100 ms "
            "later with no other forced collection",
            who, ids[i], d, alive, n, later);
    }
}

void rings_check_own(worker *w, size_t n)
{
    if (!n)
        return;
    check_rings(w->rings, n, "forced collection");
    memmove(w->rings, w->rings + n, (w->nrings - n) * sizeof *w->rings);
    w->nrings -= n;
}

/* Forget the ids already dead: a list of rings waiting for a collection
 * stays as long as the garbage it describes, not as the run. */
static void prune(uint64_t *ids, size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (!oracle_is_resolved(ids[i]))
            ids[kept++] = ids[i];
    *n = kept;
}

void rings_prune(void)
{
    pthread_mutex_lock(&rings_lock);
    prune(global_rings, &nglobal_rings);
    pthread_mutex_unlock(&rings_lock);
}

void rings_prune_own(worker *w)
{
    if (w->nrings >= 65536 && w->nrings >= w->caprings / 2 + w->caprings / 4)
        prune(w->rings, &w->nrings);
}

void rings_retire(worker *w)
{
    if (w->nrings) {
        pthread_mutex_lock(&rings_lock);
        for (size_t i = 0; i < w->nrings; i++)
            push_id(&global_rings, &nglobal_rings, &capglobal_rings, w->rings[i]);
        pthread_mutex_unlock(&rings_lock);
    }
    free(w->rings);
    w->rings = NULL;
    w->nrings = w->caprings = 0;
}

uint64_t workload_check_dropped_rings(unsigned show)
{
    uint64_t alive = 0;
    pthread_mutex_lock(&rings_lock);
    for (size_t i = 0; i < nglobal_rings; i++) {
        if (oracle_is_resolved(global_rings[i]))
            continue;
        if (alive++ < show)
            fprintf(stderr,
                    "weft-stress: leak: ring member id %" PRIu64
                    " survived the final full collection\n",
                    global_rings[i]);
    }
    free(global_rings);
    global_rings = NULL;
    nglobal_rings = capglobal_rings = 0;
    pthread_mutex_unlock(&rings_lock);
    return alive;
}
