/* lib/trace_stack.c: capturing the stack of an allocation, and interning it
 * (trace_impl.h).
 *
 * Frame 0 is the first frame outside weft. The domain layer's slow dispatch
 * passes its own return address (`caller`): when it lies outside weft's code,
 * it is frame 0, and a one-frame traceback needs no unwinding at all. Otherwise
 * (weft's own code allocated on the program's behalf, or more frames are kept)
 * the stack is unwound with libunwind's unw_backtrace, whose per-address cache
 * of unwind rules makes a frame cost a few nanoseconds (the C library's
 * backtrace() costs about ten times more here), and the frames up to `caller`,
 * then every frame inside weft's code, are skipped. Which addresses are weft's
 * code is computed once (trace_symbols.c) and then only read.
 *
 * Tracebacks are hash-consed, as CPython's tracemalloc does: one immutable
 * weft_tb per distinct stack and session, in one table under the intern lock,
 * freed all at once when the session ends. Each thread keeps a direct-mapped
 * cache (frames -> weft_tb) for the current session, so that the common case,
 * a stack seen before, takes no lock. The cache holds its own copy of the
 * frames and never reads a cached weft_tb: the session may end, and free it,
 * at any moment; the pointer is only handed to the trace table, which refuses
 * it when the session has changed.
 */
#include "trace_impl.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Frames of the tracer and the domain layer above the caller's frame: four
 * at most today (capture, hook, slow dispatch, entry point); the rest is room. */
#define SKIP_MARGIN 12
/* Frames unwound when weft's own code is deep under frame 0. */
#define RAW_MAX (WEFT_TRACE_MAX_FRAMES + 64)
#define CACHE_SLOTS 256 /* a power of two */

WEFT_TLS weft_trace_tls _weft_trace_tls;

/* ---------------------------------------------------------------- weft's own code */

/* Written once, under the session lock, before the first session starts;
 * read-only afterwards (the hooks see it through the session's release). */
static weft_code_range *code_ranges;
static size_t ncode_ranges;
static uintptr_t code_lo = UINTPTR_MAX, code_hi;
static bool stack_ready;

/* The return addresses of the calling thread's stack, innermost first.
 * unw_backtrace keeps a per-thread cache that libunwind frees from a thread
 * exit destructor, which ThreadSanitizer's runtime does not survive (it has
 * torn the thread down by then); TSan builds step through the frames with
 * unw_step instead, which keeps no cache, and is slower. */
static int unwind(void **frames, int max)
{
    if (!WEFT_TSAN)
        return unw_backtrace(frames, max);
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0)
        return 0;
    int n = 0;
    do {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || !ip)
            break;
        frames[n++] = (void *)ip;
    } while (n < max && unw_step(&cursor) > 0);
    return n;
}

static void warm_up_unwinder(void)
{
    void *frames[4];
    unwind(frames, 4); /* first use: libunwind sets up its caches */
}

void _weft_trace_stack_init(void)
{
    if (stack_ready)
        return;
    ncode_ranges = _weft_trace_find_weft_code(&code_ranges);
    if (ncode_ranges) {
        code_lo = code_ranges[0].lo;
        code_hi = code_ranges[ncode_ranges - 1].hi;
    }
    warm_up_unwinder();
    stack_ready = true;
}

static bool in_code_ranges(uintptr_t a)
{
    if (a < code_lo || a >= code_hi)
        return false;
    size_t lo = 0, hi = ncode_ranges; /* the range containing a is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (code_ranges[mid].lo <= a)
            lo = mid;
        else
            hi = mid;
    }
    return a >= code_ranges[lo].lo && a < code_ranges[lo].hi;
}

/* A thread's last answers, by address: a program allocates from a few hot
 * call sites, and the answer for an address never changes (weft's code does
 * not move), while the search costs a dozen dependent loads when weft's
 * ranges are many (symbols without debug information). */
#define CLASS_SLOTS 16
typedef struct class_slot {
    uintptr_t pc; /* 0: empty */
    bool weft;
} class_slot;
static WEFT_TLS class_slot class_cache[CLASS_SLOTS];

bool _weft_trace_is_weft_code(const void *pc)
{
    uintptr_t a = (uintptr_t)pc;
    class_slot *slot = &class_cache[(a ^ (a >> 7)) & (CLASS_SLOTS - 1)];
    if (slot->pc == a && a)
        return slot->weft;
    *slot = (class_slot){a, in_code_ranges(a)};
    return slot->weft;
}

/* ---------------------------------------------------------------- capture */

int _weft_trace_capture(const void **frames, int max, const void *caller)
{
    bool caller_is_program = caller && !_weft_trace_is_weft_code(caller);
    if (caller_is_program && max == 1) {
        frames[0] = caller;
        return 1;
    }
    void *raw[RAW_MAX];
    int want = max + SKIP_MARGIN;
    int n = unwind(raw, want);
    int first = 0;
    if (caller) {
        int j = 0;
        while (j < n && j < SKIP_MARGIN && raw[j] != caller)
            j++;
        first = j < n && j < SKIP_MARGIN ? j : 0;
    }
    while (first < n && _weft_trace_is_weft_code(raw[first]))
        first++;
    if (n == want && n - first < max && want < RAW_MAX) {
        /* weft's frames went deeper than the margin: unwind again, further. */
        int deeper = unwind(raw, RAW_MAX);
        if (deeper > n) {
            n = deeper;
            while (first < n && _weft_trace_is_weft_code(raw[first]))
                first++;
        }
    }
    int kept = n - first < max ? n - first : max;
    if (kept <= 0 && caller_is_program) {
        frames[0] = caller; /* the unwinder failed: the caller is still known */
        return 1;
    }
    if (kept <= 0) {
        frames[0] = NULL; /* nothing known: one "<unknown>" frame */
        return 1;
    }
    for (int i = 0; i < kept; i++)
        frames[i] = raw[first + i];
    return kept;
}

/* ---------------------------------------------------------------- interning */

typedef struct weft_tb_cache_slot {
    uint64_t hash;
    const weft_tb *tb; /* NULL: empty; never dereferenced (see above) */
    uint32_t nframes;
    const void *frames[]; /* cache_nframes entries */
} cache_slot;

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_tb **intern_slots;     /* intern lock; NULL or intern_mask + 1 */
static size_t intern_mask;         /* intern lock */
static size_t intern_count;        /* intern lock */
static WEFT_ATOMIC(size_t) xintern_bytes;

static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;

static void free_cache(void *cache)
{
    if (_weft_trace_tls.cache == cache) {
        _weft_trace_tls.cache = NULL;
        _weft_trace_tls.cache_session = 0;
    }
    free(cache);
}

static void make_cache_key(void)
{
    pthread_key_create(&cache_key, free_cache);
}

static uint64_t hash_frames(const void *const *frames, int n)
{
    uint64_t h = 0x243f6a8885a308d3u ^ (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = (h ^ (uintptr_t)frames[i]) * 0x100000001b3u + (h >> 29);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    return h ^ (h >> 33);
}

static size_t slot_stride(int nframes)
{
    return sizeof(cache_slot) + (size_t)nframes * sizeof(void *);
}

static cache_slot *cache_at(weft_trace_tls *t, uint64_t h)
{
    size_t i = (size_t)(h >> 32) & (CACHE_SLOTS - 1);
    return (cache_slot *)((char *)t->cache + i * slot_stride(t->cache_nframes));
}

/* The calling thread's cache, emptied if it belonged to another session. */
static bool cache_ready(weft_trace_tls *t, unsigned session)
{
    if (WEFT_LIKELY(t->cache_session == session && t->cache))
        return true;
    int nframes = weft_load_relaxed(&_weft_trace_xnframes);
    if (nframes < 1)
        return false;
    if (t->cache && t->cache_nframes == nframes) {
        memset(t->cache, 0, CACHE_SLOTS * slot_stride(nframes));
    } else {
        pthread_once(&cache_key_once, make_cache_key);
        void *old = t->cache;
        t->cache = calloc(CACHE_SLOTS, slot_stride(nframes));
        free(old);
        pthread_setspecific(cache_key, t->cache);
        if (!t->cache)
            return false;
        t->cache_nframes = nframes;
    }
    t->cache_session = session;
    return true;
}

static bool same_frames(const weft_tb *tb, uint64_t h, const void *const *frames, int n)
{
    return tb->hash == h && tb->nframes == (uint32_t)n &&
           memcmp(tb->frames, frames, (size_t)n * sizeof(void *)) == 0;
}

static bool intern_grow_locked(void)
{
    size_t old_n = intern_slots ? intern_mask + 1 : 0;
    size_t n = old_n ? old_n * 2 : 1024;
    weft_tb **slots = calloc(n, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < old_n; i++) {
        weft_tb *tb = intern_slots[i];
        if (!tb)
            continue;
        size_t j = tb->hash & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = tb;
    }
    free(intern_slots);
    intern_slots = slots;
    intern_mask = n - 1;
    weft_fetch_add_relaxed(&xintern_bytes, (n - old_n) * sizeof *slots);
    return true;
}

static const weft_tb *intern_locked(const void *const *frames, int n, uint64_t h)
{
    if (intern_slots) {
        for (size_t i = h & intern_mask; intern_slots[i]; i = (i + 1) & intern_mask)
            if (same_frames(intern_slots[i], h, frames, n))
                return intern_slots[i];
    }
    if ((!intern_slots || (intern_count + 1) * 4 > (intern_mask + 1) * 3) &&
        !intern_grow_locked())
        return NULL;
    size_t bytes = sizeof(weft_tb) + (size_t)n * sizeof(void *);
    weft_tb *tb = malloc(bytes);
    if (!tb)
        return NULL;
    tb->hash = h;
    tb->nframes = (uint32_t)n;
    memcpy(tb->frames, frames, (size_t)n * sizeof(void *));
    size_t i = h & intern_mask;
    while (intern_slots[i])
        i = (i + 1) & intern_mask;
    intern_slots[i] = tb;
    intern_count++;
    weft_fetch_add_relaxed(&xintern_bytes, bytes);
    return tb;
}

const weft_tb *_weft_trace_intern(const void *const *frames, int n, unsigned session)
{
    weft_trace_tls *t = &_weft_trace_tls;
    uint64_t h = hash_frames(frames, n);
    cache_slot *slot = NULL;
    if (cache_ready(t, session) && n <= t->cache_nframes) {
        slot = cache_at(t, h);
        if (slot->tb && slot->hash == h && slot->nframes == (uint32_t)n) {
            int i = 0;
            while (i < n && slot->frames[i] == frames[i])
                i++;
            if (i == n)
                return slot->tb;
        }
    }
    pthread_mutex_lock(&intern_lock);
    /* A session ends with this lock held (and every shard's): a traceback is
     * found or made here only while its session is the current one. */
    const weft_tb *tb = weft_load_relaxed(&_weft_trace_xsession) == session
                            ? intern_locked(frames, n, h)
                            : NULL;
    pthread_mutex_unlock(&intern_lock);
    if (tb && slot) {
        slot->hash = h;
        slot->tb = tb;
        slot->nframes = (uint32_t)n;
        memcpy(slot->frames, frames, (size_t)n * sizeof(void *));
    }
    return tb;
}

void _weft_trace_intern_lock(void)
{
    pthread_mutex_lock(&intern_lock);
}

void _weft_trace_intern_unlock(void)
{
    pthread_mutex_unlock(&intern_lock);
}

void _weft_trace_tb_clear_locked(void)
{
    for (size_t i = 0; intern_slots && i <= intern_mask; i++)
        free(intern_slots[i]);
    free(intern_slots);
    intern_slots = NULL;
    intern_mask = 0;
    intern_count = 0;
    weft_store_relaxed(&xintern_bytes, 0);
}

void _weft_trace_tb_cache_free(void)
{
    weft_trace_tls *t = &_weft_trace_tls;
    if (t->cache) {
        free(t->cache);
        t->cache = NULL;
        t->cache_session = 0;
        if (pthread_once(&cache_key_once, make_cache_key) == 0)
            pthread_setspecific(cache_key, NULL);
    }
}

size_t _weft_trace_tb_overhead(void)
{
    return weft_load_relaxed(&xintern_bytes);
}
