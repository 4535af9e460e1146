"""Forward / weight-gradient / input-gradient MAC/cycle of the MobileNet-V1 layers from index 19 up, tiled.

Usage:  python benchmarks/mobilenet_layers.py [--from IDX] [--configs vega:1 vega:8 pulp-open:1 pulp-open:8] [--json]

The layer shapes are those of MobileNet-V1 (Howard et al., arXiv 1704.04861, Table 1) at alpha 1.0 and a 128x128
input, as in Ravaglia et al., IEEE JETCAS 2021 (layer indices as in pulpsim.cl.model): the
adaptive stage behind the default latent-replay layer conv5_4/dw (index 19).  Each layer with weights
also has an "sgd" row: the SGD step (momentum, weight decay) over its weights, tiled like the rest.  Every step runs with
its tensors in L2 and double-buffered DMA tiles in L1 (pulpsim.workloads.tiled, tiles chosen under the whole
free TCDM), on random normal float32 data (seed 0), and is checked against the numpy reference
(pulpsim.workloads.tiled.within_bound; a failing check is marked WRONG and makes the exit status 1).
Cycles are core 0's mcycle over the whole schedule (first DMA to last store).  MACs are the
nominal counts of the table (depthwise counts its padding taps).  L2 is enlarged to 16 MiB on
every platform: conv6/sep's FP32 weights alone are 4 MiB, and its SGD step holds weights, gradients
and velocities (12 MiB); on the chip they would stream from L3.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulpsim.workloads import tiled  # noqa: E402
from pulpsim.sim.platform import get_platform  # noqa: E402

#: (index, name, layer, C, H(=W), K or stride): MobileNet-V1 at alpha 1.0, 128x128, indices 19..28 of pulpsim.cl.model.
LAYERS = [
    (19, "conv5_4/dw", "depthwise", 512, 8, 1),
    (20, "conv5_4/sep", "pointwise", 512, 8, 512),
    (21, "conv5_5/dw", "depthwise", 512, 8, 1),
    (22, "conv5_5/sep", "pointwise", 512, 8, 512),
    (23, "conv5_6/dw", "depthwise", 512, 8, 2),
    (24, "conv5_6/sep", "pointwise", 512, 4, 1024),
    (25, "conv6/dw", "depthwise", 1024, 4, 1),
    (26, "conv6/sep", "pointwise", 1024, 4, 1024),
    (27, "pool6", "avgpool", 1024, 4, 0),
    (28, "fc", "linear", 1024, 1, 50),
]

L2_BYTES = 16 * 1024 * 1024


def inputs_for(layer: str, step: str, C: int, H: int, k: int, rng) -> tuple[dict, dict]:
    """Random inputs and parameters of one step."""
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    if step == "sgd":   # the optimizer step on the layer's weights (momentum 0.9, weight decay 5e-4)
        n = {"pointwise": k * C, "depthwise": C * 9, "linear": k * C}[layer]
        return ({"w": f(n), "g": f(n), "v": f(n)}, {"lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4})
    if layer == "pointwise":
        return ({"fw": lambda: {"x": f(C, H, H), "W": f(k, C)}, "wg": lambda: {"x": f(C, H, H), "dy": f(k, H, H)},
                 "ig": lambda: {"W": f(k, C), "dy": f(k, H, H)}}[step](), {})
    if layer == "depthwise":
        Ho = (H - 1) // k + 1
        p = {"stride": k}
        if step == "ig":
            p["in_hw"] = (H, H)
        return ({"fw": lambda: {"x": f(C, H, H), "W": f(C, 3, 3)}, "wg": lambda: {"x": f(C, H, H), "dy": f(C, Ho, Ho)},
                 "ig": lambda: {"W": f(C, 3, 3), "dy": f(C, Ho, Ho)}}[step](), p)
    if layer == "linear":
        return ({"fw": lambda: {"x": f(C), "W": f(k, C)}, "wg": lambda: {"x": f(C), "dy": f(k)},
                 "ig": lambda: {"W": f(k, C), "dy": f(k)}}[step](), {})
    if step == "fw":
        return {"x": f(C, H, H)}, {}
    return {"dy": f(C)}, {"in_shape": (C, H, H)}


def steps_of(layer: str) -> tuple[str, ...]:
    return ("fw", "bw") if layer == "avgpool" else ("fw", "wg", "ig", "sgd")


def parse_configs(specs) -> list[tuple[str, int]]:
    """``["vega:8", ...]`` -> ``[("vega", 8), ...]``."""
    return [(c.split(":")[0], int(c.split(":")[1])) for c in specs]


def table_columns(configs) -> list[tuple]:
    """The table's run columns: each config, and after a platform's last config a speed-up over its 1-core run.

    Each column is ``("run", config index, title)`` or ``("speedup", (1-core index, index), title)``.
    """
    columns = []
    for i, (pl, c) in enumerate(configs):
        columns.append(("run", i, f"{pl} {c} core{'s' if c > 1 else ''}"))
        later = [j for j in range(i + 1, len(configs)) if configs[j][0] == pl]
        one = [j for j in range(len(configs)) if configs[j] == (pl, 1)]
        if not later and one and c > 1:
            columns.append(("speedup", (one[0], i), f"{pl} 1->{c}"))
    return columns


def detail_config(configs) -> int:
    """Index of the config whose tiles and DMA wait the table shows: the first multi-core one."""
    return next((i for i, (pl, c) in enumerate(configs) if c > 1), len(configs) - 1)


def step_runs(configs, first: int = 19):
    """Run every step of the layers from index ``first`` up on every config, in the table's order.

    Yields ``(layer row, [(TiledLayerResult, ok) per config])``; the layer row is the tuple of ``LAYERS``
    followed by the step.  The random inputs come from one generator (seed 0) drawn step after step, so the
    data (not the cycles) of a step depends on ``first``.
    """
    plats = {pl: get_platform(pl, l2__size=L2_BYTES) for pl, _ in configs}
    rng = np.random.default_rng(0)
    for idx, lname, layer, C, H, k in LAYERS:
        if idx < first:
            continue
        for step in steps_of(layer):
            inputs, params = inputs_for(layer, step, C, H, k, rng)
            kind, st = ("sgd", "step") if step == "sgd" else (layer, step)
            runs = []
            for pl, cores in configs:
                r = tiled.run_tiled(kind, st, inputs, platform=plats[pl], cores=cores, **params)
                runs.append((r, tiled.within_bound(kind, st, inputs, r.outputs, **params)))
            yield (idx, lname, layer, C, H, k, step), runs


def shape_text(layer: str, C: int, H: int, k: int) -> str:
    """The table's shape cell: ``512x8x8 -> 512``, ``512x8x8 s2``, ``1024 -> 50``."""
    if layer == "linear":
        return f"{C} -> {k}"
    return (f"{C}x{H}x{H}" + (f" -> {k}" if layer == "pointwise" else "")
            + (" s2" if layer == "depthwise" and k == 2 else ""))


def run_cell(macs: int, cycles: int, ok: bool = True) -> str:
    """``MAC/cycle (cycles)``, or ``(cycles)`` for a step without MACs."""
    val = f"{macs / cycles:.2f} ({cycles:,})" if macs else f"({cycles:,})"
    return val + ("" if ok else " WRONG")


def tiles_text(tiles: dict) -> str:
    """The tiles cell: ``tm=16 tn=32 tk=256``, in the plan's order."""
    return " ".join(f"{a}={b}" for a, b in tiles.items())


def table_row(row, columns, detail: int, runs) -> str:
    """One markdown table row; ``runs`` is a list of (macs, cycles, ok, tiles text, dma_wait) per config."""
    idx, lname, layer, C, H, k, step = row
    cells = []
    for kind, ref, _ in columns:
        if kind == "run":
            macs, cycles, ok = runs[ref][:3]
            cells.append(run_cell(macs, cycles, ok))
        else:
            cells.append(f"{runs[ref[0]][1] / runs[ref[1]][1]:.2f}x")
    macs, cycles, _, tiles, wait = runs[detail]
    share = 100.0 * wait / cycles if cycles else 0.0
    return (f"| {idx} | {lname} | {shape_text(layer, C, H, k)} | {step} | {macs:,} | " + " | ".join(cells) +
            f" | {tiles} | {share:.1f} % |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="first", type=int, default=19, help="first layer index (19..28)")
    p.add_argument("--configs", nargs="+", default=["vega:1", "vega:8", "pulp-open:1", "pulp-open:8"],
                   help="platform:cores columns; a platform run on 1 and more cores also gets a speed-up column")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = p.parse_args(argv)
    configs = parse_configs(args.configs)
    columns = table_columns(configs)
    detail = detail_config(configs)
    rows, bad = [], False
    t0 = time.perf_counter()
    if not args.json:
        print(f"# python benchmarks/mobilenet_layers.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}")
        pl, c = configs[detail]
        print(f"MAC/cycle (cycles) per step; tiles and DMA wait share of the {pl} {c}-core run")
        print("| idx | layer | shape | step | MACs | " + " | ".join(t for _, _, t in columns) + " | tiles | DMA wait |")
        print("| --- | --- | --- | --- | --- |" + " --- |" * len(columns) + " --- | --- |")
    for layer_row, runs in step_runs(configs, args.first):
        idx, lname, layer, *_, step = layer_row
        row = {"idx": idx, "layer": lname, "kind": layer, "step": step, "macs": runs[0][0].macs, "runs": []}
        for (pl, cores), (r, ok) in zip(configs, runs):
            bad |= not ok
            row["runs"].append({"platform": pl, "cores": cores, "cycles": r.cycles,
                                "mac_per_cycle": r.mac_per_cycle, "dma_wait": r.dma_wait_cycles,
                                "compute": r.compute_cycles, "tiles": r.tiles, "steps": r.steps, "ok": ok})
        rows.append(row)
        if not args.json:
            cells = [(r.macs, r.cycles, ok, tiles_text(r.tiles), r.dma_wait_cycles) for r, ok in runs]
            print(table_row(layer_row, columns, detail, cells), flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"host time {time.perf_counter() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
