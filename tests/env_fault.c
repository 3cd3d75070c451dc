/* WEFT_FAULT_ALLOC=3: the third allocation of the process fails. */
#include "check.h"
#include <weft/weft.h>

int main(void)
{
    void *a = weft_malloc(10), *b = weft_raw_malloc(1000);
    void *c = weft_obj_malloc(10);
    void *d = weft_malloc(10);
    CHECK(a != NULL);
    CHECK(b != NULL);
    CHECK(c == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    CHECK(strstr(weft_error_message(), "injected") != NULL);
    CHECK(d != NULL);
    CHECK_EQ_INT(weft_fault_alloc_injected(), 1);
    weft_free(a);
    weft_raw_free(b);
    weft_free(d);
    return check_finish();
}
