/* stress/options.c: the command line, and the command that replays a run.
 *
 * A run is fixed by its arguments and its seed: every thread's choices come
 * from generators seeded with the seed, the worker slot and the incarnation
 * (thread scheduling still varies between runs). When --seed is not given,
 * one is drawn and printed, and a violation prints the command line with
 * --seed N added, which replays the run. */
#include "stress.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

stress_options opt;
static char *replay;

static const char usage[] =
    "usage: weft-stress [options]\n"
    "\n"
    "Runs worker threads through a seeded random mix of weft object operations\n"
    "(every built-in type and a user type with a finalizer; trees, chains and\n"
    "rings; handoff between threads; weakrefs with callbacks; resurrecting\n"
    "finalizers; thread churn; blocking regions; injected allocation failures)\n"
    "and checks each step against an exact oracle: every object is freed exactly\n"
    "once, never while reachable, reads find their checksums intact, and nothing\n"
    "is left at shutdown. Exits 0 when there were no violations and no leaks.\n"
    "\n"
    "  --threads N        worker threads (default 2)\n"
    "  --duration S       run for S seconds (default 10; with --ops or --soak:\n"
    "                     no time limit unless given)\n"
    "  --ops N            run N operations in all, shared among the threads\n"
    "  --soak             run until interrupted (SIGINT/SIGTERM) or --duration\n"
    "  --seed N           the seed (default: drawn at random and printed)\n"
    "  --fail-rate [P]    arm an allocation failure before a share P of the\n"
    "                     operations (default P 0.001 when the flag is given)\n"
    "  --cycles           make reference cycles too (broken by hand where weft\n"
    "                     has no collector)\n"
    "  --no-gc            do not use weft's collector: cycles are broken by hand\n"
    "  --gc-ratio         first run the same workload with --no-gc (a third of the\n"
    "                     time, at most 10 s) and report the on/off throughput ratio\n"
    "  --churn N          a thread detaches and a new one attaches after about N\n"
    "                     operations (default 20000; 0: threads live all the run)\n"
    "  --slots N          references each thread keeps (default 64)\n"
    "  --handoff B        how objects cross threads: weft (shared weft lists and\n"
    "                     a dict, the default) or ring (the harness's own buffers)\n"
    "  --watch-rate P     share of built-in objects whose death the oracle\n"
    "                     observes through a weakref (default 0.25)\n"
    "  --inject-bug B     make the harness itself misbehave once, to show that the\n"
    "                     oracle notices: early-free (one decref too many while a\n"
    "                     root holds the object) or leak (one decref too few)\n"
    "  --json             print the report as JSON (progress goes to stderr)\n"
    "  --quiet            no progress line\n"
    "  --help             this text\n";

__attribute__((noreturn, format(printf, 1, 2))) static void bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "weft-stress: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(weft-stress --help lists the options)\n");
    exit(2);
}

static uint64_t parse_u64(const char *name, const char *v, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (!v || !*v || *v == '-')
        bad("%s expects a number, got '%s'", name, v ? v : "");
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || *end || x < lo || x > hi)
        bad("%s expects a whole number from %" PRIu64 " to %" PRIu64 ", got '%s'", name,
            lo, hi, v);
    return x;
}

static double parse_double(const char *name, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    if (!v || !*v)
        bad("%s expects a number, got ''", name);
    double x = strtod(v, &end);
    if (errno || *end || !(x >= lo && x <= hi))
        bad("%s expects a number from %g to %g, got '%s'", name, lo, hi, v);
    return x;
}

static bool is_number(const char *s)
{
    if (!s || !*s)
        return false;
    char *end;
    strtod(s, &end);
    return *end == 0;
}

static uint64_t random_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, 0) == (ssize_t)sizeof s)
        return s >> 1; /* 63 bits: reads well, parses anywhere */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    return splitmix64(&x) >> 1;
}

/* Append s to buf, quoted for a POSIX shell if it needs it. */
static void append_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
    bool plain = *s != 0;
    for (const char *p = s; *p; p++)
        if (!strchr(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+",
                *p))
            plain = false;
    size_t need = *len + strlen(s) * 4 + 4;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
    char *o = *buf + *len;
    if (*len)
        *o++ = ' ';
    if (plain) {
        o += sprintf(o, "%s", s);
    } else {
        *o++ = '\'';
        for (const char *p = s; *p; p++) {
            if (*p == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *p;
            }
        }
        *o++ = '\'';
        *o = 0;
    }
    *len = (size_t)(o - *buf);
}

static void build_replay(void)
{
    size_t len = 0, cap = 0;
    free(replay);
    replay = NULL;
    append_quoted(&replay, &len, &cap, opt.argv[0]);
    for (int i = 1; i < opt.argc; i++) {
        const char *a = opt.argv[i];
        if (strcmp(a, "--seed") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--seed=", 7) == 0)
            continue;
        append_quoted(&replay, &len, &cap, a);
    }
    char seed[48];
    snprintf(seed, sizeof seed, "--seed %" PRIu64, opt.seed);
    append_quoted(&replay, &len, &cap, "--seed");
    append_quoted(&replay, &len, &cap, seed + 7);
}

const char *options_replay_command(void)
{
    return replay ? replay : "weft-stress";
}

void options_parse(int argc, char **argv)
{
    memset(&opt, 0, sizeof opt);
    opt.threads = 2;
    opt.churn = 20000;
    opt.slots = 64;
    opt.watch_rate = 0.25;
    opt.handoff = "weft";
    opt.argc = argc;
    opt.argv = argv;
    bool seed_given = false, duration_given = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        char name[64];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) == 0 && eq && (size_t)(eq - arg) < sizeof name) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = 0;
            value = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
        }
#define VALUE() (value ? value : (i + 1 < argc ? argv[++i] : NULL))
#define FLAG()                                                                           \
    do {                                                                                 \
        if (value)                                                                       \
            bad("%s takes no value", name);                                              \
    } while (0)
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(name, "--threads") == 0) {
            opt.threads = (unsigned)parse_u64(name, VALUE(), 1, 1024);
        } else if (strcmp(name, "--duration") == 0) {
            opt.duration = parse_double(name, VALUE(), 0.001, 1e9);
            duration_given = true;
        } else if (strcmp(name, "--ops") == 0) {
            opt.ops = parse_u64(name, VALUE(), 1, UINT64_MAX / 2);
        } else if (strcmp(name, "--seed") == 0) {
            opt.seed = parse_u64(name, VALUE(), 0, UINT64_MAX);
            seed_given = true;
        } else if (strcmp(name, "--fail-rate") == 0) {
            if (!value && i + 1 < argc && is_number(argv[i + 1]))
                value = argv[++i];
            opt.fail_rate = value ? parse_double(name, value, 0, 1) : 0.001;
        } else if (strcmp(name, "--churn") == 0) {
            opt.churn = (unsigned)parse_u64(name, VALUE(), 0, 1000000000);
        } else if (strcmp(name, "--slots") == 0) {
            opt.slots = (unsigned)parse_u64(name, VALUE(), 1, 1000000);
        } else if (strcmp(name, "--handoff") == 0) {
            opt.handoff = VALUE();
            if (!opt.handoff ||
                (strcmp(opt.handoff, "weft") != 0 && strcmp(opt.handoff, "ring") != 0))
                bad("--handoff expects weft or ring, got '%s'",
                    opt.handoff ? opt.handoff : "");
        } else if (strcmp(name, "--inject-bug") == 0) {
            const char *v = VALUE();
            if (v && strcmp(v, "early-free") == 0)
                opt.inject = INJECT_EARLY_FREE;
            else if (v && strcmp(v, "leak") == 0)
                opt.inject = INJECT_LEAK;
            else
                bad("--inject-bug expects early-free or leak, got '%s'", v ? v : "");
        } else if (strcmp(name, "--watch-rate") == 0) {
            opt.watch_rate = parse_double(name, VALUE(), 0, 1);
        } else if (strcmp(name, "--json") == 0) {
            FLAG();
            opt.json = true;
        } else if (strcmp(name, "--soak") == 0) {
            FLAG();
            opt.soak = true;
        } else if (strcmp(name, "--quiet") == 0) {
            FLAG();
            opt.quiet = true;
        } else if (strcmp(name, "--cycles") == 0) {
            FLAG();
            opt.cycles = true;
        } else if (strcmp(name, "--no-gc") == 0) {
            FLAG();
            opt.no_gc = true;
        } else if (strcmp(name, "--gc-ratio") == 0) {
            FLAG();
            opt.gc_ratio = true;
        } else {
            bad("unknown option '%s'", arg);
        }
#undef VALUE
#undef FLAG
    }
    if (!duration_given)
        opt.duration = (opt.ops || opt.soak) ? 0 : 10;
    if (!seed_given)
        opt.seed = random_seed();
    build_replay();
}

void options_fini(void)
{
    free(replay);
    replay = NULL;
}
