"""The host process's BLAS thread pools: pinned to one thread for the commands that need no parallel BLAS.

numpy's BLAS (OpenBLAS in the PyPI wheels) starts one thread per core when numpy loads, and reads its
thread-count variable only then. Two kinds of ``pulpsim`` commands are better off with one thread:

- ``pulpsim cl``: the adaptive stage's matrix products are small, and on a machine of few cores shared with
  other jobs a multi-threaded BLAS made them up to 50 times slower than one thread;
- the short commands (``run``, ``disasm``, ...): the simulator uses no BLAS, and the idle pool's threads
  still spin for a while after numpy loads: about 0.1 s of CPU time in a 0.56 s warm ``pulpsim run`` on a
  2-core machine, for nothing.
"""

from __future__ import annotations

import os
import sys

#: Thread-count variables of the BLAS libraries numpy may use; a value the user set is kept.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas_threads(reexec: bool) -> None:
    """Set the BLAS thread-count variables the user did not set to 1. A BLAS library reads them once,
    when it loads: if numpy is already imported and ``reexec`` is true (the process is the ``pulpsim``
    command itself), the command restarts itself in place (``os.execv``, same process id) so that they
    take effect."""
    missing = [v for v in BLAS_THREAD_VARIABLES if v not in os.environ]
    if not missing:
        return
    for v in missing:
        os.environ[v] = "1"
    if reexec and "numpy" in sys.modules and os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "pulpsim", *sys.argv[1:]])
