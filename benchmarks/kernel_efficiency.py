"""MAC/cycle of every matmul variant on 1 and 8 cores of pulp-open and vega, and the 1 -> 8 core speed-up.

Usage:  python benchmarks/kernel_efficiency.py [--shape M N K] [--platforms P ...] [--variants V ...] [--json]

Random normal float32 inputs (seed 0); every result is checked against numpy with the matmul tests'
bound K*eps32*(|A|@|B|) (a failing check is marked WRONG and makes the exit status 1).  Cycles are
those of core 0's pi_perf region around the fork (fork, compute, join), as in docs/kernels.md.
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

from pulpsim.workloads import kernel_runner as kr  # noqa: E402


def random_inputs(shape, seed: int = 0):
    """The benchmark's A (M x K) and B (K x N): random normal float32 from ``seed``."""
    M, N, K = shape
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    return A, B


def checked_run(A, B, variant: str, platform: str, cores: int):
    """Run one variant and check C against numpy with the bound K*eps32*(|A|@|B|): (MatmulResult, ok)."""
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    bound = A.shape[1] * np.finfo(np.float32).eps * (np.abs(A64) @ np.abs(B64))
    r = kr.run_matmul(A, B, variant, platform, cores)
    return r, bool(np.all(np.abs(r.C.astype(np.float64) - A64 @ B64) <= bound))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=(64, 64, 64), metavar=("M", "N", "K"))
    p.add_argument("--platforms", nargs="+", default=["pulp-open", "vega"])
    p.add_argument("--variants", nargs="+", default=list(kr.VARIANTS))
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = p.parse_args(argv)
    M, N, K = args.shape
    A, B = random_inputs(args.shape)
    t0 = time.perf_counter()
    rows, failed = [], False
    for v in args.variants:
        row = {"variant": v}
        for pl in args.platforms:
            for c in (1, 8):
                r, ok = checked_run(A, B, v, pl, c)
                failed |= not ok
                row[f"{pl}/{c}"] = {"cycles": r.cycles, "mac_per_cycle": r.mac_per_cycle, "ok": ok,
                                    "bank_conflicts": r.bank_conflicts}
            row[f"{pl}/speedup"] = row[f"{pl}/1"]["cycles"] / row[f"{pl}/8"]["cycles"]
        rows.append(row)
    wall = time.perf_counter() - t0
    cmd = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0]] + list(argv if argv is not None else sys.argv[1:]))
    if args.json:
        print(json.dumps({"command": cmd, "shape": [M, N, K], "seconds": wall, "rows": rows}, indent=1))
        return 1 if failed else 0
    print(f"command: {cmd}")
    print(f"{M}x{N}x{K} FP32 matmul, MAC/cycle (cycles of the fork region); speed-up = cycles 1 core / 8 cores")
    head = ["variant"]
    for pl in args.platforms:
        head += [f"{pl} 1c", f"{pl} 8c", f"{pl} x"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        cells = [f"`{row['variant']}`"]
        for pl in args.platforms:
            for c in (1, 8):
                d = row[f"{pl}/{c}"]
                cells.append(f"{d['mac_per_cycle']:.3f}" + ("" if d["ok"] else " WRONG"))
            cells.append(f"{row[f'{pl}/speedup']:.2f}")
        print("| " + " | ".join(cells) + " |")
    print(f"({len(rows) * len(args.platforms) * 2} runs, {wall:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
