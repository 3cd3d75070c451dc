/* lib/runtime.c: weft_init, weft_shutdown and the runtime configuration.
 *
 * The runtime is one per process. weft_init sets up the built-in types'
 * shared state (small ints, intern table, weakref registry, hash key) once,
 * then attaches the calling thread. weft_shutdown requires the calling thread
 * to be the last one attached; it reports what is still alive. */
#include "builtins.h"
#include "error.h"
#include "object_internal.h"
#include "threads/thread.h"
#include "gc_internal.h"
#include "objlock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/runtime.h>

static WEFT_ATOMIC(int) initialized;
/* One weft_shutdown at a time: each stops the collector thread, and one
 * that is refused starts it again. */
static pthread_mutex_t shutdown_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static weft_config active_config;
/* Objects counted alive before this init (a previous init's leftovers). */
static uint64_t live_at_init;

/* dflt may be -1: "automatic". */
int _weft_env_flag(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "no") == 0)
        return 0;
    if (strcmp(v, "1") == 0 || strcmp(v, "on") == 0 || strcmp(v, "yes") == 0)
        return 1;
    fprintf(stderr, "weft: %s=%s is not 0/1; using %d\n", name, v, dflt);
    return dflt;
}

void weft_config_default(weft_config *out)
{
    memset(out, 0, sizeof *out);
    out->gc_thread = _weft_env_flag("WEFT_GC_THREAD", 1);
    out->leak_report = _weft_env_flag("WEFT_LEAK_REPORT", -1);
}

static void builtins_init(void)
{
    _weft_hash_init();
    _weft_small_ints_init();
    _weft_str_init();
    _weft_weakref_init();
    _weft_gc_init();
    _weft_lockbias_init();
    _weft_countbuf_init();
}

int weft_is_initialized(void)
{
    return weft_load_acquire(&initialized);
}

static uint64_t live_objects(void)
{
    uint64_t created, freed;
    _weft_thread_object_counts(&created, &freed);
    freed += _weft_immortalized_count();
    return created > freed ? created - freed : 0;
}

int weft_init(const weft_config *config)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&initialized, &expected, 1)) {
        _weft_set_error(WEFT_ESTATE, "weft_init: weft is already initialized");
        return -1;
    }
    if (config)
        active_config = *config;
    else
        weft_config_default(&active_config);
    pthread_once(&builtins_once, builtins_init);
    _weft_fork_init();
    _weft_thread_registry_open(); /* a previous weft_shutdown closed it */
    live_at_init = live_objects();
    if (weft_thread_attach() != 0) {
        weft_store_release(&initialized, 0);
        return -1;
    }
    if (active_config.gc_thread && _weft_gc_thread_start() != 0) {
        weft_thread_detach();
        weft_store_release(&initialized, 0);
        return -1;
    }
    return 0;
}

static long shutdown_alone(void);

long weft_shutdown(void)
{
    if (!weft_is_initialized()) {
        _weft_set_error(WEFT_ESTATE, "weft_shutdown: weft is not initialized");
        return -1;
    }
    if (!weft_thread_is_attached()) {
        _weft_set_error(WEFT_ESTATE, "weft_shutdown: the calling thread is not attached");
        return -1;
    }
    weft_blocking_begin(); /* the holder may stop the world */
    pthread_mutex_lock(&shutdown_lock);
    weft_blocking_end();
    long rc = shutdown_alone();
    pthread_mutex_unlock(&shutdown_lock);
    return rc;
}

/* weft_shutdown, under shutdown_lock. Another one that ran meanwhile was
 * refused: the caller was attached. */
static long shutdown_alone(void)
{
    _weft_gc_thread_stop();
    /* From here no thread attaches (a finalizer's thread, say): its objects
     * would outlive the runtime, and the count of live ones be wrong. */
    unsigned others;
    if (!_weft_thread_registry_close(&others)) {
        if (active_config.gc_thread)
            _weft_gc_thread_start();
        _weft_set_error(WEFT_ESTATE, "weft_shutdown: %u other thread(s) still attached", others);
        return -1;
    }
    /* Collect everything collectable: kept garbage becomes collectable once
     * released, and a collection's finalizers may free more. SAVEALL would
     * keep it again, in a list nothing releases. */
    weft_gc_set_debug(weft_gc_get_debug() & ~WEFT_GC_DEBUG_SAVEALL);
    _weft_gc_release_garbage();
    for (int i = 0; i < 4 && weft_gc_collect(2) > 0; i++) {
    }
    /* The uncollectable ones went back to a new list: they are reported,
     * not the list. */
    _weft_gc_release_garbage();
    weft_thread_detach();
    /* Deferred frees (old container storage) are done before counting. */
    weft_defer_barrier();
    uint64_t live = live_objects();
    long leaked = live > live_at_init ? (long)(live - live_at_init) : 0;
    if (leaked && active_config.leak_report != 0) {
        _weft_gc_report_live(stderr);
        _weft_gc_report_roots(stderr, 10);
    }
    weft_store_release(&initialized, 0);
    return leaked;
}
