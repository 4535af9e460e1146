"""Numpy golden references for the FP32 training primitives (PULP-TrainLib style).

Every training step of every layer is expressed the way PULP-TrainLib maps it to a matrix
multiply (see ``docs``/spec section 2.4), so the C kernels run on the simulator can be checked
against these functions element by element.

Conventions
-----------
* Batch size 1 (streaming training, as PULP-TrainLib).
* Activations are **CHW**: ``x[C, H, W]``; vectors (linear layer) are 1-D.
* Weights: linear ``W[out, in]``, pointwise ``W[K, C]``, depthwise ``W[C, 3, 3]``,
  conv2d ``W[K, C, 3, 3]`` (K = output channels, C = input channels).
* 3x3 convolutions use padding 1 and stride 1 or 2:
  ``Ho = (H + 2*pad - kh) // stride + 1`` (same for W), i.e. cross-correlation as in PyTorch.
* Dtype: inputs are converted to float32 and all arithmetic is done in float32, so outputs are
  float32.  The only exception is float64 input, which is kept in float64 (used by the tests
  for finite-difference gradient checks); this never happens for data going to the C kernels.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "matmul",
    "linear_fw", "linear_wg", "linear_ig", "bias_add", "bias_grad",
    "pointwise_fw", "pointwise_wg", "pointwise_ig",
    "im2col", "col2im",
    "depthwise_fw", "depthwise_wg", "depthwise_ig",
    "conv2d_fw", "conv2d_wg", "conv2d_ig",
    "relu_fw", "relu_bw",
    "avgpool_fw", "avgpool_bw",
    "softmax", "cross_entropy", "softmax_ce_grad",
    "sgd_momentum",
]


def _f(a) -> np.ndarray:
    """Return ``a`` as float32 (float64 arrays are kept as float64, see module docstring)."""
    a = np.asarray(a)
    if a.dtype == np.float64:
        return a
    return a.astype(np.float32, copy=False)


def _out_hw(h: int, w: int, kh: int, kw: int, stride: int, pad: int) -> tuple[int, int]:
    return (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1


def _check_stride(stride: int) -> None:
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")


def _default_in_hw(dy: np.ndarray, stride: int, in_hw) -> tuple[int, int]:
    """Input size for an input-gradient; defaults to ``(stride*Ho, stride*Wo)``.

    With stride 2 and padding 1 both H = 2*Ho and H = 2*Ho - 1 give the same Ho, so pass
    ``in_hw`` explicitly for odd input sizes.
    """
    if in_hw is None:
        return stride * dy.shape[-2], stride * dy.shape[-1]
    return int(in_hw[0]), int(in_hw[1])


# --------------------------------------------------------------------------------------------
# Matrix multiply
# --------------------------------------------------------------------------------------------

def matmul(A, B) -> np.ndarray:
    """``C = A @ B`` with ``A[M, K]``, ``B[K, N]`` -> ``C[M, N]`` (float32 accumulation)."""
    A, B = _f(A), _f(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"matmul shape mismatch: {A.shape} @ {B.shape}")
    return A @ B


# --------------------------------------------------------------------------------------------
# Fully connected
# --------------------------------------------------------------------------------------------

def linear_fw(x, W) -> np.ndarray:
    """Forward: ``y[o] = sum_i W[o, i] * x[i]``; ``x[in]``, ``W[out, in]`` -> ``y[out]``.

    MM mapping: A = W (out x in), B = x (in x 1).
    """
    return _f(W) @ _f(x)


def linear_wg(x, dy) -> np.ndarray:
    """Weight gradient (outer product): ``dW[o, i] = dy[o] * x[i]`` -> ``dW[out, in]``.

    MM mapping: A = dy (out x 1), B = x (1 x in).
    """
    return np.outer(_f(dy), _f(x))


def linear_ig(W, dy) -> np.ndarray:
    """Input gradient: ``dx[i] = sum_o dy[o] * W[o, i]`` (``dx = W^T dy``) -> ``dx[in]``.

    MM mapping: A = dy (1 x out), B = W (out x in).
    """
    return _f(dy) @ _f(W)


def bias_add(y, b) -> np.ndarray:
    """Add a per-output bias: ``y[o] + b[o]`` for a vector ``y[out]``, or
    ``y[k, h, w] + b[k]`` for a CHW feature map ``y[K, H, W]``."""
    y, b = _f(y), _f(b)
    return y + b.reshape((b.shape[0],) + (1,) * (y.ndim - 1))


def bias_grad(dy) -> np.ndarray:
    """Bias gradient: ``db[o] = dy[o]`` (vector) or ``db[k] = sum_{h,w} dy[k, h, w]`` (CHW)."""
    dy = _f(dy)
    return dy.reshape(dy.shape[0], -1).sum(axis=1, dtype=dy.dtype)


# --------------------------------------------------------------------------------------------
# Pointwise (1x1) convolution: a plain MM on the CHW tensor viewed as C x (H*W)
# --------------------------------------------------------------------------------------------

def pointwise_fw(x, W) -> np.ndarray:
    """Forward 1x1 conv: ``y[k, h, w] = sum_c W[k, c] * x[c, h, w]``.

    ``x[C, H, W]``, ``W[K, C]`` -> ``y[K, H, W]``; MM: ``W (K x C) @ x (C x H*W)``.
    """
    x, W = _f(x), _f(W)
    C, H, Wd = x.shape
    return (W @ x.reshape(C, H * Wd)).reshape(W.shape[0], H, Wd)


def pointwise_wg(x, dy) -> np.ndarray:
    """Weight gradient: ``dW[k, c] = sum_{h,w} dy[k, h, w] * x[c, h, w]`` -> ``dW[K, C]``.

    MM: ``dy (K x H*W) @ x^T (H*W x C)`` (``trans_B = 1``).
    """
    x, dy = _f(x), _f(dy)
    return dy.reshape(dy.shape[0], -1) @ x.reshape(x.shape[0], -1).T


def pointwise_ig(W, dy) -> np.ndarray:
    """Input gradient: ``dx[c, h, w] = sum_k W[k, c] * dy[k, h, w]`` -> ``dx[C, H, W]``.

    MM: ``W^T (C x K) @ dy (K x H*W)``.
    """
    W, dy = _f(W), _f(dy)
    K, H, Wd = dy.shape
    return (W.T @ dy.reshape(K, H * Wd)).reshape(W.shape[1], H, Wd)


# --------------------------------------------------------------------------------------------
# im2col / col2im
# --------------------------------------------------------------------------------------------

def im2col(x, kh: int = 3, kw: int = 3, stride: int = 1, pad: int = 1) -> np.ndarray:
    """Unfold ``x[C, H, W]`` into ``cols[C*kh*kw, Ho*Wo]``.

    ``cols[(c*kh + i)*kw + j, oh*Wo + ow] = xpad[c, oh*stride + i, ow*stride + j]`` where ``xpad``
    is ``x`` zero-padded by ``pad`` on every side.  The row order (c, i, j) matches a row-major
    ``W[K, C, kh, kw]``, which gives the identity used by the C kernel to map a conv to an MM::

        conv2d_fw(x, W, s) == (W.reshape(K, -1) @ im2col(x, 3, 3, s, 1)).reshape(K, Ho, Wo)
    """
    x = _f(x)
    C, H, W = x.shape
    Ho, Wo = _out_hw(H, W, kh, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xp[:, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
    return cols.reshape(C * kh * kw, Ho * Wo)


def col2im(cols, in_shape, kh: int = 3, kw: int = 3, stride: int = 1, pad: int = 1) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add ``cols[C*kh*kw, Ho*Wo]`` back to ``x[C, H, W]``.

    ``x[c, oh*stride + i - pad, ow*stride + j - pad] += cols[(c*kh + i)*kw + j, oh*Wo + ow]``,
    dropping contributions that land in the padding.  ``in_shape`` = ``(C, H, W)``.
    """
    cols = _f(cols)
    C, H, W = (int(v) for v in in_shape)
    Ho, Wo = _out_hw(H, W, kh, kw, stride, pad)
    cols = cols.reshape(C, kh, kw, Ho, Wo)
    xp = np.zeros((C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride] += cols[:, i, j]
    return xp[:, pad:pad + H, pad:pad + W]


# --------------------------------------------------------------------------------------------
# Depthwise 3x3 convolution (padding 1)
# --------------------------------------------------------------------------------------------

def depthwise_fw(x, W, stride: int = 1) -> np.ndarray:
    """Forward depthwise 3x3 conv, padding 1.

    ``y[c, oh, ow] = sum_{i,j} W[c, i, j] * xpad[c, oh*s + i, ow*s + j]``;
    ``x[C, H, W]``, ``W[C, 3, 3]`` -> ``y[C, Ho, Wo]``.  Per channel this is the MM
    ``W[c] (1 x 9) @ im2col(x[c]) (9 x Ho*Wo)`` (PULP-TrainLib ``mm_dw``).
    """
    _check_stride(stride)
    x, W = _f(x), _f(W)
    C, H, Wd = x.shape
    Ho, Wo = _out_hw(H, Wd, 3, 3, stride, 1)
    cols = im2col(x, 3, 3, stride, 1).reshape(C, 9, Ho * Wo)
    y = np.matmul(W.reshape(C, 1, 9), cols)  # batched over channels
    return y.reshape(C, Ho, Wo)


def depthwise_wg(x, dy, stride: int = 1) -> np.ndarray:
    """Weight gradient: ``dW[c, i, j] = sum_{oh,ow} dy[c, oh, ow] * xpad[c, oh*s + i, ow*s + j]``.

    -> ``dW[C, 3, 3]``; per channel the MM ``dy[c] (1 x Ho*Wo) @ im2col(x[c])^T (Ho*Wo x 9)``.
    """
    _check_stride(stride)
    x, dy = _f(x), _f(dy)
    C = x.shape[0]
    cols = im2col(x, 3, 3, stride, 1).reshape(C, 9, -1)
    dW = np.matmul(dy.reshape(C, 1, -1), cols.transpose(0, 2, 1))
    return dW.reshape(C, 3, 3)


def depthwise_ig(W, dy, stride: int = 1, in_hw=None) -> np.ndarray:
    """Input gradient: ``dx[c, h, w] = sum_{oh,ow,i,j : oh*s+i-1 == h, ow*s+j-1 == w} W[c,i,j] * dy[c,oh,ow]``.

    ``W[C, 3, 3]``, ``dy[C, Ho, Wo]`` -> ``dx[C, H, W]`` with ``(H, W) = in_hw``
    (default ``(s*Ho, s*Wo)``; pass it for odd sizes with stride 2).  For stride 1 this equals
    the full correlation of ``dy`` with the 180-degree-flipped kernel (PULP-TrainLib
    ``mm_dw_in_grad`` on ``im2col(pad(dy))``); computed here as col2im of ``W^T dy``.
    """
    _check_stride(stride)
    W, dy = _f(W), _f(dy)
    C = dy.shape[0]
    H, Wd = _default_in_hw(dy, stride, in_hw)
    if _out_hw(H, Wd, 3, 3, stride, 1) != dy.shape[1:]:
        raise ValueError(f"in_hw {(H, Wd)} inconsistent with dy {dy.shape} at stride {stride}")
    cols = W.reshape(C, 9, 1) * dy.reshape(C, 1, -1)  # [C, 9, Ho*Wo]
    return col2im(cols.reshape(C * 9, -1), (C, H, Wd), 3, 3, stride, 1)


# --------------------------------------------------------------------------------------------
# Full 3x3 convolution (padding 1) via im2col + MM
# --------------------------------------------------------------------------------------------

def conv2d_fw(x, W, stride: int = 1) -> np.ndarray:
    """Forward 3x3 conv, padding 1.

    ``y[k, oh, ow] = sum_{c,i,j} W[k, c, i, j] * xpad[c, oh*s + i, ow*s + j]``;
    ``x[C, H, W]``, ``W[K, C, 3, 3]`` -> ``y[K, Ho, Wo]``.  Computed exactly as the C kernel maps
    it to an MM::

        y == (W.reshape(K, C*9) @ im2col(x, 3, 3, stride, 1)).reshape(K, Ho, Wo)
    """
    _check_stride(stride)
    x, W = _f(x), _f(W)
    K = W.shape[0]
    Ho, Wo = _out_hw(x.shape[1], x.shape[2], 3, 3, stride, 1)
    return (W.reshape(K, -1) @ im2col(x, 3, 3, stride, 1)).reshape(K, Ho, Wo)


def conv2d_wg(x, dy, stride: int = 1) -> np.ndarray:
    """Weight gradient: ``dW[k, c, i, j] = sum_{oh,ow} dy[k, oh, ow] * xpad[c, oh*s + i, ow*s + j]``.

    -> ``dW[K, C, 3, 3]``; MM ``dy (K x Ho*Wo) @ im2col(x)^T (Ho*Wo x C*9)``.
    """
    _check_stride(stride)
    x, dy = _f(x), _f(dy)
    K, C = dy.shape[0], x.shape[0]
    return (dy.reshape(K, -1) @ im2col(x, 3, 3, stride, 1).T).reshape(K, C, 3, 3)


def conv2d_ig(W, dy, stride: int = 1, in_hw=None) -> np.ndarray:
    """Input gradient: ``dx[c, h, w] = sum_{k,oh,ow,i,j : oh*s+i-1 == h, ow*s+j-1 == w} W[k,c,i,j] * dy[k,oh,ow]``.

    ``W[K, C, 3, 3]``, ``dy[K, Ho, Wo]`` -> ``dx[C, H, W]`` with ``(H, W) = in_hw`` (default
    ``(s*Ho, s*Wo)``).  Computed as ``col2im(W.reshape(K, C*9)^T @ dy.reshape(K, Ho*Wo))``; for
    stride 1 this equals PULP-TrainLib's MM of the flipped, transposed weights with
    ``im2col(pad(dy))``.
    """
    _check_stride(stride)
    W, dy = _f(W), _f(dy)
    K, C = W.shape[:2]
    H, Wd = _default_in_hw(dy, stride, in_hw)
    if _out_hw(H, Wd, 3, 3, stride, 1) != dy.shape[1:]:
        raise ValueError(f"in_hw {(H, Wd)} inconsistent with dy {dy.shape} at stride {stride}")
    cols = W.reshape(K, -1).T @ dy.reshape(K, -1)  # [C*9, Ho*Wo]
    return col2im(cols, (C, H, Wd), 3, 3, stride, 1)


# --------------------------------------------------------------------------------------------
# Activation, pooling
# --------------------------------------------------------------------------------------------

def relu_fw(x) -> np.ndarray:
    """``y = max(x, 0)`` (any shape)."""
    x = _f(x)
    return np.maximum(x, x.dtype.type(0))


def relu_bw(x, dy) -> np.ndarray:
    """``dx = dy * [x > 0]`` (gradient taken as 0 at ``x <= 0``); ``x`` is the forward input."""
    x, dy = _f(x), _f(dy)
    return np.where(x > 0, dy, dy.dtype.type(0))


def avgpool_fw(x, k: int | None = None) -> np.ndarray:
    """Average pooling on ``x[C, H, W]``.

    * ``k is None``: global average, ``y[c, 0, 0] = mean_{h,w} x[c, h, w]`` -> ``y[C, 1, 1]``.
    * ``k`` given: non-overlapping kxk windows with stride k,
      ``y[c, oh, ow] = (1/k^2) sum_{i,j<k} x[c, oh*k + i, ow*k + j]`` -> ``y[C, H//k, W//k]``
      (trailing rows/cols that do not fill a window are ignored, as in PyTorch).
    """
    x = _f(x)
    C, H, W = x.shape
    if k is None:
        return x.reshape(C, -1).mean(axis=1, dtype=x.dtype).reshape(C, 1, 1)
    Ho, Wo = H // k, W // k
    win = x[:, :Ho * k, :Wo * k].reshape(C, Ho, k, Wo, k)
    return win.sum(axis=(2, 4), dtype=x.dtype) / x.dtype.type(k * k)


def avgpool_bw(dy, in_shape, k: int | None = None) -> np.ndarray:
    """Gradient of :func:`avgpool_fw`: each input of a window gets ``dy / window_size``.

    ``in_shape = (C, H, W)``; window size is ``H*W`` for the global pool, else ``k*k``; inputs not
    covered by a window get 0.
    """
    dy = _f(dy)
    C, H, W = (int(v) for v in in_shape)
    if k is None:
        g = dy.reshape(C, 1, 1) / dy.dtype.type(H * W)
        return np.broadcast_to(g, (C, H, W)).copy()
    Ho, Wo = H // k, W // k
    dx = np.zeros((C, H, W), dtype=dy.dtype)
    g = dy.reshape(C, Ho, Wo) / dy.dtype.type(k * k)
    dx[:, :Ho * k, :Wo * k] = np.repeat(np.repeat(g, k, axis=1), k, axis=2)
    return dx


# --------------------------------------------------------------------------------------------
# Softmax / cross-entropy
# --------------------------------------------------------------------------------------------

def softmax(z) -> np.ndarray:
    """Numerically stable softmax over the last axis: ``exp(z - max z) / sum exp(z - max z)``."""
    z = _f(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(z, label: int):
    """Cross-entropy of logits ``z[N]`` with integer class ``label``:
    ``L = -log softmax(z)[label] = logsumexp(z) - z[label]`` (scalar, same float dtype as z)."""
    z = _f(z)
    zs = z - z.max()  # shift first: avoids overflow and the rounding of large logits
    return np.log(np.exp(zs).sum()) - zs[int(label)]


def softmax_ce_grad(z, label: int) -> np.ndarray:
    """Gradient of :func:`cross_entropy` w.r.t. the logits: ``dz = softmax(z) - onehot(label)``
    (the fused softmax+CE gradient written by PULP-TrainLib's ``pulp_CrossEntropyLoss``)."""
    dz = softmax(z).copy()
    dz[int(label)] -= dz.dtype.type(1)
    return dz


# --------------------------------------------------------------------------------------------
# Optimizer
# --------------------------------------------------------------------------------------------

def sgd_momentum(w, g, v, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    """One SGD step with momentum and L2 weight decay, PyTorch ``torch.optim.SGD`` convention
    (dampening 0, no Nesterov), all in float32::

        g' = g + weight_decay * w
        v  = momentum * v + g'
        w  = w - lr * v

    Returns ``(w_new, v_new)``; inputs are not modified.  With a zero initial ``v`` this matches
    PyTorch's first step (which sets ``v = g'``).  ``momentum = 0`` is plain SGD with weight decay
    (PULP-TrainLib ``pulp_gradient_descent_fp32``).
    """
    w, g, v = _f(w), _f(g), _f(v)
    t = w.dtype.type
    g2 = g + t(weight_decay) * w
    v_new = t(momentum) * v + g2
    w_new = w - t(lr) * v_new
    return w_new, v_new
