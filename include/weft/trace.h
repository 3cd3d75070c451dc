/* weft/trace.h: allocation tracing, weft's tracemalloc.
 *
 * While tracing is on, every block of every domain is recorded with the size
 * that was asked for, its domain and the call stack of its allocation: up to
 * `nframes` return addresses, most recent call first. Frame 0 is the first
 * frame outside weft, so it names the line of the program that called
 * weft_malloc (or weft_tuple_new, ...), not weft's own functions. Blocks made
 * before tracing started are not traced, and their frees are ignored; stopping
 * forgets every trace. A realloc that succeeds re-records the block at the
 * realloc's call site; one that fails leaves its trace as it was.
 *
 * Cost: nothing while off (every allocation already tests the one flag word
 * that turns tracing on). While on, each allocation and free takes a lock on
 * one of many shards of the trace table and updates the exact totals; stacks
 * are unwound with libunwind, except with one frame when the caller is the
 * program itself, where no unwinding is needed.
 *
 * Frames are turned into file, line and function at snapshot and format time
 * only, from the DWARF debug information of the program and its libraries
 * (libdw): build with -g for lines. Without it a frame shows the function from
 * the symbol table and, as its file, the path of its module. Calls that the
 * compiler inlined are shown as frames of their own (the inline body's line,
 * then the line that called it), so that a traceback reads the same whatever
 * the optimization level; the limit of nframes applies to the frames shown.
 *
 * Every function may be called from any thread, attached to weft or not.
 * Functions that fail return NULL or -1 and set weft_error(). The strings in
 * frames (file and function names) stay valid until the process exits. */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <weft/export.h>

WEFT_BEGIN_DECLS

/* The most frames a traceback may keep. */
#define WEFT_TRACE_MAX_FRAMES 128

/* ---------------------------------------------------------------- on and off */

/* Start tracing, keeping up to nframes frames (1..WEFT_TRACE_MAX_FRAMES, else
 * -1 with WEFT_EINVAL). Starting again with the same nframes does nothing;
 * with another, -1 with WEFT_ESTATE (stop first). */
WEFT_API int weft_trace_start(int nframes);
/* Stop tracing and free every trace and traceback (snapshots already taken
 * stay valid). Does nothing when tracing is off. */
WEFT_API void weft_trace_stop(void);
WEFT_API bool weft_trace_is_tracing(void);
/* nframes of the current session; 0 when tracing is off. */
WEFT_API int weft_trace_get_traceback_limit(void);

/* ---------------------------------------------------------------- totals */

/* Bytes of the traced blocks now alive (the sizes asked for), and the most
 * there were at once since tracing started or weft_trace_reset_peak. Both
 * exact: they are read together with every shard of the trace table locked.
 * 0 and 0 when tracing is off. Either pointer may be NULL. */
WEFT_API void weft_trace_get_memory(size_t *current, size_t *peak);
/* Set the peak to the current size. */
WEFT_API void weft_trace_reset_peak(void);
/* Forget every trace but go on tracing (current and peak become 0). */
WEFT_API void weft_trace_clear(void);
/* Bytes the tracer itself uses for its traces and tracebacks. */
WEFT_API size_t weft_trace_get_overhead(void);

/* ---------------------------------------------------------------- tracebacks */

typedef struct weft_trace_frame {
    const char *filename; /* source file; without line information, the module's
                             path; "<unknown>" when not even that is known */
    const char *function; /* NULL when unknown */
    unsigned lineno;      /* 0 when unknown (and in weft_trace_stats grouped by file) */
    const void *address;  /* the return address this frame was made from (the
                             same for the frames of one address's inlined
                             calls; NULL in statistics grouped by file) */
} weft_trace_frame;

typedef struct weft_traceback {
    size_t nframes;
    const weft_trace_frame *frames; /* [0]: the allocation site */
} weft_traceback;

/* Where the block at ptr (a pointer a weft domain returned) was allocated:
 * a new traceback to free with weft_traceback_free. NULL with WEFT_ESTATE when
 * tracing is off, WEFT_EINVAL when the block is not traced, WEFT_ENOMEM. */
WEFT_API weft_traceback *weft_trace_get_traceback(const void *ptr);
/* The same for an object (objects are blocks of the obj domain). */
WEFT_API weft_traceback *weft_object_traceback(const void *object);
WEFT_API void weft_traceback_free(weft_traceback *traceback);
/* Print the frames, one a line: "  file:line in function". */
WEFT_API void weft_traceback_print(const weft_traceback *traceback, FILE *out);

/* ---------------------------------------------------------------- snapshots */

/* Every trace at one instant (taken with all shards of the trace table
 * locked, so its total is the traced current size at that instant). A
 * snapshot owns copies of its tracebacks and outlives the session. */
typedef struct weft_snapshot weft_snapshot;

/* NULL with WEFT_ESTATE when tracing is off, WEFT_ENOMEM. */
WEFT_API weft_snapshot *weft_trace_snapshot(void);
WEFT_API void weft_snapshot_free(weft_snapshot *snapshot);
/* Total bytes of the snapshot's traces; their number in *count (may be NULL). */
WEFT_API size_t weft_snapshot_size(const weft_snapshot *snapshot, size_t *count);
WEFT_API int weft_snapshot_traceback_limit(const weft_snapshot *snapshot);

/* Keep or drop traces by where they were allocated (as tracemalloc.Filter and
 * DomainFilter). A trace is kept when it matches at least one inclusive filter
 * (or there is none) and no exclusive one. */
typedef struct weft_trace_filter {
    bool inclusive;               /* keep matching traces, or drop them */
    const char *filename_pattern; /* fnmatch(3) pattern ('*' also matches '/'); NULL: any */
    unsigned lineno;              /* 0: any line */
    bool all_frames;              /* match any frame, not only frame 0 */
    int domain;                   /* a weft_domain, or -1: any */
} weft_trace_filter;

/* A new snapshot with the traces that pass the filters. */
WEFT_API weft_snapshot *weft_snapshot_filter(const weft_snapshot *snapshot,
                                             const weft_trace_filter *filters, size_t nfilters);

/* ---------------------------------------------------------------- statistics */

typedef enum weft_trace_group {
    WEFT_TRACE_BY_FILE = 0,     /* frame 0's file */
    WEFT_TRACE_BY_LINE = 1,     /* frame 0's file and line */
    WEFT_TRACE_BY_TRACEBACK = 2 /* every frame's file and line */
} weft_trace_group;

typedef struct weft_trace_stat {
    const weft_traceback *traceback; /* the group: one frame, or the whole traceback */
    size_t size;                     /* bytes of the group's blocks */
    size_t count;                    /* blocks */
    long long size_diff;             /* comparisons: size - the older snapshot's */
    long long count_diff;            /* comparisons: count - the older snapshot's */
} weft_trace_stat;

typedef struct weft_trace_stats {
    weft_trace_group group;
    bool is_diff;                /* made by weft_snapshot_compare */
    size_t nstats;
    const weft_trace_stat *stats; /* biggest first (comparisons: biggest |size_diff| first) */
    size_t total_size, total_count;
    long long total_size_diff, total_count_diff;
} weft_trace_stats;

/* The snapshot's traces grouped, biggest group first. */
WEFT_API weft_trace_stats *weft_snapshot_statistics(const weft_snapshot *snapshot,
                                                    weft_trace_group group);
/* What changed from `before` to `now`, biggest change first; groups present in
 * only one of them are included (with size 0 in the other). */
WEFT_API weft_trace_stats *weft_snapshot_compare(const weft_snapshot *now,
                                                 const weft_snapshot *before,
                                                 weft_trace_group group);
WEFT_API void weft_trace_stats_free(weft_trace_stats *stats);

/* The first `limit` groups (0: all) as text, one a line, e.g.
 *   #1: /src/app.c:42: size=6400 B (+6400 B), count=100 (+100), average=64 B
 * (frames under each when grouped by traceback), then the rest and the total. */
WEFT_API int weft_trace_stats_print(const weft_trace_stats *stats, size_t limit, FILE *out);
/* The same as one JSON object:
 *   {"group": "line", "diff": true, "total_size": ..., "total_count": ...,
 *    "total_size_diff": ..., "total_count_diff": ...,
 *    "stats": [{"size": ..., "count": ..., "size_diff": ..., "count_diff": ...,
 *               "traceback": [{"file": ..., "line": ..., "function": ..., "address": "0x..."}]}],
 *    "other": {"groups": ..., "size": ..., "count": ...}} */
WEFT_API int weft_trace_stats_write_json(const weft_trace_stats *stats, size_t limit, FILE *out);

WEFT_END_DECLS

#endif
