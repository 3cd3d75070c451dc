/* stress/gc.c: the harness's view of weft's cycle collector.
 *
 * Where weft has no collector (no <weft/gc.h>), or with --no-gc, cycles
 * cannot be freed by reference counting: the harness breaks each ring by hand
 * (clears one child slot) before it drops it, and makes no forced
 * collections. Where there is a collector, rings are dropped whole, forced
 * collections of each generation are part of the mix, after a full
 * collection every ring dropped before it must be dead (workload.c), and the
 * report shows the collector's own figures: collections per generation,
 * pause and time-to-safepoint percentiles. */
#include "stress.h"

#if __has_include(<weft/gc.h>)
#include <weft/gc.h>
#define HAVE_COLLECTOR 1
#else
#define HAVE_COLLECTOR 0
#endif

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

bool gc_compiled_in(void)
{
    return HAVE_COLLECTOR;
}

bool gc_active(void)
{
    return HAVE_COLLECTOR && !opt.no_gc;
}

bool gc_cycles_need_breaking(void)
{
    return !gc_active();
}

void gc_setup(void)
{
#if HAVE_COLLECTOR
    if (opt.no_gc)
        weft_gc_disable();
#endif
}

int gc_collect(int gen)
{
#if HAVE_COLLECTOR
    if (!opt.no_gc) {
        if (weft_gc_collect(gen) < 0)
            violation("weft_gc_collect(%d) failed: %s (%s)", gen,
                      weft_error_name(weft_error()), weft_error_message());
        stat_add(ST_COLLECTIONS, 1);
        return 0;
    }
#endif
    (void)gen;
    return -1;
}

void gc_get_report(gc_report *out)
{
    memset(out, 0, sizeof *out);
    out->available = gc_active();
#if HAVE_COLLECTOR
    if (!out->available)
        return;
    weft_gc_gen_stats st[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(st);
    for (int g = 0; g < 3 && g < WEFT_GC_GENERATIONS; g++) {
        out->collections[g] = st[g].collections;
        out->collected[g] = st[g].collected;
        out->pause_p50_ms[g] = (double)st[g].pause_p50_ns / 1e6;
        out->pause_p99_ms[g] = (double)st[g].pause_p99_ns / 1e6;
        out->pause_max_ms[g] = (double)st[g].pause_max_ns / 1e6;
        out->tts_p99_ms[g] = (double)st[g].safepoint_p99_ns / 1e6;
        out->tts_max_ms[g] = (double)st[g].safepoint_max_ns / 1e6;
    }
#endif
}

/* ---------------------------------------------------------------- leak roots */

#if HAVE_COLLECTOR
/* An open-addressing map from a tracked object to its count less the
 * references other tracked objects hold. */
typedef struct root_map {
    weft_object **keys;
    long *refs;
    size_t mask;
} root_map;

static size_t root_slot(const root_map *m, const weft_object *o)
{
    size_t i = ((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ull & m->mask;
    while (m->keys[i] && m->keys[i] != o)
        i = (i + 1) & m->mask;
    return i;
}

static int subtract_ref(weft_object *child, void *arg)
{
    root_map *m = arg;
    size_t i = root_slot(m, child);
    if (m->keys[i])
        m->refs[i]--;
    return 0;
}
#endif

size_t gc_print_leak_roots(unsigned show)
{
    size_t roots = 0;
#if HAVE_COLLECTOR
    weft_object *all = weft_gc_get_objects(-1);
    if (!all) {
        weft_error_clear();
        return 0;
    }
    size_t n = weft_list_len(all), size = 16;
    while (size < 2 * n)
        size *= 2;
    root_map m = {calloc(size, sizeof(weft_object *)), calloc(size, sizeof(long)), size - 1};
    weft_object **items = calloc(n ? n : 1, sizeof *items);
    if (m.keys && m.refs && items) {
        /* Each item is held by `all` and by `items`: two references. */
        for (size_t i = 0; i < n; i++) {
            items[i] = weft_list_get(all, (ptrdiff_t)i);
            size_t k = root_slot(&m, items[i]);
            m.keys[k] = items[i];
            m.refs[k] = weft_refcount(items[i]) - 2;
        }
        for (size_t i = 0; i < n; i++)
            weft_type_of(items[i])->traverse(items[i], subtract_ref, &m);
        for (size_t i = 0; i < n; i++) {
            long refs = m.refs[root_slot(&m, items[i])];
            if (refs <= 0 || weft_type_of(items[i]) != &sobj_type)
                continue;
            const sobj *s = (const sobj *)items[i];
            char d[160];
            if (roots++ < show)
                fprintf(stderr,
                        "weft-stress: leak root: id %" PRIu64 " (%s; flags %#x, ring of %u, "
                        "maker %u) held by %ld reference(s) from outside the heap\n",
                        s->id, oracle_describe(s->id, d, sizeof d), s->flags, s->ring_len,
                        s->maker, refs);
        }
    }
    for (size_t i = 0; items && i < n; i++)
        weft_xdecref(items[i]);
    free(items);
    free(m.keys);
    free(m.refs);
    weft_decref(all);
#else
    (void)show;
#endif
    return roots;
}
