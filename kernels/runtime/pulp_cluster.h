/*
 * pulp_cluster.h: register map of the simulated PULP cluster (cluster 0) as
 * the guest runtime uses it: event unit, DMA (MCHAN v7) and the cluster
 * control unit.  Plain macros, usable from C and from assembly (crt0.S).
 *
 * All registers are 32 bits wide and accessed with plain lw/sw.  There is no
 * Xpulp p.elw: a plain lw of a "wait" register makes the core sleep (clock
 * gated) until the condition holds.  See docs/runtime.md for how the runtime
 * (pmsis.c, dma.c, crt0.S) uses each register.
 */
#ifndef PULP_CLUSTER_H
#define PULP_CLUSTER_H

/* ---- Event unit, per-core demux copy: each core sees its own registers --- */
#define PULPSIM_EU_BASE                0x10204000
#define PULPSIM_EU_MASK                0x00  /* rw: lines that can wake this core */
#define PULPSIM_EU_MASK_AND            0x04  /* w: mask &= ~v                     */
#define PULPSIM_EU_MASK_OR             0x08  /* w: mask |= v                      */
#define PULPSIM_EU_BUFFER              0x1C  /* r                                 */
#define PULPSIM_EU_BUFFER_MASKED       0x20  /* r                                 */
#define PULPSIM_EU_BUFFER_CLEAR        0x28  /* w: buffer &= ~v                   */
#define PULPSIM_EU_EVENT_WAIT          0x38  /* r: sleep until buffer & mask      */
#define PULPSIM_EU_EVENT_WAIT_CLEAR    0x3C  /* r: same, then clear those bits    */
#define PULPSIM_EU_DISPATCH_FIFO       0x80  /* w: push for the team; r: pop (sleeps) */
#define PULPSIM_EU_DISPATCH_TEAM       0x84  /* w: core mask of later pushes       */
#define PULPSIM_EU_MUTEX(m)            (0xC0 + 4 * (m))   /* r: lock, w: unlock (m < 8) */
#define PULPSIM_EU_SW_EVENT(i)         (0x100 + 4 * (i))  /* w(core mask): raise line i */
#define PULPSIM_EU_BARRIER(b)          (0x200 + 0x20 * (b)) /* barrier b (b < 8)        */
/* offsets inside one barrier */
#define PULPSIM_EU_BAR_TRIGGER_MASK    0x00  /* rw                                 */
#define PULPSIM_EU_BAR_STATUS          0x04  /* r                                  */
#define PULPSIM_EU_BAR_TARGET_MASK     0x0C  /* rw                                 */
#define PULPSIM_EU_BAR_TRIGGER         0x10  /* w: status |= v                     */
#define PULPSIM_EU_BAR_TRIGGER_SELF    0x14  /* r: status |= own bit               */
#define PULPSIM_EU_BAR_TRIGGER_WAIT    0x18  /* r: arrive, sleep until line 16     */
#define PULPSIM_EU_BAR_TRIGGER_WAIT_CLEAR 0x1C /* r: same, then clear line 16       */

/* Event lines */
#define PULPSIM_EVT_SW(i)              (i)   /* 0..7 */
#define PULPSIM_EVT_DMA                8
#define PULPSIM_EVT_BARRIER            16
#define PULPSIM_EVT_MUTEX              17
#define PULPSIM_EVT_DISPATCH           18

/* ---- DMA (MCHAN v7) ------------------------------------------------------ */
#define PULPSIM_DMA_BASE               0x10204400 /* per-core demux port (used) */
#define PULPSIM_DMA_SHARED_BASE        0x10201800 /* shared port, same layout   */
#define PULPSIM_DMA_CMD                0x0  /* r: allocate a TID; w: command words */
#define PULPSIM_DMA_STATUS             0x4  /* r: [15:0] busy, [31:16] allocated; w: free */
/* command word */
#define PULPSIM_DMA_LEN_MASK           0x1FFFF     /* bits 16:0: bytes          */
#define PULPSIM_DMA_TYPE_EXT2LOC       (1 << 17)  /* 1: L2 -> TCDM             */
#define PULPSIM_DMA_INC                (1 << 18)
#define PULPSIM_DMA_2D_EXT             (1 << 19)
#define PULPSIM_DMA_ELE                (1 << 20)  /* event line 8 on completion */
#define PULPSIM_DMA_ILE                (1 << 21)
#define PULPSIM_DMA_BLE                (1 << 22)  /* broadcast the event       */

/* ---- Cluster control unit (through the peripheral interconnect) ---------- */
#define PULPSIM_CCU_BASE               0x10200000
#define PULPSIM_CCU_EOC                0x00  /* w: accepted, ignored            */
#define PULPSIM_CCU_NB_CORES           0xF0  /* r: number of cores (pulpsim)    */

/* ---- Resources reserved by the runtime ---------------------------------- */
#define PMSIS_TEAM_BARRIER             0     /* team barrier and fork join      */
#define PMSIS_CRITICAL_MUTEX           0     /* pi_cl_team_critical_enter/exit  */
#define PMSIS_ALLOC_MUTEX              1     /* the L1/L2 allocators in a fork  */
/* Lines a worker core sleeps on: dispatch, barrier, mutex, DMA. */
#define PMSIS_WORKER_EVT_MASK                                                     \
    ((1 << PULPSIM_EVT_DISPATCH) | (1 << PULPSIM_EVT_BARRIER) |                   \
     (1 << PULPSIM_EVT_MUTEX) | (1 << PULPSIM_EVT_DMA))
/* Lines core 0 (the master) adds to its mask before its first wait. */
#define PMSIS_MASTER_EVT_MASK                                                     \
    ((1 << PULPSIM_EVT_BARRIER) | (1 << PULPSIM_EVT_MUTEX) | (1 << PULPSIM_EVT_DMA))

/* Exit code of a runtime error (bad fork size, heap corruption). */
#define PMSIS_FATAL_EXIT_CODE          0x7E

#endif /* PULP_CLUSTER_H */
