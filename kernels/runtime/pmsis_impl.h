/*
 * pmsis_impl.h: internals shared by the files of the PMSIS runtime
 * (pmsis.c, dma.c, alloc.c).  Not for programs: include pmsis.h.
 */
#ifndef PMSIS_IMPL_H
#define PMSIS_IMPL_H

#include "pmsis.h"

/* A 32-bit register of the event unit (per-core demux copy) / DMA port. */
#define PMSIS_EU(off)  (*(volatile uint32_t *)(uintptr_t)(PULPSIM_EU_BASE + (off)))
#define PMSIS_DMA(off) (*(volatile uint32_t *)(uintptr_t)(PULPSIM_DMA_BASE + (off)))
/* A register of the team barrier. */
#define PMSIS_TEAM_BAR(reg) PMSIS_EU(PULPSIM_EU_BARRIER(PMSIS_TEAM_BARRIER) + (reg))

/* Keeps the compiler from moving memory accesses across a synchronisation. */
#define PMSIS_COMPILER_BARRIER() __asm__ volatile("" ::: "memory")

/* Number of cores of the current team: 1 outside a fork.  Written by core 0
 * (pi_cl_team_fork) before it dispatches, read by every core; in the TCDM. */
extern volatile int __pmsis_team_nb_cores;

/* Prints "pmsis: <what>" and ends the run with PMSIS_FATAL_EXIT_CODE. */
void __pmsis_fatal(const char *what, unsigned a, unsigned b) __attribute__((noreturn));

#endif /* PMSIS_IMPL_H */
