"""Tile-shape and buffering sweeps (pulpsim.workloads.tiling, `pulpsim tiling`) over the tiled executor."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pulpsim.workloads import tiling
from pulpsim.errors import ConfigError


def test_sweep_runs_both_modes_checks_and_marks_the_fastest():
    t = tiling.sweep("pointwise", "fw", {"C": 8, "K": 12, "H": 4, "W": 10}, l1_budget=2048, count=2)
    assert {r.mode for r in t.rows} == {"double", "single"}
    assert len(t.rows) == 4
    assert all(r.ok for r in t.rows)
    assert sum(r.best for r in t.rows) == 1
    assert t.best.cycles == min(r.cycles for r in t.rows)
    assert all(r.l1_bytes <= 2048 and r.steps >= 1 for r in t.rows)
    assert all(r.macs == 8 * 12 * 40 for r in t.rows)
    text = t.format()
    assert "<- best" in text and "DMA wait" in text and "MAC/cyc" in text


@pytest.mark.parametrize("layer,step,dims,kw", [
    ("depthwise", "ig", {"C": 9, "H": 6, "W": 6}, {"stride": 2}),
    ("linear", "wg", {"IN": 30, "OUT": 7}, {}),
    ("avgpool", "bw", {"C": 9, "H": 3, "W": 3}, {}),
])
def test_sweep_other_layers(layer, step, dims, kw):
    t = tiling.sweep(layer, step, dims, l1_budget=1024, count=1, **kw)
    assert len(t.rows) == 2 and all(r.ok for r in t.rows)


def test_sweep_errors():
    with pytest.raises(ConfigError, match="too small"):
        tiling.sweep("pointwise", "fw", {"C": 8, "K": 8, "H": 8, "W": 8}, l1_budget=8)
    with pytest.raises(ConfigError, match="not tiled"):
        tiling.sweep("conv2d", "fw", {"C": 8, "K": 8, "H": 8, "W": 8}, l1_budget=4096)
    with pytest.raises(ConfigError, match="no step"):
        tiling.sweep("relu", "wg", {"C": 8, "H": 8, "W": 8}, l1_budget=4096)
    with pytest.raises(ConfigError, match="takes 4 values"):
        tiling.sweep("pointwise", "fw", {"C": 8, "K": 8}, l1_budget=4096)


def test_cli_tiling_with_plot(tmp_path):
    png = tmp_path / "sweep.png"
    p = subprocess.run([sys.executable, "-m", "pulpsim", "tiling", "pointwise", "--shape", "8", "8", "4", "16",
                        "--l1", "2048", "--count", "2", "--plot", str(png)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "<- best" in p.stdout and "double" in p.stdout and "single" in p.stdout
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("args", [
    ["pointwise", "--shape", "8", "8", "8", "8", "--l1", "100"],          # no tile fits
    ["pointwise", "--shape", "8", "8", "64", "--l1", "4096"],            # wrong number of shape values
    ["depthwise", "--shape", "8", "8", "8", "--l1", "4096", "--step", "bw"],  # unknown step
    ["depthwise", "--shape", "8", "8", "8", "--l1", "4096", "--stride", "3"],
])
def test_cli_tiling_bad_requests_are_one_line_errors(args):
    p = subprocess.run([sys.executable, "-m", "pulpsim", "tiling", *args], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 251, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("pulpsim: error: ") and len(p.stderr.strip().splitlines()) == 1


def test_cli_unknown_layer_is_a_usage_error():
    p = subprocess.run([sys.executable, "-m", "pulpsim", "tiling", "conv3d", "--shape", "1", "--l1", "9"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "Traceback" not in p.stderr


def test_cli_tiling_platform_overrides():
    """A layer too big for the preset's L2 runs once --set enlarges it."""
    args = [sys.executable, "-m", "pulpsim", "tiling", "pointwise", "--shape", "512", "1024", "2", "2",
            "--l1", "60000", "--count", "1"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert p.returncode == 251 and "l2.size" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = subprocess.run(args + ["--set", "l2.size=0x400000"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "<- best" in p.stdout
