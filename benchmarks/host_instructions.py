"""How many host instructions the engine's loop executes per guest instruction, by source line (a count, not a
sample: the same build gives the same figures in every process).

Usage:  python benchmarks/host_instructions.py [int|fp-mm|naive-mm|tiled-pw] [--platform vega] [--top N]
                                               [--blocks] [--frequencies] [--listing] [--branches] [--json]

Runs the benchmark once under Valgrind's callgrind (`--dump-instr=yes`), which counts every instruction executed
at every address, and attributes the counts that fall in the engine's compiled loop (`engine.run`, or
`engine.run_alone` on one core) to the source lines they were compiled from, as profile_lines.py does with
samples (the same package copy with one block of blank lines per module, the same line tables). Prints the host
instructions per guest instruction of each module and of the hottest lines; `--blocks` lists the hot straight
runs of machine code instead (how often each runs per guest instruction, how many instructions it has), which
shows the cost of entering the core loop, of its head, of the arbitration. `--branches` runs Valgrind's simulated
branch predictor as well and lists the mispredicted branches per guest instruction by source line instead: a
simple predictor without global history, not the host's (it shows which branches depend on the data; it does not
rank two builds, see docs/architecture.md). `--frequencies` groups the loop's machine instructions by how often
each runs per guest instruction (to two decimals): each class is one kind of event, so its size is that event's
cost (on `vega` `tiled-pw`: 0.90 = an entry into the core loop, 1.10 = a core taking part in an arbitration,
0.17 = a scheduler round, 0.59 = an FP operation, 1.00 = every instruction). `--listing` prints the loop's machine
code that runs at least 0.05 times per guest instruction, each instruction with that frequency and its source
line: where an event's spills and reloads are.

Why: the speed of one build moves by up to 2x with where its code lands (docs/architecture.md, "Why the speed
varies"), so a change that saves a few percent of the work cannot be seen in timings alone; the count of
instructions it executes can. (The count is not the time: a mispredicted branch or a load waited on costs more
than an instruction. Compare both.)

How: Valgrind presents its own CPU to the program (a Haswell-class one, without AVX-512), so the engine is first
compiled natively for that CPU (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES set to what LLVM finds under Valgrind) into
a fresh Numba cache, with line tables; the run under Valgrind then loads it from that cache instead of compiling
it under Valgrind (which takes half an hour). The counted run is the benchmark's run once (about 1-4 min under
callgrind). Needs valgrind and binutils' readelf and objdump on PATH.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import profile_lines

ROOT = Path(__file__).resolve().parent.parent

_CPU_PROBE = ("import llvmlite.binding as ll; ll.initialize_native_target(); "
              "print(ll.get_host_cpu_name()); print(ll.get_host_cpu_features().flatten())")


def _valgrind_cpu() -> tuple[str, str]:
    """The CPU name and features LLVM finds when run under Valgrind."""
    out = subprocess.run(["valgrind", "--tool=none", "-q", sys.executable, "-c", _CPU_PROBE], capture_output=True,
                         text=True, check=True).stdout.split()
    return out[-2], out[-1]


def _child(workload: str, platform: str, out: Path, counted: bool) -> None:
    """Run the workload once, then write to `out`: the engine loop's object code, if this process compiled it
    (engine.o), or else (`counted`: the run under Valgrind, which loads it from the cache) its address in this
    process and the guest instructions of the run (engine.json)."""
    profile_lines._line_tables_only()
    run, entry = profile_lines.workload_runner(workload, platform)
    guest = run()
    (cres,) = entry.overloads.values()
    name = cres.fndesc.llvm_func_name
    if not counted:
        (out / "engine.o").write_bytes(cres.library._get_compiled_object())
        return
    (out / "engine.json").write_text(json.dumps({"name": name, "guest": guest,
                                                 "address": cres.library.get_pointer_to_function(name)}))


def _event_counts(path: Path, lo: int, hi: int, events: tuple[str, ...]) -> dict[str, collections.Counter]:
    """Callgrind's counts of each of `events` at each address in [lo, hi), in one pass over the profile (Ir:
    instructions executed; with --branch-sim=yes also Bcm, Bim: mispredicted conditional and indirect branches),
    from a profile written with --dump-instr=yes and --compress-pos=no (cost lines: address, source line, then one
    count per event of the `events:` header, trailing zeros left out; the line after `calls=` is a call's
    inclusive cost, which is not the caller's own)."""
    counts = {event: collections.Counter() for event in events}
    columns = {event: 2 + i for i, event in enumerate(events)}
    after_call = False
    for line in open(path):
        if line.startswith("events:"):
            header = line.split()[1:]
            columns = {event: 2 + header.index(event) for event in events}
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        if not line.startswith("0x"):
            continue
        fields = line.split()
        if after_call:
            after_call = False
            continue
        addr = int(fields[0], 16)
        if not lo <= addr < hi:
            continue
        for event, column in columns.items():
            if len(fields) > column and int(fields[column]):
                counts[event][addr] += int(fields[column])
    return counts


def _counts(path: Path, lo: int, hi: int, event: str = "Ir") -> collections.Counter:
    """Callgrind's count of one event at each address in [lo, hi) (see _event_counts)."""
    return _event_counts(path, lo, hi, (event,))[event]


def frequency_classes(executed, guest: int, source, floor: float = 0.01) -> list[dict]:
    """The machine instructions grouped by how often each ran per guest instruction: `executed` lists (offset,
    times run) of each, `guest` is the guest instructions of the run, `source(offset)` gives (module, line).
    Frequencies are rounded to two decimals; classes under `floor` are left out. The costliest class first: its
    frequency, its number of machine instructions, the host instructions per guest instruction it accounts
    for, and its three most frequent source lines."""
    classes: dict = {}
    for offset, n in executed:
        per_guest = round(n / guest, 2)
        if per_guest < floor:
            continue
        c = classes.setdefault(per_guest, {"instructions": 0, "host": 0, "lines": collections.Counter()})
        c["instructions"] += 1
        c["host"] += n
        c["lines"][source(offset)] += 1
    rows = [{"per_guest": f, "instructions": c["instructions"], "host_per_guest": round(c["host"] / guest, 1),
             "lines": [f"{m}:{line}" for (m, line), _ in c["lines"].most_common(3)]} for f, c in classes.items()]
    return sorted(rows, key=lambda r: -r["host_per_guest"])


def measure(workload: str, platform: str, branches: bool = False) -> dict:
    for tool in ("valgrind", "readelf", "objdump"):
        if shutil.which(tool) is None:
            raise SystemExit(f"host_instructions: needs {tool} on PATH")
    cpu, features = _valgrind_cpu()
    with tempfile.TemporaryDirectory(prefix="pulpsim-icount-") as tmp:
        tmp = Path(tmp)
        offsets = profile_lines._copy_package(tmp / "src")
        env = profile_lines.child_env(tmp, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features)
        child = [sys.executable, __file__, "--child", workload, "--platform", platform, "--out", str(tmp)]
        subprocess.run(child, env=env, check=True, cwd=ROOT)  # compiles the engine for Valgrind's CPU
        simulate = ["--branch-sim=yes"] if branches else []
        subprocess.run(["valgrind", "--tool=callgrind", "-q", "--dump-instr=yes", "--compress-pos=no",
                        "--compress-strings=no", *simulate, f"--callgrind-out-file={tmp / 'cg.out'}", *child,
                        "--counted"], env=env, check=True, cwd=ROOT)
        meta = json.loads((tmp / "engine.json").read_text())
        size, starts, lines = profile_lines._line_table(tmp / "engine.o", meta["name"])
        events = ("Ir", "Bcm", "Bim") if branches else ("Ir",)
        found = _event_counts(tmp / "cg.out", meta["address"], meta["address"] + size, events)
        counts = found["Ir"]
        missed = found.get("Bcm", collections.Counter()) + found.get("Bim", collections.Counter())
        disassembly = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(tmp / "engine.o")],
                                     capture_output=True, text=True, check=True).stdout
    guest = meta["guest"]
    source = profile_lines.source_of(starts, lines, offsets)
    by_line: collections.Counter = collections.Counter()
    for addr, n in counts.items():
        by_line[source(addr - meta["address"])] += n
    by_module: collections.Counter = collections.Counter()
    for (module, _), n in by_line.items():
        by_module[module] += n
    # hot straight runs of code: consecutive instructions executed equally often
    blocks = []
    executed = []  # (offset, times run) of every machine instruction of the loop
    listing = []  # (offset, per guest instruction, (module, line), machine instruction) of the hot ones
    for text in disassembly.splitlines():
        m = re.match(r"\s+([0-9a-f]+):\s+(\S+)", text)
        if not m:
            continue
        offset = int(m.group(1), 16)
        n = counts.get(meta["address"] + offset, 0)
        executed.append((offset, n))
        if n * 20 >= guest:  # at least 0.05 per guest instruction
            # (a jump's target is named by the loop's mangled name plus an offset: the offset alone is kept)
            listing.append((offset, round(n / guest, 2), source(offset),
                            re.sub(r" <[^>]*>", "", text.split(":", 1)[1].strip())))
        if n * 10 < guest:  # under 0.1 per guest instruction
            continue
        if blocks and blocks[-1]["count"] == n and offset - blocks[-1]["end"] < 16:
            blocks[-1]["end"] = offset
            blocks[-1]["size"] += 1
            blocks[-1]["lines"][source(offset)] += 1
        else:
            blocks.append({"start": offset, "end": offset, "count": n, "size": 1,
                           "lines": collections.Counter([source(offset)])})
    total = sum(counts.values())
    missed_by_line: collections.Counter = collections.Counter()
    for addr, n in missed.items():
        missed_by_line[source(addr - meta["address"])] += n
    return {
        "workload": workload, "platform": platform, "guest_instructions": guest,
        "host_per_guest": round(total / guest, 1),
        "modules": {m: round(n / guest, 1) for m, n in by_module.most_common()},
        "lines": [{"module": m, "line": line, "per_guest": round(n / guest, 2)}
                  for (m, line), n in by_line.most_common()],
        "frequencies": frequency_classes(executed, guest, source),
        "blocks": [{"offset": b["start"], "per_guest": round(b["count"] / guest, 2), "instructions": b["size"],
                    "lines": [f"{m}:{line}" for (m, line), _ in b["lines"].most_common(3)]} for b in blocks],
        "listing": [{"offset": o, "per_guest": f, "line": f"{m}:{line}", "text": t} for o, f, (m, line), t in listing],
        "mispredicted_per_guest": round(sum(missed.values()) / guest, 3) if branches else None,
        "mispredicted_lines": [{"module": m, "line": line, "per_guest": round(n / guest, 3)}
                               for (m, line), n in missed_by_line.most_common()],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="naive-mm", choices=["int", "fp-mm", "naive-mm", "tiled-pw"])
    parser.add_argument("--platform", default="vega")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--blocks", action="store_true", help="list the hot straight runs of machine code")
    parser.add_argument("--frequencies", action="store_true",
                        help="the machine instructions grouped by how often each runs per guest instruction")
    parser.add_argument("--branches", action="store_true",
                        help="mispredicted branches by source line, from Valgrind's simulated branch predictor")
    parser.add_argument("--listing", action="store_true",
                        help="the loop's machine code that runs at least 0.05 times per guest instruction, with "
                             "how often and the source line of each instruction")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.workload, args.platform, args.out, args.counted)
        return 0
    report = measure(args.workload, args.platform, args.branches)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    where = "one core" if args.workload in ("int", "fp-mm") else args.platform
    print(f"{args.workload} ({where}): {report['guest_instructions']} guest instructions, "
          f"{report['host_per_guest']} host instructions each in the engine's loop")
    print("by module: " + ", ".join(f"{m} {n}" for m, n in report["modules"].items()))
    if args.blocks:
        for b in report["blocks"]:
            cost = b["per_guest"] * b["instructions"]
            print(f"{b['offset']:6x}  {b['instructions']:3d} instructions x {b['per_guest']:5.2f} = {cost:6.1f}  "
                  f"{', '.join(b['lines'])}")
        return 0
    if args.listing:
        for row in report["listing"]:
            print(f"{row['offset']:6x} {row['per_guest']:5.2f}  {row['line']:<16} {row['text']}")
        return 0
    if args.frequencies:
        for f in report["frequencies"][:args.top]:
            print(f"{f['per_guest']:5.2f} per guest instruction: {f['instructions']:4d} instructions, "
                  f"{f['host_per_guest']:6.1f} host instructions per guest instruction  {', '.join(f['lines'])}")
        return 0
    rows = report["lines"]
    if args.branches:
        print(f"mispredicted branches (Valgrind's simulated predictor, not the host's): "
              f"{report['mispredicted_per_guest']} per guest instruction")
        rows = report["mispredicted_lines"]
    for row in rows[:args.top]:
        text = profile_lines.source_text(row["module"], row["line"])
        print(f"{row['per_guest']:7.3f}  {row['module']}:{row['line']:<5} {text[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
