/*
 * dma.c: the cluster DMA (MCHAN v7) calls of pmsis.h, through the core's
 * private demux port at 0x1020_4400 (so no mutex is needed).
 *
 * Register sequences (offsets from 0x1020_4400; EU = 0x1020_4000):
 *
 *   issue (pi_cl_dma_cmd / _cmd_2d / _memcpy / _memcpy_2d):
 *     lw  +0x0 CMD                -> TID (0..15), kept in cmd->id
 *     sw  +0x0 CMD = command word   LEN = size, TYPE = dir, INC = 1,
 *                                   2D = 2-D, ELE = 1, ILE = 0, BLE = 0
 *     sw  +0x0 CMD = loc            TCDM address
 *     sw  +0x0 CMD = ext            L2 address
 *     2-D only:
 *     sw  +0x0 CMD = length         row length in bytes ("count")
 *     sw  +0x0 CMD = stride         L2 stride in bytes
 *   wait (pi_cl_dma_cmd_wait / pi_cl_dma_wait), as the PULP SDK:
 *     lw  +0x4 STATUS; while bit TID is set:
 *         sw  EU+0x08 MASK_OR = 1<<8 (once, before the first sleep)
 *         lw  EU+0x3C EVENT_WAIT_CLEAR          sleep until event line 8
 *         lw  +0x4 STATUS
 *     sw  +0x4 STATUS = 1<<TID                  free the TID
 *   flush: lw +0x4 STATUS until bits [15:0] are 0 (polling: with BLE = 0 a
 *     core is not woken by other cores' transfers).
 *
 * A transfer of 0 bytes issues nothing (its id is -1 and its wait returns at
 * once); one of 128 KiB or more does not fit LEN and is a fatal error, as is
 * a CMD read that returns no TID (all 16 allocated).
 */
#include "pmsis_impl.h"

#define PMSIS_DMA_NO_ID 0xFFFFFFFFu

static uint32_t dma_word(uint32_t size, pi_cl_dma_dir_e dir, uint32_t flags)
{
    if (size > PULPSIM_DMA_LEN_MASK)
        __pmsis_fatal("DMA transfer of %u bytes: the limit is %u", size, PULPSIM_DMA_LEN_MASK);
    return size | (dir == PI_CL_DMA_DIR_EXT2LOC ? PULPSIM_DMA_TYPE_EXT2LOC : 0u) | PULPSIM_DMA_INC |
           PULPSIM_DMA_ELE | flags;
}

/* Reads CMD: allocates a transfer id.  All 16 in use (transfers never
 * waited for) is a program error: stop with a message. */
static uint32_t dma_alloc(void)
{
    uint32_t tid = PMSIS_DMA(PULPSIM_DMA_CMD);
    if (tid >= 16)
        __pmsis_fatal("DMA: no free transfer id (CMD read 0x%x): 16 transfers issued without their wait", tid, 0);
    return tid;
}

void pi_cl_dma_cmd(uint32_t ext, uint32_t loc, uint32_t size, pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *cmd)
{
    uint32_t word, tid;
    if (size == 0) {
        cmd->id = PMSIS_DMA_NO_ID;
        return;
    }
    word = dma_word(size, dir, 0);
    /* The data the DMA reads must be written before the transfer starts. */
    PMSIS_COMPILER_BARRIER();
    tid = dma_alloc();
    PMSIS_DMA(PULPSIM_DMA_CMD) = word;
    PMSIS_DMA(PULPSIM_DMA_CMD) = loc;
    PMSIS_DMA(PULPSIM_DMA_CMD) = ext;
    cmd->id = tid;
}

void pi_cl_dma_cmd_2d(uint32_t ext, uint32_t loc, uint32_t size, uint32_t stride, uint32_t length,
                      pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *cmd)
{
    uint32_t word, tid;
    if (size == 0) {
        cmd->id = PMSIS_DMA_NO_ID;
        return;
    }
    word = dma_word(size, dir, PULPSIM_DMA_2D_EXT);
    PMSIS_COMPILER_BARRIER();
    tid = dma_alloc();
    PMSIS_DMA(PULPSIM_DMA_CMD) = word;
    PMSIS_DMA(PULPSIM_DMA_CMD) = loc;
    PMSIS_DMA(PULPSIM_DMA_CMD) = ext;
    PMSIS_DMA(PULPSIM_DMA_CMD) = length;
    PMSIS_DMA(PULPSIM_DMA_CMD) = stride;
    cmd->id = tid;
}

void pi_cl_dma_cmd_wait(pi_cl_dma_cmd_t *cmd)
{
    uint32_t tid = cmd->id;
    if (tid < 16) {
        uint32_t bit = 1u << tid;
        if (PMSIS_DMA(PULPSIM_DMA_STATUS) & bit) {
            /* Core 0 has no DMA line in its mask until here (crt0 gives the
             * workers theirs); a completion that raced ahead of this is in
             * the event buffer already, so the wait returns at once. */
            PMSIS_EU(PULPSIM_EU_MASK_OR) = 1u << PULPSIM_EVT_DMA;
            do {
                (void)PMSIS_EU(PULPSIM_EU_EVENT_WAIT_CLEAR);
            } while (PMSIS_DMA(PULPSIM_DMA_STATUS) & bit);
        }
        PMSIS_DMA(PULPSIM_DMA_STATUS) = bit;
    }
    cmd->id = PMSIS_DMA_NO_ID;
    /* The program may read the transferred data from here on. */
    PMSIS_COMPILER_BARRIER();
}

void pi_cl_dma_wait(void *copy)
{
    pi_cl_dma_cmd_wait((pi_cl_dma_cmd_t *)copy);
}

void pi_cl_dma_memcpy(pi_cl_dma_copy_t *copy)
{
    /* merge: complete together with the previous transfer of this struct.
     * MCHAN would reuse its TID; here the previous one is waited for first
     * (same completion semantics, serialised). */
    if (copy->merge)
        pi_cl_dma_cmd_wait((pi_cl_dma_cmd_t *)copy);
    pi_cl_dma_cmd(copy->ext, copy->loc, copy->size, copy->dir, (pi_cl_dma_cmd_t *)copy);
}

void pi_cl_dma_memcpy_2d(pi_cl_dma_copy_2d_t *copy)
{
    if (copy->merge)
        pi_cl_dma_cmd_wait((pi_cl_dma_cmd_t *)copy);
    pi_cl_dma_cmd_2d(copy->ext, copy->loc, copy->size, copy->stride, copy->length, copy->dir,
                     (pi_cl_dma_cmd_t *)copy);
}

void pi_cl_dma_flush(void)
{
    while (PMSIS_DMA(PULPSIM_DMA_STATUS) & 0xFFFFu)
        ;
    PMSIS_COMPILER_BARRIER();
}
