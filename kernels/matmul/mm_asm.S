/*
 * mm_asm.S: hand-written RV32IMF inner kernel of the asm_4x4 matmul variant.
 *
 * void mm_asm_4x4_block(const float *A, const float *B, float *C, int K, int N);
 *
 *   C[r][s] (row stride N) = sum_k A[r][k] (row stride K) * B[k][s] (row stride N),
 *   r, s in 0..3, K >= 1.  Each C element is one chain of fmadd.s in
 *   increasing k starting from +0.0 (the order of mm_naive with contraction).
 *
 * Registers: 16 accumulators (ft0-ft7 rows 0-1, fa0-fa7 rows 2-3), A values
 * ft8-ft11, B values fs0-fs3 (callee-saved: spilled to the stack).  A rows
 * are 4 pointers a0, t0, t1, t2 read with immediate offsets; B is one
 * pointer a1 advanced by N*4 per k.  The main loop does 4 k per iteration:
 * 32 flw, 64 fmadd.s, 4 + 4 pointer increments and one branch (105
 * instructions for 64 MACs), scheduled so that no FP operation reads the
 * result of the flw right before it (no load-use stall).  Plain RV32IMF: no
 * post-increment loads, no hardware loops.
 */
#include "mm_fmas.h"

    .text
    .globl  mm_asm_4x4_block
    .type   mm_asm_4x4_block, @function
    .align  2

/* One k step: A column at byte offset OFF of the row pointers, B row at a1. */
#define KSTEP(OFF)                     \
    flw     ft8,  OFF(a0);             \
    flw     ft9,  OFF(t0);             \
    flw     ft10, OFF(t1);             \
    flw     ft11, OFF(t2);             \
    flw     fs0,  0(a1);               \
    flw     fs1,  4(a1);               \
    flw     fs2,  8(a1);               \
    flw     fs3,  12(a1);              \
    add     a1, a1, a5;                \
    MM_FMAS_4X4

/* Store one row of 4 accumulators at a2, then a2 += N*4. */
#define STROW(R0, R1, R2, R3)          \
    fsw     R0, 0(a2);                 \
    fsw     R1, 4(a2);                 \
    fsw     R2, 8(a2);                 \
    fsw     R3, 12(a2);                \
    add     a2, a2, a5

mm_asm_4x4_block:
    addi    sp, sp, -16
    fsw     fs0, 0(sp)
    fsw     fs1, 4(sp)
    fsw     fs2, 8(sp)
    fsw     fs3, 12(sp)
    slli    t3, a3, 2               /* t3 = K*4: A row stride in bytes */
    slli    a5, a4, 2               /* a5 = N*4: B and C row stride    */
    add     t0, a0, t3              /* A row pointers                  */
    add     t1, t0, t3
    add     t2, t1, t3
    add     a7, a0, t3              /* end of A row 0                  */
    andi    t4, a3, -4
    slli    t4, t4, 2
    add     a6, a0, t4              /* end of the unrolled part        */
    fmv.w.x ft0, zero
    fmv.w.x ft1, zero
    fmv.w.x ft2, zero
    fmv.w.x ft3, zero
    fmv.w.x ft4, zero
    fmv.w.x ft5, zero
    fmv.w.x ft6, zero
    fmv.w.x ft7, zero
    fmv.w.x fa0, zero
    fmv.w.x fa1, zero
    fmv.w.x fa2, zero
    fmv.w.x fa3, zero
    fmv.w.x fa4, zero
    fmv.w.x fa5, zero
    fmv.w.x fa6, zero
    fmv.w.x fa7, zero
    beq     a0, a6, 2f              /* K < 4: remainder only           */
1:
    KSTEP(0)
    KSTEP(4)
    KSTEP(8)
    KSTEP(12)
    addi    a0, a0, 16
    addi    t0, t0, 16
    addi    t1, t1, 16
    addi    t2, t2, 16
    bne     a0, a6, 1b
2:
    beq     a0, a7, 4f              /* K % 4 == 0                      */
3:
    KSTEP(0)
    addi    a0, a0, 4
    addi    t0, t0, 4
    addi    t1, t1, 4
    addi    t2, t2, 4
    bne     a0, a7, 3b
4:
    STROW(ft0, ft1, ft2, ft3)
    STROW(ft4, ft5, ft6, ft7)
    STROW(fa0, fa1, fa2, fa3)
    STROW(fa4, fa5, fa6, fa7)
    flw     fs0, 0(sp)
    flw     fs1, 4(sp)
    flw     fs2, 8(sp)
    flw     fs3, 12(sp)
    addi    sp, sp, 16
    ret
    .size   mm_asm_4x4_block, .-mm_asm_4x4_block
