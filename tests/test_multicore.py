"""The core dimension is real: four independent programs on four cores of a
multi-core preset give the same results and per-core cycles as four
single-core runs (issue acceptance 4)."""

from __future__ import annotations

import pulpsim
from pulpsim import toolchain

SLICE = 0x40000  # each program gets its own 256 KiB of L2

PROGRAMS = [
    # integer: insertion sort + checksum (loads, stores, branches)
    r"""
#include "pulpsim.h"
static int v[64];
int main(void) {
    unsigned s = 12345;
    for (int i = 0; i < 64; i++) { s = s * 1103515245u + 12345u; v[i] = (int)(s >> 8) % 1000; }
    for (int i = 1; i < 64; i++) { int x = v[i], j = i - 1; while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j--; } v[j + 1] = x; }
    int ok = 1; for (int i = 1; i < 64; i++) ok &= v[i - 1] <= v[i];
    printf("sort %d %d %d\n", ok, v[0], v[63]);
    return ok ? 0 : 1;
}
""",
    # FP: dot products, division and sqrt (FP divider timing)
    r"""
#include "pulpsim.h"
float a[48], b[48];
int main(void) {
    for (int i = 0; i < 48; i++) { a[i] = (float)i * 0.5f - 3.0f; b[i] = 1.0f / (float)(i + 1); }
    float acc = 0.0f;
    for (int r = 0; r < 4; r++) for (int i = 0; i < 48; i++) acc += a[i] * b[i];
    float q = __builtin_sqrtf(acc * acc + 2.0f);
    printf("fp %d\n", (int)(q * 1000.0f));
    return 0;
}
""",
    # M extension: divisions with data-dependent latency, mulh
    r"""
#include "pulpsim.h"
int main(void) {
    unsigned acc = 0; long long p = 0;
    for (int i = 1; i < 200; i++) { acc += 0x7fffffffu / (unsigned)(i * 37) + (unsigned)(-1000003 / i);
                                     p += (long long)acc * (long long)(i - 100); }
    printf("div %u %d\n", acc, (int)(p >> 20));
    return 0;
}
""",
    # calls, jalr, CSR reads of mcycle/minstret
    r"""
#include "pulpsim.h"
static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(void) {
    unsigned c0 = read_mcycle(), i0 = read_minstret();
    int f = fib(15);
    unsigned c1 = read_mcycle(), i1 = read_minstret();
    printf("fib %d cycles %u instr %u\n", f, c1 - c0, i1 - i0);
    return f == 610 ? 0 : 1;
}
""",
]


def build_programs():
    elves = []
    for i, src in enumerate(PROGRAMS):
        layout = toolchain.Layout(code_base=toolchain.L2_BASE + i * SLICE, code_size=SLICE // 2,
                                  data_base=toolchain.L2_BASE + i * SLICE + SLICE // 2, data_size=SLICE // 2,
                                  num_cores=4)
        elves.append(toolchain.build_c(src, name=f"indep{i}", layout=layout,
                                       defines={"PULPSIM_EXIT_TOHOST": 1, "PULPSIM_PRIVATE_PROGRAM": 1}))
    return elves


def test_four_programs_on_four_cores_match_single_core_runs():
    elves = build_programs()
    singles = [pulpsim.run(e, platform="single") for e in elves]
    multi = pulpsim.run(elves, platform="ideal", cores=4)
    assert multi.exit_code == 0
    for i, single in enumerate(singles):
        assert single.exit_code == 0
        core = multi.cores[i]
        assert core.exit_code == 0
        assert core.instructions == single.cores[0].instructions
        assert core.cycles == single.cores[0].cycles
        assert core.stalls == single.cores[0].stalls
        assert core.op_counts == single.cores[0].op_counts
        # the same text, printed by core i
        assert multi.stdout_by_core[i] == single.stdout
        assert single.stdout_by_core == {0: single.stdout}
    # the programs really differ: different instruction counts and mixes
    assert len({s.instructions for s in singles}) == 4


def test_multicore_run_is_deterministic():
    elves = build_programs()
    a = pulpsim.run(elves, platform="ideal", cores=4)
    b = pulpsim.run(elves, platform="ideal", cores=4)
    assert a.to_dict() | {"wall_seconds": 0} == b.to_dict() | {"wall_seconds": 0}
