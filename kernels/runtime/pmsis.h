/*
 * pmsis.h: a PMSIS-compatible (PULP SDK) runtime for the simulated cluster.
 *
 * SDK-style code (`#include "pmsis.h"`) and PULP-TrainLib kernels build
 * unchanged against it: team fork/join, barrier and critical sections on the
 * event unit, the cluster DMA, performance counters, L1/L2 allocators, and
 * the fabric-controller calls (pi_cluster_open, pi_cluster_send_task_to_cl,
 * ...) as thin wrappers: there is no fabric controller, core 0 of the cluster
 * runs main() and is the cluster master.
 *
 * pulpsim.toolchain.build() links pmsis.c, dma.c and alloc.c when a source
 * includes this header, and puts the stacks in the TCDM (PMSIS_LAYOUT).
 * docs/runtime.md describes the runtime, the memory layout and the exact
 * register sequences; pulp_cluster.h has the register map.
 *
 * Prototypes, types, enum values and struct fields follow pulp-sdk
 * (rtos/pmsis/pmsis_api: cluster/dma/cl_dma.h, cluster/cluster_team/cl_team.h,
 * cluster/cluster_sync/fc_to_cl_delegate.h, chips/default.h, pmsis_types.h;
 * pulpos: implem/perf.h, implem/dma.h, data/data.h).
 */
#ifndef PMSIS_H
#define PMSIS_H

#include "pulpsim.h"
#include "pulp_cluster.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* SIMD vector types of the SDK (hal/riscv builtins: 2 x 16 and 4 x 8 bits)  */
/* ------------------------------------------------------------------------ */

typedef signed short v2s __attribute__((vector_size(4)));
typedef unsigned short v2u __attribute__((vector_size(4)));
typedef signed char v4s __attribute__((vector_size(4)));
typedef unsigned char v4u __attribute__((vector_size(4)));

/* ------------------------------------------------------------------------ */
/* Placement attributes                                                     */
/* ------------------------------------------------------------------------ */

/* Cluster L1 (TCDM at 0x1000_0000): section .l1, a loadable segment of its
 * own, so initialised data works.  Not zeroed by crt0: uninitialised PI_L1
 * variables are zero because the ELF carries their zeros. */
#define PI_L1          __attribute__((section(".l1"), aligned(4)))
#define PI_CL_L1       PI_L1
#define PI_CL_L1_TINY  PI_L1
/* L2: the default data placement (code and data live in L2). */
#define PI_L2
#define PI_FC_L1       PI_L2
#define PI_FC_L1_TINY  PI_L2
#define PI_FC_TINY     PI_L2
#define PI_LOCAL_CODE

/* ------------------------------------------------------------------------ */
/* Core and cluster identity, team fork/join                                */
/* ------------------------------------------------------------------------ */

/* Core id within the cluster (mhartid[3:0]). */
static inline int pi_core_id(void) { return (int)(read_csr_mhartid() & 0xFu); }

/* Cluster id (mhartid[10:5]). */
static inline int pi_cluster_id(void) { return (int)((read_csr_mhartid() >> 5) & 0x3Fu); }

/* Always 0: every core of the simulated system is a cluster core. */
static inline int pi_is_fc(void) { return 0; }

/* Number of cores of the cluster: the read-only cluster-control register
 * +0xF0 (a pulpsim register). */
static inline int pi_cl_cluster_nb_cores(void)
{
    return (int)*(volatile uint32_t *)(uintptr_t)(PULPSIM_CCU_BASE + PULPSIM_CCU_NB_CORES);
}

/* Number of cores of the current team (1 outside a fork). */
int pi_cl_team_nb_cores(void);

/* Runs entry(arg) on cores 0..nb_cores-1 (0: all cores of the cluster, see
 * pi_cl_cluster_nb_cores) and returns when all of them have returned.  The
 * caller (core 0) is core 0 of the team.  With nb_cores == 1 entry runs
 * directly, without touching the event unit.  Forks do not nest: a fork
 * inside a fork body stops the program ("pmsis: fatal: ...", exit 0x7E). */
void pi_cl_team_fork(int nb_cores, void (*entry)(void *), void *arg);

/* HW barrier over the current team (no-op in a team of one). */
void pi_cl_team_barrier(void);

/* HW mutex 0 (no-op in a team of one).  No runtime call (malloc, DMA
 * wait, ...) inside a critical section. */
void pi_cl_team_critical_enter(void);
void pi_cl_team_critical_exit(void);

/* ------------------------------------------------------------------------ */
/* Cluster DMA (MCHAN v7, through the core's private demux port)            */
/* ------------------------------------------------------------------------ */

typedef enum {
    PI_CL_DMA_DIR_LOC2EXT = 0, /* cluster memory (TCDM) -> external (L2) */
    PI_CL_DMA_DIR_EXT2LOC = 1  /* external (L2) -> cluster memory (TCDM) */
} pi_cl_dma_dir_e;

/* A transfer: id is its hardware transfer id (TID) until the wait frees it. */
typedef struct pi_cl_dma_cmd_s {
    uint32_t id;
    struct pi_cl_dma_cmd_s *next;
} pi_cl_dma_cmd_t;

/* A copy description (fields as pmsis_api's CL_DMA_COMMON; size is 32-bit
 * here, transfers are limited to 128 KiB - 1 bytes by the 17-bit LEN). */
typedef struct pi_cl_dma_copy_s {
    uint32_t id;
    uint32_t ext;    /* L2 address                                        */
    uint32_t loc;    /* TCDM address                                      */
    uint32_t size;   /* total bytes                                       */
    pi_cl_dma_dir_e dir;
    uint8_t merge;   /* 1: complete together with the previous copy of   */
                     /*    this struct (the runtime waits for it first)  */
    /* 2-D transfers */
    uint32_t stride; /* L2 bytes from the start of a row to the next's   */
    uint32_t length; /* bytes per row                                    */
} pi_cl_dma_copy_t;

typedef pi_cl_dma_copy_t pi_cl_dma_copy_2d_t;

/* 1-D transfer of size bytes between ext (L2) and loc (TCDM). */
void pi_cl_dma_cmd(uint32_t ext, uint32_t loc, uint32_t size, pi_cl_dma_dir_e dir,
                   pi_cl_dma_cmd_t *cmd);
/* 2-D transfer: size bytes in total, rows of length bytes, consecutive rows
 * stride bytes apart in L2 and contiguous in the TCDM. */
void pi_cl_dma_cmd_2d(uint32_t ext, uint32_t loc, uint32_t size, uint32_t stride,
                      uint32_t length, pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *cmd);
/* Sleeps until the transfer is done, then frees its TID. */
void pi_cl_dma_cmd_wait(pi_cl_dma_cmd_t *cmd);
void pi_cl_dma_memcpy(pi_cl_dma_copy_t *copy);
void pi_cl_dma_memcpy_2d(pi_cl_dma_copy_2d_t *copy);
/* copy: a pi_cl_dma_copy_t, pi_cl_dma_copy_2d_t or pi_cl_dma_cmd_t. */
void pi_cl_dma_wait(void *copy);
/* Waits until no transfer of the cluster is busy (as the SDK; TIDs are
 * still freed only by the waits). */
void pi_cl_dma_flush(void);

/* ------------------------------------------------------------------------ */
/* Performance counters (per core: PCER 0xCC0, PCMR 0xCC1, PCCR 0x780+i)    */
/* ------------------------------------------------------------------------ */

/* Values of pulp-sdk chips/default.h: each is the PCCR index of the event
 * (RI5CY riscv_cs_registers.sv), except PI_PERF_CYCLES, which the SDK counts
 * with the cluster timer because the core's CYCLES event (PCCR[0]) stops while
 * its clock is gated (asleep in the event unit or in wfi).  Here it is the
 * simulator's own per-core event PCCR[30] (CSR 0x79E): every cycle, asleep
 * included, started, stopped and reset with the other counters. */
#define PI_PERF_PCCR_ALL_CYCLES 30
typedef enum {
    PI_PERF_CYCLES = 17,       /* total cycles, asleep included (PCCR[30]) */
    PI_PERF_ACTIVE_CYCLES = 0, /* cycles the core was not asleep         */
    PI_PERF_INSTR = 1,         /* instructions                           */
    PI_PERF_LD_STALL = 2,      /* load-use hazards                       */
    PI_PERF_JR_STALL = 3,      /* jump-register hazards                  */
    PI_PERF_IMISS = 4,         /* cycles waiting for instruction fetch   */
    PI_PERF_LD = 5,            /* loads                                  */
    PI_PERF_ST = 6,            /* stores                                 */
    PI_PERF_JUMP = 7,          /* unconditional jumps                    */
    PI_PERF_BRANCH = 8,        /* conditional branches                   */
    PI_PERF_BTAKEN = 9,        /* taken branches                         */
    PI_PERF_RVC = 10,          /* compressed instructions                */
    PI_PERF_LD_EXT = 12,       /* loads outside the TCDM                 */
    PI_PERF_ST_EXT = 13,       /* stores outside the TCDM                */
    PI_PERF_LD_EXT_CYC = 14,   /* cycles of loads outside the TCDM       */
    PI_PERF_ST_EXT_CYC = 15,   /* cycles of stores outside the TCDM      */
    PI_PERF_TCDM_CONT = 16     /* cycles lost to TCDM bank contention    */
} pi_perf_event_e;

/* events: a mask of (1 << PI_PERF_x).  Writes PCER. */
static inline __attribute__((always_inline)) void pi_perf_conf(unsigned events)
{
    unsigned pcer = events & ~(1u << PI_PERF_CYCLES);
    if (events & (1u << PI_PERF_CYCLES))
        pcer |= 1u << PI_PERF_PCCR_ALL_CYCLES;
    __asm__ volatile("csrw 0xCC0, %0" ::"r"(pcer));
}

/* Sets every counter to 0 (PCCR "all", CSR 0x79F). */
static inline __attribute__((always_inline)) void pi_perf_reset(void) { __asm__ volatile("csrw 0x79F, zero"); }

/* PCMR = ACTIVE | SATURATE, as the SDK: one csrwi, which is itself counted. */
static inline __attribute__((always_inline)) void pi_perf_start(void) { __asm__ volatile("csrwi 0xCC1, 3"); }

/* PCMR = 0: one csrw, not counted. */
static inline __attribute__((always_inline)) void pi_perf_stop(void) { __asm__ volatile("csrw 0xCC1, zero"); }

#define PI_PERF_READ_(n)                                                        \
    ({                                                                          \
        unsigned v_;                                                            \
        __asm__ volatile("csrr %0, " #n : "=r"(v_));                           \
        v_;                                                                     \
    })

/* Value of counter `id` (a pi_perf_event_e); a constant id folds to one csrr. */
static inline __attribute__((always_inline)) unsigned int pi_perf_read(int id)
{
    switch (id) {
    case PI_PERF_CYCLES: return PI_PERF_READ_(0x79E);
    case PI_PERF_ACTIVE_CYCLES: return PI_PERF_READ_(0x780);
    case PI_PERF_INSTR: return PI_PERF_READ_(0x781);
    case PI_PERF_LD_STALL: return PI_PERF_READ_(0x782);
    case PI_PERF_JR_STALL: return PI_PERF_READ_(0x783);
    case PI_PERF_IMISS: return PI_PERF_READ_(0x784);
    case PI_PERF_LD: return PI_PERF_READ_(0x785);
    case PI_PERF_ST: return PI_PERF_READ_(0x786);
    case PI_PERF_JUMP: return PI_PERF_READ_(0x787);
    case PI_PERF_BRANCH: return PI_PERF_READ_(0x788);
    case PI_PERF_BTAKEN: return PI_PERF_READ_(0x789);
    case PI_PERF_RVC: return PI_PERF_READ_(0x78A);
    case PI_PERF_LD_EXT: return PI_PERF_READ_(0x78C);
    case PI_PERF_ST_EXT: return PI_PERF_READ_(0x78D);
    case PI_PERF_LD_EXT_CYC: return PI_PERF_READ_(0x78E);
    case PI_PERF_ST_EXT_CYC: return PI_PERF_READ_(0x78F);
    case PI_PERF_TCDM_CONT: return PI_PERF_READ_(0x790);
    default: return 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Memory allocation (first fit; the caller gives the size back on free)    */
/* ------------------------------------------------------------------------ */

struct pi_device;

/* The device argument of the L1 allocators: pulp-sdk's PMSIS API passes a
 * struct pi_device * (or NULL), pulpos a cluster id (int): both are accepted. */
typedef union {
    struct pi_device *device;
    int cid;
} pi_l1_dev_t __attribute__((__transparent_union__));

/* L1 heap: the TCDM between the .l1 data and the stacks.  8-byte aligned
 * chunks; NULL when there is no room.  In a fork these take HW mutex 1. */
void *pi_l1_malloc(pi_l1_dev_t dev, uint32_t size);
void pi_l1_free(pi_l1_dev_t dev, void *chunk, uint32_t size);
void *pi_cl_l1_malloc(pi_l1_dev_t dev, uint32_t size);
void pi_cl_l1_free(pi_l1_dev_t dev, void *chunk, uint32_t size);

/* L2 heap: the L2 after the program's data. */
void *pi_l2_malloc(int size);
void pi_l2_free(void *chunk, int size);

/* Free bytes of a heap (pulpsim extension, for tests and sizing). */
uint32_t pi_l1_heap_free_bytes(void);
uint32_t pi_l2_heap_free_bytes(void);

/* ------------------------------------------------------------------------ */
/* Devices, cluster configuration and tasks (FC side: thin wrappers)        */
/* ------------------------------------------------------------------------ */

typedef enum {
    PI_DEVICE_UNKWN_TYPE,
    PI_DEVICE_CLUSTER_TYPE,
    PI_DEVICE_HYPERBUS_TYPE,
    PI_DEVICE_SPI_TYPE,
    PI_DEVICE_CPI_TYPE,
    PI_DEVICE_I2C_TYPE,
    PI_DEVICE_GPIO_TYPE,
    PI_DEVICE_PWM_TYPE
} pi_device_e;

typedef void (*pi_callback_func_t)(void *arg);

typedef struct pi_task {
    struct pi_task *next;
    uintptr_t arg[2];
    uint32_t data[8];
} pi_task_t;

typedef struct pi_device {
    struct pi_device_api *api;
    void *config;
    void *data;
} pi_device_t;

typedef enum {
    PI_CLUSTER_FLAGS_FORK_BASED = 0,
    PI_CLUSTER_FLAGS_TASK_BASED = 1
} pi_cluster_flags_e;

struct pi_cluster_conf {
    pi_device_e device_type;
    int id;
    void *heap_start;
    uint32_t heap_size;
    struct pmsis_event_kernel_wrap *event_kernel;
    pi_cluster_flags_e flags;
};

struct pi_cluster_task {
    void (*entry)(void *);
    void *arg;
    void *stacks;
    uint32_t stack_size;
    uint32_t slave_stack_size;
    int nb_cores;
    pi_task_t *completion_callback;
    int stack_allocated;
    struct pi_cluster_task *next;
    int core_mask;
};

void pi_cluster_conf_init(struct pi_cluster_conf *conf);
void pi_open_from_conf(struct pi_device *device, void *conf);
int pi_cluster_open(struct pi_device *device);
int pi_cluster_close(struct pi_device *device);

/* Fills task with entry/arg (other fields 0: defaults) and returns it. */
static inline struct pi_cluster_task *pi_cluster_task(struct pi_cluster_task *task,
                                                      void (*entry)(void *), void *arg)
{
    task->entry = entry;
    task->arg = arg;
    task->stacks = NULL;
    task->stack_size = 0;
    task->slave_stack_size = 0;
    task->nb_cores = 0;
    task->completion_callback = NULL;
    task->stack_allocated = 0;
    task->next = NULL;
    task->core_mask = 0;
    return task;
}

/* Runs task->entry(task->arg) on core 0 (the cluster master) and returns
 * when it returns; the other cores are available to pi_cl_team_fork. */
int pi_cluster_send_task_to_cl(struct pi_device *device, struct pi_cluster_task *task);

static inline int pi_cluster_send_task(struct pi_device *device, struct pi_cluster_task *task)
{
    return pi_cluster_send_task_to_cl(device, task);
}

/* ------------------------------------------------------------------------ */
/* Exit                                                                     */
/* ------------------------------------------------------------------------ */

/* Ends the simulation with exit code err (as exit). */
void pmsis_exit(int err) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* PMSIS_H */
