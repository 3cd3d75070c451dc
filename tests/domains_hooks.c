/* Domains and replaceable allocators: a hook sees exactly its domain's calls,
 * can chain to weft's allocator, and bad arguments are refused clearly. */
#include "check.h"
#include <weft/weft.h>

typedef struct counting {
    weft_allocator inner;
    int mallocs, callocs, reallocs, frees;
} counting;

static void *c_malloc(void *ctx, size_t n)
{
    counting *c = ctx;
    c->mallocs++;
    return c->inner.malloc(c->inner.ctx, n);
}
static void *c_calloc(void *ctx, size_t n, size_t e)
{
    counting *c = ctx;
    c->callocs++;
    return c->inner.calloc(c->inner.ctx, n, e);
}
static void *c_realloc(void *ctx, void *p, size_t n)
{
    counting *c = ctx;
    c->reallocs++;
    return c->inner.realloc(c->inner.ctx, p, n);
}
static void c_free(void *ctx, void *p)
{
    counting *c = ctx;
    c->frees++;
    c->inner.free(c->inner.ctx, p);
}

static void *null_malloc(void *ctx, size_t n)
{
    return NULL;
}

int main(void)
{
    counting obj = {0};
    weft_mem_default_allocator(WEFT_DOMAIN_OBJ, &obj.inner);
    weft_allocator hook = {&obj, c_malloc, c_calloc, c_realloc, c_free};
    weft_allocator saved;
    CHECK_EQ_INT(weft_mem_get_allocator(WEFT_DOMAIN_OBJ, &saved), 0);
    CHECK_EQ_INT(weft_mem_set_allocator(WEFT_DOMAIN_OBJ, &hook), 0);

    weft_allocator now;
    weft_mem_get_allocator(WEFT_DOMAIN_OBJ, &now);
    CHECK(now.ctx == &obj && now.malloc == c_malloc);

    void *a = weft_obj_malloc(40);
    void *b = weft_obj_calloc(4, 10);
    b = weft_obj_realloc(b, 1000);
    void *m = weft_mem_malloc(40); /* other domains are not hooked */
    void *r = weft_raw_malloc(40);
    weft_obj_free(a);
    weft_obj_free(b);
    weft_mem_free(m);
    weft_raw_free(r);
    CHECK_EQ_INT(obj.mallocs, 1);
    CHECK_EQ_INT(obj.callocs, 1);
    CHECK_EQ_INT(obj.reallocs, 1);
    CHECK_EQ_INT(obj.frees, 2);

    /* A hook that fails: NULL with WEFT_ENOMEM. */
    weft_allocator failing = hook;
    failing.malloc = null_malloc;
    CHECK_EQ_INT(weft_mem_set_allocator(WEFT_DOMAIN_RAW, &failing), 0);
    weft_error_clear();
    CHECK(weft_raw_malloc(10) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    CHECK(strstr(weft_error_message(), "raw") != NULL);
    weft_allocator dflt;
    weft_mem_default_allocator(WEFT_DOMAIN_RAW, &dflt);
    CHECK_EQ_INT(weft_mem_set_allocator(WEFT_DOMAIN_RAW, &dflt), 0);

    /* Bad arguments. */
    weft_allocator incomplete = hook;
    incomplete.free = NULL;
    CHECK_EQ_INT(weft_mem_set_allocator(WEFT_DOMAIN_MEM, &incomplete), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_mem_set_allocator(WEFT_DOMAIN_MEM, NULL), -1);
    CHECK_EQ_INT(weft_mem_get_allocator((weft_domain)3, &now), -1);
    CHECK_EQ_INT(weft_mem_get_allocator(WEFT_DOMAIN_MEM, NULL), -1);

    /* Restoring the default puts the fast path back: blocks are weft's again. */
    CHECK_EQ_INT(weft_mem_set_allocator(WEFT_DOMAIN_OBJ, &saved), 0);
    void *p = weft_obj_malloc(40);
    CHECK_EQ_INT(weft_pointer_owner(p), WEFT_OWNER_POOL);
    weft_obj_free(p);
    CHECK_EQ_INT(obj.mallocs, 1);
    return check_finish();
}
