/* lib/trace_impl.h: what the files of allocation tracing share.
 *
 *   trace.c           sessions (start, stop), the hooks the domain layer calls,
 *                     totals and one block's traceback;
 *   trace_table.c     the trace table: block address -> trace, sharded, with
 *                     the exact current and peak totals;
 *   trace_stack.c     stack capture (frame 0 = first frame outside weft) and
 *                     interned tracebacks, with a per-thread cache;
 *   trace_symbols.c   libdw: where weft's own code lies, and symbolization;
 *   trace_snapshot.c  snapshots, filters, statistics, comparisons;
 *   trace_report.c    statistics as text and JSON.
 *
 * Glossary:
 *   session    the time from weft_trace_start to weft_trace_stop, numbered by
 *              `_weft_trace_xsession`, odd during a session and even outside.
 *              Every trace and traceback belongs to one session; whatever a
 *              hook computed for an older session is dropped, never stored.
 *   trace      what is recorded of one live block: size, domain, traceback.
 *   traceback  an interned, immutable array of return addresses (weft_tb),
 *              shared by all the traces with that stack; freed at session end.
 *   frame 0    the most recent frame outside weft: the program's call site.
 *
 * Lock order (outer first): the session lock, the shards in index order, the
 * intern lock, the symbol lock. The hooks take one shard lock, or the intern
 * lock, never both at once and never the session lock.
 *
 * Reentrancy: the tracer allocates with the C library's malloc. If the program
 * routes malloc to weft, those allocations come back into the hooks; the
 * per-thread `busy` flag makes them untraced rather than recursive (or
 * deadlocked on a shard lock this thread holds). */
#ifndef WEFT_LIB_TRACE_IMPL_H
#define WEFT_LIB_TRACE_IMPL_H

#include "trace.h"

#include <weft/trace.h>

/* ---------------------------------------------------------------- sessions (trace.c) */

/* Written only under the session lock, and by weft_trace_stop with every
 * shard locked too, so a reader holding a shard lock sees it stable. Read by
 * the hooks with acquire: a session's nframes is stored before it. */
extern WEFT_ATOMIC(unsigned) _weft_trace_xsession;
extern WEFT_ATOMIC(int) _weft_trace_xnframes;

WEFT_INLINE bool _weft_trace_session_is_on(unsigned session)
{
    return session & 1;
}

/* The session lock: start, stop, clear, snapshots and formatting hold it, so
 * that the tracebacks they read are not freed under them. */
void _weft_trace_session_lock(void);
void _weft_trace_session_unlock(void);

/* ---------------------------------------------------------------- per-thread state (trace_stack.c) */

typedef struct weft_tb {
    uint64_t hash;
    uint32_t nframes;
    const void *frames[]; /* [0]: frame 0 */
} weft_tb;

struct weft_tb_cache_slot;

typedef struct weft_trace_tls {
    bool busy; /* inside the tracer: allocations made now are not traced */
    /* The trace this thread removed last (_weft_trace_on_free): a fatal message
     * raised inside that free still finds where the block came from. */
    const void *freed_ptr;
    const weft_tb *freed_tb;
    unsigned freed_session;
    /* The traceback cache (trace_stack.c), valid for one session. */
    unsigned cache_session;
    int cache_nframes;
    struct weft_tb_cache_slot *cache;
} weft_trace_tls;

extern WEFT_TLS weft_trace_tls _weft_trace_tls;

/* Enter and leave the tracer from a public call: allocations the C library
 * makes meanwhile are not traced. Returns the previous state for leave. */
WEFT_INLINE bool _weft_trace_enter(void)
{
    bool was = _weft_trace_tls.busy;
    _weft_trace_tls.busy = true;
    return was;
}

WEFT_INLINE void _weft_trace_leave(bool was)
{
    _weft_trace_tls.busy = was;
}

/* ---------------------------------------------------------------- tracebacks (trace_stack.c) */

/* Once per process, before the first session: find weft's code, warm up the
 * unwinder. Session lock held. */
void _weft_trace_stack_init(void);
/* Is pc inside weft's own code (then it is not a program frame)? */
bool _weft_trace_is_weft_code(const void *pc);
/* Up to max frames, frame 0 first; `caller` is the return address of the
 * domain layer's slow dispatch, or NULL. Returns the number of frames, at least 1
 * (a NULL frame when nothing could be unwound). */
int _weft_trace_capture(const void **frames, int max, const void *caller);
/* The interned traceback of these frames for `session`; NULL when the session
 * has ended or on ENOMEM. The result may be freed as soon as the session ends:
 * it is only to be stored (with the session checked) or read under the
 * session lock. */
const weft_tb *_weft_trace_intern(const void *const *frames, int n, unsigned session);
/* The intern lock, taken by the end of a session (after the shards) so that
 * no hook finds a traceback of the old session in the table after the
 * session changed, nor stores one into the trace table before it did. */
void _weft_trace_intern_lock(void);
void _weft_trace_intern_unlock(void);
/* Free every traceback. Intern lock held, the session just ended. */
void _weft_trace_tb_clear_locked(void);
/* Free the calling thread's traceback cache (other threads empty theirs at
 * their next hook, and free it when they exit). */
void _weft_trace_tb_cache_free(void);
size_t _weft_trace_tb_overhead(void);

/* ---------------------------------------------------------------- the trace table (trace_table.c) */

typedef struct weft_trace_rec {
    const void *ptr;
    size_t size;
    const weft_tb *tb;
    weft_domain domain;
} weft_trace_rec;

/* Record (or replace) the trace of ptr if `session` is still the current one;
 * false otherwise or on ENOMEM. */
bool _weft_trace_table_add(const void *ptr, size_t size, weft_domain d, const weft_tb *tb,
                           unsigned session);
/* Remove the trace of ptr into *out; false if there is none in `session`. */
bool _weft_trace_table_remove(const void *ptr, unsigned session, weft_trace_rec *out);
/* Read the trace of ptr; false if there is none in `session`. */
bool _weft_trace_table_get(const void *ptr, unsigned session, weft_trace_rec *out);

/* Lock or unlock every shard (in order): the table and its totals then hold
 * still. */
void _weft_trace_table_lock_all(void);
void _weft_trace_table_unlock_all(void);
size_t _weft_trace_table_count_all_locked(void);
/* Copy up to cap traces; returns how many. */
size_t _weft_trace_table_copy_all_locked(weft_trace_rec *out, size_t cap);
/* Forget every trace and free the table's storage; totals to 0. */
void _weft_trace_table_clear_all_locked(void);
void _weft_trace_table_memory_all_locked(size_t *current, size_t *peak);
void _weft_trace_table_reset_peak_all_locked(void);
size_t _weft_trace_table_overhead(void);

/* ---------------------------------------------------------------- symbols (trace_symbols.c) */

typedef struct weft_code_range {
    uintptr_t lo, hi; /* [lo, hi) */
} weft_code_range;

/* The address ranges of weft's own code in this process, sorted and merged:
 * from the DWARF compilation units of weft's sources when there is debug
 * information, and from the weft_ and _weft_ symbols in any case. A new array
 * (C library malloc) in *out; returns its length. */
size_t _weft_trace_find_weft_code(weft_code_range **out);
/* The frames of a traceback's return addresses (frame 0 first), at most max
 * into out; returns how many (at least one per address until max). Inlined
 * calls are expanded into frames of their own, innermost first, and at frame
 * 0 the inline bodies of weft's own files are left out. Thread-safe, cached. */
size_t _weft_trace_symbolize(const void *const *pcs, size_t n, weft_trace_frame *out,
                             size_t max);

/* ---------------------------------------------------------------- text (trace_report.c) */

/* One frame as "file:line in function"; what is unknown is left out, and a
 * frame without a line shows its address. */
void _weft_trace_format_frame(const weft_trace_frame *frame, char *buf, size_t cap);

#endif
