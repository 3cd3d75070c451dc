/* A hook on the mem domain alone sees only mem blocks. It must not take
 * objects out of the object pools: the collector still finds them (and
 * lock-free reads stay safe). And it is never handed an object: a large
 * object (one past the pools' sizes) is freed after a grace period, and that
 * free used to go through weft_mem_free, handing the hook a block it never
 * allocated (a crash for any hook that is not weft's allocator underneath). */
#include "check.h"
#include "objtest.h"

#define SEEN_MAX 4096

static long hooked_mallocs;
static weft_allocator inner;
static void *seen[SEEN_MAX];
static int nseen, foreign_frees;

/* Blocks the hook handed out, to tell its own frees from foreign ones. */
static void *remember(void *p)
{
    if (p && nseen < SEEN_MAX)
        seen[nseen++] = p;
    return p;
}

static void *h_malloc(void *ctx, size_t n)
{
    hooked_mallocs++;
    return remember(inner.malloc(inner.ctx, n));
}
static void *h_calloc(void *ctx, size_t n, size_t e)
{
    return remember(inner.calloc(inner.ctx, n, e));
}
static void *h_realloc(void *ctx, void *p, size_t n)
{
    return remember(inner.realloc(inner.ctx, p, n));
}
static void h_free(void *ctx, void *p)
{
    bool known = false;
    for (int i = 0; i < nseen && !known; i++)
        known = seen[i] == p;
    foreign_frees += p && !known;
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

    weft_object *t = weft_tuple_new(100); /* 24 + 800 bytes: outside the pools */
    REQUIRE(t != NULL);
    CHECK(weft_pointer_owner(t) != WEFT_OWNER_POOL);
    weft_decref(t);
    weft_defer_barrier(); /* its free has run */
    CHECK_EQ_INT(foreign_frees, 0); /* 1 before */
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
