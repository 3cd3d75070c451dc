/* lib/env.c: the WEFT_* environment settings of the allocator, read once at
 * the first allocation (or the first call that configures the allocator). */
#include "domain.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void apply_weft_malloc(const char *v)
{
    if (!v || !*v || strcmp(v, "weft") == 0)
        return;
    bool system = strcmp(v, "malloc") == 0 || strcmp(v, "malloc_debug") == 0;
    bool debug = strcmp(v, "debug") == 0 || strcmp(v, "malloc_debug") == 0;
    if (!system && !debug) {
        fprintf(stderr, "weft: WEFT_MALLOC=%s is not one of weft, debug, malloc, malloc_debug;"
                        " using weft\n", v);
        return;
    }
    if (system)
        for (int d = 0; d < WEFT_DOMAIN_COUNT; d++)
            _weft_domain_set_allocator((weft_domain)d, &_weft_system_allocator);
    if (debug)
        _weft_debug_hooks_install();
}

static void apply_weft_fault_alloc(const char *v)
{
    if (!v || !*v)
        return;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 0) {
        fprintf(stderr, "weft: WEFT_FAULT_ALLOC=%s is not a count of allocations; ignored\n", v);
        return;
    }
    weft_fault_alloc_after(n);
}

static void read_env(void)
{
    apply_weft_malloc(getenv("WEFT_MALLOC"));
    apply_weft_fault_alloc(getenv("WEFT_FAULT_ALLOC"));
    _weft_alloc_flags_set(WEFT_AF_UNREAD_ENV, false);
}

void _weft_env_init(void)
{
    pthread_once(&env_once, read_env);
}
