/* stress/stress.h: the pieces of weft-stress and how they fit.
 *
 * weft-stress runs N worker threads (plus weft's collector, where there is
 * one) through a seeded random mix of object operations, and checks every
 * step against an exact oracle. Glossary:
 *
 *   id        a 64-bit number the harness gives every object it makes. The
 *             object carries it in its content (stress.obj fields, an int's
 *             value, a str's bytes, a tuple's first item) next to a checksum
 *             derived from the id and the run's seed.
 *   key       what identifies an object from the outside (its id, or for
 *             immortal values their value): a parent records its children's
 *             keys, so memory reused by another object is caught on a read.
 *   tracked   an id whose death the oracle observes: every stress.obj (its
 *             finalize and dealloc hooks report), and built-ins that carry a
 *             "watch" weakref whose callback reports their death.
 *   hold      a reference the harness's own code keeps: in a worker's slot,
 *             in hand, in the resurrection list (not in objects or containers,
 *             mailboxes and board included). The oracle counts holds per
 *             tracked id; a death while holds > 0 is a violation.
 *   slot      one of a worker's roots: a reference plus what the worker knows
 *             about it (key, id, kind).
 *   ring      a reference cycle of stress.objs (--cycles).
 *   worker    a thread slot; its incarnations are the successive threads that
 *             attach, run a random number of operations, and detach.
 *
 * Files: main.c (the run from set-up to the verdict), options.c (command
 * line, replay command), oracle.c (the id table and every check), objects.c
 * (the stress.obj type, id'd built-ins and containers, identify and walk),
 * revive.c (the list finalizers resurrect into), weak.c (weakrefs and
 * watches), handoff.c with handoff_weft.c and handoff_ring.c (mailboxes and
 * the board: the cross-thread layer), gc.c (the collector, where there is
 * one), compare.c (the collector-off run for --gc-ratio), workers.c (threads
 * and their churn); the operation mix: workload.c (the mix and a worker's
 * life; its rules), roots.c, make.c, containers.c, rings.c, sharing
 * worker.h; progress.c, report.c, sysinfo.c. */
#ifndef WEFT_STRESS_H
#define WEFT_STRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <weft/weft.h>

/* ---------------------------------------------------------------- options */

typedef struct stress_options {
    unsigned threads;  /* worker slots (--threads) */
    double duration;   /* seconds (--duration); 0 with --soak: until a signal */
    uint64_t ops;      /* total operations (--ops); 0: run by duration */
    uint64_t seed;     /* --seed, or drawn at random */
    double fail_rate;  /* chance per operation of arming an allocation failure */
    double watch_rate; /* share of built-ins given a watch weakref */
    unsigned churn;    /* mean operations of a thread incarnation; 0: no churn */
    unsigned slots;    /* roots per worker */
    bool json, soak, quiet, cycles, no_gc, gc_ratio;
    const char *handoff; /* "weft" or "ring" (--handoff) */
    int inject;          /* INJECT_* (--inject-bug): a harness bug, to test the oracle */
    int argc;            /* the command line, for the replay command */
    char **argv;
} stress_options;

extern stress_options opt;

enum { INJECT_NONE, INJECT_EARLY_FREE, INJECT_LEAK };

/* Parse argv into opt. Returns 0, or exits: 0 after --help, 2 on bad input. */
void options_parse(int argc, char **argv);
/* The command that replays this run: same arguments, --seed N. */
const char *options_replay_command(void);
void options_fini(void);

/* ---------------------------------------------------------------- random numbers */

/* xoshiro256**, seeded through splitmix64: each thread derives its own from
 * the run's seed, so one seed fixes every thread's sequence of choices. */
typedef struct rng {
    uint64_t s[4];
} rng;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng *r, uint64_t seed, uint64_t stream, uint64_t sub)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull) ^ (sub * 0x2545f4914f6cdd1dull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return result;
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t rng_below(rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

static inline bool rng_chance(rng *r, double p)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53 < p;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* ---------------------------------------------------------------- statistics */

enum stat {
    ST_OPS,
    ST_NEW_OBJ,
    ST_NEW_INT,
    ST_NEW_STR,
    ST_NEW_LARGE_STR,
    ST_NEW_TUPLE,
    ST_NEW_LIST,
    ST_NEW_DICT,
    ST_CONTAINER_OPS,
    ST_UNHASHABLE_KEYS,
    ST_NEW_WEAKREF,
    ST_INTERN,
    ST_CHAINS,
    ST_TREES,
    ST_RINGS,
    ST_RINGS_BROKEN,
    ST_WALKS,
    ST_NODES,
    ST_SENT,
    ST_RECEIVED,
    ST_BOARD_PUT,
    ST_BOARD_GET,
    ST_WEAK_GET,
    ST_WEAK_GET_HIT,
    ST_WEAK_CALLBACKS,
    ST_FINALIZED,
    ST_RESURRECTED,
    ST_FINALIZER_ERRORS,
    ST_UNRAISABLE,
    ST_REVIVED,
    ST_BORN_TRACKED,
    ST_FREED_TRACKED,
    ST_BLOCKING,
    ST_SAFEPOINTS,
    ST_FAULTS_ARMED,
    ST_ENOMEM,
    ST_COLLECTIONS,
    ST_INCARNATIONS,
    ST_COUNT
};

/* One block per worker slot, written by its current thread only (relaxed
 * load + store); threads that are not workers (main, the collector) add to a
 * shared block with atomic adds. Readers sum them with relaxed loads. */
typedef struct stats {
    _Atomic uint64_t v[ST_COUNT];
} __attribute__((aligned(64))) stats;

extern __thread stats *tls_stats;
void stats_add_shared(enum stat s, uint64_t n);

static inline void stat_add(enum stat s, uint64_t n)
{
    stats *st = tls_stats;
    if (st)
        atomic_store_explicit(&st->v[s],
                              atomic_load_explicit(&st->v[s], memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        stats_add_shared(s, n);
}

/* Totals over every block. */
void stats_sum(uint64_t out[ST_COUNT]);

/* ---------------------------------------------------------------- the oracle */

/* Kinds of objects (also stored in the oracle's word for reports). */
enum kind {
    K_NONE,
    K_OBJ,
    K_INT,
    K_STR,
    K_TUPLE,
    K_SMALLINT,
    K_ISTR,
    K_LIST,
    K_DICT,
    K_COUNT
};
const char *kind_name(unsigned kind);

/* Ids a thread hands out: a block taken from the global counter at a time. */
typedef struct idblock {
    uint64_t next, end;
} idblock;

void oracle_init(uint64_t seed);
void oracle_fini(void);

/* The checksum an object with this id carries. */
uint64_t oracle_checksum(uint64_t id);

uint64_t oracle_new_id(idblock *b);
/* The remaining ids of a block will never be used. */
void oracle_release_block(idblock *b);
/* An id's object now exists: tracked (ALIVE, with one hold: the creator's
 * reference) or not (resolved at once). */
void oracle_born(uint64_t id, unsigned kind, bool tracked);
/* The object was never made, or its creator drops it before anyone saw it. */
void oracle_void(uint64_t id);
/* An object read by the harness must be alive. */
void oracle_check_alive(uint64_t id, const char *where);
/* The harness starts (+1) or stops (-1) holding a reference in a root. */
void oracle_hold(uint64_t id, int delta, const char *where);
/* The hooks of stress.obj and of watch weakrefs. */
void oracle_finalized(uint64_t id);
void oracle_resurrected(uint64_t id);
void oracle_freed(uint64_t id);
void oracle_weak_callback(uint64_t id);
/* Whether an id is resolved (freed, untracked or void): its object is gone
 * or was never watched. */
bool oracle_is_resolved(uint64_t id);
/* The oracle's word for an id, in words (for messages). */
const char *oracle_describe(uint64_t id, char *buf, size_t cap);
/* Has the death of this id been reported (FREED: a stress.obj's dealloc ran,
 * a built-in's watch fired)? A weakref callback alone says less: with a
 * collector, callbacks run before finalizers, which may resurrect. */
bool oracle_is_dead(uint64_t id);
/* Free the memory of retired id chunks that no thread still reads. */
void oracle_reap(void);
/* At the end: every id must be resolved. Calls leak() for each that is not
 * (at most `show` times) and returns how many there are. */
uint64_t oracle_scan_leaks(unsigned show);
uint64_t oracle_ids_issued(void);
size_t oracle_bytes(void);

/* Print the violation, the seed and the replay command; abort. Safe from any
 * thread, once (a second violation waits for the first to finish). */
__attribute__((noreturn, format(printf, 1, 2))) void violation(const char *fmt, ...);

/* ---------------------------------------------------------------- objects */

/* A reference the harness holds, and what it knows of it. */
typedef struct sref {
    weft_object *obj;
    uint64_t key; /* see the glossary */
    uint64_t id;  /* 0 for immortals */
    uint8_t kind;
    bool tracked; /* holds are counted for it */
    bool ring;    /* a ring head: moved, never shared (see workload.c) */
    uint8_t gen;  /* levels of root objects it reaches (objects.c) */
    bool pure;    /* a pure container (below) */
} sref;

#define GEN_MAX 3                /* objects of this gen are not given as children */
#define SOBJ_RING (1u << 0)      /* member of a ring */
#define SOBJ_RESURRECT (1u << 1) /* its finalizer resurrects it */
#define SOBJ_FAIL_FINALIZE (1u << 2) /* its finalizer fails (an unraisable error) */
#define SOBJ_GEN_SHIFT 8         /* flags bits 8-9: its gen */

typedef struct sobj {
    weft_object ob;
    uint64_t id;
    uint64_t check;     /* oracle_checksum(id) */
    weft_object *child; /* owned, may be NULL; changed only to break a ring */
    uint64_t child_key;
    weft_object *payload; /* owned, may be NULL; fixed at creation */
    uint64_t payload_key;
    uint32_t flags;    /* SOBJ_* */
    uint32_t ring_len; /* members of its ring (SOBJ_RING) */
    uint32_t maker;    /* serial of the thread incarnation that made it */
} sobj;

extern const weft_type sobj_type;
/* Install the unraisable hook that checks every report (objects.c)... */
void objects_watch_unraisable(void);
/* ... and, at the end, that each failing finalizer that ran was reported
 * once (weft's count too, from count_before); a violation if not. */
void objects_check_unraisable(unsigned long long count_before);

/* A stress.obj's reference slots are read and written atomically: weft's
 * collector may traverse an object while its one holder closes or breaks a
 * ring, or right after weft_new while its maker fills it. */
static inline weft_object *slot_load(weft_object *const *slot)
{
    return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

static inline void slot_store(weft_object **slot, weft_object *o)
{
    __atomic_store_n(slot, o, __ATOMIC_RELEASE);
}

/* Empty a slot and release what it held (after the slot changed). */
static inline void slot_clear(weft_object **slot)
{
    weft_xdecref(__atomic_exchange_n(slot, NULL, __ATOMIC_ACQ_REL));
}
#define VOCAB 64 /* interned strings "k00".."k63" */

/* The key of any object the harness made, read shallowly (no checks). */
uint64_t object_key(weft_object *o);
/* Read o: check its type, content and checksum, that its key is `expect`
 * (when has_expect), and that the oracle says it is alive. Fills *out (no
 * reference is taken). Any mismatch is a violation. */
void identify(weft_object *o, bool has_expect, uint64_t expect, sref *out,
              const char *where);
/* Walk what o reaches, at most budget objects, identifying each. Returns the
 * number of objects read. */
size_t walk(weft_object *o, uint64_t key, size_t budget);
/* Free the calling thread's walk stack. */
void walk_release(void);

/* Makers: a new reference, or NULL on failure (the weft error is left for
 * the caller; nothing leaks). The new object's id comes from ids. */
weft_object *make_int(idblock *ids, bool tracked, uint64_t *id_out);
weft_object *make_str(idblock *ids, bool tracked, size_t len, uint64_t *id_out);
/* A tuple of a token and the n items (borrowed). */
weft_object *make_tuple(idblock *ids, bool tracked, unsigned gen,
                        weft_object *const *items, size_t n, uint64_t *id_out);
/* A stress.obj; child and payload are borrowed (may be NULL); flags carry
 * its gen (SOBJ_GEN_SHIFT). */
weft_object *make_sobj(idblock *ids, weft_object *child, weft_object *payload,
                       uint32_t flags, uint64_t *id_out);
/* A list whose item 0 is its token (never removed: workers touch only items
 * 1..), prefilled with `prefill` small ints. A pure container holds only
 * pure containers and small ints: the only containers that may hold
 * containers, so that cycles through containers (with a collector) never
 * reach an object whose finalizer could resurrect it, nor a built-in whose
 * watch would then report a death that did not happen. */
weft_object *make_list(idblock *ids, bool tracked, bool pure, size_t prefill,
                       uint64_t *id_out);
/* A dict whose key -1 maps to its token (never deleted). */
weft_object *make_dict(idblock *ids, bool tracked, bool pure, uint64_t *id_out);
#define DICT_TOKEN_KEY (-1)
/* Keep a string of the vocabulary interned now (at set-up and at the end);
 * adds the size of its heap block to *block_bytes (if not NULL). */
int intern_vocab(unsigned k, size_t *block_bytes);

/* ---------------------------------------------------------------- resurrection */

/* From a finalizer: store a new reference to self; false if the list is full. */
bool revive_put(weft_object *self);
/* A resurrected object (the list's reference becomes the caller's), or NULL. */
weft_object *revive_take(void);
size_t revive_len(void);
void revive_fini(void);

/* ---------------------------------------------------------------- weakrefs */

/* A weakref the harness keeps, with its referent's id. */
typedef struct wentry {
    weft_object *ref;
    uint64_t id;
    bool ring;
} wentry;

typedef struct wlist {
    wentry *v;
    size_t n, cap;
} wlist;

/* A weakref whose callback reports the death of `id` to the oracle. */
weft_object *weak_new(weft_object *referent, uint64_t id);
int wlist_push(wlist *l, weft_object *ref, uint64_t id, bool ring);
/* Drop entries whose referent's death was seen (checking that the weakref is
 * cleared); returns how many. */
size_t wlist_sweep(wlist *l);
/* Drop every entry. */
void wlist_clear(wlist *l);
void wlist_free(wlist *l);
/* Watches of a thread that leaves go to a shared list, swept by any thread. */
void weak_orphan(wlist *l);
size_t weak_sweep_orphans(void);
/* At the end: watches whose referent never died (leaks); dropped all. */
size_t weak_orphans_fini(unsigned show);

/* ---------------------------------------------------------------- handoff */

/* Mailboxes (one per worker slot) and the board (keyed shared cells): the
 * only ways objects move between threads outside of other objects. Two
 * backends with one contract (handoff.c): weft's own lists and dicts (the
 * default), or the harness's ring buffers and cells under mutexes.
 *
 * The layer keeps references of its own, as a container does: they are not
 * holds. A send or a put takes a new reference and leaves the caller's; a
 * receive or a swap hands the caller a reference it then holds. */
enum ho_rc { HO_OK = 0, HO_EMPTY = 1, HO_FULL = 2, HO_NOMEM = 3 };

typedef struct handoff_backend {
    const char *name;
    /* Attached; the board has `cells` cells. */
    int (*init)(unsigned boxes, unsigned cells);
    /* Put a new reference to o in box `to`: HO_OK, HO_FULL, HO_NOMEM. */
    int (*send)(unsigned to, weft_object *o);
    /* Take a reference out of box `box` into *out: HO_OK, HO_EMPTY, HO_NOMEM. */
    int (*recv)(unsigned box, weft_object **out);
    /* Put a new reference to o (NULL: empty the cell) in a cell and hand its
     * old content to the caller in *old (NULL if empty): HO_OK, HO_NOMEM. */
    int (*swap)(unsigned cell, weft_object *o, weft_object **old);
    /* A new reference to a cell's content into *out (NULL if empty): HO_OK,
     * HO_NOMEM. */
    int (*get)(unsigned cell, weft_object **out);
    /* Objects waiting in mailboxes and cells (racy: for progress and tests). */
    size_t (*pending)(void);
    /* Attached, at the end: drop the containers (they must be empty). */
    void (*fini)(void);
} handoff_backend;

extern const handoff_backend handoff_ring, handoff_weft;
/* The backend in use (opt.handoff). */
extern const handoff_backend *handoff;

int handoff_init(unsigned boxes, unsigned cells);
/* Inside a blocking region: wait up to usec for a send to `box` (or a wake). */
void handoff_wait(unsigned box, long usec);
/* Every sender calls this after a send. */
void handoff_notify(unsigned box);
void handoff_wake_all(void);
/* At the end: take anything left anywhere (a reference), or NULL. */
weft_object *handoff_drain(void);
void handoff_fini(void);

/* ---------------------------------------------------------------- the collector */

/* Whether this weft has a collector; whether it is in use (not --no-gc). */
bool gc_compiled_in(void);
bool gc_active(void);
/* Whether cycles must be broken by hand before they are dropped. */
bool gc_cycles_need_breaking(void);
void gc_setup(void);
/* After the final collections: print the leaked stress.objs that nothing in
 * the heap refers to (what holds each leaked structure); returns how many. */
size_t gc_print_leak_roots(unsigned show);
/* A forced collection of generation gen (0..2); -1 if there is no collector. */
int gc_collect(int gen);
/* The collector's figures per generation (its own statistics). */
typedef struct gc_report {
    bool available;
    uint64_t collections[3], collected[3];
    double pause_p50_ms[3], pause_p99_ms[3], pause_max_ms[3];
    double tts_p99_ms[3], tts_max_ms[3]; /* time to safepoint */
} gc_report;
void gc_get_report(gc_report *out);

/* ---------------------------------------------------------------- workers */

void workers_init(void);
void workers_start(void);
/* Join threads that retired and start their successors (unless stopping).
 * Returns true while any worker slot still has work. */
bool workers_tick(bool stopping);
void workers_stop(void);
unsigned workers_attached(void);
uint64_t workers_incarnations(void);
void workers_fini(void);

/* What a worker slot shares with the driver (workers.c). */
typedef struct worker_slot {
    unsigned index;
    unsigned incarnation;
    uint64_t quota;    /* operations left with --ops; UINT64_MAX otherwise */
    _Atomic int state; /* SLOT_* */
    _Atomic bool attached;
    stats st;
} worker_slot;

enum { SLOT_IDLE, SLOT_RUNNING, SLOT_RETIRED, SLOT_DONE };

extern atomic_bool stop_requested;

/* One incarnation's run (workload.c), attached: `budget` operations, or
 * until stop_requested; then it leaves what it holds to the others. Returns
 * the operations done. */
uint64_t workload_run(worker_slot *slot, uint64_t budget);
/* The end phase (main thread, attached): drop a reference left in a mailbox
 * or the board (held: false) or the resurrection list (held: true), breaking
 * a ring if need be. */
void workload_drop_leftover(weft_object *o, bool held);
/* The driver, now and then: forget ring members already dead. */
void rings_prune(void);
/* After the final full collection: every ring dropped whole must be dead.
 * Returns how many members are not (each a leak); frees the list. */
uint64_t workload_check_dropped_rings(unsigned show);

/* ---------------------------------------------------------------- progress and report */

double now_seconds(void);
/* Resident set (statm) and its peak (VmHWM), in bytes. */
size_t rss_bytes(void);
size_t peak_rss_bytes(void);

void progress_init(FILE *out, bool tty);
/* Called by the driver every tick; prints when due. */
void progress_tick(double elapsed, bool final);

typedef struct run_result {
    double elapsed;
    uint64_t totals[ST_COUNT];
    uint64_t ids;
    uint64_t incarnations;
    unsigned long faults_injected;
    size_t peak_rss;
    long live_at_shutdown;
    long small_blocks_over; /* small blocks in use above the baseline */
    long large_blocks_over;
    long small_bytes_over; /* and their bytes */
    long large_bytes_over;
    uint64_t leaked_ids;
    uint64_t leaked_watches;
    uint64_t leaks; /* everything above that is non-zero */
    uint64_t violations;
    gc_report gc;
    double
        gc_off_rate; /* ops/s of the same run with the collector off; 0: not measured */
} run_result;

/* --gc-ratio: run this workload again in a child process with --no-gc and
 * return its ops/s (0 when there is no collector to compare). */
double compare_gc_off_rate(void);

void report_print(FILE *out, const run_result *r, bool json);

#endif
