/* tests/packaging/consumer/consumer.c: an embedder of an installed weft.
 * Allocates a small and a large block, frees them, prints OK. */
#include <weft/weft.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    char *small = weft_malloc(40);
    char *large = weft_malloc(10000);
    if (!small || !large) {
        fprintf(stderr, "consumer: weft_malloc failed: %s\n", weft_error_message());
        return 1;
    }
    memset(small, 1, 40);
    memset(large, 2, 10000);
    weft_free(small);
    weft_free(large);
    printf("OK (weft %d.%d.%d)\n", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
           WEFT_VERSION_PATCH);
    return 0;
}
