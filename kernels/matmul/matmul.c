/*
 * matmul.c: FP32 matrix multiply variants for the PULP cluster (matmul.h).
 *
 * The same source builds for the simulated cluster (against the runtime's
 * pmsis.h) and natively for the host (with -DMM_HOST and the one-core shim
 * in host/pmsis.h), which tests/test_matmul.py uses as a golden reference.
 */
#include "pmsis.h"
#include "matmul.h"
#include "mm_block.h"

#define MM_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- naive */

void mm_naive(void *args)
{
    const struct mm_args *a = (const struct mm_args *)args;
    const float *A = a->A, *B = a->B;
    float *C = a->C;
    int N = a->N, K = a->K, lo, hi;
    mm_range(a->M, &lo, &hi);
    for (int i = lo; i < hi; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += A[i * K + k] * B[k * N + j];
            C[i * N + j] = acc;
        }
}

void mm_naive_n(void *args)
{
    const struct mm_args *a = (const struct mm_args *)args;
    const float *A = a->A, *B = a->B;
    float *C = a->C;
    int M = a->M, N = a->N, K = a->K, lo, hi;
    mm_range(N, &lo, &hi);
    for (int i = 0; i < M; i++)
        for (int j = lo; j < hi; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += A[i * K + k] * B[k * N + j];
            C[i * N + j] = acc;
        }
}

/* ------------------------------------------------------------- unroll_k */

void mm_unroll_k(void *args)
{
    const struct mm_args *a = (const struct mm_args *)args;
    const float *A = a->A, *B = a->B;
    float *C = a->C;
    int N = a->N, K = a->K, lo, hi;
    mm_range(a->M, &lo, &hi);
    for (int i = lo; i < hi; i++) {
        const float *ar = A + i * K;
        for (int j = 0; j < N; j++) {
            const float *bc = B + j;
            float acc = 0.0f;
            int k = 0;
            /* One accumulator: the same order as mm_naive. */
            for (; k + 4 <= K; k += 4) {
                acc += ar[k] * bc[k * N];
                acc += ar[k + 1] * bc[(k + 1) * N];
                acc += ar[k + 2] * bc[(k + 2) * N];
                acc += ar[k + 3] * bc[(k + 3) * N];
            }
            for (; k < K; k++)
                acc += ar[k] * bc[k * N];
            C[i * N + j] = acc;
        }
    }
}

/* ------------------------------------------------ register-blocked R x S */

/* C[0..R-1][0..S-1] (row stride N) = A[0..R-1][:] (row stride K) * B[:][0..S-1]:
 * the shared block with contiguous operands and C overwritten. */
MM_INLINE void mm_block(const float *A, const float *B, float *C, int N, int K, const int R, const int S)
{
    mm_block_strided(A, B, C, N, K, 0, K, 1, N, 1, R, S);
}

/* R rows of C: S-column blocks, then the N % S last columns one by one. */
MM_INLINE void mm_rows(const float *A, const float *B, float *C, int N, int K, const int R, const int S)
{
    int j = 0;
    for (; j + S <= N; j += S)
        mm_block(A, B + j, C + j, N, K, R, S);
    for (; j < N; j++)
        mm_block(A, B + j, C + j, N, K, R, 1);
}

/* This core's rows: R-row blocks, then the remaining rows one by one. */
MM_INLINE void mm_blocked(const struct mm_args *a, const int R, const int S)
{
    const float *A = a->A, *B = a->B;
    float *C = a->C;
    int N = a->N, K = a->K, lo, hi, i;
    mm_range(a->M, &lo, &hi);
    for (i = lo; i + R <= hi; i += R)
        mm_rows(A + i * K, B, C + i * N, N, K, R, S);
    for (; i < hi; i++)
        mm_rows(A + i * K, B, C + i * N, N, K, 1, S);
}

void mm_2x1(void *args) { mm_blocked((const struct mm_args *)args, 2, 1); }
void mm_2x2(void *args) { mm_blocked((const struct mm_args *)args, 2, 2); }
void mm_2x4(void *args) { mm_blocked((const struct mm_args *)args, 2, 4); }
void mm_4x2(void *args) { mm_blocked((const struct mm_args *)args, 4, 2); }
void mm_4x4(void *args) { mm_blocked((const struct mm_args *)args, 4, 4); }

/* ------------------------------------------------------ assembly 4 x 4 */

#ifndef MM_HOST
void mm_asm_4x4(void *args)
{
    const struct mm_args *a = (const struct mm_args *)args;
    const float *A = a->A, *B = a->B;
    float *C = a->C;
    int N = a->N, K = a->K, lo, hi, i;
    mm_range(a->M, &lo, &hi);
    for (i = lo; i + 4 <= hi; i += 4) {
        const float *ar = A + i * K;
        float *cr = C + i * N;
        int j = 0;
        for (; j + 4 <= N; j += 4)
            mm_asm_4x4_block(ar, B + j, cr + j, K, N);
        for (; j < N; j++)
            mm_block(ar, B + j, cr + j, N, K, 4, 1);
    }
    for (; i < hi; i++)
        mm_rows(A + i * K, B, C + i * N, N, K, 1, 4);
}
#endif
