"""Shared pytest fixtures."""

from __future__ import annotations

import os

from pulpsim.blas import BLAS_THREAD_VARIABLES  # (standard library only: numpy is not imported yet)

# One BLAS thread, as `pulpsim cl` runs: the continual-learning tests multiply small matrices, which a
# multi-threaded BLAS made several times slower on a machine of few cores shared with other jobs. Set
# before numpy is first imported (a BLAS reads them when it loads); a value set by the user wins.
for _var in BLAS_THREAD_VARIABLES:
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def private_build_cache(tmp_path_factory):
    """A private build cache for one test module ($PULPSIM_CACHE), so that its tests neither depend on nor
    pollute the user's cache; restored afterwards."""
    d = tmp_path_factory.mktemp("pulpsim-cache")
    old = os.environ.get("PULPSIM_CACHE")
    os.environ["PULPSIM_CACHE"] = str(d)
    yield d
    if old is None:
        os.environ.pop("PULPSIM_CACHE", None)
    else:
        os.environ["PULPSIM_CACHE"] = old
