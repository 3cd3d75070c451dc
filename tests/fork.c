/* fork() of a process that runs weft (threads/fork.c). From the one attached
 * thread, the child gets a whole runtime: it collects (on a collector thread
 * of its own), stops the world for threads it starts, frees what it
 * inherited and shuts down with nothing alive; the parent's collector thread
 * runs on. Before, the child's first collection waited for ever for the
 * parent's collector thread. A fork made while another thread is attached
 * leaves a child that cannot stop the world: its first stop ends the process
 * with a message instead of hanging.
 *
 * Children report through their exit status (their CHECKs count in their
 * own copy of check.h's counters). A child that hangs, even inside fork()
 * before it could arm an alarm, is killed after CHILD_WAIT_S and fails. */
#include "check.h"
#include "objtest.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_ALARM_S 30
#define CHILD_WAIT_S 40

/* Which thread ran the last collection (gc callback, "stop"). */
static pthread_t last_collector;
static atomic_int collections_seen;

static void note_collector(const char *phase, const weft_gc_info *info, void *arg)
{
    (void)info;
    (void)arg;
    if (phase[1] == 't' && phase[2] == 'o') { /* "stop" */
        last_collector = pthread_self();
        atomic_fetch_add(&collections_seen, 1);
    }
}

/* The child's status, after CHILD_WAIT_S at most (then it is killed: a
 * SIGKILL status). Any thread; no weft call. */
static int wait_pid_bounded(pid_t pid)
{
    int status = 0;
    struct timespec pause = {0, 2000000};
    for (long waited_ms = 0;; waited_ms += 2) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return status;
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "waitpid(%d): %s\n", (int)pid, strerror(errno));
            return -1;
        }
        if (waited_ms == CHILD_WAIT_S * 1000L) {
            fprintf(stderr, "child %d still running after %d s: killed\n", (int)pid,
                    CHILD_WAIT_S);
            kill(pid, SIGKILL);
        }
        nanosleep(&pause, NULL);
    }
}

/* The same from the attached main thread, outside the runtime. */
static int wait_child(pid_t pid)
{
    weft_blocking_begin();
    int status = wait_pid_bounded(pid);
    weft_blocking_end();
    return status;
}

/* Failed checks at the last fork: a child counts only its own. */
static int failed_before_fork;

static void child_exit(void)
{
    fflush(stdout);
    fflush(stderr);
    _exit(check_failed > failed_before_fork ? 1 : 0);
}

/* fork(), the child's check count starting from here. */
static pid_t fork_checked(void)
{
    failed_before_fork = check_failed;
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    return pid;
}

/* A child that collects the expected garbage and shuts down with nothing
 * alive; the parent checks its exit, then collects its own copy. */
static void fork_collect_shutdown(long expected)
{
    pid_t pid = fork_checked();
    if (pid == 0) {
        alarm(CHILD_ALARM_S);
        CHECK_EQ_INT(weft_gc_collect(2), expected);
        CHECK_EQ_INT(weft_shutdown(), 0);
        child_exit();
    }
    int status = wait_child(pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(weft_gc_collect(2), expected);
}

static void *attach_make_detach(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return (void *)1;
    for (long i = 0; i < 200; i++)
        if (!node_cycle_dropped(&cnode_type, 1000 + 2 * i))
            return (void *)1;
    weft_gc_collect(0); /* a stop of the world with two threads attached */
    return (void *)(intptr_t)(weft_thread_detach() != 0);
}

/* In the child of a fork from the one attached thread. */
static void child_whole(weft_object *inherited_live, long inherited_garbage, bool gc_thread)
{
    alarm(CHILD_ALARM_S);
    long dead_before = atomic_load(&node_dead_total);
    CHECK_EQ_INT(weft_gc_collect(2), inherited_garbage);
    if (gc_thread)
        CHECK(!pthread_equal(last_collector, pthread_self())); /* a collector thread runs */
    else
        CHECK(pthread_equal(last_collector, pthread_self()));
    for (long i = 0; i < 50; i++)
        REQUIRE(node_cycle_dropped(&cnode_type, 500 + 2 * i));
    CHECK_EQ_INT(weft_gc_collect(2), 100);

    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, attach_make_detach, NULL) == 0);
    for (int i = 0; i < 2; i++) {
        void *rc;
        weft_blocking_begin();
        pthread_join(t[i], &rc);
        weft_blocking_end();
        CHECK(rc == NULL);
    }
    weft_decref(inherited_live);
    CHECK(weft_gc_collect(2) >= 0);
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before,
                 inherited_garbage + 100 + 2 * 400 + 3 /* the live list and its chain */);
    CHECK_EQ_INT(weft_shutdown(), 0);
    child_exit();
}

/* A live list holding a chain of 3 nodes, and `cycles` 2-node cycles of
 * garbage that no collection has seen. */
static weft_object *make_heap(long cycles)
{
    weft_object *l = weft_list_new(0);
    REQUIRE(l != NULL);
    weft_object *chain = node_new(1, node_new(2, node_new(3, NULL)));
    REQUIRE(chain != NULL && weft_list_append(l, chain) == 0);
    weft_decref(chain);
    for (long i = 0; i < cycles; i++)
        REQUIRE(node_cycle_dropped(&cnode_type, 10 + 2 * i));
    return l;
}

static void test_fork_whole(bool gc_thread)
{
    REQUIRE(weft_gc_collect(2) >= 0);
    weft_object *live = make_heap(20);
    pid_t pid = fork_checked();
    if (pid == 0)
        child_whole(live, 40, gc_thread);
    int status = wait_child(pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (WIFSIGNALED(status))
        fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));

    /* The parent goes on as before, its collector thread again running. */
    CHECK_EQ_INT(weft_gc_collect(2), 40);
    if (gc_thread)
        CHECK(!pthread_equal(last_collector, pthread_self()));
    weft_decref(live);
    CHECK(weft_gc_collect(2) >= 0);
}

/* Many forks in a row: each child shuts down cleanly at once, and the
 * parent's collector thread is stopped and started each time. */
static void test_fork_repeated(void)
{
    for (int i = 0; i < 10; i++) {
        REQUIRE(node_cycle_dropped(&cnode_type, 2000 + 2 * i));
        fork_collect_shutdown(2);
    }
}

/* A thread attached in the parent at the fork (waiting in a blocking
 * region): the child's first stop of the world ends it, saying why. */
static int release_pipe[2];
static atomic_int waiter_attached;

static void *attached_waiter(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return (void *)1;
    atomic_store(&waiter_attached, 1);
    char c;
    weft_blocking_begin();
    ssize_t n = read(release_pipe[0], &c, 1);
    weft_blocking_end();
    return (void *)(intptr_t)((n != 1) | (weft_thread_detach() != 0));
}

static void test_fork_with_other_thread(void)
{
    REQUIRE(pipe(release_pipe) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, attached_waiter, NULL) == 0);
    struct timespec pause = {0, 1000000};
    weft_blocking_begin();
    while (!atomic_load(&waiter_attached))
        nanosleep(&pause, NULL);
    weft_blocking_end();
    int err[2];
    REQUIRE(pipe(err) == 0);
    pid_t pid = fork_checked();
    if (pid == 0) {
        alarm(CHILD_ALARM_S);
        dup2(err[1], 2);
        weft_gc_collect(2); /* must not return */
        _exit(0);
    }
    close(err[1]);
    char text[2048] = {0};
    size_t got = 0;
    ssize_t n;
    weft_blocking_begin();
    while (got < sizeof text - 1 && (n = read(err[0], text + got, sizeof text - 1 - got)) > 0)
        got += (size_t)n;
    weft_blocking_end();
    close(err[0]);
    int status = wait_child(pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(text, "child of a fork() made while 1 other thread(s) were attached") != NULL);
    if (!strstr(text, "child of a fork()"))
        fprintf(stderr, "child's stderr: %s\n", text);

    /* The parent is untouched. */
    REQUIRE(write(release_pipe[1], "x", 1) == 1);
    weft_test_join(t);
    close(release_pipe[0]);
    close(release_pipe[1]);
    REQUIRE(node_cycle_dropped(&cnode_type, 3000));
    CHECK_EQ_INT(weft_gc_collect(2), 2);
}

/* Forks between collections that free storage after a grace period (a
 * large block, a list's old item arrays): liburcu's workers are paused
 * before the registry is locked, for a collection waiting for that lock
 * would hold up their grace period. Not tested: forks by two threads at
 * once, and an unattached thread's fork while others work; both children
 * are unsupported and can crash inside liburcu's after-fork handler
 * (docs/threads.md, "Fork"). */
static void test_fork_between_collections(void)
{
    REQUIRE(weft_gc_collect(2) >= 0);
    for (int i = 0; i < 15; i++) {
        for (long c = 0; c < 100; c++)
            REQUIRE(node_cycle_dropped(&cnode_type, 4000 + 2 * c));
        /* Storage freed after a grace period: a large block, a list's old
         * item arrays. */
        static const char bytes[4096];
        weft_object *big = weft_str_new(bytes, sizeof bytes), *l = weft_list_new(0);
        REQUIRE(big != NULL && l != NULL);
        for (int k = 0; k < 64; k++)
            REQUIRE(weft_list_append(l, big) == 0);
        weft_decref(l);
        weft_decref(big);
        fork_collect_shutdown(200);
    }
}

int main(void)
{
    for (int gc_thread = 1; gc_thread >= 0; gc_thread--) {
        weft_config config;
        weft_config_default(&config);
        config.gc_thread = gc_thread;
        config.leak_report = 0;
        REQUIRE(weft_init(&config) == 0);
        weft_gc_disable(); /* only the collections the tests ask for */
        REQUIRE(weft_gc_add_callback(note_collector, NULL) == 0);
        test_fork_whole(gc_thread);
        test_fork_repeated();
        test_fork_between_collections();
        if (gc_thread)
            test_fork_with_other_thread();
        REQUIRE(weft_gc_remove_callback(note_collector, NULL) == 0);
        CHECK_EQ_INT(weft_shutdown(), 0);
    }
    return check_finish();
}
