"""Numpy forward and backward passes of a :mod:`pulpsim.cl.model` layer list, on mini-batches.

The arithmetic of every layer is that of :mod:`pulpsim.workloads.golden` (the references the cluster's
training kernels are checked against); this module only lays a batch out so that the
single-sample references apply to it:

* pointwise and fc layers treat the batch as extra pixels (a 1x1 convolution does not care
  which pixel belongs to which sample): ``x[N, C, H, W]`` is viewed as ``[C, N*H, W]``;
* depthwise layers treat the batch as extra channels: ``[N*C, H, W]``;
* the 3x3 convolution (layer 0 only) loops over the samples.

Each conv/dw/pw layer is followed either by BatchNorm (parameters ``gamma, beta, mean, var``,
used to pretrain the frozen stage) or by a bias ``b`` (BatchNorm folded, see
:func:`fold_batchnorm`; the form the adaptive stage trains in, as the cluster kernels do), then
ReLU.  The pool is a global average; fc has a weight ``W`` and an optional bias ``b`` and no ReLU.

Parameters are ``dict[int, dict[str, ndarray]]`` keyed by layer index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pulpsim.workloads import golden as g
from pulpsim.cl.model import CONV_KINDS, Layer

BN_EPS = 1e-5  # PyTorch BatchNorm2d default
BN_KEYS = ("gamma", "beta", "mean", "var")


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

def init_params(layers, rng: np.random.Generator, *, batchnorm: bool = True, dtype=np.float32) -> dict:
    """He-normal weights (fan-in, ReLU gain) for every layer with weights; BatchNorm at identity
    (gamma 1, beta 0, mean 0, var 1) or, with ``batchnorm=False``, zero biases; fc without bias."""
    params = {}
    for l in layers:
        if l.kind == "pool":
            continue
        fan_in = int(np.prod(l.weight_shape[1:]))
        p = {"W": (rng.standard_normal(l.weight_shape) * np.sqrt(2.0 / fan_in)).astype(dtype)}
        if l.kind in CONV_KINDS:
            k = l.out_shape[0]
            if batchnorm:
                p.update(gamma=np.ones(k, dtype), beta=np.zeros(k, dtype),
                         mean=np.zeros(k, dtype), var=np.ones(k, dtype))
            else:
                p["b"] = np.zeros(k, dtype)
        params[l.index] = p
    return params


def fold_batchnorm(layers, params, eps: float = BN_EPS) -> dict:
    """Copy of ``params`` with every BatchNorm folded into its convolution's weights and a bias:
    ``W' = W * gamma / sqrt(var + eps)`` per output channel, ``b' = beta - mean * gamma / sqrt(var + eps)``
    (inference-mode BN, so ``conv(x, W') + b' == BN(conv(x, W))``)."""
    out = {}
    for l in layers:
        if l.index not in params:
            continue
        p = params[l.index]
        if l.kind in CONV_KINDS and "gamma" in p:
            scale = p["gamma"] / np.sqrt(p["var"] + p["var"].dtype.type(eps))
            shape = (-1,) + (1,) * (p["W"].ndim - 1)
            out[l.index] = {"W": p["W"] * scale.reshape(shape), "b": p["beta"] - p["mean"] * scale}
        else:
            out[l.index] = {k: v.copy() for k, v in p.items()}
    return out


def flatten_params(params) -> dict:
    """``{"<index>.<key>": ndarray}``: a flat copy of a parameter (or gradient, or velocity) dict,
    for ``numpy.savez``."""
    return {f"{i}.{k}": np.array(v) for i, p in params.items() for k, v in p.items()}


def unflatten_params(flat) -> dict:
    """Inverse of :func:`flatten_params`."""
    out: dict = {}
    for name in flat:
        i, k = name.split(".", 1)
        out.setdefault(int(i), {})[k] = np.array(flat[name])
    return out


# --------------------------------------------------------------------------------------------
# Batch layouts for the single-sample references
# --------------------------------------------------------------------------------------------

def _as_pixels(x):
    """``[N, C, H, W]`` -> ``[C, N*H, W]``: the batch as extra pixels (pointwise layout)."""
    n, c, h, w = x.shape
    return x.transpose(1, 0, 2, 3).reshape(c, n * h, w)


def _from_pixels(y, n):
    """Inverse of :func:`_as_pixels`."""
    c, nh, w = y.shape
    return y.reshape(c, n, nh // n, w).transpose(1, 0, 2, 3)


def _as_channels(x):
    """``[N, C, H, W]`` -> ``[N*C, H, W]``: the batch as extra channels (depthwise layout)."""
    n, c, h, w = x.shape
    return x.reshape(n * c, h, w)


# --------------------------------------------------------------------------------------------
# Linear part of each layer (no BN / bias / ReLU)
# --------------------------------------------------------------------------------------------

def linear_forward(layer: Layer, W, x):
    """Convolution / pooling / matrix product of ``layer`` on a batch ``x[N, C, H, W]``."""
    n = x.shape[0]
    if layer.kind == "conv":
        return np.stack([g.conv2d_fw(xi, W, layer.stride) for xi in x])
    if layer.kind == "dw":
        y = g.depthwise_fw(_as_channels(x), np.tile(W, (n, 1, 1)), layer.stride)
        return y.reshape(n, -1, *y.shape[1:])
    if layer.kind in ("pw", "fc"):
        return _from_pixels(g.pointwise_fw(_as_pixels(x), W), n)
    y = g.avgpool_fw(_as_channels(x))  # global average pool
    return y.reshape(n, -1, 1, 1)


def linear_backward(layer: Layer, W, x, dy, *, need_dx: bool = True):
    """``(dx, dW)`` of :func:`linear_forward` for upstream gradient ``dy``; ``dx`` is None when
    not needed, ``dW`` None for the pool.  Weight gradients are summed over the batch."""
    n = x.shape[0]
    in_hw = x.shape[2:]
    if layer.kind == "conv":
        dW = sum(g.conv2d_wg(xi, dyi, layer.stride) for xi, dyi in zip(x, dy))
        dx = np.stack([g.conv2d_ig(W, dyi, layer.stride, in_hw) for dyi in dy]) if need_dx else None
        return dx, dW
    if layer.kind == "dw":
        dW = g.depthwise_wg(_as_channels(x), _as_channels(dy), layer.stride)
        dW = dW.reshape(n, *W.shape).sum(axis=0)
        dx = None
        if need_dx:
            dx = g.depthwise_ig(np.tile(W, (n, 1, 1)), _as_channels(dy), layer.stride, in_hw).reshape(x.shape)
        return dx, dW
    if layer.kind in ("pw", "fc"):
        dW = g.pointwise_wg(_as_pixels(x), _as_pixels(dy))
        dx = _from_pixels(g.pointwise_ig(W, _as_pixels(dy)), n) if need_dx else None
        return dx, dW
    dx = g.avgpool_bw(_as_channels(dy), _as_channels(x).shape).reshape(x.shape) if need_dx else None
    return dx, None


# --------------------------------------------------------------------------------------------
# BatchNorm
# --------------------------------------------------------------------------------------------

def _chan(v):
    return v.reshape(1, -1, 1, 1)


def bn_forward(z, p, *, batch_stats: bool, eps: float = BN_EPS):
    """BatchNorm of ``z[N, K, H, W]``; returns ``(y, ctx)``.  With ``batch_stats`` the batch's own
    mean and biased variance normalise it (training), else the running ``mean``/``var``."""
    t = z.dtype.type
    if batch_stats:
        mean = z.mean(axis=(0, 2, 3))
        var = z.var(axis=(0, 2, 3))
    else:
        mean, var = p["mean"].astype(z.dtype), p["var"].astype(z.dtype)
    inv = t(1) / np.sqrt(var + t(eps))
    xhat = (z - _chan(mean)) * _chan(inv)
    y = xhat * _chan(p["gamma"]) + _chan(p["beta"])
    return y, {"xhat": xhat, "inv": inv, "mean": mean, "var": var, "batch_stats": batch_stats}


def bn_backward(dy, p, ctx):
    """``(dz, dgamma, dbeta)`` of :func:`bn_forward`."""
    xhat, inv = ctx["xhat"], ctx["inv"]
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (dy * xhat).sum(axis=(0, 2, 3))
    if not ctx["batch_stats"]:
        return dy * _chan(p["gamma"] * inv), dgamma, dbeta
    m = dy.dtype.type(dy.shape[0] * dy.shape[2] * dy.shape[3])
    dz = _chan(p["gamma"] * inv / m) * (m * dy - _chan(dbeta) - xhat * _chan(dgamma))
    return dz, dgamma, dbeta


# --------------------------------------------------------------------------------------------
# Whole network
# --------------------------------------------------------------------------------------------

@dataclass
class Trace:
    """What :func:`forward` keeps for :func:`backward`: each layer's input, pre-ReLU output and
    BatchNorm context, keyed by layer index."""

    inputs: dict = field(default_factory=dict)
    pre_relu: dict = field(default_factory=dict)
    bn: dict = field(default_factory=dict)


def layer_forward(layer: Layer, p: dict, x, *, batch_stats: bool = False, trace: Trace | None = None):
    """One layer on a batch: linear part, then BN or bias, then ReLU (conv kinds); fc adds its bias."""
    z = linear_forward(layer, p.get("W"), x)
    if trace is not None:
        trace.inputs[layer.index] = x
    if layer.kind in CONV_KINDS:
        if "gamma" in p:
            z, ctx = bn_forward(z, p, batch_stats=batch_stats)
            if trace is not None:
                trace.bn[layer.index] = ctx
        elif "b" in p:
            z = z + _chan(p["b"].astype(z.dtype))
        if trace is not None:
            trace.pre_relu[layer.index] = z
        return g.relu_fw(z)
    if layer.kind == "fc" and "b" in p:
        z = z + _chan(p["b"].astype(z.dtype))
    return z


def forward(layers, params, x, *, batch_stats: bool = False, trace: Trace | None = None):
    """Run ``x[N, C, H, W]`` through ``layers`` (any contiguous slice of the network).

    ``batch_stats`` normalises with batch statistics (BN training mode); ``trace`` collects what
    :func:`backward` needs.  The fc output is returned as logits ``[N, K, 1, 1]``.
    """
    for l in layers:
        x = layer_forward(l, params.get(l.index, {}), x, batch_stats=batch_stats, trace=trace)
    return x


def backward(layers, params, trace: Trace, dy, *, need_dx: bool = False):
    """Gradients of every parameter of ``layers`` given ``dy`` at the output of the last one.

    Returns ``(grads, dx)`` where ``grads[index]`` has the same keys as ``params[index]`` (the
    running BN statistics excepted) and ``dx`` is the gradient at the first layer's input (None
    unless ``need_dx``: the first layer of a stage skips its input gradient, as on the device).
    """
    grads = {}
    for pos in range(len(layers) - 1, -1, -1):
        l = layers[pos]
        p = params.get(l.index, {})
        gl = {}
        if l.kind in CONV_KINDS:
            dy = g.relu_bw(trace.pre_relu[l.index], dy)
            if "gamma" in p:
                dy, gl["gamma"], gl["beta"] = bn_backward(dy, p, trace.bn[l.index])
            elif "b" in p:
                gl["b"] = dy.sum(axis=(0, 2, 3))
        elif l.kind == "fc" and "b" in p:
            gl["b"] = dy.sum(axis=(0, 2, 3))
        dx, dW = linear_backward(l, p.get("W"), trace.inputs[l.index], dy, need_dx=need_dx or pos > 0)
        if dW is not None:
            gl["W"] = dW
        if gl:
            grads[l.index] = gl
        dy = dx
    return grads, dy


def update_running_stats(params, trace: Trace, momentum: float = 0.1) -> dict:
    """Copy of ``params`` whose BN running statistics moved toward the batch statistics of ``trace``
    (PyTorch convention: ``r = (1 - momentum) r + momentum * batch``, the variance unbiased)."""
    out = {i: dict(p) for i, p in params.items()}
    for i, ctx in trace.bn.items():
        if not ctx["batch_stats"]:
            continue
        xhat = ctx["xhat"]
        m = xhat.size // xhat.shape[1]  # values per channel in the batch
        unbiased = ctx["var"] * (m / max(m - 1, 1))
        p = out[i]
        p["mean"] = ((1 - momentum) * p["mean"] + momentum * ctx["mean"]).astype(p["mean"].dtype)
        p["var"] = ((1 - momentum) * p["var"] + momentum * unbiased).astype(p["var"].dtype)
    return out


# --------------------------------------------------------------------------------------------
# Loss and optimizer
# --------------------------------------------------------------------------------------------

def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of ``logits[N, K(, 1, 1)]`` against integer ``labels[N]`` and its
    gradient with respect to the logits (same shape as ``logits``): ``(softmax - onehot) / N``."""
    z = logits.reshape(logits.shape[0], -1)
    labels = np.asarray(labels, dtype=np.int64)
    n = z.shape[0]
    zs = z - z.max(axis=1, keepdims=True)
    loss = float(np.mean(np.log(np.exp(zs).sum(axis=1)) - zs[np.arange(n), labels]))
    dz = g.softmax(z).copy()
    dz[np.arange(n), labels] -= dz.dtype.type(1)
    return loss, (dz / dz.dtype.type(n)).reshape(logits.shape)


def sgd_step(params, grads, velocity, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    """One SGD step (:func:`pulpsim.workloads.golden.sgd_momentum`: PyTorch convention, weight decay on every
    trained tensor) on every tensor that has a gradient.  Returns new ``(params, velocity)``;
    tensors without a gradient (running BN statistics, frozen layers) are carried over."""
    new_p = {i: dict(p) for i, p in params.items()}
    new_v = {i: dict(v) for i, v in velocity.items()}
    for i, gl in grads.items():
        for k, gr in gl.items():
            v = new_v.setdefault(i, {}).get(k)
            if v is None:
                v = np.zeros_like(params[i][k])
            new_p[i][k], new_v[i][k] = g.sgd_momentum(params[i][k], gr, v, lr, momentum, weight_decay)
    return new_p, new_v
