/* tests/check.h: the assertion and death-test helpers of weft's C tests.
 *
 * CHECK(cond) records a failure with file:line and goes on; REQUIRE(cond)
 * stops the test. A test program ends with `return check_finish();`, which
 * prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef WEFT_TESTS_CHECK_H
#define WEFT_TESTS_CHECK_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            check_passed++;                                                        \
        } else {                                                                   \
            check_failed++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                         \
    do {                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);            \
        if (check_a_ == check_b_) {                                                \
            check_passed++;                                                        \
        } else {                                                                   \
            check_failed++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",      \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);               \
        }                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                         \
    do {                                                                           \
        const char *check_sa_ = (a), *check_sb_ = (b);                             \
        if (check_sa_ && check_sb_ && strcmp(check_sa_, check_sb_) == 0) {         \
            check_passed++;                                                        \
        } else {                                                                   \
            check_failed++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",   \
                    __FILE__, __LINE__, #a, #b, check_sa_ ? check_sa_ : "(null)", \
                    check_sb_ ? check_sb_ : "(null)");                             \
        }                                                                          \
    } while (0)

#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                               \
        }                                                                          \
        check_passed++;                                                            \
    } while (0)

static inline int check_finish(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Run fn in a child process with stderr captured. Returns the child's wait
 * status; the captured stderr (NUL-terminated, truncated to cap) goes to buf. */
static inline int check_run_child(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, cap - 1 - len)) > 0 && len < cap - 1)
        len += (size_t)n;
    buf[len] = 0;
    char sink[256];
    while (read(fds[0], sink, sizeof sink) > 0) {
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* A death test: fn must kill the child by a signal (abort) and print `expect`. */
#define CHECK_DIES_WITH(fn, arg, expect)                                           \
    do {                                                                           \
        char check_buf_[8192];                                                     \
        int check_st_ = check_run_child((fn), (arg), check_buf_, sizeof check_buf_); \
        int check_ok_ = WIFSIGNALED(check_st_) && strstr(check_buf_, (expect)) != NULL; \
        if (check_ok_) {                                                           \
            check_passed++;                                                        \
        } else {                                                                   \
            check_failed++;                                                        \
            fprintf(stderr, "%s:%d: %s did not die with \"%s\" (status %d); it printed:\n%s\n", \
                    __FILE__, __LINE__, #fn, (expect), check_st_, check_buf_);     \
        }                                                                          \
    } while (0)

#endif
