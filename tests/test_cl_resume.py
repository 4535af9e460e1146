"""A `pulpsim cl run` stopped after an experience and resumed ends exactly where an uninterrupted run does.

The finished_run is an uninterrupted run of the same command and seed: every accuracy, loss, learning
event and buffer census of every method, and every final array (adaptive weights, SGD momentum, LR
memory, slot origins) must be equal bit for bit. Runs are stopped in the middle of a replay method
(its momentum and LR memory must carry over), in the joint baseline between two retrainings, and by
SIGKILL of a separate process after its checkpoint was written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import clrun
from clrun import finished_run, tiny  # noqa: F401 (fixtures)
from pulpsim.cl import cli

TESTS = Path(__file__).resolve().parent


def stop_after(monkeypatch, method: str, experience: int):
    """Make the run raise KeyboardInterrupt (Ctrl-C) right after ``method`` finished ``experience``."""
    original = cli.Progress.experience

    def experience_done(self, name, i, n):
        original(self, name, i, n)
        if (name, i) == (method, experience):
            raise KeyboardInterrupt
    monkeypatch.setattr(cli.Progress, "experience", experience_done)


def checkpoint_arrays(folder) -> dict:
    with np.load(Path(folder) / cli.CHECKPOINT, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "meta"}


def assert_same_run(folder, finished_run):
    """Same numbers in results.json (wall times aside) and the same final arrays, bit for bit."""
    got = json.loads((Path(folder) / "results.json").read_text())["protocol"]
    want = json.loads((Path(finished_run) / "results.json").read_text())["protocol"]
    for m in want["methods"].values():
        m.pop("seconds")
    for m in got["methods"].values():
        m.pop("seconds")
    assert got == want
    a, b = checkpoint_arrays(folder), checkpoint_arrays(finished_run)
    assert sorted(a) == sorted(b)
    names = {k.split(".")[1] for k in a}
    assert names == set(want["methods"])
    assert any(".v." in k for k in a) and any(".mem.data" in k for k in a)   # momentum and LR memory saved
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


@pytest.mark.parametrize("method, experience", [
    ("replay", 1),        # mid-method: weights, momentum, LR memory and origins carry over
    ("naive", 0),         # after the first experience of a later method
    ("joint", 1),         # between two retrainings of joint (at 0 and at 3)
])
def test_interrupted_run_resumes_to_the_same_result(method, experience, finished_run, monkeypatch, tmp_path,
                                                    capsys):
    stop_after(monkeypatch, method, experience)
    assert clrun.main(*clrun.ARGS, "--out", tmp_path) == 130
    assert "interrupted" in capsys.readouterr().err
    saved = json.loads(str(np.load(tmp_path / cli.CHECKPOINT)["meta"]))["methods"]
    assert len(saved[method]["accuracy"]) == experience + 1     # the checkpoint holds the last experience
    assert not (tmp_path / "results.json").exists()
    monkeypatch.undo()
    clrun.use_tiny(monkeypatch.setattr)
    assert clrun.main(*clrun.ARGS, "--out", tmp_path, "--resume") == 0
    assert "resuming from" in capsys.readouterr().out
    assert_same_run(tmp_path, finished_run)


def test_resuming_a_finished_run_gives_its_report_again(finished_run, tmp_path):
    (tmp_path / cli.CHECKPOINT).write_bytes((finished_run / cli.CHECKPOINT).read_bytes())
    assert clrun.main(*clrun.ARGS, "--out", tmp_path, "--resume") == 0
    assert_same_run(tmp_path, finished_run)


# Stops the process for good (SIGKILL from the test) once the checkpoint after `naive`'s experience 1 is
# on disk: the marker file tells the test when.
_KILLED_CHILD = """
import sys, time, clrun
from pulpsim.cl import cli
original = cli.Progress.experience
def experience_done(self, name, i, n):
    original(self, name, i, n)
    if (name, i) == ("naive", 1):
        open(sys.argv[1], "w").close()
        time.sleep(600)
cli.Progress.experience = experience_done
clrun.use_tiny()
sys.exit(clrun.main(*sys.argv[2:]))
"""


def test_killed_process_resumes_to_the_same_result(finished_run, tmp_path):
    marker = tmp_path / "checkpointed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(marker), *clrun.ARGS, "--out", str(tmp_path)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never reached naive's experience 1"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert clrun.main(*clrun.ARGS, "--out", tmp_path, "--resume") == 0
    assert_same_run(tmp_path, finished_run)
