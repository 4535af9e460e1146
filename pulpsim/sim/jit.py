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
"""

from __future__ import annotations

from numba import njit, types
from numba.core.registry import CPUDispatcher

_CODE = dict(error_model="numpy", _nrt=False)
_POLICY = dict(cache=True, **_CODE)


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
            py = self._python_copy = njit(**_CODE)(self.py_func)
        return py(*args, **kws)


def _callee(fn, **options):
    disp = CalleeDispatcher(py_func=fn, locals={},
                            targetoptions=dict(_CODE, nopython=True, no_cpython_wrapper=True, no_cfunc_wrapper=True, **options))
    disp.enable_caching()
    return disp


def jit(fn):
    """Compile `fn` with pulpsim's policy, to be called by other compiled functions."""
    return _callee(fn)


def jit_inline(fn):
    """Compile `fn` with pulpsim's policy and inline it into every caller at Numba's IR level."""
    return _callee(fn, inline="always")


def jit_entry(fn):
    """Compile `fn` with pulpsim's policy, with the wrapper that lets Python call it (the engine's entry)."""
    return njit(**_POLICY)(fn)
