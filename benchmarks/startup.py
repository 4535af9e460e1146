"""Start-up time of `pulpsim run`: a warm run of a small ELF, and the first run on a new checkout (compilation).

Usage:  python benchmarks/startup.py [--repeat N] [--no-cold] [--phases] [--checkout DIR] [--json]

warm:   `pulpsim run hello.elf` (print "hi", then the stats table) as a new process, N times after one
        warm-up: median wall time and median CPU time of the process (Numba's on-disk cache warm).
cold:   the same command once with an empty Numba cache (a temporary NUMBA_CACHE_DIR), so the process compiles
        every compiled function the run needs, as the first run on a new checkout does.
phases: where the warm time goes, measured inside one process run as `pulpsim run` runs (the same imports, the
        garbage collector as the command line sets it): interpreter start-up, importing pulpsim's command line,
        numpy and Numba (a checkout whose command line imports them has them under its import), building the
        parser, Numba's registries, importing the engine, the first run (loading the compiled engine from the
        cache, running), a second run of the same ELF (the run alone), the report and the interpreter's exit.

The processes import pulpsim from --checkout (default: this repository; `python -P`, so that the current
directory does not take precedence), so that two checkouts can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HELLO = '#include "pulpsim.h"\nint main(void) { printf("hi\\n"); return 0; }\n'

#: What the `pulpsim` console script does.
CLI = "import sys; from pulpsim.cli import main; sys.exit(main())"

#: Phase timing inside one process (pulpsim's command line, as `pulpsim run ELF` uses it).
PHASES = r"""
import json, sys, time
t = [("start", time.perf_counter())]
def mark(name):
    t.append((name, time.perf_counter()))
import pulpsim.cli; mark("import pulpsim.cli")
if "run" in getattr(pulpsim.cli, "SHORT_COMMANDS", ()):
    pulpsim.cli._without_gc()     # as pulpsim.cli.main does for `pulpsim run`
import numpy; mark("import numpy")
import numba; mark("import numba")
try:
    pulpsim.cli.build_parser(with_cl=False)
except TypeError:          # a checkout whose parser always builds the `cl` subcommands
    pulpsim.cli.build_parser()
mark("build the command-line parser")
try:
    from pulpsim.sim.numba_setup import load_registries
except ImportError:        # a checkout that leaves the registries to the first compiled call
    from numba.core.registry import cpu_target
    load_registries = cpu_target.target_context.refresh
load_registries(); mark("Numba registries")
import pulpsim.api; mark("import pulpsim.api")
import pulpsim.sim.engine; mark("import the engine (cache check, decorators)")
r = pulpsim.api.run(sys.argv[1]); mark("first run (cache load + run)")
r = pulpsim.api.run(sys.argv[1]); mark("second run (the run alone)")
r.table(); mark("report")
print(json.dumps({"start": START, "end": time.perf_counter(),
                  "phases": [(b[0], b[1] - a[1]) for a, b in zip(t, t[1:])],
                  "scipy.linalg imported": "scipy.linalg" in sys.modules}))
"""


def hello_elf() -> Path:
    from pulpsim import toolchain
    return Path(toolchain.build_c(HELLO, name="startup_hello"))


def env_for(checkout: Path, **extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(checkout)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra)
    return env


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def warm(checkout: Path, elf: Path, repeat: int) -> dict:
    """Median wall and CPU seconds of `pulpsim run ELF` over ``repeat`` processes, after one warm-up."""
    cmd, env = [sys.executable, "-P", "-c", CLI, "run", str(elf)], env_for(checkout)
    timed(cmd, env)
    runs = [timed(cmd, env) for _ in range(repeat)]
    return {"wall": statistics.median(w for w, _ in runs), "cpu": statistics.median(c for _, c in runs),
            "walls": [round(w, 3) for w, _ in runs]}


def cold(checkout: Path, elf: Path) -> dict:
    """Wall and CPU seconds of `pulpsim run ELF` with an empty Numba cache."""
    with tempfile.TemporaryDirectory(prefix="pulpsim-numba-cache-") as cache:
        wall, cpu = timed([sys.executable, "-P", "-c", CLI, "run", str(elf)], env_for(checkout, NUMBA_CACHE_DIR=cache))
    return {"wall": wall, "cpu": cpu}


def phases(checkout: Path, elf: Path) -> dict:
    """Seconds per start-up phase, from one warm process (after a warm-up process).

    perf_counter is the system's monotonic clock on Linux, so the child's first statement and its last one
    place the interpreter's start-up and exit on the parent's time line.
    """
    script = "import time; START = time.perf_counter()\n" + PHASES
    cmd = [sys.executable, "-P", "-c", script, str(elf)]
    subprocess.run(cmd, env=env_for(checkout), check=True, capture_output=True)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env_for(checkout), check=True, capture_output=True, text=True).stdout
    t1 = time.perf_counter()
    data = json.loads(out.strip().splitlines()[-1])
    data["phases"] = ([("interpreter start-up", data["start"] - t0)] + data["phases"]
                      + [("interpreter exit", t1 - data["end"])])
    data["total"] = t1 - t0
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5, help="warm runs (default 5; the median is reported)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold run (it compiles for tens of seconds)")
    p.add_argument("--phases", action="store_true", help="also time the phases of a warm start")
    p.add_argument("--checkout", type=Path, default=ROOT, help="the pulpsim checkout to import (default: this one)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    elf = hello_elf()
    row = {"checkout": str(args.checkout), "warm": warm(args.checkout, elf, args.repeat)}
    if not args.no_cold:
        row["cold"] = cold(args.checkout, elf)
    if args.phases:
        row["phases"] = phases(args.checkout, elf)
    if args.json:
        print(json.dumps(row, indent=2))
        return 0
    w = row["warm"]
    print(f"warm `pulpsim run` of a small ELF: {w['wall']:.3f} s wall, {w['cpu']:.3f} s CPU "
          f"(median of {args.repeat}; walls {w['walls']})")
    if "cold" in row:
        print(f"first run with an empty Numba cache: {row['cold']['wall']:.1f} s wall, {row['cold']['cpu']:.1f} s CPU")
    if "phases" in row:
        ph = row["phases"]
        print(f"phases of a warm start (one process, {ph['total']:.3f} s from launch to exit):")
        for name, sec in ph["phases"]:
            print(f"  {name:45} {sec * 1000:7.0f} ms")
        print(f"  (scipy.linalg imported: {ph['scipy.linalg imported']})")
    print(f"command: python benchmarks/startup.py{' --no-cold' if args.no_cold else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
