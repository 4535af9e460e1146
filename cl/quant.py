"""Post-training int8 quantization of the frozen stage, with a bit-exact integer reference.

Conventions (all zero points are 0, so every tensor is ``real = scale * code``):

* **Weights**: BatchNorm folded first (:func:`pulpsim.cl.nn.fold_batchnorm`), then symmetric
  int8 per output channel (per channel for depthwise): ``s_w[k] = max|W'[k]| / 127``,
  ``w[k] = rint(W'[k] / s_w[k])`` in [-127, 127].
* **Bias**: int32, ``b[k] = rint(b'[k] / (s_w[k] * s_x))`` (the accumulator's scale).
* **Activations**: one scale per tensor, calibrated on data through the float network: the
  ``percentile``-th percentile of the tensor's values over the calibration set (of ``|x|`` for the
  signed network input), divided by 255 for the ReLU outputs (uint8 codes 0..255) or 127 for the
  input (int8 codes -127..127).  ``percentile=100`` is the plain maximum.
* **Requantization** of an int32 accumulator to the next layer's codes, per output channel, with
  the real multiplier ``M = s_w * s_x / s_y`` written as ``m * 2**-n`` (``m`` an integer in
  [2**30, 2**31), ``n`` in [1, 62]) and *single rounding*, round half up::

      y = clamp((acc * m + 2**(n-1)) >> n, 0, 255)        # 64-bit product, arithmetic shift

  This is the single-rounding requantization of TensorFlow Lite (``TFLITE_SINGLE_ROUNDING``) and
  CMSIS-NN (``CMSIS_NN_USE_SINGLE_ROUNDING``, ``arm_nn_requantize``): on RV32IM it is a ``mul`` and
  a ``mulh`` for the 64-bit product, a 64-bit add and shift.  The clamp at 0 is the ReLU.
* **Average pool**: the int32 sum of the window's uint8 codes, requantized with
  ``M = s_x / (H * W * s_y)``.

Integer convolutions are computed with the float64 references of :mod:`pulpsim.workloads.golden` on
integer-valued arrays: every product and partial sum is an integer below 2**53, so float64 holds
them exactly whatever the summation order, and the result is the exact integer accumulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pulpsim.cl import nn
from pulpsim.cl.model import CONV_KINDS, Layer

INT8_MAX = 127
UINT8_MAX = 255
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
DEFAULT_PERCENTILE = 99.99


# --------------------------------------------------------------------------------------------
# Fixed-point requantization
# --------------------------------------------------------------------------------------------

def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(m, n)`` with ``m * 2**-n`` the nearest such value to ``real`` > 0, ``2**30 <= m < 2**31``
    and ``1 <= n <= 62`` (relative error at most 2**-31).  Multipliers below 2**-32, too small for
    ``n <= 62`` with a normalised ``m``, keep ``n = 62`` and a smaller ``m = rint(real * 2**62)``."""
    if not (math.isfinite(real) and real > 0):
        raise ValueError(f"requantization multiplier must be finite and > 0, got {real!r}")
    frac, exp = math.frexp(real)           # real = frac * 2**exp, 0.5 <= frac < 1
    m = round(frac * (1 << 31))            # exact product in float64, then nearest integer
    if m == 1 << 31:
        m, exp = 1 << 30, exp + 1
    n = 31 - exp
    if n < 1:
        raise ValueError(f"requantization multiplier {real!r} is too large (>= 2**30)")
    if n > 62:
        m, n = round(real * 2.0 ** 62), 62
    return int(m), int(n)


def requantize(acc, m, n, lo: int = 0, hi: int = UINT8_MAX) -> np.ndarray:
    """``clamp((acc * m + 2**(n-1)) >> n, lo, hi)`` in 64-bit integers (see the module docstring).

    ``acc`` must fit int32; ``m`` and ``n`` are scalars or arrays broadcast against ``acc``.
    Returns int64.
    """
    acc = np.asarray(acc, dtype=np.int64)
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise OverflowError("accumulator outside int32")
    m = np.asarray(m, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    y = (acc * m + (np.int64(1) << (n - 1))) >> n
    return np.clip(y, lo, hi)


# --------------------------------------------------------------------------------------------
# Quantized layers and stage
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QLayer:
    """One integer layer: int8 weights ``w`` (None for the pool), int32 ``bias`` (None for the
    pool), per-channel weight scales ``w_scale``, the input and output activation scales and the
    per-channel requantization ``multiplier``/``shift`` (int64 arrays of the output channels)."""

    layer: Layer
    w: np.ndarray | None
    bias: np.ndarray | None
    w_scale: np.ndarray | None
    in_scale: float
    out_scale: float
    multiplier: np.ndarray
    shift: np.ndarray

    def accumulate(self, x) -> np.ndarray:
        """The exact int32 accumulator (int64 array) of the integer input codes ``x[N, C, H, W]``."""
        xf = np.asarray(x, dtype=np.float64)
        if self.layer.kind == "pool":
            acc = xf.sum(axis=(2, 3), keepdims=True)
        else:
            acc = nn.linear_forward(self.layer, self.w.astype(np.float64), xf)
            acc = acc + self.bias.astype(np.float64).reshape(1, -1, 1, 1)
        return np.rint(acc).astype(np.int64)

    def forward(self, x) -> np.ndarray:
        """uint8 output codes of the integer input codes ``x``."""
        acc = self.accumulate(x)
        y = requantize(acc, self.multiplier.reshape(1, -1, 1, 1), self.shift.reshape(1, -1, 1, 1))
        return y.astype(np.uint8)


@dataclass(frozen=True)
class QuantizedStage:
    """The frozen stage in int8: input scale (int8 codes of the preprocessed image) and layers.
    The last layer's output codes are the latent replays, uint8 with scale :attr:`lr_scale`."""

    input_scale: float
    layers: tuple[QLayer, ...]

    @property
    def lr_scale(self) -> float:
        return self.layers[-1].out_scale

    def quantize_input(self, x) -> np.ndarray:
        """int8 codes ``clip(rint(x / input_scale), -127, 127)`` of a float batch ``x[N, 3, H, W]``."""
        q = np.rint(np.asarray(x, dtype=np.float64) / self.input_scale)
        return np.clip(q, -INT8_MAX, INT8_MAX).astype(np.int8)

    def forward_codes(self, codes) -> np.ndarray:
        """uint8 LR codes of int8 input codes (the integer pipeline, bit-exact)."""
        x = codes
        for ql in self.layers:
            x = ql.forward(x)
        return x

    def __call__(self, x) -> np.ndarray:
        """uint8 LR codes of a float input batch."""
        return self.forward_codes(self.quantize_input(x))

    def dequantize(self, codes) -> np.ndarray:
        """float32 ``codes * lr_scale``."""
        return (np.asarray(codes, dtype=np.float32) * np.float32(self.lr_scale))

    def state(self) -> dict:
        """A flat ``{name: ndarray}`` of everything in the stage (for ``numpy.savez``): ``input_scale``,
        ``indices`` and, per layer index ``i``, ``"{i}.w"``, ``"{i}.bias"``, ``"{i}.w_scale"`` (not
        for the pool), ``"{i}.scales"`` (in, out), ``"{i}.multiplier"``, ``"{i}.shift"``."""
        out = {"input_scale": np.float64(self.input_scale),
               "indices": np.array([ql.layer.index for ql in self.layers], dtype=np.int64)}
        for ql in self.layers:
            i = ql.layer.index
            out[f"{i}.scales"] = np.array([ql.in_scale, ql.out_scale], dtype=np.float64)
            out[f"{i}.multiplier"], out[f"{i}.shift"] = ql.multiplier, ql.shift
            if ql.w is not None:
                out[f"{i}.w"], out[f"{i}.bias"], out[f"{i}.w_scale"] = ql.w, ql.bias, ql.w_scale
        return out

    @classmethod
    def from_state(cls, state, layers) -> "QuantizedStage":
        """Rebuild a stage saved by :meth:`state` on the network ``layers`` it was made for;
        raises ``ValueError`` if the saved tensors do not fit those layers."""
        qlayers = []
        for i in np.asarray(state["indices"]).tolist():
            l = layers[i]
            s_in, s_out = (float(v) for v in state[f"{i}.scales"])
            w = bias = w_scale = None
            if l.kind != "pool":
                w, bias = np.asarray(state[f"{i}.w"]), np.asarray(state[f"{i}.bias"])
                w_scale = np.asarray(state[f"{i}.w_scale"])
                if w.shape != l.weight_shape or w.dtype != np.int8 or bias.shape != (l.out_shape[0],):
                    raise ValueError(f"saved layer {i} does not fit {l.name} {l.weight_shape}")
            m, n = np.asarray(state[f"{i}.multiplier"]), np.asarray(state[f"{i}.shift"])
            if m.shape != (l.out_shape[0],) or n.shape != m.shape:
                raise ValueError(f"saved layer {i} has {m.shape} multipliers for {l.out_shape[0]} channels")
            qlayers.append(QLayer(l, w, bias, w_scale, s_in, s_out, m.astype(np.int64), n.astype(np.int64)))
        return cls(float(state["input_scale"]), tuple(qlayers))


def _percentile(values, percentile: float) -> float:
    return float(np.percentile(values, percentile)) if percentile < 100 else float(np.max(values))


def _activation_scale(values, percentile: float, qmax: int) -> float:
    """``percentile(values) / qmax``; a tensor that is all zero gets scale ``1 / qmax``."""
    top = _percentile(values, percentile)
    return (top if top > 0 else 1.0) / qmax


def weight_scales(W) -> np.ndarray:
    """Per-output-channel symmetric int8 scales ``max|W[k]| / 127`` (1/127 for an all-zero channel)."""
    top = np.abs(W.reshape(W.shape[0], -1)).max(axis=1).astype(np.float64)
    return np.where(top > 0, top, 1.0) / INT8_MAX


def quantize_weights(W, scales) -> np.ndarray:
    """int8 ``rint(W / scale)`` per output channel (within [-127, 127] by construction of the scale)."""
    shape = (-1,) + (1,) * (W.ndim - 1)
    q = np.rint(W.astype(np.float64) / scales.reshape(shape))
    return np.clip(q, -INT8_MAX, INT8_MAX).astype(np.int8)


def quantize_bias(b, w_scale, in_scale: float) -> np.ndarray:
    """int32 ``rint(b / (w_scale * in_scale))`` (saturated to the int32 range)."""
    q = np.rint(b.astype(np.float64) / (w_scale * in_scale))
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def _requant_params(real) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.atleast_1d(real)]
    return (np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64))


def quantize_layer(layer: Layer, p: dict, in_scale: float, out_scale: float) -> QLayer:
    """Quantize one float layer (BN already folded: ``p`` has ``W`` and ``b``) for given scales."""
    if layer.kind == "pool":
        hw = layer.in_shape[1] * layer.in_shape[2]
        real = np.full(layer.out_shape[0], in_scale / (hw * out_scale))
        m, n = _requant_params(real)
        return QLayer(layer, None, None, None, in_scale, out_scale, m, n)
    if layer.kind not in CONV_KINDS:
        raise ValueError(f"layer {layer.index} ({layer.kind}) cannot be in the frozen stage")
    if "gamma" in p:
        raise ValueError(f"layer {layer.index}: fold BatchNorm before quantizing")
    s_w = weight_scales(p["W"])
    m, n = _requant_params(s_w * in_scale / out_scale)
    return QLayer(layer, quantize_weights(p["W"], s_w), quantize_bias(p["b"], s_w, in_scale),
                  s_w, in_scale, out_scale, m, n)


def calibrate(frozen, params, calib_x, percentile: float = DEFAULT_PERCENTILE) -> tuple[float, list[float]]:
    """Activation scales from the float network (BatchNorm folded or in inference mode) on
    ``calib_x``: ``(input_scale, [output scale of each layer])``, by the rule of the module
    docstring.  Runs the whole calibration set layer by layer (memory: two layers' activations)."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    x = np.asarray(calib_x, dtype=np.float32)
    input_scale = _activation_scale(np.abs(x), percentile, INT8_MAX)
    scales = []
    for l in frozen:
        x = nn.layer_forward(l, params.get(l.index, {}), x)
        scales.append(_activation_scale(x, percentile, UINT8_MAX))
    return input_scale, scales


def quantize_stage(frozen, params, calib_x, percentile: float = DEFAULT_PERCENTILE) -> QuantizedStage:
    """Post-training quantization of the frozen stage ``frozen`` with float ``params`` (BatchNorm
    is folded here if present), activation scales calibrated on ``calib_x``."""
    folded = nn.fold_batchnorm(frozen, params)
    input_scale, scales = calibrate(frozen, folded, calib_x, percentile)
    qlayers, s_in = [], input_scale
    for l, s_out in zip(frozen, scales):
        qlayers.append(quantize_layer(l, folded.get(l.index, {}), s_in, s_out))
        s_in = s_out
    return QuantizedStage(input_scale, tuple(qlayers))
