"""Tests for pulpsim.workloads.golden.

Forward ops are compared with independent explicit-loop formulations (float64, written from
the definitions, no im2col); backward ops are gradient-checked: for L = sum(y * R) with a fixed
random R, each analytic gradient (float32) is compared with a central finite difference of the
*loop reference* forward evaluated in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pulpsim.workloads import golden as g

RTOL_GRAD = 1e-4


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def rand32(r: np.random.Generator, *shape) -> np.ndarray:
    return r.standard_normal(shape).astype(np.float32)


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = max(np.linalg.norm(a), np.linalg.norm(b), 1e-30)
    return float(np.linalg.norm(a - b) / den)


def out_size(n: int, stride: int) -> int:
    return (n + 2 - 3) // stride + 1


# ----------------------------------------------------------------------------------------------
# Independent loop references (float64)
# ----------------------------------------------------------------------------------------------

def ref_matmul(A, B):
    M, K = A.shape
    N = B.shape[1]
    C = np.zeros((M, N))
    for m in range(M):
        for n in range(N):
            s = 0.0
            for k in range(K):
                s += float(A[m, k]) * float(B[k, n])
            C[m, n] = s
    return C


def ref_linear(x, W):
    out, inp = W.shape
    y = np.zeros(out)
    for o in range(out):
        for i in range(inp):
            y[o] += float(W[o, i]) * float(x[i])
    return y


def ref_pointwise(x, W):
    C, H, Wd = x.shape
    K = W.shape[0]
    y = np.zeros((K, H, Wd))
    for k in range(K):
        for h in range(H):
            for w in range(Wd):
                y[k, h, w] = sum(float(W[k, c]) * float(x[c, h, w]) for c in range(C))
    return y


def ref_conv2d(x, W, stride):
    """Direct 3x3 convolution, padding 1, with explicit bounds checks instead of padding."""
    C, H, Wd = x.shape
    K = W.shape[0]
    Ho, Wo = out_size(H, stride), out_size(Wd, stride)
    y = np.zeros((K, Ho, Wo))
    for k in range(K):
        for oh in range(Ho):
            for ow in range(Wo):
                s = 0.0
                for c in range(C):
                    for i in range(3):
                        h = oh * stride + i - 1
                        if h < 0 or h >= H:
                            continue
                        for j in range(3):
                            w = ow * stride + j - 1
                            if 0 <= w < Wd:
                                s += float(W[k, c, i, j]) * float(x[c, h, w])
                y[k, oh, ow] = s
    return y


def ref_depthwise(x, W, stride):
    C, H, Wd = x.shape
    Ho, Wo = out_size(H, stride), out_size(Wd, stride)
    y = np.zeros((C, Ho, Wo))
    for c in range(C):
        for oh in range(Ho):
            for ow in range(Wo):
                s = 0.0
                for i in range(3):
                    h = oh * stride + i - 1
                    if h < 0 or h >= H:
                        continue
                    for j in range(3):
                        w = ow * stride + j - 1
                        if 0 <= w < Wd:
                            s += float(W[c, i, j]) * float(x[c, h, w])
                y[c, oh, ow] = s
    return y


def ref_avgpool(x, k=None):
    C, H, W = x.shape
    if k is None:
        y = np.zeros((C, 1, 1))
        for c in range(C):
            y[c, 0, 0] = sum(float(x[c, h, w]) for h in range(H) for w in range(W)) / (H * W)
        return y
    Ho, Wo = H // k, W // k
    y = np.zeros((C, Ho, Wo))
    for c in range(C):
        for oh in range(Ho):
            for ow in range(Wo):
                s = 0.0
                for i in range(k):
                    for j in range(k):
                        s += float(x[c, oh * k + i, ow * k + j])
                y[c, oh, ow] = s / (k * k)
    return y


def ref_relu(x):
    return np.array([v if v > 0 else 0.0 for v in np.asarray(x, np.float64).ravel()]).reshape(x.shape)


def ref_ce(z, label):
    z = [float(v) for v in z]
    m = max(z)
    return m + math.log(sum(math.exp(v - m) for v in z)) - z[label]


def numgrad(f, arrays, which, R=None, eps=1e-3):
    """Central finite difference of L = sum(f(*arrays) * R) (or of scalar f if R is None)
    w.r.t. arrays[which], all in float64."""
    arrs = [np.array(a, dtype=np.float64) for a in arrays]
    target = arrs[which]
    grad = np.zeros_like(target)

    def loss():
        y = f(*arrs)
        return float(np.sum(np.asarray(y, np.float64) * R)) if R is not None else float(y)

    it = np.nditer(target, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = target[idx]
        target[idx] = old + eps
        lp = loss()
        target[idx] = old - eps
        lm = loss()
        target[idx] = old
        grad[idx] = (lp - lm) / (2 * eps)
    return grad


# ----------------------------------------------------------------------------------------------
# Matmul / linear
# ----------------------------------------------------------------------------------------------

def test_matmul_vs_loop():
    r = rng(1)
    A, B = rand32(r, 5, 7), rand32(r, 7, 3)
    C = g.matmul(A, B)
    assert C.dtype == np.float32 and C.shape == (5, 3)
    np.testing.assert_allclose(C, ref_matmul(A, B), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        g.matmul(A, A)


def test_linear_fw_vs_loop():
    r = rng(2)
    x, W = rand32(r, 6), rand32(r, 4, 6)
    y = g.linear_fw(x, W)
    assert y.dtype == np.float32 and y.shape == (4,)
    np.testing.assert_allclose(y, ref_linear(x, W), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_in,n_out", [(6, 4), (1, 3), (5, 1)])
def test_linear_gradients(n_in, n_out):
    r = rng(3)
    x, W, R = rand32(r, n_in), rand32(r, n_out, n_in), r.standard_normal(n_out)
    dy = R.astype(np.float32)
    dW = g.linear_wg(x, dy)
    dx = g.linear_ig(W, dy)
    assert dW.shape == (n_out, n_in) and dW.dtype == np.float32
    assert dx.shape == (n_in,) and dx.dtype == np.float32
    assert rel_err(dW, numgrad(ref_linear, [x, W], 1, R)) < RTOL_GRAD
    assert rel_err(dx, numgrad(ref_linear, [x, W], 0, R)) < RTOL_GRAD


@pytest.mark.parametrize("shape", [(5,), (3, 4, 2), (2, 1, 1)])
def test_bias_add_and_grad(shape):
    r = rng(4)
    y, b = rand32(r, *shape), rand32(r, shape[0])
    out = g.bias_add(y, b)
    expect = np.array(y, np.float64)
    for k in range(shape[0]):
        expect[k] += float(b[k])
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-6)
    R = r.standard_normal(shape)
    db = g.bias_grad(R.astype(np.float32))
    assert db.shape == (shape[0],) and db.dtype == np.float32

    def f(y_, b_):
        return y_ + b_.reshape((-1,) + (1,) * (y_.ndim - 1))
    assert rel_err(db, numgrad(f, [y, b], 1, R)) < RTOL_GRAD


# ----------------------------------------------------------------------------------------------
# Pointwise conv
# ----------------------------------------------------------------------------------------------

PW_SHAPES = [(3, 4, 5, 2), (1, 3, 3, 4), (4, 1, 1, 3), (2, 2, 3, 1)]  # C, H, W, K


@pytest.mark.parametrize("C,H,W,K", PW_SHAPES)
def test_pointwise_fw_vs_loop(C, H, W, K):
    r = rng(5)
    x, Wt = rand32(r, C, H, W), rand32(r, K, C)
    y = g.pointwise_fw(x, Wt)
    assert y.shape == (K, H, W) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref_pointwise(x, Wt), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("C,H,W,K", PW_SHAPES)
def test_pointwise_gradients(C, H, W, K):
    r = rng(6)
    x, Wt, R = rand32(r, C, H, W), rand32(r, K, C), r.standard_normal((K, H, W))
    dy = R.astype(np.float32)
    dW, dx = g.pointwise_wg(x, dy), g.pointwise_ig(Wt, dy)
    assert dW.shape == (K, C) and dx.shape == (C, H, W)
    assert dW.dtype == np.float32 and dx.dtype == np.float32
    assert rel_err(dW, numgrad(ref_pointwise, [x, Wt], 1, R)) < RTOL_GRAD
    assert rel_err(dx, numgrad(ref_pointwise, [x, Wt], 0, R)) < RTOL_GRAD


# ----------------------------------------------------------------------------------------------
# im2col / conv2d
# ----------------------------------------------------------------------------------------------

CONV_CASES = [  # C, H, W, K, stride
    (2, 5, 5, 3, 1),
    (2, 5, 5, 3, 2),
    (2, 4, 6, 2, 1),
    (2, 4, 6, 2, 2),
    (1, 3, 4, 1, 2),
    (3, 1, 1, 2, 1),
    (3, 1, 1, 2, 2),
    (1, 2, 2, 1, 2),
]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("H,W", [(5, 5), (4, 6), (1, 1)])
def test_im2col_vs_definition(H, W, stride):
    r = rng(7)
    C = 2
    x = rand32(r, C, H, W)
    cols = g.im2col(x, 3, 3, stride, 1)
    Ho, Wo = out_size(H, stride), out_size(W, stride)
    assert cols.shape == (C * 9, Ho * Wo) and cols.dtype == np.float32
    for c in range(C):
        for i in range(3):
            for j in range(3):
                for oh in range(Ho):
                    for ow in range(Wo):
                        h, w = oh * stride + i - 1, ow * stride + j - 1
                        v = x[c, h, w] if (0 <= h < H and 0 <= w < W) else 0.0
                        assert cols[(c * 3 + i) * 3 + j, oh * Wo + ow] == v


@pytest.mark.parametrize("stride", [1, 2])
def test_col2im_is_adjoint_of_im2col(stride):
    r = rng(8)
    x = r.standard_normal((2, 5, 4))
    Y = r.standard_normal((18, out_size(5, stride) * out_size(4, stride)))
    lhs = np.sum(g.im2col(x, 3, 3, stride, 1) * Y)
    rhs = np.sum(x * g.col2im(Y, x.shape, 3, 3, stride, 1))
    assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


@pytest.mark.parametrize("C,H,W,K,stride", CONV_CASES)
def test_conv2d_fw_vs_loop_and_im2col_identity(C, H, W, K, stride):
    r = rng(9)
    x, Wt = rand32(r, C, H, W), rand32(r, K, C, 3, 3)
    y = g.conv2d_fw(x, Wt, stride)
    Ho, Wo = out_size(H, stride), out_size(W, stride)
    assert y.shape == (K, Ho, Wo) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref_conv2d(x, Wt, stride), rtol=1e-5, atol=1e-5)
    via_mm = (Wt.reshape(K, -1) @ g.im2col(x, 3, 3, stride, 1)).reshape(K, Ho, Wo)
    np.testing.assert_allclose(y, via_mm, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("C,H,W,K,stride", CONV_CASES)
def test_conv2d_gradients(C, H, W, K, stride):
    r = rng(10)
    x, Wt = rand32(r, C, H, W), rand32(r, K, C, 3, 3)
    Ho, Wo = out_size(H, stride), out_size(W, stride)
    R = r.standard_normal((K, Ho, Wo))
    dy = R.astype(np.float32)
    dW = g.conv2d_wg(x, dy, stride)
    dx = g.conv2d_ig(Wt, dy, stride, in_hw=(H, W))
    assert dW.shape == (K, C, 3, 3) and dx.shape == (C, H, W)
    assert dW.dtype == np.float32 and dx.dtype == np.float32
    f = lambda x_, w_: ref_conv2d(x_, w_, stride)  # noqa: E731
    assert rel_err(dW, numgrad(f, [x, Wt], 1, R)) < RTOL_GRAD
    assert rel_err(dx, numgrad(f, [x, Wt], 0, R)) < RTOL_GRAD


def test_conv2d_ig_default_in_hw_and_mismatch():
    r = rng(11)
    Wt, dy = rand32(r, 2, 3, 3, 3), rand32(r, 2, 3, 2)
    assert g.conv2d_ig(Wt, dy, 2).shape == (3, 6, 4)
    np.testing.assert_array_equal(g.conv2d_ig(Wt, dy, 2), g.conv2d_ig(Wt, dy, 2, in_hw=(6, 4)))
    assert g.conv2d_ig(Wt, dy, 2, in_hw=(5, 3)).shape == (3, 5, 3)
    with pytest.raises(ValueError):
        g.conv2d_ig(Wt, dy, 2, in_hw=(8, 4))
    with pytest.raises(ValueError):
        g.conv2d_fw(rand32(r, 3, 4, 4), Wt, 3)


# ----------------------------------------------------------------------------------------------
# Depthwise conv
# ----------------------------------------------------------------------------------------------

DW_CASES = [  # C, H, W, stride
    (3, 5, 5, 1),
    (3, 5, 5, 2),
    (2, 4, 6, 1),
    (2, 4, 6, 2),
    (1, 3, 4, 2),
    (1, 4, 4, 1),
    (2, 1, 1, 1),
    (2, 1, 1, 2),
]


@pytest.mark.parametrize("C,H,W,stride", DW_CASES)
def test_depthwise_fw_vs_loop(C, H, W, stride):
    r = rng(12)
    x, Wt = rand32(r, C, H, W), rand32(r, C, 3, 3)
    y = g.depthwise_fw(x, Wt, stride)
    assert y.shape == (C, out_size(H, stride), out_size(W, stride)) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref_depthwise(x, Wt, stride), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("C,H,W,stride", DW_CASES)
def test_depthwise_gradients(C, H, W, stride):
    r = rng(13)
    x, Wt = rand32(r, C, H, W), rand32(r, C, 3, 3)
    R = r.standard_normal((C, out_size(H, stride), out_size(W, stride)))
    dy = R.astype(np.float32)
    dW = g.depthwise_wg(x, dy, stride)
    dx = g.depthwise_ig(Wt, dy, stride, in_hw=(H, W))
    assert dW.shape == (C, 3, 3) and dx.shape == (C, H, W)
    assert dW.dtype == np.float32 and dx.dtype == np.float32
    f = lambda x_, w_: ref_depthwise(x_, w_, stride)  # noqa: E731
    assert rel_err(dW, numgrad(f, [x, Wt], 1, R)) < RTOL_GRAD
    assert rel_err(dx, numgrad(f, [x, Wt], 0, R)) < RTOL_GRAD


def test_depthwise_equals_grouped_conv2d():
    """Depthwise conv == full conv with a block-diagonal weight (cross-check of the two paths)."""
    r = rng(14)
    C = 3
    x, Wd = rand32(r, C, 6, 5), rand32(r, C, 3, 3)
    Wfull = np.zeros((C, C, 3, 3), np.float32)
    for c in range(C):
        Wfull[c, c] = Wd[c]
    for s in (1, 2):
        np.testing.assert_allclose(g.depthwise_fw(x, Wd, s), g.conv2d_fw(x, Wfull, s), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# ReLU, pooling
# ----------------------------------------------------------------------------------------------

def test_relu_fw_bw():
    r = rng(15)
    x = rand32(r, 3, 4, 5)
    x[0, 0, :3] = [0.0, -0.0, 1e-30]
    y = g.relu_fw(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, ref_relu(x))
    dy = rand32(r, 3, 4, 5)
    dx = g.relu_bw(x, dy)
    for idx in np.ndindex(x.shape):
        assert dx[idx] == (dy[idx] if x[idx] > 0 else 0.0)
    assert dx[0, 0, 0] == 0 and dx[0, 0, 1] == 0 and dx[0, 0, 2] == dy[0, 0, 2]


def test_relu_gradcheck():
    r = rng(16)
    # keep |x| >= 0.1 so finite differences never cross the kink
    x = (np.sign(r.standard_normal((2, 3, 3))) * (0.1 + r.random((2, 3, 3)))).astype(np.float32)
    R = r.standard_normal(x.shape)
    dx = g.relu_bw(x, R.astype(np.float32))
    assert rel_err(dx, numgrad(ref_relu, [x], 0, R)) < RTOL_GRAD


@pytest.mark.parametrize("shape,k", [((3, 4, 4), None), ((2, 5, 3), None), ((2, 1, 1), None),
                                     ((3, 4, 4), 2), ((2, 6, 4), 2), ((2, 5, 7), 2), ((1, 6, 6), 3),
                                     ((2, 4, 4), 4)])
def test_avgpool_fw_vs_loop_and_gradcheck(shape, k):
    r = rng(17)
    x = rand32(r, *shape)
    y = g.avgpool_fw(x, k)
    ref = ref_avgpool(x, k)
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    R = r.standard_normal(ref.shape)
    dx = g.avgpool_bw(R.astype(np.float32), shape, k)
    assert dx.shape == shape and dx.dtype == np.float32
    assert rel_err(dx, numgrad(lambda x_: ref_avgpool(x_, k), [x], 0, R)) < RTOL_GRAD


def test_global_avgpool_equals_window_pool():
    r = rng(18)
    x = rand32(r, 4, 4, 4)
    np.testing.assert_allclose(g.avgpool_fw(x), g.avgpool_fw(x, 4), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Softmax / cross-entropy
# ----------------------------------------------------------------------------------------------

def test_softmax_vs_definition_and_stability():
    r = rng(19)
    z = rand32(r, 7)
    p = g.softmax(z)
    e = [math.exp(float(v)) for v in z]
    np.testing.assert_allclose(p, [v / sum(e) for v in e], rtol=1e-6)
    assert p.dtype == np.float32
    big = np.array([1000.0, 999.0, -1000.0], np.float32)
    pb = g.softmax(big)
    assert np.all(np.isfinite(pb))
    np.testing.assert_allclose(pb, [1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1)), 0.0], atol=1e-6)
    assert abs(float(g.cross_entropy(big, 0)) - ref_ce(big, 0)) < 1e-5
    assert math.isfinite(float(g.cross_entropy(big, 2)))


@pytest.mark.parametrize("n,label", [(5, 0), (5, 4), (10, 3), (1, 0)])
def test_cross_entropy_and_grad(n, label):
    r = rng(20 + n)
    z = rand32(r, n) * 3
    assert abs(float(g.cross_entropy(z, label)) - ref_ce(z, label)) < 1e-5
    dz = g.softmax_ce_grad(z, label)
    assert dz.dtype == np.float32 and dz.shape == (n,)
    ng = numgrad(lambda z_: ref_ce(z_, label), [z], 0, None, eps=1e-5)
    if n == 1:
        assert np.all(np.abs(dz) < 1e-7) and np.all(np.abs(ng) < 1e-7)
    else:
        assert rel_err(dz, ng) < RTOL_GRAD
    assert abs(float(dz.sum())) < 1e-6


# ----------------------------------------------------------------------------------------------
# SGD with momentum
# ----------------------------------------------------------------------------------------------

def test_sgd_momentum_hand_example():
    w = np.array([1.0, -2.0], np.float32)
    gr = np.array([0.5, 0.25], np.float32)
    v = np.array([0.1, -0.2], np.float32)
    # g' = g + 0.1*w = [0.6, 0.05]; v = 0.9*v + g' = [0.69, -0.13]; w = w - 0.5*v = [0.655, -1.935]
    w_new, v_new = g.sgd_momentum(w, gr, v, lr=0.5, momentum=0.9, weight_decay=0.1)
    assert w_new.dtype == np.float32 and v_new.dtype == np.float32
    np.testing.assert_allclose(v_new, [0.69, -0.13], rtol=1e-6)
    np.testing.assert_allclose(w_new, [0.655, -1.935], rtol=1e-6)
    # inputs untouched
    np.testing.assert_array_equal(w, np.array([1.0, -2.0], np.float32))
    np.testing.assert_array_equal(v, np.array([0.1, -0.2], np.float32))
    # plain SGD (no momentum, no decay) from zero velocity
    w2, v2 = g.sgd_momentum(w, gr, np.zeros(2, np.float32), lr=0.1, momentum=0.0, weight_decay=0.0)
    np.testing.assert_allclose(w2, [0.95, -2.025], rtol=1e-6)
    np.testing.assert_allclose(v2, gr)


# ----------------------------------------------------------------------------------------------
# MobileNet-V1 shapes (spec 1.4) -- shapes and dtypes only
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,cin,hin,cout,hout", [
    ("conv", 3, 128, 32, 64),     # idx 0 conv1 s2
    ("dw", 64, 64, 64, 32),       # idx 3 dw s2
    ("pw", 512, 8, 512, 8),       # idx 20
    ("dw", 512, 8, 512, 4),       # idx 23 dw s2
    ("pw", 512, 4, 1024, 4),      # idx 24
])
def test_mobilenet_layer_shapes(kind, cin, hin, cout, hout):
    r = rng(30)
    x = rand32(r, cin, hin, hin)
    dy = rand32(r, cout, hout, hout)
    if kind == "conv":
        Wt = rand32(r, cout, cin, 3, 3)
        y, dW, dx = g.conv2d_fw(x, Wt, 2), g.conv2d_wg(x, dy, 2), g.conv2d_ig(Wt, dy, 2, (hin, hin))
    elif kind == "dw":
        Wt = rand32(r, cin, 3, 3)
        y, dW, dx = g.depthwise_fw(x, Wt, 2), g.depthwise_wg(x, dy, 2), g.depthwise_ig(Wt, dy, 2, (hin, hin))
    else:
        Wt = rand32(r, cout, cin)
        y, dW, dx = g.pointwise_fw(x, Wt), g.pointwise_wg(x, dy), g.pointwise_ig(Wt, dy)
    assert y.shape == (cout, hout, hout) and dW.shape == Wt.shape and dx.shape == x.shape
    assert y.dtype == dW.dtype == dx.dtype == np.float32


def test_pool_and_fc_head_shapes():
    r = rng(31)
    x = rand32(r, 1024, 4, 4)
    p = g.avgpool_fw(x)
    assert p.shape == (1024, 1, 1)
    W = rand32(r, 50, 1024)
    z = g.bias_add(g.linear_fw(p.reshape(-1), W), rand32(r, 50))
    assert z.shape == (50,) and z.dtype == np.float32
    dz = g.softmax_ce_grad(z, 7)
    dp = g.linear_ig(W, dz).reshape(1024, 1, 1)
    assert g.avgpool_bw(dp, x.shape).shape == x.shape
