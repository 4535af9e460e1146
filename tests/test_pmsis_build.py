"""The PMSIS runtime of the simulated cluster (kernels/runtime/pmsis.h, docs/runtime.md).

(a) an SDK-style program (pmsis.h, FC-side main sending a cluster task that uses the whole API: fork over all
    cores, barrier, critical section, 1-D/2-D DMA in both directions, perf counters, L1/L2 malloc, PI_L1 data,
    printf) builds unchanged with clang (zig) and gcc, with the TCDM layout;
(b) the single-core paths run on platform "single": they never touch the event unit or the DMA (fork over one
    core, barrier/critical section in a team of one, cluster task, allocators, perf counters, printf);
(c) the same SDK-style program runs end to end on the multi-core presets (event unit and DMA in the engine).
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

import pulpsim
from pulpsim import toolchain
from pulpsim.sim.elf import load_elf
from pulpsim.errors import ConfigError, ElfError, ToolchainError
from pulpsim.toolchain import L2_BASE, L2_SIZE, PMSIS_LAYOUT, TCDM_BASE, TCDM_SIZE, Layout

HAVE_GCC = shutil.which("riscv64-unknown-elf-gcc") is not None
COMPILERS = ["clang", pytest.param("gcc", marks=pytest.mark.skipif(not HAVE_GCC,
                                                                     reason="riscv64-unknown-elf-gcc not installed"))]
WERROR = ["-Wall", "-Wextra", "-Werror"]
FATAL = 0x7E  # PMSIS_FATAL_EXIT_CODE of pulp_cluster.h

def needs_cluster(f):  # the engine models the event unit, DMA and control unit: plain tests now
    return f


needs_ccu = needs_cluster

SDK_PROGRAM = r"""/* A PULP-SDK-style cluster program: the FC-side main opens the cluster and
 * sends it a task; the task moves data with the cluster DMA (1-D and 2-D,
 * both directions), forks over every core (barrier, critical section,
 * per-core DMA and L1 allocations inside the fork) and measures itself with
 * the performance counters.  Prints "PASS" and exits 0 when every check
 * holds; otherwise prints what failed and exits with the number of failures. */
#include "pmsis.h"

#define N 256          /* words of the 1-D transfers                     */
#define ROWS 8         /* 2-D: ROWS rows of COLS words, STRIDE words apart */
#define COLS 12
#define STRIDE 20
#define CHUNK 16       /* words per core in the per-core DMA fork        */
#define MAX_CORES 16

PI_L2 int src[N];
PI_L2 int back[N];
PI_L2 int matrix[ROWS * STRIDE];
PI_FC_L1 int matrix_out[ROWS * STRIDE];
PI_L2 int chunks_out[MAX_CORES * CHUNK];

PI_L1 int buf[N];
PI_CL_L1 int tile[ROWS * COLS];
PI_L1 int partial[MAX_CORES];
PI_L1 int seen_total[MAX_CORES];
PI_L1 int team_seen[MAX_CORES];
PI_L1 volatile int crit_sum;
PI_L1 volatile int crit_count;
PI_L1 int magic[2] = {0x1234, -7}; /* initialised TCDM data */

static int failures;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            failures++;                                                                           \
            printf("FAIL %s:%d: ", __func__, __LINE__);                                           \
            printf(__VA_ARGS__);                                                                  \
            printf("\n");                                                                         \
        }                                                                                         \
    } while (0)

/* Parallel reduction: strided partial sums, a barrier, core 0 combines, a
 * second barrier, everybody reads the result; plus a critical section. */
static void reduce(void *arg)
{
    int *total = (int *)arg;
    int id = pi_core_id();
    int nc = pi_cl_team_nb_cores();
    int s = 0;
    for (int i = id; i < N; i += nc)
        s += buf[i];
    partial[id] = s;
    team_seen[id] = nc;
    pi_cl_team_barrier();
    if (id == 0) {
        int t = 0;
        for (int c = 0; c < nc; c++)
            t += partial[c];
        *total = t;
    }
    pi_cl_team_barrier();
    seen_total[id] = *total;
    pi_cl_team_critical_enter();
    crit_sum = crit_sum + s; /* read-modify-write: needs the mutex */
    crit_count = crit_count + 1;
    pi_cl_team_critical_exit();
}

/* Every core moves its own chunk L2 -> L1 (a buffer it allocates) -> L2,
 * through its private DMA port. */
static void per_core_dma(void *arg)
{
    (void)arg;
    int id = pi_core_id();
    pi_cl_dma_cmd_t cmd;
    int *mine = (int *)pi_l1_malloc(NULL, CHUNK * sizeof(int));
    if (!mine) {
        team_seen[id] = -1;
        return;
    }
    pi_cl_dma_cmd((uint32_t)(uintptr_t)&src[id * CHUNK], (uint32_t)(uintptr_t)mine, CHUNK * sizeof(int),
                  PI_CL_DMA_DIR_EXT2LOC, &cmd);
    pi_cl_dma_cmd_wait(&cmd);
    for (int i = 0; i < CHUNK; i++)
        mine[i] = mine[i] * 3 + id;
    pi_cl_dma_cmd((uint32_t)(uintptr_t)&chunks_out[id * CHUNK], (uint32_t)(uintptr_t)mine, CHUNK * sizeof(int),
                  PI_CL_DMA_DIR_LOC2EXT, &cmd);
    pi_cl_dma_cmd_wait(&cmd);
    pi_cl_l1_free(NULL, mine, CHUNK * sizeof(int));
}

static void cluster_main(void *arg)
{
    int nb = pi_cl_cluster_nb_cores();
    int total = 0, expect = 0;
    pi_cl_dma_copy_t copy;
    pi_cl_dma_copy_2d_t copy2d;
    pi_cl_dma_cmd_t cmd, cmd2;
    (void)arg;

    CHECK(pi_cluster_id() == 0 && pi_core_id() == 0, "cluster %d core %d", pi_cluster_id(), pi_core_id());
    CHECK(nb >= 2 && nb <= MAX_CORES, "nb_cores %d", nb);
    CHECK(magic[0] == 0x1234 && magic[1] == -7, "PI_L1 initial data %d %d", magic[0], magic[1]);

    crit_sum = crit_count = 0;
    for (int i = 0; i < N; i++) {
        src[i] = i * 7 - 100;
        expect += src[i];
    }
    for (int i = 0; i < ROWS * STRIDE; i++) {
        matrix[i] = 1000 + i;
        matrix_out[i] = -1;
    }

    /* 1-D, L2 -> L1, described by a copy structure */
    copy.ext = (uint32_t)(uintptr_t)src;
    copy.loc = (uint32_t)(uintptr_t)buf;
    copy.size = sizeof(buf);
    copy.dir = PI_CL_DMA_DIR_EXT2LOC;
    copy.merge = 0;
    pi_cl_dma_memcpy(&copy);
    pi_cl_dma_wait(&copy);
    for (int i = 0; i < N; i++)
        CHECK(buf[i] == src[i], "1-D ext2loc buf[%d] = %d", i, buf[i]);

    /* fork over all cores (0 = every core of the cluster) */
    pi_perf_conf((1 << PI_PERF_CYCLES) | (1 << PI_PERF_ACTIVE_CYCLES) | (1 << PI_PERF_INSTR) |
                 (1 << PI_PERF_LD) | (1 << PI_PERF_ST) | (1 << PI_PERF_LD_EXT) | (1 << PI_PERF_ST_EXT) |
                 (1 << PI_PERF_TCDM_CONT) | (1 << PI_PERF_LD_STALL) | (1 << PI_PERF_BRANCH));
    pi_perf_reset();
    pi_perf_start();
    pi_cl_team_fork(0, reduce, &total);
    pi_perf_stop();
    CHECK(total == expect, "reduction %d, expected %d", total, expect);
    CHECK(crit_sum == expect && crit_count == nb, "critical sum %d count %d", crit_sum, crit_count);
    for (int c = 0; c < nb; c++)
        CHECK(seen_total[c] == expect && team_seen[c] == nb, "core %d saw total %d team %d", c,
              seen_total[c], team_seen[c]);
    CHECK(pi_cl_team_nb_cores() == 1, "team after the fork %d", pi_cl_team_nb_cores());
    CHECK(pi_perf_read(PI_PERF_INSTR) > 0 && pi_perf_read(PI_PERF_CYCLES) >= pi_perf_read(PI_PERF_INSTR),
          "perf instr %u cycles %u", pi_perf_read(PI_PERF_INSTR), pi_perf_read(PI_PERF_CYCLES));
    printf("fork: %u cycles, %u instructions, %u loads, %u stores, %u TCDM contention\n",
           pi_perf_read(PI_PERF_CYCLES), pi_perf_read(PI_PERF_INSTR), pi_perf_read(PI_PERF_LD),
           pi_perf_read(PI_PERF_ST), pi_perf_read(PI_PERF_TCDM_CONT));

    /* a fork over 2 cores, with the explicit count */
    crit_sum = crit_count = 0;
    pi_cl_team_fork(2, reduce, &total);
    CHECK(total == expect && crit_count == 2 && team_seen[1] == 2, "fork(2): total %d count %d", total,
          crit_count);

    /* 2-D, L2 -> L1: ROWS rows of COLS words, STRIDE words apart in L2 */
    pi_cl_dma_cmd_2d((uint32_t)(uintptr_t)matrix, (uint32_t)(uintptr_t)tile, sizeof(tile),
                     STRIDE * sizeof(int), COLS * sizeof(int), PI_CL_DMA_DIR_EXT2LOC, &cmd);
    pi_cl_dma_cmd_wait(&cmd);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            CHECK(tile[r * COLS + c] == matrix[r * STRIDE + c], "2-D ext2loc tile[%d][%d] = %d", r, c,
                  tile[r * COLS + c]);

    /* 2-D, L1 -> L2, through a copy structure */
    for (int i = 0; i < ROWS * COLS; i++)
        tile[i] = -tile[i];
    copy2d.ext = (uint32_t)(uintptr_t)matrix_out;
    copy2d.loc = (uint32_t)(uintptr_t)tile;
    copy2d.size = sizeof(tile);
    copy2d.stride = STRIDE * sizeof(int);
    copy2d.length = COLS * sizeof(int);
    copy2d.dir = PI_CL_DMA_DIR_LOC2EXT;
    copy2d.merge = 0;
    pi_cl_dma_memcpy_2d(&copy2d);
    pi_cl_dma_wait(&copy2d);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < STRIDE; c++)
            CHECK(matrix_out[r * STRIDE + c] == (c < COLS ? -(1000 + r * STRIDE + c) : -1),
                  "2-D loc2ext matrix_out[%d][%d] = %d", r, c, matrix_out[r * STRIDE + c]);

    /* 1-D, L1 -> L2, two transfers in flight, then flush and the waits */
    for (int i = 0; i < N; i++)
        buf[i] += 1;
    pi_cl_dma_cmd((uint32_t)(uintptr_t)back, (uint32_t)(uintptr_t)buf, sizeof(buf) / 2, PI_CL_DMA_DIR_LOC2EXT,
                  &cmd);
    pi_cl_dma_cmd((uint32_t)(uintptr_t)&back[N / 2], (uint32_t)(uintptr_t)&buf[N / 2], sizeof(buf) / 2,
                  PI_CL_DMA_DIR_LOC2EXT, &cmd2);
    pi_cl_dma_flush();
    pi_cl_dma_cmd_wait(&cmd);
    pi_cl_dma_cmd_wait(&cmd2);
    for (int i = 0; i < N; i++)
        CHECK(back[i] == src[i] + 1, "1-D loc2ext back[%d] = %d", i, back[i]);

    /* every core does its own DMA and L1 allocation inside a fork */
    uint32_t l1_free = pi_l1_heap_free_bytes();
    pi_cl_team_fork(nb, per_core_dma, NULL);
    for (int c = 0; c < nb; c++)
        for (int i = 0; i < CHUNK; i++)
            CHECK(chunks_out[c * CHUNK + i] == src[c * CHUNK + i] * 3 + c, "per-core DMA core %d [%d] = %d", c, i,
                  chunks_out[c * CHUNK + i]);
    CHECK(pi_l1_heap_free_bytes() == l1_free, "L1 heap leaked: %u -> %u", (unsigned)l1_free, (unsigned)pi_l1_heap_free_bytes());

    /* L2 allocation as a DMA source */
    int *l2 = (int *)pi_l2_malloc(64 * sizeof(int));
    int *l1 = (int *)pi_l1_malloc(0, 64 * sizeof(int));
    CHECK(l2 != NULL && l1 != NULL, "malloc %p %p", (void *)l2, (void *)l1);
    if (l2 && l1) {
        for (int i = 0; i < 64; i++)
            l2[i] = i * i;
        pi_cl_dma_cmd((uint32_t)(uintptr_t)l2, (uint32_t)(uintptr_t)l1, 64 * sizeof(int), PI_CL_DMA_DIR_EXT2LOC,
                      &cmd);
        pi_cl_dma_cmd_wait(&cmd);
        for (int i = 0; i < 64; i++)
            CHECK(l1[i] == i * i, "malloc'd DMA l1[%d] = %d", i, l1[i]);
    }
    pi_l1_free(0, l1, 64 * sizeof(int));
    pi_l2_free(l2, 64 * sizeof(int));
}

int main(void)
{
    struct pi_device cluster_dev;
    struct pi_cluster_conf conf;
    struct pi_cluster_task task;

    pi_cluster_conf_init(&conf);
    conf.id = 0;
    pi_open_from_conf(&cluster_dev, &conf);
    if (pi_cluster_open(&cluster_dev))
        pmsis_exit(-1);
    pi_cluster_send_task_to_cl(&cluster_dev, pi_cluster_task(&task, cluster_main, NULL));
    pi_cluster_send_task(&cluster_dev, pi_cluster_task(&task, cluster_main, NULL)); /* again: state resets */
    pi_cluster_close(&cluster_dev);
    if (failures == 0)
        printf("PASS\n");
    pmsis_exit(failures);
    return 0;
}
"""

PMSIS_FUNCTIONS = [
    "pi_cl_team_nb_cores", "pi_cl_team_fork", "pi_cl_team_barrier", "pi_cl_team_critical_enter",
    "pi_cl_team_critical_exit", "pi_cl_dma_cmd", "pi_cl_dma_cmd_2d", "pi_cl_dma_cmd_wait", "pi_cl_dma_memcpy",
    "pi_cl_dma_memcpy_2d", "pi_cl_dma_wait", "pi_cl_dma_flush", "pi_l1_malloc", "pi_l1_free", "pi_cl_l1_malloc",
    "pi_cl_l1_free", "pi_l2_malloc", "pi_l2_free", "pi_cluster_conf_init", "pi_open_from_conf", "pi_cluster_open",
    "pi_cluster_close", "pi_cluster_send_task_to_cl", "pmsis_exit", "printf", "exit",
]


def build_sdk(compiler="clang", opt="-O2", **kw):
    return toolchain.build_c(SDK_PROGRAM, name="pmsis_sdk", compiler=compiler, opt=opt, cflags=WERROR, **kw)


def run_single(src, name, compiler="clang", **kw):
    return pulpsim.run(toolchain.build_c(src, name=name, compiler=compiler, cflags=WERROR), platform="single", **kw)


# ---------------------------------------------------------------------------------------------------------------
# (a) building
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opt", ["-O2", "-O0", "-Os"])
@pytest.mark.parametrize("compiler", COMPILERS)
def test_sdk_program_builds_with_the_tcdm_layout(compiler, opt):
    img = load_elf(build_sdk(compiler, opt))
    for name in PMSIS_FUNCTIONS:
        assert name in img.symbols, name
    sym = img.symbols
    # stacks: 8 x 4 KiB at the top of the TCDM; the L1 heap between the .l1 data and them
    assert sym["__stack_top"] == TCDM_BASE + TCDM_SIZE == PMSIS_LAYOUT.stack_top
    assert sym["__stack_bottom"] == TCDM_BASE + TCDM_SIZE - 8 * 0x1000
    assert sym["__l1_start"] == TCDM_BASE
    assert sym["__l1_end"] <= sym["__l1_heap_start"] < sym["__l1_heap_end"] == sym["__stack_bottom"]
    # PI_L1 / PI_CL_L1 data in the TCDM, PI_L2 / PI_FC_L1 and ordinary data in L2
    for name in ("buf", "tile", "partial", "magic", "__pmsis_team_nb_cores"):
        assert sym["__l1_start"] <= sym[name] < sym["__l1_end"], name
    for name in ("src", "back", "matrix", "matrix_out", "chunks_out", "failures"):
        assert L2_BASE <= sym[name] < L2_BASE + L2_SIZE, name
    # the L2 heap: after the data, up to the end of L2 (no stacks there)
    assert sym["_end"] <= sym["__l2_heap_start"] < sym["__l2_heap_end"] == L2_BASE + L2_SIZE
    # the TCDM segment spans .l1 and the stacks, so a smaller TCDM refuses the ELF
    tcdm_segs = [s for s in img.segments if TCDM_BASE <= s.vaddr < TCDM_BASE + TCDM_SIZE]
    assert len(tcdm_segs) == 1 and tcdm_segs[0].writable and not tcdm_segs[0].executable
    assert tcdm_segs[0].vaddr == TCDM_BASE and tcdm_segs[0].end == TCDM_BASE + TCDM_SIZE
    img.check_fits([("L2", L2_BASE, L2_SIZE), ("TCDM", TCDM_BASE, TCDM_SIZE)])


def test_pmsis_is_detected_from_the_include():
    plain = load_elf(toolchain.build_c('#include "pulpsim.h"\nint main(void){ return 0; }', name="nopmsis"))
    assert "pi_cl_team_fork" not in plain.symbols
    assert plain.symbols["__stack_top"] == L2_BASE + L2_SIZE  # the default Layout: everything in L2
    assert all(L2_BASE <= s.vaddr < L2_BASE + L2_SIZE for s in plain.segments if s.memsz)
    forced = load_elf(toolchain.build_c("int main(void){ return 0; }", name="forcedpmsis", pmsis=True))
    assert "pi_cl_team_fork" in forced.symbols and forced.symbols["__stack_top"] == TCDM_BASE + TCDM_SIZE
    with pytest.raises(ConfigError, match="runtime"):
        toolchain.build_c("void _start(void){}", name="nort", pmsis=True, runtime=False)


@pytest.mark.parametrize("compiler", COMPILERS)
def test_no_empty_tcdm_segment_without_l1_data(compiler):
    # GNU ld emits the l1 PT_LOAD even when empty (at address 0); the toolchain drops it
    img = load_elf(toolchain.build_c("int x = 3; int main(void){ return x; }", name="nol1", compiler=compiler))
    assert all(s.memsz > 0 for s in img.segments)
    assert not any(TCDM_BASE <= s.vaddr < TCDM_BASE + TCDM_SIZE for s in img.segments)


def test_layout_with_stacks_in_tcdm():
    lay = Layout(stack_in_tcdm=True, num_cores=4, stack_size_per_core=0x800)
    assert lay.stack_top == TCDM_BASE + TCDM_SIZE
    text = toolchain.linker_script(lay)
    assert "L1 (rw) : ORIGIN = 0x10000000, LENGTH = 0x20000" in text
    assert ".stack 0x1001E000 (NOLOAD)" in text
    small = dataclasses.replace(PMSIS_LAYOUT, l1_size=0x10000)
    assert small.stack_top == TCDM_BASE + 0x10000
    with pytest.raises(ConfigError, match="TCDM"):
        Layout(stack_in_tcdm=True, num_cores=16, stack_size_per_core=0x4000)
    with pytest.raises(ConfigError, match="stack_in_tcdm"):
        Layout(code_base=TCDM_BASE, code_size=0x8000, data_base=L2_BASE, data_size=0x8000, stack_in_tcdm=True)
    # data in the TCDM: .l1 joins the data region, the stacks stay at its top, the L2 heap follows the code
    img = load_elf(toolchain.build_c('#include "pmsis.h"\nPI_L1 int v = 5;\nint main(void){ return v; }',
                                     name="l1indata", layout=Layout(data_base=TCDM_BASE, data_size=TCDM_SIZE,
                                                                    num_cores=8, stack_size_per_core=0x800)))
    sym = img.symbols
    assert TCDM_BASE <= sym["_end"] <= sym["v"] < sym["__l1_end"] <= sym["__l1_heap_start"]
    assert sym["__l1_heap_end"] == sym["__stack_bottom"] == TCDM_BASE + TCDM_SIZE - 8 * 0x800
    assert L2_BASE < sym["__l2_heap_start"] < sym["__l2_heap_end"] == L2_BASE + 0x10_0000


@pytest.mark.parametrize("compiler", COMPILERS)
def test_l1_data_overflowing_into_the_stacks_is_a_link_error(compiler):
    with pytest.raises(ToolchainError, match="PI_L1"):
        toolchain.build_c('#include "pmsis.h"\nPI_L1 char big[0x19000] = {1};\nint main(void){ return big[3]; }',
                          name="bigl1", compiler=compiler)


def test_smaller_tcdm_refuses_the_default_layout():
    elf = toolchain.build_c('#include "pmsis.h"\nint main(void){ return 0; }', name="pmsis_small")
    with pytest.raises(ElfError, match="does not fit"):
        pulpsim.run(elf, platform="single", overrides={"tcdm.size": 0x10000})
    small = toolchain.build_c('#include "pmsis.h"\nint main(void){ return 0; }', name="pmsis_small",
                              layout=dataclasses.replace(PMSIS_LAYOUT, l1_size=0x10000))
    assert pulpsim.run(small, platform="single", overrides={"tcdm.size": 0x10000}).exit_code == 0


# ---------------------------------------------------------------------------------------------------------------
# (b) single core: no event unit, no DMA
# ---------------------------------------------------------------------------------------------------------------

SINGLE = r"""
#include "pmsis.h"
PI_L1 int l1v[4] = {10, 20, 30, 40};
PI_CL_L1 int l1z[4];
static int hits, order[8], norder;

static void entry(void *arg)
{
    int *p = (int *)arg;
    order[norder++] = pi_core_id();
    hits += p[pi_core_id()] + 1000 * pi_cl_team_nb_cores();
    pi_cl_team_barrier();
    pi_cl_team_critical_enter();
    hits += 1;
    pi_cl_team_critical_exit();
}

static void cluster_task(void *arg)
{
    pi_cl_team_fork(1, entry, arg);
    pi_cl_team_barrier();               /* outside a fork: team of one */
    pi_cl_team_critical_enter();
    pi_cl_team_critical_exit();
    pi_cl_team_fork(1, entry, arg);
}

int main(void)
{
    struct pi_device dev;
    struct pi_cluster_conf conf;
    struct pi_cluster_task task;
    pi_cl_dma_cmd_t cmd;
    pi_cluster_conf_init(&conf);
    pi_open_from_conf(&dev, &conf);
    if (pi_cluster_open(&dev) != 0 || dev.config != &conf || conf.device_type != PI_DEVICE_CLUSTER_TYPE)
        return 1;
    pi_cluster_send_task_to_cl(&dev, pi_cluster_task(&task, cluster_task, l1v));
    pi_cluster_send_task(&dev, pi_cluster_task(&task, cluster_task, l1v));
    pi_cluster_close(&dev);
    /* a 0-byte transfer issues nothing: no DMA access */
    pi_cl_dma_cmd(0, 0, 0, PI_CL_DMA_DIR_EXT2LOC, &cmd);
    pi_cl_dma_cmd_wait(&cmd);
    printf("hits %d runs %d cores %d%d%d%d team %d id %d/%d l1 %d %d %d\n", hits, norder, order[0], order[1],
           order[2], order[3], pi_cl_team_nb_cores(), pi_cluster_id(), pi_core_id(), l1v[3], l1z[0], l1z[3]);
    printf("dma id %x\n", (unsigned)cmd.id);
    pmsis_exit(3);
}
"""


@pytest.mark.parametrize("compiler", COMPILERS)
def test_single_core_fork_barrier_critical_and_cluster_task(compiler):
    res = run_single(SINGLE, "pmsis_single", compiler)
    assert res.exit_code == 3
    # 2 tasks x 2 forks of one core: entry runs 4 times on core 0, in a team of one
    assert res.stdout == ("hits 4044 runs 4 cores 0000 team 1 id 0/0 l1 40 0 0\n"
                          "dma id ffffffff\n")


NB_CORES = r"""
#include "pmsis.h"
static int runs;
static void entry(void *arg) { (void)arg; runs += pi_cl_team_nb_cores(); }
int main(void)
{
    pi_cl_team_fork(0, entry, NULL);      /* 0: all the cores of the cluster */
    printf("%d %d\n", pi_cl_cluster_nb_cores(), runs);
    return 0;
}
"""


@needs_ccu
def test_cluster_nb_cores_is_one_on_single():
    res = run_single(NB_CORES, "pmsis_nbcores")
    assert res.exit_code == 0 and res.stdout == "1 1\n"


ALLOC = r"""
#include "pmsis.h"
extern char __l1_heap_start[], __l1_heap_end[], __l2_heap_start[], __l2_heap_end[];
#define L1OFF(p) ((p) ? (long)((char *)(p) - __l1_heap_start) : -1L)
#define L2OFF(p) ((p) ? (long)((char *)(p) - __l2_heap_start) : -1L)

int main(void)
{
    uint32_t l1size = (uint32_t)(__l1_heap_end - __l1_heap_start);
    uint32_t l2size = (uint32_t)(__l2_heap_end - __l2_heap_start);
    printf("free %d %d\n", pi_l1_heap_free_bytes() == l1size, pi_l2_heap_free_bytes() == l2size);

    /* first fit from the heap start, sizes rounded up to 8 */
    char *a = pi_l1_malloc(0, 10), *b = pi_l1_malloc(NULL, 24), *c = pi_cl_l1_malloc(NULL, 1);
    printf("l1 %ld %ld %ld\n", L1OFF(a), L1OFF(b), L1OFF(c));
    /* a freed hole is reused by an allocation that fits, not by a bigger one */
    pi_l1_free(0, b, 24);
    char *d = pi_l1_malloc(0, 32), *e = pi_l1_malloc(0, 16);
    printf("reuse %ld %ld free %ld\n", L1OFF(d), L1OFF(e), (long)(l1size - pi_l1_heap_free_bytes()));
    /* frees in any order merge back into one chunk: the whole heap is allocatable again */
    pi_l1_free(0, c, 1);
    pi_l1_free(0, a, 10);
    pi_cl_l1_free(NULL, d, 32);
    pi_l1_free(0, e, 16);
    char *all = pi_l1_malloc(0, l1size);
    printf("merged %ld none %ld zero %ld\n", L1OFF(all), L1OFF(pi_l1_malloc(0, 8)), L1OFF(pi_l1_malloc(0, 0)));
    pi_l1_free(0, all, l1size);
    printf("too big %ld\n", L1OFF(pi_l1_malloc(0, l1size + 8)));

    /* L2: the same allocator over the L2 after the program */
    int *x = pi_l2_malloc(100000), *y = pi_l2_malloc(5), *z = pi_l2_malloc(-4);
    for (int i = 0; i < 25000; i++)
        x[i] = i;
    printf("l2 %ld %ld %ld last %d\n", L2OFF(x), L2OFF(y), L2OFF(z), x[24999]);
    pi_l2_free(x, 100000);
    int *w = pi_l2_malloc(8);
    printf("l2 reuse %ld\n", L2OFF(w));
    pi_l2_free(y, 5);
    pi_l2_free(w, 8);
    printf("l2 free %d aligned %d\n", pi_l2_heap_free_bytes() == l2size,
           ((uintptr_t)__l1_heap_start | (uintptr_t)__l2_heap_start) % 8 == 0);
    return 0;
}
"""


@pytest.mark.parametrize("compiler", COMPILERS)
def test_allocators_first_fit_split_and_merge(compiler):
    res = run_single(ALLOC, "pmsis_alloc", compiler)
    assert res.exit_code == 0, res.stdout
    assert res.stdout == ("free 1 1\n"
                          "l1 0 16 40\n"
                          "reuse 48 16 free 72\n"
                          "merged 0 none -1 zero -1\n"
                          "too big -1\n"
                          "l2 0 100000 -1 last 24999\n"
                          "l2 reuse 0\n"
                          "l2 free 1 aligned 1\n")


@pytest.mark.parametrize("what, code", [
    ("pi_l1_free(0, a, 16); pi_l1_free(0, a, 16);", "pi_l1_free"),       # double free
    ("pi_l1_free(0, a + 4, 8);", "pi_l1_free"),                          # not a chunk start
    ("pi_l2_free(a, 16);", "pi_l2_free"),                                # wrong heap
])
def test_bad_free_stops_the_program(what, code):
    src = ('#include "pmsis.h"\nint main(void) { char *a = pi_l1_malloc(0, 16); (void)pi_l1_malloc(0, 16);\n'
           + what + '\nreturn 0; }\n')
    res = run_single(src, "pmsis_badfree")
    assert res.exit_code == FATAL
    assert res.stdout.startswith(f"pmsis: fatal: {code}(0x1")


def test_fork_over_more_cores_than_stacks_stops_the_program():
    # checked before any event-unit access, so it runs on "single"
    src = r"""
#include "pmsis.h"
static void entry(void *arg) { (void)arg; }
int main(void) { pi_cl_team_fork(9, entry, NULL); return 0; }
"""
    res = run_single(src, "pmsis_fork9")
    assert res.exit_code == FATAL
    assert "pi_cl_team_fork over 9 cores, but the program was linked with stacks for 8" in res.stdout


PERF = r"""
#include "pmsis.h"
PI_L1 volatile int l1w[4];
int main(void)
{
    pi_perf_stop();                /* PCMR resets to counting: stop, then configure and clear */
    pi_perf_conf((1 << PI_PERF_INSTR) | (1 << PI_PERF_ACTIVE_CYCLES) | (1 << PI_PERF_CYCLES));
    pi_perf_reset();
    pi_perf_start();               /* csrwi 0xCC1: counted */
    __asm__ volatile(".rept %0\n nop\n .endr" ::"i"(K));
    pi_perf_stop();                /* csrw 0xCC1, zero: not counted */
    unsigned instr = pi_perf_read(PI_PERF_INSTR), active = pi_perf_read(PI_PERF_ACTIVE_CYCLES),
             cycles = pi_perf_read(PI_PERF_CYCLES), ld = pi_perf_read(PI_PERF_LD);

    pi_perf_conf((1 << PI_PERF_LD) | (1 << PI_PERF_ST) | (1 << PI_PERF_BRANCH) | (1 << PI_PERF_JUMP) |
                 (1 << PI_PERF_LD_STALL));
    pi_perf_reset();
    pi_perf_start();
    __asm__ volatile(
        "   lw   t0, 0(%0)\n"
        "   lw   t1, 4(%0)\n"
        "   addi t1, t1, 1\n"          /* load-use stall */
        "   sw   t0, 8(%0)\n"
        "   sw   t1, 12(%0)\n"
        "   sw   t1, 12(%0)\n"
        "   beqz zero, 1f\n"
        "1: j    2f\n"
        "2:\n" ::"r"(l1w) : "t0", "t1", "memory");
    pi_perf_stop();
    printf("%u %u %u %u | %u %u %u %u %u\n", instr, active, cycles, ld, pi_perf_read(PI_PERF_LD),
           pi_perf_read(PI_PERF_ST), pi_perf_read(PI_PERF_BRANCH), pi_perf_read(PI_PERF_JUMP),
           pi_perf_read(PI_PERF_LD_STALL));
    return 0;
}
"""


@pytest.mark.parametrize("compiler", COMPILERS)
def test_perf_counters_match_the_simulator(compiler):
    """K nops between pi_perf_start and pi_perf_stop: the enabling csrwi and the K nops count (K + 1
    instructions, K + 1 one-cycle issue slots on "single"); PI_PERF_LD was not enabled.  The simulator's own
    instruction count of two builds differing only in K differs by exactly the counters' difference."""
    results = {}
    for k in (20, 60):
        elf = toolchain.build_c(PERF, name="pmsis_perf", compiler=compiler, cflags=WERROR, defines={"K": k})
        res = pulpsim.run(elf, platform="single")
        assert res.exit_code == 0
        head, tail = res.stdout.split("|")
        instr, active, cycles, ld = map(int, head.split())
        assert (instr, active, cycles, ld) == (k + 1, k + 1, k + 1, 0)
        # loads 2, stores 3, 1 branch, 1 jump, 1 load-use stall (the csrwi is none of these)
        assert list(map(int, tail.split())) == [2, 3, 1, 1, 1]
        results[k] = (res, instr)
    (r20, i20), (r60, i60) = results[20], results[60]
    assert r60.instructions - r20.instructions == i60 - i20 == 40
    assert r60.cores[0].op_counts["addi"] - r20.cores[0].op_counts["addi"] == 40


PERF_ASLEEP = r"""
#include "pmsis.h"
PI_L1 char l1buf[4096];
char l2buf[4096];
int main(void)
{
    pi_cl_dma_cmd_t cmd;
    pi_perf_stop();
    pi_perf_conf((1 << PI_PERF_CYCLES) | (1 << PI_PERF_ACTIVE_CYCLES));
    pi_perf_reset();
    pi_perf_start();
    pi_cl_dma_cmd((uint32_t)l2buf, (uint32_t)l1buf, sizeof l1buf, PI_CL_DMA_DIR_EXT2LOC, &cmd);
    pi_cl_dma_cmd_wait(&cmd);      /* sleeps on the event unit until the DMA is done */
    pi_perf_stop();
    printf("%u %u\n", pi_perf_read(PI_PERF_CYCLES), pi_perf_read(PI_PERF_ACTIVE_CYCLES));
    return 0;
}
"""


def test_perf_cycles_count_sleep_and_active_cycles_do_not():
    """Core 0 sleeps through most of a 4 KiB DMA transfer (15 + 4096 / 8 cycles) inside a pi_perf region:
    PI_PERF_CYCLES is the region's length, PI_PERF_ACTIVE_CYCLES leaves out the cycles asleep."""
    res = pulpsim.run(toolchain.build_c(PERF_ASLEEP, name="pmsis_perf_asleep", cflags=WERROR), platform="vega")
    assert res.exit_code == 0
    cycles, active = map(int, res.stdout.split())
    (region,) = res.regions
    assert region.asleep > 400
    assert (cycles, active) == (region.cycles, region.cycles - region.asleep)


# ---------------------------------------------------------------------------------------------------------------
# (c) multi-core end to end
# ---------------------------------------------------------------------------------------------------------------

@needs_cluster
@pytest.mark.parametrize("platform", ["ideal", "vega"])
@pytest.mark.parametrize("compiler", COMPILERS)
def test_sdk_program_runs_on_the_cluster(compiler, platform):
    res = pulpsim.run(build_sdk(compiler), platform=platform, max_cycles=20_000_000)
    assert res.exit_code == 0, res.stdout
    assert res.stdout.endswith("PASS\n")
    assert set(res.stdout_by_core) == {0}  # only the master prints
    # every core ran (the forks), and the workers slept between forks
    assert all(c.instructions > 0 for c in res.cores)
    assert all(getattr(c, "asleep", 1) > 0 for c in res.cores[1:])


@needs_cluster
@pytest.mark.parametrize("cores", [2, 3, 16])
def test_sdk_program_on_other_team_sizes(cores):
    layout = dataclasses.replace(PMSIS_LAYOUT, num_cores=16, stack_size_per_core=0x800)
    res = pulpsim.run(build_sdk(layout=layout), platform="ideal", cores=cores, max_cycles=20_000_000)
    assert res.exit_code == 0, res.stdout
    assert res.stdout.endswith("PASS\n")


@needs_cluster
def test_fork_over_all_cores_needs_stacks_for_all_of_them():
    res = pulpsim.run(build_sdk(), platform="ideal", cores=16, max_cycles=20_000_000)
    assert res.exit_code == FATAL
    assert "pi_cl_team_fork over 16 cores, but the program was linked with stacks for 8" in res.stdout


def test_layout_for_platform_loads_on_pulp_open():
    from pulpsim import toolchain as tc
    src = '#include "pmsis.h"\nPI_L1 int x[4] = {1, 2, 3, 4};\nint main(void){ return x[3] - 4; }\n'
    layout = tc.layout_for("pulp-open")
    assert layout.l1_size == 64 * 1024 and layout.num_cores == 8
    res = pulpsim.run(tc.build_c(src, name="pulp_open_layout", layout=layout), platform="pulp-open")
    assert res.exit_code == 0


NESTED_FORK = r"""
#include "pmsis.h"
PI_L1 volatile int work[8];
static void inner(void *arg) { (void)arg; work[pi_core_id()]++; }
static void outer(void *arg) { pi_cl_team_fork(NB_INNER, inner, arg); }
int main(void)
{
    pi_cl_team_fork(8, outer, NULL);
    int total = 0;
    for (int i = 0; i < 8; i++)
        total += work[i];
    printf("total %d\n", total);
    return 0;
}
"""


@pytest.mark.parametrize("inner", [8, 1])
def test_fork_inside_a_fork_body_stops_the_program(inner):
    """PMSIS forks do not nest: a fork inside a fork body (of any size) is a fatal error naming the
    problem, instead of every core of the team running the inner fork."""
    elf = toolchain.build_c(NESTED_FORK, name="pmsis_nested_fork", defines={"NB_INNER": inner})
    res = pulpsim.run(elf, platform="vega", max_cycles=2_000_000)
    assert res.exit_code == FATAL
    assert "pi_cl_team_fork called inside a fork body" in res.stdout
    assert "PMSIS forks do not nest" in res.stdout
    assert "total" not in res.stdout
