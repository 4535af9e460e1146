/*
 * matmul.h: FP32 matrix multiply kernels for the PULP cluster (pulpsim).
 *
 *   C (M x N) = A (M x K) * B (K x N), float32, row-major, contiguous
 *   (A[i][k] at A[i*K + k], B[k][j] at B[k*N + j], C[i][j] at C[i*N + j]).
 *
 * Every variant has the signature of a pi_cl_team_fork entry and takes a
 * struct mm_args *.  Each core of the team computes its own slice of C
 * (pi_core_id(), pi_cl_team_nb_cores()); there is no barrier inside: the
 * fork's join is the synchronisation.  Any M, N, K >= 1 and any team size
 * (cores without work return at once).  C is overwritten, not accumulated.
 *
 * Accumulation order: every variant computes each C[i][j] as one chain
 * acc = 0; for k = 0..K-1: acc += A[i][k] * B[k][j], in increasing k (the
 * register-blocked variants keep one accumulator per C element), so with
 * -ffp-contract=off all C variants give bit-identical results, and with
 * fmadd.s (contraction, or the asm kernel) each element is a chain of fused
 * multiply-adds in increasing k.
 *
 * docs/kernels.md describes the variants and how to add one.
 */
#ifndef PULPSIM_MATMUL_H
#define PULPSIM_MATMUL_H

#include "pmsis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* This core's share [*lo, *hi) of `total` rows (or columns): contiguous
 * chunks of ceil(total / team size), as PULP-TrainLib.  Empty when the core
 * has nothing to do (total < team size). */
static inline void mm_range(int total, int *lo, int *hi)
{
    int nc = pi_cl_team_nb_cores(), id = pi_core_id();
    int chunk = (total + nc - 1) / nc;
    int l = id * chunk, h = l + chunk;
    if (l > total)
        l = total;
    if (h > total)
        h = total;
    *lo = l;
    *hi = h;
}

struct mm_args {
    const float *A;
    const float *B;
    float *C;
    int M, N, K;
};

/* Parallel over M (rows of C): core c takes rows [c*ceil(M/n), ...). */
void mm_naive(void *args);
/* Parallel over N (columns of C). */
void mm_naive_n(void *args);
/* Parallel over M, K unrolled by 4 (remainder loop for K % 4). */
void mm_unroll_k(void *args);
/* Parallel over M, register blocking of C by R rows x S columns; edges
 * (M or N not divisible) with 1-row / 1-column blocks. */
void mm_2x1(void *args);
void mm_2x2(void *args);
void mm_2x4(void *args);
void mm_4x2(void *args);
void mm_4x4(void *args);

#ifndef MM_HOST
/* Parallel over M, 4x4 blocks of C by the RV32IMF assembly kernel
 * mm_asm_4x4_block (mm_asm.S, K unrolled by 4), edges in C as mm_4x4. */
void mm_asm_4x4(void *args);

/* C[0..3][0..3] (row stride N) = A[0..3][0..K-1] (row stride K) *
 * B[0..K-1][0..3] (row stride N).  K >= 1. */
void mm_asm_4x4_block(const float *A, const float *B, float *C, int K, int N);
#endif

#ifdef __cplusplus
}
#endif

#endif /* PULPSIM_MATMUL_H */
