/* lib/heap_stats.c: weft_heap_get_stats and the readable table.
 *
 * Per-class block counts are allocations minus frees summed over every heap
 * (each counted by the thread that did it) and the frees of threads without a
 * heap. Pools per class are counted where a pool starts and stops serving a
 * class (pool.c, heap.c). */
#include "heap.h"

#include <string.h>

uint64_t _weft_heap_orphan_frees(unsigned cls);
size_t _weft_pool_class_count(unsigned cls);
void _weft_large_get_counts(uint64_t *allocs, uint64_t *frees, uint64_t *bytes_live,
                            uint64_t *requested);
void _weft_large_get_je_stats(size_t *allocated, size_t *active, size_t *resident,
                              size_t *mapped);

typedef struct sums {
    uint64_t allocs[WEFT_NCLASSES + 1], frees[WEFT_NCLASSES + 1], requested;
    size_t heaps;
} sums;

static void add_heap(weft_heap *h, void *arg)
{
    sums *s = arg;
    for (unsigned c = 1; c <= WEFT_NCLASSES; c++) {
        s->allocs[c] += weft_load_relaxed(&h->xallocs[c]);
        s->frees[c] += weft_load_relaxed(&h->xfrees[c]);
    }
    s->requested += weft_load_relaxed(&h->xrequested);
    s->heaps++;
}

void weft_heap_get_stats(weft_heap_stats *out)
{
    memset(out, 0, sizeof *out);
    sums s;
    memset(&s, 0, sizeof s);
    _weft_heap_for_each(add_heap, &s);

    size_t pools_serving = 0;
    for (unsigned c = 1; c <= WEFT_NCLASSES; c++) {
        weft_class_stats *cs = &out->classes[c - 1];
        uint64_t frees = s.frees[c] + _weft_heap_orphan_frees(c);
        cs->block_size = _weft_class_block_size(c);
        /* Counters of different threads are read at slightly different times:
         * a free may be seen before its allocation. */
        cs->blocks_in_use = s.allocs[c] > frees ? (size_t)(s.allocs[c] - frees) : 0;
        cs->allocs = (size_t)s.allocs[c];
        cs->pools = _weft_pool_class_count(c);
        pools_serving += cs->pools;
        out->small_blocks_in_use += cs->blocks_in_use;
        out->small_bytes_in_use += cs->blocks_in_use * cs->block_size;
        out->allocs_total += (size_t)s.allocs[c];
        out->frees_total += (size_t)frees;
    }
    uint64_t large_allocs, large_frees, large_bytes, large_requested;
    _weft_large_get_counts(&large_allocs, &large_frees, &large_bytes, &large_requested);
    out->large_blocks_in_use = large_allocs > large_frees ? (size_t)(large_allocs - large_frees) : 0;
    out->large_bytes_in_use = (size_t)large_bytes;
    out->allocs_total += (size_t)large_allocs;
    out->frees_total += (size_t)large_frees;
    out->requested_total = (size_t)(s.requested + large_requested);
    out->heaps = s.heaps;

    weft_arena_stats as;
    _weft_arena_get_stats(&as);
    out->arenas_mapped = as.mapped;
    out->arenas_peak = as.peak;
    out->arenas_empty_kept = as.empty_kept;
    out->pools_in_use = pools_serving;
    out->pools_cached = as.pools_taken > pools_serving ? as.pools_taken - pools_serving : 0;
    out->bytes_mapped = as.mapped * WEFT_ARENA_SIZE;
    out->bytes_returned = as.bytes_returned;
    out->bytes_purged = as.bytes_purged;
    _weft_large_get_je_stats(&out->je_allocated, &out->je_active, &out->je_resident,
                             &out->je_mapped);
}

static double mib(size_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

void weft_heap_print_stats(FILE *f)
{
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    fprintf(f, "weft heap\n");
    fprintf(f, "  small blocks in use  %12zu  (%.2f MiB)\n", st.small_blocks_in_use,
            mib(st.small_bytes_in_use));
    fprintf(f, "  large blocks in use  %12zu  (%.2f MiB)\n", st.large_blocks_in_use,
            mib(st.large_bytes_in_use));
    fprintf(f, "  allocations          %12zu  frees %zu, %.2f MiB requested in all\n",
            st.allocs_total, st.frees_total, mib(st.requested_total));
    fprintf(f, "  arenas mapped        %12zu  (peak %zu, %zu empty kept, %.2f MiB mapped)\n",
            st.arenas_mapped, st.arenas_peak, st.arenas_empty_kept, mib(st.bytes_mapped));
    fprintf(f, "  pools in use         %12zu  (%zu cached empty by threads)\n", st.pools_in_use,
            st.pools_cached);
    fprintf(f, "  returned to the OS   %12.2f MiB unmapped, %.2f MiB purged\n",
            mib(st.bytes_returned), mib(st.bytes_purged));
    fprintf(f, "  thread heaps         %12zu\n", st.heaps);
    fprintf(f, "  jemalloc             allocated %.2f MiB, active %.2f, resident %.2f, mapped %.2f\n",
            mib(st.je_allocated), mib(st.je_active), mib(st.je_resident), mib(st.je_mapped));
    fprintf(f, "  %10s %14s %8s %14s\n", "class", "blocks in use", "pools", "allocations");
    for (unsigned c = 0; c < WEFT_SIZE_CLASSES; c++) {
        const weft_class_stats *cs = &st.classes[c];
        if (cs->allocs == 0 && cs->pools == 0)
            continue;
        fprintf(f, "  %10zu %14zu %8zu %14zu\n", cs->block_size, cs->blocks_in_use, cs->pools,
                cs->allocs);
    }
}
