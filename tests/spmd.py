"""SPMD assembly harness of the cluster tests (test_cluster_timing, test_event_unit).

Every core runs the same program: it sets s2 = its core id and t0 = the event unit's base, runs `setup`,
reads mcycle, runs the measured `body`, reads mcycle again and stops itself by storing (delta << 1) | 1 to
`tohost`, so each core's exit code is its own mcycle delta. `data` goes to .data. The set-up before the
first mcycle read is identical on every core, so all cores reach the body in the same cycle when the
set-up itself is conflict-free.
"""

from __future__ import annotations

from pathlib import Path

from pulpsim import toolchain

#: Event unit base of cluster 0 (t0 holds it in the harness).
EU = 0x10204000

HARNESS = """
    .section .text.init
    .globl _start
_start:
    csrr  s2, mhartid
    andi  s2, s2, 0xF
    li    t0, {eu:#x}
{setup}
    csrr  s0, mcycle
{body}
    csrr  s1, mcycle
    sub   a0, s1, s0
    slli  a0, a0, 1
    ori   a0, a0, 1
    la    t4, tohost
    sw    a0, 0(t4)
1:  j     1b
    .data
{data}
    .section .tohost, "aw"
    .globl tohost
    .align 3
tohost: .word 0
"""


def spmd_elf(setup: str = "", body: str = "", data: str = "", name: str = "spmd") -> Path:
    """Build the harness around `setup`, `body` and `data` (bare metal, no runtime)."""
    return toolchain.build_asm(HARNESS.format(eu=EU, setup=setup, body=body, data=data), runtime=False, name=name)
