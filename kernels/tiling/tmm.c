/* tmm.c: the tile matrix multiply of the tiled layer executor (tmm.h). */
#include "pmsis.h"
#include "matmul.h"
#include "tmm.h"
#include "mm_block.h"

#define TMM_INLINE static inline __attribute__((always_inline))

#ifndef MM_HOST
/* The hand-written 4x4 blocks (tmm_asm.S): the same operations as tmm_block
 * with contraction, so the same bits.  sa, sb: the layout's strides in bytes. */
void tmm_asm_nn(const float *A, const float *B, float *C, int K, int sa, int sb, int ldc, int acc);
void tmm_asm_tn(const float *A, const float *B, float *C, int K, int sa, int sb, int ldc, int acc);
void tmm_asm_nt(const float *A, const float *B, float *C, int K, int sa, int sb, int ldc, int acc);
#endif

/* A full 4x4 block: the assembly kernel of the layout on the guest, the C one on the host. */
TMM_INLINE void tmm_block4(const float *A, const float *B, float *C, int N, int K, int acc,
                           int ars, int aks, int bks, int bss, const int layout)
{
#ifndef MM_HOST
    if (K < 4) {    /* too short a chain to pay for the call and the register spills */
        mm_block_strided(A, B, C, N, K, acc, ars, aks, bks, bss, 4, 4);
        return;
    }
    if (layout == TMM_TN)
        tmm_asm_tn(A, B, C, K, 4 * aks, 4 * bks, 4 * N, acc);
    else if (layout == TMM_NT)
        tmm_asm_nt(A, B, C, K, 4 * ars, 4 * bss, 4 * N, acc);
    else
        tmm_asm_nn(A, B, C, K, 4 * ars, 4 * bks, 4 * N, acc);
#else
    (void)layout;
    mm_block_strided(A, B, C, N, K, acc, ars, aks, bks, bss, 4, 4);
#endif
}

/* This core's chunk of the 4x4 blocks of C, for one operand layout given by
 * the element strides (ars, aks) of A and (bks, bss) of B. */
TMM_INLINE void tmm_run(const struct tmm_args *a, int ars, int aks, int bks, int bss, const int layout)
{
    int M = a->M, N = a->N, K = a->K, acc = a->acc;
    int nbj = (N + 3) >> 2, lo, hi;
    mm_range(((M + 3) >> 2) * nbj, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        int i = (b / nbj) << 2, j = (b % nbj) << 2;
        const float *A = a->A + i * ars, *B = a->B + j * bss;
        float *C = a->C + i * N + j;
        int R = M - i < 4 ? M - i : 4, S = N - j < 4 ? N - j : 4;
        if (R == 4 && S == 4) {
            tmm_block4(A, B, C, N, K, acc, ars, aks, bks, bss, layout);
            continue;
        }
        /* Edge block: 1x4 rows or 4x1 columns when a side is whole, else element by element. */
        if (S == 4) {
            for (int r = 0; r < R; r++)
                mm_block_strided(A + r * ars, B, C + r * N, N, K, acc, ars, aks, bks, bss, 1, 4);
        } else if (R == 4) {
            for (int s = 0; s < S; s++)
                mm_block_strided(A, B + s * bss, C + s, N, K, acc, ars, aks, bks, bss, 4, 1);
        } else {
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++)
                    mm_block_strided(A + r * ars, B + s * bss, C + r * N + s, N, K, acc, ars, aks, bks, bss, 1, 1);
        }
    }
}

void tmm_kernel(void *args)
{
    const struct tmm_args *a = (const struct tmm_args *)args;
    switch (a->layout) {
    case TMM_TN: tmm_run(a, 1, a->M, a->N, 1, TMM_TN); break;     /* A stored [K][M] */
    case TMM_NT: tmm_run(a, a->K, 1, 1, a->K, TMM_NT); break;     /* B stored [N][K] */
    default:     tmm_run(a, a->K, 1, a->N, 1, TMM_NN); break;     /* NN */
    }
}
