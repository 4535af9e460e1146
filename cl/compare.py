"""The precision and LR-layer sweeps behind ``pulpsim cl compare``.

Two questions about latent replay (Ravaglia et al., IEEE JETCAS 2021, the tables of LR precision
and LR layer against memory and cost):

* **precision sweep**: at one LR layer, the final test accuracy of latent replay with the LR memory
  in FP32 (the full-precision reference: float frozen stage, FP32 LRs) and in UINT-Q for each Q
  asked (int8 frozen stage, its uint8 codes requantized to Q bits);
* **LR-layer sweep**: at each LR layer asked, the same at the base precision and in FP32.

Every figure is a mean over seeds with its spread (sample standard deviation). Each seed runs the
same protocol draws (order of the experiences, shuffles, replay order, buffer choices) for every
precision, so a precision's loss against FP32 is a *paired* difference, computed seed by seed; its
spread is much smaller than that of the accuracies themselves. Naive fine-tuning runs once per seed
and LR layer, as the lower reference.

The frozen stage does not depend on the precision, so the LRs of every image are computed once per
LR layer and shared by every run (:func:`pulpsim.cl.protocol.compute_latents`). The cost of a
learning event comes from ``cost_fn`` (the simulated cluster's cycles); without one the table says
"not measured" and shows only the host's wall time per event, which is not a cycle count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from pulpsim.errors import ConfigError

from . import model, protocol
from .memory import FP32, MB, buffer_bytes, parse_precision, precision_name
from .pretrain import Pretrained
from .scenario import Scenario

#: The precision sweep of ``pulpsim cl compare``: FP32, then UINT8 down to UINT1.
DEFAULT_PRECISIONS = (FP32, 8, 7, 6, 5, 4, 3, 2, 1)
#: The LR layers of the published cost table (conv5_4/dw ... pool6).
DEFAULT_LR_LAYERS = (19, 21, 23, 25, 27)
#: A precision "fails" when it loses more than this many points against FP32 (paired mean).
FAIL_POINTS = 5.0


@dataclass(frozen=True)
class CostQuery:
    """What ``cost_fn`` is asked: the cycles of one learning event of replay at ``lr_index`` with LRs
    stored at ``precision``, for a mini-batch of ``n_new`` new samples and ``n_replay`` LRs (the
    composition of a typical experience after the first)."""

    lr_index: int
    precision: object
    n_new: int
    n_replay: int
    config: protocol.ProtocolConfig


@dataclass
class CompareRow:
    """One configuration of a sweep, over every seed."""

    sweep: str                  # "precision" or "lr_layer"
    lr_index: int
    lr_name: str
    lr_shape: tuple
    precision: object           # "fp32" or Q
    method: str                 # "replay" or a baseline ("naive")
    accuracy: list              # final test accuracy per seed, in %
    delta: list | None          # paired accuracy - FP32 reference per seed, in points (replay rows)
    lr_bytes: int | None        # LR memory (capacity LRs, labels excluded); None without memory
    label_bytes: int | None
    host_ms_per_event: float    # host wall time per learning event, all seeds
    cycles_per_event: float | None = None

    @property
    def name(self) -> str:
        return precision_name(self.precision) if self.method == "replay" else self.method

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracy))

    @property
    def spread(self) -> float:
        return _sd(self.accuracy)

    @property
    def delta_mean(self) -> float | None:
        return None if self.delta is None else float(np.mean(self.delta))

    @property
    def delta_spread(self) -> float | None:
        return None if self.delta is None else _sd(self.delta)

    def to_dict(self) -> dict:
        return {"sweep": self.sweep, "lr_index": self.lr_index, "lr_name": self.lr_name,
                "lr_shape": list(self.lr_shape), "method": self.method, "precision": self.name
                if self.method == "replay" else None, "accuracy": self.accuracy, "mean": self.mean,
                "spread": self.spread, "delta": self.delta, "delta_mean": self.delta_mean,
                "delta_spread": self.delta_spread, "lr_bytes": self.lr_bytes, "label_bytes": self.label_bytes,
                "host_ms_per_event": self.host_ms_per_event, "cycles_per_event": self.cycles_per_event}


def _sd(values) -> float:
    """Sample standard deviation (0 for a single value)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


@dataclass
class CompareResult:
    """Both sweeps: ``rows`` (:class:`CompareRow`), the seeds, the base configuration and the wall time."""

    base: protocol.ProtocolConfig
    seeds: tuple
    rows: list = field(default_factory=list)
    seconds: float = 0.0
    fail_points: float = FAIL_POINTS

    def sweep(self, name: str) -> list:
        return [r for r in self.rows if r.sweep == name]

    def first_failing(self) -> CompareRow | None:
        """The highest precision of the precision sweep whose paired mean loss against FP32 is more
        than ``fail_points`` points (None if none is)."""
        rows = [r for r in self.sweep("precision") if r.method == "replay" and r.precision != FP32]
        for r in sorted(rows, key=lambda r: -r.precision):
            if r.delta_mean is not None and -r.delta_mean > self.fail_points:
                return r
        return None

    def table(self) -> str:
        """Both sweeps as Markdown tables, and the first failing precision."""
        n = len(self.seeds)
        head = ["LR layer", "LRs", f"final accuracy, mean ± sd of {n} seeds",
                "vs FP32 (paired), mean ± sd", f"LR memory ({self.base.capacity} LRs)", "cycles/event",
                "host ms/event"]
        out = []
        for sweep, title in (("precision", f"Precision sweep (LR layer {self.base.lr_index})"),
                             ("lr_layer", f"LR-layer sweep ({precision_name(self.base.precision)} and FP32)")):
            rows = self.sweep(sweep)
            if not rows:
                continue
            out += [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for r in rows:
                out.append("| " + " | ".join(_cells(r)) + " |")
            out.append("")
        fail = self.first_failing()
        if self.sweep("precision"):
            out.append(f"First precision losing more than {self.fail_points:g} points against FP32: "
                       + (f"**{fail.name}** ({fail.delta_mean:+.1f} ± {fail.delta_spread:.1f})" if fail
                          else "none of those swept") + ".")
        return "\n".join(out)

    def to_dict(self) -> dict:
        fail = self.first_failing()
        return {"seeds": list(self.seeds), "seconds": self.seconds, "fail_points": self.fail_points,
                "first_failing": fail.name if fail else None,
                "base": {"lr_index": self.base.lr_index, "capacity": self.base.capacity,
                         "precision": precision_name(self.base.precision), "mb_size": self.base.mb_size,
                         "epochs_first": self.base.epochs_first, "epochs_inc": self.base.epochs_inc,
                         "lr_first": self.base.lr_first, "lr_inc": self.base.lr_inc},
                "rows": [r.to_dict() for r in self.rows]}


def _cells(r: CompareRow) -> list:
    acc = f"{r.mean:.1f} ± {r.spread:.1f} %"
    delta = "" if r.delta is None else (f"{r.delta_mean:+.1f} ± {r.delta_spread:.1f}" if r.precision != FP32
                                        else "(reference)")
    mem = "none" if r.lr_bytes is None else f"{r.lr_bytes:,} B ({r.lr_bytes / MB:.3g} MB)"
    cyc = "not measured" if r.cycles_per_event is None else f"{r.cycles_per_event:,.0f}"
    shape = "x".join(str(v) for v in r.lr_shape)
    return [f"{r.lr_index} ({r.lr_name}, {shape})", r.name, acc, delta, mem, cyc, f"{r.host_ms_per_event:.1f}"]


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------

@dataclass
class _Run:
    accuracy: float
    seconds: float
    events: int


class _Runner:
    """Runs (seed, LR layer, method, precision) once each, sharing the LRs of an LR layer."""

    def __init__(self, base, scenario_for, pre, backend, progress, total):
        self.base, self.scenario_for, self.pre, self.backend = base, scenario_for, pre, backend
        self.progress, self.total, self.done = progress, total, 0
        self.latents: dict = {}
        self.runs: dict = {}
        self.x_train = None

    def _latents(self, scen: Scenario, lr_index: int) -> dict:
        # The LRs depend on the images only; every seed's scenario must hold the same images.
        if self.x_train is None:
            self.x_train = scen.x_train
        elif scen.x_train is not self.x_train and not np.array_equal(scen.x_train, self.x_train):
            raise ConfigError("compare: the scenarios of the seeds must hold the same training images")
        if lr_index not in self.latents:
            self.latents[lr_index] = protocol.compute_latents(self.pre, scen, lr_index)
        return self.latents[lr_index]

    def __call__(self, seed: int, lr_index: int, method: str, precision) -> _Run:
        key = (seed, lr_index, method, precision)
        if key not in self.runs:
            scen = self.scenario_for(seed)
            cfg = replace(self.base, seed=seed, lr_index=lr_index, methods=(method,),
                          precision=precision if method == "replay" else self.base.precision)
            res = protocol.run(cfg, scen, self.pre, latents=self._latents(scen, lr_index), backend=self.backend)
            m = res.methods[method]
            self.runs[key] = _Run(100.0 * res.final_accuracy(method), m.seconds, len(m.events))
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total, _label(seed, lr_index, method, precision))
        return self.runs[key]


def _label(seed, lr_index, method, precision) -> str:
    what = precision_name(precision) if method == "replay" else method
    return f"seed {seed}, LR layer {lr_index}, {what}"


def _typical_composition(scen: Scenario, cfg: protocol.ProtocolConfig) -> tuple[int, int]:
    """``(n_new, n_replay)`` of a mini-batch of the median experience after the first."""
    sizes = [len(e) for e in scen.experiences[1:]] or [len(scen.experiences[0])]
    cur, inject, _ = protocol.composition(int(np.median(sizes)), cfg.capacity, cfg.mb_size)
    return cur, inject


def run_compare(base: protocol.ProtocolConfig, scenario: Scenario | Callable[[int], Scenario],
                pre: Pretrained, *, seeds=(0, 1, 2), precisions=DEFAULT_PRECISIONS,
                lr_layers=DEFAULT_LR_LAYERS, baselines=("naive",), cost_fn=None, backend=None,
                progress=None, fail_points: float = FAIL_POINTS) -> CompareResult:
    """The precision sweep at ``base.lr_index`` and the LR-layer sweep over ``lr_layers`` (at
    ``base.precision`` and FP32), each configuration run for every seed.

    ``scenario`` is one :class:`Scenario` for all seeds or a function ``seed -> Scenario`` (for
    example one experience order per seed); every seed's scenario must hold the same images.
    ``baselines`` (``"naive"``, ``"joint"``) run once per seed at each LR layer. ``cost_fn(CostQuery)``
    returns the cycles of one learning event or None; without it the cycles are "not measured".
    ``progress(done, total, label)`` is called after every protocol run."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ConfigError("compare: at least one seed is required")
    precisions = tuple(dict.fromkeys(parse_precision(p) for p in precisions))
    if FP32 not in precisions:
        precisions = (FP32,) + precisions        # the reference every difference is paired with
    lr_layers = tuple(dict.fromkeys(int(i) for i in lr_layers))
    bad = [m for m in baselines if m not in ("naive", "joint")]
    if bad:
        raise ConfigError(f"compare: unknown baseline(s) {bad}: choose among naive, joint")
    scenario_for = scenario if callable(scenario) else (lambda seed: scenario)
    first = scenario_for(seeds[0])
    layers = model.mobilenet_v1(pre.config.width, pre.config.resolution, first.n_classes)
    for i in (base.lr_index, *lr_layers):
        model.check_lr_layer(layers, i)
    base_p = base.precision
    layer_precisions = tuple(dict.fromkeys((base_p, FP32)))
    configs = ([(base.lr_index, "replay", p) for p in precisions]
               + [(base.lr_index, m, None) for m in baselines]
               + [(i, "replay", p) for i in lr_layers for p in layer_precisions]
               + [(i, m, None) for i in lr_layers for m in baselines])
    unique = list(dict.fromkeys(configs))
    start = time.perf_counter()
    run = _Runner(base, scenario_for, pre, backend, progress, len(unique) * len(seeds))
    result = CompareResult(base, seeds, fail_points=fail_points)
    n_new, n_replay = _typical_composition(first, base)
    for seed in seeds:                       # seed-major: a partial run still has whole seeds
        for i, method, p in unique:
            run(seed, i, method, p)
    rows = ([("precision", base.lr_index, "replay", p) for p in precisions]
            + [("precision", base.lr_index, m, None) for m in baselines]
            + [("lr_layer", i, "replay", p) for i in lr_layers for p in layer_precisions]
            + [("lr_layer", i, m, None) for i in lr_layers for m in baselines])
    for sweep, i, method, p in rows:
        result.rows.append(_row(sweep, layers[i], method, p, seeds, run, base, first.n_classes,
                                cost_fn, n_new, n_replay))
    result.seconds = time.perf_counter() - start
    return result


def _row(sweep, layer, method, precision, seeds, run, base, n_classes, cost_fn, n_new, n_replay) -> CompareRow:
    i = layer.index
    runs = [run(s, i, method, precision) for s in seeds]
    acc = [r.accuracy for r in runs]
    delta = None
    if method == "replay":
        ref = [run(s, i, "replay", FP32).accuracy for s in seeds]
        delta = [a - b for a, b in zip(acc, ref)]
    events = sum(r.events for r in runs)
    host_ms = 1000.0 * sum(r.seconds for r in runs) / max(events, 1)
    lr_b = lab_b = cycles = None
    if method == "replay":
        buf = buffer_bytes(base.capacity, layer.out_elems, precision, n_classes)
        lr_b, lab_b = buf["lrs"], buf["labels"]
        if cost_fn is not None:
            cyc = cost_fn(CostQuery(i, precision, n_new, n_replay, replace(base, lr_index=i, precision=precision)))
            cycles = None if cyc is None or (isinstance(cyc, float) and math.isnan(cyc)) else float(cyc)
    return CompareRow(sweep, i, layer.name, tuple(layer.out_shape), precision, method, acc, delta, lr_b, lab_b,
                      host_ms, cycles)
