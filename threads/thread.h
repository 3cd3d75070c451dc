/* threads/thread.h: thread records and their states (docs/threads.md).
 *
 * A record stands for one thread index (1, 2, ...): the owner id stored in the
 * objects that thread creates. Records are never freed; when a thread detaches
 * its record goes back to the free list and the next attaching thread takes it
 * over, inheriting the objects still owned by that index (safe: the previous
 * owner is gone and will not touch their local counts again).
 *
 *                 attach (own thread; waits while suspended)
 *     DETACHED ------------------------------------------------> ATTACHED
 *        ^  <------------------------------------------------     |    ^
 *        |      detach (own thread)                    blocking_  |    | blocking_end (own thread;
 *        |                                             begin      v    | waits while suspended)
 *        |                                                      BLOCKED
 *        |
 *   suspend_count > 0: another thread (a merge on this record's behalf, or a
 *   stop of the world) holds a DETACHED or BLOCKED record; the record's own
 *   thread cannot make it ATTACHED until every holder has released it.
 *
 * `lock` serialises every state change, the suspend count and the merge
 * queue, so a thread queueing an object to this record sees a state that
 * cannot change under it: ATTACHED (the owner will merge at a safepoint, it
 * has MERGE_PENDING set for it) or not (the queuer suspends the record and
 * merges itself).
 */
#ifndef WEFT_THREADS_THREAD_H
#define WEFT_THREADS_THREAD_H

#include "internal/core.h"
#include "objstack.h"

#include <pthread.h>
#include <sys/types.h>
#include <urcu/list.h>
#include <weft/object.h>

enum weft_thread_state {
    WEFT_THREAD_DETACHED = 0,
    WEFT_THREAD_ATTACHED = 1,
    WEFT_THREAD_BLOCKED = 2
};

/* Bits of `xbreaker`: work the thread must do at its next safepoint. */
enum {
    WEFT_BREAK_MERGE = 1u << 0, /* its merge queue is not empty */
    WEFT_BREAK_STOP = 1u << 1   /* a stop of the world is requested (collector) */
};

/* Deallocation deeper than this on one thread's stack is deferred to a list
 * and unwound iteratively (the "trashcan"). An unoptimized build makes every
 * inline helper of a release a frame of its own (ten or so per nesting level,
 * larger still under AddressSanitizer): it nests less, so that a chain still
 * unwinds on a 256 KiB stack (tests/deep_chain.c). */
#ifdef __OPTIMIZE__
#define WEFT_DEALLOC_DEPTH_MAX 64
#else
#define WEFT_DEALLOC_DEPTH_MAX 16
#endif

#define WEFT_NO_THREAD UINT32_MAX /* _weft_tls_index of a detached thread */

/* A freelist of dead built-in objects kept for reuse (lib/freelist.h).
 * Written by its thread only; xn is also read by the live-object count. */
typedef struct weft_freelist {
    weft_object *head;
    WEFT_ATOMIC(unsigned) xn;
} weft_freelist;
#define WEFT_FREELISTS 9 /* ints, and tuples of 1..8 items */

typedef struct weft_thread {
    uint32_t index; /* immutable */

    /* Written by the record's own thread under `lock`; read by anyone. */
    WEFT_ATOMIC(int) xstate;
    /* Set by other threads, cleared by the record's thread. */
    WEFT_ATOMIC(unsigned) xbreaker;
    /* The object whose biased lock this thread holds or is taking (NULL:
     * none). Written by the record's thread, read by revokers (objlock.h). */
    WEFT_ATOMIC(weft_object *) xlock_held;

    pthread_mutex_t lock;
    pthread_cond_t released;  /* broadcast when suspend_count drops to 0 */
    unsigned suspend_count;   /* lock */
    weft_objstack merge_queue; /* lock: objects whose shared count went negative */

    /* Own thread only. */
    weft_objstack dealloc_pending; /* the trashcan */
    unsigned dealloc_depth;
    unsigned blocking_depth;
    long gc_young_local; /* tracked allocations minus frees not yet published */
    long gc_old_deaths_local; /* deaths in long-lived pools not yet published */
    unsigned quiescent_countdown; /* calls until the next implicit quiescent state */
    weft_freelist freelists[WEFT_FREELISTS];
    /* Buffered counts (countbuf.c): also flushed by a stopper of the world
     * while the thread is parked or blocked. */
    int32_t *countbuf;      /* by object id: 0, or the thread's delta + 1 while pinned */
    uint64_t *countbuf_map; /* by object id: pinned */
    /* Both reserved at WEFT_COUNTBUF_ID_LIMIT ids (or NULL); the ids past
     * the highest one pinned so far (a multiple of 64), which flushes scan. */
    uint32_t countbuf_len;
    bool countbuf_unreserved; /* the reservation failed since this attach (own thread only) */
    /* Pins in the arrays: written by the record's thread (relaxed load and
     * store) or by a stopper of the world; read by the collector thread. */
    WEFT_ATOMIC(unsigned) xcountbuf_pins;

    /* Statistics, written by the record's own thread (relaxed load + store). */
    WEFT_ATOMIC(uint64_t) xcreated, xfreed;
    /* Counted by whichever thread frees: merged objects die anywhere. */
    WEFT_ATOMIC(uint64_t) xmerged_on_behalf;
    /* Biased locks (threads/lockbias.c): containers made since the attach,
     * and how many biases of objects this index owned other threads revoked
     * (counted by the revoker). Reset at attach. */
    uint64_t locks_made;
    WEFT_ATOMIC(uint64_t) xlocks_revoked;

    /* Set and cleared by a stop-the-world requester (stw.c), registry lock. */
    bool stw_parking;   /* running: asked to park */
    bool stw_suspended; /* not running: suspend_count raised */

    /* Parked in the current stop: set by the record's thread under stw.c's
     * mutex, read by the requester under it, cleared by the requester once
     * every thread asked has parked (stw.c). */
    bool stw_parked;

    bool in_use;                  /* registry lock: a thread holds this record */
    pid_t os_tid;                 /* registry lock: the holder's, for reports */
    struct cds_list_head attached; /* registry lock: on the list of held records */
} weft_thread;

extern WEFT_TLS weft_thread *_weft_tls_thread;

/* Free every listed object of t (its own thread, attached): lib/freelist.c. */
void _weft_freelists_flush(weft_thread *t);

/* The record of an index, or NULL if no such index was ever handed out. */
weft_thread *_weft_thread_record(uint32_t index);
uint32_t _weft_thread_index_limit(void);

/* Called by the refcount slow paths; stops the process when the thread is
 * not attached (there is no error to return from a decref). */
_Noreturn void _weft_thread_not_attached_die(const char *what, const weft_object *o);
static inline weft_thread *_weft_thread_current_or_die(const char *what, const weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_UNLIKELY(!t))
        _weft_thread_not_attached_die(what, o);
    return t;
}

/* Objects queued to their owner (brc.c). */
/* Queue o, just made QUEUED, to the record of `owner`, its owner field as
 * read before the CAS that made it so. */
void _weft_brc_queue(weft_object *o, uint32_t owner);
void _weft_brc_merge_own_queue(weft_thread *t);
/* Mark a NORMAL or MAYBE_WEAKREF object COUNTS_BUFFERED and queue it to
 * its owner for a merge, if the owner is attached (it merges at its next
 * safepoint); nothing otherwise. */
void _weft_brc_queue_for_buffering(weft_object *o);
/* With the world stopped: apply every thread's buffered counts, then merge
 * every thread's queue; objects found dead are pushed on `dead` to be freed
 * after the world resumes. Every count is exact afterwards. */
void _weft_brc_merge_all_world_stopped(weft_objstack *dead);

/* Buffered counts of read-shared objects (countbuf.c; hit paths in
 * countbuf.h). */
/* A non-owner took a reference to o out of a container without buffering:
 * from the second time on, o is made buffered (merged, with an id). */
void _weft_countbuf_note_shared_read(weft_object *o, uint32_t flags);
/* The calling thread attached to t, or detaches from it. */
void _weft_countbuf_attached(weft_thread *t, bool attached);
/* Whether any thread has a pin (read by the collector thread, which stops
 * the world now and then to flush them: countbuf.c). */
bool _weft_countbuf_pins_outstanding(void);
/* Apply and drop every pin of t (t's own thread, attached). */
void _weft_countbuf_flush(weft_thread *t);
void _weft_countbuf_flush_all_world_stopped(weft_objstack *dead);
/* A merge's new owner field (total: the merged count): the buffered owner
 * (a fresh id) of an object marked COUNTS_BUFFERED, 0 for others. */
uint32_t _weft_countbuf_owner_at_merge(weft_object *o, int64_t total);
/* An owner field from the above that was not stored: its id is free again. */
void _weft_countbuf_forget_owner(uint32_t owner);
/* The owner field of a buffered object: this bit and the object's id. No
 * thread index has the bit, so every owner test fails on it, as on 0. */
#define WEFT_COUNTBUF_ID_BIT 0x80000000u
static inline bool _weft_countbuf_is_buffered(uint32_t owner)
{
    return owner & WEFT_COUNTBUF_ID_BIT;
}
/* A buffered object died, or is counted in its header again (owner 0): its
 * id is free again. */
void _weft_countbuf_release_id(weft_object *o);
/* weft_refcount of a buffered object, from its count in the header. */
long _weft_countbuf_refcount(const weft_object *o, long count);
/* Whether the header proves a buffered object alive to the calling thread:
 * its count net of pins plus the thread's own delta is above zero (other
 * threads' deltas are never negative). If not, its last reference may have
 * gone while another thread keeps a pin on it, and only a flush can tell. */
bool _weft_countbuf_proven_alive(const weft_object *o);
/* Take the ownership of an object no other thread can reach (the
 * collector's unreachable set, after a stop merged every queue) and one
 * reference to it: its whole count, plus one, becomes the calling thread's
 * local count, so that the collector's decrements are plain owner
 * decrements instead of atomics or queueing to the owner. The count must be
 * above zero. */
void _weft_brc_adopt_and_hold(weft_object *o);

void _weft_safepoint_slow(weft_thread *t);
/* Report a quiescent state every so many calls: object creation and deferred
 * frees are points where a thread holds no RCU-protected pointer (weft's API
 * hands out only counted references), so grace periods advance even in a
 * loop that never calls weft_safepoint. */
void _weft_quiescent_report(weft_thread *t);
static inline void _weft_quiescent_every(weft_thread *t, unsigned period)
{
    if (WEFT_UNLIKELY(++t->quiescent_countdown >= period))
        _weft_quiescent_report(t);
}

/* The collector's young count (collector.c): tracked allocations minus
 * frees stay in the thread's record until a batch of WEFT_GC_YOUNG_BATCH is
 * due, then _weft_gc_young_add publishes them (and may trigger a collection
 * or wait for one). Inline: every tracked object's birth and death pass here. */
#define WEFT_GC_YOUNG_BATCH 64
void _weft_gc_young_add(long delta);
/* Publish t's partial batches (t: the calling thread's record, attached or
 * just detached): else threads that each make less than a batch of tracked
 * objects before they detach (a thread per request) would never bring a
 * collection on. A collection it triggers runs on the collector thread, or
 * here if there is none and the thread is still attached. */
void _weft_gc_publish_partial(weft_thread *t);

/* Count delta on t, the calling thread's record (NULL: publish at once). */
static inline void _weft_gc_young_count_on(weft_thread *t, long delta)
{
    if (WEFT_LIKELY(t)) {
        long n = t->gc_young_local + delta;
        if (WEFT_LIKELY(n < WEFT_GC_YOUNG_BATCH && n > -WEFT_GC_YOUNG_BATCH)) {
            t->gc_young_local = n;
            return;
        }
    }
    _weft_gc_young_add(delta);
}

static inline void _weft_gc_young_count(long delta)
{
    _weft_gc_young_count_on(_weft_tls_thread, delta);
}

/* Counters summed over all records (live objects at shutdown). */
void _weft_thread_object_counts(uint64_t *created, uint64_t *freed);
/* weft_shutdown: if the calling (attached) thread is the only one attached,
 * refuse every later weft_thread_attach (WEFT_ESTATE) until
 * _weft_thread_registry_open (weft_init), and true; else false, with the
 * count of the others in *others. */
bool _weft_thread_registry_close(unsigned *others);
void _weft_thread_registry_open(void);

/* threads/fork.c, the forking thread (registry locked): attached threads
 * besides the calling one. */
unsigned _weft_thread_others_attached_locked(void);

/* Before a fork from an attached thread (threads/collector.c): false if the
 * caller is the collector thread; else true, with the collector thread
 * stopped and *stopped saying whether it ran. */
bool _weft_gc_before_fork(bool *stopped);
/* In a child of an unsupported fork: the collector thread is not there. */
void _weft_gc_forget_thread(void);
/* In the child of an unsupported fork, the attached threads of the parent
 * that do not exist in it (a stop of the world would wait for them for
 * ever): what (a stop, a collection) ends the process with a message
 * (threads/fork.c). Does nothing elsewhere. */
extern WEFT_ATOMIC(unsigned) _weft_fork_ghosts;
void _weft_fork_ghosts_die(const char *what);
static inline void _weft_fork_check_ghosts(const char *what)
{
    if (WEFT_UNLIKELY(weft_load_relaxed(&_weft_fork_ghosts)))
        _weft_fork_ghosts_die(what);
}
/* Alone in such a child: the forking thread leaves the blocking region it
 * forked from without its record's lock, which a thread not there may have
 * held (merging for it). */
void _weft_thread_resume_alone_in_child(void);
/* weft_init: the pthread_atfork handlers, registered once. */
void _weft_fork_init(void);

/* Held by a stop-the-world requester for the whole stop. */
void _weft_registry_lock(void);
void _weft_registry_unlock(void);

#endif
