"""pulpsim's Numba policy (pulpsim.sim.jit): what it compiles for a helper of the engine."""

from __future__ import annotations

import numpy as np
from numba import njit

from pulpsim.sim.jit import jit


@jit
def _scaled(a, i, k):
    a[i] *= k
    return a[i] + 1


@njit
def _calls_with_constants(a):
    # the same helper with a constant and with a variable argument, as the engine calls its units
    x = _scaled(a, 0, 3)
    k = a.shape[0]
    return x + _scaled(a, 1, k)


def test_a_constant_argument_compiles_no_second_version_of_a_helper():
    a = np.array([2, 5], np.int64)
    assert _calls_with_constants(a) == 2 * 3 + 1 + 5 * 2 + 1
    # Numba would otherwise type _scaled(a, 0, 3) as (array, Literal[int](0), Literal[int](3)): a second
    # compilation of the helper, for those constants
    assert len(_scaled.overloads) == 1


def test_a_helper_compiled_without_python_wrappers_can_still_be_called_from_python():
    a = np.array([4], np.int64)
    assert _scaled(a, 0, 2) == 9
    assert a[0] == 8
