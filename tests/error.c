/* Errors: the thread-local code and message of include/weft/error.h. */
#include "check.h"
#include <pthread.h>
#include <stdint.h>
#include <weft/weft.h>

static void *other_thread(void *arg)
{
    /* A fresh thread starts with no error, whatever the main thread has. */
    *(int *)arg = weft_error();
    return NULL;
}

int main(void)
{
    weft_error_clear();
    CHECK_EQ_INT(weft_error(), WEFT_OK);
    CHECK(strcmp(weft_error_message(), "") == 0);

    CHECK(weft_calloc(SIZE_MAX / 2, 4) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EOVERFLOW);
    CHECK(strstr(weft_error_message(), "overflow") != NULL);

    weft_allocator a = {0};
    CHECK_EQ_INT(weft_mem_set_allocator((weft_domain)7, &a), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(strstr(weft_error_message(), "unknown domain") != NULL);

    /* Success leaves the last error alone. */
    void *p = weft_malloc(10);
    CHECK(p != NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    weft_free(p);

    int seen = -1;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &seen);
    pthread_join(t, NULL);
    CHECK_EQ_INT(seen, WEFT_OK);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);

    weft_error_clear();
    CHECK_EQ_INT(weft_error(), WEFT_OK);
    CHECK(strcmp(weft_error_name(WEFT_ENOMEM), "WEFT_ENOMEM") == 0);
    CHECK(strcmp(weft_error_name((weft_error_code)99), "WEFT_E?") == 0);
    return check_finish();
}
