"""Sleeping cores and the end of a run: wfi parks a core at no host cost; a CORESTATUS store ends the run."""

from __future__ import annotations

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
