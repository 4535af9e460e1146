"""`pulpsim cl run`: the report it writes, the options it passes on, and its one-line errors on bad input.

The runs use the tiny configuration of ``clrun`` (in-process, a few seconds each). The numbers are
checked against independent references: the protocol run directly through the Python API with the
configuration the options name, and byte counts derived by hand from the LR shape."""

from __future__ import annotations

import json
import os
import pickle
import sys

import numpy as np
import pytest

import clrun
from clrun import finished_run, tiny  # noqa: F401 (fixtures)
from pulpsim import blas
from pulpsim.cl import cli, data, protocol, pretrain
from pulpsim.cl.synthetic import scenario
from pulpsim.sim.platform import get_platform


def assert_one_line_error(status, capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert status == 251, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("pulpsim: error: ")
    for frag in fragments:
        assert frag in err, (frag, err)


# ---- the report -------------------------------------------------------------------------------

def test_run_writes_report_plots_results_and_checkpoint(finished_run):
    for name in ("report.md", "results.json", "accuracy.png", "memory.png", cli.CHECKPOINT):
        assert (finished_run / name).is_file(), name
    for png in ("accuracy.png", "memory.png"):
        assert (finished_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (finished_run / "cost.png").exists()   # nothing ran on the simulator


def test_results_are_those_of_the_protocol_with_the_options_given(finished_run):
    """The accuracies in results.json equal a direct API run of the configuration the options name:
    LR layer 11, 60 LRs, seed 0, all methods, the first 4 experiences of the tiny data."""
    res = json.loads((finished_run / "results.json").read_text())
    scen = scenario(clrun.SPEC, units_per_experience=data.SYNTHETIC_UNITS, order_seed=0)
    scen = cli.first_experiences(scen, 4)
    pre = pretrain.pretrained(clrun.pretrain_config(None, clrun.SPEC))
    direct = protocol.run(protocol.ProtocolConfig(lr_index=11, capacity=60), scen, pre)
    assert set(res["protocol"]["methods"]) == set(protocol.METHODS)
    for name, m in direct.methods.items():
        got = res["protocol"]["methods"][name]
        assert got["accuracy"] == m.accuracy, name
        assert got["loss"] == m.loss, name
        assert len(got["events"]) == len(m.events)
    assert res["protocol"]["config"]["lr_index"] == 11 and res["protocol"]["config"]["capacity"] == 60
    assert res["protocol"]["experience_sizes"] == [len(e) for e in scen.experiences]


def test_memory_bytes_in_the_results(finished_run):
    """LR layer 11 at width 0.25 and 32x32 is conv4_2/dw, 64 channels of 2x2 (32 / 16): a UINT8 LR is
    256 bytes, a label 1 byte (5 classes)."""
    res = json.loads((finished_run / "results.json").read_text())
    assert res["lr_memory"] == {"lrs": 60 * 256, "labels": 60, "total": 60 * 257}
    assert res["memory"]["LRs"] == 60 * 256


def test_report_states_configuration_accuracy_and_times(finished_run):
    text = (finished_run / "report.md").read_text()
    res = json.loads((finished_run / "results.json").read_text())
    assert "| LR layer | 11 (conv4_2/dw), LR 64x2x2 |" in text
    assert "| LR memory | 60 LRs, UINT8 |" in text
    for name, label in (("replay", "latent replay"), ("naive", "naive fine-tuning")):
        final = [a for a in res["protocol"]["methods"][name]["accuracy"] if a is not None][-1]
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert f"**{100 * final:.1f} %**" in row
    assert "No learning event ran on the simulator" in text
    assert "## Wall time" in text


def test_first_experiences_keeps_the_same_samples():
    full = data.open_data("synthetic", spec=clrun.SPEC)
    cut = cli.first_experiences(full, 3)
    assert cut.n_experiences == 3
    for i in range(3):
        assert np.array_equal(cut.x_train[cut.experiences[i]], full.x_train[full.experiences[i]])
        assert np.array_equal(cut.y_train[cut.experiences[i]], full.y_train[full.experiences[i]])
    assert len(cut.x_train) == sum(len(e) for e in full.experiences[:3])
    assert np.array_equal(cut.x_test, full.x_test)
    assert cli.first_experiences(full, 1000) is full
    whole = cli.first_experiences(full, 3, keep_all=True)     # a sweep's seeds keep the same images
    assert whole.x_train is full.x_train and whole.experiences == full.experiences[:3]


# ---- bad input: one line, status 251, before any long computation ---------------------------

@pytest.mark.parametrize("args, fragments", [
    (["--lr-layer", "4"], ["unknown LR layer 4", "19 (conv5_4/dw)"]),       # 4 is a pointwise layer
    (["--lr-layer", "29"], ["unknown LR layer 29"]),
    (["--lr-bits", "9"], ["LR precision '9' out of range"]),
    (["--lr-bits", "0"], ["LR precision '0' out of range"]),
    (["--lr-bits", "uint"], ["LR precision 'uint' out of range"]),
    (["--replays", "0"], ["--replays: expected a positive integer"]),
    (["--methods", "replay", "ewc"], ["unknown method 'ewc'"]),
    (["--resolution", "48"], ["multiple of 32"]),
    (["--set", "l2.latency"], ["--set expects KEY=VALUE"]),
])
def test_bad_options(args, fragments, capsys, tmp_path):
    assert_one_line_error(clrun.main("--sim", "none", "--out", tmp_path, *args), capsys, *fragments)


def test_unknown_sim_mode(capsys, tmp_path):
    assert_one_line_error(clrun.main("--sim", "sometimes", "--out", tmp_path), capsys, "--sim")


def _l3():
    return getattr(get_platform("vega"), "l3", None)


@pytest.mark.skipif(_l3() is None, reason="this version's platforms have no l3 group")
def test_replays_that_do_not_fit_the_l3_memory(capsys, tmp_path):
    """With l3.size = 10,000 bytes, LR layer 11 UINT8 (256 bytes + 1 label byte per LR) holds 38 LRs:
    38 * 257 = 9,766 fits, 39 * 257 = 10,023 does not."""
    base = ["--lr-layer", "11", "--sim", "none", "--set", "l3.size=10000"]
    import pulpsim.cli
    parser = pulpsim.cli.build_parser()
    ok = parser.parse_args(["cl", "run", *base, "--replays", "38"])
    assert cli.plan_run(ok).protocol.capacity == 38
    status = clrun.main(*base, "--replays", "39", "--out", tmp_path)
    assert_one_line_error(status, capsys, "10,023 bytes", "l3.size = 10,000", "at most 38 fit")
    # a lower precision packs more LRs in the same bytes: UINT4 is 128 + 1 bytes, 77 fit
    ok = parser.parse_args(["cl", "run", *base, "--replays", "77", "--lr-bits", "4"])
    assert cli.plan_run(ok).protocol.capacity == 77
    assert_one_line_error(clrun.main(*base, "--replays", "78", "--lr-bits", "4", "--out", tmp_path), capsys,
                          "at most 77 fit")


def test_core50_folder_that_does_not_exist(capsys, tmp_path):
    status = clrun.main("--sim", "none", "--data", f"core50:{tmp_path / 'nowhere'}", "--out", tmp_path)
    assert_one_line_error(status, capsys, "does not exist")


def test_core50_folder_with_missing_files(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(clrun.main("--sim", "none", "--data", f"core50:{empty}", "--out", tmp_path), capsys,
                          "neither core50_imgs.npz nor core50_128x128/")
    partial = tmp_path / "partial"           # the archive is there, its pickles are not
    partial.mkdir()
    np.savez(partial / "core50_imgs.npz", x=np.zeros((2, 128, 128, 3), np.uint8))
    with open(partial / "paths.pkl", "wb") as f:
        pickle.dump(["s1/o1/C_01_01_000.png", "s1/o1/C_01_01_001.png"], f)
    assert_one_line_error(clrun.main("--sim", "none", "--data", f"core50:{partial}", "--out", tmp_path), capsys,
                          "LUP.pkl")


def test_bad_data_option(capsys, tmp_path):
    assert_one_line_error(clrun.main("--sim", "none", "--data", "imagenet", "--out", tmp_path), capsys,
                          "expected 'synthetic' or 'core50:DIR'")


def test_resume_without_checkpoint(capsys, tmp_path):
    assert_one_line_error(clrun.main(*clrun.ARGS, "--resume", "--out", tmp_path), capsys, "no checkpoint at")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-ours", "bad-meta"])
def test_corrupt_checkpoint(damage, finished_run, capsys, tmp_path):
    good = (finished_run / cli.CHECKPOINT).read_bytes()
    path = tmp_path / cli.CHECKPOINT
    if damage == "garbage":
        path.write_bytes(b"this is not a checkpoint\n" * 10)
    elif damage == "truncated":
        path.write_bytes(good[:len(good) // 2])
    elif damage == "not-ours":
        np.savez(path, weights=np.zeros(3))
    else:
        with np.load(finished_run / cli.CHECKPOINT) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["meta"] = np.array("{not json")
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    status = clrun.main(*clrun.ARGS, "--resume", "--out", tmp_path)
    assert_one_line_error(status, capsys, f"checkpoint {path}")


def test_checkpoint_of_another_configuration(finished_run, capsys, tmp_path):
    (tmp_path / cli.CHECKPOINT).write_bytes((finished_run / cli.CHECKPOINT).read_bytes())
    args = [a if a != "60" else "50" for a in clrun.ARGS]     # --replays 50 instead of 60
    assert_one_line_error(clrun.main(*args, "--resume", "--out", tmp_path), capsys,
                          "another configuration", "protocol.capacity")


def test_checkpoint_of_other_weights(finished_run, capsys, tmp_path, monkeypatch):
    """Same options, other pretrained weights (another pretraining learning rate): refused."""
    (tmp_path / cli.CHECKPOINT).write_bytes((finished_run / cli.CHECKPOINT).read_bytes())
    from dataclasses import replace
    from pulpsim.cl import checkpoint
    monkeypatch.setattr(checkpoint, "_check_config", lambda *a: None)   # let the configuration through
    monkeypatch.setattr(cli, "pretrain_config", lambda w, s: replace(clrun.pretrain_config(w, s), lr=0.1))
    assert_one_line_error(clrun.main(*clrun.ARGS, "--resume", "--out", tmp_path), capsys,
                          "other data or other pretrained weights")


# ---- process set-up ---------------------------------------------------------------------------

def test_blas_threads_pinned_unless_the_user_set_them(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: calls.append((exe, argv)))
    monkeypatch.setattr(sys, "argv", ["pulpsim", "cl", "run", "--sim", "none"])
    for v in blas.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    blas.pin_blas_threads(reexec=False)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "2"
    assert calls == []
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    blas.pin_blas_threads(reexec=True)      # numpy is loaded: the command restarts itself
    assert calls == [(sys.executable, [sys.executable, "-m", "pulpsim", "cl", "run", "--sim", "none"])]
    blas.pin_blas_threads(reexec=True)      # everything set now: no second restart
    assert len(calls) == 1


# ---- pulpsim cl cost ---------------------------------------------------------------------------

def _cost_args(*argv):
    import pulpsim.cli
    return cli.cost_arguments(pulpsim.cli.build_parser().parse_args(["cl", "cost", *argv]))


def test_cost_paper_uses_the_published_configuration_and_options_narrow_it():
    from pulpsim.cl import cost
    kw = _cost_args("--paper")
    for name in ("width", "resolution", "lr_layers", "sizes", "mb_size", "precision"):
        assert name not in kw        # paper_cost's own defaults: width 1.0, 128x128, 19..27, 1500/3000, 128
    assert cost.PAPER_SIZES == (1500, 3000)
    assert _cost_args("--paper", "--lr-layer", "23", "--replays", "3000")["lr_layers"] == (23,)
    assert _cost_args("--paper", "--set", "l3.latency=80")["overrides"] == {"l3.latency": "80"}


def test_cost_of_a_small_configuration(tmp_path, capsys):
    """The pool as LR layer at width 0.25 (256 values), 100 LRs, an experience of 300 new samples:
    (300 + 100) // 128 = 3 mini-batches, 300 // 3 = 100 new and 28 replayed per mini-batch; each
    replay fetches 256 bytes + a 1-byte label from L3: 28 * 257 = 7,196 bytes."""
    import pulpsim.cli
    status = pulpsim.cli.main(["cl", "cost", "--width", "0.25", "--resolution", "32", "--lr-layer", "27",
                               "--replays", "100", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "| 27 | pool6 | 100 | 100 + 28 |" in out
    data = json.loads((tmp_path / "cost.json").read_text())
    (event,) = data["events"]
    assert event["config"]["n_new"] == 100 and event["config"]["n_replay"] == 28
    assert event["l3"]["bytes"] == 7196
    assert event["totals"]["cycles"] > 0
    assert (tmp_path / "cost.md").read_text().startswith("MobileNet-V1 width 0.25, 32x32")


# ---- the report's part on simulated events ----------------------------------------------------

def test_cost_breakdown_groups_the_steps_of_each_layer():
    from pulpsim.cl import report
    rows = [(20, "pw", "fw", 10), (20, "pw", "bias fw", 2), (20, "pw", "relu fw", 5), (20, "pw", "bias wg", 7),
            (20, "pw", "wg", 3), (20, "pw", "relu bw", 4), (20, "pw", "accumulate W", 6), (20, "pw", "sgd b", 1),
            (28, "fc", "loss fw", 2), (28, "fc", "loss bw", 3), (28, "fc", "ig", 8), (28, "fc", "sgd W", 11),
            (27, "pool", "bw", 9)]
    record = {"rows": [{"index": i, "kind": k, "step": s, "cycles": c} for i, k, s, c in rows]}
    assert report.cost_breakdown(record) == {
        "20 pw": {"forward": 17, "weight gradient": 10, "input gradient": 4, "gradient accumulation": 6,
                  "SGD update": 1},
        "27 pool": {"input gradient": 9},
        "28 fc": {"loss and its gradient": 5, "input gradient": 8, "SGD update": 11}}
    assert list(report.cost_breakdown(record)) == ["20 pw", "27 pool", "28 fc"]   # in layer order


# ---- pulpsim cl compare -------------------------------------------------------------------------

def test_compare_passes_its_sweeps_on(tmp_path, capsys):
    """Two seeds, UINT8 and UINT4 against FP32 at LR layer 19 (128x2x2 = 512 values at width 0.25 and
    32x32): 60 LRs take 60 * 512 * 4 = 122,880 bytes in FP32, 30,720 in UINT8, 15,360 in UINT4."""
    pytest.importorskip("pulpsim.cl.compare")
    import pulpsim.cli
    status = pulpsim.cli.main(["cl", "compare", "--lr-layer", "19", "--replays", "60", "--experiences", "3",
                               "--seeds", "0", "1", "--precisions", "8", "4", "--lr-layers", "--no-cycles",
                               "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    for prec, nbytes in (("FP32", "122,880 B"), ("UINT8", "30,720 B"), ("UINT4", "15,360 B")):
        row = next(line for line in out.splitlines() if f"| {prec} |" in line)
        assert row.startswith("| 19 (conv5_4/dw, 128x2x2) |") and nbytes in row, row
    assert "of 2 seeds" in out
    res = json.loads((tmp_path / "compare.json").read_text())
    assert list(res["seeds"]) == [0, 1]
