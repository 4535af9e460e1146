"""--timeline (Chrome trace-event JSON) and plot-banks."""

from __future__ import annotations

import json
import subprocess
import sys

import pulpsim
from pulpsim import toolchain
from spmd import spmd_elf
from test_end_of_run import spinning
from test_event_unit import BARRIER_BODY, BARRIER_SETUP, dma_elf


def load_events(path):
    data = json.loads(path.read_text())
    return [e for e in data["traceEvents"] if e["ph"] == "X"]


def test_timeline_shows_sleep_and_dma(tmp_path):
    out = tmp_path / "dma.json"
    res = pulpsim.run(dma_elf(), platform="vega", cores=1, timeline=out)
    events = load_events(out)
    dma = [e for e in events if e["cat"] == "dma"]
    assert len(dma) == 1 and dma[0]["dur"] == 64 // 8 and dma[0]["args"]["bytes"] == 64
    core0 = [e for e in events if e["pid"] == 0 and e["tid"] == 0]
    asleep = [e for e in core0 if e["name"] == "asleep"]
    assert sum(e["dur"] for e in asleep) == res.cores[0].asleep > 0
    # the core's intervals tile its time without gaps or overlaps
    core0.sort(key=lambda e: e["ts"])
    for a, b in zip(core0, core0[1:]):
        assert a["ts"] + a["dur"] == b["ts"]
    assert core0[-1]["ts"] + core0[-1]["dur"] == res.cores[0].cycles


def test_timeline_shows_cores_asleep_in_wfi_until_the_exit(tmp_path):
    # core 1 parks in wfi for ever; core 0 counts down 3000 iterations and ends the run
    out = tmp_path / "wfi.json"
    res = pulpsim.run(toolchain.build_asm(spinning(3000).replace("3:  j     3b", "3:  wfi"), runtime=False,
                                          name="parked_wfi"), platform="vega", cores=2, timeline=out)
    core1 = sorted((e for e in load_events(out) if e["pid"] == 0 and e["tid"] == 1), key=lambda e: e["ts"])
    assert core1[-1]["name"] == "asleep" and core1[-1]["ts"] + core1[-1]["dur"] == res.cycles
    assert sum(e["dur"] for e in core1 if e["name"] == "asleep") == res.cores[1].asleep > 11_000


def test_timeline_barrier_sleep_per_core(tmp_path):
    setup, body = BARRIER_SETUP, BARRIER_BODY
    out = tmp_path / "barrier.json"
    res = pulpsim.run(spmd_elf(setup, body, name="barrier"), platform="vega", timeline=out)
    events = load_events(out)
    for i in range(7):  # cores that waited at the barrier (core 7 arrived last)
        asleep = sum(e["dur"] for e in events if e["tid"] == i and e["pid"] == 0 and e["name"] == "asleep")
        assert asleep == 31 - 4 * i == res.cores[i].asleep


def test_plot_banks_cli(tmp_path):
    png = tmp_path / "banks.png"
    proc = subprocess.run([sys.executable, "-m", "pulpsim", "plot-banks", str(dma_elf()), "--cores", "1",
                           "-o", str(png)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "16 banks" in proc.stdout
