/* Statistics: per-class counts, totals, and the printed table. */
#include "check.h"
#include <weft/weft.h>

#define N 1000

int main(void)
{
    weft_heap_stats before, during, after;
    weft_heap_get_stats(&before);
    void *small[N], *large[10];
    for (int i = 0; i < N; i++)
        small[i] = weft_malloc(100); /* class 112 */
    for (int i = 0; i < 10; i++)
        large[i] = weft_malloc(10000);
    weft_heap_get_stats(&during);
    CHECK_EQ_INT(during.small_blocks_in_use - before.small_blocks_in_use, N);
    CHECK_EQ_INT(during.small_bytes_in_use - before.small_bytes_in_use, N * 112);
    CHECK_EQ_INT(during.classes[6].block_size, 112);
    CHECK_EQ_INT(during.classes[6].blocks_in_use - before.classes[6].blocks_in_use, N);
    CHECK(during.classes[6].pools >= (N * 112 + 16383) / 16384);
    CHECK_EQ_INT(during.large_blocks_in_use - before.large_blocks_in_use, 10);
    CHECK(during.large_bytes_in_use - before.large_bytes_in_use >= 100000);
    CHECK_EQ_INT(during.requested_total - before.requested_total, N * 100 + 100000);
    CHECK(during.arenas_mapped >= 1);
    CHECK_EQ_INT(during.bytes_mapped, during.arenas_mapped * 1024 * 1024);
    CHECK(during.heaps >= 1);
#ifndef WEFT_LARGE_SYSTEM_MALLOC
    CHECK(during.je_allocated >= 100000);
#endif
    for (int i = 0; i < N; i++)
        weft_free(small[i]);
    for (int i = 0; i < 10; i++)
        weft_free(large[i]);
    weft_heap_get_stats(&after);
    CHECK_EQ_INT(after.small_blocks_in_use, before.small_blocks_in_use);
    CHECK_EQ_INT(after.large_blocks_in_use, before.large_blocks_in_use);
    CHECK_EQ_INT(after.frees_total - before.frees_total, N + 10);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    weft_heap_print_stats(f);
    fclose(f);
    CHECK(strstr(text, "small blocks in use") != NULL);
    CHECK(strstr(text, "arenas mapped") != NULL);
    CHECK(strstr(text, "       112") != NULL); /* the class row */
    free(text);
    return check_finish();
}
