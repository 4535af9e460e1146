"""Sweeps of tile shapes and DMA buffering modes for a tiled layer step (``pulpsim tiling``).

::

    from pulpsim import tiling

    t = tiling.sweep("pointwise", "fw", {"C": 16, "K": 32, "H": 16, "W": 32}, l1_budget=24 * 1024)
    print(t.format())           # one row per (tiles, mode): cycles, compute, DMA wait, check
    t.best                      # the fastest correct row
    tiling.plot_sweep(t, "tiles.png")

For each buffering mode (double, single) the ``count`` tilings the cost model of
:mod:`pulpsim.tiled` ranks cheapest under the budget are run on the simulated cluster with seeded
random data (shapes as ``pulpsim kernel``: :data:`pulpsim.kernel_cli.SHAPE_ARGS`); every result is
checked against the numpy reference (:func:`pulpsim.tiled.within_bound`), and the fastest correct
run is marked best.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import kernel_cli, tiled
from .kernel_runner import _platform
from ..errors import ConfigError

__all__ = ["SweepRow", "SweepTable", "sweep", "plot_sweep"]


@dataclass
class SweepRow:
    tiles: dict
    mode: str                   #: "double" or "single"
    steps: int
    l1_bytes: int
    cycles: int
    compute_cycles: int
    dma_wait_cycles: int
    bank_conflicts: int
    macs: int
    ok: bool                    #: result within the error bound of the numpy reference
    best: bool = False

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.tiles.items())


@dataclass
class SweepTable:
    layer: str
    step: str
    dims: dict
    l1_budget: int
    platform: str
    cores: int
    rows: list[SweepRow]

    @property
    def best(self) -> SweepRow:
        return next(r for r in self.rows if r.best)

    def format(self) -> str:
        shape = " ".join(f"{k}={v}" for k, v in self.dims.items())
        lines = [f"tiled {self.layer}/{self.step} {shape}, L1 budget {self.l1_budget} B, {self.platform}, "
                 f"{self.cores} cores",
                 f"{'tiles':>22} {'mode':>6} {'steps':>5} {'L1 bytes':>9} {'cycles':>10} {'compute':>10} "
                 f"{'DMA wait':>10} {'wait %':>6} {'MAC/cyc':>7} {'conflicts':>9} {'check':>5}"]
        for r in self.rows:
            pct = 100.0 * r.dma_wait_cycles / r.cycles if r.cycles else 0.0
            mpc = f"{r.macs / r.cycles:.3f}" if r.macs and r.cycles else "-"
            lines.append(f"{r.label:>22} {r.mode:>6} {r.steps:>5} {r.l1_bytes:>9} {r.cycles:>10} "
                         f"{r.compute_cycles:>10} {r.dma_wait_cycles:>10} {pct:>6.1f} {mpc:>7} {r.bank_conflicts:>9} "
                         f"{'ok' if r.ok else 'BAD':>5}" + ("  <- best" if r.best else ""))
        b = self.best
        lines.append(f"best: {b.label}, {b.mode}-buffered, {b.cycles} cycles")
        return "\n".join(lines)


def sweep(layer: str, step: str, dims: dict, l1_budget: int, platform="vega", cores: int | None = 8, *,
          stride: int = 1, window: int | None = None, count: int = 4, seed: int = 0) -> SweepTable:
    """Run the ``count`` best-ranked tilings per buffering mode of one step under ``l1_budget`` bytes.

    ``dims`` names the shape values of :data:`pulpsim.kernel_cli.SHAPE_ARGS` for the layer (e.g.
    ``{"C": 16, "K": 32, "H": 8, "W": 8}`` for pointwise).  Raises ConfigError for an unknown layer or
    step, a bad shape, or a budget too small for any tile.
    """
    if layer not in tiled.TILED_LAYERS:
        raise ConfigError(f"tiling: layer {layer!r} is not tiled; tiled layers: {', '.join(tiled.TILED_LAYERS)}")
    if step not in tiled.TILED_LAYERS[layer]:
        raise ConfigError(f"tiling: layer {layer!r} has no step {step!r}; expected one of "
                          f"{', '.join(tiled.TILED_LAYERS[layer])}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"tiling: count must be a positive integer, got {count!r}")
    if stride not in (1, 2):
        raise ConfigError(f"tiling: stride must be 1 or 2, got {stride!r}")
    dims = kernel_cli.checked_dims(layer, list(dims.values()) if isinstance(dims, dict) else list(dims))
    inputs, params, _ = kernel_cli.random_inputs(layer, step, dims, stride, np.random.default_rng(seed), window)
    plat = _platform(platform)
    rows = []
    for double in (True, False):
        ranked = tiled.rank_tilings(layer, step, inputs, l1_budget, double_buffer=double,
                                    cores=cores or plat.cores, platform=plat, **params)
        for tiles, _, _ in ranked[:count]:
            r = tiled.run_tiled(layer, step, inputs, plat, cores, double_buffer=double, l1_budget=l1_budget,
                                tiles=tiles, **params)
            ok = tiled.within_bound(layer, step, inputs, r.outputs, **params)
            rows.append(SweepRow(tiles=r.tiles, mode="double" if double else "single", steps=r.steps,
                                 l1_bytes=r.plan.l1_bytes, cycles=r.cycles, compute_cycles=r.compute_cycles,
                                 dma_wait_cycles=r.dma_wait_cycles, bank_conflicts=r.bank_conflicts, macs=r.macs,
                                 ok=ok))
    if not rows:
        # No tiling fits: let the planner say how much the smallest tile needs.
        tiled.plan_tiles(layer, step, inputs, l1_budget, double_buffer=False, cores=cores or plat.cores,
                         platform=plat, **params)
    good = [r for r in rows if r.ok] or rows
    min(good, key=lambda r: r.cycles).best = True
    return SweepTable(layer=layer, step=step, dims=dims, l1_budget=int(l1_budget), platform=plat.name,
                      cores=cores or plat.cores, rows=rows)


def plot_sweep(table: SweepTable, path) -> Path:
    """Bar chart of a sweep: per (tiles, mode) the compute, DMA wait and other cycles, stacked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = table.rows
    labels = [f"{r.label.replace(' ', chr(10))}\n{r.mode}" + ("\n(best)" if r.best else "") for r in rows]
    comp = np.array([r.compute_cycles for r in rows])
    wait = np.array([r.dma_wait_cycles for r in rows])
    other = np.array([max(0, r.cycles - r.compute_cycles - r.dma_wait_cycles) for r in rows])
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 5))
    ax.bar(x, comp, label="compute (forks)")
    ax.bar(x, wait, bottom=comp, label="DMA wait (core 0)")
    ax.bar(x, other, bottom=comp + wait, label="other")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("cycles")
    shape = " ".join(f"{k}={v}" for k, v in table.dims.items())
    ax.set_title(f"{table.layer}/{table.step} {shape}, L1 {table.l1_budget} B, {table.platform}")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
