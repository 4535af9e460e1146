"""Host time of a call between compiled functions, by the number of array arguments.

Usage:  python benchmarks/call_cost.py [--calls N] [--json]

What a compiled helper that is not inlined costs per call, under pulpsim's Numba options (no reference
counting, no Python wrappers for the callee): Numba passes each array as its descriptor (data pointer, sizes,
strides, ...), so the cost grows with the arrays passed. The callee does almost nothing (one addition into a
2-D int64 array) behind a 40-way branch, and a recursive call it never makes keeps LLVM from inlining it; the
loop calls it N times with 2, 8, 16 and 32 arrays of shape (8, 4). This is the price of calling a per-core
step function once per entry into the core loop (docs/architecture.md, "Where the host time goes").
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numba
import numpy as np

_OPTIONS = dict(_nrt=False, error_model="numpy")


def _caller(k: int):
    """A compiled loop calling a compiled function of k array arguments (both generated for k)."""
    names = ", ".join(f"a{i}" for i in range(k))
    branches = "".join(f"    if x == {j}:\n        a{j % k}[c, 1] += {j}\n" for j in range(40))
    ns: dict = {}
    exec(f"def step({names}, c, x):\n{branches}"
         f"    a0[c, 0] += a{k - 1}[c, 1]\n"
         f"    if x < 0:\n        return step({names}, c, x + 1)\n"  # never taken: keeps the callee out of line
         f"    return a0[c, 0]\n", ns)
    ns["step"] = numba.njit(ns["step"], no_cpython_wrapper=True, no_cfunc_wrapper=True, **_OPTIONS)
    exec(f"def loop(n, {names}):\n    acc = 0\n    for i in range(n):\n"
         f"        acc += step({names}, i & 7, (i * 7) % 41)\n    return acc\n", ns)
    return numba.njit(ns["loop"], **_OPTIONS)


def measure(calls: int) -> dict:
    out = {}
    for k in (2, 8, 16, 32):
        loop = _caller(k)
        arrays = [np.zeros((8, 4), np.int64) for _ in range(k)]
        loop(10, *arrays)  # compile
        best = None
        for _ in range(3):
            t = time.process_time()
            loop(calls, *arrays)
            dt = time.process_time() - t
            best = dt if best is None or dt < best else best
        out[k] = round(best / calls * 1e9, 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    res = measure(args.calls)
    if args.json:
        print(json.dumps({"ns_per_call": res}))
    else:
        print("ns per call of a compiled function that is not inlined (best of 3, CPU time):")
        for k, ns in res.items():
            print(f"  {k:2d} array arguments: {ns:6.2f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
