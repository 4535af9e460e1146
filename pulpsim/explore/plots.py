"""Plots of a sweep's table (matplotlib, each written as PNG and SVG).

:func:`standard_plots` draws the ones the table's columns allow: speed-up vs cores (when ``cores``
varies), MAC/cycle vs banks (when ``tcdm.banks`` varies), the per-bank conflict heatmap, the stall
breakdown, tiling choice vs cycles (tiled workloads), and Pareto fronts of cycles vs energy and vs L1
size (when ``tcdm.size`` varies).  :func:`plot_xy` draws any column against another, one line per
value of a third (``pulpsim sweep plot RESULTS --x K --y K --hue K``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .table import _BANK, STAT_COLUMNS, Table

__all__ = ["standard_plots", "plot_xy", "speedup_vs_cores", "mac_per_cycle_vs_banks", "bank_heatmap",
           "stall_breakdown", "tiling_vs_cycles", "pareto"]

#: Columns that are neither parameters nor statistics (a point's identity and bookkeeping).
_NOT_PARAMS = {"id", "status", "error", "command", "wall_s", "kind"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> list[Path]:
    """The figure as ``path``.png and ``path``.svg."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "svg"):
        p = path.with_suffix(f".{ext}")
        fig.savefig(p, dpi=110, bbox_inches="tight")
        out.append(p)
    _plt().close(fig)
    return out


def _params(rows: list[dict]) -> list[str]:
    """Parameter columns that take more than one value among ``rows`` (the workload counts as one)."""
    stats = set(STAT_COLUMNS)
    keys = []
    for r in rows:
        for k in r:
            if k not in keys and k not in stats and k not in _NOT_PARAMS and not k.startswith(("bank", "stall_")):
                keys.append(k)
    return [k for k in keys if len({repr(r.get(k)) for r in rows}) > 1]


def _label(row: dict, keys: list[str]) -> str:
    """``workload, key=value, ...`` of the ``keys`` the row has (a parameter a point leaves at the
    platform's value is left out)."""
    return ", ".join(str(row.get(k)) if k == "workload" else f"{k}={row.get(k)}" for k in keys
                     if row.get(k) is not None) or row["workload"]


def _groups(rows: list[dict], x: str) -> dict[str, list[dict]]:
    """Rows grouped by every varying parameter except ``x``, each group sorted by ``x``."""
    keys = [k for k in _params(rows) if k != x]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_label(r, keys), []).append(r)
    return {k: sorted(v, key=lambda r: _sortable(r.get(x))) for k, v in groups.items()}


def _sortable(v):
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def speedup_vs_cores(rows: list[dict], path: Path) -> list[Path]:
    """Speed-up over the fewest cores of each group (cycles at the fewest cores / cycles), with the ideal line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    top = 1
    for label, g in _groups(rows, "cores").items():
        xs = [r["cores"] for r in g]
        ax.plot(xs, [g[0]["cycles"] / r["cycles"] for r in g], "o-", label=label)
        top = max(top, max(xs) / g[0]["cores"])
    lo = min(r["cores"] for r in rows)
    ax.plot([lo, lo * top], [1, top], "k:", label="ideal")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("cores")
    ax.set_ylabel(f"speed-up over {lo} core{'s' if lo > 1 else ''}")
    ax.set_title("Speed-up vs cores")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def mac_per_cycle_vs_banks(rows: list[dict], path: Path) -> list[Path]:
    return plot_xy(Table(rows), "tcdm.banks", "mac_per_cycle", None, path, title="MAC/cycle vs TCDM banks",
                   logx=True)


def bank_heatmap(rows: list[dict], path: Path) -> list[Path]:
    """Conflicts per TCDM bank (columns) of each point (rows)."""
    import numpy as np
    plt = _plt()
    nbanks = max(int(m[1]) for r in rows for k in r if (m := _BANK.fullmatch(k))) + 1
    keys = _params(rows)
    data = np.array([[r.get(f"bank{b}_conflicts") if r.get(f"bank{b}_conflicts") is not None else np.nan
                      for b in range(nbanks)] for r in rows], float)
    fig, ax = plt.subplots(figsize=(min(14, 3 + 0.35 * nbanks), 1.2 + 0.3 * len(rows)))
    im = ax.imshow(data, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(rows)), [_label(r, keys) for r in rows], fontsize=7)
    ax.set_xlabel("TCDM bank")
    ax.set_title("Conflicts per bank (blank: no such bank)")
    fig.colorbar(im, ax=ax, label="conflicts")
    return _save(fig, path)


def stall_breakdown(rows: list[dict], path: Path) -> list[Path]:
    """Stall cycles of all cores by cause, stacked, one bar per point."""
    plt = _plt()
    causes = [k for k in rows[0] if k.startswith("stall_") and k != "stall_cycles" and any(r.get(k) for r in rows)]
    keys = _params(rows)
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(rows) + 2), 4.5))
    bottom = [0] * len(rows)
    for c in causes:
        vals = [r.get(c) or 0 for r in rows]
        ax.bar(range(len(rows)), vals, bottom=bottom, label=c[6:])
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(rows)), [_label(r, keys) for r in rows], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("stall cycles (all cores)")
    ax.set_title("Stalls by cause")
    if causes:
        ax.legend(fontsize=7)
    return _save(fig, path)


def tiling_vs_cycles(rows: list[dict], path: Path) -> list[Path]:
    """Cycles of each tiled point, labelled with the tiling the tiler chose for it."""
    plt = _plt()
    keys = _params(rows)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 4.5))
    bars = ax.bar(range(len(rows)), [r["cycles"] for r in rows], color="tab:blue")
    for b, r in zip(bars, rows):
        ax.annotate(str(r.get("tiles", "")), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                    va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(rows)), [_label(r, keys) for r in rows], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("cycles")
    ax.set_title("Tiling chosen and cycles")
    ax.margins(y=0.25)
    return _save(fig, path)


def _front(rows: list[dict], x: str, y: str) -> list[dict]:
    """The rows no other row beats in both ``x`` and ``y`` (lower is better), by increasing ``x``."""
    front, best = [], None
    for r in sorted(rows, key=lambda r: (r[x], r[y])):
        if best is None or r[y] < best:
            front.append(r)
            best = r[y]
    return front


def pareto(rows: list[dict], x: str, path: Path, y: str = "cycles") -> list[Path]:
    """``y`` against ``x`` (both the lower the better) for each workload, its Pareto-optimal points joined
    and labelled with their parameters."""
    plt = _plt()
    pts = [r for r in rows if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))]
    keys = [k for k in _params(pts) if k != "workload"]
    kib = x == "tcdm.size"
    scale = 1024 if kib else 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups: dict[str, list[dict]] = {}
    for r in pts:
        groups.setdefault(r["workload"], []).append(r)
    for name, g in groups.items():
        front = _front(g, x, y)
        line, = ax.plot([r[x] / scale for r in front], [r[y] for r in front], "o-", label=f"{name} (front)")
        ax.scatter([r[x] / scale for r in g], [r[y] for r in g], color=line.get_color(), alpha=0.35)
        for r in front:
            if keys:
                ax.annotate(_label(r, keys), (r[x] / scale, r[y]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
    for axis, key in ((ax.yaxis, y), (ax.xaxis, x)):
        vals = [r[key] for r in pts if r[key] > 0]
        if vals and max(vals) / min(vals) > 50:
            (ax.set_yscale if axis is ax.yaxis else ax.set_xscale)("log")
    ax.set_xlabel(f"{x} (KiB)" if kib else x)
    ax.set_ylabel(y)
    ax.set_title(f"Pareto fronts: {y} vs {x}, per workload")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_xy(table: Table, x: str, y: str, hue: str | None, path: "str | Path", title: str | None = None,
            logx: bool = False) -> list[Path]:
    """``y`` against ``x`` over the table's successful rows, one line per value of ``hue`` (default: per
    group of the other varying parameters).  ``path``'s suffix is replaced by .png and .svg."""
    rows = table.ok()
    for k in (x, y) + ((hue,) if hue else ()):
        if not any(k in r for r in rows):
            cols = sorted({c for r in rows for c in r})
            raise ConfigError(f"sweep plot: no column {k!r} in the successful rows (columns: {', '.join(cols)})")
    rows = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    if not rows:
        raise ConfigError(f"sweep plot: no row has both {x} and {y}")
    plt = _plt()
    if hue:
        groups: dict = {}
        for r in rows:
            groups.setdefault(f"{hue}={r.get(hue)}", []).append(r)
        groups = {k: sorted(v, key=lambda r: _sortable(r[x])) for k, v in groups.items()}
    else:
        groups = _groups(rows, x)
    numeric = all(isinstance(r[x], (int, float)) and not isinstance(r[x], bool) for r in rows)
    cats = sorted({str(r[x]) for r in rows}) if not numeric else []
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, g in groups.items():
        xs = [r[x] if numeric else cats.index(str(r[x])) for r in g]
        ax.plot(xs, [r[y] for r in g], "o-", label=label)
    if cats:
        ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right")
    if logx and numeric and min(r[x] for r in rows) > 0:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{y} vs {x}")
    if len(groups) > 1 or hue:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def _varies(rows, key) -> bool:
    return len({r.get(key) for r in rows if r.get(key) is not None}) > 1


def standard_plots(table: Table, outdir: "str | Path", extra: list[dict] | None = None) -> list[Path]:
    """Every standard plot the table's successful rows allow, plus the spec's own ``extra`` plots
    (``{"x": ..., "y": ..., "hue": ..., "name": ...}``), into ``outdir``; returns the files written."""
    outdir = Path(outdir)
    rows = table.ok()
    if not rows:
        return []
    out: list[Path] = []
    if _varies(rows, "cores") and all("cycles" in r for r in rows):
        out += speedup_vs_cores(rows, outdir / "speedup_vs_cores")
    if _varies(rows, "tcdm.banks") and any(r.get("mac_per_cycle") for r in rows):
        out += mac_per_cycle_vs_banks([r for r in rows if r.get("mac_per_cycle")], outdir / "mac_per_cycle_vs_banks")
    if any(_BANK.fullmatch(k) for r in rows for k in r):
        out += bank_heatmap([r for r in rows if "bank0_conflicts" in r], outdir / "bank_conflicts")
    if any(k.startswith("stall_") for k in rows[0]):
        out += stall_breakdown(rows, outdir / "stalls")
    tiled = [r for r in rows if r.get("tiles")]
    if tiled:
        out += tiling_vs_cycles(tiled, outdir / "tiling_vs_cycles")
    if any(isinstance(r.get("energy_uj"), (int, float)) for r in rows):
        out += pareto(rows, "energy_uj", outdir / "pareto_energy")
    if _varies(rows, "tcdm.size"):
        out += pareto(rows, "tcdm.size", outdir / "pareto_l1")
    for i, p in enumerate(extra or []):
        out += plot_xy(table, p["x"], p["y"], p.get("hue"), outdir / p.get("name", f"plot{i}"))
    return out
