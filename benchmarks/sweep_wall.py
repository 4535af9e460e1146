"""Wall time of a sweep vs its number of points and workers.

Usage:  python benchmarks/sweep_wall.py [--points 10 20 40] [--workers 1 2] [--spec examples/sweep-cores.toml]

Runs the first N points of the spec (default: the core-scaling example, 40 points) into a fresh folder
each time, in a local process pool of W workers and on a Dask LocalCluster of W single-threaded workers,
and prints one row per (N, W): for each, seconds from the call to the written table (worker start-up
included, Numba's on-disk cache and the build cache warm, plots off) and the sum of the points' own
``wall_s`` (a worker's first point includes loading the engine).  ``--jobs 1`` runs in this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulpsim.explore import load_spec, sweep  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=str(Path(__file__).resolve().parent.parent / "examples" / "sweep-cores.toml"))
    p.add_argument("--points", type=int, nargs="+", default=[10, 20, 40])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    spec = load_spec(args.spec)
    sweep(spec, out=tempfile.mkdtemp(), jobs=1, progress=False, plots=False)    # warm the caches
    print("| points | workers | local (s) | its points' wall_s (s) | Dask LocalCluster (s) | its points' wall_s (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in args.points:
        sub = dataclasses.replace(spec, points=spec.points[:n])
        for w in args.workers:
            cells = []
            for scheduler in (None, "local"):
                t0 = time.perf_counter()
                table = sweep(sub, out=tempfile.mkdtemp(), jobs=w, scheduler=scheduler, progress=False, plots=False)
                cells += [time.perf_counter() - t0, sum(r["wall_s"] for r in table.rows)]
                assert len(table.ok()) == n
            print(f"| {n} | {w} | " + " | ".join(f"{c:.1f}" for c in cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
