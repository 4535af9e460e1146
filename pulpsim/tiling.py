"""Tiling of a pointwise layer between L2 and L1 with DMA, double- or single-buffered.

::

    import numpy as np
    from pulpsim import tiling

    W = np.random.rand(32, 16).astype(np.float32)      # W[K, C]
    X = np.random.rand(16, 1000).astype(np.float32)    # X[C, HW]
    r = tiling.run_tiled_pointwise(W, X, tile=64)      # double-buffered, vega, 8 cores, mm_4x4
    r.Y, r.cycles, r.compute_cycles, r.dma_wait_cycles, r.bank_conflicts
    t = tiling.sweep(C=16, K=32, HW=1000, l1_budget=24 * 1024)
    print(t.format()); t.best

``Y[K, HW] = W[K, C] @ X[C, HW]`` with X and Y in L2 (``X``, ``Y`` of
``kernels/tiling/pw_tiled.c``).  W is copied to L1 once and stays resident;
X and Y are cut into tiles of ``tile`` columns of HW (the last tile may be
narrower).  L1 use: ``nbuf x (C + K) x tile x 4 + K x C x 4`` bytes with
``nbuf`` = 2 (double-buffered) or 1 (single-buffered).

In double-buffered mode core 0 issues the L2->L1 copy of tile i+1 before all
cores compute tile i with a matmul variant (``pi_cl_team_fork``); the L1->L2
copy of Y tile i runs during the compute of tile i+1.  In single-buffered mode
each tile is loaded, computed and stored in turn.  Core 0 measures with
``mcycle`` (which also counts while it sleeps): total cycles, the forks
(compute) and the time inside DMA waits (its sleep in them plus the wait
calls' few instructions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import kernel_runner as kr
from . import toolchain
from .errors import ConfigError
from .platform import Platform, get_platform
from .result import Result

__all__ = ["TiledResult", "SweepRow", "SweepTable", "l1_bytes", "max_tile", "candidate_tiles", "schedule",
           "build_tiled_pointwise", "run_tiled_pointwise", "sweep", "plot_sweep", "tiling_dir"]

_STACKS = (0x800, 0x400)
_L1_RESERVE = 256


def tiling_dir() -> Path:
    """Directory of the tiled drivers (pw_tiled.c)."""
    return Path(__file__).resolve().parent.parent / "kernels" / "tiling"


def _platform(platform) -> Platform:
    return platform if isinstance(platform, Platform) else get_platform(platform)


def _pos_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ConfigError(f"tiling: {name} must be an integer, got {v!r}")
    if v < 1:
        raise ConfigError(f"tiling: {name} must be >= 1, got {v}")
    return int(v)


def l1_bytes(C: int, K: int, tile: int, double_buffer: bool = True) -> int:
    """L1 bytes of W plus the X and Y tile buffers."""
    nbuf = 2 if double_buffer else 1
    return nbuf * (C + K) * tile * 4 + K * C * 4


def max_tile(C: int, K: int, HW: int, l1_budget: int, double_buffer: bool = True) -> int:
    """Widest tile (<= HW) within the budget; 0 when not even one column fits."""
    nbuf = 2 if double_buffer else 1
    room = l1_budget - K * C * 4
    if room <= 0:
        return 0
    return min(HW, room // (nbuf * (C + K) * 4))


def candidate_tiles(HW: int, tmax: int, count: int = 4) -> list[int]:
    """Up to ``count`` tile widths: the widest one and halvings of it (at least 4 columns unless tmax < 4)."""
    out = []
    t = tmax
    while t >= 1 and len(out) < count:
        out.append(t)
        if t <= 4:
            break
        t = max(4, t // 2) if t // 2 >= 4 else t // 2
    return sorted(set(out))


def schedule(HW: int, tile: int, double_buffer: bool = True) -> list[tuple]:
    """The driver's sequence of steps as tuples: ('load'|'wait_load'|'compute'|'store'|'wait_store', tile, col0, width).

    This mirrors ``pw_tiled.c`` (for documentation and tests); the C driver is the implementation.
    """
    nt = -(-HW // tile)
    tw = [(i, i * tile, min(tile, HW - i * tile)) for i in range(nt)]
    steps = []
    if double_buffer:
        steps.append(("load",) + tw[0])
        for i in range(nt):
            steps.append(("wait_load",) + tw[i])
            if i + 1 < nt:
                steps.append(("load",) + tw[i + 1])
            if i >= 2:
                steps.append(("wait_store",) + tw[i - 2])
            steps.append(("compute",) + tw[i])
            steps.append(("store",) + tw[i])
        for i in range(max(0, nt - 2), nt):
            steps.append(("wait_store",) + tw[i])
    else:
        for t in tw:
            steps += [("load",) + t, ("wait_load",) + t, ("compute",) + t, ("store",) + t, ("wait_store",) + t]
    return steps


def _layout(plat: Platform, nbytes: int) -> toolchain.Layout:
    base = toolchain.layout_for(plat)
    for stack in _STACKS:
        if nbytes <= plat.tcdm.size - base.num_cores * stack - _L1_RESERVE:
            return dataclasses.replace(base, stack_size_per_core=stack)
    avail = plat.tcdm.size - base.num_cores * _STACKS[-1] - _L1_RESERVE
    raise ConfigError(f"tiling: W and the tile buffers need {nbytes} bytes of L1 but platform {plat.name!r} has "
                      f"{avail} bytes free")


def _check_cores(cores, plat: Platform) -> int:
    if cores is None:
        return plat.cores
    cores = _pos_int("cores", cores)
    if cores > plat.cores:
        raise ConfigError(f"tiling: cores must be between 1 and {plat.cores} (platform {plat.name!r}), got {cores}")
    return cores


def build_tiled_pointwise(C: int, K: int, HW: int, tile: int, double_buffer: bool = True, platform="vega",
                          cores: int | None = 8, variant: str = "4x4") -> Path:
    """Build (or fetch from the cache) the driver ELF of one tiled pointwise problem."""
    C, K, HW, tile = (_pos_int(n, v) for n, v in (("C", C), ("K", K), ("HW", HW), ("tile", tile)))
    if tile > HW:
        raise ConfigError(f"tiling: tile ({tile}) is wider than HW ({HW})")
    if variant not in kr.VARIANTS:
        raise ConfigError(f"tiling: unknown variant {variant!r}; expected one of {', '.join(kr.VARIANTS)}")
    plat = _platform(platform)
    cores = _check_cores(cores, plat)
    layout = _layout(plat, l1_bytes(C, K, tile, double_buffer) + 64)
    kd = kr.kernel_dir()
    defines = {"PW_C": C, "PW_K": K, "PW_HW": HW, "PW_TILE": tile, "PW_DOUBLE": int(bool(double_buffer)),
               "PW_CORES": cores, "PW_MM": f"mm_{variant}"}
    return toolchain.build([tiling_dir() / "pw_tiled.c", kd / "matmul.c", kd / "mm_asm.S"], opt=kr.OPT,
                           cflags=kr.CONTRACT_FLAGS, include_dirs=[kd], defines=defines, layout=layout, pmsis=True)


@dataclass
class TiledResult:
    """Outcome of :func:`run_tiled_pointwise`."""

    Y: np.ndarray               #: (K, HW) float32, read back from L2
    tile: int
    double_buffer: bool
    tiles: int                  #: number of tiles
    cycles: int                 #: core 0: whole schedule, from the W load to the last store
    compute_cycles: int         #: core 0: inside the forks
    dma_wait_cycles: int        #: core 0: inside DMA waits
    bank_conflicts: int         #: TCDM bank conflicts (whole run)
    dma_delayed_beats: int      #: DMA beats delayed by bank conflicts
    core0_asleep: int           #: core 0's clock-gated cycles (whole run: DMA waits and fork joins)
    l1_bytes: int
    platform: str
    cores: int
    variant: str
    result: Result | None = field(default=None, repr=False)

    @property
    def mode(self) -> str:
        return "double" if self.double_buffer else "single"

    C: int = 0                  #: input channels (the matmul's inner dimension)

    @property
    def macs(self) -> int:
        K, HW = self.Y.shape
        return K * HW * self.C

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0


def _as_matrix(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - any conversion failure is a bad argument
        raise ConfigError(f"tiling: {name} is not an array: {e}") from None
    if arr.ndim != 2 or arr.dtype.kind not in "fiub" or 0 in arr.shape:
        raise ConfigError(f"tiling: {name} must be a non-empty numeric 2-D matrix, got shape {arr.shape}, "
                          f"dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype="<f4")
    if not np.array_equal(np.isfinite(out), np.isfinite(arr)):
        raise ConfigError(f"tiling: {name} has values out of float32 range")
    return out


def tolerance(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Elementwise bound on |Y - W@X| (the matmul tests' bound: C*eps32*(|W|@|X|))."""
    W64, X64 = W.astype(np.float64), X.astype(np.float64)
    return W.shape[1] * np.finfo(np.float32).eps * (np.abs(W64) @ np.abs(X64))


def run_tiled_pointwise(W, X, tile: int, double_buffer: bool = True, platform="vega", cores: int | None = 8,
                        variant: str = "4x4", *, l1_budget: int | None = None,
                        max_cycles: int | None = None) -> TiledResult:
    """Compute ``W @ X`` (W[K, C], X[C, HW]) tile by tile on the simulated cluster.

    ``l1_budget`` (bytes), if given, must hold W and the tile buffers.
    """
    W = _as_matrix(W, "W")
    X = _as_matrix(X, "X")
    K, C = W.shape
    C2, HW = X.shape
    if C != C2:
        raise ConfigError(f"tiling: W is {K}x{C} but X is {C2}x{HW}")
    tile = _pos_int("tile", tile)
    need = l1_bytes(C, K, tile, double_buffer)
    if l1_budget is not None and need > l1_budget:
        raise ConfigError(f"tiling: tile {tile} needs {need} bytes of L1, over the budget of {l1_budget}")
    plat = _platform(platform)
    cores = _check_cores(cores, plat)
    elf = build_tiled_pointwise(C, K, HW, tile, double_buffer, plat, cores, variant)
    machine, syms, res = kr.run_driver(elf, plat, {"X": X, "W_l2": W}, what="tiled pointwise",
                                       max_cycles=max_cycles)
    Y = kr.read_floats(machine, syms["Y"], (K, HW))

    def word(name):
        return int(np.frombuffer(machine.read_bytes(syms[name], 4), dtype="<u4")[0])

    r = TiledResult(Y=Y, tile=tile, double_buffer=bool(double_buffer), tiles=word("pw_tiles"),
                    cycles=word("pw_total"), compute_cycles=word("pw_compute"), dma_wait_cycles=word("pw_dma_wait"),
                    bank_conflicts=sum(b["conflicts"] for b in res.banks),
                    dma_delayed_beats=int(res.dma.get("delayed_beats", 0)), core0_asleep=res.cores[0].asleep,
                    l1_bytes=need, platform=plat.name, cores=cores, variant=variant, result=res, C=C)
    return r


@dataclass
class SweepRow:
    tile: int
    mode: str                   #: "double" or "single"
    tiles: int
    l1_bytes: int
    cycles: int
    compute_cycles: int
    dma_wait_cycles: int
    bank_conflicts: int
    ok: bool                    #: result within tolerance of numpy
    best: bool = False


@dataclass
class SweepTable:
    C: int
    K: int
    HW: int
    l1_budget: int
    platform: str
    cores: int
    variant: str
    rows: list[SweepRow]

    @property
    def best(self) -> SweepRow:
        return next(r for r in self.rows if r.best)

    def format(self) -> str:
        lines = [f"pointwise Y[{self.K},{self.HW}] = W[{self.K},{self.C}] @ X[{self.C},{self.HW}], L1 budget "
                 f"{self.l1_budget} B, {self.platform}, {self.cores} cores, mm_{self.variant}",
                 f"{'tile':>6} {'mode':>6} {'tiles':>5} {'L1 bytes':>9} {'cycles':>10} {'compute':>10} "
                 f"{'DMA wait':>10} {'wait %':>6} {'conflicts':>9} {'check':>5}"]
        for r in self.rows:
            pct = 100.0 * r.dma_wait_cycles / r.cycles if r.cycles else 0.0
            lines.append(f"{r.tile:>6} {r.mode:>6} {r.tiles:>5} {r.l1_bytes:>9} {r.cycles:>10} "
                         f"{r.compute_cycles:>10} {r.dma_wait_cycles:>10} {pct:>6.1f} {r.bank_conflicts:>9} "
                         f"{'ok' if r.ok else 'BAD':>5}" + ("  <- best" if r.best else ""))
        b = self.best
        lines.append(f"best: tile {b.tile}, {b.mode}-buffered, {b.cycles} cycles")
        return "\n".join(lines)


def sweep(C: int, K: int, HW: int, l1_budget: int, platform="vega", cores: int | None = 8, variant: str = "4x4",
          *, tiles: list[int] | None = None, count: int = 4, seed: int = 0) -> SweepTable:
    """Run the layer for candidate tile widths in both modes under ``l1_budget`` bytes of L1.

    Candidates (unless ``tiles`` is given): per mode the widest tile that fits and up to ``count - 1``
    halvings of it.  Raises ConfigError when not even a one-column tile fits the budget (single-buffered).
    """
    C, K, HW, l1_budget = (_pos_int(n, v) for n, v in (("C", C), ("K", K), ("HW", HW), ("l1_budget", l1_budget)))
    plat = _platform(platform)
    cores = _check_cores(cores, plat)
    tmax = {db: max_tile(C, K, HW, l1_budget, db) for db in (True, False)}
    if tmax[False] < 1:
        raise ConfigError(f"tiling: L1 budget of {l1_budget} bytes is too small: W alone needs {K * C * 4} bytes "
                          f"and one column of X and Y {(C + K) * 4} more")
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((K, C)).astype(np.float32)
    X = rng.standard_normal((C, HW)).astype(np.float32)
    ref = W.astype(np.float64) @ X.astype(np.float64)
    tol = tolerance(W, X)
    rows = []
    for db in (True, False):
        cands = [t for t in tiles if 1 <= t <= tmax[db]] if tiles is not None else candidate_tiles(HW, tmax[db],
                                                                                                 count)
        for t in cands:
            r = run_tiled_pointwise(W, X, t, db, plat, cores, variant, l1_budget=l1_budget)
            ok = bool(np.all(np.abs(r.Y.astype(np.float64) - ref) <= tol))
            rows.append(SweepRow(tile=t, mode=r.mode, tiles=r.tiles, l1_bytes=r.l1_bytes, cycles=r.cycles,
                                 compute_cycles=r.compute_cycles, dma_wait_cycles=r.dma_wait_cycles,
                                 bank_conflicts=r.bank_conflicts, ok=ok))
    if not rows:
        raise ConfigError(f"tiling: none of the tiles {tiles} fits the L1 budget of {l1_budget} bytes")
    good = [r for r in rows if r.ok] or rows
    min(good, key=lambda r: r.cycles).best = True
    return SweepTable(C=C, K=K, HW=HW, l1_budget=l1_budget, platform=plat.name, cores=cores, variant=variant,
                      rows=rows)


def plot_sweep(table: SweepTable, path) -> Path:
    """Bar chart of the sweep: per (tile, mode) compute, DMA wait and other cycles, stacked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = table.rows
    labels = [f"{r.tile}\n{r.mode}" + ("\n(best)" if r.best else "") for r in rows]
    comp = np.array([r.compute_cycles for r in rows])
    wait = np.array([r.dma_wait_cycles for r in rows])
    other = np.array([max(0, r.cycles - r.compute_cycles - r.dma_wait_cycles) for r in rows])
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4.5))
    ax.bar(x, comp, label="compute (forks)")
    ax.bar(x, wait, bottom=comp, label="DMA wait (core 0)")
    ax.bar(x, other, bottom=comp + wait, label="other")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("cycles")
    ax.set_title(f"pointwise C={table.C} K={table.K} HW={table.HW}, L1 {table.l1_budget} B, {table.platform}")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
