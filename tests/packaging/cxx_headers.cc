// tests/packaging/cxx_headers.cc: weft's public headers used from C++: they
// compile as C++11 and their functions link with C linkage.
#include <weft/weft.h>

#include <cstdio>
#include <cstring>

int main()
{
    char *small = static_cast<char *>(weft_malloc(32));
    char *large = static_cast<char *>(weft_calloc(4, WEFT_SMALL_MAX));
    if (!small || !large) {
        std::fprintf(stderr, "cxx_headers: %s: %s\n", weft_error_name(weft_error()),
                     weft_error_message());
        return 1;
    }
    std::memset(small, 1, 32);
    weft_free(small);
    weft_free(large);

    weft_heap_stats stats;
    weft_heap_get_stats(&stats);
    weft_allocator allocator;
    weft_mem_default_allocator(WEFT_DOMAIN_MEM, &allocator);
    std::printf("1 passed, 0 failed\n");
    return allocator.malloc != nullptr ? 0 : 1;
}
