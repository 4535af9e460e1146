"""PMSIS programs on the cluster: DMA overlapped with compute, per-core counters, determinism."""

from __future__ import annotations

import pulpsim
from pulpsim import toolchain

DOUBLE_BUFFER = r"""
#include "pmsis.h"
#define TILE 256
#define TILES 6
PI_L2 int src[TILES * TILE];
PI_L1 int buf[2][TILE];
static int sums[TILES];

static int work(const int *v) {          /* some compute per tile */
    int s = 0;
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < TILE; i++) s += v[i] * (r + 1);
    return s;
}

int main(void) {
    pi_cl_dma_cmd_t cmd[2];
    for (int i = 0; i < TILES * TILE; i++) src[i] = i % 97 - 40;
    unsigned t0 = read_mcycle();
#ifdef OVERLAP
    pi_cl_dma_cmd((uint32_t)src, (uint32_t)buf[0], TILE * 4, PI_CL_DMA_DIR_EXT2LOC, &cmd[0]);
    for (int t = 0; t < TILES; t++) {
        pi_cl_dma_cmd_wait(&cmd[t & 1]);
        if (t + 1 < TILES)   /* load tile t+1 while computing tile t */
            pi_cl_dma_cmd((uint32_t)&src[(t + 1) * TILE], (uint32_t)buf[(t + 1) & 1], TILE * 4,
                          PI_CL_DMA_DIR_EXT2LOC, &cmd[(t + 1) & 1]);
        sums[t] = work(buf[t & 1]);
    }
#else
    for (int t = 0; t < TILES; t++) {
        pi_cl_dma_cmd((uint32_t)&src[t * TILE], (uint32_t)buf[0], TILE * 4, PI_CL_DMA_DIR_EXT2LOC, &cmd[0]);
        pi_cl_dma_cmd_wait(&cmd[0]);
        sums[t] = work(buf[0]);
    }
#endif
    unsigned cycles = read_mcycle() - t0;
    int ok = 1;
    for (int t = 0; t < TILES; t++) ok &= sums[t] == work(&src[t * TILE]);
    printf("%s %u\n", ok ? "ok" : "BAD", cycles);
    return ok ? 0 : 1;
}
"""


def run_variant(overlap: bool):
    defines = {"OVERLAP": 1} if overlap else None
    res = pulpsim.run(toolchain.build_c(DOUBLE_BUFFER, name="double_buffer", defines=defines), platform="vega",
                      cores=1)
    assert res.exit_code == 0, res.stdout
    word, cycles = res.stdout.split()
    assert word == "ok"
    return int(cycles), res


def test_dma_overlapped_with_compute_hides_transfer_time():
    serial, r1 = run_variant(False)
    overlapped, r2 = run_variant(True)
    assert r1.dma["bytes"] == r2.dma["bytes"] == 6 * 256 * 4
    # a 1 KiB tile takes 15 + 128 cycles on the DMA. Serially the core sleeps through every transfer;
    # double-buffered it only waits for the first one (the others finish during the previous tile's
    # compute), and the time saved is the sleep avoided, minus the bank conflicts between the DMA's
    # writes and the compute's reads
    assert r2.cores[0].asleep <= 15 + 128 + 2 < 6 * 128 <= r1.cores[0].asleep + 128
    assert serial - overlapped >= 0.8 * (r1.cores[0].asleep - r2.cores[0].asleep)
    assert r2.dma["delayed_beats"] > 0 or r2.cores[0].stalls["tcdm_contention"] > 0


PARALLEL = r"""
#include "pmsis.h"
#define N 512
PI_L1 int data[N];
PI_L1 int partial[16];
PI_L1 unsigned tcdm_cont[16], instr[16];

static void body(void *arg) {
    (void)arg;
    int id = pi_core_id(), nb = pi_cl_team_nb_cores();
    pi_cl_team_barrier();   /* the barrier wakes every core in the same cycle: they start in step */
    pi_perf_conf((1 << PI_PERF_INSTR) | (1 << PI_PERF_TCDM_CONT));
    pi_perf_reset();
    pi_perf_start();
    int s = 0;
    int chunk = N / nb;   /* contiguous chunks: every core starts on bank 0 and walks the banks in step */
    for (int i = id * chunk; i < (id + 1) * chunk; i++) s += data[i];
    partial[id] = s;
    pi_perf_stop();
    instr[id] = pi_perf_read(PI_PERF_INSTR);
    tcdm_cont[id] = pi_perf_read(PI_PERF_TCDM_CONT);
    pi_cl_team_barrier();
}

int main(void) {
    for (int i = 0; i < N; i++) data[i] = i;
    pi_cl_team_fork(0, body, 0);
    int total = 0;
    for (int c = 0; c < pi_cl_cluster_nb_cores(); c++) total += partial[c];
    for (int c = 0; c < pi_cl_cluster_nb_cores(); c++) printf("%u %u\n", instr[c], tcdm_cont[c]);
    return total == N * (N - 1) / 2 ? 0 : 1;
}
"""


def test_per_core_counters_and_determinism():
    elf = toolchain.build_c(PARALLEL, name="parallel_counters")
    a = pulpsim.run(elf, platform="vega")
    b = pulpsim.run(elf, platform="vega")
    assert a.exit_code == 0
    assert (a.to_dict() | {"wall_seconds": 0}) == (b.to_dict() | {"wall_seconds": 0})
    rows = [tuple(map(int, line.split())) for line in a.stdout.splitlines()]
    assert len(rows) == 8
    # each core's guest counters agree with the simulator's region statistics of that core. PCMR resets to
    # "counting", so the guest's INSTR also counts pi_perf_reset's own csrw, retired before pi_perf_start.
    regions = {r.core: r for r in a.regions}
    for core, (instr, cont) in enumerate(rows):
        assert instr == regions[core].instructions + 1
        assert cont == regions[core].stalls["tcdm_contention"]
    assert sum(cont for _, cont in rows) > 0   # the chunks start on the same bank: the cores collide


STACK_OVERFLOW = r"""
#include "pmsis.h"
static int deep(int n) { volatile int x = n; return n == 0 ? 0 : deep(n - 1) + x; }
static void body(void *arg) { (void)arg; if (pi_core_id() == 3) deep(1000); pi_cl_team_barrier(); }
int main(void) { pi_cl_team_fork(0, body, 0); return 0; }
"""


def test_stack_overflow_into_another_cores_stack_is_detected():
    import pytest
    from pulpsim.errors import MemoryFault
    with pytest.raises(MemoryFault, match="stack overflow: sp = 0x1001bf.. is below core 3's stack") as info:
        pulpsim.run(toolchain.build_c(STACK_OVERFLOW, name="stack_overflow", opt="-O0"), platform="vega")
    assert info.value.core == 3 and "(sp)" in info.value.disasm  # the first store into the frame


NEVER_ARRIVES = r"""
#include "pmsis.h"
static void body(void *arg) { (void)arg; if (pi_core_id() == 5) for (;;) { asm volatile(""); } pi_cl_team_barrier(); }
int main(void) { pi_cl_team_fork(0, body, 0); return 0; }
"""


def test_core_that_never_reaches_the_barrier_is_reported():
    import pytest
    from pulpsim.errors import CycleLimitExceeded
    with pytest.raises(CycleLimitExceeded) as info:
        pulpsim.run(toolchain.build_c(NEVER_ARRIVES, name="never_arrives"), platform="vega", max_cycles=20_000)
    text = str(info.value)
    assert "core 5 running" in text and "core 0 asleep in barrier 0 wait" in text
