/* threads/thread.c: the registry of thread records, attach and detach,
 * blocking regions and safepoints (thread.h has the state diagram).
 *
 * Registry: a two-level table maps an index to its record (top level filled
 * once per 256 records, read without a lock: a published chunk pointer never
 * changes); free indices are reused lowest first; `attached` lists the held
 * records (liburcu's list). All registry changes hold registry_lock.
 */
#include "thread.h"
#include "error.h"
#include "qsbr.h"
#include "stw.h"
#include "heap.h"
#include "pool.h"

#include <weft/runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHUNK_SHIFT 8
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define TOP_SIZE 65536u /* 16M thread indices */

WEFT_TLS weft_thread *_weft_tls_thread;
__thread uint32_t _weft_tls_index __attribute__((tls_model("initial-exec"))) = WEFT_NO_THREAD;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static WEFT_ATOMIC(weft_thread *) record_chunks[TOP_SIZE]; /* published once each */
static WEFT_ATOMIC(uint32_t) index_limit;                 /* indices < limit exist */
static CDS_LIST_HEAD(attached_list);                     /* registry lock */
static unsigned attached_count;                          /* registry lock */
static bool registry_closed; /* registry lock: weft_shutdown is under way, or done */

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

weft_thread *_weft_thread_record(uint32_t index)
{
    if (index == 0 || index >= weft_load_acquire(&index_limit))
        return NULL;
    weft_thread *chunk = weft_load_acquire(&record_chunks[index >> CHUNK_SHIFT]);
    return chunk ? &chunk[index & (CHUNK_SIZE - 1)] : NULL;
}

uint32_t _weft_thread_index_limit(void)
{
    return weft_load_acquire(&index_limit);
}

static void record_init(weft_thread *t, uint32_t index)
{
    memset(t, 0, sizeof *t);
    t->index = index;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->released, NULL);
    CDS_INIT_LIST_HEAD(&t->attached);
}

/* A free record, lowest index first. Index 0 is never used: it means "no
 * owner" in objects. */
static weft_thread *claim_record_locked(void)
{
    uint32_t limit = weft_load_relaxed(&index_limit);
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        if (!t->in_use)
            return t;
    }
    if (limit == 0)
        limit = 1;
    if (limit >= TOP_SIZE * CHUNK_SIZE)
        return NULL;
    uint32_t top = limit >> CHUNK_SHIFT;
    if (!weft_load_relaxed(&record_chunks[top])) {
        weft_thread *chunk = aligned_alloc(WEFT_CACHE_LINE, CHUNK_SIZE * sizeof(weft_thread));
        if (!chunk)
            return NULL;
        for (uint32_t k = 0; k < CHUNK_SIZE; k++)
            record_init(&chunk[k], (top << CHUNK_SHIFT) + k);
        weft_store_release(&record_chunks[top], chunk);
    }
    weft_store_release(&index_limit, limit + 1);
    return _weft_thread_record(limit);
}

static void wait_until_released_locked(weft_thread *t)
{
    while (t->suspend_count > 0)
        pthread_cond_wait(&t->released, &t->lock);
}

static void exit_destructor(void *arg)
{
    /* A thread that exits attached is detached for it: its QSBR registration
     * would otherwise stall every grace period. */
    weft_thread *t = _weft_tls_thread;
    if (t) {
        fprintf(stderr, "weft: thread %u exited while attached%s; detaching it\n", t->index,
                t->blocking_depth ? " (inside a blocking region)" : "");
        /* Leave the regions first (detach refuses inside one): one ended by
         * the thread's exit would keep the record for good. */
        if (t->blocking_depth) {
            t->blocking_depth = 1;
            weft_blocking_end();
        }
        weft_thread_detach();
    }
}

static void exit_key_create(void)
{
    pthread_key_create(&exit_key, exit_destructor);
}

int weft_thread_attach(void)
{
    if (!weft_is_initialized()) {
        _weft_set_error(WEFT_ESTATE, "weft_thread_attach: weft is not initialized");
        return -1;
    }
    if (_weft_tls_thread) {
        _weft_set_error(WEFT_ESTATE, "weft_thread_attach: thread %u is already attached",
                        _weft_tls_thread->index);
        return -1;
    }
    pthread_once(&exit_key_once, exit_key_create);
    pthread_mutex_lock(&registry_lock);
    if (registry_closed) {
        pthread_mutex_unlock(&registry_lock);
        _weft_set_error(WEFT_ESTATE, "weft_thread_attach: weft is shutting down");
        return -1;
    }
    weft_thread *t = claim_record_locked();
    if (!t) {
        pthread_mutex_unlock(&registry_lock);
        _weft_set_error(WEFT_ENOMEM, "weft_thread_attach: no thread record available");
        return -1;
    }
    t->in_use = true;
    t->os_tid = (pid_t)syscall(SYS_gettid);
    cds_list_add(&t->attached, &attached_list);
    attached_count++;
    pthread_mutex_unlock(&registry_lock);

    pthread_mutex_lock(&t->lock);
    wait_until_released_locked(t);
    weft_store_seq_cst(&t->xstate, WEFT_THREAD_ATTACHED);
    pthread_mutex_unlock(&t->lock);

    t->locks_made = 0; /* the bias rule is per thread, not per index */
    weft_store_relaxed(&t->xlocks_revoked, 0);
    _weft_tls_thread = t;
    _weft_tls_index = t->index;
    _weft_countbuf_attached(t, true);
    pthread_setspecific(exit_key, t);
    _weft_qsbr_thread_register();
    _weft_heap_get();
    /* Objects queued while the record had no thread and no merger finished
     * with them are merged now. */
    if (weft_load_relaxed(&t->xbreaker))
        _weft_safepoint_slow(t);
    return 0;
}

int weft_thread_detach(void)
{
    weft_thread *t = _weft_tls_thread;
    if (!t) {
        _weft_set_error(WEFT_ESTATE, "weft_thread_detach: thread is not attached");
        return -1;
    }
    if (t->blocking_depth) {
        _weft_set_error(WEFT_ESTATE, "weft_thread_detach: inside a blocking region");
        return -1;
    }
    /* Everything that touches objects or pools (merges, deallocations, giving
     * up the heap) happens while still ATTACHED, where a stop of the world
     * waits for us. The switch to DETACHED, under the record's lock, happens
     * only when no work is pending: a queuer that saw ATTACHED has set MERGE
     * before we look, later ones see DETACHED and merge on our behalf. From
     * then on this thread touches nothing a collection reads. The young
     * count is published first, while a collection it triggers can still
     * run here (no collector thread), and again at the end for what the
     * loop's frees counted. */
    _weft_gc_publish_partial(t);
    for (;;) {
        _weft_countbuf_flush(t);
        _weft_brc_merge_own_queue(t);
        _weft_freelists_flush(t);
        if (_weft_tls_heap)
            _weft_heap_release(_weft_tls_heap);
        _weft_qsbr_flush_retired_pools(); /* still online: call_rcu allowed */
        _weft_poll_stop(t);
        pthread_mutex_lock(&t->lock);
        if (!weft_load_relaxed(&t->xbreaker) && weft_load_relaxed(&t->xcountbuf_pins) == 0)
            break;
        pthread_mutex_unlock(&t->lock);
    }
    weft_store_seq_cst(&t->xstate, WEFT_THREAD_DETACHED);
    pthread_mutex_unlock(&t->lock);
    _weft_qsbr_thread_unregister();

    _weft_tls_thread = NULL;
    _weft_tls_index = WEFT_NO_THREAD;
    _weft_countbuf_attached(t, false);
    pthread_setspecific(exit_key, NULL);
    _weft_gc_publish_partial(t);
    pthread_mutex_lock(&registry_lock);
    t->in_use = false;
    cds_list_del_init(&t->attached);
    attached_count--;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

int weft_thread_is_attached(void)
{
    return _weft_tls_thread != NULL;
}

unsigned weft_thread_index(void)
{
    return _weft_tls_thread ? _weft_tls_thread->index : 0;
}

uint32_t _weft_attach_thread_index(void)
{
    return _weft_tls_index;
}

void weft_safepoint(void)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_UNLIKELY(!t))
        return;
    if (WEFT_UNLIKELY(weft_load_relaxed(&t->xbreaker)))
        _weft_safepoint_slow(t);
    if (WEFT_UNLIKELY(_weft_pool_retired_pending()))
        _weft_qsbr_flush_retired_pools();
    _weft_qsbr_quiescent();
}

void _weft_quiescent_report(weft_thread *t)
{
    t->quiescent_countdown = 0;
    if (t->blocking_depth == 0)
        _weft_qsbr_quiescent();
}

void _weft_safepoint_slow(weft_thread *t)
{
    unsigned work = weft_load_acquire(&t->xbreaker);
    if (work & WEFT_BREAK_STOP)
        _weft_stw_park(t);
    if (work & WEFT_BREAK_MERGE)
        _weft_brc_merge_own_queue(t);
}

void weft_blocking_begin(void)
{
    weft_thread *t = _weft_tls_thread;
    if (!t)
        _weft_fatal("weft_blocking_begin on a thread that is not attached");
    if (t->blocking_depth > 0) {
        t->blocking_depth++;
        return;
    }
    /* Merge what others queued before going away, then change state under
     * the lock so that a queuer either saw ATTACHED and set MERGE_PENDING
     * before we check it, or sees BLOCKED and merges for us. The depth is
     * still 0 meanwhile: the deallocations a merge runs are user code
     * outside the region, and calls that refuse one (weft_gc_collect,
     * weft_gc_get_objects) used to fail in them. */
    for (;;) {
        if (weft_load_relaxed(&t->xbreaker))
            _weft_safepoint_slow(t);
        pthread_mutex_lock(&t->lock);
        if (!weft_load_relaxed(&t->xbreaker))
            break;
        pthread_mutex_unlock(&t->lock);
    }
    t->blocking_depth = 1;
    weft_store_seq_cst(&t->xstate, WEFT_THREAD_BLOCKED);
    pthread_mutex_unlock(&t->lock);
    if (_weft_pool_retired_pending())
        _weft_qsbr_flush_retired_pools();
    _weft_qsbr_thread_offline();
}

void weft_blocking_end(void)
{
    weft_thread *t = _weft_tls_thread;
    if (!t || t->blocking_depth == 0)
        _weft_fatal("weft_blocking_end without a matching weft_blocking_begin");
    if (--t->blocking_depth > 0)
        return;
    pthread_mutex_lock(&t->lock);
    wait_until_released_locked(t);
    weft_store_seq_cst(&t->xstate, WEFT_THREAD_ATTACHED);
    pthread_mutex_unlock(&t->lock);
    _weft_qsbr_thread_online();
    if (weft_load_relaxed(&t->xbreaker))
        _weft_safepoint_slow(t);
}

void _weft_thread_resume_alone_in_child(void)
{
    weft_thread *t = _weft_tls_thread;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->released, NULL);
    t->suspend_count = 0;
    if (--t->blocking_depth > 0)
        return;
    weft_store_seq_cst(&t->xstate, WEFT_THREAD_ATTACHED);
    _weft_qsbr_thread_online();
}

void _weft_thread_not_attached_die(const char *what, const weft_object *o)
{
    _weft_fatal("%s of object %p (type %s) on a thread that is not attached", what,
                (const void *)o, o && o->type ? o->type->name : "?");
}

void _weft_thread_object_counts(uint64_t *created, uint64_t *freed)
{
    *created = *freed = 0;
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        *created += weft_load_relaxed(&t->xcreated);
        *freed += weft_load_relaxed(&t->xfreed);
        /* Listed objects are dead, though never counted freed. */
        for (unsigned l = 0; l < WEFT_FREELISTS; l++)
            *freed += weft_load_relaxed(&t->freelists[l].xn);
    }
}

bool _weft_thread_registry_close(unsigned *others)
{
    weft_blocking_begin(); /* a stop's requester holds the lock while it waits for us */
    pthread_mutex_lock(&registry_lock);
    *others = attached_count - 1;
    bool closed = registry_closed = *others == 0;
    pthread_mutex_unlock(&registry_lock);
    weft_blocking_end();
    return closed;
}

unsigned _weft_thread_others_attached_locked(void)
{
    return attached_count - (_weft_tls_thread != NULL);
}

void _weft_thread_registry_open(void)
{
    pthread_mutex_lock(&registry_lock);
    registry_closed = false;
    pthread_mutex_unlock(&registry_lock);
}

void _weft_registry_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

void _weft_registry_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

