/* stress/compare.c: the collector-on / collector-off throughput ratio.
 *
 * With --gc-ratio, before its own run, weft-stress runs the same workload
 * (same seed, threads, mix and options) in a child process with --no-gc, for
 * a third of the duration (at most 10 s) or the same --ops, and reads its
 * throughput from the child's JSON report. A child that fails (a violation,
 * a leak, a crash) fails this run too. */
#include "stress.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 40

double compare_gc_off_rate(void)
{
    if (!opt.gc_ratio || !gc_active())
        return 0;
    char bufs[8][48];
    const char *args[MAX_ARGS];
    int n = 0, b = 0;
    args[n++] = opt.argv[0];
#define ARG(fmt, ...)                                                                    \
    (snprintf(bufs[b], sizeof bufs[b], fmt, __VA_ARGS__), args[n++] = bufs[b++])
    args[n++] = "--threads";
    ARG("%u", opt.threads);
    args[n++] = "--seed";
    ARG("%" PRIu64, opt.seed);
    args[n++] = "--churn";
    ARG("%u", opt.churn);
    args[n++] = "--slots";
    ARG("%u", opt.slots);
    args[n++] = "--watch-rate";
    ARG("%g", opt.watch_rate);
    args[n++] = "--handoff";
    args[n++] = opt.handoff;
    if (opt.fail_rate > 0) {
        args[n++] = "--fail-rate";
        ARG("%g", opt.fail_rate);
    }
    double seconds = 0;
    if (opt.ops) {
        args[n++] = "--ops";
        ARG("%" PRIu64, opt.ops);
    } else {
        seconds = opt.duration > 0 ? opt.duration / 3 : 10;
        if (seconds > 10)
            seconds = 10;
        args[n++] = "--duration";
        ARG("%g", seconds);
    }
#undef ARG
    if (opt.cycles)
        args[n++] = "--cycles";
    args[n++] = "--no-gc";
    args[n++] = "--json";
    args[n++] = "--quiet";
    args[n] = NULL;
    if (!opt.quiet)
        fprintf(opt.json ? stderr : stdout,
                "weft-stress: first the same workload with the collector off (%s)\n",
                opt.ops ? "same operation count" : "a third of the duration");
    fflush(NULL);

    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        close(fds[1]);
        execv("/proc/self/exe", (char *const *)args);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0, cap = 8192;
    char *out = malloc(cap);
    ssize_t got;
    while (out && (got = read(fds[0], out + len, cap - 1 - len)) > 0) {
        len += (size_t)got;
        if (len + 1 == cap) {
            char *bigger = realloc(out, cap *= 2);
            if (!bigger) {
                free(out);
                out = NULL;
            }
            out = bigger;
        }
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    double rate = -1;
    if (out) {
        out[len] = 0;
        const char *p = strstr(out, "\"ops_per_s\": ");
        if (p && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            rate = strtod(p + 13, NULL);
        free(out);
    }
    if (rate <= 0)
        fprintf(stderr, "weft-stress: the collector-off run failed (status %d)\n",
                status);
    return rate;
}
