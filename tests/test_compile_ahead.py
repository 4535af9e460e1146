"""pulpsim.sim.compile_ahead: the helper process that compiles the engine's largest callees during a first run.

The engine compiled with the helper's cache entries must be the same machine code as without them, and the
helper must compile exactly the signatures the engine's typing asks for (else it works for nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pulpsim.sim import compile_ahead

ROOT = Path(__file__).resolve().parents[1]

# Compiles an entry point of the engine by running a small program (on one core: engine.run_alone; on vega's 8
# cores: engine.run), then reports the functions this process compiled itself (Numba's compile event fires only
# on a cache miss) and the machine code of the entry's object code.
_COMPILE_ENGINE = r"""
import io, json, sys
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from numba.core import event
import pulpsim
from pulpsim import toolchain
from pulpsim.sim import engine

compiled = []
class Seen(event.Listener):
    def on_start(self, e):
        compiled.append(e.data["dispatcher"].py_func.__qualname__)
    def on_end(self, e):
        pass
event.register("numba:compile", Seen())
platform, entry = sys.argv[1:]
elf = toolchain.build_c('int main(void) { return 0; }', name="compile_ahead_test", platform=platform)
pulpsim.run(elf, platform=platform, stdout=None)
(cres,) = getattr(engine, entry).overloads.values()
# (the machine code: every executable section; Numba's large code model puts it in .ltext, not .text)
text = b"".join(s.data() for s in ELFFile(io.BytesIO(cres.library._get_compiled_object())).iter_sections()
                if s["sh_flags"] & SH_FLAGS.SHF_EXECINSTR)
json.dump({"compiled": compiled, "text": text.hex()}, sys.stdout)
"""


def _env(cache: Path, ahead: bool) -> dict[str, str]:
    return dict(os.environ, NUMBA_CACHE_DIR=str(cache), PULPSIM_COMPILE_AHEAD="1" if ahead else "0")


def _compile_engine(cache: Path, platform: str, entry: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _COMPILE_ENGINE, platform, entry], env=_env(cache, False), cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


CORE = ["pulpsim.sim.dispatch.fp", "pulpsim.sim.dispatch.fdiv", "pulpsim.sim.csr.csr_instruction"]


@pytest.mark.parametrize("entry, platform, functions", [
    ("run_alone", "single", CORE),
    ("run", "pulp-open", ["pulpsim.sim.cluster.periph_load", "pulpsim.sim.cluster.periph_store"] + CORE),
    ("run_shared_fpus", "vega", ["pulpsim.sim.cluster.periph_load", "pulpsim.sim.cluster.periph_store"] + CORE),
    ("run_loads_ahead", "ideal", ["pulpsim.sim.cluster.periph_load", "pulpsim.sim.cluster.periph_store"] + CORE),
])
def test_the_engine_built_on_the_helpers_cache_is_the_same_machine_code(tmp_path, entry, platform, functions):
    """The helper compiles an entry's functions into an empty cache (reporting each by name); the entry compiled
    on that cache then compiles none of them itself (its typing asked for the helper's signatures), and its
    machine code is that of the entry compiled without the helper."""
    helper = subprocess.run([sys.executable, "-m", "pulpsim.sim.compile_ahead", entry],
                            env=_env(tmp_path / "ahead", False), cwd=ROOT, capture_output=True, text=True, check=True)
    assert helper.stdout.split() == functions
    short = {name.rsplit(".", 1)[1] for name in functions}
    on_helpers_cache = _compile_engine(tmp_path / "ahead", platform, entry)
    alone = _compile_engine(tmp_path / "alone", platform, entry)
    assert short | {entry, "alu"} <= set(alone["compiled"])
    assert {entry, "alu"} <= set(on_helpers_cache["compiled"])  # (the listener sees this process's compiles)
    assert not short & set(on_helpers_cache["compiled"])
    assert alone["text"] and on_helpers_cache["text"] == alone["text"]


def test_the_helper_names_its_entries():
    out = subprocess.run([sys.executable, "-m", "pulpsim.sim.compile_ahead", "nonsense"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "run_alone" in out.stderr


def test_a_warm_run_starts_no_helper(tmp_path):
    """With the engine in the cache nothing compiles, so no helper process is started."""
    code = ("import pulpsim; from pulpsim import toolchain; from pulpsim.sim import compile_ahead; "
            "pulpsim.run(toolchain.build_c('int main(void) { return 0; }', name='compile_ahead_test'), stdout=None); "
            "print(compile_ahead._started)")
    env = dict(os.environ)
    env.pop("PULPSIM_COMPILE_AHEAD", None)
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True)  # (warms)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    assert out.stdout.split()[-1] == "False"


def _fake_helper(script: str, names: list[str]) -> compile_ahead._Helper:
    return compile_ahead._Helper(names, [sys.executable, "-c", script])


def test_waiting_ends_when_the_helper_reports_the_function():
    helper = _fake_helper("import time\nprint('a', flush=True)\ntime.sleep(0.3)\nprint('b', flush=True)\n"
                          "time.sleep(30)", ["a", "b"])
    start = time.monotonic()
    helper.wait_for("b")
    assert helper.done == {"a", "b"} and time.monotonic() - start < 10  # (not the helper's 30 s)
    helper.process.kill()
    helper.stop()


def test_waiting_ends_when_the_helper_ends_without_the_function():
    helper = _fake_helper("print('a', flush=True)", ["a", "b"])
    helper.wait_for("b")  # the helper ended before writing b: this process compiles b itself
    assert helper.done == {"a"} and not helper.pending
    helper.stop()
    assert helper.process.returncode == 0


def test_a_function_the_helper_does_not_compile_is_not_waited_for():
    helper = _fake_helper("import time\ntime.sleep(30)", ["a"])
    start = time.monotonic()
    helper.wait_for("z")
    assert time.monotonic() - start < 5
    helper.process.kill()
    helper.stop()


@pytest.mark.parametrize("value, on", [("0", False), ("1", True), (None, True)])
def test_the_helper_can_be_switched_off(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("PULPSIM_COMPILE_AHEAD", raising=False)
    else:
        monkeypatch.setenv("PULPSIM_COMPILE_AHEAD", value)
    assert compile_ahead.enabled() is on
