/* Misuse that cannot be returned as an error stops the process with a message
 * naming the object's address and type. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void underflow_owner(void *arg)
{
    weft_init(NULL);
    weft_object *o = node_new(1, NULL);
    weft_incref(o);
    weft_decref(o);
    weft_decref(o); /* freed here */
    weft_object *o2 = node_new(2, NULL);
    weft_decref(o2);
    weft_decref(o2); /* freed block: not ours any more */
}

static void *decref_other_thread(void *arg)
{
    weft_thread_attach();
    weft_decref(arg);
    weft_decref(arg);
    weft_thread_detach();
    return NULL;
}

static void underflow_shared(void *arg)
{
    /* No collector thread and a plain join: the owner merges exactly at the
     * safepoint below, not earlier (a blocking region would merge). */
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    weft_init(&config);
    weft_object *o = node_new(1, NULL);
    /* Another thread releases a reference it never had, twice: the owner's
     * merge finds local 1 + shared -2. */
    pthread_t t;
    pthread_create(&t, NULL, decref_other_thread, o);
    pthread_join(t, NULL);
    weft_safepoint();
}

static void use_unattached(void *arg)
{
    weft_init(NULL);
    weft_object *o = node_new(1, NULL);
    weft_thread_detach();
    weft_decref(o); /* not attached any more */
}

static weft_object *read_dict, *read_key;

static void *read_twice(void *arg)
{
    weft_thread_attach();
    for (int i = 0; i < 2; i++)
        weft_decref(weft_dict_get(read_dict, read_key));
    weft_thread_detach();
    return arg;
}

static void *decref_never_attached(void *arg)
{
    weft_decref(arg);
    return NULL;
}

/* A buffered object released by a thread that never attached: its table
 * of counts is the shared empty one, so the release misses and reports. */
static void use_unattached_buffered(void *arg)
{
    weft_init(NULL);
    read_dict = weft_dict_new();
    read_key = weft_str_from_cstr("k");
    weft_object *o = node_new(1, NULL);
    weft_dict_set(read_dict, read_key, o);
    pthread_t t;
    pthread_create(&t, NULL, read_twice, NULL);
    pthread_join(t, NULL);
    weft_safepoint(); /* the merge the reader asked for */
    if (weft_count_buffered_objects() != 1) {
        fprintf(stderr, "the object was not buffered\n");
        exit(0); /* no death: the check fails */
    }
    pthread_create(&t, NULL, decref_never_attached, o);
    pthread_join(t, NULL);
}

int main(void)
{
    /* An object's header stays addressable after the free (lock-free readers
     * look at its counts), so weft reports this itself, in every build. */
    CHECK_DIES_WITH(underflow_owner, NULL, "decref of a freed object: object 0x");
    CHECK_DIES_WITH(underflow_owner, NULL, "of type test.node");
    CHECK_DIES_WITH(underflow_shared, NULL, "reference count underflow");
    CHECK_DIES_WITH(underflow_shared, NULL, "of type test.node");
    CHECK_DIES_WITH(use_unattached, NULL, "not attached");
    CHECK_DIES_WITH(use_unattached, NULL, "(type test.node)");
    const char *buffers = getenv("WEFT_COUNT_BUFFERS");
    if (!buffers || strcmp(buffers, "0") != 0)
        CHECK_DIES_WITH(use_unattached_buffered, NULL, "not attached");
    return check_finish();
}
