"""Post-training int8 quantization: the fixed-point requantization against exact rational
arithmetic, and the integer frozen stage against the float network within derived error bounds."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulpsim.cl import model, nn, quant

INT32 = st.integers(-(1 << 31), (1 << 31) - 1)


def exact_requant(acc: int, m: int, n: int, lo: int, hi: int) -> int:
    """Round half up of acc * m / 2**n, then clamp: with Fractions and Python's floor."""
    q = Fraction(acc * m, 1 << n) + Fraction(1, 2)
    return min(max(q.numerator // q.denominator, lo), hi)


# ------------------------------------------------------------------------------------------
# fixed-point multiplier and requantization
# ------------------------------------------------------------------------------------------

@given(st.floats(min_value=2.0 ** -31, max_value=2.0 ** 29, allow_nan=False, allow_infinity=False))
def test_multiplier_is_normalised_and_within_two_to_minus_31(real):
    m, n = quant.quantize_multiplier(real)
    assert 1 << 30 <= m < 1 << 31 and 1 <= n <= 62
    err = abs(Fraction(m, 1 << n) - Fraction(real))
    assert err <= Fraction(real) / (1 << 31)


def test_multiplier_edge_values():
    assert quant.quantize_multiplier(1.0) == (1 << 30, 30)
    assert quant.quantize_multiplier(0.5) == (1 << 30, 31)
    assert quant.quantize_multiplier(1 / 16) == (1 << 30, 34)
    # a fraction just below a power of two rounds up to it: m renormalises to 2**30
    m, n = quant.quantize_multiplier(1.0 - 2.0 ** -40)
    assert (m, n) == (1 << 30, 30)
    # tiny multipliers keep n = 62 with a denormalised m
    m, n = quant.quantize_multiplier(2.0 ** -40)
    assert (m, n) == (1 << 22, 62)
    for bad in (0.0, -1.0, float("nan"), float("inf"), 2.0 ** 31):
        with pytest.raises(ValueError):
            quant.quantize_multiplier(bad)


@settings(max_examples=300)
@given(acc=INT32, real=st.floats(min_value=1e-9, max_value=4.0), signed=st.booleans())
def test_requantize_equals_exact_rational_rounding(acc, real, signed):
    m, n = quant.quantize_multiplier(real)
    lo, hi = (-128, 127) if signed else (0, 255)
    got = int(quant.requantize(np.array([acc]), m, n, lo, hi)[0])
    assert got == exact_requant(acc, m, n, lo, hi)
    # and it is the real product rounded, up to the multiplier's 2**-31 relative error
    if lo < got < hi:
        assert abs(got - Fraction(acc) * Fraction(real)) <= Fraction(1, 2) + abs(acc) * Fraction(real) / (1 << 31)


def test_requantize_ties_round_half_up_and_saturate():
    m, n = 1 << 30, 31                      # multiplier exactly 1/2: odd accumulators are ties
    acc = np.array([3, -3, 1, -1, 5, 254 * 2 + 1, 255 * 2 + 1, -(1 << 31), (1 << 31) - 1])
    assert quant.requantize(acc, m, n, -128, 127).tolist() == [2, -1, 1, 0, 3, 127, 127, -128, 127]
    assert quant.requantize(acc, m, n).tolist() == [2, 0, 1, 0, 3, 255, 255, 0, 255]
    for a in acc.tolist():
        assert exact_requant(a, m, n, -128, 127) == quant.requantize(np.array([a]), m, n, -128, 127)[0]
    with pytest.raises(OverflowError):
        quant.requantize(np.array([1 << 31]), m, n)


def test_requantize_per_channel_broadcast():
    acc = np.arange(-6, 6).reshape(1, 3, 2, 2) * 1000
    reals = [0.01, 0.002, 0.3]
    mn = [quant.quantize_multiplier(r) for r in reals]
    m = np.array([p[0] for p in mn]).reshape(1, 3, 1, 1)
    n = np.array([p[1] for p in mn]).reshape(1, 3, 1, 1)
    got = quant.requantize(acc, m, n)
    for c, (mc, nc) in enumerate(mn):
        assert got[0, c].ravel().tolist() == [exact_requant(int(a), mc, nc, 0, 255) for a in acc[0, c].ravel()]


# ------------------------------------------------------------------------------------------
# weights
# ------------------------------------------------------------------------------------------

def test_weights_are_symmetric_per_channel():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 4, 3, 3)) * np.array([1, 10, 0.01, 0, 3]).reshape(5, 1, 1, 1)
    s = quant.weight_scales(W)
    q = quant.quantize_weights(W, s)
    assert q.dtype == np.int8 and q.min() >= -127
    for k in (0, 1, 2, 4):
        assert np.abs(q[k]).max() == 127                     # each channel uses its full range
        assert np.abs(q[k] * s[k] - W[k]).max() <= s[k] / 2 + 1e-15
    assert not q[3].any()
    b = np.array([0.5, -2.0, 1e-3, 0.0, 1e12])
    qb = quant.quantize_bias(b, s, 0.1)
    assert qb.dtype == np.int32 and qb[4] == (1 << 31) - 1     # saturates
    np.testing.assert_array_equal(qb[:4], np.rint(b[:4] / (s[:4] * 0.1)))


# ------------------------------------------------------------------------------------------
# integer stage against the float network
# ------------------------------------------------------------------------------------------

LAYERS = model.mobilenet_v1(0.25, 32, 10)


def _float_net(seed=0):
    rng = np.random.default_rng(seed)
    params = nn.init_params(LAYERS, rng)
    for p in params.values():
        if "gamma" in p:
            k = p["gamma"].size
            p.update(gamma=rng.uniform(0.5, 1.5, k).astype(np.float32), beta=rng.normal(0.2, 0.3, k).astype(np.float32),
                     mean=rng.normal(0, 0.2, k).astype(np.float32), var=rng.uniform(0.5, 2, k).astype(np.float32))
    x = rng.standard_normal((6, 3, 32, 32)).astype(np.float32)
    return params, x


def _local_bound(ql, x_codes):
    """Per-element bound on |int output * s_y - relu(conv(x_hat, W') + b')| for one layer given
    its integer input: weight rounding (s_w/2 per tap times |x_hat|), bias rounding (s_w*s_x/2),
    the multiplier's relative error (2**-31 of |acc| * M) and the output rounding (s_y/2)."""
    l, s_x, s_y = ql.layer, ql.in_scale, ql.out_scale
    xa = np.abs(x_codes.astype(np.float64)) * s_x
    acc = np.abs(ql.accumulate(x_codes)).astype(np.float64)
    real_m = (ql.multiplier / 2.0 ** ql.shift).reshape(1, -1, 1, 1)
    out = s_y / 2 + acc * real_m * 2.0 ** -31 * s_y
    if l.kind == "pool":
        return out
    taps = nn.linear_forward(l, np.ones(l.weight_shape), xa)   # sum of |x_hat| under each output
    s_w = ql.w_scale.reshape(1, -1, 1, 1)
    return out + s_w / 2 * taps + s_w * s_x / 2


@pytest.mark.parametrize("idx", [0, 1, 2, 3, 27])
def test_each_integer_layer_within_its_derived_bound(idx):
    params, x = _float_net(idx)
    folded = nn.fold_batchnorm(LAYERS, params)
    rng = np.random.default_rng(idx)
    l = LAYERS[idx] if idx != 27 else model.mobilenet_v1(0.25, 128, 10)[27]   # pool over 4x4, not 1x1
    s_x = 0.02
    lo = -127 if idx == 0 else 0
    x_codes = rng.integers(lo, 128 if idx == 0 else 256, size=(4, *l.in_shape))
    x_hat = x_codes * s_x
    ref = nn.layer_forward(l, {k: v.astype(np.float64) for k, v in folded.get(idx, {}).items()}, x_hat)
    s_y = ref.max() / 255                       # max calibration on this input: no saturation
    ql = quant.quantize_layer(l, folded.get(idx, {}), s_x, s_y)
    y = ql.forward(x_codes)
    assert y.dtype == np.uint8
    err = np.abs(y * s_y - ref)
    bound = _local_bound(ql, x_codes)
    assert (err <= bound * (1 + 1e-9)).all()
    assert err.max() > 0.3 * s_y                # the bound is not vacuous: errors of order s_y occur


@pytest.mark.parametrize("lr_index", [5, 19, 27])
def test_integer_stage_within_the_propagated_bound(lr_index):
    """End to end: the bound of each layer plus the previous error carried through |W'|
    (ReLU and the average pool do not expand errors); max calibration on the same data."""
    params, x = _float_net(1)
    frozen, _ = model.split(LAYERS, lr_index)
    stage = quant.quantize_stage(frozen, params, x, percentile=100)
    folded = nn.fold_batchnorm(frozen, params)
    codes = stage.quantize_input(x)
    err = np.abs(codes * stage.input_scale - x.astype(np.float64))      # input rounding
    xf = x.astype(np.float64)
    for ql in stage.layers:
        l = ql.layer
        p = {k: v.astype(np.float64) for k, v in folded.get(l.index, {}).items()}
        xf = nn.layer_forward(l, p, xf)
        carried = (nn.linear_forward(l, np.abs(p["W"]), err) if l.kind != "pool"
                   else err.mean(axis=(2, 3), keepdims=True))
        bound = _local_bound(ql, codes) + carried
        codes = ql.forward(codes)
        err = np.abs(codes * ql.out_scale - xf)
        assert (err <= bound * (1 + 1e-9)).all(), l.index
    np.testing.assert_array_equal(codes, stage(x))
    assert stage(x).dtype == np.uint8 and stage.lr_scale == ql.out_scale
    # the LR is a faithful code of the float activation: mostly within a few steps
    assert np.median(err) <= 2 * stage.lr_scale


def test_integer_stage_is_deterministic_and_bit_exact_across_batching():
    params, x = _float_net(2)
    frozen, _ = model.split(LAYERS, 13)
    a = quant.quantize_stage(frozen, params, x)
    b = quant.quantize_stage(frozen, params, x)
    assert a.input_scale == b.input_scale
    for qa, qb in zip(a.layers, b.layers):
        for f in ("w", "bias", "multiplier", "shift"):
            np.testing.assert_array_equal(getattr(qa, f), getattr(qb, f))
    whole = a(x)
    one_by_one = np.concatenate([a(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(whole, one_by_one)


def test_calibration_rule():
    params, x = _float_net(3)
    frozen, _ = model.split(LAYERS, 3)
    folded = nn.fold_batchnorm(frozen, params)
    s_in, scales = quant.calibrate(frozen, folded, x, percentile=99.0)
    assert s_in == pytest.approx(np.percentile(np.abs(x), 99.0) / 127)
    a = nn.forward(frozen[:2], folded, x)
    assert scales[1] == pytest.approx(np.percentile(a, 99.0) / 255)
    s_in, scales = quant.calibrate(frozen, folded, x, percentile=100)
    assert s_in == pytest.approx(np.abs(x).max() / 127)
    with pytest.raises(ValueError):
        quant.calibrate(frozen, folded, x, percentile=0)


def test_stage_state_round_trips_through_npz(tmp_path):
    params, x = _float_net(4)
    frozen, _ = model.split(LAYERS, 27)
    stage = quant.quantize_stage(frozen, params, x)
    np.savez(tmp_path / "stage.npz", **stage.state())
    with np.load(tmp_path / "stage.npz") as f:
        back = quant.QuantizedStage.from_state(dict(f), LAYERS)
    np.testing.assert_array_equal(back(x), stage(x))
    assert back.lr_scale == stage.lr_scale and back.input_scale == stage.input_scale
    other = model.mobilenet_v1(0.5, 32, 10)           # a different width: the tensors do not fit
    with pytest.raises(ValueError, match="does not fit"):
        quant.QuantizedStage.from_state(stage.state(), other)
