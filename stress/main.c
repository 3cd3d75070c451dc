/* stress/main.c: weft-stress from start to verdict.
 *
 *   1. set-up: weft_init, the oracle, half the interned vocabulary, the
 *      handoff layer; the heap statistics then are the baseline;
 *   2. the run: worker threads churn through the mix (workload.c, workers.c)
 *      while this thread, outside the runtime (in a blocking region), joins
 *      and restarts them, frees the oracle's retired chunks, and shows
 *      progress, until the duration or the operation count is reached or a
 *      signal asks to stop;
 *   3. the end phase: everything left in mailboxes, on the board and in the
 *      resurrection list is dropped (rings broken where they must be), a full
 *      collection where there is a collector, the watches swept; then every
 *      id must be dead (oracle), weft_shutdown must report zero live objects,
 *      and the heap must hold exactly the baseline's blocks plus the strings
 *      interned since;
 *   4. the report; exit 0 only with no leak and no violation.
 *
 * A violation during the run stops it at once with the seed and the replay
 * command (oracle.c); so does a crash (the handler below prints them first). */
#include "stress.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BOARD_CELLS 64

static volatile sig_atomic_t signalled;
static char crash_note[4096];
static size_t crash_note_len;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (signalled) /* a second one: stop now */
        _exit(130);
    signalled = 1;
}

static struct sigaction previous[32];

/* Print the replay note once, whoever asks first. */
static void write_crash_note(void)
{
    static volatile sig_atomic_t once;
    if (!once) {
        once = 1;
        ssize_t rc = write(2, crash_note, crash_note_len);
        (void)rc;
    }
}

static void on_crash(int sig)
{
    write_crash_note();
    /* Hand the signal to whoever handled it before (a sanitizer, or the
     * default action), by returning into the fault or re-raising. */
    sigaction(sig, &previous[sig], NULL);
    if (sig == SIGABRT)
        raise(sig);
}

/* Sanitizers end the process their own way (TSan exits, ASan may abort):
 * their death callback prints the replay command too. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void on_sanitizer_death(void)
{
    write_crash_note();
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    snprintf(crash_note, sizeof crash_note,
             "weft-stress: stopped by a crash or a sanitizer report (seed %" PRIu64
             "); replay with:\n  %s\n",
             opt.seed, options_replay_command());
    crash_note_len = strlen(crash_note);
    static const int crashes[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_NODEFER;
    for (size_t i = 0; i < sizeof crashes / sizeof crashes[0]; i++)
        sigaction(crashes[i], &sa, &previous[crashes[i]]);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(on_sanitizer_death);
}

/* Drop everything the run left in shared places; dropping may resurrect
 * objects into the list again, so loop until all are empty. */
#define END_ROUNDS_MAX 64

static void drain_leftovers(void)
{
    for (;;) {
        weft_object *o = handoff_drain();
        if (o) {
            workload_drop_leftover(o, false);
            continue;
        }
        o = revive_take();
        if (!o)
            break;
        workload_drop_leftover(o, true);
    }
}

int main(int argc, char **argv)
{
    options_parse(argc, argv);
    install_handlers();
    FILE *pout = opt.json ? stderr : stdout;
    bool tty = isatty(fileno(pout));
    if (!opt.quiet)
        progress_init(pout, tty);
    /* Always, so that a run that dies is replayable from its output. */
    fprintf(opt.json ? stderr : stdout,
            "weft-stress: seed %" PRIu64 ", %u threads, %s, collector: %s, cycles: %s, "
            "fail rate %g\n",
            opt.seed, opt.threads,
            opt.ops            ? "by operation count"
            : opt.duration > 0 ? "by duration"
                               : "until interrupted",
            gc_active() ? "on"
            : opt.no_gc ? "off (--no-gc)"
                        : "none in this build",
            !opt.cycles                 ? "off"
            : gc_cycles_need_breaking() ? "on, broken by hand"
                                        : "on",
            opt.fail_rate);

    fflush(NULL);
    double gc_off_rate = compare_gc_off_rate(); /* before any thread exists */

    weft_config cfg;
    weft_config_default(&cfg);
    if (weft_init(&cfg) != 0) {
        fprintf(stderr, "weft-stress: weft_init failed: %s\n", weft_error_message());
        return 1;
    }
    oracle_init(opt.seed);
    gc_setup();
    objects_watch_unraisable();
    unsigned long long unraisable_before = weft_unraisable_count();
    /* Half the vocabulary now, the rest by the workers (concurrent first
     * interning) or at the end: the heap then holds exactly VOCAB/2 more
     * immortal strings than at the baseline. */
    for (unsigned k = 0; k < VOCAB / 2; k++)
        if (intern_vocab(k, NULL) != 0) {
            fprintf(stderr, "weft-stress: interning failed: %s\n", weft_error_message());
            return 1;
        }
    weft_heap_stats base;
    weft_heap_get_stats(&base);
    /* After the baseline: the containers of the weft backend are dropped
     * before the final count. */
    if (handoff_init(opt.threads, BOARD_CELLS) != 0) {
        fprintf(stderr, "weft-stress: cannot set up the handoff layer: %s\n",
                weft_error_message());
        return 1;
    }
    workers_init();

    /* ---- the run */
    weft_blocking_begin();
    double t0 = now_seconds();
    workers_start();
    for (;;) {
        bool busy = workers_tick(false);
        double elapsed = now_seconds() - t0;
        oracle_reap();
        rings_prune();
        progress_tick(elapsed, false);
        if (!busy || signalled || (opt.duration > 0 && elapsed >= opt.duration))
            break;
    }
    workers_stop();
    double elapsed = now_seconds() - t0;
    progress_tick(elapsed, true);
    weft_blocking_end();

    /* ---- the end phase */
    weft_fault_alloc_after(0);
    weft_error_clear();
    run_result r;
    memset(&r, 0, sizeof r);
    r.elapsed = elapsed;
    r.gc_off_rate = gc_off_rate > 0 ? gc_off_rate : 0;
    if (gc_off_rate < 0)
        r.violations++; /* the comparison run failed: its output says why */
    drain_leftovers();
    /* Every other thread has detached: what the collector's clearing queues
     * to them is merged at once, on their behalf. A collection's finalizers
     * may resurrect objects, whose drop may free more cycles with finalizers
     * that resurrect in turn: collect until no resurrection is left (each
     * round finalizes new objects only, so this ends). */
    for (unsigned round = 0; gc_active(); round++) {
        gc_collect(2);
        weft_safepoint();
        if (revive_len() == 0)
            break;
        if (round == END_ROUNDS_MAX) {
            fprintf(stderr, "weft-stress: resurrections go on after %u final collections\n",
                    END_ROUNDS_MAX);
            break;
        }
        drain_leftovers();
    }
    uint64_t ring_leaks = workload_check_dropped_rings(20);
    r.leaked_watches = weak_orphans_fini(20);
    size_t interned_bytes = 0; /* the blocks of the strings interned since the baseline */
    for (unsigned k = VOCAB / 2; k < VOCAB; k++)
        if (intern_vocab(k, &interned_bytes) != 0) {
            fprintf(stderr, "weft-stress: interning failed: %s\n", weft_error_message());
            return 1;
        }
    r.leaked_ids = oracle_scan_leaks(20) + ring_leaks;
    if (r.leaked_ids && gc_active())
        gc_print_leak_roots(10);
    stats_sum(r.totals);
    r.ids = oracle_ids_issued();
    r.incarnations = workers_incarnations();
    r.faults_injected = weft_fault_alloc_injected();
    gc_get_report(&r.gc);
    handoff_fini();

    r.live_at_shutdown = weft_shutdown();
    objects_check_unraisable(unraisable_before);
    stats_sum(r.totals); /* with what shutdown's finalizers added */
    weft_heap_stats after;
    weft_heap_get_stats(&after);
    r.small_blocks_over = (long)after.small_blocks_in_use -
                          (long)base.small_blocks_in_use - (long)(VOCAB - VOCAB / 2);
    r.large_blocks_over =
        (long)after.large_blocks_in_use - (long)base.large_blocks_in_use;
    r.small_bytes_over = (long)after.small_bytes_in_use - (long)base.small_bytes_in_use -
                         (long)interned_bytes;
    r.large_bytes_over = (long)after.large_bytes_in_use - (long)base.large_bytes_in_use;
    r.peak_rss = peak_rss_bytes();

    uint64_t objects =
        r.leaked_ids > (uint64_t)(r.live_at_shutdown > 0 ? r.live_at_shutdown : 0)
            ? r.leaked_ids
            : (uint64_t)(r.live_at_shutdown > 0 ? r.live_at_shutdown : 0);
    r.leaks = objects + (uint64_t)labs(r.small_blocks_over) +
              (uint64_t)labs(r.large_blocks_over) +
              (r.small_bytes_over || r.large_bytes_over); /* blocks in other classes */
    if (r.live_at_shutdown < 0)
        r.leaks++;    /* weft_shutdown failed */
    r.violations = 0; /* a violation during the run has aborted it already */

    report_print(stdout, &r, opt.json);
    if (r.leaks || r.violations) {
        fprintf(stderr, "weft-stress: FAILED (seed %" PRIu64 "); replay with:\n  %s\n",
                opt.seed, options_replay_command());
        if (r.small_blocks_over || r.large_blocks_over || r.small_bytes_over ||
            r.large_bytes_over)
            weft_heap_print_stats(stderr);
    }

    revive_fini();
    oracle_fini();
    workers_fini();
    options_fini();
    return r.leaks || r.violations ? 1 : 0;
}
