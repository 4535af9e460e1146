"""Simulation speed: guest instructions per host second (MIPS), single core, full timing.

Usage:  python benchmarks/mips.py [--repeat N] [--json]

Builds two programs with the pulpsim toolchain and runs each on the `single`
platform after a warm-up run (which also warms the Numba cache):
  * int:    integer workload (CRC-32, insertion sort, integer matrix multiply)
  * fp-mm:  FP32 matrix multiply (flw / fmadd.s / fsw inner loop)
and reports guest instructions, cycles, host seconds and MIPS (best of N), by wall time and by the
process's CPU time (the figure to compare on a machine shared with other jobs).
"""

from __future__ import annotations

import argparse
import json
import platform as host_platform
import sys
import time

import pulpsim
from pulpsim import toolchain

INT_PROGRAM = r"""
#include "pulpsim.h"
#define N 24
static unsigned crc_table[256];
static int a[N][N], b[N][N], c[N][N];
static int v[512];
static unsigned crc32(const unsigned char *p, int n) {
    unsigned crc = 0xFFFFFFFFu;
    for (int i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
int main(void) {
    for (unsigned i = 0; i < 256; i++) { unsigned r = i; for (int k = 0; k < 8; k++) r = (r >> 1) ^ (0xEDB88320u & -(r & 1)); crc_table[i] = r; }
    unsigned s = 1, check = 0;
    for (int rep = 0; rep < 40; rep++) {
        for (int i = 0; i < 512; i++) { s = s * 1664525u + 1013904223u; v[i] = (int)(s >> 12); }
        for (int i = 1; i < 512; i++) { int x = v[i], j = i - 1; while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j--; } v[j + 1] = x; }
        check += crc32((const unsigned char *)v, sizeof v);
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { a[i][j] = i * j + rep; b[i][j] = i - j; }
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { int acc = 0; for (int k = 0; k < N; k++) acc += a[i][k] * b[k][j]; c[i][j] = acc; }
        check += (unsigned)c[N / 2][N / 3];
    }
    printf("int check %u\n", check);
    return 0;
}
"""

FP_PROGRAM = r"""
#include "pulpsim.h"
#define N 48
static float a[N][N], b[N][N], c[N][N];
int main(void) {
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { a[i][j] = (float)(i + j) * 0.25f; b[i][j] = (float)(i - j) * 0.5f; }
    for (int rep = 0; rep < 20; rep++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                float acc = 0.0f;
                for (int k = 0; k < N; k++) acc += a[i][k] * b[k][j];
                c[i][j] = acc;
            }
    printf("fp check %d\n", (int)c[N - 1][1]);
    return 0;
}
"""

PROGRAMS = {"int": INT_PROGRAM, "fp-mm": FP_PROGRAM}


def build(name: str, source: str):
    """The ELF of benchmark program `name` (its C `source`)."""
    # -ffp-contract=fast lets clang emit fmadd.s in the matmul, as a PULP build would.
    return toolchain.build_c(source, name=f"bench_{name}", cflags=("-ffp-contract=fast",))


def measure(name: str, source: str, repeat: int) -> dict:
    elf = build(name, source)
    pulpsim.run(elf)  # warm-up: Numba cache, page cache
    (wall, cpu), result = best_of(repeat, lambda: pulpsim.run(elf))
    return {"program": name, "instructions": result.instructions, "cycles": result.cycles,
            "cpi": round(result.cpi, 3), "seconds": round(wall, 4), "cpu_seconds": round(cpu, 4),
            "mips": round(result.instructions / wall / 1e6, 1),
            "cpu_mips": round(result.instructions / cpu / 1e6, 1),
            "engine_mips": round(result.mips, 1)}


def best_of(repeat: int, run):
    """Call ``run`` ``repeat`` times: ((least wall seconds, least CPU seconds of the process), a result).

    CPU time (time.process_time) is what the run cost when other jobs share the machine; on an idle machine
    it equals the wall time (the simulator runs on one thread).
    """
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return (min(walls), min(cpus)), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(name, src, args.repeat) for name, src in PROGRAMS.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"host: {host_platform.processor() or host_platform.machine()}, python {sys.version.split()[0]}")
        print(f"{'program':8} {'instructions':>13} {'cycles':>13} {'CPI':>6} {'seconds':>8} {'MIPS':>7} "
              f"{'CPU s':>8} {'CPU MIPS':>8}")
        for r in rows:
            print(f"{r['program']:8} {r['instructions']:>13} {r['cycles']:>13} {r['cpi']:>6} "
                  f"{r['seconds']:>8} {r['mips']:>7} {r['cpu_seconds']:>8} {r['cpu_mips']:>8}")
        print("command: python benchmarks/mips.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
