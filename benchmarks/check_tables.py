"""Re-run the measurements behind the kernel, layer and MobileNet-V1 tables and compare them with a recording.

Usage:  python benchmarks/check_tables.py [--record] [--only kernel|mobilenet|layers] [--docs-only] [--file PATH]

The runs are exactly those of the tables' commands: ``benchmarks/kernel_efficiency.py`` (every matmul
variant, 64x64x64, 1 and 8 cores of pulp-open and vega; README "Kernel efficiency" and docs/kernels.md
"Measured MAC/cycle") and ``benchmarks/mobilenet_layers.py`` (every training step of the MobileNet-V1
layers 19..28 on vega and pulp-open, 1 and 8 cores; README "Training layers" and docs/kernels.md
"MobileNet-V1 training layers"), and ``pulpsim kernel`` (seed 0) for docs/kernels.md's sentence on the layer
kernels ("Measured on `vega`, 8 cores"), with the same inputs.  For every run it keeps the measured cycles and
instructions, a digest of the output tensors, and every statistic of the simulator's Result (per core:
cycles, instructions, stall cycles by cause, asleep, op counts, loads, stores, branches, TCDM accesses,
shared-FPU operations; per TCDM bank: accesses and conflicts; per shared FPU: operations and conflicts;
DMA bytes, busy cycles, transfers and delayed beats; perf regions; energy) except the host time.

``--record`` writes them to ``benchmarks/recorded_tables.json``.  Without it, each run is compared with the
recording and gets one line, ``identical`` or ``DIFFERENT`` with the first differing fields; then the
numbers printed in the README and docs/kernels.md tables are checked against the recorded runs.  The exit
status is 1 if anything differs (or a result fails its numpy check), else 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import kernel_efficiency  # noqa: E402
import mobilenet_layers  # noqa: E402
from pulpsim.workloads import kernel_cli  # noqa: E402
from pulpsim.workloads import kernel_runner as kr  # noqa: E402

RECORDING = ROOT / "benchmarks" / "recorded_tables.json"

#: kernel_efficiency.py's defaults, which are the tables' runs.
MATMUL_SHAPE = (64, 64, 64)
MATMUL_PLATFORMS = ("pulp-open", "vega")
CORES = (1, 8)
#: mobilenet_layers.py's default columns, which are the tables' runs.
MOBILENET_CONFIGS = [("vega", 1), ("vega", 8), ("pulp-open", 1), ("pulp-open", 8)]

#: Relative tolerance for floating-point fields (energy, CPI), which are computed from the integer counts.
FLOAT_RTOL = 1e-12


def digest(arrays: dict) -> str:
    """SHA-256 of the named float32 arrays' bytes, in name order: equal digests mean bit-identical outputs."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def result_stats(result) -> dict:
    """Every field of a simulator Result except its host time, as plain JSON values."""
    d = result.to_dict()
    d.pop("wall_seconds", None)
    return json.loads(json.dumps(d))


def matmul_record(r, ok: bool) -> dict:
    """What is kept of a matmul run (a kernel_runner.MatmulResult and its numpy check)."""
    return {"cycles": r.cycles, "instructions": r.instructions, "macs": r.macs, "ok": ok,
            "bank_conflicts": r.bank_conflicts, "output": digest({"C": r.C}), "result": result_stats(r.result)}


def matmul_runs():
    """Yield (key, record) for every run of the matmul tables, in kernel_efficiency.py's order."""
    A, B = kernel_efficiency.random_inputs(MATMUL_SHAPE)
    for variant in kr.VARIANTS:
        for pl in MATMUL_PLATFORMS:
            for cores in CORES:
                yield f"matmul {variant} {pl}:{cores}", matmul_record(*kernel_efficiency.checked_run(
                    A, B, variant, pl, cores))


def mobilenet_runs():
    """Yield (key, record) for every run of the MobileNet-V1 tables, in mobilenet_layers.py's order."""
    for row, runs in mobilenet_layers.step_runs(MOBILENET_CONFIGS):
        idx, _, _, _, _, _, step = row
        for (pl, cores), (r, ok) in zip(MOBILENET_CONFIGS, runs):
            yield f"mobilenet {idx} {step} {pl}:{cores}", {
                "cycles": r.cycles, "compute_cycles": r.compute_cycles, "dma_wait_cycles": r.dma_wait_cycles,
                "macs": r.macs, "ok": ok, "bank_conflicts": r.bank_conflicts,
                "dma_delayed_beats": r.dma_delayed_beats, "tiles": mobilenet_layers.tiles_text(r.tiles), "steps": r.steps,
                "output": digest(r.outputs), "result": result_stats(r.result)}


#: The layer-kernel runs of docs/kernels.md's sentence "Measured on `vega`, 8 cores": `pulpsim kernel` with the
#: default seed, tensors in the TCDM. (layer, step, shape as `pulpsim kernel --shape` takes it, text in the sentence)
LAYER_RUNS = [("conv2d", "fw", (8, 16, 8, 8)), ("conv2d", "wg", (8, 16, 8, 8)), ("conv2d", "ig", (8, 16, 8, 8)),
              ("pointwise", "fw", (16, 16, 8, 8)), ("depthwise", "fw", (16, 8, 8)), ("linear", "fw", (64, 32))]


def layer_key(layer: str, step: str, shape) -> str:
    return f"layer {layer} {step} {'x'.join(map(str, shape))} vega:8"


def layer_runs():
    """Yield (key, record) for the layer-kernel runs of docs/kernels.md (``pulpsim kernel``, vega, 8 cores)."""
    for layer, step, shape in LAYER_RUNS:
        r, _, _ = kernel_cli.checked_run(layer, step, list(shape), platform="vega", cores=8, stride=1, seed=0)
        yield layer_key(layer, step, shape), {
            "cycles": r.cycles, "instructions": r.instructions, "macs": r.macs, "ok": True,
            "bank_conflicts": r.bank_conflicts, "output": digest(r.outputs), "result": result_stats(r.result)}


GROUPS = {"kernel": matmul_runs, "mobilenet": mobilenet_runs, "layers": layer_runs}


def flatten(value, prefix: str = "") -> dict:
    """``{"a": {"b": [1, 2]}}`` -> ``{"a.b[0]": 1, "a.b[1]": 2}``."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def same_value(a, b) -> bool:
    """Exact equality, except floats (derived quantities) within FLOAT_RTOL."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=FLOAT_RTOL, abs_tol=0.0)
    return type(a) is type(b) and a == b


def differences(recorded: dict, measured: dict) -> list[str]:
    """The fields that differ between two records, as ``path: recorded -> measured``, in path order."""
    rec, now = flatten(recorded), flatten(measured)
    out = []
    for path in sorted(set(rec) | set(now)):
        a, b = rec.get(path, "(absent)"), now.get(path, "(absent)")
        if not same_value(a, b):
            out.append(f"{path}: {a} -> {b}")
    return out


# --- the tables in README.md and docs/kernels.md against the recording -------------------------------------

README = ROOT / "README.md"
KERNELS_DOC = ROOT / "docs" / "kernels.md"


def table_after(text: str, header: str) -> list[list[str]]:
    """The body rows (lists of stripped cells) of the first markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header):
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("|"):
                    break
                rows.append([c.strip() for c in body.strip().strip("|").split("|")])
            return rows
    raise LookupError(f"no table with the header {header!r}")


def plain(cell: str) -> str:
    """A cell without markdown emphasis and code marks."""
    return cell.replace("**", "").replace("`", "").strip()


def matmul_cells(runs: dict, variant: str) -> dict:
    """MAC/cycle and cycles of one variant's recorded runs, keyed ``platform:cores``."""
    return {f"{pl}:{c}": runs[f"matmul {variant} {pl}:{c}"] for pl in MATMUL_PLATFORMS for c in CORES}


def mac_per_cycle(rec: dict) -> float:
    return rec["macs"] / rec["cycles"]


def expected_kernels_doc_matmul(runs: dict, variant: str) -> list[str]:
    """docs/kernels.md, "Measured MAC/cycle": MAC/cycle on 1 and 8 cores of pulp-open, then of vega."""
    cells = matmul_cells(runs, variant)
    return [variant] + [f"{mac_per_cycle(cells[f'{pl}:{c}']):.3f}" for pl in MATMUL_PLATFORMS for c in CORES]


def expected_readme_matmul(runs: dict, variant: str) -> list[str]:
    """README, "Kernel efficiency": ``1-core / 8-core MAC/cycle, speed-up`` per platform."""
    cells = matmul_cells(runs, variant)
    out = [variant]
    for pl in MATMUL_PLATFORMS:
        one, eight = cells[f"{pl}:1"], cells[f"{pl}:8"]
        out.append(f"{mac_per_cycle(one):.3f} / {mac_per_cycle(eight):.3f}, {one['cycles'] / eight['cycles']:.2f}x")
    return out


def mobilenet_rows(runs: dict):
    """(layer row, recorded runs per config) for every step of the MobileNet-V1 table, in its order."""
    for idx, lname, layer, C, H, k in mobilenet_layers.LAYERS:
        for step in mobilenet_layers.steps_of(layer):
            yield ((idx, lname, layer, C, H, k, step),
                   [runs[f"mobilenet {idx} {step} {pl}:{c}"] for pl, c in MOBILENET_CONFIGS])


def expected_kernels_doc_mobilenet(runs: dict) -> list[list[str]]:
    """docs/kernels.md's MobileNet-V1 table, rows as mobilenet_layers.py prints them from the recorded runs."""
    columns = mobilenet_layers.table_columns(MOBILENET_CONFIGS)
    detail = mobilenet_layers.detail_config(MOBILENET_CONFIGS)
    rows = []
    for row, recs in mobilenet_rows(runs):
        cells = [(r["macs"], r["cycles"], r["ok"], r["tiles"], r["dma_wait_cycles"]) for r in recs]
        line = mobilenet_layers.table_row(row, columns, detail, cells)
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def expected_readme_mobilenet(runs: dict) -> dict:
    """README's MobileNet-V1 table (8 cores of vega and pulp-open, speed-ups, vega's DMA wait), keyed by its first cell."""
    rows = {}
    for (idx, lname, layer, C, H, k, step), recs in mobilenet_rows(runs):
        v1, v8, p1, p8 = recs
        eight = lambda r: f"{r['macs'] / r['cycles']:.2f}" if r["macs"] else f"{r['cycles']:,} cyc"  # noqa: E731
        rows[(f"{idx} {lname}", step)] = [
            f"{idx} {lname}", mobilenet_layers.shape_text(layer, C, H, k), step, f"{v8['macs']:,}",
            eight(v8), f"{v1['cycles'] / v8['cycles']:.2f}x", eight(p8), f"{p1['cycles'] / p8['cycles']:.2f}x",
            f"{100.0 * v8['dma_wait_cycles'] / v8['cycles']:.1f} %"]
    return rows


def row_mismatches(where: str, doc_rows, expected_rows, key_cells: int = 1) -> list[str]:
    """Cells that differ between the document's rows and the expected ones (both lists of cell lists).

    A row is named by its first ``key_cells`` cells; an expected row of None means no recorded run matches.
    """
    out = []
    for doc, exp in zip(doc_rows, expected_rows):
        doc = [plain(c) for c in doc]
        name = " ".join(doc[:key_cells])
        if exp is None:
            out.append(f"{where}: row {name!r} is not a recorded run")
        elif len(doc) != len(exp):
            out.append(f"{where}: row {name!r} has {len(doc)} cells, the recording gives {len(exp)}")
        else:
            out += [f"{where}: row {name!r}, column {j + 1}: {d!r} printed, {e!r} recorded"
                    for j, (d, e) in enumerate(zip(doc, exp)) if d != e]
    return out


def doc_matmul_cycles(text: str) -> dict:
    """docs/kernels.md's sentence "Cycle counts for the same runs": ``{"variant platform:cores": cycles}``."""
    start = text.index("Cycle counts for the same runs")
    para = " ".join(text[start:text.index("\n\n", start)].split())
    out = {}
    for m in re.finditer(r"`(\w+)` ((?:[\d,]+ / [\d,]+ on [\w-]+(?: and )?)+)", para):
        for one, eight, pl in re.findall(r"([\d,]+) / ([\d,]+) on ([\w-]+)", m.group(2)):
            out[f"{m.group(1)} {pl}:1"] = int(one.replace(",", ""))
            out[f"{m.group(1)} {pl}:8"] = int(eight.replace(",", ""))
    return out


def layers_sentence(runs: dict) -> str:
    """docs/kernels.md's sentence on the layer kernels, with the MAC/cycle of the recorded runs."""
    mpc = {(layer, step): f"{mac_per_cycle(runs[layer_key(layer, step, shape)]):.2f}"
           for layer, step, shape in LAYER_RUNS}
    return ("Measured on `vega`, 8 cores (`pulpsim kernel LAYER --shape ... --step S --platform vega`, seed 0): "
            f"conv2d (8 -> 16 channels, 8x8) fw / wg / ig {mpc['conv2d', 'fw']} / {mpc['conv2d', 'wg']} / "
            f"{mpc['conv2d', 'ig']} MAC/cycle; pointwise fw (16 -> 16 channels, 8x8) {mpc['pointwise', 'fw']}; "
            f"depthwise fw (16 channels, 8x8) {mpc['depthwise', 'fw']}; linear fw (64 -> 32) {mpc['linear', 'fw']}.")


def check_docs(groups, path: Path) -> list[str]:
    """Every table number of README and docs/kernels.md that differs from the recorded runs (empty: all agree)."""
    runs = json.loads(path.read_text())["runs"]
    readme, kdoc = README.read_text(), KERNELS_DOC.read_text()
    problems = []
    if "kernel" in groups:
        variants = set(kr.VARIANTS)
        rows = table_after(kdoc, "| variant | pulp-open 1 core |")
        exp = [expected_kernels_doc_matmul(runs, plain(r[0])) if plain(r[0]) in variants else None for r in rows]
        problems += row_mismatches("docs/kernels.md, matmul MAC/cycle", rows, exp)
        rows = table_after(readme, "| variant | pulp-open (private FPUs) |")
        names = [plain(r[0]).split()[0] for r in rows]
        exp = [expected_readme_matmul(runs, n) if n in variants else None for n in names]
        problems += row_mismatches("README, kernel efficiency", [[n] + r[1:] for n, r in zip(names, rows)], exp)
        for key, cycles in doc_matmul_cycles(kdoc).items():
            rec = runs[f"matmul {key}"]["cycles"]
            if rec != cycles:
                problems.append(f"docs/kernels.md, matmul cycle counts: {key} {cycles:,} printed, {rec:,} recorded")
    if "layers" in groups:
        sentence = layers_sentence(runs)
        if sentence not in " ".join(kdoc.split()):
            problems.append(f"docs/kernels.md, layer kernels: the recorded runs give {sentence!r}")
    if "mobilenet" in groups:
        rows = table_after(kdoc, "| idx | layer | shape | step | MACs |")
        exp = expected_kernels_doc_mobilenet(runs)
        if len(rows) != len(exp):
            problems.append(f"docs/kernels.md, MobileNet-V1: {len(rows)} rows, {len(exp)} recorded steps")
        problems += row_mismatches("docs/kernels.md, MobileNet-V1", rows, exp, key_cells=4)
        rows = table_after(readme, "| layer | shape | step | MACs |")
        exp = expected_readme_mobilenet(runs)
        problems += row_mismatches("README, MobileNet-V1", rows, [exp.get((plain(r[0]), r[2])) for r in rows],
                                   key_cells=3)
    return problems


def git_commit() -> str:
    """The commit the working tree is at, ``+changes`` if the simulator, runtime or kernel sources differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "pulpsim", "kernels"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_recording(data: dict, path: Path) -> None:
    """Write the recording with one run per line, so that a re-recording's diff shows the runs that changed."""
    runs = sorted(data["runs"].items())
    lines = ["{", f' "commit": {json.dumps(data["commit"])},', ' "runs": {']
    lines += [f"  {json.dumps(key)}: {json.dumps(rec, sort_keys=True, separators=(',', ':'))}"
              + ("," if i < len(runs) - 1 else "") for i, (key, rec) in enumerate(runs)]
    lines += [" }", "}"]
    path.write_text("\n".join(lines) + "\n")


def record(groups, path: Path) -> int:
    """Run the groups and write (or update) the recording."""
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    data["commit"] = git_commit()
    for g in groups:
        t0 = time.perf_counter()
        n = 0
        for key, rec in GROUPS[g]():
            data["runs"][key] = rec
            n += 1
            print(f"{key}: {rec['cycles']:,} cycles" + ("" if rec["ok"] else "  WRONG"), flush=True)
        print(f"{g}: {n} runs recorded in {time.perf_counter() - t0:.0f} s", flush=True)
    write_recording(data, path)
    print(f"wrote {path}")
    return 0


def compare(groups, path: Path) -> int:
    """Run the groups and print one verdict per run against the recording; 1 if any run differs."""
    recorded = json.loads(path.read_text())["runs"]
    bad = 0
    for g in groups:
        t0 = time.perf_counter()
        n = 0
        for key, rec in GROUPS[g]():
            n += 1
            if key not in recorded:
                print(f"{key}: DIFFERENT: not in the recording")
                bad += 1
                continue
            diff = differences(recorded[key], rec)
            if not rec["ok"]:
                diff.insert(0, "result fails its numpy check")
            bad += bool(diff)
            print(f"{key}: " + ("identical" if not diff else
                                f"DIFFERENT ({len(diff)} fields): " + "; ".join(diff[:4])), flush=True)
        print(f"{g}: {n} runs compared in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"{bad} run(s) differ from the recording" if bad else "every run identical to the recording")
    return 1 if bad else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--record", action="store_true", help="write the recording instead of comparing with it")
    p.add_argument("--only", choices=sorted(GROUPS),
                   help="run only the matmul tables' runs (kernel), the MobileNet-V1 ones or the layer kernels'")
    p.add_argument("--file", type=Path, default=RECORDING, help="the recording (default: %(default)s)")
    p.add_argument("--docs-only", action="store_true",
                   help="only check the README and docs/kernels.md tables against the recording (no runs)")
    args = p.parse_args(argv)
    groups = [args.only] if args.only else list(GROUPS)
    t0 = time.perf_counter()
    if args.record:
        status = record(groups, args.file)
    else:
        status = 0 if args.docs_only else compare(groups, args.file)
        problems = check_docs(groups, args.file)
        for line in problems:
            print(line)
        print(f"{len(problems)} table number(s) in README.md and docs/kernels.md differ from the recording"
              if problems else "README.md and docs/kernels.md tables agree with the recording")
        status = status or (1 if problems else 0)
    print(f"host time {time.perf_counter() - t0:.0f} s")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
