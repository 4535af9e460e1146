"""Where the engine's host time goes, by source line: a sampling profile of a speed benchmark.

Usage:  python benchmarks/profile_lines.py [int|fp-mm|naive-mm|tiled-pw] [--platform vega] [--top N] [--json]

Runs the benchmark (one core: `int`, `fp-mm` of mips.py; the cluster: `naive-mm`, `tiled-pw` of cluster_mips.py
on --platform) under Linux `perf record`, with the engine compiled afresh with line tables, and attributes every
sample that falls in the engine's compiled loop (`engine.run`, or `engine.run_alone` on one core) to the source
line it was compiled from. Prints the share of each module and of the hottest lines.

How, and why so:
- Line tables only. Numba's debug mode (`debug=True`, `NUMBA_DEBUGINFO=1`) also turns on bounds checks,
  extends variables' lifetimes and keeps every variable in memory: the profiled program would be a slower,
  different one (about 30 % slower on the cluster). The profiled process sets Numba's flags to emit line
  tables alone (its "directives only" mode), so that the machine code is the one a normal run executes.
- Unique line numbers per module. Code that Numba inlines at its own level (`jit_inline`: the arbitration,
  the timing rules, the memory helpers, the core loop) is recorded in the line tables under the file of the
  function it is inlined into, with its own line numbers. The profile therefore runs a copy of the package in
  which every module of pulpsim/sim starts with a different multiple of 10,000 blank lines, so that a line
  number alone names its module.
- A fresh Numba cache (in a temporary directory), so that the engine is compiled in the profiled process:
  its object code, with the line tables, is then at hand (Numba keeps it for a library it compiled).
The samples are of the whole process; the report gives the share of them in the engine's loop (the rest is
Python, the FP library's functions and the other compiled helpers that are called, not inlined).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIM = "pulpsim/sim"
STRIDE = 10_000  #: blank lines in front of the k-th module of pulpsim/sim: k * STRIDE


def _modules() -> list[str]:
    return sorted(p.name for p in (ROOT / SIM).glob("*.py"))


def _copy_package(dest: Path) -> dict[int, str]:
    """Copy pulpsim (and the CL layer it installs as pulpsim.cl) into `dest`, beside a link to the kernels'
    sources, with each module of pulpsim/sim shifted by its own multiple of STRIDE lines; return
    {offset: module}."""
    shutil.copytree(ROOT / "pulpsim", dest / "pulpsim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "cl", dest / "pulpsim" / "cl", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "kernels").symlink_to(ROOT / "kernels")  # the C sources the toolchain finds beside the package
    offsets = {}
    for k, name in enumerate(_modules(), start=1):
        path = dest / SIM / name
        path.write_text("\n" * (k * STRIDE) + path.read_text())
        offsets[k * STRIDE] = name
    return offsets


def _line_tables_only() -> None:
    """Make Numba emit line tables and nothing else of its debug mode (see the module's docstring)."""
    from numba.core import cpu

    finalize = cpu.CPUTargetOptions.finalize

    def with_line_tables(self, flags, options):
        finalize(self, flags, options)
        flags.debuginfo = True
        flags.dbg_directives_only = True
        flags.boundscheck = False
        flags.dbg_extend_lifetimes = False

    cpu.CPUTargetOptions.finalize = with_line_tables


def workload_runner(workload: str, platform: str):
    """(run, entry): a function that runs the workload once and returns its guest instructions, and the engine's
    entry whose loop runs it (`engine.run_alone` on one core, on the cluster the one `machine.cluster_scheduler`
    picks)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import pulpsim
    from pulpsim.sim import engine

    if workload in ("int", "fp-mm"):
        import mips
        elf = mips.build(workload, mips.PROGRAMS[workload])
        return (lambda: pulpsim.run(elf).instructions), engine.run_alone
    import cluster_mips
    from pulpsim.sim.machine import cluster_scheduler
    from pulpsim.sim.platform import get_platform
    cluster = cluster_scheduler(get_platform(platform))
    if workload == "naive-mm":
        elf = cluster_mips.build_naive(platform, 4)
        return (lambda: pulpsim.run(elf, platform=platform).instructions), cluster
    from pulpsim.workloads import tiled
    plat, inputs = cluster_mips.tiled_case(platform)
    return (lambda: tiled.run_tiled("pointwise", "fw", inputs, plat).result.instructions), cluster


def _child(workload: str, platform: str, out: Path) -> None:
    """The profiled process: run the workload (once to compile the engine, then again for 5 s of CPU time),
    then write the engine loop's object code and its address in this process."""
    _line_tables_only()
    run, entry = workload_runner(workload, platform)
    run()  # compiles the engine
    start = time.process_time()
    while time.process_time() - start < 5.0:  # about 20,000 samples in the measured runs
        run()
    (cres,) = entry.overloads.values()
    name = cres.fndesc.llvm_func_name
    (out / "engine.o").write_bytes(cres.library._get_compiled_object())
    (out / "engine.json").write_text(json.dumps({"name": name,
                                                 "address": cres.library.get_pointer_to_function(name)}))


def _line_table(obj: Path, name: str) -> tuple[int, list[int], list[tuple[str, int]]]:
    """The function's size, and the object's line table: sorted start offsets and the (file, line) of each (line
    0: none). The table is read with binutils' readelf, which applies the object's relocations to it."""
    from elftools.elf.elffile import ELFFile

    with open(obj, "rb") as f:
        symbols = ELFFile(f).get_section_by_name(".symtab").iter_symbols()
        size = next(s["st_size"] for s in symbols if s.name == name)
    decoded = subprocess.run(["readelf", "--debug-dump=decodedline", str(obj)], capture_output=True, text=True,
                             check=True).stdout
    rows = []
    for text in decoded.splitlines():
        fields = text.split()
        # "<file>  <line>  <address>  [view]  [x]"
        if len(fields) >= 3 and fields[0].endswith(".py") and fields[1].isdigit():
            try:
                rows.append((int(fields[2], 16), fields[0], int(fields[1])))
            except ValueError:
                continue
    rows.sort()
    return size, [a for a, _, _ in rows], [(file, line) for _, file, line in rows]


def source_of(starts: list[int], lines: list[tuple[str, int]], offsets: dict[int, str]):
    """A function from an offset in the engine's loop to the (module, line) of pulpsim's source it was compiled
    from (("numba/<file>", line) for Numba's own library code: array access, builtins), given the loop's line
    table (_line_table) and the shifted package's module offsets (_copy_package)."""
    # code without a line of its own (line 0: compiler-made) counts for the line before it
    known, last = [], ("?", 0)
    for file, line in lines:
        last = (file, line) if line else last
        known.append(last)
    keys = sorted(offsets)
    ours = set(offsets.values())

    def source(offset: int) -> tuple[str, int]:
        file, line = known[bisect.bisect_right(starts, offset) - 1]
        k = bisect.bisect_right(keys, line) - 1
        if file in ours and k >= 0:
            return offsets[keys[k]], line - keys[k]
        return f"numba/{file}", line

    return source


def child_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a measured child process: the shifted package copy in tmp/src (_copy_package), a fresh
    Numba cache in tmp/cache, and no compile helper (pulpsim.sim.compile_ahead): every function of the engine
    must compile in the child itself, where _line_tables_only gives it line tables."""
    return dict(os.environ, PYTHONPATH=str(tmp / "src"), NUMBA_CACHE_DIR=str(tmp / "cache"),
                PULPSIM_COMPILE_AHEAD="0", **extra)


def source_text(module: str, line: int) -> str:
    """The text of line `line` of pulpsim/sim's module `module` ("" for Numba's own code, see source_of)."""
    path = ROOT / SIM / module
    return path.read_text().splitlines()[line - 1].strip() if path.exists() else ""


def profile(workload: str, platform: str) -> dict:
    """Profile one workload; return the shares of modules and lines."""
    if shutil.which("perf") is None:
        raise SystemExit("profile_lines: needs Linux perf on PATH")
    if shutil.which("readelf") is None:
        raise SystemExit("profile_lines: needs binutils' readelf on PATH")
    with tempfile.TemporaryDirectory(prefix="pulpsim-profile-") as tmp:
        tmp = Path(tmp)
        offsets = _copy_package(tmp / "src")
        env = child_env(tmp)
        subprocess.run(["perf", "record", "-q", "-F", "4000", "-o", str(tmp / "perf.data"), sys.executable,
                        __file__, "--child", workload, "--platform", platform, "--out", str(tmp)],
                       env=env, check=True, cwd=ROOT)
        script = subprocess.run(["perf", "script", "-F", "ip", "-i", str(tmp / "perf.data")],
                                capture_output=True, text=True, check=True).stdout
        meta = json.loads((tmp / "engine.json").read_text())
        size, starts, lines = _line_table(tmp / "engine.o", meta["name"])
    samples = [int(s, 16) - meta["address"] for s in script.split()]
    inside = [s for s in samples if 0 <= s < size]
    source = source_of(starts, lines, offsets)
    by_source = collections.Counter(source(s) for s in inside)
    by_module = collections.Counter()
    for (module, _), n in by_source.items():
        by_module[module] += n
    total = len(inside) or 1
    return {"workload": workload, "platform": platform, "samples": len(samples), "in_engine_loop": len(inside),
            "modules": {m: round(100 * n / total, 1) for m, n in by_module.most_common()},
            "lines": [{"module": m, "line": line, "share": round(100 * n / total, 2)}
                      for (m, line), n in by_source.most_common()]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="tiled-pw", choices=["int", "fp-mm", "naive-mm", "tiled-pw"])
    parser.add_argument("--platform", default="vega")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.workload, args.platform, args.out)
        return 0
    report = profile(args.workload, args.platform)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    where = "one core" if args.workload in ("int", "fp-mm") else args.platform
    print(f"{args.workload} ({where}): {report['in_engine_loop']} samples in the engine's loop, of "
          f"{report['samples']} in the process (which also compiles the engine); shares of the loop's samples:")
    print("by module: " + ", ".join(f"{m} {s} %" for m, s in report["modules"].items()))
    for row in report["lines"][:args.top]:
        text = source_text(row["module"], row["line"])
        print(f"{row['share']:6.2f} %  {row['module']}:{row['line']:<5} {text[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
