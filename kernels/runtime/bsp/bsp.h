/*
 * bsp/bsp.h: the PULP SDK's board-support header (pmsis_bsp), for programs
 * that include it.  The simulated system has no board devices (flash, RAM
 * chips, cameras, displays), so board initialisation has nothing to do; the
 * file system of <bsp/fs.h> builds and stops the program when it is used.
 */
#ifndef PULPSIM_BSP_BSP_H
#define PULPSIM_BSP_BSP_H

#include "pmsis.h"

#define PI_BSP_PROFILE_DEFAULT 0

/* Board initialisation: nothing to initialise here. */
static inline void bsp_init(void) {}
static inline void pi_bsp_init(void) {}
static inline void pi_bsp_init_profile(int profile) { (void)profile; }

#endif
