/* WEFT_MALLOC=malloc routes every domain to the system malloc (for valgrind). */
#include "check.h"
#include <weft/weft.h>

int main(void)
{
    void *p = weft_malloc(32), *o = weft_obj_malloc(32), *r = weft_raw_malloc(32);
    REQUIRE(p && o && r);
    /* System blocks are not in weft's arenas. */
    CHECK_EQ_INT(weft_pointer_owner(p), WEFT_OWNER_LARGE);
    CHECK_EQ_INT(weft_pointer_owner(o), WEFT_OWNER_LARGE);
    CHECK_EQ_INT(weft_pointer_owner(r), WEFT_OWNER_LARGE);
    p = weft_realloc(p, 0);
    REQUIRE(p != NULL);
    weft_free(p);
    weft_obj_free(o);
    weft_raw_free(r);
    weft_allocator a, d;
    weft_mem_get_allocator(WEFT_DOMAIN_MEM, &a);
    weft_mem_default_allocator(WEFT_DOMAIN_MEM, &d);
    CHECK(a.malloc != d.malloc);
    return check_finish();
}
