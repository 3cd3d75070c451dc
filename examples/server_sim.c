/* examples/server_sim.c: weft embedded the way a multithreaded server uses it.
 *
 * A "front end" (the main thread) receives requests from the network (here:
 * made up from a random generator) and queues them; worker threads take them
 * and serve them against shared state held in weft objects: a dict that maps
 * each user's name to the list of that user's messages. Requests:
 *
 *   POST user text    append a message to the user's list (the oldest ones
 *                     are dropped beyond HISTORY)
 *   GET user          read the user's messages and "send" their total size
 *   RESET user        replace the user's list by an empty one
 *
 * What it shows:
 *   - every thread that touches objects attaches first and detaches before it
 *     exits (weft_thread_attach / weft_thread_detach);
 *   - waiting for work and "writing the response" happen inside blocking
 *     regions (weft_blocking_begin / end), as Py_BEGIN_ALLOW_THREADS does: no
 *     object is touched there, and the thread never holds up the others;
 *   - the shared dict and lists need no lock of the program's own: weft's
 *     containers are safe to use from many threads at once;
 *   - shutdown drops every reference and checks that nothing is left:
 *     weft_shutdown() returns the number of objects still alive, and the heap
 *     statistics show no block in use. The program exits 1 otherwise.
 *
 * usage: server_sim [THREADS [REQUESTS]]   (default 4 20000) */
#include <weft/weft.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USERS 64
#define HISTORY 32 /* messages kept per user */
#define QUEUE_CAP 256

/* ---------------------------------------------------------------- the request queue */

/* Requests are plain C data: the front end never touches weft objects while
 * it waits for the network, and neither does a worker while it waits here. */
enum verb { POST, GET, RESET, QUIT };

typedef struct request {
    enum verb verb;
    unsigned user;
    char text[48];
} request;

static request queue[QUEUE_CAP];
static size_t q_head, q_count;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_nonfull = PTHREAD_COND_INITIALIZER;

static void queue_put(request r)
{
    pthread_mutex_lock(&q_lock);
    while (q_count == QUEUE_CAP)
        pthread_cond_wait(&q_nonfull, &q_lock);
    queue[(q_head + q_count++) % QUEUE_CAP] = r;
    pthread_cond_signal(&q_nonempty);
    pthread_mutex_unlock(&q_lock);
}

static request queue_take(void)
{
    pthread_mutex_lock(&q_lock);
    while (q_count == 0)
        pthread_cond_wait(&q_nonempty, &q_lock);
    request r = queue[q_head];
    q_head = (q_head + 1) % QUEUE_CAP;
    q_count--;
    pthread_cond_signal(&q_nonfull);
    pthread_mutex_unlock(&q_lock);
    return r;
}

/* ---------------------------------------------------------------- the shared state */

static weft_object *sessions; /* dict: str user name -> list of str messages */
static weft_object *names[USERS];
static atomic_ulong served, bytes_sent;

static void die(const char *what)
{
    fprintf(stderr, "server_sim: %s failed: %s\n", what, weft_error_message());
    exit(1);
}

static void serve_post(const request *r)
{
    weft_object *history = weft_dict_get(sessions, names[r->user]);
    if (!history) /* every user has a list: a RESET replaces it in one step */
        die("POST (the user's list is missing)");
    weft_object *msg = weft_str_from_cstr(r->text);
    if (!msg || weft_list_append(history, msg) != 0)
        die("POST");
    weft_decref(msg);
    /* Keep the last HISTORY messages. Another worker may trim at the same
     * time; a pop that finds the index gone just fails (WEFT_EINVAL). */
    while (weft_list_len(history) > HISTORY) {
        weft_object *old = weft_list_pop(history, 0);
        if (!old) {
            weft_error_clear();
            break;
        }
        weft_decref(old);
    }
    weft_decref(history);
}

static void serve_get(const request *r)
{
    weft_object *history = weft_dict_get(sessions, names[r->user]);
    if (!history)
        die("GET (the user's list is missing)");
    size_t total = 0, pos = 0;
    weft_object *msg;
    while ((msg = weft_list_next(history, &pos)) != NULL) { /* safe while others append */
        total += weft_str_len(msg);
        weft_decref(msg);
    }
    weft_decref(history);
    atomic_fetch_add(&bytes_sent, total);
}

static void serve_reset(const request *r)
{
    weft_object *fresh = weft_list_new(HISTORY);
    if (!fresh || weft_dict_set(sessions, names[r->user], fresh) != 0)
        die("RESET");
    weft_decref(
        fresh); /* the dict keeps it; the old list dies when its last reader is done */
}

/* "Write the response": I/O, so outside the runtime. */
static void respond(void)
{
    weft_blocking_begin();
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
    weft_blocking_end();
}

static void *worker(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        die("weft_thread_attach");
    for (;;) {
        weft_blocking_begin(); /* waiting for the network */
        request r = queue_take();
        weft_blocking_end();
        if (r.verb == QUIT)
            break;
        switch (r.verb) {
        case POST:
            serve_post(&r);
            break;
        case GET:
            serve_get(&r);
            break;
        default:
            serve_reset(&r);
            break;
        }
        respond();
        atomic_fetch_add(&served, 1);
    }
    weft_thread_detach();
    return NULL;
}

/* ---------------------------------------------------------------- the front end */

int main(int argc, char **argv)
{
    unsigned nthreads = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 4;
    unsigned long nrequests = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
    if (nthreads == 0 || nthreads > 256) {
        fprintf(stderr, "usage: server_sim [THREADS (1..256) [REQUESTS]]\n");
        return 2;
    }
    if (weft_init(NULL) != 0)
        die("weft_init");
    weft_heap_stats before;
    weft_heap_get_stats(&before);

    sessions = weft_dict_new();
    if (!sessions)
        die("weft_dict_new");
    for (unsigned u = 0; u < USERS; u++) {
        char name[16];
        snprintf(name, sizeof name, "user-%02u", u);
        names[u] = weft_str_from_cstr(name);
        weft_object *history = weft_list_new(HISTORY);
        if (!names[u] || !history || weft_dict_set(sessions, names[u], history) != 0)
            die("setting up the sessions");
        weft_decref(history);
    }

    pthread_t *threads = calloc(nthreads, sizeof *threads);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_create(&threads[i], NULL, worker, NULL);

    /* The front end touches no object while it serves the network. */
    weft_blocking_begin();
    uint64_t x = 88172645463325252ull;
    for (unsigned long n = 0; n < nrequests; n++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        request r = {.user = (unsigned)(x % USERS)};
        unsigned roll = (unsigned)(x >> 32) % 100;
        r.verb = roll < 60 ? POST : roll < 98 ? GET : RESET;
        snprintf(r.text, sizeof r.text, "message %lu from user-%02u", n, r.user);
        queue_put(r);
    }
    for (unsigned i = 0; i < nthreads; i++)
        queue_put((request){.verb = QUIT});
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    weft_blocking_end();
    free(threads);

    size_t stored = 0;
    for (unsigned u = 0; u < USERS; u++) {
        weft_object *history = weft_dict_get(sessions, names[u]);
        stored += history ? weft_list_len(history) : 0;
        weft_xdecref(history);
    }
    printf("server_sim: %u workers served %lu requests (%lu bytes sent); %zu messages "
           "kept for "
           "%zu users\n",
           nthreads, atomic_load(&served), atomic_load(&bytes_sent), stored,
           weft_dict_len(sessions));

    /* Clean shutdown: drop every reference, then let weft count. */
    weft_clearref(&sessions);
    for (unsigned u = 0; u < USERS; u++)
        weft_clearref(&names[u]);
    long live = weft_shutdown();
    weft_heap_stats after;
    weft_heap_get_stats(&after);
    long blocks = (long)(after.small_blocks_in_use + after.large_blocks_in_use) -
                  (long)(before.small_blocks_in_use + before.large_blocks_in_use);
    printf("server_sim: shutdown: %ld objects alive, %ld heap blocks in use beyond the "
           "start\n",
           live, blocks);
    if (live != 0 || blocks != 0 || atomic_load(&served) != nrequests) {
        fprintf(stderr, "server_sim: FAILED (leaks or lost requests)\n");
        return 1;
    }
    return 0;
}
