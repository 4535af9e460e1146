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

/* One element of a 3x3, padding 1 transposed convolution (input gradient), as
 * a gather in the order of golden.col2im: the sum over taps (i, j increasing)
 * with oh*s+i-1 == h and ow*s+j-1 == w of wt[i*3+j] * g[(i*3+j)*tap + oh*Wo + ow]
 * (wt NULL: weight 1, e.g. a column matrix; tap 0: one g plane for all taps).
 * Stride s is 1 or 2 and sh = s - 1, so "divisible by s" and "/ s" are a
 * mask and a shift: no divide on the way. */
LY_INLINE float ly_col2im_at(const float *wt, const float *g, int tap, int h, int w, int Ho, int Wo, int sh)
{
    float acc = 0.0f;
    for (int i = 0; i < 3; i++) {
        int t = h + 1 - i, oh = t >> sh;
        if (t < 0 || (t & sh) || oh >= Ho)
            continue;
        for (int j = 0; j < 3; j++) {
            int u = w + 1 - j, ow = u >> sh;
            if (u < 0 || (u & sh) || ow >= Wo)
                continue;
            if (wt)
                acc += wt[i * 3 + j] * g[(i * 3 + j) * tap + oh * Wo + ow];
            else
                acc += g[(i * 3 + j) * tap + oh * Wo + ow];
        }
    }
    return acc;
}

#endif
