"""Cluster timing microbenchmarks with hand-derived expectations (cluster.md "Timing rules").

Every core runs the same program (SPMD, tests/spmd.py): each core's exit code is the mcycle delta of the
measured pattern, which all cores reach in the same cycle (the set-up code is identical and conflict-free).
"""

from __future__ import annotations

import pulpsim
from pulpsim.sim.platform import get_platform

from spmd import spmd_elf


def run_spmd(setup, body, platform, name, **overrides):
    return pulpsim.run(spmd_elf(setup, body, name=name), platform=platform, **overrides)


# ---------------------------------------------------------------------------------------------- TCDM banks
M = 24
TCDM = 0x10000000


def stream_loads(stride_words, per_core_offset):
    setup = f"""
    li    a0, {TCDM:#x}
    li    t1, {per_core_offset}
    mul   t1, t1, s2
    add   a0, a0, t1
"""
    body = "\n".join(f"    lw a1, {4 * stride_words * k}(a0)" for k in range(M))
    return setup, body


def test_eight_cores_on_one_bank_serialize_round_robin():
    # 16-word stride: every load of every core hits bank 0. Each cycle one core is granted; the tree's
    # counter starts at 0 and advances on every grant, so grants rotate 0,1,...,7,0,...: core i's k-th load
    # is granted at t + 8(k-1) + i, its next instruction issues one cycle later.
    setup, body = stream_loads(16, M * 64)
    res = run_spmd(setup, body, "vega", "bank_same")
    for i, core in enumerate(res.cores):
        assert core.exit_code == 4 + 8 * (M - 1) + i + 1          # csrr mcycle (4) + loads
        assert core.stalls["tcdm_contention"] == i + 7 * (M - 1)  # first load waits i, then 7 each
    stats = res.banks
    assert stats[0]["conflicts"] == sum(i + 7 * (M - 1) for i in range(8))
    assert stats[0]["accesses"] == 8 * M
    assert all(b["accesses"] == 0 for b in stats[1:])


def test_eight_cores_on_distinct_banks_do_not_conflict():
    # 1-word stride, core i starts at bank i: at every step the cores are on 8 different banks.
    setup, body = stream_loads(1, 4)
    res = run_spmd(setup, body, "vega", "bank_distinct")
    for core in res.cores:
        assert core.exit_code == 4 + M
        assert core.stalls["tcdm_contention"] == 0
    assert sum(b["conflicts"] for b in res.banks) == 0
    assert sum(b["accesses"] for b in res.banks) == 8 * M


def test_fixed_priority_and_ideal_policies():
    setup, body = stream_loads(16, M * 64)
    fixed = run_spmd(setup, body, "vega", "bank_same", overrides={"tcdm.arbitration": "fixed"})
    # lowest id always wins: core i starts after cores 0..i-1 finished all their loads
    for i, core in enumerate(fixed.cores):
        assert core.exit_code == 4 + M * (i + 1)
        assert core.stalls["tcdm_contention"] == M * i
    ideal = run_spmd(setup, body, "ideal", "bank_same")
    assert all(core.exit_code == 4 + M for core in ideal.cores)


# ---------------------------------------------------------------------------------------------- shared FPUs
N_FMA = 8
#: mstatus.FS resets to Off (CV32E40P): bare programs turn the FPU on before their first FP instruction.
FPU_ON = "    li t1, 0x2000\n    csrs mstatus, t1\n"


def test_fma_contention_on_four_shared_fpus():
    # 8 cores issue back-to-back fmadd.s. Each cycle the k-th requesting core goes to FPU k mod 4, so FPU f
    # serves cores f and f+4; its tree counter picks the lower half (core f) for c = 0..3 and the upper
    # half (core f+4) for c = 4..7, advancing on every grant and wrapping after 7:
    #   cycles 0-3  cores 0-3 granted (4 ops each), cores 4-7 stall
    #   cycles 4-7  cores 4-7 granted (4 ops each), cores 0-3 stall
    #   cycles 8-11 cores 0-3 granted -> done after 12 cycles (4 stall cycles)
    #   cycles 12-15 cores 4-7 alone: k-th requester = core 4+f -> FPU f, no conflict -> done (8 stalls)
    setup = FPU_ON + "    fmv.w.x ft1, s2\n    fmv.w.x ft2, s2\n    fmv.w.x ft0, zero\n"
    body = "\n".join("    fmadd.s ft0, ft1, ft2, ft0" for _ in range(N_FMA))
    res = run_spmd(setup, body, "vega", "fpu_contention")
    for i, core in enumerate(res.cores):
        stall = 4 if i < 4 else 8
        assert core.stalls["fpu_contention"] == stall
        assert core.exit_code == 4 + N_FMA + stall
    assert sum(c.stalls["fpu_contention"] for c in res.cores) == 4 * 4 + 4 * 8
    # private FPUs (pulp-open): no contention at all
    res = run_spmd(setup, body, "pulp-open", "fpu_contention")
    assert all(core.exit_code == 4 + N_FMA and core.stalls["fpu_contention"] == 0 for core in res.cores)


def test_shared_divider_serializes_fdiv():
    # vega: one non-pipelined 14-cycle divider for the cluster. All 8 cores issue fdiv.s in the same cycle:
    # core i starts when the unit is free, at 14 i; its dependent fadd waits for the result (14 (i + 1)).
    setup = FPU_ON + "    fmv.w.x ft1, s2\n    li t0, 0x40400000\n    fmv.w.x ft2, t0\n"
    body = "    fdiv.s ft0, ft1, ft2\n    fadd.s ft3, ft0, ft0"
    res = run_spmd(setup, body, "vega", "shared_fdiv")
    for i, core in enumerate(res.cores):
        assert core.exit_code == 4 + 14 * (i + 1) + 1


# ---------------------------------------------------------------------------------------------- written code
def test_a_request_noted_for_an_instruction_written_since_is_derived_again():
    # Core 1 runs ahead through its nops and stops before X (a load: it needs cycle order) with its bank request
    # noted; core 0 then overwrites X (in L2, latency L) with an addi and issues a load of the same bank in X's
    # cycle:
    #   core 0: beqz taken (t0 .. t0+2), sw over X (t0+3, L cycles), lw (t0+3+L)
    #   core 1: beqz not taken (t0), 2+L nops (t0+1 ..), X (t0+3+L), j (2 cycles)
    # X is no load any more by then, so the bank has one requester: no conflict, one access (a request taken
    # from the note would make the two loads conflict).
    latency = get_platform("vega").l2.latency
    addi_a1_7 = (7 << 20) | (11 << 7) | 0x13  # addi a1, x0, 7
    setup = f"""
    li    a0, {TCDM:#x}
    li    t3, {addi_a1_7:#x}
    la    t4, 2f
"""
    nops = "\n".join("    nop" for _ in range(2 + latency))
    body = f"""
    beqz  s2, 3f
{nops}
2:  lw    a1, 0(a0)
    j     4f
3:  sw    t3, 0(t4)
    lw    a2, 0(a0)
4:
"""
    res = run_spmd(setup, body, "vega", "written_request", cores=2)
    assert [core.stalls["tcdm_contention"] for core in res.cores] == [0, 0]
    assert res.banks[0]["accesses"] == 1 and res.banks[0]["conflicts"] == 0
    # (4: the cycles of the harness's mcycle reads)
    assert [core.exit_code for core in res.cores] == [4 + 3 + latency + 1, 4 + 1 + (2 + latency) + 1 + 2]
