"""FP32 training layer kernels (kernels/layers/) on the simulated cluster, through pulpsim.workloads.layers.

References:

- ``pulpsim.workloads.golden`` (numpy, float32).  Tolerances, per kernel (u = eps32 = 2**-23):
  * matmul-shaped steps and direct convolutions: a length-L dot product in any order, with or
    without fma, is within gamma_L * sum|a_i b_i| of the exact value (Higham eq. 3.5), and so is
    numpy's; we allow ``L * eps32 * golden(|inputs|)`` elementwise, where golden(|inputs|) is the
    same step on absolute values (the magnitude bound sum|a||b|), L the reduction length:
    linear fw C, ig K; pointwise fw C, wg H*W, ig K; depthwise fw 9, wg Ho*Wo, ig 9;
    conv2d fw 9*C, wg Ho*Wo, ig K + 9 (the matmul then the col2im sum of at most 9 taps).
    The linear weight gradient is an outer product (one rounding per element): exact.
  * bias grad and global average pooling fw are sums of H*W terms (+ one division): (HW + 1) * eps32
    * sum|x| (/ HW); bias add, avg pooling bw (one division), ReLU fw/bw and SGD (every operation
    rounded separately on both sides) and the gradient accumulation acc + g are bit-exact.
  * softmax + cross-entropy: the guest's own expf/logf (within a few ulp) and a sum of n terms:
    probabilities (n + 8) * eps32 relative; loss (n + 8) * eps32 * (|log sum| + |z_label - max| + 1).
- the same C compiled natively with cffi (-DMM_HOST, the one-core PMSIS shim of kernels/matmul/host/,
  -ffp-contract=off): every kernel computes each output in an order that does not depend on the team
  size, so a simulator build with contract=False must equal it bit for bit.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from pulpsim.workloads import kernel_runner as kr
from pulpsim.workloads import layers as L
from pulpsim import toolchain
from pulpsim.errors import ConfigError

from hostbuild import build_host_module

EPS = float(np.finfo(np.float32).eps)


# ------------------------------------------------------------------------------ cases

def _inputs(name, step, d, seed=0):
    """Random inputs of one case; d holds the dimensions."""
    rng = np.random.default_rng(seed + zlib.crc32(repr((name, step, sorted(d.items()))).encode()))
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    C, K, H, W, s = d.get("C", 1), d.get("K", 1), d.get("H", 1), d.get("W", 1), d.get("s", 1)
    Ho, Wo = (H - 1) // s + 1, (W - 1) // s + 1
    if name == "linear":
        return {"fw": {"x": r(C), "W": r(K, C)}, "wg": {"x": r(C), "dy": r(K)}, "ig": {"W": r(K, C), "dy": r(K)}}[step]
    if name == "bias":
        shape = d["shape"]
        return {"y": r(*shape), "b": r(shape[0])} if step == "fw" else {"dy": r(*shape)}
    if name == "pointwise":
        return {"fw": {"x": r(C, H, W), "W": r(K, C)}, "wg": {"x": r(C, H, W), "dy": r(K, H, W)},
                "ig": {"W": r(K, C), "dy": r(K, H, W)}}[step]
    if name == "depthwise":
        return {"fw": {"x": r(C, H, W), "W": r(C, 3, 3)}, "wg": {"x": r(C, H, W), "dy": r(C, Ho, Wo)},
                "ig": {"W": r(C, 3, 3), "dy": r(C, Ho, Wo)}}[step]
    if name == "conv2d":
        return {"fw": {"x": r(C, H, W), "W": r(K, C, 3, 3)}, "wg": {"x": r(C, H, W), "dy": r(K, Ho, Wo)},
                "ig": {"W": r(K, C, 3, 3), "dy": r(K, Ho, Wo)}}[step]
    if name == "relu":
        return {"x": r(*d["shape"])} if step == "fw" else {"x": r(*d["shape"]), "dy": r(*d["shape"])}
    if name == "avgpool":
        k = d.get("k")
        return {"x": r(C, H, W)} if step == "fw" else {"dy": r(C, H // k, W // k) if k else r(C, 1, 1)}
    if name == "softmax_ce":
        return {"z": r(d["n"]) * np.float32(d.get("scale", 1.0))}
    if name == "sgd":
        return {"w": r(*d["shape"]), "g": r(*d["shape"]), "v": r(*d["shape"])}
    if name == "accumulate":
        return {"acc": r(*d["shape"]), "g": r(*d["shape"])}
    raise AssertionError(name)


def _params(name, step, d):
    if name in ("depthwise", "conv2d"):
        p = {"stride": d.get("s", 1)}
        if step == "ig":
            p["in_hw"] = (d["H"], d["W"])
        return p
    if name == "avgpool":
        p = {"k": d["k"]} if "k" in d else {}
        if step == "bw":
            p["in_shape"] = (d["C"], d["H"], d["W"])
        return p
    if name == "softmax_ce":
        return {"label": d["label"], **({"batch": d["batch"]} if step == "bw" and "batch" in d else {})}
    if name == "sgd":
        return {"lr": d["lr"], "momentum": d["m"], "weight_decay": d["wd"]}
    return {}


# (layer, list of dims); every step of the layer runs on every dims.  Edge cases: sizes not divisible
# by 8 cores or the 4x4 block, fewer rows than cores, 1x1 spatial, single channel, stride 2 with odd input.
DIMS = {
    "linear": [dict(C=1, K=1), dict(C=5, K=3), dict(C=13, K=11), dict(C=16, K=9)],
    "bias": [dict(shape=(7,)), dict(shape=(1, 1, 1)), dict(shape=(3, 4, 5)), dict(shape=(9, 2, 3))],
    "pointwise": [dict(C=1, K=1, H=1, W=1), dict(C=3, K=5, H=1, W=1), dict(C=1, K=3, H=4, W=4),
                  dict(C=9, K=10, H=2, W=3), dict(C=4, K=6, H=3, W=5)],
    "depthwise": [dict(C=1, H=1, W=1, s=1), dict(C=3, H=5, W=5, s=1), dict(C=3, H=5, W=5, s=2),
                  dict(C=9, H=7, W=6, s=2), dict(C=2, H=4, W=4, s=2), dict(C=10, H=3, W=3, s=1),
                  dict(C=1, H=1, W=1, s=2)],
    "conv2d": [dict(C=1, K=1, H=1, W=1, s=1), dict(C=2, K=3, H=5, W=5, s=1), dict(C=3, K=4, H=5, W=7, s=2),
               dict(C=1, K=9, H=4, W=4, s=2), dict(C=5, K=2, H=3, W=3, s=1)],
    "relu": [dict(shape=(1,)), dict(shape=(37,)), dict(shape=(3, 4, 5))],
    "avgpool": [dict(C=1, H=1, W=1), dict(C=3, H=4, W=5), dict(C=9, H=7, W=7), dict(C=10, H=1, W=1),
                dict(C=3, H=4, W=4, k=2), dict(C=9, H=7, W=8, k=3), dict(C=2, H=5, W=5, k=1), dict(C=1, H=3, W=6, k=3)],
    "softmax_ce": [dict(n=1, label=0), dict(n=3, label=2), dict(n=10, label=4), dict(n=37, label=36),
                   dict(n=10, label=1, scale=30.0), dict(n=10, label=3, batch=7)],
    "sgd": [dict(shape=(1,), lr=0.1, m=0.0, wd=0.0), dict(shape=(37,), lr=0.01, m=0.9, wd=5e-4),
            dict(shape=(3, 4, 5), lr=0.05, m=0.5, wd=0.0)],
    "accumulate": [dict(shape=(1,)), dict(shape=(37,)), dict(shape=(3, 4, 5))],
}

CASES = [(n, s, d) for n, ds in DIMS.items() for s in L.LAYERS[n] for d in ds]


def _id(c):
    n, s, d = c
    return f"{n}-{s}-" + "-".join(f"{k}{'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in d.items())


def _reduction(name, step, d):
    C, K, H, W, s = d.get("C", 1), d.get("K", 1), d.get("H", 1), d.get("W", 1), d.get("s", 1)
    Ho, Wo = (H - 1) // s + 1, (W - 1) // s + 1
    return {("linear", "fw"): C, ("linear", "ig"): K, ("pointwise", "fw"): C, ("pointwise", "wg"): H * W,
            ("pointwise", "ig"): K, ("depthwise", "fw"): 9, ("depthwise", "wg"): Ho * Wo, ("depthwise", "ig"): 9,
            ("conv2d", "fw"): 9 * C, ("conv2d", "wg"): Ho * Wo, ("conv2d", "ig"): K + 9}.get((name, step))


def check_golden(name, step, d, inputs, params, out):
    """Compare a run's outputs with pulpsim.workloads.golden under the tolerance of the module docstring."""
    gold = L.golden(name, step, inputs, **params)
    assert set(out) == set(gold)
    for k, g in gold.items():
        o = np.asarray(out[k])
        g = np.asarray(g, np.float32)
        assert o.shape == g.shape and o.dtype == np.float32, (k, o.shape, g.shape)
        Lr = _reduction(name, step, d)
        if Lr is not None:
            mag = L.golden(name, step, {a: np.abs(v) for a, v in inputs.items()}, **params)[k]
            bound = Lr * EPS * mag.astype(np.float64) + np.finfo(np.float32).tiny
        elif (name, step) == ("bias", "wg"):
            hw = inputs["dy"].size // inputs["dy"].shape[0]
            bound = (hw + 1) * EPS * np.abs(inputs["dy"]).reshape(len(g), -1).sum(1, dtype=np.float64)
        elif (name, step) == ("avgpool", "fw") and "k" in params:
            mag = L.golden(name, step, {"x": np.abs(inputs["x"])}, **params)[k]
            bound = (params["k"] ** 2 + 1) * EPS * mag.astype(np.float64) + np.finfo(np.float32).tiny
        elif (name, step) == ("avgpool", "fw"):
            x = inputs["x"]
            bound = ((x[0].size + 1) * EPS * np.abs(x).reshape(len(x), -1).mean(1, dtype=np.float64)).reshape(g.shape)
        elif name == "softmax_ce":
            n = inputs["z"].size
            if k == "loss":
                z = inputs["z"].astype(np.float64)
                zs = z[params["label"]] - z.max()
                bound = (n + 8) * EPS * (abs(np.log(np.exp(z - z.max()).sum())) + abs(zs) + 1)
            else:
                fw = {k: v for k, v in params.items() if k != "batch"}
                p = L.golden(name, "fw", inputs, **fw)["probs"].astype(np.float64) / params.get("batch", 1)
                bound = (n + 8) * EPS * p + np.finfo(np.float32).tiny
        else:   # linear wg, bias fw, relu, avgpool bw, sgd, accumulate: exact
            assert np.array_equal(o, g), (k, np.abs(o - g).max())
            continue
        err = np.abs(o.astype(np.float64) - g.astype(np.float64))
        assert np.all(err <= bound), f"{k}: max error {err.max():.3e}, worst ratio {(err / bound).max():.3f}"


# ------------------------------------------------------------------------------ host build (cffi)

_HOST_CDEF = """
struct ly_args {
    const float *in0, *in1, *in2, *in3;
    float *out0, *out1, *tmp0, *tmp1;
    int C, H, W, K, Ho, Wo, stride, n, label, cores;
    float lr, momentum, wd;
};
float ly_expf(float x);
float ly_logf(float x);
""" + "".join(f"void ly_{n}_{s}(struct ly_args *a);\n" for n in L.LAYERS for s in L.LAYERS[n])


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    md = kr.kernel_dir()
    return build_host_module("_ly_host", '#include "layers.h"\n', _HOST_CDEF, [*L.layer_sources(), md / "matmul.c"],
                             [L.layer_dir(), toolchain.runtime_dir()], tmp_path_factory.mktemp("ly_host"))


def host_run(host, name, step, inputs, **params):
    ffi, lib = host.ffi, host.lib
    pl = L.plan(name, step, inputs, **params)
    keep, fields = [], {}
    for k, a in pl.ins.items():
        keep.append(a)
        fields[k] = ffi.cast("float *", ffi.from_buffer(a))
    outs = {}
    for k, (oname, shape) in pl.outs.items():
        outs[k] = np.full(max(1, int(np.prod(shape))), np.nan, np.float32)
        fields[k] = ffi.cast("float *", ffi.from_buffer(outs[k]))
    for k, n in pl.tmps.items():
        keep.append(np.full(max(n, 8), np.nan, np.float32))
        fields[k] = ffi.cast("float *", ffi.from_buffer(keep[-1]))
    args = ffi.new("struct ly_args *", {**fields, **pl.dims, **pl.fparams, "cores": 1})
    getattr(lib, f"ly_{name}_{step}")(args)
    return {oname: (outs[k].reshape(shape) if shape else np.float32(outs[k][0]))
            for k, (oname, shape) in pl.outs.items()}


def _bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


# ------------------------------------------------------------------------------ tests

def test_layers_table():
    assert set(L.LAYERS) == {"linear", "bias", "pointwise", "depthwise", "conv2d", "relu", "avgpool",
                             "softmax_ce", "sgd", "accumulate"}
    for n, steps in L.LAYERS.items():
        assert steps and all(DIMS[n] for _ in steps)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_vega_against_golden(case):
    name, step, d = case
    inputs, params = _inputs(name, step, d), _params(name, step, d)
    r = L.run_layer(name, step, inputs, platform="vega", cores=8, **params)
    check_golden(name, step, d, inputs, params, r.outputs)
    assert r.cycles > 0
    assert r.macs >= 0 and (r.macs == 0) == (_reduction(name, step, d) is None and (name, step) != ("linear", "wg"))
    assert len(r.stalls) == 8 and r.bank_conflicts >= 0


# One mid-size case per step on pulp-open (64 KiB TCDM, private FPUs).
PULP_OPEN_CASES = [(n, s, DIMS[n][min(2, len(DIMS[n]) - 1)]) for n in DIMS for s in L.LAYERS[n]]


@pytest.mark.parametrize("case", PULP_OPEN_CASES, ids=_id)
def test_pulp_open_against_golden(case):
    name, step, d = case
    inputs, params = _inputs(name, step, d, seed=1), _params(name, step, d)
    r = L.run_layer(name, step, inputs, platform="pulp-open", cores=8, **params)
    check_golden(name, step, d, inputs, params, r.outputs)


# Bit-exact against the native build: the edge-heaviest dims of each layer, plus stride-2 odd inputs.
HOST_CASES = [(n, s, d) for n in DIMS for s in L.LAYERS[n] for d in DIMS[n][1:4]]


@pytest.mark.parametrize("case", HOST_CASES, ids=_id)
def test_uncontracted_build_is_bit_exact_with_host(host, case):
    name, step, d = case
    inputs, params = _inputs(name, step, d, seed=2), _params(name, step, d)
    r = L.run_layer(name, step, inputs, platform="vega", cores=8, contract=False, **params)
    h = host_run(host, name, step, inputs, **params)
    for k in h:
        assert np.array_equal(_bits(r.outputs[k]), _bits(h[k])), (k, r.outputs[k], h[k])
    check_golden(name, step, d, inputs, params, h)   # the host build is within the same bounds


@pytest.mark.parametrize("name,step,d", [("conv2d", "ig", DIMS["conv2d"][2]), ("softmax_ce", "fw", DIMS["softmax_ce"][3]),
                                         ("pointwise", "wg", DIMS["pointwise"][3])])
def test_any_team_size_gives_identical_bits(name, step, d):
    inputs, params = _inputs(name, step, d), _params(name, step, d)
    ref = None
    for cores in (1, 3, 8):
        r = L.run_layer(name, step, inputs, platform="vega", cores=cores, **params)
        if ref is None:
            ref = r.outputs
        else:
            for k in ref:
                assert np.array_equal(_bits(r.outputs[k]), _bits(ref[k]))


def test_parallel_speedup_on_conv2d():
    d = dict(C=4, K=8, H=6, W=6, s=1)
    inputs = _inputs("conv2d", "fw", d)
    r1 = L.run_layer("conv2d", "fw", inputs, platform="pulp-open", cores=1)
    r8 = L.run_layer("conv2d", "fw", inputs, platform="pulp-open", cores=8)
    assert r1.macs == r8.macs == 8 * 4 * 9 * 36
    assert r8.cycles * 3 < r1.cycles, (r1.cycles, r8.cycles)
    assert r8.mac_per_cycle > r1.mac_per_cycle


def _ulps(got, exact):
    """Error of float32 results in units of the last place of the float64 exact values."""
    ex32 = exact.astype(np.float32)
    ulp = np.spacing(np.abs(ex32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / ulp


def test_guest_expf_logf_accuracy(host):
    """The host build of ly_expf / ly_logf (the guest's source, no contraction) against float64 libm:
    within 2 ulp (exp on [-87, 88], log on normal positive floats)."""
    lib = host.lib
    x = np.concatenate([np.linspace(-87, 88, 20001), [0.0, -1e-8, 1e-8, 0.5, -0.5]]).astype(np.float32)
    e = np.array([lib.ly_expf(float(v)) for v in x], np.float32)
    assert _ulps(e, np.exp(x.astype(np.float64))).max() <= 2
    y = np.concatenate([np.geomspace(1.2e-38, 3e38, 20001), np.linspace(0.5, 2.0, 2001)]).astype(np.float32)
    lg = np.array([lib.ly_logf(float(v)) for v in y], np.float32)
    exact = np.log(y.astype(np.float64))
    err = np.abs(lg.astype(np.float64) - exact)
    assert np.all(err <= 2 * np.spacing(np.maximum(np.abs(exact), 1e-30).astype(np.float32)) + 1e-45)
    assert lib.ly_logf(1.0) == 0.0 and lib.ly_expf(0.0) == 1.0
    assert lib.ly_expf(-200.0) == 0.0 and lib.ly_expf(100.0) == float("inf")


# ------------------------------------------------------------------------------ errors

def _cfg(fn, *a, match=None, **k):
    with pytest.raises(ConfigError, match=match):
        fn(*a, **k)


def test_errors():
    x = np.ones((2, 4, 4), np.float32)
    _cfg(L.run_layer, "nope", "fw", {}, match="unknown layer")
    _cfg(L.run_layer, "relu", "wg", {"x": x}, match="no step")
    _cfg(L.run_layer, "relu", "fw", {}, match="missing x")
    _cfg(L.run_layer, "relu", "fw", {"x": x, "y": x}, match="unexpected y")
    _cfg(L.run_layer, "relu", "fw", {"x": x}, cores=9, match="cores")
    _cfg(L.run_layer, "relu", "fw", {"x": x}, stride=2, match="unknown parameter")
    _cfg(L.run_layer, "relu", "fw", {"x": np.zeros((0, 3))}, match="empty")
    _cfg(L.run_layer, "relu", "fw", {"x": np.array(["a"])}, match="numeric")
    _cfg(L.run_layer, "relu", "fw", {"x": np.array([1e300])}, match="float32 range")
    _cfg(L.run_layer, "conv2d", "fw", {"x": x, "W": np.ones((3, 2, 3, 3))}, stride=3, match="stride")
    _cfg(L.run_layer, "conv2d", "fw", {"x": x, "W": np.ones((3, 5, 3, 3))}, match="W shape")
    _cfg(L.run_layer, "conv2d", "ig", {"W": np.ones((3, 2, 3, 3)), "dy": np.ones((3, 2, 2))}, stride=2,
         in_hw=(7, 7), match="in_hw")
    _cfg(L.run_layer, "depthwise", "wg", {"x": x, "dy": np.ones((2, 3, 3))}, match="spatial")
    _cfg(L.run_layer, "linear", "fw", {"x": np.ones(3), "W": np.ones((2, 4))}, match="columns")
    _cfg(L.run_layer, "pointwise", "fw", {"x": np.ones(3), "W": np.ones((2, 3))}, match="dimensions")
    _cfg(L.run_layer, "softmax_ce", "fw", {"z": np.ones(3)}, label=3, match="label")
    _cfg(L.run_layer, "softmax_ce", "fw", {"z": np.ones(3)}, label=0, batch=4, match="only for the gradient")
    _cfg(L.run_layer, "softmax_ce", "bw", {"z": np.ones(3)}, label=0, batch=0, match="batch")
    _cfg(L.run_layer, "accumulate", "step", {"acc": np.ones(3), "g": np.ones(4)}, match="g shape")
    _cfg(L.run_layer, "sgd", "step", {"w": np.ones(3), "g": np.ones(3), "v": np.ones(3)}, match="lr")
    _cfg(L.run_layer, "avgpool", "bw", {"dy": np.ones(3)}, match="in_shape")
    # 16 x 32 x 32 input, 16 x 16 x 3 x 3 weights: im2col alone is 576 KiB, more than any TCDM
    big = {"x": np.ones((16, 32, 32), np.float32), "W": np.ones((16, 16, 3, 3), np.float32)}
    _cfg(L.run_layer, "conv2d", "fw", big, platform="pulp-open", match="TCDM")
    _cfg(L.run_layer, "conv2d", "fw", big, platform="vega", match="TCDM")
    _cfg(L.golden, "conv2d", "fw", {"x": x}, match="missing W")


def test_tcdm_boundary_on_pulp_open():
    # 65536 B TCDM - 8 stacks of 1 KiB - 256 B runtime - 128 B arguments = 56960 B = 2 x 7120 floats
    r = L.run_layer("relu", "fw", {"x": np.arange(-3560, 3560, dtype=np.float32)}, platform="pulp-open")
    assert np.array_equal(r.outputs["y"], np.maximum(np.arange(-3560, 3560, dtype=np.float32), 0))
    _cfg(L.run_layer, "relu", "fw", {"x": np.ones(7121, np.float32)}, platform="pulp-open", match="TCDM")


@pytest.mark.parametrize("d", [DIMS["depthwise"][2], DIMS["depthwise"][3]], ids=lambda d: f"s{d['s']}-{d['H']}x{d['W']}")
def test_depthwise_ig_uncontracted_equals_golden_bits(d):
    """Without contraction the gather adds the rounded products W*dy in golden.col2im's (i, j) order."""
    inputs, params = _inputs("depthwise", "ig", d), _params("depthwise", "ig", d)
    r = L.run_layer("depthwise", "ig", inputs, platform="vega", contract=False, **params)
    assert np.array_equal(_bits(r.outputs["dx"]), _bits(L.golden("depthwise", "ig", inputs, **params)["dx"]))
