"""Speed guard: re-measure every speed figure of the README and print its ratio to the recorded one.

Usage:  python benchmarks/speed_guard.py [--quick] [--only TEXT] [--runs N] [--wall] [--json]

The figures and their commands are read from the README's speed table (section "Speed": one row per figure,
with the command that measures it and the recorded value, a range over several invocations).  Each distinct
command is run as a new process with ``--json`` (``--quick``: fewer repeats, ``--repeat 1`` for the MIPS
benchmarks and 3 warm starts), and each figure is printed as measured, recorded and the ratio: measured /
slowest recorded for MIPS, recorded / measured for seconds, so a ratio below 1 is slower than every recorded
invocation.  Ratios below 0.9 are flagged SLOWER and make the exit status 1.

The figures are measured by the CPU time of the benchmark's process (``--wall``: by wall time), which is what
the run cost even when other jobs share the machine; on an idle machine the two are the same (the simulator
runs on one thread). The first run is measured by wall time: it compiles on two cores (a helper process
compiles part of the engine meanwhile, pulpsim.sim.compile_ahead), so its CPU time is not what it takes.  Host
time still depends on the machine: compare on the machine the README was recorded on.  ``--runs 3`` runs each
command three times and prints the range, as the README records it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TABLE_HEADER = "| figure | command | recorded |"
#: A ratio below this is reported as a slowdown.
SLOWER = 0.9


@dataclass(frozen=True)
class Figure:
    """One row of the README's speed table."""

    name: str       #: the first cell, markdown marks removed
    command: str    #: the command that measures it, as written (``python benchmarks/...``)
    low: float      #: the recorded range (equal ends for a single value)
    high: float
    unit: str       #: "MIPS" (higher is better) or "s" (lower is better)

    def ratio(self, measured: float) -> float:
        """Above 1: faster than the recorded range's slowest end."""
        return measured / self.low if self.unit == "MIPS" else self.high / measured


_VALUE = re.compile(r"^(?P<low>\d+(?:\.\d+)?)(?:\s*[–-]\s*(?P<high>\d+(?:\.\d+)?))?\s*(?P<unit>MIPS|s)$")


def parse_value(cell: str) -> tuple[float, float, str]:
    """``"58–60 MIPS"`` -> ``(58.0, 60.0, "MIPS")``; ``"0.9 s"`` -> ``(0.9, 0.9, "s")``."""
    m = _VALUE.match(cell.replace("**", "").strip())
    if not m:
        raise ValueError(f"not a recorded speed figure: {cell!r} (expected 'A–B MIPS', 'A MIPS' or 'A s')")
    low = float(m["low"])
    high = float(m["high"]) if m["high"] else low
    if high < low:
        raise ValueError(f"range {cell!r} runs backwards")
    return low, high, m["unit"]


def recorded_figures(text: str) -> list[Figure]:
    """The rows of the speed table in the README ``text``."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(TABLE_HEADER))
    except StopIteration:
        raise ValueError(f"no speed table (a table with the header {TABLE_HEADER!r}) in the README") from None
    figures = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            raise ValueError(f"speed table row with {len(cells)} cells: {line!r}")
        name, command, value = cells
        figures.append(Figure(name.replace("`", "").replace("**", ""), command.strip("`"), *parse_value(value)))
    if not figures:
        raise ValueError("the README's speed table has no rows")
    return figures


def extract(fig: Figure, data, wall: bool = False) -> float:
    """The figure's measured value from its command's ``--json`` output: by the process's CPU time, or by wall
    time with ``wall``."""
    script = Path(shlex.split(fig.command)[1]).name
    if script == "mips.py":
        program = next((row for row in data if row["program"] in fig.name.split()), None)
        if program is None:
            raise ValueError(f"{fig.name!r}: names none of the programs of mips.py")
        return program["mips" if wall else "cpu_mips"]
    if script == "cluster_mips.py":
        return data["aggregate_mips" if wall else "cpu_aggregate_mips"]
    if script == "startup.py":
        if "warm" in fig.name:
            return data["warm"]["wall" if wall else "cpu"]
        # the first run compiles on two cores (pulpsim.sim.compile_ahead): what it takes is its wall time, while its
        # CPU time adds up both processes
        return data["cold"]["wall"]
    raise ValueError(f"{fig.name!r}: no measurement known for {fig.command!r}")


def quick_command(command: str) -> str:
    """Fewer repeats: ``--repeat 1`` for the MIPS benchmarks, 3 warm starts for startup.py."""
    args = shlex.split(command)
    repeat = "3" if Path(args[1]).name == "startup.py" else "1"
    if "--repeat" in args:
        args[args.index("--repeat") + 1] = repeat
    else:
        args += ["--repeat", repeat]
    return shlex.join(args)


def run_command(command: str):
    """Run a README command (``python benchmarks/X.py ...``) with ``--json``, importing this checkout's pulpsim;
    its parsed output."""
    args = shlex.split(command)
    if args[0] not in ("python", "python3"):
        raise ValueError(f"not a python command: {command!r}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, *args[1:], "--json"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats per command")
    p.add_argument("--only", metavar="TEXT", help="only the figures whose name contains TEXT")
    p.add_argument("--runs", type=int, default=1, help="invocations of each command (default 1)")
    p.add_argument("--wall", action="store_true",
                   help="measure by wall time (default: by the process's CPU time, as the README records)")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    figures = [f for f in recorded_figures(args.readme.read_text()) if not args.only or args.only in f.name]
    outputs: dict[str, list] = {}
    for fig in figures:
        if fig.command not in outputs:
            command = quick_command(fig.command) if args.quick else fig.command
            print(f"running: {command}" + (f" (x{args.runs})" if args.runs > 1 else ""), file=sys.stderr, flush=True)
            outputs[fig.command] = [run_command(command) for _ in range(args.runs)]
    rows, slower = [], False
    for fig in figures:
        values = [extract(fig, data, args.wall) for data in outputs[fig.command]]
        best = max(values) if fig.unit == "MIPS" else min(values)
        ratio = fig.ratio(best)
        slower |= ratio < SLOWER
        rows.append({"figure": fig.name, "unit": fig.unit, "measured": values, "recorded": [fig.low, fig.high],
                     "ratio": round(ratio, 3)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 1 if slower else 0
    print(f"{'figure':48} {'measured':>15} {'recorded':>13} {'ratio':>6}")
    for r in rows:
        lo, hi = min(r["measured"]), max(r["measured"])
        fmt = (lambda v: f"{v:.1f}") if r["unit"] == "MIPS" else (lambda v: f"{v:.2f}")
        measured = (fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}") + f" {r['unit']}"
        recorded = (fmt(r["recorded"][0]) if r["recorded"][0] == r["recorded"][1] else
                    f"{fmt(r['recorded'][0])}–{fmt(r['recorded'][1])}") + f" {r['unit']}"
        flag = "  SLOWER" if r["ratio"] < SLOWER else ""
        print(f"{r['figure'][:48]:48} {measured:>15} {recorded:>13} {r['ratio']:>6.2f}{flag}")
    print("ratio: measured / slowest recorded (MIPS), recorded / measured (seconds); above 1 is faster")
    return 1 if slower else 0


if __name__ == "__main__":
    raise SystemExit(main())
