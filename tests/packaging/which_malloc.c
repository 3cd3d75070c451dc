/* tests/packaging/which_malloc.c: who serves malloc in a program that links weft.
 *
 * libweft carries a private jemalloc whose symbols are all local, so a program
 * that links weft (shared or static) keeps its own malloc: glibc's, or the
 * sanitizer runtime's in a sanitizer build, never weft's or jemalloc's. This
 * program uses weft's heap (a small and a large block), then asks the dynamic
 * linker which object defines each function of the malloc family, and checks
 * that no jemalloc-only name is visible at all. Built twice: against the
 * shared library (WHICH_MALLOC_SHARED=1) and against the static one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <weft/weft.h>

#include "check.h"

/* The malloc family: each must be defined, by the C library (or the
 * sanitizer runtime that intercepts it). */
static const char *const system_names[] = {
    "malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc",
    "memalign", "malloc_usable_size",
};

/* Names only jemalloc defines: none may be visible. */
static const char *const jemalloc_names[] = {
    "mallocx",  "rallocx",          "xallocx",      "sallocx",
    "dallocx",  "sdallocx",         "nallocx",      "mallctl",
    "mallctlnametomib", "mallctlbymib", "malloc_stats_print", "malloc_conf",
    "malloc_message", "je_malloc", "je_mallocx", "je_test_hooks_libc_hook",
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The file that defines the address `addr`, or NULL. */
static const char *defining_object(void *addr)
{
    Dl_info info;
    if (!addr || !dladdr(addr, &info) || !info.dli_fname)
        return NULL;
    return info.dli_fname;
}

static int is_system_allocator(const char *object)
{
    const char *name = base_name(object);
    if (starts_with(name, "libc.so"))
        return 1;
#ifdef WEFT_ASAN
    if (starts_with(name, "libasan.so"))
        return 1;
#endif
#ifdef WEFT_TSAN
    if (starts_with(name, "libtsan.so"))
        return 1;
#endif
    return 0;
}

int main(void)
{
    /* weft's heap is in use: its private jemalloc (or, in sanitizer builds,
     * its large-block path) and its pools are initialized. */
    char *small = weft_malloc(48);
    char *large = weft_malloc(8 * WEFT_SMALL_MAX);
    REQUIRE(small && large);
    memset(small, 0x5a, 48);
    memset(large, 0xa5, 8 * WEFT_SMALL_MAX);
    CHECK(weft_pointer_owner(small) == WEFT_OWNER_POOL);
    CHECK(weft_pointer_owner(large) == WEFT_OWNER_LARGE);

    const char *malloc_object = defining_object(dlsym(RTLD_DEFAULT, "malloc"));
    REQUIRE(malloc_object != NULL);
    printf("malloc is served by %s\n", malloc_object);

    for (size_t i = 0; i < sizeof system_names / sizeof *system_names; i++) {
        const char *object = defining_object(dlsym(RTLD_DEFAULT, system_names[i]));
        if (!object || !is_system_allocator(object) || strstr(object, "weft") ||
            strstr(object, "jemalloc")) {
            fprintf(stderr, "%s is served by %s\n", system_names[i],
                    object ? object : "nobody");
            CHECK(!"the malloc family comes from the C library");
        } else {
            CHECK(1);
        }
    }
    for (size_t i = 0; i < sizeof jemalloc_names / sizeof *jemalloc_names; i++) {
        void *sym = dlsym(RTLD_DEFAULT, jemalloc_names[i]);
        if (sym) {
            const char *object = defining_object(sym);
            fprintf(stderr, "%s is visible, from %s\n", jemalloc_names[i],
                    object ? object : "?");
        }
        CHECK(sym == NULL);
    }

    /* weft's own entry points: from libweft.so, or from this program when
     * it linked the archive. */
    const char *weft_dso = defining_object((void *)weft_malloc);
    REQUIRE(weft_dso != NULL);
    printf("weft_malloc is served by %s\n", weft_dso);
#if WHICH_MALLOC_SHARED
    CHECK(starts_with(base_name(weft_dso), "libweft.so"));
#else
    CHECK(strstr(base_name(weft_dso), "libweft") == NULL);
#endif

    /* The program's malloc does not feed weft's counters. */
    weft_heap_stats before, after;
    weft_heap_get_stats(&before);
    void *volatile mine = malloc(100);
    void *volatile mine_large = malloc(100000);
    free(mine);
    free(mine_large);
    weft_heap_get_stats(&after);
    CHECK_EQ_INT(after.allocs_total, before.allocs_total);
    CHECK_EQ_INT(after.frees_total, before.frees_total);

    weft_free(small);
    weft_free(large);
    weft_heap_get_stats(&after);
    CHECK_EQ_INT(after.frees_total, before.frees_total + 2);
    return check_finish();
}
