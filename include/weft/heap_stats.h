/* weft/heap_stats.h: figures of weft's private heap. */
#ifndef WEFT_HEAP_STATS_H
#define WEFT_HEAP_STATS_H

#include <stddef.h>
#include <stdio.h>
#include <weft/export.h>

WEFT_BEGIN_DECLS

#define WEFT_SIZE_CLASSES 32 /* 16, 32, ..., 512 bytes */

typedef struct weft_class_stats {
    size_t block_size;
    /* Blocks handed out, including dead ints and small tuples that threads
     * keep for reuse (up to 64 per kind and thread; weft_heap_trim and a
     * thread's detach give them back). */
    size_t blocks_in_use;
    size_t pools;      /* pools serving this class (owned or abandoned) */
    size_t allocs;     /* cumulative */
} weft_class_stats;

typedef struct weft_heap_stats {
    size_t requested_total;     /* cumulative bytes asked for, all domains */
    size_t allocs_total;        /* cumulative allocations */
    size_t frees_total;         /* cumulative frees */
    size_t small_blocks_in_use;
    size_t small_bytes_in_use;  /* block bytes (size-class rounded) */
    size_t large_blocks_in_use;
    size_t large_bytes_in_use;  /* usable bytes of live large blocks */
    size_t arenas_mapped;
    size_t arenas_peak;
    size_t arenas_empty_kept;   /* empty arenas kept mapped (hysteresis) */
    size_t pools_in_use;        /* pools serving a size class */
    size_t pools_cached;        /* empty pools kept by threads for reuse */
    size_t bytes_mapped;        /* arenas x arena size */
    size_t bytes_returned;      /* cumulative bytes of arenas unmapped */
    size_t bytes_purged;        /* cumulative bytes of free pools given back (madvise) */
    size_t heaps;               /* per-thread heaps, live or idle */
    /* The private jemalloc's own figures (0 where it is not in use). */
    size_t je_allocated, je_active, je_resident, je_mapped;
    weft_class_stats classes[WEFT_SIZE_CLASSES];
} weft_heap_stats;

/* Fill *out. The counters of other threads are read without stopping them, so
 * the figures are a consistent snapshot only when the heap is quiet. */
WEFT_API void weft_heap_get_stats(weft_heap_stats *out);
/* A readable table of the same figures. */
WEFT_API void weft_heap_print_stats(FILE *out);

WEFT_END_DECLS

#endif
