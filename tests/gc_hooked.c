/* A hook on the mem domain alone must not take objects out of the object
 * pools: the collector still finds them (and lock-free reads stay safe). */
#include "check.h"
#include "objtest.h"

static long hooked_mallocs;
static weft_allocator inner;

static void *h_malloc(void *ctx, size_t n)
{
    hooked_mallocs++;
    return inner.malloc(inner.ctx, n);
}
static void *h_calloc(void *ctx, size_t n, size_t e)
{
    return inner.calloc(inner.ctx, n, e);
}
static void *h_realloc(void *ctx, void *p, size_t n)
{
    return inner.realloc(inner.ctx, p, n);
}
static void h_free(void *ctx, void *p)
{
    inner.free(inner.ctx, p);
}

int main(void)
{
    weft_mem_default_allocator(WEFT_DOMAIN_MEM, &inner);
    weft_allocator hook = {NULL, h_malloc, h_calloc, h_realloc, h_free};
    REQUIRE(weft_mem_set_allocator(WEFT_DOMAIN_MEM, &hook) == 0);
    REQUIRE(weft_init(NULL) == 0);
    weft_object *l = weft_list_new(0), *n = cnode_new(7);
    weft_list_append(l, n);
    ((node *)n)->child = weft_newref(l);
    CHECK_EQ_INT(weft_pointer_owner(n), WEFT_OWNER_POOL);
    weft_decref(n);
    weft_decref(l);
    CHECK(hooked_mallocs > 0); /* the list's storage went through the hook */
    CHECK(weft_gc_collect(2) >= 2);
    CHECK_EQ_INT(atomic_load(&node_deaths[7]), 1);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
