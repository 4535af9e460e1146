"""Numba's start-up in a process that simulates: its registries, loaded without importing SciPy.

The first time a compiled function is called or loaded from the on-disk cache, Numba's CPU target loads its
typing and lowering registries.  One of them, ``numba.np.arraymath``, probes at import for a BLAS by
importing ``scipy.linalg`` (``numba.np.linalg.ensure_blas``).  When SciPy is installed (pulpsim does not
depend on it) that import alone took about 0.4 s of a 1 s warm ``pulpsim run`` on a 2-core x86_64 machine,
for nothing the simulator uses: the probe's only effect is that ``np.cov`` / ``np.corrcoef`` in compiled
code compute their inner products with BLAS rather than a plain loop.

:func:`load_registries` loads the registries with ``scipy.linalg`` hidden, unless it is imported already.
Functions that really need BLAS (``np.dot``, ``np.linalg.*`` in compiled code) still find it: they probe again
when they are compiled, after the hiding is over.
"""

from __future__ import annotations

import sys

_PROBED_MODULE = "scipy.linalg"


def load_registries() -> None:
    """Load Numba's CPU registries now, without its BLAS probe importing SciPy; a no-op once they are loaded."""
    if "numba.np.arraymath" in sys.modules or _PROBED_MODULE in sys.modules:
        return  # loaded already, or SciPy's linear algebra is already paid for
    from numba.core.registry import cpu_target
    sys.modules[_PROBED_MODULE] = None  # an import of it raises ImportError: the probe finds no BLAS
    try:
        cpu_target.target_context.refresh()
    finally:
        if _PROBED_MODULE in sys.modules and sys.modules[_PROBED_MODULE] is None:
            del sys.modules[_PROBED_MODULE]
