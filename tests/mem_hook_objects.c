/* A hook on the mem domain alone sees only mem blocks. A large object (one
 * past the pools' sizes) is freed after a grace period; that free used to go
 * through weft_mem_free, handing the hook an object it never allocated (a
 * crash for any hook that is not weft's own allocator underneath). */
#include "check.h"
#include "objtest.h"

#define SEEN_MAX 4096

static weft_allocator inner;
static void *seen[SEEN_MAX];
static int nseen, foreign_frees, frees;

static void remember(void *p)
{
    if (p && nseen < SEEN_MAX)
        seen[nseen++] = p;
}

static void *h_malloc(void *ctx, size_t n)
{
    (void)ctx;
    void *p = inner.malloc(inner.ctx, n);
    remember(p);
    return p;
}
static void *h_calloc(void *ctx, size_t n, size_t e)
{
    (void)ctx;
    void *p = inner.calloc(inner.ctx, n, e);
    remember(p);
    return p;
}
static void *h_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    void *q = inner.realloc(inner.ctx, p, n);
    remember(q);
    return q;
}
static void h_free(void *ctx, void *p)
{
    (void)ctx;
    bool known = false;
    for (int i = 0; i < nseen && !known; i++)
        known = seen[i] == p;
    foreign_frees += p && !known;
    frees++;
    inner.free(inner.ctx, p);
}

int main(void)
{
    weft_mem_default_allocator(WEFT_DOMAIN_MEM, &inner);
    weft_allocator hook = {NULL, h_malloc, h_calloc, h_realloc, h_free};
    REQUIRE(weft_mem_set_allocator(WEFT_DOMAIN_MEM, &hook) == 0);
    REQUIRE(weft_init(NULL) == 0);

    weft_object *t = weft_tuple_new(100); /* 24 + 800 bytes: outside the pools */
    REQUIRE(t != NULL);
    CHECK(weft_pointer_owner(t) != WEFT_OWNER_POOL);
    weft_decref(t);
    weft_defer_barrier(); /* its free has run */

    void *m = weft_mem_malloc(100); /* the hook still sees its own */
    weft_mem_free(m);
    CHECK(frees >= 1);
    CHECK_EQ_INT(foreign_frees, 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
