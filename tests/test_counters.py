"""Guest-visible performance counters: PULP PCER/PCMR/PCCR, mcycle/minstret, mcountinhibit, mhpmcounters.

Expected counts are derived by hand from the loop below and the core timing rules of docs/timing.md:

    1: lw   a1, 0(s2)      1 cycle
       addi a1, a1, 1      1 + 1 load-use stall
       sw   a1, 4(s2)      1
       addi s1, s1, -1     1
       bnez s1, 1b         3 taken, 1 on the last iteration

N iterations: 5N instructions, 8N - 2 cycles, N loads, N stores, N branches, N - 1 taken, N load-use stalls.
Counting starts with the CSR write that enables it (its own issue cycle and the instruction itself count) and
stops at the issue of the CSR write that disables it (which is not counted).
"""

from __future__ import annotations

import pulpsim
from pulpsim import toolchain

N = 37

LOOP = r"""
        "   la   s2, buf\n"
        "   li   s1, %(n)d\n"
        %(start)s
        "1: lw   a1, 0(s2)\n"
        "   addi a1, a1, 1\n"
        "   sw   a1, 4(s2)\n"
        "   addi s1, s1, -1\n"
        "   bnez s1, 1b\n"
        %(stop)s
"""

PROGRAM = r"""
#include "pulpsim.h"
volatile unsigned buf[2];
#define CSRR(n) ({ unsigned v_; asm volatile("csrr %0, " #n : "=r"(v_)); v_; })
int main(void) {
    unsigned r[8];
    asm volatile(
        "   li   t0, -1\n"
        "   csrw 0xCC0, t0\n"        /* PCER: every event */
        "   csrw 0xCC1, zero\n"      /* PCMR: stopped (it resets to counting) */
        "   csrw 0x79F, zero\n"      /* then PCCR all = 0 */
""" + LOOP % {"n": N, "start": r'"   li t0, 1\n   csrw 0xCC1, t0\n"', "stop": r'"   csrw 0xCC1, zero\n"'} + r"""
        ::: "t0", "s1", "s2", "a1", "memory");
    r[0] = CSRR(0x780); r[1] = CSRR(0x781); r[2] = CSRR(0x782); r[3] = CSRR(0x785);
    r[4] = CSRR(0x786); r[5] = CSRR(0x788); r[6] = CSRR(0x789); r[7] = CSRR(0x787);
    printf("%u %u %u %u %u %u %u %u\n", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    return 0;
}
"""


def run_c(src, name):
    res = pulpsim.run(toolchain.build_c(src, name=name), platform="single")
    assert res.exit_code == 0, res.stdout
    return [int(x) for x in res.stdout.split()]


def test_pulp_counters_count_hand_derived_events():
    cycles, instr, ld_stall, ld, st, branch, btaken, jump = run_c(PROGRAM, "pccr")
    # the enabling csrw (1 cycle, 1 instruction) is counted, the disabling one is not
    assert cycles == 1 + (8 * N - 2)
    assert instr == 1 + 5 * N
    assert ld_stall == N
    assert ld == N
    assert st == N
    assert branch == N
    assert btaken == N - 1
    assert jump == 0


MCOUNTINHIBIT = r"""
#include "pulpsim.h"
volatile unsigned buf[2];
int main(void) {
    unsigned a, b, i0, i1;
    asm volatile(
        "   csrr %0, mcycle\n"
        "   csrr %2, minstret\n"
        "   csrwi mcountinhibit, 5\n"   /* stop mcycle (bit 0) and minstret (bit 2) */
""" + LOOP % {"n": N, "start": "", "stop": ""} + r"""
        "   csrwi mcountinhibit, 0\n"
        "   csrr %1, mcycle\n"
        "   csrr %3, minstret\n"
        : "=&r"(a), "=&r"(b), "=&r"(i0), "=&r"(i1) :: "s1", "s2", "a1", "memory");
    printf("%u %u\n", b - a, i1 - i0);
    return 0;
}
"""


def test_mcountinhibit_freezes_mcycle_and_minstret():
    dcycle, dinstr = run_c(MCOUNTINHIBIT, "inhibit")
    # mcycle: csrr mcycle (4) + csrr minstret (4) until the inhibiting csrwi issues -> frozen;
    # it resumes at the issue of csrwi mcountinhibit,0, which takes 4 cycles before the second read.
    assert dcycle == 4 + 4 + 4
    # minstret: counts csrr minstret (the first read is before itself); frozen from the issue of the
    # inhibiting csrwi (not counted); resumes with csrwi mcountinhibit,0 and csrr mcycle.
    assert dinstr == 1 + 2


MHPM = r"""
#include "pulpsim.h"
volatile unsigned buf[2];
int main(void) {
    unsigned loads, stores;
    asm volatile(
        "   li   t0, 1 << 5\n"     /* mhpmevent3 = LD */
        "   csrw mhpmevent3, t0\n"
        "   li   t0, 1 << 6\n"     /* mhpmevent4 = ST */
        "   csrw mhpmevent4, t0\n"
        "   csrw mhpmcounter3, zero\n"
        "   csrw mhpmcounter4, zero\n"
""" + LOOP % {"n": N, "start": "", "stop": ""} + r"""
        "   csrr %0, mhpmcounter3\n"
        "   csrr %1, mhpmcounter4\n"
        : "=&r"(loads), "=&r"(stores) :: "t0", "s1", "s2", "a1", "memory");
    printf("%u %u\n", loads, stores);
    return 0;
}
"""


def test_mhpmcounters_count_selected_events():
    loads, stores = run_c(MHPM, "mhpm")
    assert loads == N
    assert stores == N


def test_counters_agree_with_simulator_statistics():
    res = pulpsim.run(toolchain.build_c(PROGRAM, name="pccr"), platform="single")
    core = res.cores[0]
    assert core.cycles == core.instructions + sum(core.stalls.values())
    assert core.loads == core.op_counts.get("lw", 0) + core.op_counts.get("lbu", 0) + sum(
        core.op_counts.get(k, 0) for k in ("lb", "lh", "lhu", "flw"))


def test_perf_region_statistics_match_the_counters():
    # the enable/disable PCMR writes bracket a region: the simulator reports it with the same cycle and
    # instruction counts as the guest's own counters
    res = pulpsim.run(toolchain.build_c(PROGRAM, name="pccr"), platform="single")
    assert len(res.regions) == 1
    region = res.regions[0]
    assert region.core == 0
    assert region.cycles == 1 + (8 * N - 2)
    assert region.instructions == 1 + 5 * N
    assert region.stalls["load_use"] == N
    assert region.stalls["branch_taken"] == 2 * (N - 1)
    assert "regions (pi_perf_start .. pi_perf_stop)" in res.table()
