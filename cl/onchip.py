"""The adaptive stage's learning events on the simulated cluster (``SimBackend``).

A learning event is one mini-batch of ``B`` samples at the LR layer. The device flow of PULP-TrainLib
is batch-size-1 streaming, so the cluster runs it sample by sample, with every tensor in L2 and tiled
to L1 with the DMA by :func:`pulpsim.workloads.tiled.run_sequence`:

* **one program per sample** (:func:`sample_program`): for each layer, forward (convolution, bias,
  ReLU), then the pool and the classifier, softmax + cross-entropy (the loss) and its gradient
  ``(softmax - onehot) / B`` (the ``1/B`` of the mean loss, applied once, in the softmax gradient
  step), the backward pass (ReLU, bias and weight gradients, input gradients except at the first
  adaptive layer) and, from the second sample on, the **accumulation** of each weight and bias
  gradient into the running sum of the mini-batch (a tiled ``accumulate`` step, ``acc + g``);
* **one program for the update** (:func:`update_program`): one tiled SGD step (momentum, weight
  decay) per parameter tensor, with the accumulated gradients.

The accumulated gradients, the parameters and the momentum stay where the previous program left them
(the host writes them back unchanged into the next program's L2). Every cycle reported is the
guest's: per step from the executor's marks, per event the sum over its programs.

Every simulated event is checked against the host path on the same state and mini-batch
(:func:`check_event`, tolerance in docs/cl.md, "What runs where"); a failure raises
:class:`NumericsError` naming the tensor. The trained weights after a simulated event are the
simulator's.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from pulpsim.workloads import golden as g
from pulpsim.workloads import tiled
from pulpsim.errors import ConfigError, GuestError
from pulpsim.sim.platform import get_platform

from . import nn
from .model import CONV_KINDS
from .protocol import AdaptiveState, Event, HostBackend

__all__ = ["SimMode", "parse_sim", "NumericsError", "Program", "sample_program", "sample_tensors",
           "update_program", "param_shape", "EventRecord", "SimBackend", "chain_length", "check_event"]

EPS32 = float(np.finfo(np.float32).eps)


class NumericsError(GuestError):
    """A simulated learning event disagrees with the host path beyond the stated tolerance."""


# --------------------------------------------------------------------------------------------
# Which events run on the simulator
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimMode:
    """Which learning events run on the simulated cluster.

    ``kind`` is ``"none"``, ``"all"`` or ``"sample"``; with ``"sample"``, the first ``k`` learning
    events of an experience, in every ``every``-th experience (the first and the last experience
    always included). Only events of ``methods`` are simulated (the deployed method; the baselines
    stay on the host)."""

    kind: str = "none"
    k: int = 0
    every: int = 1
    methods: tuple = ("replay",)

    def selects(self, event: Event, n_experiences: int | None = None, index: int | None = None) -> bool:
        """Whether ``event`` runs on the simulator. ``index`` is the event's position in its
        experience (the backend counts them); without it, events are numbered by iteration within
        the first epoch and later epochs count as beyond ``k``. ``n_experiences`` (None: unknown)
        lets the last experience be recognised."""
        if self.kind == "none" or event.method not in self.methods:
            return False
        if self.kind == "all":
            return True
        i = event.experience
        last = n_experiences is not None and i == n_experiences - 1
        if not (i % self.every == 0 or last):
            return False
        if index is None:
            index = event.iteration if event.epoch == 0 else self.k
        return index < self.k

    def __str__(self) -> str:
        if self.kind == "sample":
            return f"sample:{self.k}" + (f"@{self.every}" if self.every != 1 else "")
        return self.kind


_SAMPLE = re.compile(r"sample:(\d+)(?:@(\d+))?")


def parse_sim(text, methods: tuple = ("replay",)) -> SimMode:
    """``none``, ``all``, ``sample:K`` or ``sample:K@E`` (K >= 1 events per experience, every E-th
    experience, E >= 1) as a :class:`SimMode`; anything else is a one-line :class:`ConfigError`."""
    if isinstance(text, SimMode):
        return text
    if not isinstance(text, str):
        raise ConfigError(f"--sim: expected none, all, sample:K or sample:K@E (K, E >= 1), got {text!r}")
    s = text.strip().lower()
    if s in ("none", "all"):
        return SimMode(s, methods=tuple(methods))
    m = _SAMPLE.fullmatch(s)
    if m and int(m.group(1)) >= 1 and (m.group(2) is None or int(m.group(2)) >= 1):
        return SimMode("sample", int(m.group(1)), int(m.group(2) or 1), tuple(methods))
    raise ConfigError(f"--sim: expected none, all, sample:K or sample:K@E (K, E >= 1), got {text!r}")


# --------------------------------------------------------------------------------------------
# The programs
# --------------------------------------------------------------------------------------------

@dataclass
class Program:
    """Layer steps of one simulated program and, per step, its tag ``(layer index, layer kind, step)``;
    ``outputs`` names the tensors the host reads back (by role)."""

    steps: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)

    def add(self, tag: tuple, layer: str, step: str, ins: dict, outs: dict, **params) -> None:
        self.steps.append(tiled.SeqStep(layer, step, ins, outs, params))
        self.tags.append(tag)


def grad_keys(layer) -> tuple:
    """The trained tensors of ``layer`` on the cluster: weights and folded-BatchNorm bias of a convolution,
    the weights of the fc, none for the pool."""
    return ("W", "b") if layer.kind in CONV_KINDS else (("W",) if layer.kind == "fc" else ())


def param_shape(layer, key: str) -> tuple:
    """Shape of ``layer``'s parameter ``key`` (``"W"`` or ``"b"``) as the programs are given it."""
    return tuple(layer.weight_shape) if key == "W" else (layer.out_shape[0],)


def _flat(name: str, layer, key: str) -> tuple:
    """``name`` viewed as a flat vector of the size of ``layer``'s parameter ``key``: the elementwise
    steps (accumulate, SGD) walk their tensors as ``n`` elements whatever their shape."""
    return (name, (int(np.prod(param_shape(layer, key))),))


def sample_program(layers, *, label: int, batch: int, first: bool, first_ig: bool = False) -> Program:
    """The steps of one training sample through ``layers`` (an adaptive stage: conv/dw/pw layers with
    a bias and ReLU, a global pool, an fc without bias) on the cluster.  The first layer has no input
    gradient (nothing below it learns) unless ``first_ig`` (the cost model's stage of a lower LR layer
    includes it: ``dx``).

    Given tensors (:func:`sample_tensors`): ``x`` (the sample at the LR layer), ``W<i>`` and ``b<i>``,
    and unless ``first`` the mini-batch's gradients so far ``acc<i>.<key>``. Produced: ``grad<i>.<key>``,
    the gradients accumulated with this sample; ``z<i>`` each layer's pre-activation (after the bias),
    ``logits``, ``loss``. The loss gradient is divided by ``batch`` (the mean over the mini-batch)."""
    prog = Program()
    x = "x"
    inputs = {}
    for l in layers:                                 # forward
        inputs[l.index] = x
        i = l.index
        if l.kind in ("pw", "dw"):
            name, params = ("pointwise", {}) if l.kind == "pw" else ("depthwise", {"stride": l.stride})
            prog.add((i, l.kind, "fw"), name, "fw", {"x": x, "W": f"W{i}"}, {"y": f"y{i}"}, **params)
            prog.add((i, l.kind, "bias fw"), "bias", "fw", {"y": f"y{i}", "b": f"b{i}"}, {"y": f"z{i}"})
            prog.add((i, l.kind, "relu fw"), "relu", "fw", {"x": f"z{i}"}, {"y": f"a{i}"})
            x = f"a{i}"
        elif l.kind == "pool":
            prog.add((i, "pool", "fw"), "avgpool", "fw", {"x": x}, {"y": f"a{i}"})
            x = f"a{i}"
        elif l.kind == "fc":
            c = l.in_shape[0]
            prog.add((i, "fc", "fw"), "linear", "fw", {"x": (x, (c,)), "W": f"W{i}"}, {"y": "logits"})
            prog.add((i, "fc", "loss fw"), "softmax_ce", "fw", {"z": "logits"}, {"probs": "probs", "loss": "loss"},
                     label=int(label))
            prog.add((i, "fc", "loss bw"), "softmax_ce", "bw", {"z": "logits"}, {"dz": "dlogits"},
                     label=int(label), batch=int(batch))
        else:
            raise ConfigError(f"onchip: layer {i} ({l.kind}) cannot run on the cluster (conv1 is never adaptive)")
    dy = "dlogits"
    for pos in range(len(layers) - 1, -1, -1):       # backward
        l = layers[pos]
        i, x = l.index, inputs[l.index]
        if l.kind == "fc":
            c = l.in_shape[0]
            _grad_step(prog, l, "W", "wg", "linear", {"x": (x, (c,)), "dy": dy}, "dW", {}, first)
            if pos > 0 or first_ig:
                prog.add((i, "fc", "ig"), "linear", "ig", {"W": f"W{i}", "dy": dy}, {"dx": f"d{x}"})
        elif l.kind == "pool":
            c, h, w = l.in_shape
            prog.add((i, "pool", "bw"), "avgpool", "bw", {"dy": (dy, (c, 1, 1))}, {"dx": f"d{x}"},
                     in_shape=(c, h, w))
        else:
            prog.add((i, l.kind, "relu bw"), "relu", "bw", {"x": f"z{i}", "dy": dy}, {"dx": f"dz{i}"})
            _grad_step(prog, l, "b", "bias wg", "bias", {"dy": f"dz{i}"}, "db", {}, first)
            name, params = ("pointwise", {}) if l.kind == "pw" else ("depthwise", {"stride": l.stride})
            _grad_step(prog, l, "W", "wg", name, {"x": x, "dy": f"dz{i}"}, "dW", params, first)
            if pos > 0 or first_ig:
                if l.kind == "dw":
                    params = {**params, "in_hw": tuple(l.in_shape[1:])}
                prog.add((i, l.kind, "ig"), name, "ig", {"W": f"W{i}", "dy": f"dz{i}"}, {"dx": f"d{x}"}, **params)
        dy = f"d{x}"
    prog.outputs = {"grads": {(l.index, k): f"grad{l.index}.{k}" for l in layers for k in grad_keys(l)},
                    "pre": {l.index: f"z{l.index}" for l in layers if l.kind in CONV_KINDS},
                    "logits": "logits", "loss": "loss"}
    return prog


def _grad_step(prog: Program, l, key: str, tag: str, layer: str, ins: dict, local: str, params: dict,
               first: bool) -> None:
    """A weight (``key`` W) or bias (b) gradient step; from the second sample on its output is added to
    the gradients so far ``acc<i>.<key>`` by an ``accumulate`` step. Either way ``grad<i>.<key>`` holds
    the sum over the samples streamed so far."""
    i = l.index
    out = f"grad{i}.{key}" if first else f"g{i}.{key}"
    prog.add((i, l.kind, tag), layer, "wg", ins, {local: out}, **params)
    if not first:
        prog.add((i, l.kind, f"accumulate {key}"), "accumulate", "step",
                 {"acc": _flat(f"acc{i}.{key}", l, key), "g": _flat(out, l, key)}, {"acc": f"grad{i}.{key}"})


def sample_tensors(layers, params: dict, x, acc: dict | None = None) -> dict:
    """The given tensors of :func:`sample_program`: the sample ``x[C, H, W]``, the parameters and the
    gradients accumulated so far (``acc``: ``{(index, key): array}``, None for the first sample)."""
    t = {"x": np.asarray(x, np.float32)}
    for l in layers:
        for k in grad_keys(l):
            t[f"{k}{l.index}"] = params[l.index][k]
            if acc is not None:
                t[f"acc{l.index}.{k}"] = acc[(l.index, k)]
    return t


def update_program(layers, lr: float, momentum: float, weight_decay: float) -> Program:
    """One SGD step per parameter tensor: given ``W<i>``/``b<i>``, ``grad<i>.<key>`` and ``v<i>.<key>``
    (each viewed as a flat vector); produces ``new<i>.<key>`` and ``newv<i>.<key>`` (flat)."""
    prog = Program()
    for l in layers:
        for k in grad_keys(l):
            i = l.index
            prog.add((i, l.kind, f"sgd {k}"), "sgd", "step",
                     {"w": _flat(f"{k}{i}", l, k), "g": _flat(f"grad{i}.{k}", l, k), "v": _flat(f"v{i}.{k}", l, k)},
                     {"w": f"new{i}.{k}", "v": f"newv{i}.{k}"}, lr=float(lr), momentum=float(momentum),
                     weight_decay=float(weight_decay))
    return prog


# --------------------------------------------------------------------------------------------
# The numerics check
# --------------------------------------------------------------------------------------------

def chain_length(layers, batch: int) -> int:
    """``N``, a bound on the roundings along any path of a learning event: every layer's forward
    reduction (plus its bias add), the softmax (``n + 8``: exponentials, their sum, a divide, the 1/B),
    every input-gradient reduction, and the longest weight- or bias-gradient chain (``batch`` samples of
    ``Ho*Wo`` terms each, plus one accumulation per sample)."""
    fw = ig = wg = 0
    for l in layers:
        c, h, w = l.in_shape
        hw_out = l.out_shape[1] * l.out_shape[2]
        fw += {"pw": c + 1, "dw": 9 + 1, "pool": h * w + 1, "fc": c}[l.kind]
        ig += {"pw": l.out_shape[0], "dw": 9, "pool": 1, "fc": l.out_shape[0]}[l.kind]
        wg = max(wg, batch * (hw_out + 1))
    return fw + layers[-1].out_shape[0] + 8 + ig + wg


def _magnitudes(layers, params, x, pre, labels, gamma: float):
    """The event computed on absolute values (float64): per layer the magnitude of its input and of its
    pre-activation, bounding the sums of |terms| of every chain, and the gradient magnitudes ``G``.
    A ReLU counts as open wherever either computation may have its input above 0."""
    m = np.abs(x).astype(np.float64)
    m_in, m_z, open_ = {}, {}, {}
    for l in layers:
        m_in[l.index] = m
        p = params.get(l.index, {})
        mz = nn.linear_forward(l, np.abs(p["W"]).astype(np.float64) if "W" in p else None, m)
        if l.kind in CONV_KINDS:
            mz = mz + np.abs(p["b"]).astype(np.float64).reshape(1, -1, 1, 1)
            open_[l.index] = pre[l.index] > -2 * gamma * mz
            m = mz * open_[l.index]
        else:
            m = mz
        m_z[l.index] = mz
    B = len(x)
    logits_mag = m.reshape(B, -1)
    probs = g.softmax(np.asarray(pre["logits"], np.float64).reshape(B, -1))
    onehot = np.eye(probs.shape[1])[labels]
    # |dz| <= (p + onehot) / B; softmax moves p by at most 2 p max|dz_j| for logit errors dz_j
    d = ((probs + onehot) + 2 * probs * logits_mag.max(axis=1, keepdims=True)) / B
    d = d.reshape(B, -1, 1, 1)
    G = {}
    for pos in range(len(layers) - 1, -1, -1):
        l = layers[pos]
        p = params.get(l.index, {})
        if l.kind in CONV_KINDS:
            d = d * open_[l.index]
            G[(l.index, "b")] = d.sum(axis=(0, 2, 3))
        dx, dW = nn.linear_backward(l, np.abs(p["W"]).astype(np.float64) if "W" in p else None, m_in[l.index], d,
                                    need_dx=pos > 0)
        if dW is not None:
            G[(l.index, "W")] = dW
        d = dx
    return m_z, G


def _ratio(a, b, bound) -> tuple[float, tuple]:
    """``max |a - b| / bound`` and where it is reached."""
    err = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    r = err / (np.asarray(bound, np.float64) + np.finfo(np.float32).tiny)
    k = int(np.argmax(r))
    return float(r.flat[k]), np.unravel_index(k, r.shape)


def check_event(layers, params, velocity, x, labels, sim: dict, lr, momentum, weight_decay) -> dict:
    """Compare a simulated learning event with the host path from the same state and mini-batch.

    ``sim`` holds the simulator's per-layer pre-activations (``pre[index]``, ``[B, K, H, W]``) and logits,
    its accumulated gradients ``grads[(index, key)]`` and its updated ``params``/``velocity``. Checks,
    with ``gamma = (N + 2) eps32`` (``N``: :func:`chain_length`) and ``M``, ``G`` the same event on
    absolute values (:func:`_magnitudes`):

    * every pre-activation and logit: ``|sim - host| <= 2 gamma M`` (each side within ``gamma M`` of the
      exact value);
    * every gradient: ``|sim - host| <= 6 gamma G``, the host's backward pass taking the simulator's ReLU
      decisions (a pre-activation within rounding of 0 may fall on either side, which is not an error;
      the first check bounds how far from 0 that can be);
    * the SGD step: bit-exact with :func:`pulpsim.workloads.golden.sgd_momentum` on the simulator's gradients.

    Returns ``{"gamma", "chain", "worst", "ratios"}``; raises :class:`NumericsError` naming the first
    tensor beyond its bound.
    """
    B = len(x)
    N = chain_length(layers, B)
    gamma = (N + 2) * EPS32
    trace = nn.Trace()
    logits = nn.forward(layers, params, x, trace=trace)
    pre = dict(sim["pre"], logits=sim["logits"])
    m_z, G = _magnitudes(layers, params, x, {**trace.pre_relu, "logits": logits}, labels, gamma)
    ratios = {}

    def judge(name, a, b, bound):
        r, at = _ratio(a, b, bound)
        ratios[name] = r
        if not r <= 1.0:
            raise NumericsError(f"simulated learning event: {name} differs from the host path by "
                                f"{abs(float(np.asarray(a, np.float64)[at]) - float(np.asarray(b, np.float64)[at])):.3g} "
                                f"at {tuple(int(i) for i in at)}, {r:.3g} times the bound {2 * gamma:.3g} x magnitude")

    for l in layers:
        if l.kind in CONV_KINDS:
            judge(f"pre-activation {l.index}", pre[l.index], trace.pre_relu[l.index], 2 * gamma * m_z[l.index])
    fc = layers[-1]
    judge("logits", np.asarray(sim["logits"]).reshape(logits.shape), logits, 2 * gamma * m_z[fc.index])
    _, dz = nn.softmax_cross_entropy(logits, labels)
    masked = nn.Trace(trace.inputs, {i: np.asarray(z).reshape(trace.pre_relu[i].shape) for i, z in sim["pre"].items()})
    grads, _ = nn.backward(layers, params, masked, dz)
    for (i, k), gs in sim["grads"].items():
        judge(f"gradient {i}.{k}", gs, grads[i][k], 6 * gamma * G[(i, k)])
    for (i, k), gs in sim["grads"].items():
        v = velocity.get(i, {}).get(k)
        w_ref, v_ref = g.sgd_momentum(params[i][k], gs, np.zeros_like(gs) if v is None else v, lr, momentum,
                                      weight_decay)
        for what, a, b in (("weights", sim["params"][i][k], w_ref), ("momentum", sim["velocity"][i][k], v_ref)):
            if not np.array_equal(np.asarray(a, np.float32), b):
                raise NumericsError(f"simulated learning event: the SGD step's {what} {i}.{k} differ from "
                                    f"pulpsim.workloads.golden.sgd_momentum on the simulator's gradients")
    return {"gamma": gamma, "chain": N, "worst": max(ratios.values()), "ratios": ratios}


# --------------------------------------------------------------------------------------------
# The record of a simulated event
# --------------------------------------------------------------------------------------------

@dataclass
class EventRecord:
    """What one simulated learning event measured (every count is the guest's, summed over the event's
    programs: one per sample and one for the update).

    ``rows``: one per (layer index, layer kind, step), with the layer's ``name``, ``cycles`` (core 0, from the executor's marks,
    summed over the samples), ``macs`` and ``count`` (how many programs ran it). ``instructions``,
    ``stalls`` (by cause), ``bank_conflicts``, ``dma`` and ``energy_uj`` are totals of all cores over
    the event; ``dma_wait_cycles`` is core 0's time in DMA waits."""

    event: Event | None
    n_new: int
    n_replay: int
    platform: str
    cores: int
    programs: int
    rows: list
    cycles: int
    compute_cycles: int
    dma_wait_cycles: int
    instructions: int
    stalls: dict
    bank_conflicts: int
    dma: dict
    energy_uj: dict
    loss: float
    numerics: dict | None
    host_seconds: float
    l2_bytes: int
    #: per TCDM bank, summed over the programs: ``{"bank", "accesses", "conflicts"}``
    banks: list = field(default_factory=list)
    #: per shared FPU, summed over the programs: ``{"fpu", "ops", "conflicts"}`` (empty with private FPUs)
    fpus: list = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(r["macs"] for r in self.rows)

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["event"] = asdict(self.event) if self.event is not None else None
        d["macs"], d["mac_per_cycle"] = self.macs, self.mac_per_cycle
        return _plain(d)


def _plain(v):
    """JSON-safe copy: numpy scalars to Python numbers, tuple keys to strings."""
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else str(k)): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


class _Totals:
    """Sums of the per-program measurements of one event."""

    def __init__(self):
        self.rows: dict = {}
        self.cycles = self.compute = self.dma_wait = self.instructions = self.conflicts = self.programs = 0
        self.stalls: dict = {}
        self.dma: dict = {}
        self.energy: dict = {}
        self.banks: list = []
        self.fpus: list = []

    def add(self, prog: Program, r, names: dict | None = None) -> None:
        """Add one program's run ``r``; ``names`` maps a layer index to the model layer's name."""
        self.programs += 1
        names = names or {}
        for tag, lay in zip(prog.tags, r.layers):
            row = self.rows.setdefault(tag, {"index": tag[0], "name": names.get(tag[0], ""), "kind": tag[1],
                                             "step": tag[2], "cycles": 0, "macs": 0, "count": 0})
            row["cycles"] += lay.cycles
            row["macs"] += lay.macs
            row["count"] += 1
        self.cycles += r.cycles
        self.compute += r.compute_cycles
        self.dma_wait += r.dma_wait_cycles
        self.conflicts += r.bank_conflicts
        res = r.result
        self.instructions += sum(c.instructions for c in res.cores)
        for c in res.cores:
            for k, v in c.stalls.items():
                self.stalls[k] = self.stalls.get(k, 0) + v
        for k, v in res.dma.items():
            self.dma[k] = self.dma.get(k, 0) + v
        for k, v in res.energy_uj.items():
            self.energy[k] = self.energy.get(k, 0.0) + v
        self.banks = _add_units(self.banks, res.banks, "bank")
        self.fpus = _add_units(self.fpus, res.fpus, "fpu")


def _add_units(total: list, more: list, key: str) -> list:
    """Per-unit counts (banks or FPUs: dicts with ``key`` and counts) of ``total`` plus those of ``more``."""
    if not total:
        return [dict(u) for u in more]
    return [{k: (v if k == key else v + u[k]) for k, v in t.items()} for t, u in zip(total, more)]


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------

class SimBackend(HostBackend):
    """A :class:`~pulpsim.cl.protocol.HostBackend` whose :meth:`train_step` runs the learning events that
    ``mode`` selects on the simulated cluster (``platform``, ``cores``), checks each against the host path
    when ``check`` (raising :class:`NumericsError`), keeps the simulator's weights and appends an
    :class:`EventRecord` to :attr:`records`. Other events, and :meth:`predict`, run on the host.

    ``progress(cycles)`` is called after each simulated program with the cycles simulated so far.
    ``n_experiences`` (if known) lets ``sample:K@E`` always include the last experience.
    """

    name = "sim"

    def __init__(self, platform="vega", mode="all", cores: int = 8, check: bool = True, progress=None,
                 n_experiences: int | None = None):
        self.platform = get_platform(platform)
        self.mode = parse_sim(mode)
        if isinstance(cores, bool) or not isinstance(cores, (int, np.integer)) or not 1 <= cores <= self.platform.cores:
            raise ConfigError(f"onchip: cores must be an integer between 1 and {self.platform.cores}, got {cores!r}")
        self.cores = int(cores)
        self.check = bool(check)
        self.progress = progress
        self.n_experiences = n_experiences
        self.records: list[EventRecord] = []
        self.cycles = 0                      #: cycles simulated so far, every event
        self._seen: dict = {}                #: (method, experience) -> events so far

    def train_step(self, state: AdaptiveState, x, y, lr: float, momentum: float, weight_decay: float,
                   event: Event | None = None) -> float:
        index = None
        if event is not None:
            key = (event.method, event.experience)
            index = self._seen.get(key, 0)
            self._seen[key] = index + 1
        if event is None or not self.mode.selects(event, self.n_experiences, index):
            return super().train_step(state, x, y, lr, momentum, weight_decay, event)
        return self.simulate(state, x, y, lr, momentum, weight_decay, event).loss

    def _platform_for(self, layers, params, x) -> "object":
        """The platform with an L2 that holds the largest program's tensors: the weights, the gradients
        so far, this sample's gradients and the new sums (or the weights, gradients and momentum in and
        out of the update), plus the activations and the schedule. On the chip the weights that do not fit
        its L2 live in the external L3 (the cost model accounts for that traffic)."""
        n = sum(a.size for p in params.values() for a in p.values())
        acts = sum(int(np.prod(l.out_shape)) for l in layers) + x[0].size
        need = 4 * (5 * n + 16 * acts) + (1 << 20)
        size = max(self.platform.l2.size, math.ceil(need / (1 << 20)) << 20)
        return self.platform if size == self.platform.l2.size else self.platform.with_overrides(l2__size=size)

    def _run(self, prog: Program, tensors: dict, plat, totals: _Totals, layers):
        r = tiled.run_sequence(prog.steps, tensors, platform=plat, cores=self.cores)
        totals.add(prog, r, {l.index: l.name for l in layers})
        self.cycles += r.cycles
        if self.progress is not None:
            self.progress(self.cycles)
        return r

    def simulate(self, state: AdaptiveState, x, y, lr: float, momentum: float, weight_decay: float,
                 event: Event | None = None) -> EventRecord:
        """Run one learning event on the cluster and update ``state`` with the simulator's weights."""
        t0 = time.perf_counter()
        layers, params = state.layers, state.params
        x = np.ascontiguousarray(np.asarray(x, np.float32))
        y = np.asarray(y, np.int64)
        B = len(x)
        plat = self._platform_for(layers, params, x)
        totals = _Totals()
        acc = None
        pre = {l.index: [] for l in layers if l.kind in CONV_KINDS}
        logits, losses = [], []
        for s in range(B):
            prog = sample_program(layers, label=int(y[s]), batch=B, first=s == 0)
            r = self._run(prog, sample_tensors(layers, params, x[s], acc), plat, totals, layers)
            out = r.tensors
            acc = {key: out[name] for key, name in prog.outputs["grads"].items()}
            for i, name in prog.outputs["pre"].items():
                pre[i].append(out[name])
            logits.append(out["logits"])
            losses.append(float(out["loss"]))
        upd = update_program(layers, lr, momentum, weight_decay)
        given = {}
        for (i, k), gsum in acc.items():
            given.update({f"{k}{i}": params[i][k], f"grad{i}.{k}": gsum,
                          f"v{i}.{k}": state.velocity.get(i, {}).get(k, np.zeros_like(params[i][k]))})
        out = self._run(upd, given, plat, totals, layers).tensors
        new_p = {i: dict(p) for i, p in params.items()}
        new_v = {i: dict(v) for i, v in state.velocity.items()}
        for (i, k) in acc:
            new_p[i][k] = out[f"new{i}.{k}"].reshape(params[i][k].shape)
            new_v.setdefault(i, {})[k] = out[f"newv{i}.{k}"].reshape(params[i][k].shape)
        numerics = None
        if self.check:
            sim = {"pre": {i: np.stack(v) for i, v in pre.items()}, "logits": np.stack(logits),
                   "grads": {key: a.reshape(params[key[0]][key[1]].shape) for key, a in acc.items()},
                   "params": new_p, "velocity": new_v}
            numerics = check_event(layers, params, state.velocity, x, y, sim, lr, momentum, weight_decay)
        state.params, state.velocity = new_p, new_v
        rec = EventRecord(event=event, n_new=event.n_new if event else B, n_replay=event.n_replay if event else 0,
                          platform=self.platform.name, cores=self.cores, programs=totals.programs,
                          rows=list(totals.rows.values()), cycles=totals.cycles, compute_cycles=totals.compute,
                          dma_wait_cycles=totals.dma_wait, instructions=totals.instructions, stalls=totals.stalls,
                          bank_conflicts=totals.conflicts, dma=totals.dma, energy_uj=totals.energy,
                          loss=float(np.mean(losses)), numerics=numerics,
                          host_seconds=time.perf_counter() - t0, l2_bytes=plat.l2.size, banks=totals.banks,
                          fpus=totals.fpus)
        self.records.append(rec)
        return rec
