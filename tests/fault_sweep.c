/* Fault injection: make allocation N fail, for every N that a mixed workload
 * reaches; the workload must fail cleanly (NULL + WEFT_ENOMEM), free what it
 * holds, and leave the heap exactly as it found it. */
#include "check.h"
#include <pthread.h>
#include <weft/weft.h>

typedef struct node {
    struct node *next;
    char *buf;
    size_t len;
} node;

static void free_list(node *n)
{
    while (n) {
        node *next = n->next;
        weft_free(n->buf);
        weft_obj_free(n);
        n = next;
    }
}

/* Builds a list of nodes with buffers that grow by realloc across the
 * small/large boundary. Returns 0, or -1 after cleaning up on a failure. */
static int workload(void)
{
    node *head = NULL;
    for (int i = 0; i < 40; i++) {
        node *n = weft_obj_calloc(1, sizeof *n);
        if (!n)
            goto fail;
        n->next = head;
        head = n;
        n->len = 8;
        n->buf = weft_malloc(n->len);
        if (!n->buf)
            goto fail;
        for (int grow = 0; grow < i % 9; grow++) {
            char *bigger = weft_realloc(n->buf, n->len * 3);
            if (!bigger)
                goto fail;
            n->buf = bigger;
            n->len *= 3;
        }
        memset(n->buf, i, n->len);
        void *tmp = weft_raw_malloc(600 + (size_t)i);
        if (!tmp)
            goto fail;
        weft_raw_free(tmp);
    }
    free_list(head);
    return 0;
fail:
    if (weft_error() != WEFT_ENOMEM)
        abort();
    free_list(head);
    return -1;
}

static void *thread_workload(void *arg)
{
    *(int *)arg = workload();
    return NULL;
}

int main(void)
{
    weft_heap_stats base, st;
    workload(); /* warm up: heaps and pools exist before the baseline */
    weft_heap_get_stats(&base);

    /* How many allocations does one run make? */
    weft_fault_alloc_after(1000000);
    workload();
    long total = 1000000 - weft_fault_alloc_after(0);
    printf("the workload makes %ld allocations\n", total);
    REQUIRE(total > 100);

    int failures = 0, unclean = 0;
    for (long n = 1; n <= total; n++) {
        unsigned long injected = weft_fault_alloc_injected();
        weft_fault_alloc_after(n);
        int rc = workload();
        weft_fault_alloc_after(0);
        failures += rc != 0;
        CHECK_EQ_INT(weft_fault_alloc_injected(), injected + 1);
        weft_heap_get_stats(&st);
        if (st.small_blocks_in_use != base.small_blocks_in_use ||
            st.large_blocks_in_use != base.large_blocks_in_use) {
            unclean++;
            fprintf(stderr, "N=%ld left %zu small, %zu large blocks\n", n,
                    st.small_blocks_in_use - base.small_blocks_in_use,
                    st.large_blocks_in_use - base.large_blocks_in_use);
        }
    }
    CHECK_EQ_INT(failures, total);
    CHECK_EQ_INT(unclean, 0);

    /* The Nth allocation counts across threads: one in another thread fails. */
    weft_fault_alloc_after(5);
    int rc = 0;
    pthread_t t;
    pthread_create(&t, NULL, thread_workload, &rc);
    pthread_join(t, NULL);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(workload(), 0); /* disarmed after one failure */
    weft_heap_get_stats(&st);
    CHECK_EQ_INT(st.large_blocks_in_use, base.large_blocks_in_use);
    return check_finish();
}
