/* A stop of the world held up by an attached thread that waits outside a
 * blocking region (threads/stw.c): after _weft_stw_stall_report_ns the
 * requester names that thread on stderr, once, and the stop still ends when
 * the thread reaches a safepoint; a thread waiting inside a blocking region
 * holds nothing up and is not named. Each case runs in a child process whose
 * stderr the parent reads. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objtest.h"
#include "threads/stw.h"
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <weft/weft.h>

static atomic_int sleeper_ready;
static atomic_int stop_ended;

typedef struct sleeper_args {
    bool blocking; /* wait inside a blocking region, as the rules ask */
} sleeper_args;

static void *sleeper(void *arg)
{
    sleeper_args *a = arg;
    if (weft_thread_attach() != 0)
        _exit(3);
    fprintf(stderr, "sleeper: thread %u (tid %d)\n", (unsigned)_weft_tls_index,
            (int)syscall(SYS_gettid));
    if (a->blocking)
        weft_blocking_begin();
    atomic_store(&sleeper_ready, 1);
    /* Misbehaving (or not): wait without a safepoint until the requester
     * has reported, or the stop has ended without a report; at most 30 s. */
    for (int i = 0; i < 6000 && !weft_load_relaxed(&_weft_stw_stalls_reported) &&
                    !atomic_load(&stop_ended);
         i++)
        usleep(5000);
    if (a->blocking)
        weft_blocking_end();
    weft_safepoint(); /* parks here if the stop still waits */
    weft_thread_detach();
    return NULL;
}

/* The child: one explicit collection while the sleeper waits. */
static void collect_during_wait(void *arg)
{
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    if (weft_init(&config) != 0)
        _exit(3);
    _weft_stw_stall_report_ns = 100 * 1000000ull;
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, arg) != 0)
        _exit(3);
    while (!atomic_load(&sleeper_ready))
        weft_test_yield();
    if (weft_gc_collect(0) < 0)
        _exit(4);
    atomic_store(&stop_ended, 1);
    fprintf(stderr, "collected; reports: %llu\n",
            (unsigned long long)weft_load_relaxed(&_weft_stw_stalls_reported));
    weft_test_join(t);
    _exit(weft_shutdown() == 0 ? 0 : 5);
}

/* The sleeper's "thread N (tid T)" from its own line of buf. */
static bool sleeper_name(const char *buf, char *name, size_t cap)
{
    const char *line = strstr(buf, "sleeper: ");
    if (!line)
        return false;
    line += strlen("sleeper: ");
    size_t n = strcspn(line, "\n");
    if (n >= cap)
        return false;
    memcpy(name, line, n);
    name[n] = 0;
    return true;
}

static void test_stalled_stop_names_the_thread(void)
{
    char buf[8192], name[64];
    sleeper_args args = {.blocking = false};
    int status = check_run_child(collect_during_wait, &args, buf, sizeof buf);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    REQUIRE(sleeper_name(buf, name, sizeof name));
    const char *report = strstr(buf, "weft: a stop of the world has waited 0.1 s for 1 of 1");
    CHECK(report != NULL);
    CHECK(report && strstr(report, name) != NULL);
    CHECK(strstr(buf, "weft_blocking_begin/end") != NULL);
    CHECK(strstr(buf, "collected; reports: 1\n") != NULL); /* once, and it ended */
    if (check_failed)
        fprintf(stderr, "the child printed:\n%s\n", buf);
}

static void test_blocked_thread_holds_nothing_up(void)
{
    char buf[8192];
    sleeper_args args = {.blocking = true};
    int status = check_run_child(collect_during_wait, &args, buf, sizeof buf);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(buf, "weft: a stop of the world") == NULL);
    CHECK(strstr(buf, "collected; reports: 0\n") != NULL);
    if (check_failed)
        fprintf(stderr, "the child printed:\n%s\n", buf);
}

int main(void)
{
    test_stalled_stop_names_the_thread();
    test_blocked_thread_holds_nothing_up();
    return check_finish();
}
