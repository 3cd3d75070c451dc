/* threads/lockbias.c: revoking the bias of an object lock (lib/objlock.h),
 * and deciding which containers start biased.
 *
 * A revocation happens once in an object's life, when a thread other than
 * the owner first locks it: LOCK_REVOKING is set, every running thread of
 * the process passes a full barrier (membarrier(2), private expedited), and
 * the revoker waits until no thread record announces the object in
 * xlock_held; then LOCK_BIASED is cleared and every locker takes the atomic
 * lock. The wait scans every record rather than the owner's alone: the owner
 * field may have changed since (a merge), the announcement cannot.
 *
 * A revocation costs a system call that interrupts the other running
 * threads, so a thread whose containers keep being locked by others (a
 * producer that hands each new list to a consumer) stops making them biased:
 * past REVOKED_FREE revocations, a container it makes starts biased only
 * while at most one in REVOKED_SHARE of the containers it made so far was
 * revoked. The rule acts when a container is made: containers made before
 * their revocations were counted still pay one each. The counts belong to
 * the thread record and start again at each attach.
 */
#include "lib/builtins.h"
#include "lib/objlock.h"
#include "threads/thread.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <weft/runtime.h>

#define REVOKED_FREE 64  /* revocations of a thread's containers before the share counts */
#define REVOKED_SHARE 64 /* beyond them, at most one container in this many revoked */
#define WAIT_SPINS 64    /* yields before waiting inside a blocking region */

static bool bias_enabled; /* written once, by _weft_lockbias_init */
static WEFT_ATOMIC(uint64_t) revocations;

#if !WEFT_TSAN
static long membarrier(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0, 0);
}
#endif

void _weft_lockbias_init(void)
{
    if (!_weft_env_flag("WEFT_LOCK_BIAS", 1))
        return;
#if WEFT_TSAN
    bias_enabled = true; /* sequentially consistent accesses instead (objlock.h) */
#else
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    bias_enabled = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                   membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#endif
}

int weft_lock_bias_enabled(void)
{
    return bias_enabled;
}

uint64_t weft_lock_revocations(void)
{
    return weft_load_relaxed(&revocations);
}

void _weft_object_lock_init(weft_object *o)
{
    weft_thread *t = _weft_tls_thread;
    if (!bias_enabled || !t)
        return;
    uint64_t made = ++t->locks_made;
    uint64_t revoked = weft_load_relaxed(&t->xlocks_revoked);
    if (revoked > REVOKED_FREE && revoked * REVOKED_SHARE > made)
        return;
    /* Unpublished: no other thread can change the flags yet. */
    weft_store_relaxed(&o->flags, weft_load_relaxed(&o->flags) | WEFT_OBJ_LOCK_BIASED);
}

/* Every running thread's earlier stores are visible, and its later loads see
 * ours: the owner's announcement, or our LOCK_REVOKING. */
static void barrier_everywhere(void)
{
#if !WEFT_TSAN
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
        _weft_fatal("membarrier failed after it was registered");
#endif
}

static bool announced_anywhere(weft_object *o)
{
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        /* Acquire: the section of a holder that just released is ours to
         * see; sequentially consistent for the TSan build's handshake
         * (objlock.h), and no dearer on x86. */
        if (t && weft_load_seq_cst(&t->xlock_held) == o)
            return true;
    }
    return false;
}

/* Most sections are a few stores, so yield a while; but some take long (a
 * resize copies a whole table, long str keys compare byte by byte). So then
 * wait unattached (a stop is not held up by us), sleeping
 * 50 us doubled up to 1 ms between looks: the owner's unlock is a plain
 * store, with nobody to wake. */
static void wait_unannounced(weft_object *o)
{
    for (int i = 0; i < WAIT_SPINS; i++) {
        if (!announced_anywhere(o))
            return;
        sched_yield();
    }
    bool attached = weft_thread_is_attached();
    if (attached)
        weft_blocking_begin();
    long nap_ns = 50000;
    while (announced_anywhere(o)) {
        struct timespec nap = {0, nap_ns};
        nanosleep(&nap, NULL);
        if (nap_ns < 1000000)
            nap_ns *= 2;
    }
    if (attached)
        weft_blocking_end();
}

/* Charged to the owner at the time (its maker, unless the maker gave up
 * its ownership since: then nobody); an owner revoking its own (a lock
 * nested in another, objlock.h) is not the pattern the rule is for. */
static void count_revocation(weft_object *o)
{
    uint32_t index = weft_load_relaxed(&o->owner);
    weft_thread *owner = _weft_thread_record(index);
    if (owner && index != _weft_tls_index)
        weft_fetch_add_relaxed(&owner->xlocks_revoked, 1);
}

void _weft_object_lock_revoke(weft_object *o)
{
    uint32_t flags =
        atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_LOCK_REVOKING, memory_order_seq_cst);
    if (!(flags & WEFT_OBJ_LOCK_BIASED))
        return; /* revoked before: REVOKING stays set, and means nothing then */
    if (!(flags & WEFT_OBJ_LOCK_REVOKING)) {
        weft_fetch_add_relaxed(&revocations, 1);
        count_revocation(o);
    }
    /* Racing revokers each make the barrier and the wait: both are idempotent. */
    barrier_everywhere();
    wait_unannounced(o);
    atomic_fetch_and_explicit(&o->flags, ~WEFT_OBJ_LOCK_BIASED, memory_order_release);
}
