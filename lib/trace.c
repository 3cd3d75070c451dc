/* lib/trace.c: allocation tracing (placeholder until the tracing work lands). */
#include "trace.h"

void _weft_trace_on_alloc(void *ptr, size_t size, weft_domain d)
{
}

void _weft_trace_on_free(void *ptr, weft_domain d)
{
}

size_t _weft_trace_format_block(const void *ptr, char *buf, size_t cap)
{
    return 0;
}
