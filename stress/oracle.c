/* stress/oracle.c: the exact oracle. It knows every id the harness handed
 * out and what became of it, and stops the run at the first step that
 * contradicts what weft promises.
 *
 * One 32-bit word per id:
 *
 *   bits 0-2   state   UNBORN -> ALIVE -> FREED     a tracked object
 *                      UNBORN -> UNTRACKED          made, death not observed
 *                      UNBORN | ALIVE -> VOID       never made / dropped unseen
 *   bit 3      FINALIZED    the finalizer ran (once: a second run is a violation)
 *   bit 4      RESURRECTED  the finalizer stored a new reference
 *   bit 5      WEAKCB       a weakref callback reported the death
 *   bits 6-9   kind
 *   bits 10-31 holds        references in the harness's own roots
 *
 * Every transition is a CAS on the word that first checks the rules: born
 * once; read, held, finalized and freed only while ALIVE; finalized and freed
 * only with zero holds (a death while the harness still holds the object is
 * an early free); freed once. FREED, UNTRACKED and VOID are "resolved".
 *
 * Memory: ids are numbered in chunks of CHUNK_IDS words. Each directory
 * entry counts its chunk's resolved ids; when all are resolved, the chunk is
 * retired (its entry then reads as "all resolved") and freed once no thread
 * can still be reading it. Readers announce the chunk they read in a hazard
 * slot of their own (any thread may call the oracle: weft runs finalizers,
 * deallocs and weakref callbacks on whichever thread drops the last
 * reference, or on its collector thread). So the oracle's memory follows the
 * objects alive, not the ids issued. */
#include "stress.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_SHIFT 14
#define CHUNK_IDS (1u << CHUNK_SHIFT)
#define PAGE_SHIFT 13 /* directory entries per page */
#define PAGE_ENTRIES (1u << PAGE_SHIFT)
#define TOP_PAGES (1u << 13)
#define MAX_IDS ((uint64_t)TOP_PAGES << (PAGE_SHIFT + CHUNK_SHIFT)) /* 2^40 */
#define BLOCK_IDS 64u /* ids a thread takes at a time; divides CHUNK_IDS */

enum { S_UNBORN, S_ALIVE, S_FREED, S_UNTRACKED, S_VOID };
#define STATE(w) ((w)&7u)
#define F_FINALIZED (1u << 3)
#define F_RESURRECTED (1u << 4)
#define F_WEAKCB (1u << 5)
#define KIND_SHIFT 6
#define KIND(w) (((w) >> KIND_SHIFT) & 15u)
#define HOLD_SHIFT 10
#define HOLD_ONE (1u << HOLD_SHIFT)
#define HOLDS(w) ((w) >> HOLD_SHIFT)
#define HOLD_MAX ((1u << (32 - HOLD_SHIFT)) - 1)

typedef struct chunk {
    _Atomic uint32_t w[CHUNK_IDS];
} chunk;

typedef struct entry {
    _Atomic(chunk *) ptr;      /* NULL, a chunk, or RETIRED */
    _Atomic uint32_t resolved; /* ids of the chunk resolved so far */
} entry;

#define RETIRED ((chunk *)(uintptr_t)1)

static _Atomic(entry *) top[TOP_PAGES];
static _Atomic uint64_t next_id = BLOCK_IDS; /* blocks never straddle chunks */
static uint64_t salt;
static _Atomic size_t chunks_live, pages_live;

/* ---------------------------------------------------------------- hazards */

/* A thread's announcement: "I may be reading chunk c" (c + 1; 0: none). */
typedef struct hazard {
    _Atomic uint64_t chunk;
    _Atomic bool in_use;
    struct hazard *next; /* immutable once pushed */
} __attribute__((aligned(64))) hazard;

static _Atomic(hazard *) hazards;
static __thread hazard *tls_hazard;
static pthread_key_t hazard_key;
static pthread_once_t hazard_once = PTHREAD_ONCE_INIT;

static void hazard_release(void *arg)
{
    hazard *h = arg;
    atomic_store(&h->chunk, 0);
    atomic_store(&h->in_use, false);
}

static void hazard_key_create(void)
{
    pthread_key_create(&hazard_key, hazard_release);
}

static hazard *my_hazard(void)
{
    hazard *h = tls_hazard;
    if (h)
        return h;
    pthread_once(&hazard_once, hazard_key_create);
    for (h = atomic_load(&hazards); h; h = h->next) {
        bool expected = false;
        if (!atomic_load_explicit(&h->in_use, memory_order_relaxed) &&
            atomic_compare_exchange_strong(&h->in_use, &expected, true))
            break;
    }
    if (!h) {
        h = aligned_alloc(64, sizeof *h);
        if (!h) {
            fprintf(stderr, "weft-stress: out of memory for the oracle\n");
            abort();
        }
        atomic_init(&h->chunk, 0);
        atomic_init(&h->in_use, true);
        hazard *head = atomic_load(&hazards);
        do {
            h->next = head;
        } while (!atomic_compare_exchange_weak(&hazards, &head, h));
    }
    tls_hazard = h;
    pthread_setspecific(hazard_key, h);
    return h;
}

/* ---------------------------------------------------------------- limbo */

typedef struct limbo {
    chunk *c;
    uint64_t index;
    struct limbo *next;
} limbo;

static pthread_mutex_t limbo_lock = PTHREAD_MUTEX_INITIALIZER;
static limbo *limbo_head; /* limbo_lock */

static void retire(entry *e, uint64_t index)
{
    chunk *c = atomic_exchange(&e->ptr, RETIRED);
    limbo *l = malloc(sizeof *l);
    if (!l) { /* keep it: a leak of the harness, not a wrong answer */
        return;
    }
    l->c = c;
    l->index = index;
    pthread_mutex_lock(&limbo_lock);
    l->next = limbo_head;
    limbo_head = l;
    pthread_mutex_unlock(&limbo_lock);
}

void oracle_reap(void)
{
    pthread_mutex_lock(&limbo_lock);
    limbo *list = limbo_head;
    limbo_head = NULL;
    pthread_mutex_unlock(&limbo_lock);
    limbo *keep = NULL;
    while (list) {
        limbo *l = list;
        list = l->next;
        /* The exchange in retire() precedes this scan (seq_cst): a reader
         * that announced the chunk after the scan reads RETIRED. */
        bool busy = false;
        for (hazard *h = atomic_load(&hazards); h && !busy; h = h->next)
            busy = atomic_load(&h->chunk) == l->index + 1;
        if (busy) {
            l->next = keep;
            keep = l;
        } else {
            free(l->c);
            atomic_fetch_sub_explicit(&chunks_live, 1, memory_order_relaxed);
            free(l);
        }
    }
    if (keep) {
        pthread_mutex_lock(&limbo_lock);
        limbo *tail = keep;
        while (tail->next)
            tail = tail->next;
        tail->next = limbo_head;
        limbo_head = keep;
        pthread_mutex_unlock(&limbo_lock);
    }
}

/* ---------------------------------------------------------------- the table */

static entry *entry_of(uint64_t id, bool create)
{
    uint64_t c = id >> CHUNK_SHIFT;
    _Atomic(entry *) *slot = &top[c >> PAGE_SHIFT];
    entry *page = atomic_load_explicit(slot, memory_order_acquire);
    if (!page && create) {
        entry *fresh = calloc(PAGE_ENTRIES, sizeof(entry));
        if (!fresh) {
            fprintf(stderr, "weft-stress: out of memory for the oracle\n");
            abort();
        }
        if (atomic_compare_exchange_strong(slot, &page, fresh)) {
            page = fresh;
            atomic_fetch_add_explicit(&pages_live, 1, memory_order_relaxed);
        } else {
            free(fresh);
        }
    }
    return page ? &page[c & (PAGE_ENTRIES - 1)] : NULL;
}

static void ensure_chunk(uint64_t id)
{
    entry *e = entry_of(id, true);
    chunk *c = atomic_load(&e->ptr);
    if (c)
        return;
    chunk *fresh = calloc(1, sizeof(chunk));
    if (!fresh) {
        fprintf(stderr, "weft-stress: out of memory for the oracle\n");
        abort();
    }
    if (atomic_compare_exchange_strong(&e->ptr, &c, fresh))
        atomic_fetch_add_explicit(&chunks_live, 1, memory_order_relaxed);
    else
        free(fresh);
}

/* Announce and return the word of id, or NULL if its chunk is retired (then
 * every id of it is resolved). `unpin()` when done. An id the harness never
 * issued is a violation (content that is not what the harness wrote). */
static _Atomic uint32_t *pin(uint64_t id, const char *where)
{
    if (id < BLOCK_IDS || id >= atomic_load_explicit(&next_id, memory_order_relaxed))
        violation("%s: id %" PRIu64 " was never issued (corrupt or foreign object)",
                  where, id);
    entry *e = entry_of(id, false);
    if (!e)
        violation("%s: id %" PRIu64 " has no oracle entry", where, id);
    hazard *h = my_hazard();
    atomic_store(&h->chunk, (id >> CHUNK_SHIFT) + 1);
    chunk *c = atomic_load(&e->ptr);
    if (c == RETIRED || !c) {
        atomic_store_explicit(&h->chunk, 0, memory_order_release);
        return NULL;
    }
    return &c->w[id & (CHUNK_IDS - 1)];
}

static void unpin(void)
{
    atomic_store_explicit(&tls_hazard->chunk, 0, memory_order_release);
}

static void resolve(uint64_t id)
{
    entry *e = entry_of(id, false);
    if (atomic_fetch_add(&e->resolved, 1) + 1 == CHUNK_IDS)
        retire(e, id >> CHUNK_SHIFT);
}

/* ---------------------------------------------------------------- descriptions */

static const char *state_name(uint32_t s)
{
    static const char *const names[] = {"UNBORN", "ALIVE", "FREED", "UNTRACKED", "VOID"};
    return s < 5 ? names[s] : "?";
}

const char *kind_name(unsigned kind)
{
    static const char *const names[K_COUNT] = {"none",         "stress.obj", "int",
                                               "str",          "tuple",      "small int",
                                               "interned str", "list",       "dict"};
    return kind < K_COUNT ? names[kind] : "?";
}

static const char *describe(uint32_t w, char *buf, size_t cap)
{
    snprintf(buf, cap, "state %s, kind %s, holds %u%s%s%s", state_name(STATE(w)),
             kind_name(KIND(w)), HOLDS(w), (w & F_FINALIZED) ? ", finalized" : "",
             (w & F_RESURRECTED) ? ", resurrected" : "",
             (w & F_WEAKCB) ? ", weak callback seen" : "");
    return buf;
}

/* ---------------------------------------------------------------- violations */

static atomic_int violated;

void violation(const char *fmt, ...)
{
    if (atomic_exchange(&violated, 1)) {
        for (;;) /* the first violation is being reported; it aborts */
            pause();
    }
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nweft-stress: VIOLATION: %s\n", msg);
    fprintf(stderr, "weft-stress: seed %" PRIu64 "; replay with:\n  %s\n", opt.seed,
            options_replay_command());
    fflush(stderr);
    fflush(stdout);
    signal(SIGABRT, SIG_DFL); /* the crash handler (main.c) has nothing to add */
    abort();
}

/* ---------------------------------------------------------------- public */

void oracle_init(uint64_t seed)
{
    uint64_t x = seed ^ 0x5eed0f0a11ce5ull;
    salt = splitmix64(&x);
    ensure_chunk(0);
    /* Ids below the first block are never issued (0 means "no id"). */
    chunk *first = atomic_load(&entry_of(0, false)->ptr);
    for (uint64_t id = 0; id < BLOCK_IDS; id++) {
        atomic_store(&first->w[id], S_VOID);
        resolve(id);
    }
}

uint64_t oracle_checksum(uint64_t id)
{
    return mix64(id ^ salt);
}

uint64_t oracle_new_id(idblock *b)
{
    if (b->next == b->end) {
        uint64_t start = atomic_fetch_add(&next_id, BLOCK_IDS);
        if (start + BLOCK_IDS > MAX_IDS) {
            fprintf(stderr, "weft-stress: the oracle's id space (2^40) is exhausted\n");
            abort();
        }
        ensure_chunk(start);
        b->next = start;
        b->end = start + BLOCK_IDS;
    }
    return b->next++;
}

void oracle_release_block(idblock *b)
{
    while (b->next < b->end)
        oracle_void(b->next++);
}

void oracle_born(uint64_t id, unsigned kind, bool tracked)
{
    _Atomic uint32_t *wp = pin(id, "birth");
    if (!wp)
        violation("birth of id %" PRIu64 " (%s): its chunk is already retired", id,
                  kind_name(kind));
    uint32_t w = atomic_load(wp);
    /* A tracked object is born with one hold: its creator's reference. */
    uint32_t nw = tracked ? (S_ALIVE | (kind << KIND_SHIFT) | HOLD_ONE)
                          : (S_UNTRACKED | (kind << KIND_SHIFT));
    if (STATE(w) != S_UNBORN || !atomic_compare_exchange_strong(wp, &w, nw)) {
        char d[160];
        violation("id %" PRIu64 " born twice (%s)", id, describe(w, d, sizeof d));
    }
    unpin();
    if (tracked)
        stat_add(ST_BORN_TRACKED, 1);
    else
        resolve(id);
}

void oracle_void(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "void");
    if (!wp)
        violation("void of id %" PRIu64 ": its chunk is already retired", id);
    uint32_t w = atomic_load(wp), nw;
    do {
        char d[160];
        /* ALIVE: its creator drops it before anyone else saw it. */
        if (!(STATE(w) == S_UNBORN || (STATE(w) == S_ALIVE && HOLDS(w) <= 1)))
            violation("id %" PRIu64 " abandoned in the wrong state (%s)", id,
                      describe(w, d, sizeof d));
        nw = (w & ~7u & (HOLD_ONE - 1)) | S_VOID;
    } while (!atomic_compare_exchange_weak(wp, &w, nw));
    unpin();
    if (STATE(w) == S_ALIVE)
        stat_add(ST_FREED_TRACKED, 1);
    resolve(id);
}

void oracle_check_alive(uint64_t id, const char *where)
{
    _Atomic uint32_t *wp = pin(id, where);
    if (!wp)
        violation("%s: id %" PRIu64
                  " read after its death (its chunk is retired: every id "
                  "of it is dead)",
                  where, id);
    uint32_t w = atomic_load(wp);
    unpin();
    if (STATE(w) != S_ALIVE) {
        char d[160];
        violation("%s: id %" PRIu64
                  " read while not alive (%s): an early free or a reuse",
                  where, id, describe(w, d, sizeof d));
    }
}

void oracle_hold(uint64_t id, int delta, const char *where)
{
    _Atomic uint32_t *wp = pin(id, where);
    if (!wp)
        violation("%s: hold %+d on id %" PRIu64 " after its death (chunk retired)", where,
                  delta, id);
    uint32_t w = atomic_load(wp), nw;
    do {
        char d[160];
        if (STATE(w) != S_ALIVE)
            violation("%s: hold %+d on id %" PRIu64 " that is not alive (%s)", where,
                      delta, id, describe(w, d, sizeof d));
        if ((delta < 0 && HOLDS(w) < (unsigned)-delta) ||
            (delta > 0 && HOLDS(w) + (unsigned)delta > HOLD_MAX))
            violation("%s: hold %+d on id %" PRIu64 " out of range (%s): a harness bug",
                      where, delta, id, describe(w, d, sizeof d));
        nw = w + (uint32_t)((int32_t)delta * (int32_t)HOLD_ONE);
    } while (!atomic_compare_exchange_weak(wp, &w, nw));
    unpin();
}

void oracle_finalized(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "finalize");
    if (!wp)
        violation("finalizer of id %" PRIu64 " ran after its death (chunk retired)", id);
    uint32_t w = atomic_load(wp), nw;
    do {
        char d[160];
        if (STATE(w) != S_ALIVE)
            violation("finalizer of id %" PRIu64
                      " ran on an object that is not alive (%s)",
                      id, describe(w, d, sizeof d));
        if (w & F_FINALIZED)
            violation("finalizer of id %" PRIu64 " ran twice (%s)", id,
                      describe(w, d, sizeof d));
        if (HOLDS(w))
            violation("finalizer of id %" PRIu64
                      " ran while the harness still holds it (%s): "
                      "its count reached zero early",
                      id, describe(w, d, sizeof d));
        nw = w | F_FINALIZED;
    } while (!atomic_compare_exchange_weak(wp, &w, nw));
    unpin();
    stat_add(ST_FINALIZED, 1);
}

void oracle_resurrected(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "resurrect");
    if (!wp)
        violation("resurrection of id %" PRIu64 " after its death (chunk retired)", id);
    uint32_t w = atomic_load(wp), nw;
    do {
        char d[160];
        if (STATE(w) != S_ALIVE || !(w & F_FINALIZED))
            violation("resurrection of id %" PRIu64 " outside its finalizer (%s)", id,
                      describe(w, d, sizeof d));
        nw = (w | F_RESURRECTED) + HOLD_ONE;
    } while (!atomic_compare_exchange_weak(wp, &w, nw));
    unpin();
    stat_add(ST_RESURRECTED, 1);
}

void oracle_freed(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "dealloc");
    if (!wp)
        violation("dealloc of id %" PRIu64
                  " whose every id is already dead (chunk retired): "
                  "a double free",
                  id);
    uint32_t w = atomic_load(wp), nw;
    do {
        char d[160];
        if (STATE(w) == S_FREED)
            violation("dealloc of id %" PRIu64 " twice (%s): a double free", id,
                      describe(w, d, sizeof d));
        if (STATE(w) != S_ALIVE)
            violation("dealloc of id %" PRIu64 " that is not alive (%s)", id,
                      describe(w, d, sizeof d));
        if (HOLDS(w))
            violation("dealloc of id %" PRIu64
                      " while the harness still holds it (%s): an early "
                      "free",
                      id, describe(w, d, sizeof d));
        if (KIND(w) == K_OBJ && !(w & F_FINALIZED))
            violation("dealloc of id %" PRIu64 " without its finalizer having run (%s)",
                      id, describe(w, d, sizeof d));
        nw = (w & ~7u) | S_FREED;
    } while (!atomic_compare_exchange_weak(wp, &w, nw));
    unpin();
    stat_add(ST_FREED_TRACKED, 1);
    resolve(id);
}

void oracle_weak_callback(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "weakref callback");
    if (!wp)
        violation("weakref callback for id %" PRIu64 " after its death (chunk retired)",
                  id);
    uint32_t w = atomic_load(wp), nw;
    bool death;
    do {
        char d[160];
        if (STATE(w) != S_ALIVE)
            violation("weakref callback for id %" PRIu64
                      " whose referent is not alive (%s): a "
                      "callback after the death or a second death",
                      id, describe(w, d, sizeof d));
        if (HOLDS(w))
            violation("weakref callback for id %" PRIu64
                      " while the harness still holds the "
                      "referent (%s): an early death",
                      id, describe(w, d, sizeof d));
        /* A stress.obj reports its death in dealloc. Its callbacks may come
         * after its finalizer (a death by reference counting) or before it
         * (cyclic garbage: weakrefs are cleared before finalizers run). */
        death = KIND(w) != K_OBJ;
        nw = w | F_WEAKCB;
        if (death)
            nw = (nw & ~7u) | S_FREED;
    } while (!atomic_compare_exchange_weak(wp, &w, nw));
    unpin();
    stat_add(ST_WEAK_CALLBACKS, 1);
    if (death) {
        stat_add(ST_FREED_TRACKED, 1);
        resolve(id);
    }
}

bool oracle_is_resolved(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "lookup");
    if (!wp)
        return true;
    uint32_t w = atomic_load(wp);
    unpin();
    return STATE(w) >= S_FREED;
}

const char *oracle_describe(uint64_t id, char *buf, size_t cap)
{
    _Atomic uint32_t *wp = pin(id, "describe");
    if (!wp) {
        snprintf(buf, cap, "dead (its chunk is retired)");
        return buf;
    }
    uint32_t w = atomic_load(wp);
    unpin();
    return describe(w, buf, cap);
}

bool oracle_is_dead(uint64_t id)
{
    _Atomic uint32_t *wp = pin(id, "lookup");
    if (!wp)
        return true;
    uint32_t w = atomic_load(wp);
    unpin();
    return STATE(w) == S_FREED;
}

uint64_t oracle_scan_leaks(unsigned show)
{
    uint64_t limit = atomic_load(&next_id), leaks = 0;
    for (uint64_t c = 0; (c << CHUNK_SHIFT) < limit; c++) {
        entry *e = entry_of(c << CHUNK_SHIFT, false);
        if (!e)
            continue;
        chunk *ch = atomic_load(&e->ptr);
        if (!ch || ch == RETIRED)
            continue;
        for (uint32_t i = 0; i < CHUNK_IDS; i++) {
            uint64_t id = (c << CHUNK_SHIFT) | i;
            if (id >= limit)
                break;
            uint32_t w = atomic_load(&ch->w[i]);
            if (STATE(w) >= S_FREED)
                continue;
            if (leaks++ < show) {
                char d[160];
                fprintf(stderr, "weft-stress: leak: id %" PRIu64 " never died (%s)\n", id,
                        describe(w, d, sizeof d));
            }
        }
    }
    return leaks;
}

uint64_t oracle_ids_issued(void)
{
    return atomic_load(&next_id) - BLOCK_IDS;
}

size_t oracle_bytes(void)
{
    return atomic_load(&chunks_live) * sizeof(chunk) +
           atomic_load(&pages_live) * PAGE_ENTRIES * sizeof(entry);
}

void oracle_fini(void)
{
    oracle_reap();
    for (unsigned p = 0; p < TOP_PAGES; p++) {
        entry *page = atomic_load(&top[p]);
        if (!page)
            continue;
        for (unsigned i = 0; i < PAGE_ENTRIES; i++) {
            chunk *c = atomic_load(&page[i].ptr);
            if (c && c != RETIRED)
                free(c);
        }
        free(page);
        atomic_store(&top[p], NULL);
    }
    pthread_mutex_lock(&limbo_lock);
    while (limbo_head) {
        limbo *l = limbo_head;
        limbo_head = l->next;
        free(l->c);
        free(l);
    }
    pthread_mutex_unlock(&limbo_lock);
    hazard *h = atomic_exchange(&hazards, NULL);
    /* The records of threads still running (this one) go too: nothing reads
     * the oracle after this. */
    tls_hazard = NULL;
    pthread_once(&hazard_once, hazard_key_create);
    pthread_setspecific(hazard_key, NULL);
    while (h) {
        hazard *next = h->next;
        free(h);
        h = next;
    }
}
