"""The data a continual-learning run learns from, named as on the command line (``--data``).

``synthetic`` is the built-in generated scenario (:mod:`pulpsim.cl.synthetic`); ``core50:DIR`` reads
CORe50's NICv2-391 lists from the folder ``DIR`` (:mod:`pulpsim.cl.core50`).
"""

from __future__ import annotations

from pulpsim.errors import ConfigError

from . import core50, synthetic
from .scenario import Scenario


#: (object, session) units per experience of the default synthetic stream: 21 experiences (160 images,
#: then 19 of 320 and one of 160), short enough for the whole default run to stay within minutes.
SYNTHETIC_UNITS = 20


def open_data(option: str = "synthetic", *, resolution: int = 32, seed: int = 0, labels: str | None = None,
              run: int = 0, test_stride: int = 1, spec: synthetic.SyntheticSpec | None = None,
              units_per_experience: int = SYNTHETIC_UNITS) -> Scenario:
    """The scenario named by ``option`` at ``resolution`` x ``resolution`` pixels. ``labels`` defaults to
    each source's usual level: categories for the synthetic data (10 classes), objects for CORe50 (50,
    as the NICv2 lists and AR1* use them). ``run`` picks CORe50's list (0..9).

    For the synthetic data, ``seed`` orders the experiences (:func:`pulpsim.cl.scenario.nicv2_order`)
    while the images stay those of ``SyntheticSpec(resolution=resolution)`` (generator seed 0), so that
    every seed shares the images and the pretrained frozen stage: a seed sweep measures the protocol's
    variance (order, shuffles, replay and buffer draws), not the generator's. ``spec`` replaces that
    spec as a whole (its resolution then counts, not ``resolution``). ``units_per_experience``
    (object, session) units form one experience."""
    name, _, arg = option.partition(":")
    if name == "synthetic" and not arg:
        spec = spec or synthetic.SyntheticSpec(resolution=resolution)
        return synthetic.scenario(spec, labels=labels or "category", order_seed=seed,
                                  units_per_experience=units_per_experience).test_subset(test_stride)
    if name == "core50" and arg:
        return core50.load(arg, run=run, labels=labels or "object", resolution=resolution,
                           test_stride=test_stride)
    raise ConfigError(f"--data {option!r}: expected 'synthetic' or 'core50:DIR'")
