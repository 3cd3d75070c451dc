/* WEFT_MALLOC=debug wraps every domain in the debug allocator. */
#include "check.h"
#include <weft/weft.h>

static void double_free(void *arg)
{
    void *p = weft_obj_malloc(20);
    weft_obj_free(p);
    weft_obj_free(p);
}

int main(void)
{
    unsigned char *p = weft_malloc(32);
    REQUIRE(p != NULL);
    CHECK(p[0] == 0xCD && p[31] == 0xCD);
    weft_free(p);
    CHECK_DIES_WITH(double_free, NULL, "double free: block");
    return check_finish();
}
