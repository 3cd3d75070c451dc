/* Interning is safe under threads: every content gets one canonical string,
 * whichever thread gets there first. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

#define THREADS 4
#define WORDS 2000
static weft_object *seen[THREADS][WORDS];

static void *intern_all(void *arg)
{
    long me = (long)arg;
    weft_thread_attach();
    for (int k = 0; k < WORDS; k++) {
        int w = (int)((k * 7919 + me * 104729) % WORDS);
        char buf[32];
        snprintf(buf, sizeof buf, "word-%d", w);
        seen[me][w] = weft_str_intern_cstr(buf);
        if ((k & 255) == 0)
            weft_safepoint();
    }
    weft_thread_detach();
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, intern_all, (void *)i);
    for (int i = 0; i < THREADS; i++)
        weft_test_join(t[i]);
    int disagree = 0, bad = 0;
    for (int w = 0; w < WORDS; w++) {
        char buf[32];
        snprintf(buf, sizeof buf, "word-%d", w);
        bad += seen[0][w] == NULL || strcmp(weft_str_data(seen[0][w]), buf) != 0 ||
               !weft_str_is_interned(seen[0][w]);
        for (int i = 1; i < THREADS; i++)
            disagree += seen[i][w] != seen[0][w];
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(disagree, 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
