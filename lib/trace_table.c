/* lib/trace_table.c: the trace table, block address -> trace, and the traced
 * totals (trace_impl.h).
 *
 * Why this shape. The table is written on every allocation and free of every
 * thread while tracing, so it must be concurrent, exact (a free must find the
 * trace its allocation stored, whichever threads did them) and cheap. It is
 * 32 shards, picked by a hash of the address, each an open-addressing map
 * (linear probing, backward-shift deletion, so no tombstones) under its own
 * mutex. An operation is one uncontended lock, a probe or two in a line that is
 * usually cached, and an unlock; two threads collide only when their addresses
 * hash to the same shard (1 in 32:
 * more shards would slow the snapshots, which lock them all, and
 * ThreadSanitizer tracks at most 64 locks held at once). The alternatives were worse here:
 * liburcu's lock-free hash table allocates a node per insert and frees it
 * through call_rcu after a grace period, and its QSBR flavor needs every
 * calling thread registered and online, which threads that use only the raw
 * domain are not (the bulletproof flavor registers by itself, but pays a
 * memory barrier per read-side section where membarrier is unavailable);
 * per-thread tables would need the thread that frees a block to find the
 * table of the thread that allocated it, and would make a snapshot merge
 * tables without a common order between a free and the reuse of its address.
 *
 * Totals: `xcurrent` is updated inside the shard's critical section, so with
 * every shard locked it equals the sum of the sizes in the table; `xpeak` is
 * raised (CAS to the max) inside the same section, so it is the exact maximum
 * of every value `xcurrent` took, and never below it once the section ends.
 *
 * Invariants, per shard, under its lock: `count` keys are non-zero; every
 * key's slot is reachable from its home slot (hash & mask) without crossing an
 * empty slot; count <= 3/4 of the slots.
 */
#include "trace_impl.h"

#include <pthread.h>
#include <stdlib.h>

#define SHARD_BITS 5
#define NSHARDS (1u << SHARD_BITS)
#define SHARD_MIN_SLOTS 64

typedef struct trace_slot {
    uintptr_t key;   /* the block's address; 0: empty */
    size_t size;     /* the size asked for */
    uintptr_t tb_dm; /* const weft_tb * | domain (a traceback is 8-byte aligned) */
} trace_slot;

/* One cache line per shard header, so that threads working in different
 * shards do not share lines. */
typedef struct trace_shard {
    pthread_mutex_t lock;
    trace_slot *slots; /* lock; NULL or mask + 1 slots */
    size_t mask;       /* lock */
    size_t count;      /* lock */
} __attribute__((aligned(WEFT_CACHE_LINE))) trace_shard;

static trace_shard shards[NSHARDS] = {[0 ... NSHARDS - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

static WEFT_ATOMIC(size_t) xcurrent WEFT_CACHE_ALIGNED; /* changed under a shard lock */
static WEFT_ATOMIC(size_t) xpeak;                       /* raised under a shard lock */
static WEFT_ATOMIC(size_t) xslot_bytes;                 /* storage of all shards */

_Static_assert(WEFT_DOMAIN_COUNT <= 8, "the domain fits in the low bits of a traceback pointer");

static inline uint64_t addr_hash(uintptr_t key)
{
    uint64_t h = (uint64_t)(key >> 4) * 0x9e3779b97f4a7c15u; /* blocks are 16-byte aligned */
    return h ^ (h >> 31);
}

static inline trace_shard *shard_of(uint64_t h)
{
    return &shards[h >> (64 - SHARD_BITS)];
}

/* Place a key known to be absent; the shard has room. */
static void place_locked(trace_shard *sh, const trace_slot *s)
{
    size_t i = addr_hash(s->key) & sh->mask;
    while (sh->slots[i].key)
        i = (i + 1) & sh->mask;
    sh->slots[i] = *s;
}

static bool grow_locked(trace_shard *sh)
{
    size_t old_n = sh->slots ? sh->mask + 1 : 0;
    size_t n = old_n ? old_n * 2 : SHARD_MIN_SLOTS;
    trace_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        return false;
    trace_slot *old = sh->slots;
    sh->slots = slots;
    sh->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].key)
            place_locked(sh, &old[i]);
    free(old);
    weft_fetch_add_relaxed(&xslot_bytes, (n - old_n) * sizeof(trace_slot));
    return true;
}

/* The slot of key, or -1. */
static inline ptrdiff_t find_locked(const trace_shard *sh, uintptr_t key, uint64_t h)
{
    if (!sh->slots)
        return -1;
    for (size_t i = h & sh->mask;; i = (i + 1) & sh->mask) {
        if (sh->slots[i].key == key)
            return (ptrdiff_t)i;
        if (!sh->slots[i].key)
            return -1;
    }
}

/* Empty slot i and move later entries of its cluster back, so that every key
 * stays reachable from its home slot. */
static void delete_locked(trace_shard *sh, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & sh->mask;
        uintptr_t key = sh->slots[j].key;
        if (!key)
            break;
        size_t home = addr_hash(key) & sh->mask;
        /* The entry at j may move to i if its home is not in (i, j] (cyclically). */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            sh->slots[i] = sh->slots[j];
            i = j;
        }
    }
    sh->slots[i].key = 0;
    sh->count--;
}

static inline void raise_peak_locked(size_t now)
{
    size_t peak = weft_load_relaxed(&xpeak);
    while (now > peak && !atomic_compare_exchange_weak_explicit(&xpeak, &peak, now,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed)) {
    }
}

static inline bool session_is(unsigned session)
{
    /* Under a shard lock: stop changes the session with every shard locked. */
    return weft_load_relaxed(&_weft_trace_xsession) == session;
}

bool _weft_trace_table_add(const void *ptr, size_t size, weft_domain d, const weft_tb *tb,
                           unsigned session)
{
    uintptr_t key = (uintptr_t)ptr;
    uint64_t h = addr_hash(key);
    trace_shard *sh = shard_of(h);
    pthread_mutex_lock(&sh->lock);
    if (!session_is(session)) {
        pthread_mutex_unlock(&sh->lock);
        return false;
    }
    size_t old_size = 0;
    ptrdiff_t at = find_locked(sh, key, h);
    if (at >= 0) {
        /* The address came back without its free being seen (it was freed
         * while this session's hooks were not yet on): the new trace wins. */
        old_size = sh->slots[at].size;
        sh->slots[at].size = size;
        sh->slots[at].tb_dm = (uintptr_t)tb | (uintptr_t)d;
    } else {
        if ((!sh->slots || (sh->count + 1) * 4 > (sh->mask + 1) * 3) && !grow_locked(sh)) {
            pthread_mutex_unlock(&sh->lock);
            return false;
        }
        size_t i = h & sh->mask;
        while (sh->slots[i].key)
            i = (i + 1) & sh->mask;
        sh->slots[i] = (trace_slot){key, size, (uintptr_t)tb | (uintptr_t)d};
        sh->count++;
    }
    size_t now = weft_fetch_add_relaxed(&xcurrent, size - old_size) + (size - old_size);
    raise_peak_locked(now);
    pthread_mutex_unlock(&sh->lock);
    return true;
}

static void rec_of(const trace_slot *s, weft_trace_rec *out)
{
    out->ptr = (const void *)s->key;
    out->size = s->size;
    out->tb = (const weft_tb *)(s->tb_dm & ~(uintptr_t)7);
    out->domain = (weft_domain)(s->tb_dm & 7);
}

bool _weft_trace_table_remove(const void *ptr, unsigned session, weft_trace_rec *out)
{
    uintptr_t key = (uintptr_t)ptr;
    uint64_t h = addr_hash(key);
    trace_shard *sh = shard_of(h);
    pthread_mutex_lock(&sh->lock);
    ptrdiff_t at = session_is(session) ? find_locked(sh, key, h) : -1;
    if (at < 0) {
        pthread_mutex_unlock(&sh->lock);
        return false;
    }
    rec_of(&sh->slots[at], out);
    weft_fetch_sub_relaxed(&xcurrent, out->size);
    delete_locked(sh, (size_t)at);
    pthread_mutex_unlock(&sh->lock);
    return true;
}

bool _weft_trace_table_get(const void *ptr, unsigned session, weft_trace_rec *out)
{
    uintptr_t key = (uintptr_t)ptr;
    uint64_t h = addr_hash(key);
    trace_shard *sh = shard_of(h);
    pthread_mutex_lock(&sh->lock);
    ptrdiff_t at = session_is(session) ? find_locked(sh, key, h) : -1;
    if (at >= 0)
        rec_of(&sh->slots[at], out);
    pthread_mutex_unlock(&sh->lock);
    return at >= 0;
}

void _weft_trace_table_lock_all(void)
{
    for (unsigned i = 0; i < NSHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
}

void _weft_trace_table_unlock_all(void)
{
    for (unsigned i = NSHARDS; i-- > 0;)
        pthread_mutex_unlock(&shards[i].lock);
}

size_t _weft_trace_table_count_all_locked(void)
{
    size_t n = 0;
    for (unsigned i = 0; i < NSHARDS; i++)
        n += shards[i].count;
    return n;
}

size_t _weft_trace_table_copy_all_locked(weft_trace_rec *out, size_t cap)
{
    size_t n = 0;
    for (unsigned i = 0; i < NSHARDS; i++) {
        const trace_shard *sh = &shards[i];
        for (size_t j = 0; sh->slots && j <= sh->mask && n < cap; j++)
            if (sh->slots[j].key)
                rec_of(&sh->slots[j], &out[n++]);
    }
    return n;
}

void _weft_trace_table_clear_all_locked(void)
{
    for (unsigned i = 0; i < NSHARDS; i++) {
        trace_shard *sh = &shards[i];
        free(sh->slots);
        sh->slots = NULL;
        sh->mask = 0;
        sh->count = 0;
    }
    weft_store_relaxed(&xslot_bytes, 0);
    weft_store_relaxed(&xcurrent, 0);
    weft_store_relaxed(&xpeak, 0);
}

void _weft_trace_table_memory_all_locked(size_t *current, size_t *peak)
{
    *current = weft_load_relaxed(&xcurrent);
    *peak = weft_load_relaxed(&xpeak);
}

void _weft_trace_table_reset_peak_all_locked(void)
{
    weft_store_relaxed(&xpeak, weft_load_relaxed(&xcurrent));
}

size_t _weft_trace_table_overhead(void)
{
    return weft_load_relaxed(&xslot_bytes);
}
