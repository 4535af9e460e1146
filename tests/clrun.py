"""A tiny configuration of ``pulpsim cl run`` for the command-line and resume tests.

``pulpsim cl run`` takes its data spec and pretraining configuration from
``pulpsim.cl.cli.synthetic_spec`` and ``pulpsim.cl.cli.pretrain_config``; :func:`use_tiny` replaces
them with a small data set (5 categories x 2 objects, 4 frames, no nuisances) and a one-epoch
pretraining, so that a run of a few experiences takes seconds. Run it in-process with :func:`main`
(stdout and stderr captured by pytest's ``capsys``), or in a subprocess with :data:`SUBPROCESS`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pulpsim.cl import cli, pretrain
from pulpsim.cl.synthetic import SyntheticSpec

SPEC = SyntheticSpec(n_categories=5, objects_per_category=2, frames=4, nuisance=0.0)

#: Options of a quick run: LR layer 11 (64x2x2 at width 0.25 and 32x32), 60 LRs, 4 experiences, host only.
ARGS = ["--lr-layer", "11", "--replays", "60", "--experiences", "4", "--sim", "none"]


def synthetic_spec(resolution):
    return SPEC if resolution is None else replace(SPEC, resolution=resolution)


def pretrain_config(width, spec):
    cfg = pretrain.PretrainConfig(data=spec, n_categories=6, objects_per_category=2, n_sessions=4, epochs=1,
                                  batch_size=32, lr=0.2, calib_images=64)
    return cfg if width is None else replace(cfg, width=width)


def use_tiny(setattr=setattr) -> None:
    """Make ``pulpsim cl run`` use the tiny data and pretraining (``setattr`` may be pytest's
    ``monkeypatch.setattr``, which undoes it after the test)."""
    setattr(cli, "synthetic_spec", synthetic_spec)
    setattr(cli, "pretrain_config", pretrain_config)


def use_tiny_and_cache(monkeypatch, tmp_path_factory) -> None:
    """:func:`use_tiny`, with the pretraining cached in the session's temporary folder."""
    use_tiny(monkeypatch.setattr)
    monkeypatch.setenv("PULPSIM_CACHE", str(tmp_path_factory.getbasetemp() / "cl-cache"))


@pytest.fixture(autouse=True)
def tiny(monkeypatch, tmp_path_factory):
    """Every test of a module that imports this fixture runs the tiny configuration."""
    use_tiny_and_cache(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """The folder of one complete run of :data:`ARGS`, once per test module."""
    out = tmp_path_factory.mktemp("finished-run")
    mp = pytest.MonkeyPatch()
    use_tiny_and_cache(mp, tmp_path_factory)
    try:
        assert main(*ARGS, "--out", out) == 0
    finally:
        mp.undo()
    return out


def main(*args) -> int:
    """``pulpsim cl run ARGS...`` in this process (after :func:`use_tiny`); returns the exit status."""
    import pulpsim.cli
    return pulpsim.cli.main(["cl", "run", *map(str, args)])


#: ``python -c SUBPROCESS ARGS...`` runs ``pulpsim cl run ARGS...`` with the tiny configuration in a new
#: process (the tests folder must be on ``PYTHONPATH``).
SUBPROCESS = "import sys, clrun; clrun.use_tiny(); sys.exit(clrun.main(*sys.argv[1:]))"
