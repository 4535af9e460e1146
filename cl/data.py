"""The data a continual-learning run learns from, named as on the command line (``--data``).

``synthetic`` is the built-in generated scenario (:mod:`pulpsim.cl.synthetic`); ``core50:DIR`` reads
CORe50's NICv2-391 lists from the folder ``DIR`` (:mod:`pulpsim.cl.core50`).
"""

from __future__ import annotations

from pulpsim.errors import ConfigError

from . import core50, synthetic
from .scenario import Scenario


def open_data(option: str = "synthetic", *, resolution: int = 32, seed: int = 0, labels: str | None = None,
              run: int = 0, test_stride: int = 1, spec: synthetic.SyntheticSpec | None = None) -> Scenario:
    """The scenario named by ``option`` at ``resolution`` x ``resolution`` pixels. ``labels`` defaults to
    each source's usual level: categories for the synthetic data (10 classes), objects for CORe50 (50,
    as the NICv2 lists and AR1* use them). ``seed`` seeds the synthetic data and its order; ``run``
    picks CORe50's list (0..9). ``spec`` replaces the synthetic data's whole spec (its resolution and
    seed then count, not ``resolution`` and ``seed``)."""
    name, _, arg = option.partition(":")
    if name == "synthetic" and not arg:
        spec = spec or synthetic.SyntheticSpec(resolution=resolution, seed=seed)
        return synthetic.scenario(spec, labels=labels or "category").test_subset(test_stride)
    if name == "core50" and arg:
        return core50.load(arg, run=run, labels=labels or "object", resolution=resolution,
                           test_stride=test_stride)
    raise ConfigError(f"--data {option!r}: expected 'synthetic' or 'core50:DIR'")
