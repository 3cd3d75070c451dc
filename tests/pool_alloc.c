/* Pools, single thread: blocks are distinct, stay intact, are reused, and the
 * pool invariant (used + free + uncarved == capacity) holds throughout. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "heap.h"
#include <stdint.h>
#include <weft/weft.h>

#define N 20000

static unsigned rng = 12345;
static unsigned next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static int validate_all(void)
{
    weft_heap *h = _weft_tls_heap;
    int bad = 0;
    for (unsigned k = 0; k < WEFT_KINDS; k++)
    for (unsigned c = 1; c <= WEFT_NCLASSES; c++) {
        weft_pool *lists[] = {h->current[k][c], h->partial[k][c].head, h->full[k][c].head};
        for (int l = 0; l < 3; l++)
            for (weft_pool *p = lists[l]; p && p != &_weft_empty_pool; p = l ? p->next : NULL) {
                const char *why = _weft_pool_validate(p);
                if (why) {
                    fprintf(stderr, "pool %p class %u: %s\n", (void *)p, c, why);
                    bad++;
                }
            }
    }
    return bad;
}

#if WEFT_ASAN
static void use_after_free(void *arg)
{
    char *p = weft_malloc(48);
    weft_free(p);
    p[8] = 1; /* inside a free pool block: poisoned */
}
#endif

int main(void)
{
    static unsigned char *blocks[N];
    static size_t sizes[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            sizes[i] = next_rand() % (WEFT_SMALL_MAX + 1);
            blocks[i] = weft_malloc(sizes[i]);
            REQUIRE(blocks[i] != NULL);
            memset(blocks[i], i & 0xff, sizes[i]);
        }
        CHECK_EQ_INT(validate_all(), 0);
        /* Every block still holds its own pattern: no two overlap. */
        int corrupt = 0;
        for (int i = 0; i < N; i++)
            for (size_t k = 0; k < sizes[i]; k++)
                corrupt += blocks[i][k] != (unsigned char)(i & 0xff);
        CHECK_EQ_INT(corrupt, 0);
        /* Free in random order, half now, validate, then the rest. */
        for (int i = N - 1; i > 0; i--) {
            int j = (int)(next_rand() % (unsigned)(i + 1));
            unsigned char *tb = blocks[i];
            blocks[i] = blocks[j];
            blocks[j] = tb;
        }
        for (int i = 0; i < N / 2; i++)
            weft_free(blocks[i]);
        CHECK_EQ_INT(validate_all(), 0);
        for (int i = N / 2; i < N; i++)
            weft_free(blocks[i]);
        CHECK_EQ_INT(validate_all(), 0);
        weft_heap_stats st;
        weft_heap_get_stats(&st);
        CHECK_EQ_INT(st.small_blocks_in_use, 0);
    }
    /* Freed blocks are reused (LIFO within a pool). */
    void *a = weft_malloc(64);
    weft_free(a);
    void *b = weft_malloc(64);
    CHECK(a == b);
    weft_free(b);
#if WEFT_ASAN
    CHECK_DIES_WITH(use_after_free, NULL, "use-after-poison");
#endif
    return check_finish();
}
