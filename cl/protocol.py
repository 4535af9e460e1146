"""The continual-learning protocol: AR1*-style latent replay, with naive and joint baselines.

Latent Replay (Pellegrini, Graffieti, Lomonaco and Maltoni, IROS 2020, arXiv 1912.01100; official
code ``ar1star_lat_replay.py`` of ar1-pytorch) as Ravaglia et al. (IEEE JETCAS 2021) run it on the
device:

* Experience 0 (several classes) trains the adaptive stage on its own samples, padded to a
  multiple of ``mb_size`` by repeating the first ones, with no replay.
* Experience ``i > 0`` with ``N`` new samples trains in mini-batches of ``cur_sz`` new samples
  and ``n2inject = mb_size - cur_sz`` replayed LRs, concatenated along the batch axis at the LR
  layer, ``it_x_ep`` iterations per epoch (:func:`composition`)::

      cur_sz   = N // ((N + M) // mb_size)
      n2inject = mb_size - cur_sz
      it_x_ep  = N // cur_sz

  so that one epoch sees every new sample and about every stored LR once.
* After each experience the LR memory takes ``h = min(M // (i + 1), N)`` of its LRs, drawn at
  random, over ``h`` random slots (:meth:`pulpsim.cl.replay.LatentReplayMemory.update`).
* SGD with momentum and weight decay; the test accuracy is measured after every experience.

The frozen stage never changes, so the LRs of every training and test image are computed once
(:class:`Latents`): uint8 codes of the int8 frozen stage, or float32 outputs of the float frozen
stage for the FP32 reference. The methods of one run:

========== =======================================================================================
replay     latent replay, int8 frozen stage, LR memory at the configured precision (UINT-Q)
replay-fp32 latent replay, float frozen stage, FP32 LR memory (the full-precision reference)
naive      the same mini-batches without their replayed part (fine-tuning, no memory)
joint      from the initial weights, ``epochs_first`` epochs over every sample seen so far
           (the upper bound), at every ``joint_every``-th experience and at the last
========== =======================================================================================

Every random draw comes from a :class:`numpy.random.SeedSequence` keyed by ``(seed, purpose,
experience)``: the same seed gives the same accuracies and weights bit for bit, the draws do not
depend on which other methods run, and both replay methods see the same order and buffer choices,
so that their difference is the LR precision alone.

The adaptive stage's training step is the method :meth:`HostBackend.train_step` (forward, loss
gradient, backward, SGD update); a backend that runs it elsewhere (the simulated cluster) replaces
it without touching the protocol.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from pulpsim.errors import ConfigError

from . import model, nn
from .memory import FP32, parse_precision, precision_name
from .pretrain import MEAN, STD, Pretrained
from .replay import LatentReplayMemory
from .scenario import Scenario, to_nchw

METHODS = ("replay", "replay-fp32", "naive", "joint")

# Stream tags of the SeedSequence keys (domain separation between purposes).
_SHUFFLE, _REPLAY, _BUFFER, _JOINT = 0x5348, 0x5250, 0x4246, 0x4A54


# --------------------------------------------------------------------------------------------
# Configuration and the published mini-batch arithmetic
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProtocolConfig:
    """Hyper-parameters of a run (defaults: see docs/cl.md, "Protocol", for why each)."""

    lr_index: int = 19
    capacity: int = 500
    precision: object = 8
    mb_size: int = 128
    epochs_first: int = 4
    epochs_inc: int = 4
    lr_first: float = 0.01
    lr_inc: float = 0.003
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    methods: tuple = METHODS
    joint_every: int = 10
    eval_batch: int = 512

    def __post_init__(self):
        object.__setattr__(self, "precision", parse_precision(self.precision))
        for name in ("capacity", "mb_size", "epochs_first", "epochs_inc", "joint_every", "eval_batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"protocol: {name} must be a positive integer, got {v!r}")
        if not (self.lr_first > 0 and self.lr_inc > 0 and 0 <= self.momentum < 1 and self.weight_decay >= 0):
            raise ConfigError("protocol: learning rates > 0, 0 <= momentum < 1, weight_decay >= 0 are required")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"protocol: unknown method(s) {bad}: choose among {', '.join(METHODS)}")


def composition(n_new: int, capacity: int, mb_size: int) -> tuple[int, int, int]:
    """``(cur_sz, n2inject, it_x_ep)`` of an experience after the first (ar1-pytorch
    ``ar1star_lat_replay.py``): ``cur_sz = n_new // ((n_new + capacity) // mb_size)`` new samples and
    ``mb_size - cur_sz`` LRs per mini-batch, ``n_new // cur_sz`` mini-batches per epoch. For
    ``n_new + capacity < mb_size`` (where the published formula divides by zero) every new sample
    fits in one mini-batch; ``cur_sz`` is at least 1 and at most ``mb_size``."""
    if n_new < 1 or capacity < 0 or mb_size < 1:
        raise ValueError(f"composition: n_new={n_new}, capacity={capacity}, mb_size={mb_size}")
    cur_sz = min(mb_size, max(1, n_new // max(1, (n_new + capacity) // mb_size)))
    return cur_sz, mb_size - cur_sz, n_new // cur_sz


def first_batches(n: int, mb_size: int) -> int:
    """Mini-batches per epoch of the first experience: ``n`` padded up to a multiple of ``mb_size``."""
    return -(-n // mb_size)


# --------------------------------------------------------------------------------------------
# The training step and its host backend
# --------------------------------------------------------------------------------------------

@dataclass
class AdaptiveState:
    """The adaptive stage being trained: its layers, parameters and SGD momentum buffers."""

    layers: tuple
    params: dict
    velocity: dict = field(default_factory=dict)

    def copy(self) -> "AdaptiveState":
        return AdaptiveState(self.layers, {i: {k: v.copy() for k, v in p.items()} for i, p in self.params.items()},
                             {i: {k: v.copy() for k, v in p.items()} for i, p in self.velocity.items()})


@dataclass(frozen=True)
class Event:
    """One learning event (one mini-batch step): which method, experience, epoch and iteration,
    and how many of its samples are new and replayed (the mini-batch is ``[n_new + n_replay, C, H, W]``
    at the LR layer)."""

    method: str
    experience: int
    epoch: int
    iteration: int
    n_new: int
    n_replay: int


class HostBackend:
    """The adaptive stage's training step in numpy (:mod:`pulpsim.cl.nn`).

    A learning event is :meth:`train_step`: :meth:`forward` of the concatenated mini-batch
    ``x[B, C, H, W]`` (float32 LRs), :meth:`loss_grad` (mean softmax cross-entropy), :meth:`backward`
    (no input gradient at the first adaptive layer) and :meth:`sgd_update`. Another backend (the
    simulated cluster) overrides these four, or :meth:`train_step` as a whole; :meth:`predict`
    (inference on test LRs) may stay on the host.
    """

    name = "host"

    def forward(self, layers, params, x):
        """``(logits[B, K, 1, 1], trace)``."""
        trace = nn.Trace()
        return nn.forward(layers, params, x, trace=trace), trace

    def loss_grad(self, logits, labels):
        """``(mean loss, dlogits)``."""
        return nn.softmax_cross_entropy(logits, labels)

    def backward(self, layers, params, trace, dlogits) -> dict:
        """Gradients of every adaptive parameter."""
        grads, _ = nn.backward(layers, params, trace, dlogits)
        return grads

    def sgd_update(self, params, grads, velocity, lr, momentum, weight_decay):
        """``(params, velocity)`` after one SGD step."""
        return nn.sgd_step(params, grads, velocity, lr, momentum, weight_decay)

    def train_step(self, state: AdaptiveState, x, y, lr: float, momentum: float, weight_decay: float,
                   event: Event | None = None) -> float:
        """One learning event on ``state`` (updated in place); returns the mini-batch's loss."""
        logits, trace = self.forward(state.layers, state.params, x)
        loss, dlogits = self.loss_grad(logits, y)
        grads = self.backward(state.layers, state.params, trace, dlogits)
        state.params, state.velocity = self.sgd_update(state.params, grads, state.velocity, lr, momentum,
                                                       weight_decay)
        return loss

    def predict(self, state: AdaptiveState, x, batch: int = 512) -> np.ndarray:
        """Predicted labels of LRs ``x[N, C, H, W]``."""
        out = [nn.forward(state.layers, state.params, x[s:s + batch]).reshape(len(x[s:s + batch]), -1)
               for s in range(0, len(x), batch)]
        return np.concatenate(out).argmax(axis=1)


# --------------------------------------------------------------------------------------------
# Latent representations of the data
# --------------------------------------------------------------------------------------------

@dataclass
class Latents:
    """LRs of a scenario's training and test images through one frozen stage.

    ``kind`` is ``"uint8"`` (``train``/``test`` hold the int8 stage's uint8 codes, real value
    ``code * scale``) or ``"fp32"`` (float32 outputs of the float frozen stage; ``scale`` is the int8
    stage's, used only if a UINT memory were fed with them)."""

    kind: str
    train: np.ndarray
    test: np.ndarray
    scale: float

    def floats(self, which: str, idx=None) -> np.ndarray:
        """float32 LRs of ``train`` or ``test`` (rows ``idx``, all by default)."""
        a = getattr(self, which)
        a = a if idx is None else a[idx]
        return a.astype(np.float32) * np.float32(self.scale) if self.kind == "uint8" else a


def _batched(fn, x, batch: int = 256):
    return np.concatenate([fn(x[s:s + batch]) for s in range(0, len(x), batch)])


def compute_latents(pre: Pretrained, scen: Scenario, lr_index: int, kinds=("uint8", "fp32")) -> dict:
    """``{kind: Latents}`` of every training and test image of ``scen`` (images normalised as in
    pretraining): ``"uint8"`` through the int8 frozen stage, ``"fp32"`` through the float one."""
    stage = pre.quantized_stage(lr_index)
    frozen, fparams = pre.frozen_float(lr_index)
    out = {}
    for kind in kinds:
        if kind == "uint8":
            fn = stage
        else:
            def fn(xb):
                return nn.forward(frozen, fparams, xb)
        out[kind] = Latents(kind, *(_batched(lambda b: fn(to_nchw(b, MEAN, STD)), a)
                                    for a in (scen.x_train, scen.x_test)), float(stage.lr_scale))
    return out


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

@dataclass
class MethodResult:
    """Accuracy after every experience (None where the method was not evaluated), the mean loss of
    each experience, the learning events, the wall time and the final adaptive state."""

    name: str
    accuracy: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    events: list = field(default_factory=list)
    seconds: float = 0.0
    state: AdaptiveState | None = None
    #: Per experience, how many memory slots hold LRs of each earlier experience (replay methods).
    buffer: list = field(default_factory=list)
    #: The LR memory at the end and, per slot, the experience its LR came from (replay methods).
    memory: LatentReplayMemory | None = None
    origin: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "loss": self.loss, "seconds": self.seconds,
                "events": [asdict(e) for e in self.events],
                "buffer": [{str(k): v for k, v in b.items()} for b in self.buffer]}


@dataclass
class ProtocolResult:
    """Everything a run measured: per method a :class:`MethodResult`, plus the sizes that the cost
    model needs (LR shape, experience sizes, mini-batch size)."""

    config: ProtocolConfig
    lr_shape: tuple
    n_classes: int
    experience_sizes: list
    methods: dict

    def final_accuracy(self, method: str) -> float:
        return [a for a in self.methods[method].accuracy if a is not None][-1]

    def to_dict(self) -> dict:
        cfg = asdict(self.config)
        cfg["precision"] = precision_name(self.config.precision)
        return {"config": cfg, "lr_shape": list(self.lr_shape), "n_classes": self.n_classes,
                "experience_sizes": self.experience_sizes,
                "methods": {k: m.to_dict() for k, m in self.methods.items()}}


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------

def _rng(seed: int, purpose: int, experience: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, purpose, experience]))


def _accuracy(backend, state, lat: Latents, y_test, batch) -> float:
    return float(np.mean(backend.predict(state, lat.floats("test"), batch) == y_test))


def _train_experience(backend, state, cfg, name, i, new_x, new_y, memory, events) -> float:
    """Train ``state`` on experience ``i``: ``new_x`` float LRs of its samples (in presentation
    order), mixed with replays from ``memory`` (None: no replay). Returns the mean loss."""
    n = len(new_x)
    shuffle = _rng(cfg.seed, _SHUFFLE, i)
    if i == 0:   # padded to whole mini-batches by repeating the first samples, then shuffled
        order = shuffle.permutation(np.arange(first_batches(n, cfg.mb_size) * cfg.mb_size) % n)
        cur_sz, n2inject, iters = cfg.mb_size, 0, len(order) // cfg.mb_size
        epochs, lr = cfg.epochs_first, cfg.lr_first
    else:
        order = shuffle.permutation(n)
        cur_sz, n2inject, iters = composition(n, cfg.capacity, cfg.mb_size)
        epochs, lr = cfg.epochs_inc, cfg.lr_inc
    if memory is None or len(memory) == 0:
        n2inject = 0
    replay_rng = _rng(cfg.seed, _REPLAY, i)
    losses = []
    for ep in range(epochs):
        slots = replay_rng.permutation(len(memory)) if n2inject else None
        for it in range(iters):
            idx = order[it * cur_sz:(it + 1) * cur_sz]
            x, y = new_x[idx], new_y[idx]
            if n2inject:
                take = slots[np.arange(it * n2inject, (it + 1) * n2inject) % len(slots)]
                rx, ry = memory.get(take)
                x, y = np.concatenate([x, rx]), np.concatenate([y, ry])
            ev = Event(name, i, ep, it, len(idx), len(x) - len(idx))
            losses.append(backend.train_step(state, x, y, lr, cfg.momentum, cfg.weight_decay, ev))
            events.append(ev)
    return float(np.mean(losses))


def _train_joint(backend, init, cfg, i, lat, scen, events) -> tuple[AdaptiveState, float]:
    """Joint training at experience ``i``: from ``init``, ``epochs_first`` epochs over every sample
    of experiences ``0..i`` in shuffled mini-batches of ``mb_size`` (the last one may be smaller)."""
    state = init.copy()
    seen = scen.seen(i)
    rng = _rng(cfg.seed, _JOINT, i)
    losses = []
    for ep in range(cfg.epochs_first):
        order = seen[rng.permutation(len(seen))]
        for it, s in enumerate(range(0, len(order), cfg.mb_size)):
            idx = order[s:s + cfg.mb_size]
            ev = Event("joint", i, ep, it, len(idx), 0)
            losses.append(backend.train_step(state, lat.floats("train", idx), scen.y_train[idx], cfg.lr_first,
                                             cfg.momentum, cfg.weight_decay, ev))
            events.append(ev)
    return state, float(np.mean(losses))


def _buffer_census(origin: np.ndarray, size: int) -> dict:
    """``{experience: slots}`` of the filled memory slots."""
    exps, counts = np.unique(origin[:size], return_counts=True)
    return {int(e): int(c) for e, c in zip(exps, counts)}


def run_method(name: str, cfg: ProtocolConfig, scen: Scenario, lat: Latents, init: AdaptiveState,
               backend=None, progress=None, *, resume: MethodResult | None = None,
               on_experience=None) -> MethodResult:
    """Run one method over every experience of ``scen`` from the initial adaptive state ``init``
    with the LRs ``lat``; ``progress(name, experience, n_experiences)`` after each experience.

    The returned :class:`MethodResult` is also the method's whole loop state: after each experience
    its ``state``, ``memory`` and ``origin`` are current, ``on_experience(result)`` (a checkpoint)
    sees it before ``progress`` does, and ``resume`` continues from such a result after its last
    experience (nothing else carries over: every draw is keyed by its experience)."""
    backend = backend or HostBackend()
    res = resume if resume is not None else MethodResult(name)
    start = time.perf_counter() - res.seconds
    n_exp = scen.n_experiences
    last_joint = None
    if resume is not None:
        state, memory, origin = res.state, res.memory, res.origin
    else:
        state = init.copy()
        memory = origin = None
        if name in ("replay", "replay-fp32"):
            precision = FP32 if name == "replay-fp32" else cfg.precision
            memory = LatentReplayMemory(cfg.capacity, lat.train.shape[1:], precision, lat.scale, scen.n_classes)
            origin = np.full(cfg.capacity, -1, np.int64)   # which experience each slot's LR came from
    for i in range(len(res.accuracy), n_exp):
        if name == "joint":
            if i % cfg.joint_every == 0 or i == n_exp - 1:
                state, loss = _train_joint(backend, init, cfg, i, lat, scen, res.events)
                last_joint = i
            else:
                loss = None
        else:
            idx = scen.experiences[i]
            loss = _train_experience(backend, state, cfg, name, i, lat.floats("train", idx), scen.y_train[idx],
                                     memory, res.events)
        if memory is not None:   # the LRs of the experience (those of its epoch 0: the stage is frozen)
            idx = scen.experiences[i]
            slots = memory.update(lat.train[idx], scen.y_train[idx], i, _rng(cfg.seed, _BUFFER, i))
            origin[slots] = i
            res.buffer.append(_buffer_census(origin, len(memory)))
        res.loss.append(loss)
        evaluate = name != "joint" or last_joint == i
        res.accuracy.append(_accuracy(backend, state, lat, scen.y_test, cfg.eval_batch) if evaluate else None)
        res.state, res.memory, res.origin = state, memory, origin
        res.seconds = time.perf_counter() - start
        if on_experience is not None:
            on_experience(res)
        if progress is not None:
            progress(name, i, n_exp)
    return res


def initial_state(pre: Pretrained, lr_index: int, n_classes: int) -> AdaptiveState:
    """The adaptive stage before experience 0: pretrained layers after ``lr_index`` (BatchNorm
    folded) and a zero classifier of ``n_classes`` outputs."""
    layers, params = pre.adaptive_init(lr_index, n_classes)
    return AdaptiveState(layers, params)


def run(cfg: ProtocolConfig, scen: Scenario, pre: Pretrained, *, latents: dict | None = None, backend=None,
        progress=None, resume: dict | None = None, on_experience=None) -> ProtocolResult:
    """Every method of ``cfg.methods`` on ``scen`` with the pretrained network ``pre``.

    ``latents`` (from :func:`compute_latents`) may be passed to share them between runs; the
    FP32 LRs are computed only when ``replay-fp32`` is asked for, and the uint8 ones always (the
    other methods use them), unless the configured precision is FP32: then ``replay`` uses the float
    frozen stage and FP32 memory, and ``replay-fp32`` is the same run and is left out.

    ``resume`` maps method names to the :class:`MethodResult` they reached (complete or after some
    experience, as a checkpoint saved them); those methods continue from there (:func:`run_method`,
    which also says what ``on_experience`` receives)."""
    layers = model.mobilenet_v1(pre.config.width, pre.config.resolution, scen.n_classes)
    model.check_lr_layer(layers, cfg.lr_index)
    methods = [m for m in cfg.methods if not (m == "replay-fp32" and cfg.precision == FP32 and "replay" in cfg.methods)]
    kinds = {"uint8"} | ({"fp32"} if "replay-fp32" in methods or cfg.precision == FP32 else set())
    if latents is None:
        latents = compute_latents(pre, scen, cfg.lr_index, tuple(sorted(kinds)))
    init = initial_state(pre, cfg.lr_index, scen.n_classes)
    resume = resume or {}
    results = {}
    for m in methods:
        use_fp32 = m == "replay-fp32" or (m == "replay" and cfg.precision == FP32)
        results[m] = run_method(m, cfg, scen, latents["fp32" if use_fp32 else "uint8"], init, backend, progress,
                                resume=resume.get(m), on_experience=on_experience)
    return ProtocolResult(cfg, layers[cfg.lr_index].out_shape, scen.n_classes,
                          [len(e) for e in scen.experiences], results)
