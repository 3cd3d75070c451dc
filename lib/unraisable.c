/* lib/unraisable.c: errors that code weft runs for the program (finalizers,
 * weakref callbacks, collection callbacks) leaves where no caller can
 * receive them, reported through a hook (weft/error.h).
 *
 * The hook and its argument change together under hook_lock; a report takes
 * a copy and calls it unlocked, so a hook may itself run code that reports
 * (a decref in the hook whose finalizer fails) without deadlocking. */
#include "error.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <weft/object.h>

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_unraisable_hook hook; /* NULL: print_unraisable */
static void *hook_arg;
static atomic_ullong reported;

/* One line, written with one call so that two threads' lines do not mix. */
static void print_unraisable(const weft_unraisable *u, void *arg)
{
    (void)arg;
    char line[512];
    int n;
    if (u->object)
        n = snprintf(line, sizeof line, "weft: error ignored in %s of %s object at %p: %s: %s\n",
                     u->context, u->object->type->name, (void *)u->object,
                     weft_error_name(u->code), u->message);
    else
        n = snprintf(line, sizeof line, "weft: error ignored in %s: %s: %s\n", u->context,
                     weft_error_name(u->code), u->message);
    if (n >= (int)sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (n > 0) {
        fwrite(line, 1, (size_t)n, stderr);
        fflush(stderr);
    }
}

void weft_set_unraisable_hook(weft_unraisable_hook new_hook, void *arg)
{
    pthread_mutex_lock(&hook_lock);
    hook = new_hook;
    hook_arg = new_hook ? arg : NULL;
    pthread_mutex_unlock(&hook_lock);
}

unsigned long long weft_unraisable_count(void)
{
    return atomic_load_explicit(&reported, memory_order_relaxed);
}

/* The error is copied out and cleared before the hook runs: the hook sees
 * no error of its own, and one it leaves is dropped by the restore. */
void _weft_error_report_and_restore(const weft_error_saved *saved, const char *context,
                                    struct weft_object *object)
{
    weft_error_code code = weft_error();
    if (code != WEFT_OK) {
        char message[WEFT_ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", weft_error_message());
        weft_error_clear();
        weft_unraisable u = {.code = code, .message = message, .context = context,
                             .object = object};
        pthread_mutex_lock(&hook_lock);
        weft_unraisable_hook fn = hook ? hook : print_unraisable;
        void *arg = hook_arg;
        pthread_mutex_unlock(&hook_lock);
        atomic_fetch_add_explicit(&reported, 1, memory_order_relaxed);
        fn(&u, arg);
    }
    _weft_error_restore(saved);
}
