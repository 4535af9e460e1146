"""The one Numba policy of pulpsim's compiled code.

Every compiled function of the simulator is declared with :func:`jit` (or :func:`jit_inline` for the few tiny
helpers that must vanish into their caller), so that the options live in one place:

- ``cache=True``: compiled code is kept in Numba's on-disk cache (see :mod:`pulpsim.sim.jitcache`).
- ``error_model="numpy"``: integer division by zero is not checked by Numba (every guest division is guarded
  explicitly), which keeps divisions branch-free.
- ``_nrt=False``: no reference counting. The engine never allocates: it works on arrays the Python side owns for
  the whole call. With the runtime on, every call of a helper that takes arrays would increment and decrement
  each array's reference count with atomic instructions; measured on the 8-core tiled pointwise benchmark, that
  was 40 % of the host time.
"""

from __future__ import annotations

from numba import njit

_POLICY = dict(cache=True, error_model="numpy", _nrt=False)


def jit(fn):
    """Compile `fn` with pulpsim's policy."""
    return njit(**_POLICY)(fn)


def jit_inline(fn):
    """Compile `fn` with pulpsim's policy and inline it into every caller at Numba's IR level."""
    return njit(inline="always", **_POLICY)(fn)
