/*
 * tmm.h: the tile matrix multiply of the tiled layer executor (pulpsim).
 *
 *   C (M x N, row-major)  (+)=  op(A) (M x K)  @  op(B) (K x N)
 *
 * with the operands stored as the DMA brought them into L1:
 *   TMM_NN: A stored [M][K], B stored [K][N]
 *   TMM_TN: A stored [K][M] (A transposed: e.g. W[K][C] for W^T @ dy)
 *   TMM_NT: B stored [N][K] (B transposed: e.g. x[C][HW] for dy @ x^T)
 * so no step needs a transpose in L1.  With acc != 0 each C element
 * continues the chain it holds: acc = C[i][j]; for k: acc += A(i,k)*B(k,j)
 * in increasing k.  Splitting K into chunks therefore gives results
 * bit-identical to one pass over all of K (float32 accumulator, the same
 * order as the mm_4x4 kernel of kernels/matmul/).
 *
 * tmm_kernel is a pi_cl_team_fork entry: the 4x4 blocks of C (edge blocks
 * smaller) are split in contiguous chunks over the team, so small M or N
 * (a linear layer's vector) still use every core.
 */
#ifndef PULPSIM_TMM_H
#define PULPSIM_TMM_H

#ifdef __cplusplus
extern "C" {
#endif

enum { TMM_NN = 0, TMM_TN = 1, TMM_NT = 2 };

struct tmm_args {
    const float *A;
    const float *B;
    float *C;
    int M, N, K;
    int layout;     /* TMM_NN, TMM_TN or TMM_NT */
    int acc;        /* 0: C = op(A) @ op(B); 1: C += op(A) @ op(B) (chain continued) */
};

void tmm_kernel(void *args);

#ifdef __cplusplus
}
#endif

#endif /* PULPSIM_TMM_H */
