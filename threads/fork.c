/* threads/fork.c: fork() of a process that runs weft.
 *
 * weft_init registers pthread_atfork handlers once. The supported fork is
 * the pre-fork server's: from an attached thread while it is the only
 * attached thread besides the collector thread (weft_gc_freeze first spares
 * the child the copy-on-write faults of collections). Around it:
 *   before  the collector thread is stopped (joined: it detaches, so nothing
 *           of it is half-done in the child; finalizers of its collection
 *           in progress run first), liburcu's call_rcu and hash-table
 *           workers are paused (urcu_qsbr_call_rcu_before_fork; first, for
 *           they may wait for a grace period, which a thread waiting for
 *           the registry would hold up), and the registry is locked (no
 *           thread attaches, detaches or stops the world across the fork);
 *   after   in parent and child alike the workers resume (liburcu makes
 *           new ones in the child), the registry is unlocked, and the
 *           collector thread is started again.
 * The child's runtime is then whole: the forking thread attached, every
 * object it inherits owned by that thread or by records no thread holds.
 *
 * Any other fork of an initialized runtime (other threads attached, or the
 * fork made by an unattached thread or by the collector thread) leaves the
 * child records that say attached for threads that do not exist there: a
 * stop of the world would wait for them for ever. That child may exec or
 * _exit; a stop of the world or a collection in it ends the process with a
 * message that says why, rather than hang. Its handler takes no lock that a
 * thread not there may have held: the ones it needs are made anew.
 *
 * Forks of two threads at once run their handlers at once (glibc 2.34 and
 * later): fork_lock makes weft's part of them one at a time, and each
 * forking thread keeps its own state. */
#include "thread.h"
#include "error.h"
#include "gc_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/call-rcu.h>
#include <weft/runtime.h>

WEFT_ATOMIC(unsigned) _weft_fork_ghosts;

static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

/* Set by the forking thread before the fork, read by it after. */
static __thread struct {
    bool initialized;       /* weft was: the registry is held */
    bool attached;          /* the forking thread is (in a blocking region) */
    bool collector_stopped; /* before_fork stopped a running collector thread */
    bool collector_forker;  /* the forking thread is the collector thread */
    unsigned others;        /* attached threads besides the forking one */
} fork_state;

void _weft_fork_ghosts_die(const char *what)
{
    _weft_fatal("%s in the child of a fork() made while %u other thread(s) were attached "
                "(or by one not attached, or by the collector thread): they do not exist "
                "here and it would wait for them for ever. weft supports fork() from the one "
                "attached thread (the collector thread aside); any other child may only exec "
                "or _exit",
                what, weft_load_relaxed(&_weft_fork_ghosts));
}

static void before_fork(void)
{
    bool attached = weft_is_initialized() && weft_thread_is_attached();
    if (attached)
        weft_blocking_begin(); /* another thread's fork may need a stop of the world */
    pthread_mutex_lock(&fork_lock);
    if (attached)
        weft_blocking_end();
    fork_state.initialized = weft_is_initialized();
    fork_state.attached = fork_state.initialized && weft_thread_is_attached();
    fork_state.collector_stopped = fork_state.collector_forker = false;
    fork_state.others = 0;
    if (fork_state.attached) {
        fork_state.collector_forker = !_weft_gc_before_fork(&fork_state.collector_stopped);
        weft_blocking_begin(); /* a stop's requester holds the registry lock */
    }
    urcu_qsbr_call_rcu_before_fork();
    if (fork_state.initialized) {
        _weft_registry_lock();
        fork_state.others = _weft_thread_others_attached_locked();
    }
}

/* The collector thread started again; a failure leaves collections to the
 * allocating threads and the caller's error as it was. */
static void restart_collector(void)
{
    weft_error_saved saved;
    _weft_error_set_aside(&saved);
    _weft_gc_thread_start();
    _weft_error_restore(&saved);
}

static void after_fork_parent(void)
{
    urcu_qsbr_call_rcu_after_fork_parent();
    if (fork_state.initialized) {
        _weft_registry_unlock();
        if (fork_state.attached)
            weft_blocking_end();
        if (fork_state.collector_stopped)
            restart_collector();
    }
    pthread_mutex_unlock(&fork_lock);
}

static void after_fork_child(void)
{
    urcu_qsbr_call_rcu_after_fork_child();
    pthread_mutex_init(&fork_lock, NULL); /* ours, but made anew: one init for every case */
    if (!fork_state.initialized)
        return;
    _weft_registry_unlock(); /* ours */
    bool whole = fork_state.attached && !fork_state.collector_forker && fork_state.others == 0;
    if (whole) {
        weft_blocking_end();
        if (fork_state.collector_stopped)
            restart_collector();
        return;
    }
    /* The collector thread, when it ran on, is one of the ghosts (or the
     * forking thread, in the middle of a collection's work). */
    weft_store_relaxed(&_weft_fork_ghosts, fork_state.others ? fork_state.others : 1);
    _weft_gc_forget_thread();
    if (fork_state.attached)
        _weft_thread_resume_alone_in_child();
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_handlers(void)
{
    /* The default call_rcu worker made now, not by a call_rcu while
     * before_fork holds liburcu's lock with its workers paused. */
    urcu_qsbr_get_default_call_rcu_data();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void _weft_fork_init(void)
{
    pthread_once(&atfork_once, register_handlers);
}
