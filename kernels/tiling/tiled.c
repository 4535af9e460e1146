/*
 * tiled.c: the tiled layer executor of pulpsim (pulpsim/workloads/tiled.py makes its schedules).
 *
 * A layer whose tensors live in L2 runs as a list of steps that the host
 * writes into L2 before the run (struct ts_schedule at symbol ts_sched).  A
 * step copies its input tiles L2 -> L1 (up to TS_MAX_LOADS 1-D or 2-D DMA
 * transfers), computes on the L1 tiles with all cores (one op: the tile
 * matmul of tmm.h or a layer kernel of kernels/layers/), and, when it is the
 * last step of its output tile, copies that tile L1 -> L2 (up to
 * TS_MAX_STORES transfers).  The host places every tile in the L1 arena
 * (the TCDM between the .l1 data and the stacks, __l1_heap_start ..
 * __l1_heap_end) and guarantees:
 *   - double-buffered: the loads of step i target input buffer set i & 1,
 *     which no op of step i-1 and no later load of step i reads;
 *   - the output tile of a step is buffer obuf (0 or 1) of the output area;
 *     consecutive output tiles alternate between the two.
 *
 *   double_buffer = 1: core 0 issues the loads of step i+1 as soon as those
 *       of step i have arrived, before the cores compute step i; the stores
 *       of an output tile run while the next tiles are computed (waited for
 *       only before its buffer is written again).
 *   double_buffer = 0: load, wait, compute, store, wait, step after step.
 *
 * A schedule may chain several layers (pulpsim.tiled.run_sequence): the first
 * step of each carries TS_SYNC, which drains the stores in flight before its
 * loads (a layer reads what the previous ones wrote) and is never prefetched.
 *
 * Core 0 measures with mcycle (which also runs while it sleeps): ts_stats
 * total (the whole schedule), compute (inside the ops' forks), dma_wait
 * (inside DMA waits) and the time of each TS_SYNC step (per-layer cycles).
 */
#include "pmsis.h"
#include "matmul.h"
#include "layers.h"
#include "tmm.h"

#define TS_MAX_LOADS 4
#define TS_MAX_STORES 2

enum {
    TS_OP_NONE = 0,
    TS_OP_MM = 1,         /* arg: A B C M N K layout acc                       */
    TS_OP_DW_FW = 2,      /* arg: in0 in1 in2 in3 out0 out1 tmp0 C H W Ho Wo stride label lr momentum wd K (ly_args) */
    TS_OP_DW_WG = 3,
    TS_OP_DW_IG = 4,
    TS_OP_POOL_FW = 5,
    TS_OP_POOL_BW = 6,
    TS_OP_RELU_FW = 7,    /* C = element count                                 */
    TS_OP_RELU_BW = 8,
    TS_OP_SGD = 9,        /* C = element count; lr, momentum, wd as float bits */
    TS_OP_SOFTMAX_FW = 10, /* C = n, label; tmp0: per-core scratch (one tile: the whole vector) */
    TS_OP_SOFTMAX_BW = 11, /* K: the mini-batch size dz is divided by (1: none) */
    TS_OP_BIAS_FW = 12,   /* C = channels of the tile, H = values per channel   */
    TS_OP_BIAS_WG = 13,
    TS_OP_ACC = 14,       /* C = element count: out0 = in0 + in1               */
};

/* TS_FIRST: first step of its output tile; TS_LAST: last one (its stores follow);
 * TS_SYNC: first step of a layer in a sequence: every store in flight must have
 * reached L2 before its loads start (they may read what earlier layers wrote),
 * so it is not prefetched; core 0 records the time in ts_marks. */
enum { TS_FIRST = 1, TS_LAST = 2, TS_SYNC = 4 };

#define TS_MAX_MARKS 128

struct ts_xfer {
    uint32_t ext, loc, size;
    uint32_t stride, length;     /* 2-D (L2 stride and row bytes) when stride != 0 */
};

struct ts_step {
    uint32_t op, flags, obuf, nload, nstore;
    struct ts_xfer load[TS_MAX_LOADS];
    struct ts_xfer store[TS_MAX_STORES];
    int32_t arg[18];             /* see run_op: pointers, sizes, label, lr momentum wd (float bits), K */
};

struct ts_schedule {
    uint32_t nsteps, double_buffer, cores;
    const struct ts_step *steps;
};

struct ts_stats {
    uint32_t total, compute, dma_wait, steps;
    uint32_t nmarks;
    uint32_t marks[TS_MAX_MARKS];   /* mcycle - start at each TS_SYNC step (the first TS_MAX_MARKS) */
};

/* Written by the host into the loaded image (in .data, so crt0 keeps it). */
__attribute__((section(".data.ts_sched"), used)) struct ts_schedule ts_sched = {0, 1, 1, 0};
PI_L1 struct ts_stats ts_stats;

static void issue(const struct ts_xfer *x, uint32_t n, pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *cmd)
{
    for (uint32_t i = 0; i < n; i++) {
        if (x[i].stride)
            pi_cl_dma_cmd_2d(x[i].ext, x[i].loc, x[i].size, x[i].stride, x[i].length, dir, &cmd[i]);
        else
            pi_cl_dma_cmd(x[i].ext, x[i].loc, x[i].size, dir, &cmd[i]);
    }
}

static void wait_all(pi_cl_dma_cmd_t *cmd, uint32_t n)
{
    unsigned t0 = read_mcycle();
    for (uint32_t i = 0; i < n; i++)
        pi_cl_dma_cmd_wait(&cmd[i]);
    ts_stats.dma_wait += read_mcycle() - t0;
}

static void run_op(const struct ts_step *s, int cores)
{
    const int32_t *g = s->arg;
    unsigned t0 = read_mcycle();
    if (s->op == TS_OP_MM) {
        struct tmm_args m = {(const float *)g[0], (const float *)g[1], (float *)g[2],
                             g[3], g[4], g[5], g[6], g[7]};
        pi_cl_team_fork(cores, tmm_kernel, &m);
    } else {
        struct ly_args a = {0};
        union { int32_t i; float f; } lr = {g[14]}, mom = {g[15]}, wd = {g[16]};
        a.in0 = (const float *)g[0];
        a.in1 = (const float *)g[1];
        a.in2 = (const float *)g[2];
        a.in3 = (const float *)g[3];
        a.out0 = (float *)g[4];
        a.out1 = (float *)g[5];
        a.tmp0 = (float *)g[6];
        a.C = g[7];
        a.H = g[8];
        a.W = g[9];
        a.Ho = g[10];
        a.Wo = g[11];
        a.stride = g[12];
        a.label = g[13];
        a.n = g[7];
        a.K = g[17];
        a.lr = lr.f;
        a.momentum = mom.f;
        a.wd = wd.f;
        a.cores = cores;
        switch (s->op) {
        case TS_OP_DW_FW: ly_depthwise_fw(&a); break;
        case TS_OP_DW_WG: ly_depthwise_wg(&a); break;
        case TS_OP_DW_IG: ly_depthwise_ig(&a); break;
        case TS_OP_POOL_FW: ly_avgpool_fw(&a); break;
        case TS_OP_POOL_BW: ly_avgpool_bw(&a); break;
        case TS_OP_RELU_FW: ly_relu_fw(&a); break;
        case TS_OP_RELU_BW: ly_relu_bw(&a); break;
        case TS_OP_SGD: ly_sgd_step(&a); break;
        case TS_OP_SOFTMAX_FW: ly_softmax_ce_fw(&a); break;
        case TS_OP_SOFTMAX_BW: ly_softmax_ce_bw(&a); break;
        case TS_OP_BIAS_FW: a.K = a.C; a.n = a.H; ly_bias_fw(&a); break;
        case TS_OP_BIAS_WG: a.K = a.C; a.n = a.H; ly_bias_wg(&a); break;
        case TS_OP_ACC: ly_accumulate_step(&a); break;
        default: break;
        }
    }
    ts_stats.compute += read_mcycle() - t0;
    ts_stats.steps++;
}

int main(void)
{
    const struct ts_step *steps = ts_sched.steps;
    uint32_t n = ts_sched.nsteps, dbl = ts_sched.double_buffer;
    int cores = (int)ts_sched.cores;
    pi_cl_dma_cmd_t ld[2][TS_MAX_LOADS], st[2][TS_MAX_STORES];
    uint32_t pending[2] = {0, 0};   /* stores in flight from output buffer 0 / 1 */
    unsigned t0 = read_mcycle();

    ts_stats.compute = ts_stats.dma_wait = ts_stats.steps = ts_stats.nmarks = 0;
    if (dbl && n && !(steps[0].flags & TS_SYNC))
        issue(steps[0].load, steps[0].nload, PI_CL_DMA_DIR_EXT2LOC, ld[0]);
    for (uint32_t i = 0; i < n; i++) {
        const struct ts_step *s = &steps[i];
        uint32_t b = i & 1, o = s->obuf & 1;
        if (s->flags & TS_SYNC) {           /* a new layer: earlier outputs must be in L2 */
            wait_all(st[0], pending[0]);
            wait_all(st[1], pending[1]);
            pending[0] = pending[1] = 0;
            if (ts_stats.nmarks < TS_MAX_MARKS)
                ts_stats.marks[ts_stats.nmarks] = read_mcycle() - t0;
            ts_stats.nmarks++;
            if (dbl)                        /* not prefetched: load it now */
                issue(s->load, s->nload, PI_CL_DMA_DIR_EXT2LOC, ld[b]);
        }
        if (dbl) {
            wait_all(ld[b], s->nload);
            if (i + 1 < n && !(steps[i + 1].flags & TS_SYNC))
                issue(steps[i + 1].load, steps[i + 1].nload, PI_CL_DMA_DIR_EXT2LOC, ld[b ^ 1]);
        } else {
            issue(s->load, s->nload, PI_CL_DMA_DIR_EXT2LOC, ld[0]);
            wait_all(ld[0], s->nload);
        }
        if (s->flags & TS_FIRST) {          /* the output buffer's previous tile must have left */
            wait_all(st[o], pending[o]);
            pending[o] = 0;
        }
        run_op(s, cores);
        if (s->flags & TS_LAST) {
            issue(s->store, s->nstore, PI_CL_DMA_DIR_LOC2EXT, st[o]);
            pending[o] = s->nstore;
            if (!dbl) {
                wait_all(st[o], pending[o]);
                pending[o] = 0;
            }
        }
    }
    wait_all(st[0], pending[0]);
    wait_all(st[1], pending[1]);
    ts_stats.total = read_mcycle() - t0;
    return 0;
}
