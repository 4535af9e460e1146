/*
 * mm_fmas.h: the 16 fused multiply-adds of a 4x4 register block, shared by the
 * hand-written kernels (mm_asm.S, kernels/tiling/tmm_asm.S); assembly only.
 *
 * Accumulators ft0-ft7 (rows 0-1) and fa0-fa7 (rows 2-3) += A values ft8-ft11
 * (rows) x B values fs0-fs3 (columns).
 */
#ifndef PULPSIM_MM_FMAS_H
#define PULPSIM_MM_FMAS_H

#define MM_FMAS_4X4                    \
    fmadd.s ft0, ft8,  fs0, ft0;       \
    fmadd.s ft1, ft8,  fs1, ft1;       \
    fmadd.s ft2, ft8,  fs2, ft2;       \
    fmadd.s ft3, ft8,  fs3, ft3;       \
    fmadd.s ft4, ft9,  fs0, ft4;       \
    fmadd.s ft5, ft9,  fs1, ft5;       \
    fmadd.s ft6, ft9,  fs2, ft6;       \
    fmadd.s ft7, ft9,  fs3, ft7;       \
    fmadd.s fa0, ft10, fs0, fa0;       \
    fmadd.s fa1, ft10, fs1, fa1;       \
    fmadd.s fa2, ft10, fs2, fa2;       \
    fmadd.s fa3, ft10, fs3, fa3;       \
    fmadd.s fa4, ft11, fs0, fa4;       \
    fmadd.s fa5, ft11, fs1, fa5;       \
    fmadd.s fa6, ft11, fs2, fa6;       \
    fmadd.s fa7, ft11, fs3, fa7

#endif
