/* Size classes: every request 0..512 gets a 16-byte aligned block of the
 * smallest class that holds it; larger requests go to the large allocator. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "pool.h"
#include <stdint.h>
#include <weft/weft.h>

int main(void)
{
    CHECK_EQ_INT(_weft_size_class(0), 1);
    CHECK_EQ_INT(_weft_size_class(1), 1);
    CHECK_EQ_INT(_weft_size_class(16), 1);
    CHECK_EQ_INT(_weft_size_class(17), 2);
    CHECK_EQ_INT(_weft_size_class(512), 32);
    for (size_t size = 0; size <= WEFT_SMALL_MAX; size++) {
        size_t block = _weft_class_block_size(_weft_size_class(size));
        /* The smallest multiple of 16 that holds the request: waste < 16. */
        if (block < size || block - size >= 16 + (size == 0) * 16 || block % 16) {
            CHECK(!"bad class for size");
            fprintf(stderr, "size %zu -> block %zu\n", size, block);
        }
        void *p = weft_malloc(size);
        REQUIRE(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK_EQ_INT(weft_usable_size(p), block);
        CHECK_EQ_INT(weft_pointer_owner(p), WEFT_OWNER_POOL);
        memset(p, 0xAB, size);
        weft_free(p);
    }
    void *big = weft_malloc(WEFT_SMALL_MAX + 1);
    REQUIRE(big != NULL);
    CHECK(((uintptr_t)big & 15) == 0);
    CHECK_EQ_INT(weft_pointer_owner(big), WEFT_OWNER_LARGE);
    CHECK(weft_usable_size(big) >= WEFT_SMALL_MAX + 1);
    weft_free(big);
    CHECK_EQ_INT(weft_pointer_owner(NULL), WEFT_OWNER_NONE);

    /* Internal waste for sizes uniform in 16..512, class rounding only. */
    size_t requested = 0, blocks = 0;
    for (size_t size = 16; size <= 512; size++) {
        requested += size;
        blocks += _weft_class_block_size(_weft_size_class(size));
    }
    double waste = 100.0 * (double)(blocks - requested) / (double)blocks;
    printf("class-rounding waste for sizes 16..512: %.2f%%\n", waste);
    CHECK(waste <= 12.0);
    return check_finish();
}
