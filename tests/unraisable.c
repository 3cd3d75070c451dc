/* Errors left by code weft runs for the program (finalizers, weakref
 * callbacks, collection callbacks) are reported through the unraisable hook
 * and never reach, or replace, the error of the thread that ran the code.
 * Before, a finalizer's error stayed behind as the last error of whichever
 * thread the object died on (a successful weft_decref or weft_gc_collect
 * "failed"), and one that ran on the collector thread was lost. */
#include "check.h"
#include "objtest.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What the hook saw; it may run on the collector thread, so main reads
 * these only after the collection that ran it has returned. */
static atomic_int hook_calls;
static weft_error_code last_code;
static char last_message[256];
static char last_context[64];
static weft_object *last_object;
static atomic_int hook_arg_ok;
static int hook_arg_value;

static void record_hook(const weft_unraisable *u, void *arg)
{
    last_code = u->code;
    snprintf(last_message, sizeof last_message, "%s", u->message);
    snprintf(last_context, sizeof last_context, "%s", u->context);
    last_object = u->object;
    if (arg == &hook_arg_value)
        atomic_fetch_add(&hook_arg_ok, 1);
    /* A hook that fails itself: its error is dropped, not reported. */
    weft_error_set(WEFT_ENOMEM, "the hook's own error");
    atomic_fetch_add(&hook_calls, 1);
}

static void reset_hook_record(void)
{
    atomic_store(&hook_calls, 0);
    atomic_store(&hook_arg_ok, 0);
    last_code = WEFT_OK;
    last_message[0] = last_context[0] = 0;
    last_object = NULL;
}

/* A finalizer that fails through a weft call: an index out of range. */
static void finalize_failing_call(weft_object *self)
{
    (void)self;
    weft_object *l = weft_list_new(0);
    if (l) {
        weft_object *got = weft_list_get(l, 5);
        weft_xdecref(got);
        weft_decref(l);
    }
}

/* A finalizer that records its own reason. */
static void finalize_set_error(weft_object *self)
{
    weft_error_set(WEFT_EOVERFLOW, "finalizer of node %ld failed", ((node *)self)->id);
}

/* A finalizer that sets an error and clears it again: nothing to report. */
static void finalize_recovered(weft_object *self)
{
    (void)self;
    weft_error_set(WEFT_EINVAL, "recovered");
    weft_error_clear();
}

static const weft_type failing_call_type =
    FINALIZABLE_NODE_TYPE("test.failing_call", finalize_failing_call);
static const weft_type set_error_type = FINALIZABLE_NODE_TYPE("test.set_error", finalize_set_error);
static const weft_type recovered_type = FINALIZABLE_NODE_TYPE("test.recovered", finalize_recovered);

static weft_object *new_node(const weft_type *type, long id)
{
    node *n = (node *)weft_new(type);
    REQUIRE(n != NULL);
    n->id = id;
    return &n->ob;
}

static void set_caller_error(void)
{
    weft_error_set(WEFT_ESTATE, "the caller's own error");
}

static void check_caller_error_kept(void)
{
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK_STR_EQ(weft_error_message(), "the caller's own error");
}

/* A finalizer run by a decref, on the calling thread. */
static void test_finalizer_on_decref(void)
{
    reset_hook_record();
    unsigned long long before = weft_unraisable_count();

    set_caller_error();
    weft_object *o = new_node(&set_error_type, 7);
    weft_decref(o); /* dies: the finalizer fails */
    check_caller_error_kept();
    CHECK_EQ_INT(atomic_load(&hook_calls), 1);
    CHECK_EQ_INT(atomic_load(&hook_arg_ok), 1);
    CHECK_EQ_INT(last_code, WEFT_EOVERFLOW);
    CHECK_STR_EQ(last_message, "finalizer of node 7 failed");
    CHECK_STR_EQ(last_context, "finalizer");
    CHECK(last_object == o);
    CHECK(weft_unraisable_count() == before + 1);

    /* No caller error: none after either. */
    weft_error_clear();
    o = new_node(&failing_call_type, 8);
    weft_decref(o);
    CHECK_EQ_INT(weft_error(), WEFT_OK);
    CHECK_STR_EQ(weft_error_message(), "");
    CHECK_EQ_INT(atomic_load(&hook_calls), 2);
    CHECK_EQ_INT(last_code, WEFT_EINVAL);
    CHECK(strstr(last_message, "out of range") != NULL);

    /* A finalizer that recovers reports nothing. */
    o = new_node(&recovered_type, 9);
    weft_decref(o);
    CHECK_EQ_INT(atomic_load(&hook_calls), 2);
    CHECK_EQ_INT(weft_error(), WEFT_OK);
}

/* Finalizers of cyclic garbage, run by a collection (on the collector
 * thread, or on this one without it): the caller's error survives the
 * collect, and each failure is reported once. */
static void test_finalizer_in_collection(void)
{
    reset_hook_record();
    REQUIRE(weft_gc_collect(2) >= 0);
    for (long id = 100; id < 110; id += 2)
        REQUIRE(node_cycle_dropped(&set_error_type, id));
    set_caller_error();
    CHECK_EQ_INT(weft_gc_collect(2), 10);
    check_caller_error_kept();
    CHECK_EQ_INT(atomic_load(&hook_calls), 10);
    CHECK_EQ_INT(last_code, WEFT_EOVERFLOW);
    CHECK_STR_EQ(last_context, "finalizer");
    CHECK(strstr(last_message, "finalizer of node 10") == last_message);
    weft_error_clear();
}

static atomic_int weakref_callbacks;

static void failing_weakref_callback(weft_object *wr, void *arg)
{
    (void)wr;
    (void)arg;
    atomic_fetch_add(&weakref_callbacks, 1);
    weft_error_set(WEFT_EINVAL, "weakref callback failed");
}

/* A weakref callback run by its referent's death, then by a collection. */
static void test_weakref_callback(void)
{
    reset_hook_record();
    weft_object *target = new_node(&node_type, 20);
    weft_object *wr = weft_weakref_new(target, failing_weakref_callback, NULL);
    REQUIRE(wr != NULL);
    set_caller_error();
    weft_decref(target);
    check_caller_error_kept();
    CHECK_EQ_INT(atomic_load(&weakref_callbacks), 1);
    CHECK_EQ_INT(atomic_load(&hook_calls), 1);
    CHECK_STR_EQ(last_context, "weakref callback");
    CHECK_STR_EQ(last_message, "weakref callback failed");
    CHECK(last_object == wr);
    weft_decref(wr);

    node *a = (node *)weft_new(&cnode_type);
    REQUIRE(a != NULL);
    a->id = 21;
    a->child = weft_newref(&a->ob); /* a self-cycle */
    wr = weft_weakref_new(&a->ob, failing_weakref_callback, NULL);
    REQUIRE(wr != NULL);
    weft_decref(&a->ob);
    CHECK_EQ_INT(weft_gc_collect(2), 1);
    check_caller_error_kept();
    CHECK_EQ_INT(atomic_load(&weakref_callbacks), 2);
    CHECK_EQ_INT(atomic_load(&hook_calls), 2);
    CHECK(last_object == wr);
    weft_decref(wr);
    weft_error_clear();
}

static atomic_int gc_callback_calls;

static void failing_gc_callback(const char *phase, const weft_gc_info *info, void *arg)
{
    (void)info;
    (void)arg;
    atomic_fetch_add(&gc_callback_calls, 1);
    weft_error_set(WEFT_EINVAL, "gc callback failed at %s", phase);
}

static void test_gc_callback(void)
{
    reset_hook_record();
    REQUIRE(weft_gc_add_callback(failing_gc_callback, NULL) == 0);
    set_caller_error();
    CHECK(weft_gc_collect(0) >= 0);
    check_caller_error_kept();
    REQUIRE(weft_gc_remove_callback(failing_gc_callback, NULL) == 0);
    CHECK_EQ_INT(atomic_load(&gc_callback_calls), 2);
    CHECK_EQ_INT(atomic_load(&hook_calls), 2);
    CHECK_STR_EQ(last_context, "gc callback");
    CHECK_STR_EQ(last_message, "gc callback failed at stop");
    CHECK(last_object == NULL);
    weft_error_clear();
}

/* The default hook: one line on stderr, naming context, type and error. */
static void test_default_hook(void)
{
    weft_set_unraisable_hook(NULL, NULL);
    char path[] = "/tmp/weft_unraisable_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    fflush(stderr);
    int saved_stderr = dup(2);
    REQUIRE(saved_stderr >= 0 && dup2(fd, 2) == 2);

    weft_object *o = new_node(&set_error_type, 31);
    weft_decref(o);
    fflush(stderr);
    REQUIRE(dup2(saved_stderr, 2) == 2);
    close(saved_stderr);

    char text[1024] = {0};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    CHECK(n > 0);
    char want[256];
    snprintf(want, sizeof want,
             "weft: error ignored in finalizer of test.set_error object at %p: "
             "WEFT_EOVERFLOW: finalizer of node 31 failed\n",
             (void *)o);
    CHECK_STR_EQ(text, want);
    CHECK_EQ_INT(weft_error(), WEFT_OK);
}

int main(void)
{
    for (int gc_thread = 1; gc_thread >= 0; gc_thread--) {
        weft_config config;
        weft_config_default(&config);
        config.gc_thread = gc_thread;
        REQUIRE(weft_init(&config) == 0);
        weft_gc_disable(); /* only the collections the tests ask for */
        weft_set_unraisable_hook(record_hook, &hook_arg_value);
        atomic_store(&weakref_callbacks, 0);
        atomic_store(&gc_callback_calls, 0);
        test_finalizer_on_decref();
        test_finalizer_in_collection();
        test_weakref_callback();
        test_gc_callback();
        test_default_hook();
        CHECK_EQ_INT(weft_shutdown(), 0);
    }
    return check_finish();
}
