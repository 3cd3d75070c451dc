/* Large blocks and realloc across the small/large boundary. */
#include "check.h"
#include <stdint.h>
#include <weft/weft.h>

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed))
            return 0;
    return 1;
}

int main(void)
{
    /* small -> small (same class stays in place) */
    unsigned char *p = weft_realloc(NULL, 20);
    REQUIRE(p != NULL);
    fill(p, 20, 1);
    unsigned char *q = weft_realloc(p, 30);
    CHECK(q == p);
    CHECK(same(q, 20, 1));
    /* small -> bigger small class: moves, keeps contents */
    fill(q, 30, 2);
    p = weft_realloc(q, 200);
    REQUIRE(p != NULL);
    CHECK(same(p, 30, 2));
    CHECK_EQ_INT(weft_usable_size(p), 208);
    /* small -> large */
    fill(p, 200, 3);
    q = weft_realloc(p, 100000);
    REQUIRE(q != NULL);
    CHECK_EQ_INT(weft_pointer_owner(q), WEFT_OWNER_LARGE);
    CHECK(same(q, 200, 3));
    /* large -> larger */
    fill(q, 100000, 4);
    p = weft_realloc(q, 1 << 22);
    REQUIRE(p != NULL);
    CHECK(same(p, 100000, 4));
    /* large -> small */
    q = weft_realloc(p, 64);
    REQUIRE(q != NULL);
    CHECK_EQ_INT(weft_pointer_owner(q), WEFT_OWNER_POOL);
    CHECK(same(q, 64, 4));
    /* realloc to 0 keeps a valid minimal block (as CPython's PyMem_Realloc) */
    p = weft_realloc(q, 0);
    REQUIRE(p != NULL);
    weft_free(p);

    /* calloc zeroes small and large blocks, including reused ones */
    for (int round = 0; round < 2; round++) {
        unsigned char *a = weft_calloc(10, 40), *b = weft_calloc(1000, 100);
        REQUIRE(a && b);
        size_t nonzero = 0;
        for (int i = 0; i < 400; i++)
            nonzero += a[i] != 0;
        for (int i = 0; i < 100000; i++)
            nonzero += b[i] != 0;
        CHECK_EQ_INT(nonzero, 0);
        memset(a, 0xff, 400);
        memset(b, 0xff, 100000);
        weft_free(a);
        weft_free(b);
    }
    /* a failed realloc leaves the block alone */
    p = weft_malloc(100);
    fill(p, 100, 5);
    CHECK(weft_realloc(p, SIZE_MAX - 4096) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    CHECK(same(p, 100, 5));
    weft_free(p);
    weft_free(NULL);

    weft_heap_stats st;
    weft_heap_get_stats(&st);
    CHECK_EQ_INT(st.small_blocks_in_use, 0);
    CHECK_EQ_INT(st.large_blocks_in_use, 0);
    return check_finish();
}
