/*
 * mm_block.h: the register-blocked R x S block of the C matmul kernels, shared
 * by matmul.c (contiguous operands) and kernels/tiling/tmm.c (strided,
 * transposed operands, accumulation into C).
 */
#ifndef PULPSIM_MM_BLOCK_H
#define PULPSIM_MM_BLOCK_H

#define MM_BLOCK_INLINE static inline __attribute__((always_inline))

/* Full unrolling of the constant-bound loops of the block. */
#if defined(__clang__)
#define MM_BLOCK_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define MM_BLOCK_UNROLL _Pragma("GCC unroll 4")
#else
#define MM_BLOCK_UNROLL
#endif

/* C[0..R-1][0..S-1] (row stride ldc) (+)= A(r, k) B(k, s) over k < K, with
 * A(r, k) = A[r*ars + k*aks] and B(k, s) = B[k*bks + s*bss].  R, S <= 4 and
 * the unit strides are compile-time constants at every call (always
 * inlined), so the 16 accumulators live in registers and the loads use
 * immediate offsets. */
MM_BLOCK_INLINE void mm_block_strided(const float *A, const float *B, float *C, int ldc, int K, int acc_in,
                                      int ars, int aks, int bks, int bss, const int R, const int S)
{
    float acc[4][4];
MM_BLOCK_UNROLL
    for (int r = 0; r < R; r++)
MM_BLOCK_UNROLL
        for (int s = 0; s < S; s++)
            acc[r][s] = acc_in ? C[r * ldc + s] : 0.0f;
    for (int k = 0; k < K; k++) {
        float av[4], bv[4];
MM_BLOCK_UNROLL
        for (int r = 0; r < R; r++)
            av[r] = A[r * ars + k * aks];
MM_BLOCK_UNROLL
        for (int s = 0; s < S; s++)
            bv[s] = B[k * bks + s * bss];
MM_BLOCK_UNROLL
        for (int r = 0; r < R; r++)
MM_BLOCK_UNROLL
            for (int s = 0; s < S; s++)
                acc[r][s] += av[r] * bv[s];
    }
MM_BLOCK_UNROLL
    for (int r = 0; r < R; r++)
MM_BLOCK_UNROLL
        for (int s = 0; s < S; s++)
            C[r * ldc + s] = acc[r][s];
}

#endif
