/* Arenas go back to the OS when their pools are all free, keeping a few for
 * reuse: after a large heap is freed, RSS comes back near where it started
 * without any explicit call. The walk over every pool goes oldest arena
 * first. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "arena.h"
#include <pthread.h>
#include <unistd.h>
#include <weft/weft.h>

/* Sanitizer runtimes keep shadow memory and a quarantine of freed malloc
 * blocks resident, so RSS says nothing about weft there; arena counts do. */
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
#define RSS_MEANINGFUL 0
#else
#define RSS_MEANINGFUL 1
#endif

static size_t rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        abort();
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#define TOTAL ((size_t)256 << 20)

static void *build_and_free(void *arg)
{
    size_t n = 0, cap = TOTAL / 16;
    void **blocks = malloc(cap * sizeof *blocks);
    size_t bytes = 0;
    unsigned r = 1;
    while (bytes < TOTAL) {
        r = r * 1103515245u + 12345u;
        size_t size = 16 + (r >> 8) % 497;
        blocks[n] = weft_malloc(size);
        if (!blocks[n])
            abort();
        memset(blocks[n], 1, size);
        bytes += size;
        n++;
    }
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    *(size_t *)arg = st.arenas_mapped;
    for (size_t i = 0; i < n; i++)
        weft_free(blocks[i]);
    free(blocks);
    return NULL;
}

/* The pool walk (a full collection's) visits arenas oldest first. */
#define ORDER_BLOCKS (((size_t)3 << 20) / 64 + 1000) /* over three arenas of 64-byte blocks */

typedef struct arena_order {
    uintptr_t first, last;  /* the arenas of the first and last block made */
    long first_at, last_at; /* the pool count when the walk reached each */
    long pools;
} arena_order;

static uintptr_t arena_of(const void *p)
{
    return (uintptr_t)p & ~(uintptr_t)(WEFT_ARENA_SIZE - 1);
}

static void note_pool(weft_pool *pool, void *arg)
{
    arena_order *o = arg;
    uintptr_t a = arena_of(pool);
    if (a == o->first && o->first_at < 0)
        o->first_at = o->pools;
    if (a == o->last && o->last_at < 0)
        o->last_at = o->pools;
    o->pools++;
}

static void walk_oldest_first(void)
{
    void **blocks = malloc(ORDER_BLOCKS * sizeof *blocks);
    for (size_t i = 0; i < ORDER_BLOCKS; i++)
        if (!(blocks[i] = weft_malloc(64)))
            abort();
    arena_order o = {arena_of(blocks[0]), arena_of(blocks[ORDER_BLOCKS - 1]), -1, -1, 0};
    _weft_arena_for_each_pool(note_pool, &o);
    CHECK(o.first != o.last);
    CHECK(o.first_at >= 0 && o.last_at >= 0);
    CHECK(o.first_at < o.last_at);
    for (size_t i = 0; i < ORDER_BLOCKS; i++)
        weft_free(blocks[i]);
    free(blocks);
}

int main(void)
{
    walk_oldest_first();
    size_t rss0 = rss_bytes();
    weft_heap_stats st0, st1;
    weft_heap_get_stats(&st0);
    size_t peak_arenas = 0;
    build_and_free(&peak_arenas);
    weft_heap_get_stats(&st1);
    size_t rss1 = rss_bytes();
    printf("arenas: peak %zu, now %zu (%zu kept empty); RSS %zu -> %zu MiB; returned %zu MiB\n",
           peak_arenas, st1.arenas_mapped, st1.arenas_empty_kept, rss0 >> 20, rss1 >> 20,
           st1.bytes_returned >> 20);
    CHECK(peak_arenas >= TOTAL / WEFT_ARENA_SIZE);
    if (RSS_MEANINGFUL)
        CHECK(rss1 <= rss0 + ((size_t)32 << 20));
    /* The thread still holds its current and cached pools (up to 48), which
     * may pin as many arenas; the free pools in those were purged. */
    CHECK(st1.arenas_mapped <= st0.arenas_mapped + WEFT_ARENAS_KEEP_EMPTY + 48);
    weft_heap_trim();
    weft_heap_get_stats(&st1);
    CHECK(st1.arenas_mapped <= st0.arenas_mapped + WEFT_ARENAS_KEEP_EMPTY + 1);
    CHECK(st1.bytes_returned >= (peak_arenas - WEFT_ARENAS_KEEP_EMPTY - 1) * WEFT_ARENA_SIZE);

    /* The same when another thread builds the heap and exits, and when blocks
     * are freed by a thread other than the one that made them. */
    pthread_t t;
    pthread_create(&t, NULL, build_and_free, &peak_arenas);
    pthread_join(t, NULL);
    weft_heap_get_stats(&st1);
    CHECK(st1.arenas_mapped <= st0.arenas_mapped + WEFT_ARENAS_KEEP_EMPTY + 1);
    if (RSS_MEANINGFUL)
        CHECK(rss_bytes() <= rss0 + ((size_t)32 << 20));
    return check_finish();
}
