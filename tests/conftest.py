"""Shared pytest fixtures."""

from __future__ import annotations

import os

import pytest


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
