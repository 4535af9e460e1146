"""The engine's units: the bit-mask helpers of the scheduler and arbiter, and the one-core loop (run_alone) against
the cluster's scheduler (run), which must give the same run."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st
from numba import njit

import pulpsim
from pulpsim import toolchain
from pulpsim.sim import engine
from pulpsim.sim.bits import bit_count, lowest_bit

from test_cluster_programs import DOUBLE_BUFFER


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


def _comparable(res) -> dict:
    d = res.to_dict()
    d.pop("wall_seconds")
    return d


@pytest.mark.parametrize("overlap", [False, True], ids=["dma-then-compute", "double-buffered"])
def test_a_one_core_run_is_the_same_through_the_cluster_scheduler(overlap, monkeypatch):
    """A one-core cluster runs in run_alone, which hands over to run whenever the DMA has to move data; forcing
    every slice through run must give the same cycles, statistics, output and trace."""
    elf = toolchain.build_c(DOUBLE_BUFFER, name="double_buffer", defines={"OVERLAP": 1} if overlap else None)
    trace_alone = io.StringIO()
    alone = pulpsim.run(elf, platform="vega", cores=1, trace=trace_alone)
    handed_over = []

    def cluster_scheduler(*args):
        handed_over.append(args[-1])
        return run(*args)

    run = engine.run
    monkeypatch.setattr(engine, "run", cluster_scheduler)
    plain = pulpsim.run(elf, platform="vega", cores=1)
    assert handed_over  # the DMA transfers went through the cluster's scheduler
    handed_over.clear()
    monkeypatch.setattr(engine, "run_alone", cluster_scheduler)
    trace_general = io.StringIO()
    general = pulpsim.run(elf, platform="vega", cores=1, trace=trace_general)
    assert alone.exit_code == 0 and alone.dma["bytes"] == 6 * 256 * 4
    assert _comparable(alone) == _comparable(general) == _comparable(plain)
    assert trace_alone.getvalue() == trace_general.getvalue() and trace_alone.getvalue()


def test_a_one_core_program_without_dma_never_needs_the_cluster_scheduler(monkeypatch):
    """run_alone ends such a run itself, so a first run compiles (and a warm one loads) only its loop."""
    elf = toolchain.build_c('#include <stdio.h>\nint main(void) { printf("hi\\n"); return 3; }', name="alone_hi")
    called = []
    monkeypatch.setattr(engine, "run", lambda *args: called.append(1))
    res = pulpsim.run(elf)
    assert (res.exit_code, res.stdout, called) == (3, "hi\n", [])
