/* Misuse that cannot be returned as an error stops the process with a message
 * naming the object's address and type. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>

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
    return check_finish();
}
