/*
 * tmm_asm.S: hand-written RV32IMF 4x4 blocks of the tile matmul (tmm.h), one per operand layout.
 *
 *   void tmm_asm_nn(const float *A, const float *B, float *C, int K, int sa, int sb, int ldc, int acc);
 *   void tmm_asm_tn(...same...);   void tmm_asm_nt(...same...);
 *
 *   C[r][s] (row stride ldc bytes) (+)= sum_{k<K} A(r,k) * B(k,s), r, s in 0..3, K >= 1
 *
 * Operand access, by layout (sa, sb in bytes):
 *   nn: A rows contiguous in k, row r at A + r*sa;   B(k, s) at B + k*sb + 4s
 *   tn: A(r, k) at A + k*sa + 4r;                     B as nn
 *   nt: A as nn;                                      B(k, s) at B + s*sb + 4k (rows of B^T)
 * An operand contiguous in k is read through 4 pointers with immediate offsets (k unrolled by
 * 4, 4 pointer increments per 4 k); one contiguous across the block is read through one
 * pointer advanced by its stride every k.  Either way the main loop does 4 k per iteration:
 * 32 flw, 64 fmadd.s, 8 pointer increments, a counter and a branch, and no FP operation reads
 * the result of the flw just before it (no load-use stall).
 *
 * Each C element is one fmadd.s chain in increasing k, starting from C (acc != 0) or +0.0:
 * the same operations as tmm.c's C block with contraction, so the two give identical bits.
 *
 * Registers: accumulators ft0-ft7 (rows 0-1), fa0-fa7 (rows 2-3); A values ft8-ft11, B values
 * fs0-fs3 (callee-saved: spilled).  a0/t0-t2: A pointers, a1/t3-t5: B pointers, t6: counter.
 */
    .text

#include "mm_fmas.h"
#define FMAS MM_FMAS_4X4

/* A contiguous in k: 4 row pointers, k at byte offset OFF. */
#define LA_ROWS(OFF)   flw ft8, OFF(a0); flw ft9, OFF(t0); flw ft10, OFF(t1); flw ft11, OFF(t2)
#define SETUP_A_ROWS   add t0, a0, a4; add t1, t0, a4; add t2, t1, a4
#define ADV_A_ROWS(N)  addi a0, a0, N; addi t0, t0, N; addi t1, t1, N; addi t2, t2, N
/* A contiguous across the block: one pointer, advanced by sa every k. */
#define LA_COL(OFF)    flw ft8, 0(a0); flw ft9, 4(a0); flw ft10, 8(a0); flw ft11, 12(a0); add a0, a0, a4
#define SETUP_A_COL
#define ADV_A_COL(N)
/* B contiguous across the block: one pointer, advanced by sb every k. */
#define LB_COL(OFF)    flw fs0, 0(a1); flw fs1, 4(a1); flw fs2, 8(a1); flw fs3, 12(a1); add a1, a1, a5
#define SETUP_B_COL
#define ADV_B_COL(N)
/* B contiguous in k (B^T rows): 4 pointers, k at byte offset OFF. */
#define LB_ROWS(OFF)   flw fs0, OFF(a1); flw fs1, OFF(t3); flw fs2, OFF(t4); flw fs3, OFF(t5)
#define SETUP_B_ROWS   add t3, a1, a5; add t4, t3, a5; add t5, t4, a5
#define ADV_B_ROWS(N)  addi a1, a1, N; addi t3, t3, N; addi t4, t4, N; addi t5, t5, N

/* Load or store one row of 4 accumulators at t6, then t6 += ldc. */
#define CROW(OP, R0, R1, R2, R3) OP R0, 0(t6); OP R1, 4(t6); OP R2, 8(t6); OP R3, 12(t6); add t6, t6, a6

#define TMM_BLOCK(NAME, LA, LB, SETUP_A, SETUP_B, ADV_A, ADV_B)          \
    .globl  NAME;                                                        \
    .type   NAME, @function;                                             \
    .align  2;                                                           \
NAME:                                                                    \
    addi    sp, sp, -16;                                                 \
    fsw     fs0, 0(sp);                                                  \
    fsw     fs1, 4(sp);                                                  \
    fsw     fs2, 8(sp);                                                  \
    fsw     fs3, 12(sp);                                                 \
    SETUP_A;                                                             \
    SETUP_B;                                                             \
    mv      t6, a2;                                                      \
    beqz    a7, 10f;                                                     \
    CROW(flw, ft0, ft1, ft2, ft3);                                       \
    CROW(flw, ft4, ft5, ft6, ft7);                                       \
    CROW(flw, fa0, fa1, fa2, fa3);                                       \
    CROW(flw, fa4, fa5, fa6, fa7);                                       \
    j       11f;                                                         \
10:                                                                      \
    fmv.w.x ft0, zero; fmv.w.x ft1, zero; fmv.w.x ft2, zero; fmv.w.x ft3, zero; \
    fmv.w.x ft4, zero; fmv.w.x ft5, zero; fmv.w.x ft6, zero; fmv.w.x ft7, zero; \
    fmv.w.x fa0, zero; fmv.w.x fa1, zero; fmv.w.x fa2, zero; fmv.w.x fa3, zero; \
    fmv.w.x fa4, zero; fmv.w.x fa5, zero; fmv.w.x fa6, zero; fmv.w.x fa7, zero; \
11:                                                                      \
    srli    t6, a3, 2;                                                   \
    andi    a3, a3, 3;                                                   \
    beqz    t6, 2f;                                                      \
1:                                                                       \
    LA(0); LB(0); FMAS;                                                  \
    LA(4); LB(4); FMAS;                                                  \
    LA(8); LB(8); FMAS;                                                  \
    LA(12); LB(12); FMAS;                                                \
    ADV_A(16); ADV_B(16);                                                \
    addi    t6, t6, -1;                                                  \
    bnez    t6, 1b;                                                      \
2:                                                                       \
    beqz    a3, 4f;                                                      \
3:                                                                       \
    LA(0); LB(0); FMAS;                                                  \
    ADV_A(4); ADV_B(4);                                                  \
    addi    a3, a3, -1;                                                  \
    bnez    a3, 3b;                                                      \
4:                                                                       \
    mv      t6, a2;                                                      \
    CROW(fsw, ft0, ft1, ft2, ft3);                                       \
    CROW(fsw, ft4, ft5, ft6, ft7);                                       \
    CROW(fsw, fa0, fa1, fa2, fa3);                                       \
    CROW(fsw, fa4, fa5, fa6, fa7);                                       \
    flw     fs0, 0(sp);                                                  \
    flw     fs1, 4(sp);                                                  \
    flw     fs2, 8(sp);                                                  \
    flw     fs3, 12(sp);                                                 \
    addi    sp, sp, 16;                                                  \
    ret;                                                                 \
    .size   NAME, .-NAME

TMM_BLOCK(tmm_asm_nn, LA_ROWS, LB_COL, SETUP_A_ROWS, SETUP_B_COL, ADV_A_ROWS, ADV_B_COL)
TMM_BLOCK(tmm_asm_tn, LA_COL, LB_COL, SETUP_A_COL, SETUP_B_COL, ADV_A_COL, ADV_B_COL)
TMM_BLOCK(tmm_asm_nt, LA_ROWS, LB_ROWS, SETUP_A_ROWS, SETUP_B_ROWS, ADV_A_ROWS, ADV_B_ROWS)
