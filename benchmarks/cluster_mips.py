"""Simulation speed on the cluster: aggregate guest MIPS of an 8-core parallel FP kernel.

Usage:  python benchmarks/cluster_mips.py [--platform vega] [--kernel naive-mm|tiled-pw] [--repeat N] [--json]

naive-mm (default): a 60x60x60 FP32 matrix multiply (data in TCDM, rows split
over the cores with pi_cl_team_fork, a compiled fmadd.s inner loop).
tiled-pw: the forward step of a 512 -> 512 pointwise layer on 8x8 pixels
(MobileNet-V1 conv5_4/sep) with its tensors in L2, run tile by tile with
double-buffered DMA by pulpsim.workloads.tiled (the hand-written tile kernel: about 60 %
of its instructions are fmadd.s, each one arbitrated on a shared-FPU cluster).
Both run on every core of the platform with the full timing model: TCDM bank
arbitration, shared FPUs (vega), barriers, DMA.  Reports the total
instructions of all cores per host second (best of N, after a warm-up run),
by wall time and by the process's CPU time (the figure to compare on a machine
shared with other jobs), plus cycles, MAC/cycle and the contention observed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import pulpsim
from pulpsim import toolchain

from mips import best_of

KERNEL = r"""
#include "pmsis.h"
#define N 60
PI_L1 float A[N][N], B[N][N], C[N][N];

static void matmul(void *arg) {
    (void)arg;
    int cores = pi_cl_team_nb_cores(), id = pi_core_id();
    int chunk = (N + cores - 1) / cores, lo = id * chunk, hi = lo + chunk > N ? N : lo + chunk;
    for (int i = lo; i < hi; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < N; k++) acc += A[i][k] * B[k][j];
            C[i][j] = acc;
        }
    pi_cl_team_barrier();
}

int main(void) {
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { A[i][j] = (float)(i - j) * 0.125f; B[i][j] = (float)(i + 2 * j) * 0.0625f; }
    for (int rep = 0; rep < REPS; rep++) pi_cl_team_fork(0, matmul, 0);
    float s = 0.0f;
    for (int i = 0; i < N; i++) s += C[i][i];
    printf("trace %d\n", (int)s);
    return 0;
}
"""


def build_naive(platform: str, reps: int):
    """The ELF of the naive-mm kernel for `platform`, `reps` matmuls per run."""
    return toolchain.build_c(KERNEL, name="bench_cluster_mm", cflags=("-ffp-contract=fast", "-O3"),
                             defines={"REPS": reps},
                             # 2 KiB stacks: the 42 KiB of matrices must also fit pulp-open's 64 KiB TCDM
                             layout=dataclasses.replace(toolchain.layout_for(platform), stack_size_per_core=0x800))


def tiled_case(platform: str):
    """The tiled-pw step's platform (`platform` with a 4 MiB L2) and inputs: (platform, {"x", "W"})."""
    import numpy as np
    from pulpsim.sim.platform import get_platform
    plat = get_platform(platform, l2__size=4 * 1024 * 1024)
    rng = np.random.default_rng(0)
    return plat, {"x": rng.standard_normal((512, 8, 8)).astype(np.float32),
                  "W": rng.standard_normal((512, 512)).astype(np.float32)}


def measure(platform: str, repeat: int, reps: int) -> dict:
    elf = build_naive(platform, reps)
    pulpsim.run(elf, platform=platform)  # warm-up
    times, res = best_of(repeat, lambda: pulpsim.run(elf, platform=platform))
    return row(platform, times, res, 60 * 60 * 60 * reps / res.cycles)


def row(platform: str, times, res, mac_per_cycle: float) -> dict:
    """The reported figures of a run: ``times`` = (best wall, best CPU seconds), ``res`` its Result."""
    wall, cpu = times
    return {"platform": platform, "cores": len(res.cores), "instructions": res.instructions,
            "cycles": res.cycles, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "aggregate_mips": round(res.instructions / wall / 1e6, 1),
            "cpu_aggregate_mips": round(res.instructions / cpu / 1e6, 1),
            "mac_per_cycle": round(mac_per_cycle, 3),
            "tcdm_contention": sum(c.stalls["tcdm_contention"] for c in res.cores),
            "fpu_contention": sum(c.stalls["fpu_contention"] for c in res.cores)}


def measure_tiled(platform: str, repeat: int) -> dict:
    from pulpsim.workloads import tiled
    plat, inputs = tiled_case(platform)
    tiled.run_tiled("pointwise", "fw", {"x": inputs["x"][:8, :2, :2], "W": inputs["W"][:8, :8]}, plat)  # warm-up
    times, r = best_of(repeat, lambda: tiled.run_tiled("pointwise", "fw", inputs, plat))
    return row(platform, times, r.result, r.mac_per_cycle)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="vega")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reps", type=int, default=4, help="matmuls per run")
    parser.add_argument("--kernel", choices=["naive-mm", "tiled-pw"], default="naive-mm")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.kernel == "tiled-pw":
        row = measure_tiled(args.platform, args.repeat)
    else:
        row = measure(args.platform, args.repeat, args.reps)
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        for k, v in row.items():
            print(f"{k:16} {v}")
        print(f"command: python benchmarks/cluster_mips.py --platform {args.platform} --kernel {args.kernel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
