/* The debug allocator: each error it exists to catch stops the process with a
 * message naming the block, its size and its domain (death tests in children). */
#include "check.h"
#include <stdint.h>
#include <weft/weft.h>

static void overflow(void *arg)
{
    char *p = weft_mem_malloc(40);
    p[40] = 'x';
    weft_mem_free(p);
}

static void underflow(void *arg)
{
    char *p = weft_obj_malloc(24);
    p[-1] = 'x';
    weft_obj_free(p);
}

static void double_free(void *arg)
{
    void *p = weft_mem_malloc(100);
    weft_mem_free(p);
    weft_mem_free(p);
}

static void foreign_free(void *arg)
{
    static uint64_t not_ours[16] __attribute__((aligned(16)));
    weft_mem_free(&not_ours[8]);
}

static void misaligned_free(void *arg)
{
    char *p = weft_mem_malloc(100);
    weft_mem_free(p + 8);
}

static void domain_mismatch(void *arg)
{
    void *p = weft_obj_malloc(64);
    weft_mem_free(p);
}

static void write_after_free(void *arg)
{
    char *p = weft_raw_malloc(32);
    weft_raw_free(p);
    p[3] = 'x';
    /* Push it out of the quarantine. */
    for (int i = 0; i < 2000; i++)
        weft_raw_free(weft_raw_malloc(32));
}

static void large_overflow(void *arg)
{
    char *p = weft_mem_malloc(5000);
    p[5001] = 'x';
    weft_mem_realloc(p, 6000);
}

int main(void)
{
    REQUIRE(weft_mem_setup_debug_hooks() == 0);
    REQUIRE(weft_mem_setup_debug_hooks() == 0); /* idempotent */

    /* Correct use works, with the documented fill patterns. */
    unsigned char *p = weft_mem_malloc(50);
    REQUIRE(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(p[0] == 0xCD && p[49] == 0xCD);
    unsigned char *z = weft_obj_calloc(3, 7);
    CHECK(z[0] == 0 && z[20] == 0);
    memset(p, 1, 50);
    p = weft_mem_realloc(p, 5000);
    CHECK(p[49] == 1 && p[50] == 0xCD);
    weft_mem_free(p);
    weft_obj_free(z);
    weft_mem_free(NULL);

    CHECK_DIES_WITH(overflow, NULL, "buffer overflow: block");
    CHECK_DIES_WITH(overflow, NULL, "of 40 bytes (domain mem");
    CHECK_DIES_WITH(underflow, NULL, "buffer underflow: block");
    CHECK_DIES_WITH(underflow, NULL, "of 24 bytes (domain obj");
    CHECK_DIES_WITH(double_free, NULL, "double free: block");
    CHECK_DIES_WITH(double_free, NULL, "of 100 bytes (domain mem");
    CHECK_DIES_WITH(foreign_free, NULL, "not allocated by weft");
    CHECK_DIES_WITH(misaligned_free, NULL, "not allocated by weft (misaligned)");
    CHECK_DIES_WITH(domain_mismatch, NULL, "domain mismatch: freed through the mem domain");
    CHECK_DIES_WITH(domain_mismatch, NULL, "of 64 bytes (domain obj");
    CHECK_DIES_WITH(write_after_free, NULL, "write after free: block");
    CHECK_DIES_WITH(large_overflow, NULL, "buffer overflow: block");
    return check_finish();
}
