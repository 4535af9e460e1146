"""The one Numba policy of pulpsim's compiled code.

Every compiled function of the simulator is declared with :func:`jit` (or :func:`jit_inline` for the few tiny
helpers that must vanish into their caller); the engine's entry point, the one function Python calls, with
:func:`jit_entry`. The options live in one place:

- ``cache=True``: compiled code is kept in Numba's on-disk cache (see :mod:`pulpsim.sim.jitcache`).
- ``error_model="numpy"``: integer division by zero is not checked by Numba (every guest division is guarded
  explicitly), which keeps divisions branch-free.
- ``_nrt=False``: no reference counting. The engine never allocates: it works on arrays the Python side owns for
  the whole call. With the runtime on, every call of a helper that takes arrays would increment and decrement
  each array's reference count with atomic instructions; measured on the 8-core tiled pointwise benchmark, that
  was 40 % of the host time.
- ``no_cpython_wrapper`` / ``no_cfunc_wrapper`` for every function but the entry point: by default Numba also
  compiles, for each function, a wrapper that unboxes Python arguments (for an array, a call into Numba's
  runtime and a dozen fields) and a C-callable wrapper. Compiled functions call each other directly, never
  through either, so for the engine's helpers they are pure compile time: leaving them out cut the first run's
  compilation by 11 % (27.9 s to 24.7 s CPU for a small ELF). A helper called from Python (a test, an
  interactive session) runs a copy compiled with the wrappers instead (see :class:`CalleeDispatcher`).
- No wrap-around of negative array indices. Numba follows Python and maps an index i < 0 to i + n, which costs
  a comparison, an addition and a load of the dimension's size at every array access with a variable index (a
  register read ``xreg[c, rs1]`` has two). pulpsim's compiled code never indexes with a negative number: indices
  are core ids, register numbers, opcodes and table rows from the decoder, or offsets that
  :func:`pulpsim.sim.memory.find_region` checked against the platform's regions (Numba checks no bounds either,
  so every index is already guarded by the code that computes it). Measured: 6-12 % faster on the speed
  benchmarks. The switch is scoped to the compilation of pulpsim's own functions (see :class:`PolicyDispatcher`);
  other Numba code in the same process keeps Python's semantics.
"""

from __future__ import annotations

from contextlib import contextmanager

from numba import types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher

try:  # Numba's array-indexing lowering (numba/np/arrayobj.py); the name is checked before use
    from numba.np import arrayobj as _arrayobj
    _WRAPAROUND = getattr(_arrayobj, "fix_integer_index", None)
except ImportError:  # pragma: no cover - another Numba layout: keep Numba's default indexing
    _arrayobj = None
    _WRAPAROUND = None

_CODE = dict(error_model="numpy", _nrt=False)


def _index_as_is(context, builder, idxty, idx, size):
    """Numba's fix_integer_index without the wrap-around of negative signed indices."""
    if idxty.signed:
        return context.cast(builder, idx, idxty, types.intp)
    return _WRAPAROUND(context, builder, idxty, idx, size)


@contextmanager
def _no_wraparound():
    """Lower array indices without wrap-around while this block compiles (under Numba's compiler lock, which
    every compilation holds, so no other compilation can see the switch)."""
    with global_compiler_lock:
        if _WRAPAROUND is None:
            yield
            return
        saved = _arrayobj.fix_integer_index
        _arrayobj.fix_integer_index = _index_as_is
        try:
            yield
        finally:
            _arrayobj.fix_integer_index = saved


class PolicyDispatcher(CPUDispatcher):
    """A function compiled from Python (the engine's entry point, or the copy of a helper that Python calls)
    under the indexing policy. The helpers it calls compile inside its compilation, so they follow the policy
    too; they do not switch it themselves, because one more Python frame per level of Numba's deeply nested
    compilation made CPython 3.11 allocate and free its frame-stack chunks over and over (measured: 2.4 times the
    page faults, 2-5 s more system time on a first run). A helper first compiled by other Numba code, outside
    pulpsim, gets Numba's default indexing: slower, not different."""

    def compile(self, sig):
        with _no_wraparound():
            return super().compile(sig)


def _dispatcher(cls, fn, *, cache, **options):
    disp = cls(py_func=fn, locals={}, targetoptions=dict(_CODE, nopython=True, **options))
    if cache:
        disp.enable_caching()
    return disp


class CalleeDispatcher(CPUDispatcher):
    """A function compiled without Python wrappers: compiled code calls it; called from Python, it runs a copy
    compiled (on first use, not cached) with the wrappers.

    Calling the wrapper-less compiled code from Python would jump into a missing entry point; the copy keeps
    such calls correct. It is not cached because Numba's cache tells versions of a function apart only by
    signature, not by these options.
    """

    def get_call_template(self, args, kws):
        """Type a call from compiled code for the arguments' plain types: a constant argument (``f(x, 0)``)
        would otherwise compile a version of the callee for that constant."""
        return super().get_call_template(tuple(types.unliteral(a) for a in args),
                                         {k: types.unliteral(v) for k, v in kws.items()})

    def __call__(self, *args, **kws):
        py = self.__dict__.get("_python_copy")
        if py is None:
            py = self._python_copy = _dispatcher(PolicyDispatcher, self.py_func, cache=False)
        return py(*args, **kws)


def _callee(fn, **options):
    return _dispatcher(CalleeDispatcher, fn, cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True, **options)


def jit(fn):
    """Compile `fn` with pulpsim's policy, to be called by other compiled functions."""
    return _callee(fn)


def jit_inline(fn):
    """Compile `fn` with pulpsim's policy and inline it into every caller at Numba's IR level."""
    return _callee(fn, inline="always")


def jit_entry(fn=None, *, cache=True):
    """Compile `fn` with pulpsim's policy, with the wrapper that lets Python call it (the engine's entry).

    ``cache=False`` is for compiled code outside the package that calls pulpsim's helpers (a benchmark's loop):
    Numba would cache it with the helpers compiled into it, and the cache check that recompiles pulpsim's own
    functions when a source changes (:mod:`pulpsim.sim.jitcache`) does not look at other files."""
    if fn is None:
        return lambda f: jit_entry(f, cache=cache)
    return _dispatcher(PolicyDispatcher, fn, cache=cache)
