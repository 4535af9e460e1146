"""The precision and LR-layer sweeps of the default continual-learning configuration, on the host.

Runs :func:`pulpsim.cl.compare.run_compare` on the default synthetic scenario (one experience order
per seed, the same images and pretrained frozen stage for all), with the default pretraining and
protocol configurations, and prints the Markdown table and the wall time. Cycles per learning event
come from the simulated cluster, which this script does not run (``pulpsim cl compare`` adds them).

Usage: ``python benchmarks/cl_compare.py [--seeds 0 1 2] [--precisions fp32 8 7 ... 1]
[--lr-layers 19 21 23 25 27] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pulpsim.cl import compare, data, pretrain, protocol


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--precisions", nargs="+", default=[str(p) for p in compare.DEFAULT_PRECISIONS])
    ap.add_argument("--lr-layers", type=int, nargs="*", default=list(compare.DEFAULT_LR_LAYERS))
    ap.add_argument("--json", help="also write CompareResult.to_dict() to this file")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    pcfg = pretrain.PretrainConfig()
    pre = pretrain.pretrained(pcfg)
    print(f"pretraining: {time.perf_counter() - start:.1f} s (cached after the first run)", file=sys.stderr)
    cache: dict = {}

    def scenario_for(seed):
        if seed not in cache:
            cache[seed] = data.open_data("synthetic", resolution=pcfg.resolution, seed=seed)
        return cache[seed]

    def progress(done, total, label):
        print(f"[{done}/{total}] {label} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    res = compare.run_compare(protocol.ProtocolConfig(), scenario_for, pre, seeds=args.seeds,
                              precisions=args.precisions, lr_layers=args.lr_layers, progress=progress)
    print(res.table())
    print(f"\nwall time {time.perf_counter() - start:.0f} s (sweeps {res.seconds:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.to_dict(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
