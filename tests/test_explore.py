"""pulpsim sweep / pulpsim.explore: spec validation, grid expansion, local sweeps against direct runs,
resume, failing points, the command column, the CLI and the plots."""

from __future__ import annotations

import io
import json
import shlex
import textwrap
from contextlib import redirect_stderr, redirect_stdout

import pytest

import pulpsim
from pulpsim import cli, toolchain
from pulpsim.errors import ConfigError
from pulpsim.explore import parse_spec, read_table, runner, sweep
from pulpsim.explore.spec import load_spec

# A team of cores scales a vector in the TCDM; every core's output line shows the fork ran.
PROGRAM = r"""
#include "pmsis.h"
PI_L1 float x[512];
static void body(void *arg) {
    int id = pi_core_id(), n = pi_cl_team_nb_cores();
    for (int i = id; i < 512; i += n) x[i] = x[i] * 2.0f + 1.0f;
    pi_cl_team_barrier();
}
int main(void) { pi_cl_team_fork(0, body, 0); return 0; }
"""
ILLEGAL = r"""
int main(void) { __asm__ volatile(".word 0xffffffff"); return 0; }
"""


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    d = tmp_path_factory.mktemp("elves")
    out = {}
    for name, text in (("scale", PROGRAM), ("illegal", ILLEGAL)):
        src = d / f"{name}.c"
        src.write_text(text)
        out[name] = toolchain.build([src], output=d / f"{name}.elf")
    return out


def write_spec(path, text: str):
    path.write_text(textwrap.dedent(text))
    return path


def tiny_spec(tmp_path, elf, cores=(1, 2)):
    return write_spec(tmp_path / "tiny.toml", f"""
        name = "tiny"
        platform = "vega"
        [[workload]]
        kind = "elf"
        elf = "{elf}"
        [grid]
        cores = {list(cores)}
        """)


# ------------------------------------------------------------------------------ spec

@pytest.mark.parametrize("data, fragment", [
    ({}, "no [[workload]]"),
    ({"workload": [{"kind": "bogus"}]}, "kind must be one of"),
    ({"workload": [{"kind": "elf"}]}, "lacks 'elf'"),
    ({"workload": [{"kind": "elf", "elf": "a.elf", "shape": [1]}]}, "unknown field 'shape'"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}], "grid": {"cores": []}}, "non-empty list"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}], "grid": {"cores": 4}}, "non-empty list"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}], "grid": {"cores": [[1]]}}, "a value must be"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}], "gird": {}}, "unknown key 'gird'"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}, {"kind": "elf", "elf": "a.elf"}]}, "named 'a'"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}], "max_cycles": 0}, "max_cycles"),
    ({"workload": [{"kind": "elf", "elf": "a.elf"}], "points": [{"cores": 2}, {"cores": 2}]}, "appears twice"),
])
def test_invalid_specs_are_one_line_config_errors(data, fragment):
    with pytest.raises(ConfigError) as e:
        parse_spec(data)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_spec_files_that_cannot_be_read(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_spec(write_spec(tmp_path / "bad.toml", "grid = [\n"))


def test_grid_is_the_cartesian_product_then_the_listed_points():
    spec = parse_spec({"workload": [{"kind": "elf", "elf": "a.elf"}, {"kind": "elf", "elf": "b.elf"}],
                       "grid": {"cores": [1, 2, 4], "tcdm": {"banks": [8, 16]}},
                       "points": [{"platform": "pulp-open", "l2.latency": 30}]})
    assert len(spec.points) == 2 * (3 * 2 + 1)
    a = [p.overrides for p in spec.points if p.name == "a"]
    assert a == [{"cores": c, "tcdm.banks": b} for c in (1, 2, 4) for b in (8, 16)] + [{"l2.latency": 30}]
    assert spec.points[6].platform == "pulp-open" and spec.points[0].platform == "vega"
    assert spec.param_keys == ["cores", "tcdm.banks", "platform", "l2.latency"]
    assert len({p.id for p in spec.points}) == len(spec.points)


def test_point_ids_are_stable_and_depend_only_on_what_runs():
    base = {"workload": [{"kind": "elf", "elf": "a.elf"}], "grid": {"cores": [1, 2], "l2.latency": [5, 30]}}
    ids = [p.id for p in parse_spec(base).points]
    assert ids == [p.id for p in parse_spec(base).points]
    swapped = parse_spec({"workload": base["workload"], "grid": {"l2.latency": [5, 30], "cores": [1, 2]}})
    assert {p.id for p in swapped.points} == set(ids)          # the grid's key order does not matter
    other = parse_spec({"workload": base["workload"], "grid": {"cores": [1, 2], "l2.latency": [5, 31]}})
    assert len({p.id for p in other.points} & set(ids)) == 2   # only the unchanged points keep their ids


# ------------------------------------------------------------------------------ sweeps

def test_rows_equal_direct_runs_and_commands_reproduce_them(tmp_path, elves):
    table = sweep(tiny_spec(tmp_path, elves["scale"]), out=tmp_path / "out", jobs=1, progress=False, plots=False)
    assert [r["cores"] for r in table.rows] == [1, 2] and table.ran == 2
    for row in table.rows:
        ref = pulpsim.run(elves["scale"], platform="vega", cores=row["cores"])   # the independent reference
        assert row["status"] == "ok" and row["error"] == ""
        assert (row["cycles"], row["run_cycles"], row["instructions"]) == (ref.cycles, ref.cycles, ref.instructions)
        assert row["ipc"] == ref.instructions / ref.cycles
        for cause, v in ref.stalls.items():
            assert row[f"stall_{cause}"] == v
        assert [row[f"bank{b['bank']}_conflicts"] for b in ref.banks] == [b["conflicts"] for b in ref.banks]
        assert row["fpu_conflicts"] == sum(f["conflicts"] for f in ref.fpus)
        assert row["dma_busy"] == ref.dma["busy_cycles"] and row["energy_uj"] == ref.energy_total_uj
        argv = shlex.split(row["command"])
        assert argv[:2] == ["pulpsim", "run"]
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli.main(argv[1:] + ["--stats", "json"]) == 0
        rerun = json.loads(out.getvalue()[out.getvalue().index("{"):])
        assert (rerun["cycles"], rerun["instructions"]) == (row["cycles"], row["instructions"])
    # the CSV holds the same rows
    back = read_table(tmp_path / "out" / "results.csv")
    assert [(r["id"], r["cycles"], r["stall_tcdm_contention"]) for r in back.rows] == \
        [(r["id"], r["cycles"], r["stall_tcdm_contention"]) for r in table.rows]


def test_rerun_skips_finished_points(tmp_path, elves, monkeypatch):
    calls = []
    real = runner.run_point

    def counting(point, spec_path=None):
        calls.append(point.id)
        return real(point, spec_path)

    monkeypatch.setattr(runner, "run_point", counting)
    out = tmp_path / "out"
    first = sweep(tiny_spec(tmp_path, elves["scale"]), out=out, jobs=1, progress=False, plots=False)
    assert len(calls) == 2
    again = sweep(tiny_spec(tmp_path, elves["scale"]), out=out, jobs=1, progress=False, plots=False)
    assert len(calls) == 2 and (again.ran, again.skipped) == (0, 2)
    assert again.comparable() == first.comparable()
    grown = sweep(tiny_spec(tmp_path, elves["scale"], cores=(1, 2, 4)), out=out, jobs=1, progress=False, plots=False)
    assert len(calls) == 3 and (grown.ran, grown.skipped) == (1, 2)
    assert [r["cores"] for r in grown.rows] == [1, 2, 4]


def test_failing_points_are_recorded_and_the_others_complete(tmp_path, elves):
    spec = write_spec(tmp_path / "fail.toml", f"""
        [[workload]]
        kind = "elf"
        name = "scale"
        elf = "{elves['scale']}"
        [[workload]]
        kind = "elf"
        name = "illegal"
        elf = "{elves['illegal']}"
        [[points]]
        cores = 2
        [[points]]
        "tcdm.banks" = 3
        """)
    table = sweep(spec, out=tmp_path / "out", jobs=1, progress=False, plots=False)
    by = {(r["workload"], r.get("cores"), r.get("tcdm.banks")): r for r in table.rows}
    assert by[("scale", 2, None)]["status"] == "ok"
    for wl in ("scale", "illegal"):
        bad = by[(wl, None, 3)]
        assert bad["status"] == "failed" and "cycles" not in bad
        assert bad["error"] == "invalid platform parameter tcdm.banks=3: expected a power of two between 1 and 1024"
    fault = by[("illegal", 2, None)]
    assert fault["status"] == "failed"
    assert fault["error"].startswith("illegal instruction 0xffffffff (core 0, pc 0x")
    assert "\n" not in fault["error"]


def test_a_runaway_program_fails_at_the_cycle_limit(tmp_path, elves):
    spec = write_spec(tmp_path / "limit.toml", f"""
        max_cycles = 500
        [[workload]]
        kind = "elf"
        elf = "{elves['scale']}"
        [[points]]
        cores = 1
        """)
    row, = sweep(spec, out=tmp_path / "out", jobs=1, progress=False, plots=False).rows
    assert row["status"] == "failed" and "500" in row["error"]
    assert "--max-cycles 500" in row["command"]


def test_pool_of_two_workers_gives_the_same_rows(tmp_path, elves):
    spec = tiny_spec(tmp_path, elves["scale"])
    one = sweep(spec, out=tmp_path / "one", jobs=1, progress=False, plots=False)
    two = sweep(spec, out=tmp_path / "two", jobs=2, progress=False, plots=False)
    assert two.comparable() == one.comparable()
    assert (tmp_path / "two" / "results.csv").read_text().count("\n") == 3


# ------------------------------------------------------------------------------ CLI and plots

def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("args, fragment", [
    (("sweep", "missing.toml"), "not found"),
    (("sweep", "{spec}", "--jobs", "0"), "--jobs must be a positive integer"),
    (("sweep", "{spec}", "--scheduler", "http://x"), "expects tcp://HOST:PORT or local"),
    (("sweep", "{spec}", "--point", "zzzz"), "no point with id 'zzzz'"),
    (("sweep", "plot", "{out}", "--x", "cores", "--y", "nonsense"), "no column 'nonsense'"),
    (("sweep", "plot", "{out}", "--x", "cores"), "--x and --y go together"),
    (("sweep", "plot", "nowhere.csv"), "not found"),
])
def test_cli_errors_are_one_line_with_the_config_status(tmp_path, elves, args, fragment):
    spec = tiny_spec(tmp_path, elves["scale"], cores=(2,))
    out = tmp_path / "out"
    sweep(spec, out=out, jobs=1, progress=False, plots=False)
    status, _, err = run_cli(*(a.format(spec=spec, out=out) for a in args))
    assert status == 251, err
    assert err.startswith("pulpsim: error: ") and len(err.strip().splitlines()) == 1 and fragment in err


def test_cli_point_reruns_one_point_and_fails_with_its_error(tmp_path, elves):
    spec = write_spec(tmp_path / "p.toml", f"""
        [[workload]]
        kind = "elf"
        elf = "{elves['illegal']}"
        [[workload]]
        kind = "elf"
        elf = "{elves['scale']}"
        """)
    status, out, _ = run_cli("sweep", spec, "--out", tmp_path / "out", "--quiet", "--no-plots")
    assert status == 0 and "2 points, 2 simulated, 0 already" in out and "1 failed" in out
    table = read_table(tmp_path / "out")
    ok, = table.ok()
    bad, = table.failed()
    status, out, _ = run_cli("sweep", spec, "--point", ok["id"][:6])
    assert status == 0 and f"cycles               {ok['cycles']}" in out
    status, _, err = run_cli("sweep", spec, "--point", bad["id"])
    assert status == 254 and err.strip() == f"pulpsim: error: {bad['error']}"
    status, _, err = run_cli(*shlex.split(bad["command"])[1:])     # pulpsim run ELF: the same error
    assert status == 254 and err.strip() == f"pulpsim: error: {bad['error']}"


def test_plots_are_written(tmp_path, elves):
    out = tmp_path / "out"
    sweep(tiny_spec(tmp_path, elves["scale"]), out=out, jobs=1, progress=False)
    for name in ("speedup_vs_cores", "bank_conflicts", "stalls", "pareto_energy"):
        for ext in ("png", "svg"):
            assert (out / "plots" / f"{name}.{ext}").stat().st_size > 1000, name
    status, printed, err = run_cli("sweep", "plot", out / "results.csv", "--x", "cores", "--y", "ipc",
                                   "-o", tmp_path / "mine.png")
    assert status == 0, err
    assert (tmp_path / "mine.png").stat().st_size > 1000 and (tmp_path / "mine.svg").stat().st_size > 1000


# ------------------------------------------------------------------------------ the other workload kinds

def test_kernel_and_tiled_rows_equal_direct_runs(tmp_path):
    import numpy as np
    from pulpsim.workloads import kernel_runner as kr, tiled
    spec = write_spec(tmp_path / "k.toml", """
        platform = "pulp-open"
        [[workload]]
        kind = "kernel"
        kernel = "matmul"
        variant = "2x2"
        shape = [8, 12, 16]
        seed = 3
        [[workload]]
        kind = "tiled"
        layer = "pointwise"
        shape = [16, 8, 4, 4]
        step = "wg"
        [[points]]
        cores = 2
        """)
    mm, pw = sweep(spec, out=tmp_path / "out", jobs=1, progress=False, plots=False).rows
    rng = np.random.default_rng(3)
    A = rng.standard_normal((8, 16)).astype(np.float32)
    B = rng.standard_normal((16, 12)).astype(np.float32)
    ref = kr.run_matmul(A, B, variant="2x2", platform=pulpsim.get_platform("pulp-open", cores=2))
    assert (mm["cycles"], mm["run_cycles"], mm["macs"]) == (ref.cycles, ref.result.cycles, 8 * 12 * 16)
    assert mm["bank_conflicts"] == ref.bank_conflicts and mm["team"] == 2
    out = io.StringIO()
    with redirect_stdout(out):          # its command is pulpsim kernel, which measures the same region
        assert cli.main(shlex.split(mm["command"])[1:]) == 0
    assert f"cycles        {mm['cycles']}\n" in out.getvalue()
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((16, 4, 4)).astype(np.float32), rng.standard_normal((8, 4, 4)).astype(np.float32)
    ref = tiled.run_tiled("pointwise", "wg", {"x": x, "dy": dy}, platform=pulpsim.get_platform("pulp-open", cores=2),
                          cores=2)
    assert (pw["cycles"], pw["dma_wait"], pw["macs"]) == (ref.cycles, ref.dma_wait_cycles, ref.macs)
    assert pw["tiles"] == " ".join(f"{k}={v}" for k, v in ref.tiles.items())
    assert pw["command"].endswith(f"--point {pw['id']}")


def test_a_learning_event_point(tmp_path):
    import numpy as np
    from pulpsim.cl import model, nn, onchip
    from pulpsim.cl.protocol import AdaptiveState
    spec = write_spec(tmp_path / "cl.toml", """
        [[workload]]
        kind = "cl"
        width = 0.0625
        resolution = 32
        lr_layer = 25
        batch = 2
        seed = 5
        """)
    row, = sweep(spec, out=tmp_path / "out", jobs=1, progress=False, plots=False).rows
    assert row["status"] == "ok", row["error"]
    layers = model.mobilenet_v1(0.0625, 32, 10)
    _, adaptive = model.split(layers, 25)
    rng = np.random.default_rng(5)
    params = nn.init_params(adaptive, rng, batchnorm=False)
    x = np.maximum(rng.standard_normal((2,) + tuple(adaptive[0].in_shape)), 0).astype(np.float32)
    y = rng.integers(0, 10, 2)
    rec = onchip.SimBackend(platform="vega", cores=8).simulate(AdaptiveState(adaptive, params), x, y, lr=1e-3,
                                                                momentum=0.9, weight_decay=5e-4)
    assert (row["cycles"], row["instructions"], row["macs"]) == (rec.cycles, rec.instructions, rec.macs)
    assert row["programs"] == 3 and row["bank_conflicts"] == rec.bank_conflicts
    # per bank and per FPU, summed over the event's programs
    assert sum(row[f"bank{b}_conflicts"] for b in range(16)) == rec.bank_conflicts > 0
    assert row["fpu_conflicts"] == sum(f["conflicts"] for f in rec.fpus) and row["fpu_ops"] > 0


def test_docs_describe_every_column():
    from pathlib import Path
    from pulpsim.explore import table as tbl
    doc = (Path(__file__).resolve().parents[1] / "docs" / "explore.md").read_text()
    section = doc[doc.index("## The table"):doc.index("## Resuming")]
    for col in tbl.ID_COLUMNS + tbl.STAT_COLUMNS + tbl.TAIL_COLUMNS + ("status",):
        if col.startswith("stall_") and col != "stall_cycles":
            continue        # documented together as stall_<cause>
        assert f"`{col}`" in section, col
    assert "`stall_<cause>`" in section and "`bank<i>_conflicts`" in section


def test_a_tiled_sequence_point_equals_run_sequence(tmp_path):
    import numpy as np
    from pulpsim.workloads import tiled
    spec = write_spec(tmp_path / "seq.toml", """
        platform = "vega"
        [[workload]]
        kind = "sequence"
        name = "pw then pool then fc"
        seed = 7
        tensors = { x = [16, 4, 4], W1 = [8, 16], W2 = [5, 8] }
        [[workload.steps]]
        layer = "pointwise"
        step = "fw"
        ins = { x = "x", W = "W1" }
        outs = { y = "h" }
        [[workload.steps]]
        layer = "avgpool"
        step = "fw"
        ins = { x = "h" }
        outs = { y = "p" }
        [[workload.steps]]
        layer = "linear"
        step = "fw"
        ins = { x = ["p", [8]], W = "W2" }
        outs = { y = "z" }
        [[points]]
        cores = 4
        """)
    row, = sweep(spec, out=tmp_path / "out", jobs=1, progress=False, plots=False).rows
    assert row["status"] == "ok", row["error"]
    rng = np.random.default_rng(7)
    given = {nm: rng.standard_normal(sh).astype(np.float32) for nm, sh in
             (("x", (16, 4, 4)), ("W1", (8, 16)), ("W2", (5, 8)))}
    ref = tiled.run_sequence([("pointwise", "fw", {"x": "x", "W": "W1"}, {"y": "h"}),
                              ("avgpool", "fw", {"x": "h"}, {"y": "p"}),
                              ("linear", "fw", {"x": ("p", (8,)), "W": "W2"}, {"y": "z"})],
                             given, platform=pulpsim.get_platform("vega", cores=4), cores=4)
    assert (row["cycles"], row["macs"], row["dma_wait"]) == (ref.cycles, ref.macs, ref.dma_wait_cycles)
    assert row["instructions"] == ref.result.instructions and row["team"] == 4


def test_parquet_holds_the_csv_rows(tmp_path, elves):
    pq = pytest.importorskip("pyarrow.parquet")
    table = sweep(tiny_spec(tmp_path, elves["scale"]), out=tmp_path / "out", jobs=1, progress=False, plots=False)
    back = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert [r["id"] for r in back] == [r["id"] for r in table.rows]
    assert [(r["cores"], r["cycles"], r["bank3_conflicts"]) for r in back] == \
        [(r["cores"], r["cycles"], r["bank3_conflicts"]) for r in table.rows]


@pytest.mark.parametrize("name, points", [("cores", 40), ("banks", 24), ("fpu", 12), ("l1", 9), ("l2", 15),
                                          ("cl", 12)])
def test_example_specs_are_valid_with_the_documented_points(name, points):
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    spec = load_spec(root / "examples" / f"sweep-{name}.toml")
    assert spec.name == name and len(spec.points) == points
    assert f"`sweep-{name}.toml` | " in (root / "docs" / "explore.md").read_text()
    for p in spec.points:
        pulpsim.get_platform(p.platform, p.overrides)        # every override is valid


def test_malformed_workload_fields_fail_their_point_with_a_config_message(tmp_path):
    spec = write_spec(tmp_path / "bad.toml", """
        [[workload]]
        kind = "sequence"
        name = "seq"
        tensors = { x = [4] }
        steps = [{ layer = "relu", step = "fw", ins = "x", outs = { y = "y" } }]
        [[workload]]
        kind = "tiled"
        name = "tiled"
        layer = "pointwise"
        shape = [4, 4, 2]
        [[workload]]
        kind = "kernel"
        name = "kernel"
        kernel = "relu"
        shape = [2, 2, 2]
        cores = 9
        """)
    rows = {r["workload"]: r for r in sweep(spec, out=tmp_path / "out", jobs=1, progress=False, plots=False).rows}
    assert rows["seq"]["error"].startswith("workload seq: step 0 needs layer, step, ins and outs")
    assert rows["tiled"]["error"] == "pointwise: --shape takes 4 values (C K H W), got 3"
    assert rows["kernel"]["error"].startswith("workload kernel: cores must be between 1 and 8")
    assert all(r["status"] == "failed" and "internal error" not in r["error"] for r in rows.values())


def test_read_table_keeps_ids_that_look_like_numbers_as_text(tmp_path):
    # a point id is 12 hex digits: some are all decimal digits, or digits with one "e" (a float's exponent)
    from pulpsim.explore.table import read_table
    (tmp_path / "results.csv").write_text("id,workload,kind,platform,status,cycles\n"
                                          "123456789012,w,elf,vega,ok,10\n1234e5678901,w,elf,vega,ok,11\n")
    rows = read_table(tmp_path).rows
    assert [r["id"] for r in rows] == ["123456789012", "1234e5678901"]
    assert [r["cycles"] for r in rows] == [10, 11]
