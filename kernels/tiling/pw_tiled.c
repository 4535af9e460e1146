/*
 * pw_tiled.c: tiled pointwise layer Y[K][HW] = W[K][C] @ X[C][HW] (float32, row-major)
 * with X and Y in L2 and the tiles in L1 (pulpsim).
 *
 * W is copied once into L1 and stays resident.  The HW columns are cut into
 * tiles of PW_TILE columns (the last one may be narrower); a tile of X
 * (C x w, 2-D DMA with L2 stride HW*4) is copied into an L1 buffer, all cores
 * compute the Y tile (K x w) with the matmul variant PW_MM (through
 * pi_cl_team_fork), and core 0 copies the Y tile back to L2 (2-D DMA).
 *
 *   PW_DOUBLE = 1: two X and two Y buffers.  Core 0 issues the load of tile
 *                  i+1 before the cores compute tile i; the store of tile i
 *                  runs during the compute of tile i+1.
 *   PW_DOUBLE = 0: load, wait, compute, store, wait, tile after tile.
 *
 * Compile-time defines: PW_C, PW_K, PW_HW, PW_TILE, PW_DOUBLE, PW_CORES,
 * PW_MM (e.g. mm_4x4).  Core 0 measures with mcycle (which runs while the
 * core sleeps): pw_total (everything, including the W load), pw_compute
 * (the forks) and pw_dma_wait (inside the DMA waits).
 */
#include "pmsis.h"
#include "matmul.h"

#define PW_NT ((PW_HW + PW_TILE - 1) / PW_TILE)
#define PW_NBUF (PW_DOUBLE ? 2 : 1)

/* in .data (not .bss): the host writes X and W into the loaded image before the run */
__attribute__((section(".data.pw_x"))) float X[PW_C * PW_HW];
__attribute__((section(".data.pw_y"))) float Y[PW_K * PW_HW];
__attribute__((section(".data.pw_w"))) float W_l2[PW_K * PW_C];

PI_L1 float W[PW_K * PW_C];
PI_L1 float xbuf[PW_NBUF][PW_C * PW_TILE];
PI_L1 float ybuf[PW_NBUF][PW_K * PW_TILE];
PI_L1 struct mm_args pw_args;
PI_L1 unsigned pw_total, pw_compute, pw_dma_wait, pw_tiles;

static void dma_wait_timed(pi_cl_dma_cmd_t *cmd)
{
    unsigned t0 = read_mcycle();
    pi_cl_dma_cmd_wait(cmd);
    pw_dma_wait += read_mcycle() - t0;
}

static int tile_width(int i)
{
    int w = PW_HW - i * PW_TILE;
    return w < PW_TILE ? w : PW_TILE;
}

static void load_x(int i, int b, pi_cl_dma_cmd_t *cmd)
{
    int w = tile_width(i);
    pi_cl_dma_cmd_2d((uint32_t)&X[i * PW_TILE], (uint32_t)xbuf[b], (uint32_t)(PW_C * w * 4),
                     (uint32_t)(PW_HW * 4), (uint32_t)(w * 4), PI_CL_DMA_DIR_EXT2LOC, cmd);
}

static void store_y(int i, int b, pi_cl_dma_cmd_t *cmd)
{
    int w = tile_width(i);
    pi_cl_dma_cmd_2d((uint32_t)&Y[i * PW_TILE], (uint32_t)ybuf[b], (uint32_t)(PW_K * w * 4),
                     (uint32_t)(PW_HW * 4), (uint32_t)(w * 4), PI_CL_DMA_DIR_LOC2EXT, cmd);
}

static void compute(int i, int b)
{
    unsigned t0 = read_mcycle();
    pw_args.A = W;
    pw_args.B = xbuf[b];
    pw_args.C = ybuf[b];
    pw_args.M = PW_K;
    pw_args.N = tile_width(i);
    pw_args.K = PW_C;
    pi_cl_team_fork(PW_CORES, PW_MM, &pw_args);
    pw_compute += read_mcycle() - t0;
    pw_tiles++;
}

int main(void)
{
    pi_cl_dma_cmd_t wcmd, in[2], out[2];
    unsigned t0;
    pw_total = pw_compute = pw_dma_wait = pw_tiles = 0;
    t0 = read_mcycle();
    pi_cl_dma_cmd((uint32_t)W_l2, (uint32_t)W, sizeof(W), PI_CL_DMA_DIR_EXT2LOC, &wcmd);
#if PW_DOUBLE
    load_x(0, 0, &in[0]);
    dma_wait_timed(&wcmd);
    for (int i = 0; i < PW_NT; i++) {
        int b = i & 1;
        dma_wait_timed(&in[b]);                 /* X tile i is in L1 */
        if (i + 1 < PW_NT)
            load_x(i + 1, b ^ 1, &in[b ^ 1]);   /* xbuf[b^1] was read by tile i-1, whose fork has joined */
        if (i >= 2)
            dma_wait_timed(&out[b]);            /* ybuf[b] still holds tile i-2 on its way to L2 */
        compute(i, b);
        store_y(i, b, &out[b]);
    }
    for (int i = PW_NT - 2; i < PW_NT; i++)
        if (i >= 0)
            dma_wait_timed(&out[i & 1]);
#else
    dma_wait_timed(&wcmd);
    for (int i = 0; i < PW_NT; i++) {
        load_x(i, 0, &in[0]);
        dma_wait_timed(&in[0]);
        compute(i, 0);
        store_y(i, 0, &out[0]);
        dma_wait_timed(&out[0]);
    }
#endif
    pw_total = read_mcycle() - t0;
    return 0;
}
