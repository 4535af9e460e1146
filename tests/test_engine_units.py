"""The engine's units: the bit-mask helpers of the scheduler and arbiter, the arbiter's winner, and the one-core
loop (run_alone) against the cluster's scheduler (run), which must give the same run."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st
from numba import njit

import pulpsim
from pulpsim import toolchain
from pulpsim.sim import engine
from pulpsim.sim.arbiter import TABLE_MASTERS, pick_winner
from pulpsim.sim.bits import bit_count, lowest_bit
from pulpsim.sim.machine import Machine
from pulpsim.sim.platform import get_platform
from pulpsim.sim.state import ARB_FIXED, ARB_TREE

from test_cluster_programs import DOUBLE_BUFFER, PARALLEL


@njit(cache=False)
def _lowest_and_count(mask):
    return lowest_bit(mask), bit_count(mask)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)  # (the first example compiles)
@given(st.integers(min_value=1, max_value=(1 << 63) - 1))
def test_lowest_bit_and_bit_count_agree_with_python(mask):
    lowest, count = _lowest_and_count(mask)
    assert lowest == (mask & -mask).bit_length() - 1
    assert count == bin(mask).count("1")


def test_bit_count_of_no_bits_is_zero():
    assert _lowest_and_count(0)[1] == 0


def _tree_reference(mask, counter, nmasters):
    """The counter-steered binary tree of the TCDM interconnect and the shared-FPU arbiter (docs/cluster.md),
    recursively: the masters padded to a power of two, the root steered by the counter's most significant bit
    (of as many bits as the tree has levels), each level below by the next bit; where both subtrees request,
    the upper one wins iff its bit is 1."""
    levels = max(nmasters - 1, 0).bit_length()

    def walk(lo, size, level):
        if size == 1:
            return lo
        half = size // 2
        left = (mask >> lo) & ((1 << half) - 1)
        right = (mask >> (lo + half)) & ((1 << half) - 1)
        upper = right and (not left or (counter >> (levels - 1 - level)) & 1)
        return walk(lo + half if upper else lo, half, level + 1)

    return walk(0, 1 << levels, 0)


def test_the_arbiters_winner_follows_the_tree_and_the_fixed_priority():
    """Every mask and counter of up to TABLE_MASTERS masters (the looked-up winners), and some of more (the
    walk down the tree), against the tree's definition; the fixed policy picks the lowest index."""
    cases = [(mask, counter, n) for n in range(1, TABLE_MASTERS + 1) for mask in range(1, 1 << n)
             for counter in range(n)]
    cases += [(mask & ((1 << n) - 1), counter, n) for n in (9, 12, 16) for mask in (1, 0b101, 0x8001, 0xFFFF, 0x5A5A)
              for counter in range(n) if mask & ((1 << n) - 1)]
    for mask, counter, n in cases:
        assert pick_winner(mask, counter, n, ARB_TREE) == _tree_reference(mask, counter, n), (mask, counter, n)
        assert pick_winner(mask, counter, n, ARB_FIXED) == (mask & -mask).bit_length() - 1


def _comparable(res) -> dict:
    d = res.to_dict()
    d.pop("wall_seconds")
    return d


UNMAPPED_PERIPHERAL = r"""
#include "pmsis.h"
int main(void) {
    printf("before\n");
    /* a word in the cluster's peripheral space that no device decodes: a load access fault (no handler) */
    return *(volatile int *)0x10204FF0;
}
"""


def _run_both_ways(elf, monkeypatch, **kws):
    """The run of `elf` on a one-core cluster as pulpsim runs it (run_alone, handing over to run) and with every
    slice through run, each without and with a trace: four (result or error message, trace) pairs."""
    outcomes = []
    for entry in ("alone", "general"):
        if entry == "general":
            monkeypatch.setattr(engine, "run_alone", engine.run)
        for trace in (None, io.StringIO()):
            try:
                res = _comparable(pulpsim.run(elf, cores=1, trace=trace, **kws))
            except pulpsim.GuestError as exc:
                res = str(exc)
            outcomes.append((res, trace.getvalue() if trace is not None else None))
    monkeypatch.undo()
    return outcomes


@pytest.mark.parametrize("program", ["dma-then-compute", "double-buffered", "team-barrier-counters",
                                     "unmapped-peripheral"])
def test_a_one_core_run_is_the_same_through_the_cluster_scheduler(program, monkeypatch):
    """A one-core cluster runs in run_alone, which hands over to run whenever the DMA has to move data or the core
    reaches a peripheral (or a wfi); forcing every slice through run must give the same cycles, statistics,
    output and trace (or the same error)."""
    source, defines = {"dma-then-compute": (DOUBLE_BUFFER, None), "double-buffered": (DOUBLE_BUFFER, {"OVERLAP": 1}),
                       "team-barrier-counters": (PARALLEL, None),
                       "unmapped-peripheral": (UNMAPPED_PERIPHERAL, None)}[program]
    elf = toolchain.build_c(source, name=f"one_core_{program}", defines=defines)
    handed_over = []
    run = engine.run

    def cluster_scheduler(*args):
        handed_over.append(args[-1])
        return run(*args)

    monkeypatch.setattr(engine, "run", cluster_scheduler)
    (alone, _), (alone_traced, trace_alone), (general, _), (general_traced, trace_general) = \
        _run_both_ways(elf, monkeypatch, platform="vega")
    assert handed_over  # the peripherals (and the DMA's transfers) went through the cluster's scheduler
    assert alone == alone_traced == general == general_traced
    assert trace_alone == trace_general and trace_alone
    if program == "unmapped-peripheral":
        assert alone.startswith("load from unmapped address 0x10204ff0 (core 0, pc ")
    else:
        assert alone["exit_code"] == 0
    if program in ("dma-then-compute", "double-buffered"):
        assert alone["dma"]["bytes"] == 6 * 256 * 4


def test_a_one_core_program_without_peripherals_never_needs_the_cluster_scheduler(monkeypatch):
    """run_alone ends such a run itself, so a first run compiles (and a warm one loads) only its loop, which has
    none of the peripherals' code."""
    elf = toolchain.build_c('#include <stdio.h>\nint main(void) { printf("hi\\n"); return 3; }', name="alone_hi")
    called = []
    monkeypatch.setattr(engine, "run", lambda *args: called.append(1))
    res = pulpsim.run(elf)
    assert (res.exit_code, res.stdout, called) == (3, "hi\n", [])


#: Every core, in lock-step after a barrier: FP multiply-adds (on `vega` each one arbitrated for a shared FPU)
#: over rows of the TCDM that other cores write meanwhile, word, half-word and byte loads and stores, stores to L2
#: (15 cycles on `vega` and `pulp-open`) and a critical section.
LOCK_STEP_MIX = r"""
#include "pmsis.h"
#define N 48
PI_L1 float x[8][N], y[8][N];
PI_L1 short h[8][N];
PI_L1 unsigned char b[8][N];
float out[8];
static int total;

static void body(void *arg) {
    (void)arg;
    int id = pi_core_id();
    pi_cl_team_barrier();
    float s = x[id][0], q = x[id][1], r = x[id][2], u = x[id][3];
    for (int k = 0; k < 16; k++) {   /* FP operations back to back: more requests than shared FPUs */
        s = s * 0.75f + q;
        q = q * 0.5f - r;
        r = r * 1.25f + u;
        u = u * 0.25f - s;
    }
    for (int i = 0; i < N; i++) {
        float a = x[id][i], c = y[(id + 1) & 7][i];
        s += a * c;
        q += a * a;
        r += c * c;
        y[id][i] = s * 0.5f + q;
        h[id][i] = (short)(h[id][i] + i);
        b[id][i] = (unsigned char)(b[id][i] ^ i);
    }
    out[id] = s + r + u;
    pi_cl_team_critical_enter();
    total += h[id][N - 1] + b[id][N - 1];
    pi_cl_team_critical_exit();
    pi_cl_team_barrier();
}

int main(void) {
    for (int c = 0; c < 8; c++)
        for (int i = 0; i < N; i++) {
            x[c][i] = (float)(c + 1) / (float)(i + 3);
            y[c][i] = (float)i * 0.25f - (float)c;
            h[c][i] = (short)(c * 1000 - i);
            b[c][i] = (unsigned char)(c * 31 + i);
        }
    pi_cl_team_fork(0, body, 0);
    for (int c = 0; c < 8; c++) printf("%08x\n", *(unsigned *)&out[c]);
    printf("%d\n", total);
    return 0;
}
"""


@pytest.mark.parametrize("platform", ["vega", "pulp-open", "ideal"])
def test_arbitration_winners_executed_by_the_scheduler_run_as_in_the_core_loop(platform):
    """Where the cores run in lock-step and share FPUs, the scheduler executes a winner's FP operation itself
    (pulpsim.sim.step), with the core loop's functions; a run with a trace leaves every instruction to the core
    loop. Both must give the same cycles, statistics and output (and so on the platforms without the step)."""
    elf = toolchain.build_c(LOCK_STEP_MIX, name="lock_step_mix", layout=toolchain.layout_for(platform))
    plain = pulpsim.run(elf, platform=platform)
    trace = io.StringIO()
    traced = pulpsim.run(elf, platform=platform, trace=trace)
    assert plain.exit_code == 0 and len(plain.stdout.splitlines()) == 9
    assert _comparable(plain) == _comparable(traced)
    assert len(trace.getvalue().splitlines()) == traced.instructions
    if platform == "vega":
        assert plain.stalls["fpu_contention"] > 0 and plain.stalls["tcdm_contention"] > 0


RACES = r"""
#include "pmsis.h"
PI_L1 volatile int flag, data, spins[8], got[8], lock, counter;
PI_L1 volatile int buf[64];
int src[64];
static int called;
static void target(void) { called = 1234; }
static void (*volatile fptr)(void) = (void (*)(void))0xFFFFFFF0u;  /* unmapped until core 0 sets it */

static void body(void *arg) {
    (void)arg;
    int id = pi_core_id();
#if RACES
    if (id == 0) {
        for (int i = 0; i < 40; i++) __asm__ volatile("");      /* registers only: no cycle order needed */
#if DMA
        pi_cl_dma_cmd_t cmd;                                      /* the DMA writes buf while core 2.. poll it */
        pi_cl_dma_cmd((uint32_t)src, (uint32_t)buf, sizeof src, PI_CL_DMA_DIR_EXT2LOC, &cmd);
        pi_cl_dma_cmd_wait(&cmd);
#endif
        fptr = target;
        data = 42;
        flag = 1;
    } else if (id == 1) {
        for (int i = 0; i < 100; i++) __asm__ volatile("");     /* in cycle order, fptr is set by then */
        fptr();
    } else {
        int n = 0;
#if DMA
        while (buf[63] == 0) n++;
#else
        while (flag == 0) n++;
#endif
        spins[id] = n;
        got[id] = DMA ? buf[63] : data;
    }
#endif
    for (int k = 0; k < 10; k++) {                                /* a lock on the test-and-set alias */
        while (*(volatile int *)((uint32_t)&lock + TAS_OFFSET) != 0) {}
        counter++;
        lock = 0;
    }
    pi_cl_team_barrier();
}

int main(void) {
    for (int i = 0; i < 64; i++) src[i] = i + 1;
    pi_cl_team_fork(0, body, 0);
    printf("%d %d\n", called, counter);
    for (int c = 2; c < 8; c++) printf("%d %d\n", spins[c], got[c]);
    return 0;
}
"""


def _machine_run(elf, platform, trace):
    m = Machine(get_platform(platform))
    m.load_elf(elf)
    m.run(stdout=False, trace=trace)
    return m


def _machine_state(m):
    return (m.exit_code, m.stdout, m.cyc.tolist(), m.stat.tolist(), m.opcount.tolist(), m.banks.tolist())


@pytest.mark.parametrize("races, dma", [(1, 0), (1, 1), (0, 0)])
def test_loads_ahead_of_cycle_order_that_read_too_early_are_undone(races, dma):
    """Where nothing is arbitrated (ideal), loads of memory run ahead of the other cores; a core polling a word
    that another core (or the DMA) writes later in host order but earlier in cycles, and a core calling through a
    pointer set by another core (which read ahead, is still unmapped: a fetch fault) must end as in cycle order:
    the run goes back to a checkpoint and on in order. Loads of the test-and-set alias (a lock) write: they never
    run ahead. A run with a trace takes no load ahead (the reference)."""
    elf = toolchain.build_c(RACES, name=f"load_races_{races}{dma}", layout=toolchain.layout_for("ideal"),
                            defines={"RACES": races, "DMA": dma,
                                     "TAS_OFFSET": get_platform("ideal").tcdm.tas_offset})
    ahead = _machine_run(elf, "ideal", None)
    ordered = _machine_run(elf, "ideal", io.StringIO())
    assert _machine_state(ahead) == _machine_state(ordered)
    lines = ahead.stdout.splitlines()
    if races:
        assert lines[0] == "1234 80"
        assert all(int(n) > 0 and int(g) == (64 if dma else 42) for n, g in map(str.split, lines[1:]))
        assert ahead.loads_ahead_undone >= 1 and ordered.loads_ahead_undone == 0
    else:
        assert lines[0] == "0 80" and ahead.load_keys.max() > 0


def test_loads_ahead_of_cycle_order_in_a_program_without_races_stand():
    """The lock-step program of the test above (no word written by one core while another reads it) runs with
    loads ahead on ideal and never goes back."""
    elf = toolchain.build_c(LOCK_STEP_MIX, name="lock_step_mix", layout=toolchain.layout_for("ideal"))
    ahead = _machine_run(elf, "ideal", None)
    ordered = _machine_run(elf, "ideal", io.StringIO())
    assert _machine_state(ahead) == _machine_state(ordered)
    assert ahead.load_keys.max() > 0 and ahead.loads_ahead_undone == 0
