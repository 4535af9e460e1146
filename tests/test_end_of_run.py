"""Sleeping cores and the end of a run: wfi parks a core at no host cost; a CORESTATUS store ends the run."""

from __future__ import annotations

import io

import pytest

import pulpsim
from pulpsim import toolchain

#: Core 0 counts for LOOP iterations of add, addi, bne (1 + 1 + 3 cycles) and exits; the other cores
#: park in wfi for ever (nothing is unmasked: only the end of the run stops them).
PARKED_IN_WFI = r"""
#include "pmsis.h"
#define LOOP 7000
static volatile unsigned sink;
static void body(void *arg) {
    (void)arg;
    if (pi_core_id() != 0)
        for (;;) __asm__ volatile("wfi");
    unsigned s = 0;
    for (int i = 0; i < LOOP; i++) {
        s += i;
        __asm__ volatile("" : "+r"(s));   /* keeps the loop: add, addi, bne */
    }
    sink = s;
    exit(0);
}
int main(void) { pi_cl_team_fork(0, body, 0); return 0; }
"""
LOOP = 7000


def check_accounting(res):
    for core in res.cores:
        assert core.cycles == core.instructions + sum(core.stalls.values()) + core.asleep, core


def test_cores_parked_in_wfi_sleep_until_the_exit_at_no_host_cost():
    elf = toolchain.build_c(PARKED_IN_WFI, name="parked_in_wfi")
    pulpsim.run(elf, platform="vega")   # warm: loads the compiled engine into this process
    res = pulpsim.run(elf, platform="vega")
    assert res.exit_code == 0
    # core 0's loop alone takes LOOP x 5 - 2 (the last bne is not taken) cycles; start-up, the fork and
    # exit() add a few hundred at most
    loop = LOOP * 5 - 2
    assert loop < res.cycles < loop + 400
    assert res.cycles == res.cores[0].cycles
    assert 3 * LOOP < res.cores[0].instructions < 3 * LOOP + 300
    for core in res.cores[1:]:
        # start-up, one dispatch and the wfi; asleep from then on, until the exit
        assert core.instructions < 40 and core.stalls["jump"] < 5
        assert core.cycles == res.cycles and core.asleep > res.cycles - 200
    check_accounting(res)
    # about 21,000 guest instructions in all: no host time goes into the parked cores
    assert res.wall_seconds < 1.0


def spinning(n: int) -> str:
    """Core 0 counts down n (> 2047) iterations and exits through CORESTATUS; the others spin in `j .` for ever."""
    return f"""
    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr  s2, mhartid
    andi  s2, s2, 0xF
    bnez  s2, spin
    li    t2, {n}
1:  addi  t2, t2, -1
    bnez  t2, 1b
    li    t0, 0x1A1040A0
    li    t1, 0x80000000
    sw    t1, 0(t0)
2:  j     2b
spin:
3:  j     3b
"""


def expected_spinning(n: int, cores: int) -> tuple[int, int, int, int]:
    """(run cycles, core 0's instructions, a spinning core's instructions and cycles), by hand.

    Core 0: csrr 0, andi 1, bnez (not taken) 2, li t2 = lui + addi 3-4; the loop from 5 takes
    n x (1 + 3) - 2 (the last bnez is not taken); li t0 (lui + addi) and li t1 (lui): the sw issues at
    T = 4n + 6 and the run ends with that cycle: 4n + 7 cycles. Instructions: 3 + 2 + 2n + 3 + 1 = 2n + 9.
    Another core: csrr, andi, bnez taken (3): its jal (2 cycles each) issue at 5, 7, ..., the last one
    by T at 4n + 5: 2n + 1 of them, 2n + 4 instructions, and its clock is then exactly 4n + 7.
    """
    t = 4 * n + 6
    return t + 1, 2 * n + 9, 2 * n + 4, t + 1


def check_spinning(res, n: int) -> None:
    cycles, instr0, instr_spin, cycles_spin = expected_spinning(n, len(res.cores))
    assert res.exit_code == 0
    assert res.cycles == cycles
    assert res.cores[0].instructions == instr0 and res.cores[0].cycles == cycles
    assert res.cores[0].stalls["branch_taken"] == 2 * (n - 1)
    for core in res.cores[1:]:
        assert (core.instructions, core.cycles, core.asleep) == (instr_spin, cycles_spin, 0), core
        assert core.stalls["jump"] == 2 * n + 1 and core.stalls["branch_taken"] == 2
    assert res.instructions == instr0 + (len(res.cores) - 1) * instr_spin
    check_accounting(res)


def test_a_corestatus_exit_ends_the_run_in_its_cycle_for_every_core():
    n = 9000   # about 36,000 cycles
    elf = toolchain.build_asm(spinning(n), runtime=False, name="spinning")
    pulpsim.run(elf, platform="vega")   # warm
    res = pulpsim.run(elf, platform="vega")
    check_spinning(res, n)
    # the spinning cores stop where the run ends: host time follows the simulated cycles (8 x 36,000)
    assert res.wall_seconds < 1.0


def test_the_end_of_the_run_is_the_same_with_a_trace():
    # with a trace being written the cores do not run ahead of each other (no second pass): same numbers,
    # and no traced instruction issues after the exit's cycle
    n = 3000   # > 2047: li t2 is lui + addi, as expected_spinning assumes
    trace = io.StringIO()
    res = pulpsim.run(toolchain.build_asm(spinning(n), runtime=False, name="spinning"), platform="vega",
                      trace=trace)
    check_spinning(res, n)
    issue_cycles = [int(line.split()[0]) for line in trace.getvalue().splitlines()]
    assert len(issue_cycles) == res.instructions and max(issue_cycles) == 4 * n + 6


WAKE_THEN_EXIT = """
    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr  s2, mhartid
    andi  s2, s2, 0xF
    li    t0, 0x10204000
    li    t1, 1
    sw    t1, 0(t0)
    bnez  s2, sleeper
    li    t2, 10
1:  addi  t2, t2, -1
    bnez  t2, 1b
    li    t1, 2
    sw    t1, 0x100(t0)
spin:
    j     spin
sleeper:
    wfi
    li    t0, 0x1A1040A0
    li    t1, 0x80000000
    sw    t1, 0(t0)
2:  j     2b
"""


@pytest.mark.parametrize("traced", [False, True], ids=["rewind", "trace"])
def test_a_core_woken_by_another_ends_the_run_while_the_waker_spins(traced):
    # Both: csrr 0, andi 1, lui 2, addi 3, sw (event mask = SW event 0) 4, bnez 5. Core 1: bnez taken,
    # wfi at 8, asleep from 9. Core 0: li 6, loop 10 x 4 - 2 = 38 from 7, li 45, sw (SW event 0 to core 1)
    # at 46: core 1 wakes at 46 + 2 = 48 (lui, addi, lui) and its exit store issues at T = 51; core 0
    # spins in jal from 47: 47, 49, 51 by T. Core 0: 5 + 1 + 1 + 20 + 1 + 1 + 3 = 32 instructions;
    # core 1: 11, asleep 48 - 9 = 39. The run's cycles: 52.
    trace = io.StringIO() if traced else None
    res = pulpsim.run(toolchain.build_asm(WAKE_THEN_EXIT, runtime=False, name="wake_then_exit"),
                      platform="vega", cores=2, trace=trace)
    assert res.cycles == 52
    assert [c.instructions for c in res.cores] == [32, 11]
    assert res.cores[1].asleep == 39 and res.cores[1].cycles == 52
    check_accounting(res)
    if traced:  # in (cycle, core) order, the last line in the exit's cycle
        rows = [tuple(map(int, line.split()[:2])) for line in trace.getvalue().splitlines()]
        assert rows == sorted(rows) and rows[-1][0] == 51 and len(rows) == 32 + 11


def test_pi_perf_regions_after_the_exit_do_not_count():
    # The spinning cores bracket 800 cycles with PCMR writes (pi_perf_start/stop) in their loop:
    # csrwi at s, li, a 200-iteration countdown (798), csrw at s + 800, jal: s_{m+1} = s_m + 803 from
    # s_0 = 5. Core 0 exits at T = 4 x 2100 + 6 = 8406: regions m = 0..9 stop by T (5 + 803 x 9 + 800 =
    # 8032); region 10 would stop at 8835, after the end, even though a core may run that far ahead.
    text = spinning(2100).replace("3:  j     3b", """3:  csrwi 0xCC1, 3
    li    t3, 200
4:  addi  t3, t3, -1
    bnez  t3, 4b
    csrw  0xCC1, zero
    j     3b""")
    res = pulpsim.run(toolchain.build_asm(text, runtime=False, name="spinning_regions"), platform="vega")
    assert res.cycles == 8407
    for core in range(1, 8):
        regions = [r for r in res.regions if r.core == core]
        assert [(r.start, r.end) for r in regions] == [(5 + 803 * m, 805 + 803 * m) for m in range(10)]
        assert all(r.instructions == 402 for r in regions)   # csrwi, li, 400 in the countdown
    check_accounting(res)
