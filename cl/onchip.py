"""The adaptive stage's learning events on the simulated cluster (``SimBackend``).

A learning event is one mini-batch of ``B`` samples at the LR layer. The device flow of PULP-TrainLib
is batch-size-1 streaming, so the cluster runs it sample by sample, with every tensor in L2 and tiled
to L1 with the DMA by :func:`pulpsim.tiled.run_sequence`:

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

import re
from dataclasses import dataclass, field

import numpy as np

from pulpsim import tiled
from pulpsim.errors import ConfigError, GuestError

from .model import CONV_KINDS
from .protocol import Event

__all__ = ["SimMode", "parse_sim", "NumericsError", "Program", "sample_program", "sample_tensors",
           "update_program"]

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
    s = str(text).strip().lower()
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


def _grad_keys(layer) -> tuple:
    return ("W", "b") if layer.kind in CONV_KINDS else (("W",) if layer.kind == "fc" else ())


def sample_program(layers, *, label: int, batch: int, first: bool) -> Program:
    """The steps of one training sample through ``layers`` (an adaptive stage: conv/dw/pw layers with
    a bias and ReLU, a global pool, an fc without bias) on the cluster.

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
            if pos > 0:
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
            if pos > 0:
                if l.kind == "dw":
                    params = {**params, "in_hw": tuple(l.in_shape[1:])}
                prog.add((i, l.kind, "ig"), name, "ig", {"W": f"W{i}", "dy": f"dz{i}"}, {"dx": f"d{x}"}, **params)
        dy = f"d{x}"
    prog.outputs = {"grads": {(l.index, k): f"grad{l.index}.{k}" for l in layers for k in _grad_keys(l)},
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
        prog.add((i, l.kind, f"accumulate {key}"), "accumulate", "step", {"acc": f"acc{i}.{key}", "g": out},
                 {"acc": f"grad{i}.{key}"})


def sample_tensors(layers, params: dict, x, acc: dict | None = None) -> dict:
    """The given tensors of :func:`sample_program`: the sample ``x[C, H, W]``, the parameters and the
    gradients accumulated so far (``acc``: ``{(index, key): array}``, None for the first sample)."""
    t = {"x": np.asarray(x, np.float32)}
    for l in layers:
        for k in _grad_keys(l):
            t[f"{k}{l.index}"] = params[l.index][k]
            if acc is not None:
                t[f"acc{l.index}.{k}"] = acc[(l.index, k)]
    return t


def update_program(layers, lr: float, momentum: float, weight_decay: float) -> Program:
    """One SGD step per parameter tensor: given ``W<i>``/``b<i>``, ``grad<i>.<key>`` and ``v<i>.<key>``;
    produces ``new<i>.<key>`` and ``newv<i>.<key>``."""
    prog = Program()
    for l in layers:
        for k in _grad_keys(l):
            i = l.index
            prog.add((i, l.kind, f"sgd {k}"), "sgd", "step", {"w": f"{k}{i}", "g": f"grad{i}.{k}", "v": f"v{i}.{k}"},
                     {"w": f"new{i}.{k}", "v": f"newv{i}.{k}"}, lr=float(lr), momentum=float(momentum),
                     weight_decay=float(weight_decay))
    return prog
