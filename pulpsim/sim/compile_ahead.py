"""The first run's compilation on two cores: a helper process compiles the engine's largest callees meanwhile.

An entry point of the engine (``engine.run``, ``engine.run_alone``) compiles, inside its own compilation, every
function it calls that is not compiled yet. Some of them are compiled apart from it (not inlined at Numba's
level) and are large: the FP unit's semantics (``dispatch.fp``, ``dispatch.fdiv``) and the CSR instruction
(``csr.csr_instruction``), about 40 % of the first run of a small ELF, and for the cluster's entry the
peripherals' register files (``cluster.periph_load``, ``cluster.periph_store``). When an entry point compiles (its
cache missed), :func:`start` launches a helper process (``python -m pulpsim.sim.compile_ahead ENTRY``) that
compiles those, under pulpsim's policy and with the signatures the entry's typing asks for (:func:`_signatures`),
into the same on-disk cache, while this process works through the entry's own steps (Numba's inlining, SSA, the
typing up to their calls). When the typing reaches one of them, :func:`wait_for` waits until the helper has
written it, and Numba then loads it from the cache instead of compiling it.

The compiled engine is the same either way: a cached callee keeps its LLVM bitcode, which the entry links in and
inlines as it does a callee compiled in the same process (tests/test_compile_ahead.py compares the machine code).
Nothing but the cache is shared: if the helper cannot start, fails or is late (:data:`PATIENCE`), this process
compiles the function itself, as it would without the helper. ``PULPSIM_COMPILE_AHEAD=0`` switches it off.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

PATIENCE = 120.0  #: seconds without a line from the helper after which this process compiles on its own

#: the engine's entry points (pulpsim.sim.engine) a helper compiles ahead for
ENTRIES = ("run_alone", "run", "run_shared_fpus", "run_loads_ahead")


def _signatures(entry: str):
    """[(dispatcher, argument types)] of the functions the helper compiles for engine entry point `entry`, in the
    order its typing reaches them (the types are those of the engine's arrays and of the values the core loop
    passes; the one-core loop has no peripherals' code)."""
    from numba import types

    from . import cluster, csr, dispatch

    i32, i64 = types.int32, types.int64
    t, r = types.Array(types.int64, 2, "C"), types.Array(types.int64, 1, "C")  # a table, a row
    fp_args = (i32,) + (i64,) * 5  # op, three operands, the integer operand, the rounding mode
    csr_args = (i32,) * 3 + (i64,) * 4 + (t,) * 4 + (types.UniTuple(r, 4),) + (t,) * 3 + (r,)
    core = [(dispatch.fp, fp_args), (dispatch.fdiv, fp_args), (csr.csr_instruction, csr_args)]
    if entry == "run_alone":
        return core
    load_args = (i64,) * 5 + (t, r, t, t, r, r, t, t, t, t, r)  # eu_core, eu_glob, dma_tr, ..., stat, params
    store_args = (i64,) * 4 + (t, t, r, t, t, r, r, t, t, t, t, r)  # regions, eu_core, eu_glob, ..., params
    return [(cluster.periph_load, load_args), (cluster.periph_store, store_args)] + core


def _helper_command() -> tuple[list[str], dict[str, str], str]:
    """(command, environment, directory) of the helper process: this interpreter, this copy of pulpsim, Numba's
    cache directory of this process, and no helper of its own."""
    import numba

    env = dict(os.environ, PULPSIM_COMPILE_AHEAD="0")
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = str(numba.config.CACHE_DIR)  # (also when set in this process, not by NUMBA_*)
    root = str(Path(__file__).resolve().parents[2])  # the directory that holds this pulpsim package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return [sys.executable, "-m", "pulpsim.sim.compile_ahead"], env, root


def _name(dispatcher) -> str:
    return f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"


class _Helper:
    """A helper process that writes the name of each function it has compiled on a line of its own, and the
    names it has reported so far. (The modules it needs are imported here: a warm run never starts one.)"""

    def __init__(self, names: list[str], command: list[str], env: dict[str, str] | None = None,
                 cwd: str | None = None):
        import queue
        import subprocess
        import threading

        self.pending = set(names)
        self.done: set[str] = set()
        self.lines: queue.Queue = queue.Queue()
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)  # the helper ended

    def wait_for(self, name: str) -> None:
        """Return once the helper has written `name` to the cache, has ended, or has said nothing for PATIENCE
        seconds (then it is not waited for again)."""
        import queue

        while name in self.pending and name not in self.done:
            try:
                line = self.lines.get(timeout=PATIENCE)
            except queue.Empty:
                line = None
            if line is None:
                self.pending.clear()  # ended (or too slow): nothing more to wait for
                return
            self.done.add(line)

    def stop(self) -> None:
        """End the helper: it has normally finished already (the entry's typing waited for all it compiles)."""
        import subprocess

        self.pending.clear()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_helper: _Helper | None = None
_started = False


def enabled() -> bool:
    return os.environ.get("PULPSIM_COMPILE_AHEAD", "1") != "0"


def start(entry: str) -> None:
    """Launch the helper for engine entry point `entry`, once per process (its compilation has begun: its cache
    missed; a second entry compiled later finds most of what it calls compiled in this process already)."""
    global _helper, _started
    if _started or not enabled() or entry not in ENTRIES or not sys.executable:
        return  # (no interpreter to start, e.g. an embedded one: this process compiles everything itself)
    _started = True
    try:
        signatures = _signatures(entry)
        if any(getattr(d, "_cache", None) is None or type(d._cache).__name__ == "NullCache" for d, _ in signatures):
            return  # no on-disk cache to share
        command, env, cwd = _helper_command()
        _helper = _Helper([_name(d) for d, _ in signatures], command + [entry], env, cwd)
        atexit.register(finish)
    except OSError:
        _helper = None  # no helper: this process compiles everything itself


def wait_for(dispatcher) -> None:
    """Before `dispatcher` compiles in this process: if the helper compiles it, wait until it has."""
    if _helper is not None:
        _helper.wait_for(_name(dispatcher))


def finish() -> None:
    """The entry point's compilation has ended: end the helper."""
    global _helper
    if _helper is not None:
        helper, _helper = _helper, None
        helper.stop()


def main(argv: list[str]) -> int:
    """The helper (``python -m pulpsim.sim.compile_ahead ENTRY``): compile the functions of _signatures(ENTRY) into
    the cache under pulpsim's policy, and report each (its name on a line of its own) as soon as it is written."""
    from . import jitcache
    from .jit import compile_policy

    if len(argv) != 1 or argv[0] not in ENTRIES:
        print(f"usage: python -m pulpsim.sim.compile_ahead {{{','.join(ENTRIES)}}}", file=sys.stderr)
        return 2
    jitcache.ensure_fresh()  # (as the engine's import does: entries written under a stale stamp would be dropped)
    with compile_policy():
        for dispatcher, args in _signatures(argv[0]):
            dispatcher.compile(args)
            print(_name(dispatcher), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
