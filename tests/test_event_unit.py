"""Event unit and DMA: hand-derived timing, data movement, sleep accounting, deadlock detection."""

from __future__ import annotations

import io

import pytest

import pulpsim
from pulpsim.errors import Deadlock, MemoryFault
from pulpsim.sim.machine import Machine
from pulpsim.sim.platform import get_platform
from pulpsim.sim.state import S_SLEEP

from spmd import spmd_elf   # t0 = the event unit base in the harness

DMA = 0x10204400
BARRIER0_WAIT_CLEAR = 0x200 + 0x1C



# barrier 0 over all 8 cores (every core writes the same masks); core i spins 4i + 2 cycles, then waits
BARRIER_SETUP = f"""
    li    t1, 0xFF
    sw    t1, {0x200:#x}(t0)
    sw    t1, {0x20C:#x}(t0)
"""
BARRIER_BODY = f"""
    addi  t2, s2, 1
2:  addi  t2, t2, -1
    bnez  t2, 2b
    lw    a1, {BARRIER0_WAIT_CLEAR:#x}(t0)
"""


def check_accounting(res):
    for core in res.cores:
        assert core.cycles == core.instructions + sum(core.stalls.values()) + core.asleep


def test_barrier_releases_all_cores_four_cycles_after_the_last_arrival():
    # trigger/target mask = all 8 cores (every core writes the same value). Core i spins 4i + 2 cycles
    # after 1 + 4 (csrr) cycles, so it reaches the barrier at T0 + 7 + 4i; core 7 arrives last at T0 + 35
    # and every core's next instruction issues 4 cycles later, at T0 + 39.
    setup, body = BARRIER_SETUP, BARRIER_BODY
    res = pulpsim.run(spmd_elf(setup, body, name="barrier"), platform="vega")
    for i, core in enumerate(res.cores):
        assert core.exit_code == 39
        # asleep from the cycle after its wait issued (T0 + 8 + 4i) to the release (T0 + 39);
        # the last arrival's 4-cycle wait counts 3 cycles asleep
        assert core.asleep == (31 - 4 * i if i < 7 else 3)
    check_accounting(res)


def test_barrier_latency_is_a_parameter():
    setup, body = BARRIER_SETUP, BARRIER_BODY
    res = pulpsim.run(spmd_elf(setup, body, name="barrier"), platform="vega", overrides={"cluster.barrier_latency": 9})
    assert all(core.exit_code == 35 + 9 for core in res.cores)


DMA_PROGRAM = dict(
    setup=f"""
    li    t1, 0x100
    sw    t1, 0x8(t0)          # MASK_OR: DMA event line 8
    li    t3, {DMA:#x}
    lw    a2, 0(t3)            # transfer id
    li    a3, {64 | (1 << 17) | (1 << 18) | (1 << 20):#x}   # 64 bytes, L2 -> TCDM, INC, ELE
    li    a4, 0x10000100       # destination in TCDM
    la    a5, src
    sw    a3, 0(t3)
    sw    a4, 0(t3)
""",
    body="""
    sw    a5, 0(t3)            # last command word: the transfer starts
    lw    a1, 0x3C(t0)         # EVENT_WAIT_CLEAR: sleep until the DMA is done
""",
    data="""
    .align 4
src: .word """ + ", ".join(hex(0x1000 * i + 7 * i + 1) for i in range(16)) + """
""")


def dma_elf(name="dma"):
    return spmd_elf(DMA_PROGRAM["setup"], DMA_PROGRAM["body"], DMA_PROGRAM["data"], name=name)


def test_dma_copies_l2_to_tcdm_in_the_modelled_time():
    # last command word at ts (= T0 + 4); data may move from ts + 1 + 15 (start latency); 64 bytes at
    # 2 words per cycle take 8 cycles, the last at ts + 23; the event wakes the core 2 cycles later:
    # its next instruction issues at ts + 25 -> delta = 4 + 25.
    m = Machine(get_platform("vega", cores=1))
    image = m.load_elf(dma_elf())
    assert m.run(stdout=False) == 29  # the core's exit code (tohost) is its mcycle delta
    src = image.symbols["src"]
    assert m.read_bytes(0x10000100, 64) == m.read_bytes(src, 64)
    assert m.read_bytes(0x10000100, 8) != bytes(8)
    assert m.dma_glob[3] == 64      # bytes moved
    assert m.dma_glob[4] == 8       # busy cycles


def hammer_run(platform, cores):
    """The machine after a run of the hammering program on `platform` with `cores` cores: core 0 runs a 1 KiB
    transfer into banks 0..15 (from L2 at the code) and sleeps until it is done; core 1 (if any) loads from
    bank 0 back to back meanwhile (40 times 8 loads)."""
    setup = DMA_PROGRAM["setup"].replace(hex(64 | (1 << 17) | (1 << 18) | (1 << 20)),
                                         hex(1024 | (1 << 17) | (1 << 18) | (1 << 20)))
    hammer = """
    bnez  s2, 3f
""" + setup + DMA_PROGRAM["body"] + """
    j     4f
3:  li    t5, 0x10000100
    li    t6, 40
5:  lw    a6, 0(t5)
    lw    a7, 0(t5)
    lw    a6, 0(t5)
    lw    a7, 0(t5)
    lw    a6, 0(t5)
    lw    a7, 0(t5)
    lw    a6, 0(t5)
    lw    a7, 0(t5)
    addi  t6, t6, -1
    bnez  t6, 5b
4:
"""
    m = Machine(get_platform(platform, cores=cores))
    m.load_elf(spmd_elf("", hammer, DMA_PROGRAM["data"], name="dma_hammer"))
    m.run(stdout=False)
    return m


def test_dma_contends_with_a_core_hammering_the_same_banks():
    # Core and DMA alternate on a conflicting bank (the per-bank flag toggles after every grant), so the transfer
    # takes longer and both sides see conflicts.
    m = hammer_run("vega", 2)
    assert m.dma_glob[5] > 0                        # DMA chunks delayed by bank conflicts
    assert m.stat[1, 22] > 0                        # core 1 lost cycles to the DMA (TCDM contention)
    alone = hammer_run("vega", 1)
    # alone: csrr mcycle (4) + 14 one-cycle instructions up to the last command word (ts); data moves from
    # ts + 16 for 1024 / 8 = 128 cycles; the event wakes core 0 2 cycles after the last beat; then j (2).
    assert alone.tim[0, 5] == 4 + 14 + (16 + 128 - 1 + 2) + 2
    assert m.tim[0, 5] > alone.tim[0, 5]            # with the hammering core the transfer takes longer
    assert m.dma_glob[3] == alone.dma_glob[3] == 1024


def test_dma_beside_a_hammering_core_is_not_delayed_where_nothing_is_arbitrated():
    # on "ideal" (no bank arbitration, no shared FPU) the scheduler does not arbitrate the cycles in which core 1
    # and the DMA both access the TCDM: the DMA's chunks move every cycle as beside an idle cluster, and nobody
    # counts a conflict
    m = hammer_run("ideal", 2)
    alone = hammer_run("ideal", 1)
    assert m.dma_glob[5] == 0 and m.stat[1, 22] == 0   # no delayed chunk, no TCDM contention
    assert m.tim[0, 5] == alone.tim[0, 5]              # the transfer took as long as beside an idle cluster
    assert m.read_bytes(0x10000100, 1024) == alone.read_bytes(0x10000100, 1024)
    assert m.dma_glob[3] == alone.dma_glob[3] == 1024


def test_deadlock_is_detected_and_names_the_cores():
    # core 0 waits on a barrier that expects all 8 cores; the others stop right away
    setup = f"""
    li    t1, 0xFF
    sw    t1, {0x200:#x}(t0)
    sw    t1, {0x20C:#x}(t0)
    bnez  s2, 6f
    lw    a1, {BARRIER0_WAIT_CLEAR:#x}(t0)
6:
"""
    with pytest.raises(Deadlock) as info:
        pulpsim.run(spmd_elf(setup, "", name="deadlock"), platform="vega")
    text = str(info.value)
    assert "core 0 asleep in barrier 0 wait" in text and "core 1 stopped" in text


# wfi: core 1 sleeps until core 0 sends it SW event 0 (both unmask SW event 0 in the set-up)
WFI_SETUP = """
    li    t1, 1
    sw    t1, 0(t0)
"""
WFI_BODY = f"""
    bnez  s2, 5f
    li    t2, 20
3:  addi  t2, t2, -1
    bnez  t2, 3b
    li    t1, 2
    sw    t1, {0x100:#x}(t0)
    j     6f
5:  wfi
6:
"""


def test_wfi_sleeps_until_an_event_of_its_mask_wakes_it():
    # From T0 = both cores' first mcycle read (csrr 4). Core 0: bnez not taken 1, li 1, the loop
    # 19 x (1 + 3) + 1 + 1 = 78, li 1: its sw (SW event 0 to core 1) issues at T0 + 85; j 2: s1 at T0 + 88.
    # Core 1: bnez taken 3, wfi issues at T0 + 7 and sleeps from T0 + 8; the event at T0 + 85 wakes it
    # wake_latency (2) later: csrr s1 issues at T0 + 87, so its delta is 87 and it slept 87 - 8 = 79 cycles.
    res = pulpsim.run(spmd_elf(WFI_SETUP, WFI_BODY, name="wfi_wake"), platform="vega", cores=2)
    assert [c.exit_code for c in res.cores] == [88, 87]
    assert res.cores[1].asleep == 79 and res.cores[0].asleep == 0
    check_accounting(res)


def test_wfi_wake_latency_is_a_parameter():
    res = pulpsim.run(spmd_elf(WFI_SETUP, WFI_BODY, name="wfi_wake"), platform="vega", cores=2,
                      cluster__wake_latency=5)
    assert [c.exit_code for c in res.cores] == [88, 90]
    assert res.cores[1].asleep == 82


@pytest.mark.parametrize("sleep", ["wfi", f"lw a1, {0x38:#x}(t0)"], ids=["wfi", "event_wait"])
def test_active_cycles_stop_while_asleep(sleep):
    # PCER = CYCLES (0, the core's gated clock: PI_PERF_ACTIVE_CYCLES) | pulpsim's all-cycles event 30
    # (PI_PERF_CYCLES); both reset in the same cycle R, then read one cycle apart at the end of the body:
    # CYCLES = t - R - asleep, all cycles = t + 1 - R, so all - CYCLES = asleep + 1: 1 on core 0, and on
    # core 1, which sleeps 79 cycles in wfi or EVENT_WAIT (see the test above), 80.
    setup = WFI_SETUP + """
    li    t3, 0x40000001
    csrw  0xCC0, t3
    csrw  0x79F, zero
"""
    body = WFI_BODY.replace("5:  wfi", f"5:  {sleep}") + """
    csrr  a2, 0x780
    csrr  a3, 0x79E
"""
    m = Machine(get_platform("vega", cores=2))
    m.load_elf(spmd_elf(setup, body, name="active_cycles"))
    m.run(stdout=False)
    active = [int(m.xreg[c, 12]) for c in range(2)]
    total = [int(m.xreg[c, 13]) for c in range(2)]
    assert [t - a for t, a in zip(total, active)] == [1, 80]
    assert m.stat[1, S_SLEEP] == 79 and total[1] > 87


@pytest.mark.parametrize("platform, cores", [("single", 1), ("vega", 8)])
def test_wfi_with_no_wake_source_is_a_deadlock_naming_each_core_and_pc(platform, cores):
    # nothing is unmasked and nothing can raise an event: every core sleeps for ever
    elf = spmd_elf("", "    .globl parked\nparked: wfi", name="wfi_deadlock")
    parked = Machine(get_platform(platform)).load_elf(elf).symbols["parked"]
    trace = io.StringIO()
    with pytest.raises(Deadlock) as info:
        pulpsim.run(elf, platform=platform, trace=trace)
    text = str(info.value)
    for core in range(cores):
        assert f"core {core} asleep in wfi (mask 0x0) at pc 0x{parked:08x}" in text
    assert info.value.pc == parked and info.value.disasm.startswith("wfi")
    # the error's cycle: from when no core runs, the cycle after the last wfi (from the trace)
    wfi_cycles = [int(line.split()[0]) for line in trace.getvalue().splitlines() if " wfi" in line]
    assert len(wfi_cycles) == cores and info.value.cycle == max(wfi_cycles) + 1


def test_dma_to_unmapped_memory_is_an_error():
    setup = f"""
    li    t3, {DMA:#x}
    li    a3, {64 | (1 << 17) | (1 << 18):#x}
    li    a4, 0x10000000
    li    a5, 0x30000000
    sw    a3, 0(t3)
    sw    a4, 0(t3)
    sw    a5, 0(t3)
"""
    with pytest.raises(MemoryFault, match="DMA transfer touches unmapped address 0x30000000"):
        pulpsim.run(spmd_elf(setup, "", name="dma_bad"), platform="vega", cores=1)


def test_test_and_set_alias_software_events_and_timer():
    # core 0: test-and-set on a TCDM word (returns the old value and leaves all ones), then raises SW event 3
    # for core 1 at a known cycle. core 1 sleeps on EVENT_WAIT_CLEAR (mask bit 3) and wakes 2 cycles after
    # the event. Both read the cluster timer (CNT_LO at 0x1020_0408, 3-cycle access) and the core count.
    body = """
    li    t5, 0x10000040
    li    t6, 0x10100040       # the same word through the test-and-set alias
    li    a6, 0x10200000       # cluster control unit / timer
    bnez  s2, 7f
    li    a3, 1234
    sw    a3, 0(t5)
    lw    a4, 0(t6)            # test-and-set: a4 = 1234, the word becomes 0xFFFFFFFF
    lw    a5, 0(t5)
    li    a3, 2                # core mask: core 1
    sw    a3, 0x10C(t0)        # SW event 3 -> core 1
    lw    a7, 0x408(a6)        # timer
    j     8f
7:  li    a3, 8
    sw    a3, 0(t0)            # MASK = event 3
    lw    a1, 0x3C(t0)         # sleep until SW event 3 (returns the masked buffer)
    lw    a7, 0x408(a6)
8:  lw    s3, 0xF0(a6)         # number of cores
"""
    m = Machine(get_platform("vega", cores=2))
    m.load_elf(spmd_elf("", body, name="tas_swevt"))
    m.run(stdout=False)
    x = {name: [int(m.xreg[c, i]) for c in range(2)] for name, i in (("a4", 14), ("a5", 15), ("a1", 11),
                                                                       ("a7", 17), ("s3", 19))}
    assert x["a4"][0] == 1234 and x["a5"][0] == -1            # test-and-set
    assert x["a1"][1] == 1 << 3                               # woken by SW event 3
    assert x["s3"] == [2, 2]                                  # number of cores
    # core 0's SW-event store issues at cycle E; core 1's next instruction (the timer read) issues at E + 2,
    # core 0's at E + 1: their timer values differ by exactly one cycle
    assert x["a7"][1] - x["a7"][0] == 1
    assert m.stat[1, 26] > 0                                   # core 1 slept


def test_2d_dma_rows_must_stay_in_one_memory():
    # 3 rows of 16 bytes, L2-side stride 0x5FF0008: row 0 in TCDM (0x1001FFF0), row 1 unmapped (0x15FFFFF8),
    # row 2 in L2 (0x1C000000). First and last rows are both mapped, but not in the same memory: rejected.
    setup = f"""
    li    t3, {DMA:#x}
    li    a3, {48 | (1 << 17) | (1 << 18) | (1 << 19):#x}
    li    a4, 0x10000000
    li    a5, 0x1001FFF0
    li    a6, 16
    li    a7, 0x5FF0008
    sw    a3, 0(t3)
    sw    a4, 0(t3)
    sw    a5, 0(t3)
    sw    a6, 0(t3)
    sw    a7, 0(t3)
"""
    with pytest.raises(MemoryFault, match="DMA transfer touches unmapped address 0x1001fff0"):
        pulpsim.run(spmd_elf(setup, "", name="dma_rows"), platform="vega", cores=1)
