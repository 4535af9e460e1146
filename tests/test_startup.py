"""Start-up of the command line: what a command imports, and the lazy parts of the package."""

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pulpsim
from pulpsim.blas import BLAS_THREAD_VARIABLES
import pulpsim.cli
from pulpsim import toolchain

ROOT = Path(__file__).resolve().parents[1]


def _in_fresh_process(code: str) -> dict:
    """Run ``code`` in a new interpreter importing this checkout; it prints one JSON line, returned parsed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-P", "-c", code], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hello_elf():
    return toolchain.build_c('#include "pulpsim.h"\nint main(void){ printf("hi\\n"); return 0; }', name="startup_hi")


def test_commands_that_do_not_simulate_import_neither_numba_nor_the_cl_layer():
    got = _in_fresh_process(
        "import json, sys, contextlib, io, pulpsim, pulpsim.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()): pulpsim.cli.main(['platforms'])\n"
        "print(json.dumps({m: m in sys.modules for m in ('numba', 'pulpsim.sim.machine', 'pulpsim.cl.cli')}))")
    assert got == {"numba": False, "pulpsim.sim.machine": False, "pulpsim.cl.cli": False}


def test_a_run_imports_neither_scipy_nor_the_cl_layer(hello_elf):
    got = _in_fresh_process(
        "import json, sys, contextlib, io, pulpsim.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    status = pulpsim.cli.main(['run', {str(hello_elf)!r}])\n"
        "print(json.dumps({'status': status, 'hi': out.getvalue().startswith('hi'),\n"
        "                  'scipy.linalg': 'scipy.linalg' in sys.modules, 'cl': 'pulpsim.cl.cli' in sys.modules}))")
    assert got == {"status": 0, "hi": True, "scipy.linalg": False, "cl": False}


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="SciPy (Numba's BLAS) not installed")
def test_compiled_linear_algebra_still_finds_blas_after_a_run(hello_elf):
    got = _in_fresh_process(
        "import json, sys, numpy as np, numba, pulpsim\n"
        f"pulpsim.run({str(hello_elf)!r})\n"
        "dot = numba.njit(lambda a, b: np.dot(a, b))\n"
        "a = np.arange(6.0).reshape(2, 3)\n"
        "print(json.dumps({'dot': dot(a, a.T).tolist(), 'blas': 'scipy.linalg' in sys.modules}))")
    assert got == {"dot": [[5.0, 14.0], [14.0, 50.0]], "blas": True}


def test_lazy_names_of_the_package(hello_elf):
    from pulpsim import CoreStats, Result, run
    result = run(hello_elf)
    assert isinstance(result, Result) and isinstance(result.cores[0], CoreStats)
    assert pulpsim.run is run and pulpsim.api.run is run
    assert set(pulpsim.__all__) <= set(dir(pulpsim)) | set(pulpsim._LAZY_NAMES)
    with pytest.raises(AttributeError):
        pulpsim.no_such_name


def _subcommand_help(parser: argparse.ArgumentParser) -> dict:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {c.dest: c.help for c in sub._choices_actions}


def test_the_parser_without_cl_lists_cl_as_the_full_one_does():
    assert _subcommand_help(pulpsim.cli.build_parser(with_cl=False)) == _subcommand_help(pulpsim.cli.build_parser())


def test_short_commands_are_commands_and_a_call_from_python_keeps_the_collector(capsys):
    assert set(pulpsim.cli.SHORT_COMMANDS) <= set(_subcommand_help(pulpsim.cli.build_parser()))
    assert gc.isenabled()
    assert pulpsim.cli.main(["platforms"]) == 0
    assert gc.isenabled()


def test_a_short_command_pins_the_blas_threads_the_user_did_not_set(monkeypatch, capsys):
    # as the `pulpsim` command: argv from sys.argv (the collector switch is left out, it would outlive the test)
    monkeypatch.setattr(pulpsim.cli, "_without_gc", lambda: None)
    monkeypatch.setattr(sys, "argv", ["pulpsim", "platforms"])
    for v in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    assert pulpsim.cli.main() == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["MKL_NUM_THREADS"] == "3"
