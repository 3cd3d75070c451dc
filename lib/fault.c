/* lib/fault.c: allocation failure on demand, so that tests can walk every
 * failure path (WEFT_FAULT_ALLOC=N or weft_fault_alloc_after).
 *
 * `countdown` > 0 means armed: each allocation decrements it, and the one that
 * takes it from 1 to 0 fails. A CAS loop (not a blind decrement) keeps a
 * disarmed counter at 0 when allocations race with weft_fault_alloc_after. */
#include "domain.h"

static WEFT_ATOMIC(long) countdown;
static WEFT_ATOMIC(unsigned long) injected;

long weft_fault_alloc_after(long nth)
{
    long previous = atomic_exchange_explicit(&countdown, nth > 0 ? nth : 0, memory_order_acq_rel);
    _weft_alloc_flags_set(WEFT_AF_FAULT, nth > 0);
    return previous;
}

unsigned long weft_fault_alloc_injected(void)
{
    return weft_load_relaxed(&injected);
}

bool _weft_fault_should_fail(void)
{
    long v = weft_load_relaxed(&countdown);
    while (v > 0) {
        if (weft_cas_weak_acq_rel(&countdown, &v, v - 1)) {
            if (v != 1)
                return false;
            weft_fetch_add_relaxed(&injected, 1);
            _weft_alloc_flags_set(WEFT_AF_FAULT, false);
            return true;
        }
    }
    return false;
}
