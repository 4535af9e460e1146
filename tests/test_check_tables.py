"""benchmarks/check_tables.py: the recorded table runs, their comparison, and the docs' agreement with them."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ct = _load("check_tables")


@pytest.fixture(scope="module")
def recorded_runs():
    return json.loads(ct.RECORDING.read_text())["runs"]


def test_recording_has_every_table_run(recorded_runs):
    # 9 variants x 2 platforms x 2 core counts; 38 MobileNet-V1 steps x 4 configs (docs/kernels.md's table)
    assert sum(k.startswith("matmul ") for k in recorded_runs) == 9 * 2 * 2
    assert sum(k.startswith("mobilenet ") for k in recorded_runs) == 38 * 4
    assert sum(k.startswith("layer ") for k in recorded_runs) == len(ct.LAYER_RUNS) == 6
    assert all(r["ok"] for r in recorded_runs.values())


def test_readme_and_kernels_doc_tables_agree_with_the_recording():
    assert ct.check_docs(list(ct.GROUPS), ct.RECORDING) == []


@pytest.mark.parametrize("doc, old, new, expected", [
    ("README.md", "| 2x2 | 0.260 / 2.027, 7.81x", "| 2x2 | 0.260 / 2.027, 7.80x", "README, kernel efficiency: row '2x2'"),
    ("docs/kernels.md", "`naive` 2,409,413 / 308,261", "`naive` 2,409,413 / 308,262",
     "matmul cycle counts: naive pulp-open:8 308,262 printed, 308,261 recorded"),
    ("docs/kernels.md", "| 28 | fc | 1024 -> 50 | ig | 51,200 | 0.22 (228,303)",
     "| 28 | fc | 1024 -> 50 | ig | 51,200 | 0.22 (228,304)", "row '28 fc 1024 -> 50 ig', column 6"),
    ("docs/kernels.md", "linear fw (64 -> 32) 1.31.", "linear fw (64 -> 32) 1.32.", "layer kernels: the recorded"),
])
def test_a_changed_number_in_the_docs_is_reported(tmp_path, monkeypatch, doc, old, new, expected):
    copy = tmp_path / Path(doc).name
    shutil.copy(ROOT / doc, copy)
    text = copy.read_text()
    assert old in text
    copy.write_text(text.replace(old, new))
    monkeypatch.setattr(ct, "README" if doc == "README.md" else "KERNELS_DOC", copy)
    problems = ct.check_docs(list(ct.GROUPS), ct.RECORDING)
    assert len(problems) == 1 and expected in problems[0], problems


def test_differences_name_the_changed_fields():
    rec = {"cycles": 10, "result": {"cores": [{"stalls": {"load_use": 3}}, {"stalls": {"load_use": 4}}]},
           "energy": 0.5}
    same = json.loads(json.dumps(rec))
    assert ct.differences(rec, same) == []
    changed = json.loads(json.dumps(rec))
    changed["result"]["cores"][1]["stalls"]["load_use"] = 5
    changed["energy"] = 0.5 * (1 + 1e-6)
    assert ct.differences(rec, changed) == ["energy: 0.5 -> 0.5000005",
                                            "result.cores[1].stalls.load_use: 4 -> 5"]
    assert ct.differences({"a": 1}, {"a": 1.0}) == ["a: 1 -> 1.0"]          # an int turned float
    assert ct.differences({"a": [1]}, {"a": [1, 2]}) == ["a[1]: (absent) -> 2"]


def test_a_table_run_reproduces_its_recording(recorded_runs):
    # One run of the kernel table, whole: cycles, instructions, output bits and every Result statistic.
    A, B = ct.kernel_efficiency.random_inputs(ct.MATMUL_SHAPE)
    measured = ct.matmul_record(*ct.kernel_efficiency.checked_run(A, B, "asm_4x4", "vega", 8))
    assert ct.differences(recorded_runs["matmul asm_4x4 vega:8"], measured) == []
