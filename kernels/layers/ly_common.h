/* ly_common.h: internal helpers of the layer kernels. */
#ifndef PULPSIM_LY_COMMON_H
#define PULPSIM_LY_COMMON_H
#include "pmsis.h"
#include "matmul.h"
#include "layers.h"

#define LY_INLINE static inline __attribute__((always_inline))

/* Force the rounding of x to float here (no fused multiply-add across it). */
#if defined(MM_HOST)
#define LY_ROUND(x) ((void)0)
#else
#define LY_ROUND(x) __asm__("" : "+f"(x))
#endif


/* C (M x N) = A (M x K) @ B (K x N) on the team, parallel over rows (or
 * columns when M is 1). */
LY_INLINE void ly_matmul(int cores, const float *A, const float *B, float *C, int M, int N, int K)
{
    struct mm_args m = {A, B, C, M, N, K};
    pi_cl_team_fork(cores, M == 1 ? mm_naive_n : mm_4x4, &m);
}

LY_INLINE void ly_transpose_team(int cores, const float *src, float *dst, int rows, int cols)
{
    struct ly_tr_args t = {src, dst, rows, cols};
    pi_cl_team_fork(cores, ly_transpose, &t);
}

#endif
