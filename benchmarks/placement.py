"""How much one build's speed depends on where its compiled code lands in memory and on the stack depth it is
called at.

Usage:  python benchmarks/placement.py [--program int|fp-mm|naive-mm|tiled-pw] [--platform vega] [--loads N]
                                       [--depths 0,5,10] [--json]

The engine is loaded from Numba's cache `--loads` times in one process (each load of the compiled code lands at
other addresses: the module `pulpsim.sim.engine` is reloaded, which makes new dispatchers that load the cached
code again); with each load the program is run from `--depths` different depths of the C stack (each level is
one more C call between the interpreter and the engine). Every (load, depth) cell is the best of two runs, in
guest MIPS by the process's CPU time. The program, its instructions and cycles are the same in every cell.

Why: the same compiled engine runs at different speeds depending on these two things alone (on the reference
machine, the one-core `fp-mm` 53.5-106.9 MIPS within one process; see docs/architecture.md, "Why the speed varies").
A change to the engine is therefore judged by the spread of its cells (the median and the minimum), not by one
process, whose placement is a draw.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time

from profile_lines import workload_runner

PROGRAMS = ("int", "fp-mm", "naive-mm", "tiled-pw")


def _best_mips(run) -> float:
    best = 0.0
    for _ in range(2):
        t = time.process_time()
        n = run()
        best = max(best, n / (time.process_time() - t) / 1e6)
    return best


def _at_depth(depth: int, run) -> float:
    """_best_mips(run) called `depth` C calls deeper (map calls the lambda from C)."""
    if depth == 0:
        return _best_mips(run)
    return list(map(lambda _: _at_depth(depth - 1, run), [0]))[0]


def measure(program: str, platform: str, loads: int, depths: list[int]) -> dict:
    from pulpsim.sim import engine
    run, _ = workload_runner(program, platform)
    cells = []
    for _ in range(loads):
        importlib.reload(engine)  # new dispatchers: the cached code is loaded again, elsewhere
        run()  # loads it
        cells.append([round(_at_depth(d, run), 1) for d in depths])
    flat = [v for row in cells for v in row]
    return {"program": program, "platform": platform if program not in ("int", "fp-mm") else "single",
            "depths": depths, "cells": cells, "min": min(flat), "median": statistics.median(flat), "max": max(flat)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", choices=PROGRAMS, default="fp-mm")
    parser.add_argument("--platform", default="vega")
    parser.add_argument("--loads", type=int, default=6)
    parser.add_argument("--depths", default="0,5,10")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    res = measure(args.program, args.platform, args.loads, [int(d) for d in args.depths.split(",")])
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['program']} ({res['platform']}): guest MIPS (CPU time) per load of the engine (rows) and "
          f"stack depth (columns {res['depths']})")
    for i, row in enumerate(res["cells"]):
        print(f"  load {i}: " + " ".join(f"{v:6.1f}" for v in row))
    print(f"min {res['min']:.1f}  median {res['median']:.1f}  max {res['max']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
