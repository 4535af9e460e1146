/*
 * Host-side PMSIS shim for compiling kernels/matmul/matmul.c natively (cffi
 * golden reference in tests/test_matmul.py): a team of one core.
 * Not used by guest builds (this directory is only on the host include path).
 */
#ifndef PMSIS_H
#define PMSIS_H
#define PI_L1
#define PI_L2
static inline int pi_core_id(void) { return 0; }
static inline int pi_cl_team_nb_cores(void) { return 1; }
static inline void pi_cl_team_barrier(void) {}
static inline void pi_cl_team_fork(int n, void (*entry)(void *), void *arg) { (void)n; entry(arg); }
#endif
