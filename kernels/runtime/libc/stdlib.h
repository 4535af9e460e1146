/* <stdlib.h> of the pulpsim runtime: exit (runtime.c) and integer helpers.  No heap here:
 * pmsis.h has the L1/L2 allocators (pi_l1_malloc, pi_l2_malloc). */
#ifndef PULPSIM_LIBC_STDLIB_H
#define PULPSIM_LIBC_STDLIB_H
#include "pulpsim.h"

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

static inline int abs(int x) { return x < 0 ? -x : x; }
static inline long labs(long x) { return x < 0 ? -x : x; }

#endif
