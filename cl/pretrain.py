"""Deterministic host pretraining of MobileNet-V1, then int8 quantization of its frozen stage.

The frozen stage never learns on the device, so its weights must come from somewhere: here from
training the whole network on the host (numpy, :mod:`pulpsim.cl.nn`, BatchNorm with batch
statistics) on pretraining images whose categories, objects and backgrounds are disjoint from the
continual-learning ones (:func:`pulpsim.cl.synthetic.pretraining_images`), the role ImageNet
pretraining plays in the Latent Replay / AR1* code. Afterwards BatchNorm is folded and the layers
up to the LR layer are quantized to int8 (:func:`pulpsim.cl.quant.quantize_stage`, calibrated on
pretraining images).

Pretraining takes a minute or two, so its result is cached on disk, in ``cache_dir`` (default
``$PULPSIM_CACHE`` or ``~/.cache/pulpsim``), under a key hashed from every parameter that affects
the weights (:meth:`PretrainConfig.key`), the code version :data:`VERSION` included. The file is
written atomically (a temporary file renamed over the final name); a cache file that cannot be
read is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pulpsim.errors import ConfigError

from . import model, nn, quant
from .scenario import to_nchw
from .synthetic import SyntheticSpec, pretraining_images

#: Bump when anything that changes the pretrained weights for the same configuration changes
#: (the training loop, the initialisation, the data generator): old cache files are then ignored.
VERSION = 2

#: Per-channel normalisation of the input images (ImageNet statistics, as the AR1* code
#: preprocesses CORe50: ``utils.py::preprocess_imgs`` of ar1-pytorch).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainConfig:
    """What the pretrained weights depend on.

    ``data`` is the continual-learning data spec; the pretraining images are its disjoint
    counterpart (``n_categories`` categories of ``objects_per_category`` objects, ``n_sessions``
    sessions each, at ``data``'s resolution and seed). Training: ``epochs`` passes in mini-batches
    of ``batch_size`` with SGD (``lr``, decayed to 0 over the run along a smoothstep, ``momentum``,
    ``weight_decay``), BatchNorm with batch statistics and running statistics of momentum 0.1.
    ``calib_images`` pretraining images (evenly spaced) set the BatchNorm statistics that are
    folded (:func:`recalibrate_batchnorm`) and calibrate the int8 activation scales.
    """

    width: float = 0.25
    data: SyntheticSpec = field(default_factory=SyntheticSpec)
    n_categories: int = 20
    objects_per_category: int = 3
    n_sessions: int = 8
    epochs: int = 2
    batch_size: int = 64
    lr: float = 0.5
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    calib_images: int = 512
    #: Exponent of the channel-range equalization applied when BatchNorm is folded
    #: (:func:`equalize_ranges`): 0 leaves the ranges as trained, 1 equalizes them fully.
    equalize: float = 0.5

    def __post_init__(self):
        if int(self.epochs) < 1 or int(self.batch_size) < 2 or int(self.calib_images) < 1:
            raise ConfigError("pretraining: epochs >= 1, batch_size >= 2 and calib_images >= 1 are required")
        if not (self.lr > 0 and 0 <= self.momentum < 1 and self.weight_decay >= 0):
            raise ConfigError("pretraining: lr > 0, 0 <= momentum < 1 and weight_decay >= 0 are required")
        if not 0.0 <= float(self.equalize) <= 1.0:
            raise ConfigError(f"pretraining: equalize must be in 0..1, got {self.equalize}")
        model.mobilenet_v1(self.width, self.data.resolution, 2)  # validates width and resolution

    @property
    def resolution(self) -> int:
        return int(self.data.resolution)

    def key(self) -> str:
        """Hex digest of every field and :data:`VERSION` (the cache file's name)."""
        text = json.dumps({"version": VERSION, **asdict(self)}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Pretrained:
    """The pretrained network: ``layers`` (MobileNet-V1 with ``n_categories`` outputs), float
    ``params`` with BatchNorm (running statistics), per-epoch mean training ``losses``, the
    training accuracy of the last epoch, and the config it came from."""

    config: PretrainConfig
    layers: tuple
    params: dict
    losses: list
    train_accuracy: float
    seconds: float = 0.0
    _folded: dict | None = field(default=None, init=False, repr=False)

    def folded(self) -> dict:
        """Parameters with BatchNorm folded into weights and biases (inference form), the channel
        ranges equalized by ``config.equalize`` (:func:`equalize_ranges`; the network computes the
        same function). Computed once, then copied."""
        if self._folded is None:
            folded = nn.fold_batchnorm(self.layers, self.params)
            if self.config.equalize:
                folded = equalize_ranges(self.layers, folded, calibration_images(self.config),
                                         self.config.equalize)
            self._folded = folded
        return {i: {k: v.copy() for k, v in p.items()} for i, p in self._folded.items()}

    def frozen_float(self, lr_index: int):
        """``(frozen layers, folded float params)`` of the layers ``0..lr_index``: the FP32 frozen stage."""
        frozen, _ = model.split(self.layers, lr_index)
        folded = self.folded()
        return frozen, {l.index: folded[l.index] for l in frozen if l.index in folded}

    def quantized_stage(self, lr_index: int) -> quant.QuantizedStage:
        """The int8 frozen stage up to ``lr_index``, calibrated on ``config.calib_images``
        evenly spaced pretraining images."""
        frozen, params = self.frozen_float(lr_index)
        return quant.quantize_stage(frozen, params, calibration_images(self.config))

    def adaptive_init(self, lr_index: int, num_classes: int) -> tuple[tuple, dict]:
        """``(adaptive layers, params)`` of a ``num_classes``-way network: the pretrained layers
        after ``lr_index`` with BatchNorm folded (the form the cluster kernels train), and a fresh
        classifier with zero weights (AR1*'s CWR* also starts every class at zero)."""
        layers = model.mobilenet_v1(self.config.width, self.config.resolution, num_classes)
        _, adaptive = model.split(layers, lr_index)
        folded = self.folded()
        params = {l.index: {k: v.copy() for k, v in folded[l.index].items()}
                  for l in adaptive if l.index in folded and l.kind != "fc"}
        fc = adaptive[-1]
        params[fc.index] = {"W": np.zeros(fc.weight_shape, np.float32)}
        return adaptive, params


def pretraining_data(cfg: PretrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(x[N, 3, R, R] float32 normalised, labels[N])`` of the pretraining images."""
    imgs = pretraining_images(cfg.data, n_categories=cfg.n_categories,
                              objects_per_category=cfg.objects_per_category, n_sessions=cfg.n_sessions)
    return to_nchw(imgs.x, MEAN, STD), imgs.category.astype(np.int64)


def calibration_indices(cfg: PretrainConfig, n: int) -> np.ndarray:
    """``calib_images`` evenly spaced indices among ``n`` pretraining images."""
    return np.linspace(0, n - 1, min(cfg.calib_images, n)).round().astype(np.int64)


def calibration_images(cfg: PretrainConfig) -> np.ndarray:
    """``calib_images`` evenly spaced pretraining images (normalised NCHW float32)."""
    x, _ = pretraining_data(cfg)
    return x[calibration_indices(cfg, len(x))]


def recalibrate_batchnorm(layers, params, x, chunk: int = 256) -> dict:
    """Copy of ``params`` whose BatchNorm running mean and variance are the exact statistics of
    ``x`` at every layer, computed layer by layer with the layers below already in inference
    mode. A short training run leaves the exponential running averages far from the final
    network's statistics (after a few steps they still hold the initial 0 and 1), and folding
    those would scale activations wrongly; this pass makes inference match the trained network."""
    out = {i: dict(p) for i, p in params.items()}
    acts = [x[s:s + chunk] for s in range(0, len(x), chunk)]
    for l in layers:
        p = out.get(l.index, {})
        if "gamma" in p:
            z = [nn.linear_forward(l, p["W"], a).astype(np.float64) for a in acts]
            cnt = sum(v.shape[0] * v.shape[2] * v.shape[3] for v in z)
            mean = sum(v.sum(axis=(0, 2, 3)) for v in z) / cnt
            var = sum(((v - mean.reshape(1, -1, 1, 1)) ** 2).sum(axis=(0, 2, 3)) for v in z) / cnt
            p["mean"], p["var"] = mean.astype(p["mean"].dtype), var.astype(p["var"].dtype)
        acts = [nn.layer_forward(l, p, a) for a in acts]
    return out


def channel_ranges(y, percentile: float = 99.99) -> np.ndarray:
    """The ``percentile``-th percentile of each channel of ``y[N, C, H, W]`` over samples and pixels."""
    return np.percentile(y.transpose(1, 0, 2, 3).reshape(y.shape[1], -1), percentile, axis=1)


def equalize_ranges(layers, folded, x, alpha: float = 0.5, percentile: float = 99.99, chunk: int = 256) -> dict:
    """Copy of the folded ``params`` whose convolution outputs have closer ranges on ``x``, the network's
    function unchanged (cross-layer range equalization: Nagel et al., "Data-Free Quantization
    Through Weight Equalization and Bias Correction", ICCV 2019; Meller et al., "Same, Same But
    Different", ICML 2019, equalize activation ranges).

    Layer by layer, channel ``k`` of a convolution's output, whose range on ``x`` is ``r_k`` (the
    ``percentile``-th percentile, as the int8 calibration takes it), is multiplied by
    ``c_k = (max_j r_j / r_k) ** alpha`` (weights and bias), and the next layer's weights of input
    channel ``k`` are divided by ``c_k`` (a depthwise layer's channel ``k``; a pointwise layer's
    column ``k``; after the pool, the classifier's column ``k``). ReLU commutes with a positive
    factor, so the output is the same; channels that are never positive keep ``c_k = 1``.

    Why: one per-tensor activation scale serves every channel of a layer, and after BatchNorm
    folding the channels of this small network differ in range by up to two orders of magnitude,
    so the int8 codes of the narrow channels were mostly 0 to 5. ``alpha = 1`` equalizes fully, but
    then the LR layer's narrow channels become as large as the widest and SGD on the adaptive stage
    diverged in our runs; ``alpha = 0.5`` halves the spread in the log domain."""
    out = {i: {k: v.copy() for k, v in p.items()} for i, p in folded.items()}
    acts = [x[s:s + chunk] for s in range(0, len(x), chunk)]
    for j, l in enumerate(layers):
        if l.kind not in model.CONV_KINDS:
            break
        p = out[l.index]
        ys = [nn.layer_forward(l, p, a) for a in acts]
        r = channel_ranges(np.concatenate(ys), percentile)
        c = np.where(r > 0, (r.max() / np.where(r > 0, r, 1.0)) ** alpha, 1.0).astype(p["W"].dtype)
        p["W"] = p["W"] * c.reshape((-1,) + (1,) * (p["W"].ndim - 1))
        p["b"] = p["b"] * c
        nxt = layers[j + 1] if layers[j + 1].kind != "pool" else layers[j + 2]
        w = out[nxt.index]["W"]
        out[nxt.index]["W"] = w / (c.reshape(-1, 1, 1) if nxt.kind == "dw" else c.reshape(1, -1))
        acts = [y * c.reshape(1, -1, 1, 1) for y in ys]
    return out


def _decayed_lr(base: float, step: int, total: int) -> float:
    """``base * (1 - smoothstep(step / total))``: a cosine-like decay from ``base`` to 0, written
    with + - * only so that it is the same on every CPU (``cos`` of a libm need not be)."""
    t = step / max(total, 1)
    return base * (1.0 - t * t * (3.0 - 2.0 * t))


def train(cfg: PretrainConfig, *, progress=None) -> Pretrained:
    """Pretrain the whole network from the seed (no cache). ``progress(epoch, step, steps, loss)``
    is called after every mini-batch when given."""
    start = time.perf_counter()
    x, y = pretraining_data(cfg)
    layers = model.mobilenet_v1(cfg.width, cfg.resolution, cfg.n_categories)
    root = np.random.SeedSequence([int(cfg.seed) & 0xFFFFFFFF, 0x505245])  # "PRE"
    init_ss, order_ss = root.spawn(2)
    params = nn.init_params(layers, np.random.default_rng(init_ss))
    velocity: dict = {}
    order_rng = np.random.default_rng(order_ss)
    steps = len(x) // cfg.batch_size
    total = steps * cfg.epochs
    losses, correct = [], 0
    for epoch in range(cfg.epochs):
        perm = order_rng.permutation(len(x))
        run_loss, correct = 0.0, 0
        for s in range(steps):
            idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            trace = nn.Trace()
            logits = nn.forward(layers, params, x[idx], batch_stats=True, trace=trace)
            loss, dlogits = nn.softmax_cross_entropy(logits, y[idx])
            grads, _ = nn.backward(layers, params, trace, dlogits)
            params = nn.update_running_stats(params, trace)
            lr = _decayed_lr(cfg.lr, epoch * steps + s, total)
            params, velocity = nn.sgd_step(params, grads, velocity, lr, cfg.momentum, cfg.weight_decay)
            run_loss += loss
            correct += int((logits.reshape(len(idx), -1).argmax(1) == y[idx]).sum())
            if progress is not None:
                progress(epoch, s, steps, loss)
        losses.append(run_loss / steps)
    acc = correct / (steps * cfg.batch_size)
    params = recalibrate_batchnorm(layers, params, x[calibration_indices(cfg, len(x))])
    return Pretrained(cfg, layers, params, losses, acc, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """``$PULPSIM_CACHE``, else ``~/.cache/pulpsim``."""
    env = os.environ.get("PULPSIM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pulpsim"


def cache_path(cfg: PretrainConfig, cache_dir=None) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"cl-pretrain-{cfg.key()}.npz"


def save(pre: Pretrained, path) -> None:
    """Write ``pre`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"key": pre.config.key(), "losses": pre.losses, "train_accuracy": pre.train_accuracy,
            "seconds": pre.seconds}
    arrays = {f"p.{k}": v for k, v in nn.flatten_params(pre.params).items()}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(cfg: PretrainConfig, path) -> Pretrained:
    """Read a cache file written by :func:`save` for ``cfg``; ``ValueError`` if it is unreadable,
    was written for another configuration, or does not fit the network."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            flat = {k[2:]: z[k] for k in z.files if k.startswith("p.")}
    except Exception as e:  # zipfile, OSError, KeyError, JSON: all mean "not a usable cache file"
        raise ValueError(f"unreadable pretraining cache {path}: {type(e).__name__}: {e}") from None
    if meta.get("key") != cfg.key():
        raise ValueError(f"pretraining cache {path} was written for another configuration")
    layers = model.mobilenet_v1(cfg.width, cfg.resolution, cfg.n_categories)
    params = nn.unflatten_params(flat)
    expect = nn.init_params(layers, np.random.default_rng(0))
    for i, p in expect.items():
        for k, v in p.items():
            if i not in params or k not in params[i] or params[i][k].shape != v.shape:
                raise ValueError(f"pretraining cache {path}: layer {i} {k} missing or of the wrong shape")
    return Pretrained(cfg, layers, params, list(meta["losses"]), float(meta["train_accuracy"]),
                      float(meta.get("seconds", 0.0)))


def pretrained(cfg: PretrainConfig = PretrainConfig(), *, cache_dir=None, use_cache: bool = True,
               progress=None) -> Pretrained:
    """The pretrained network for ``cfg``: from the cache when a valid file is there, else trained
    (and cached when ``use_cache``). A cache file that cannot be used is reported with a warning
    and replaced."""
    path = cache_path(cfg, cache_dir)
    if use_cache and path.exists():
        try:
            return load(cfg, path)
        except ValueError as e:
            warnings.warn(f"{e}; pretraining again", RuntimeWarning, stacklevel=2)
    pre = train(cfg, progress=progress)
    if use_cache:
        save(pre, path)
    return pre
