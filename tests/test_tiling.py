"""Tiled pointwise layer (pulpsim.tiling, kernels/tiling/pw_tiled.c): X/Y in L2, tiles in L1 through DMA."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pulpsim import tiling
from pulpsim.errors import ConfigError


def data(C, K, HW, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((K, C)).astype(np.float32), rng.standard_normal((C, HW)).astype(np.float32)


def assert_close(Y, W, X):
    ref = W.astype(np.float64) @ X.astype(np.float64)
    assert Y.shape == ref.shape
    assert np.all(np.abs(Y.astype(np.float64) - ref) <= tiling.tolerance(W, X))


@pytest.mark.parametrize("tile", [1, 7, 16, 50])
@pytest.mark.parametrize("double_buffer", [True, False])
def test_matches_numpy_for_several_tiles(tile, double_buffer):
    W, X = data(C=6, K=9, HW=50)           # 50 is not a multiple of 7 or 16
    r = tiling.run_tiled_pointwise(W, X, tile, double_buffer=double_buffer)
    assert_close(r.Y, W, X)
    assert r.tiles == -(-50 // tile)
    assert r.cycles >= r.compute_cycles + r.dma_wait_cycles > 0
    assert r.l1_bytes == tiling.l1_bytes(6, 9, tile, double_buffer)
    assert r.result.dma["bytes"] == 4 * (9 * 6 + 6 * 50 + 9 * 50)   # W once, X in, Y out


@pytest.mark.parametrize("platform,cores,variant", [("pulp-open", 8, "asm_4x4"), ("vega", 3, "naive"),
                                                    ("vega", 1, "2x4")])
def test_other_platforms_variants_and_teams(platform, cores, variant):
    W, X = data(C=13, K=11, HW=37, seed=1)
    r = tiling.run_tiled_pointwise(W, X, 10, platform=platform, cores=cores, variant=variant)
    assert_close(r.Y, W, X)
    assert r.tiles == 4


def test_double_buffering_hides_the_dma():
    """Acceptance: a layer of several tiles waits less than half as long for the DMA double-buffered."""
    W, X = data(C=16, K=32, HW=512, seed=2)
    budget = 40 * 1024
    tile = tiling.max_tile(16, 32, 512, budget, double_buffer=True)
    assert 1 <= tile < 512 // 3                       # several tiles
    db = tiling.run_tiled_pointwise(W, X, tile, True, l1_budget=budget)
    sb = tiling.run_tiled_pointwise(W, X, tile, False, l1_budget=budget)
    assert_close(db.Y, W, X)
    assert_close(sb.Y, W, X)
    assert db.tiles == sb.tiles >= 4
    print(f"\ntile {tile} x {db.tiles}: DMA wait double {db.dma_wait_cycles} vs single {sb.dma_wait_cycles}; "
          f"cycles {db.cycles} vs {sb.cycles}")
    assert db.dma_wait_cycles < 0.5 * sb.dma_wait_cycles
    assert db.cycles < sb.cycles
    # the measured waits are core 0's sleep in them (plus the wait calls' instructions)
    assert sb.dma_wait_cycles <= sb.core0_asleep + 40 * (2 * sb.tiles + 1)


def test_budget_arithmetic_and_schedule():
    assert tiling.l1_bytes(4, 8, 10, True) == 2 * 12 * 10 * 4 + 32 * 4
    assert tiling.l1_bytes(4, 8, 10, False) == 12 * 10 * 4 + 32 * 4
    assert tiling.max_tile(4, 8, 1000, 2 * 12 * 10 * 4 + 128, True) == 10
    assert tiling.max_tile(4, 8, 5, 10**6, True) == 5
    assert tiling.max_tile(4, 8, 100, 128, True) == 0
    steps = tiling.schedule(10, 4, True)
    assert steps[0] == ("load", 0, 0, 4)
    loads = [s for s in steps if s[0] == "load"]
    assert [s[3] for s in loads] == [4, 4, 2]
    # the load of tile i+1 is issued before tile i is computed
    assert steps.index(("load", 1, 4, 4)) < steps.index(("compute", 0, 0, 4))
    single = tiling.schedule(10, 4, False)
    assert single.index(("wait_store", 0, 0, 4)) < single.index(("load", 1, 4, 4))


def test_too_small_budget_is_a_config_error():
    with pytest.raises(ConfigError, match="too small"):
        tiling.sweep(16, 32, 256, 16 * 32 * 4)          # W alone fills it
    with pytest.raises(ConfigError, match="budget"):
        W, X = data(4, 4, 64)
        tiling.run_tiled_pointwise(W, X, 64, l1_budget=1000)
    with pytest.raises(ConfigError, match="L1"):           # beyond the platform's TCDM
        W, X = data(64, 64, 512)
        tiling.run_tiled_pointwise(W, X, 512, platform="pulp-open")
    with pytest.raises(ConfigError):
        W, X = data(4, 4, 16)
        tiling.run_tiled_pointwise(W, X[:3], 4)
    with pytest.raises(ConfigError):
        W, X = data(4, 4, 16)
        tiling.run_tiled_pointwise(W, X, 0)


def test_sweep_marks_the_fastest_correct_choice():
    t = tiling.sweep(8, 8, 96, 8 * 8 * 4 + 2 * 16 * 32 * 4, count=2)
    assert {r.mode for r in t.rows} == {"double", "single"}
    assert all(r.ok for r in t.rows)
    assert sum(r.best for r in t.rows) == 1
    assert t.best.cycles == min(r.cycles for r in t.rows)
    text = t.format()
    assert "<- best" in text and "DMA wait" in text
    for r in t.rows:
        assert r.l1_bytes <= t.l1_budget


def test_cli_tiling_pointwise_with_plot(tmp_path):
    png = tmp_path / "sweep.png"
    p = subprocess.run([sys.executable, "-m", "pulpsim", "tiling", "pointwise", "--shape", "8", "8", "64",
                        "--l1", str(8 * 8 * 4 + 2 * 16 * 16 * 4), "--plot", str(png)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "<- best" in p.stdout and "double" in p.stdout and "single" in p.stdout
    assert png.stat().st_size > 1000


def test_cli_tiling_too_small_budget():
    p = subprocess.run([sys.executable, "-m", "pulpsim", "tiling", "pointwise", "--shape", "8", "8", "64",
                        "--l1", "100"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 251
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("pulpsim: error: ") and len(p.stderr.strip().splitlines()) == 1
