/* lib/gc_heap.c: the collector's view of the heap (docs/collector.md).
 *
 * Objects are found by walking the OBJ pools: a pool's allocated blocks are
 * the ones on neither of its free lists nor past its bump pointer, and every
 * block of an OBJ pool is an object (only weft_new allocates there). Objects
 * outside the pools (larger than a pool block, or every object while the obj
 * domain is hooked) are kept in a registry, liburcu's hash table, keyed by
 * address.
 *
 * Per-collection scratch (an object's gc_refs and marks) lives in side
 * tables: one array per pool, indexed by block, and a field of the registry
 * node; a collection writes nothing into the objects it only reads.
 *
 * Everything here runs with the world stopped, on the collecting thread,
 * except registry insertion and removal (any attached thread).
 */
#include "gc_internal.h"
#include "arena.h"
#include "heap.h"
#include "error.h"
#include "object_internal.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

/* ---------------------------------------------------------------- the registry */

typedef struct registry_node {
    struct cds_lfht_node node;
    weft_object *obj;
    uint8_t age;
    gc_slot slot; /* scratch of the current collection */
    struct rcu_head rcu;
} registry_node;

static struct cds_lfht *registry;

static uint64_t address_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static int node_match(struct cds_lfht_node *node, const void *key)
{
    return caa_container_of(node, registry_node, node)->obj == key;
}

void _weft_gc_registry_init(void)
{
    if (!registry)
        registry = cds_lfht_new_flavor(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                       &urcu_qsbr_flavor, NULL);
    if (!registry)
        _weft_fatal("cannot create the collector's object registry");
}

int _weft_gc_register(weft_object *o)
{
    registry_node *n = malloc(sizeof *n);
    if (!n) {
        _weft_set_error(WEFT_ENOMEM, "out of memory registering a %s with the collector",
                        _weft_type_name(o));
        return -1;
    }
    cds_lfht_node_init(&n->node);
    n->obj = o;
    n->age = 0;
    memset(&n->slot, 0, sizeof n->slot);
    atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_GC_REGISTERED, memory_order_relaxed);
    WEFT_TSAN_RELEASE(n);
    cds_lfht_add(registry, address_hash(o), &n->node);
    return 0;
}

static void free_node(struct rcu_head *head)
{
    registry_node *n = caa_container_of(head, registry_node, rcu);
    WEFT_TSAN_ACQUIRE(n); /* pairs with the release before call_rcu */
    free(n);
}

static registry_node *registry_lookup(const weft_object *o)
{
    struct cds_lfht_iter iter;
    cds_lfht_lookup(registry, address_hash(o), node_match, o, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (!node)
        return NULL;
    registry_node *n = caa_container_of(node, registry_node, node);
    WEFT_TSAN_ACQUIRE(n);
    return n;
}

void _weft_gc_unregister(weft_object *o)
{
    registry_node *n = registry_lookup(o);
    if (n && cds_lfht_del(registry, &n->node) == 0) {
        WEFT_TSAN_RELEASE(n);
        urcu_qsbr_call_rcu(&n->rcu, free_node);
    }
}

/* ---------------------------------------------------------------- pools */

static void **scratch_ref(const weft_pool *pool)
{
    weft_arena *a = (weft_arena *)_weft_arena_base_of(pool);
    return &a->gc_scratch[pool - a->pools];
}

/* Exact block index of an offset in a pool: (offset / 16) * ceil(2^16 / cls)
 * >> 16 is exact for the < 1024 granules of a 16 KiB pool and cls <= 32. */
static const uint32_t class_recip[WEFT_NCLASSES + 1] = {
        0,    65536, 32768, 21846, 16384, 13108, 10923, 9363, 8192, 7282, 6554,
        5958, 5462,  5042,  4682,  4370,  4096,  3856,  3641, 3450, 3277, 3121,
        2979, 2850,  2731,  2622,  2521,  2428,  2341,  2260, 2185, 2115, 2048};

static unsigned block_index(const weft_pool *pool, size_t offset)
{
    return (unsigned)(((offset >> 4) * class_recip[pool->cls]) >> 16);
}

static unsigned pool_blocks(const weft_pool *pool)
{
    return (unsigned)(WEFT_POOL_SIZE / _weft_class_block_size(pool->cls));
}

/* Mark the blocks of a pool that were never carved. A carved block that is
 * not an object (on a free list) has a dead header (pool.c marks it so at
 * carving, object.c at free), which the walk checks as it reads the header
 * anyway: chasing the free lists cost a cache miss per free block, most of a
 * walk's time in pools emptied by reference counting. */
static void mark_free_blocks(weft_pool *pool, gc_slot *slots)
{
    char *data = _weft_pool_data(pool);
    unsigned n = pool_blocks(pool);
    unsigned carved = block_index(pool, (size_t)(pool->bump - data));
    for (unsigned i = carved; i < n; i++)
        slots[i].state = GC_SLOT_FREE;
}

/* Marks a pool already taken by this walk (before its side table exists). */
#define GC_POOL_LISTED ((void *)1)

static void discard_young(weft_pool *pool, void *arg)
{
    /* An older collection walks every pool: the young lists start over. */
}

typedef struct pool_walk {
    gc_heap_walk *walk;
    int max_age; /* pools older than this are skipped */
} pool_walk;

static void collect_pool(weft_pool *pool, void *arg)
{
    pool_walk *pw = arg;
    /* A young list may name a pool whose arena is gone by now: look at the
     * pool only if its arena is still mapped (arena lock held, so it stays). */
    if (!_weft_arena_map_contains(pool))
        return;
    if (pool->kind != WEFT_KIND_OBJ || pool->cls == 0 || weft_load_relaxed(&pool->gc_age) > pw->max_age)
        return;
    /* A young list may name a pool twice: the first visit marks it. Only a
     * listed pool is marked (the walk's end clears the marks of its list). */
    if (*scratch_ref(pool) == GC_POOL_LISTED)
        return;
    gc_heap_walk *w = pw->walk;
    if (w->npools == w->cap_pools) {
        size_t cap = w->cap_pools ? w->cap_pools * 2 : 256;
        weft_pool **grown = realloc(w->pools, cap * sizeof *grown);
        if (!grown) {
            w->failed = true;
            return;
        }
        w->pools = grown;
        w->cap_pools = cap;
    }
    *scratch_ref(pool) = GC_POOL_LISTED;
    w->pools[w->npools++] = pool;
}

/* The side tables of a walk share one region. A walk whose tables fit
 * SCRATCH_KEEP bytes (a young collection's) reuses the kept region; a larger
 * one maps a fresh region and unmaps it at its end, so that the scratch of a
 * full collection (8 bytes per block of the heap) is given back to the system
 * at once rather than left resident in malloc's heap. Walks are serialised
 * (each runs with the world stopped, or at shutdown with nothing attached). */
#define SCRATCH_KEEP (256u << 10)
static char *kept_region;
static WEFT_ATOMIC(bool) kept_in_use; /* a walk's tables are in it */

static size_t table_bytes(const weft_pool *pool)
{
    size_t bytes = sizeof(pool_scratch) + pool_blocks(pool) * sizeof(gc_slot);
    return (bytes + 15) & ~(size_t)15;
}

static char *region_take(gc_heap_walk *w, size_t bytes)
{
    if (bytes <= SCRATCH_KEEP && !atomic_exchange(&kept_in_use, true)) {
        if (!kept_region) {
            void *p = mmap(NULL, SCRATCH_KEEP, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            kept_region = p == MAP_FAILED ? NULL : p;
        }
        if (kept_region) {
            memset(kept_region, 0, bytes);
            w->region = kept_region;
            w->region_bytes = 0; /* not ours to unmap */
        } else {
            weft_store_release(&kept_in_use, false);
        }
        return kept_region;
    }
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    w->region = p; /* zeroed by the kernel */
    w->region_bytes = bytes;
    return p;
}

static void region_release(gc_heap_walk *w)
{
    if (w->region_bytes)
        munmap(w->region, w->region_bytes);
    else if (w->region)
        weft_store_release(&kept_in_use, false);
    w->region = NULL;
    w->region_bytes = 0;
}

int _weft_gc_walk_begin(gc_heap_walk *w, int max_age)
{
    memset(w, 0, sizeof *w);
    pool_walk pw = {w, max_age};
    /* Young collections walk only the pools made young since the last
     * collection; older ones walk every arena. */
    if (max_age == 0) {
        /* The lock keeps arenas mapped and pool classes still: a grace-period
         * callback may be releasing retired pools meanwhile. */
        _weft_arena_lock();
        _weft_heap_take_young(collect_pool, &pw);
        _weft_arena_unlock();
    } else {
        _weft_arena_for_each_pool(collect_pool, &pw);
        _weft_heap_take_young(discard_young, NULL);
    }
    size_t bytes = 0;
    for (size_t i = 0; i < w->npools; i++)
        bytes += table_bytes(w->pools[i]);
    char *next = w->failed || !bytes ? NULL : region_take(w, bytes);
    w->region_used = next ? bytes : 0;
    if (bytes && !next)
        w->failed = true;
    if (w->npools && !w->failed && !(w->tables = malloc(w->npools * sizeof *w->tables)))
        w->failed = true;
    for (size_t i = 0; i < w->npools && !w->failed; i++) {
        weft_pool *pool = w->pools[i];
        pool_scratch *s = (pool_scratch *)next;
        next += table_bytes(pool);
        s->data = _weft_pool_data(pool);
        s->recip = class_recip[pool->cls];
        s->nblocks = pool_blocks(pool);
        s->block_size = (uint32_t)_weft_class_block_size(pool->cls);
        w->tables[i] = s;
        mark_free_blocks(pool, s->slots);
        *scratch_ref(pool) = s;
    }
    w->max_age = max_age;
    if (w->failed) {
        _weft_gc_walk_end(w, false);
        return -1;
    }
    return 0;
}

gc_pool_view _weft_gc_walk_pool(const gc_heap_walk *w, size_t i)
{
    pool_scratch *s = w->tables[i];
    return (gc_pool_view){s->data, s->block_size, s->nblocks, s->slots};
}

void _weft_gc_walk_registered(gc_heap_walk *w, uint32_t state,
                              void (*fn)(weft_object *o, gc_slot *slot, void *arg), void *arg)
{
    struct cds_lfht_iter iter;
    registry_node *n;
    cds_lfht_for_each_entry(registry, &iter, n, node)
    {
        WEFT_TSAN_ACQUIRE(n);
        if (n->age <= w->max_age && n->slot.state == state)
            fn(n->obj, &n->slot, arg);
    }
}

void _weft_gc_walk_registry(gc_heap_walk *w, void (*fn)(weft_object *o, gc_slot *slot, void *arg),
                            void *arg)
{
    struct cds_lfht_iter iter;
    registry_node *n;
    cds_lfht_for_each_entry(registry, &iter, n, node)
    {
        WEFT_TSAN_ACQUIRE(n);
        if (n->age <= w->max_age)
            fn(n->obj, &n->slot, arg);
    }
}

int _weft_gc_age_of(const weft_object *o, const gc_slot *slot)
{
    if (weft_load_relaxed(&o->flags) & WEFT_OBJ_POOLED)
        return weft_load_relaxed(&_weft_pool_of(o)->gc_age);
    return caa_container_of(slot, registry_node, slot)->age; /* a registry walk's slot */
}

gc_slot *_weft_gc_slot_of_unpooled(const weft_object *o)
{
    if (!(weft_load_relaxed(&o->flags) & WEFT_OBJ_GC_REGISTERED))
        return NULL;
    registry_node *n = registry_lookup(o);
    return n ? &n->slot : NULL; /* state stays ALLOCATED unless walked */
}

void _weft_gc_walk_end(gc_heap_walk *w, bool age)
{
    _weft_gc_walk_end_stopped(w, age);
    _weft_gc_walk_release(w);
}

void _weft_gc_walk_release(gc_heap_walk *w)
{
    free(w->pools);
    free(w->tables);
    w->pools = NULL;
    w->tables = NULL;
    w->npools = w->cap_pools = 0;
    region_release(w);
}

/* The candidates of a table found reachable. */
static size_t reachable_in(const pool_scratch *s)
{
    size_t n = 0;
    for (unsigned b = 0; b < s->nblocks; b++)
        n += s->slots[b].state == GC_SLOT_REACHABLE;
    return n;
}

void _weft_gc_walk_end_stopped(gc_heap_walk *w, bool age)
{
    for (size_t i = 0; i < w->npools; i++) {
        weft_pool *pool = w->pools[i];
        *scratch_ref(pool) = NULL; /* its table is in the region */
        /* Survivors grow older; a pool still current keeps allocating young
         * objects, so it stays young (and is listed again). */
        unsigned old = weft_load_relaxed(&pool->gc_age);
        if (old == 0 && (!age || pool->list == WEFT_LIST_CURRENT))
            _weft_heap_relist_young(pool);
        else if (age && old < 2)
            weft_store_relaxed(&pool->gc_age, (uint8_t)(old + 1));
        if (age && old == 1)
            w->promoted += reachable_in(w->tables[i]);
    }
    struct cds_lfht_iter iter;
    registry_node *n;
    cds_lfht_for_each_entry(registry, &iter, n, node)
    {
        if (age && n->age == 1 && n->slot.state == GC_SLOT_REACHABLE)
            w->promoted++;
        memset(&n->slot, 0, sizeof n->slot);
        if (age && n->age <= w->max_age && n->age < 2)
            n->age++;
    }
}

/* ---------------------------------------------------------------- the leak report */

typedef struct type_count {
    const weft_type *type;
    size_t count;
    const weft_object *example;
} type_count;

typedef struct live_census {
    type_count types[64];
    size_t ntypes, total, other;
} live_census;

static void count_live(weft_object *o, gc_slot *slot, void *arg)
{
    live_census *c = arg;
    if (weft_is_immortal(o))
        return;
    c->total++;
    for (size_t i = 0; i < c->ntypes; i++)
        if (c->types[i].type == o->type) {
            c->types[i].count++;
            return;
        }
    if (c->ntypes < 64)
        c->types[c->ntypes++] = (type_count){o->type, 1, o};
    else
        c->other++;
}

static int by_count(const void *a, const void *b)
{
    size_t x = ((const type_count *)a)->count, y = ((const type_count *)b)->count;
    return x < y ? 1 : x > y ? -1 : 0;
}

size_t _weft_gc_report_live(FILE *out)
{
    /* No thread is attached: nothing changes under the walk. */
    gc_heap_walk w;
    if (_weft_gc_walk_begin(&w, 2) != 0)
        return 0;
    live_census c;
    memset(&c, 0, sizeof c);
    _weft_gc_walk_objects(&w, count_live, &c);
    _weft_gc_walk_end(&w, false);
    if (!c.total)
        return 0;
    qsort(c.types, c.ntypes, sizeof c.types[0], by_count);
    fprintf(out, "weft: %zu object(s) still alive at shutdown:\n", c.total);
    for (size_t i = 0; i < c.ntypes; i++) {
        char trace[1024];
        size_t n = _weft_trace_format_block(c.types[i].example, trace, sizeof trace);
        fprintf(out, "  %10zu  %s%s%s", c.types[i].count,
                c.types[i].type && c.types[i].type->name ? c.types[i].type->name : "?",
                n ? "  (one of them:)\n" : "\n", n ? trace : "");
    }
    if (c.other)
        fprintf(out, "  %10zu  of other types\n", c.other);
    return c.total;
}
