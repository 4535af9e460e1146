"""Tiled execution of layers with tensors in L2 (pulpsim.workloads.tiled, kernels/tiling/tiled.c, tmm.c).

Every step is checked two ways: against the numpy reference (pulpsim.workloads.golden) within the float32
error bound of its accumulation chains, and bit for bit against the untiled layer kernel run on
the same data (tiling must not change any element's chain of operations).  The schedules are
checked independently for the double-buffering invariant and the L1 budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from pulpsim.workloads import layers, tiled, tileplan
from pulpsim.errors import ConfigError

from hostbuild import build_host_module

rng = np.random.default_rng(7)


def f(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# (layer, step, inputs, params): odd sizes (not multiples of 4 or of 8 cores), one channel, 1x1 spatial.
CASES = [
    ("pointwise", "fw", lambda: {"x": f(13, 3, 5), "W": f(10, 13)}, {}),
    ("pointwise", "wg", lambda: {"x": f(13, 3, 5), "dy": f(10, 3, 5)}, {}),
    ("pointwise", "ig", lambda: {"W": f(10, 13), "dy": f(10, 3, 5)}, {}),
    ("pointwise", "fw", lambda: {"x": f(1, 1, 1), "W": f(9, 1)}, {}),
    ("pointwise", "wg", lambda: {"x": f(6, 1, 1), "dy": f(7, 1, 1)}, {}),
    ("linear", "fw", lambda: {"x": f(37), "W": f(11, 37)}, {}),
    ("linear", "wg", lambda: {"x": f(37), "dy": f(11)}, {}),
    ("linear", "ig", lambda: {"W": f(11, 37), "dy": f(11)}, {}),
    ("depthwise", "fw", lambda: {"x": f(11, 7, 6), "W": f(11, 3, 3)}, {"stride": 1}),
    ("depthwise", "fw", lambda: {"x": f(11, 7, 7), "W": f(11, 3, 3)}, {"stride": 2}),
    ("depthwise", "wg", lambda: {"x": f(11, 7, 7), "dy": f(11, 4, 4)}, {"stride": 2}),
    ("depthwise", "wg", lambda: {"x": f(1, 5, 5), "dy": f(1, 5, 5)}, {"stride": 1}),
    ("depthwise", "ig", lambda: {"W": f(11, 3, 3), "dy": f(11, 6, 5)}, {"stride": 1}),
    ("depthwise", "ig", lambda: {"W": f(11, 3, 3), "dy": f(11, 4, 4)}, {"stride": 2, "in_hw": (7, 7)}),
    ("avgpool", "fw", lambda: {"x": f(19, 4, 4)}, {}),
    ("avgpool", "bw", lambda: {"dy": f(19)}, {"in_shape": (19, 4, 4)}),
    ("avgpool", "fw", lambda: {"x": f(5, 7, 8)}, {"k": 3}),
    ("avgpool", "bw", lambda: {"dy": f(5, 2, 2)}, {"k": 3, "in_shape": (5, 7, 8)}),
    ("relu", "fw", lambda: {"x": f(101)}, {}),
    ("relu", "bw", lambda: {"x": f(101), "dy": f(101)}, {}),
    ("softmax_ce", "fw", lambda: {"z": f(50)}, {"label": 7}),
    ("softmax_ce", "bw", lambda: {"z": f(37) * 4}, {"label": 36}),
    ("sgd", "step", lambda: {"w": f(203), "g": f(203), "v": f(203)},
     {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}),
    ("softmax_ce", "bw", lambda: {"z": f(37) * 4}, {"label": 5, "batch": 3}),
    ("bias", "fw", lambda: {"y": f(11, 3, 5), "b": f(11)}, {}),
    ("bias", "fw", lambda: {"y": f(37), "b": f(37)}, {}),
    ("bias", "wg", lambda: {"dy": f(11, 3, 5)}, {}),
    ("bias", "wg", lambda: {"dy": f(23, 1, 1)}, {}),
    ("accumulate", "step", lambda: {"acc": f(203), "g": f(203)}, {}),
]


def _flat(d):
    (k, v), = d.items()
    return k, v


@pytest.mark.parametrize("double", [True, False], ids=["double", "single"])
@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_tiled_matches_golden_and_untiled(case, double):
    name, step, make, params = CASES[case]
    inputs = make()
    budget = 1200  # a few hundred floats: several tiles for every case but the smallest
    r = tiled.run_tiled(name, step, inputs, platform="vega", cores=8, double_buffer=double, l1_budget=budget,
                        **params)
    assert r.plan.l1_bytes <= budget
    assert tiled.within_bound(name, step, inputs, r.outputs, **params)
    ref = layers.run_layer(name, step, inputs, platform="vega", cores=8, **params)
    assert set(r.outputs) == set(ref.outputs)
    for k, out in r.outputs.items():
        np.testing.assert_array_equal(out.reshape(ref.outputs[k].shape), ref.outputs[k])
    assert r.cycles >= r.compute_cycles > 0
    assert r.macs == ref.macs


def test_many_tiles_really_happen():
    inputs = {"x": f(13, 3, 5), "W": f(10, 13)}
    r = tiled.run_tiled("pointwise", "fw", inputs, platform="vega", l1_budget=1200)
    assert r.steps >= 4


@pytest.mark.parametrize("step,layout_tiles", [("fw", {"tm": 8, "tn": 4, "tk": 3}),
                                               ("wg", {"tm": 4, "tn": 8, "tk": 2}),
                                               ("ig", {"tm": 5, "tn": 6, "tk": 4})])
def test_reduction_split_in_chunks_is_bit_exact(step, layout_tiles):
    """K split into chunks (accumulating in L1) gives the same bits as one pass."""
    x, W, dy = f(10, 2, 3), f(9, 10), f(9, 2, 3)
    inputs = {"fw": {"x": x, "W": W}, "wg": {"x": x, "dy": dy}, "ig": {"W": W, "dy": dy}}[step]
    r = tiled.run_tiled("pointwise", step, inputs, platform="vega", tiles=layout_tiles)
    assert r.tiles == layout_tiles
    first_steps = [s for s in r.plan.steps if s.flags & tileplan.FIRST]
    assert len(r.plan.steps) > len(first_steps)          # some output tiles took several chunks
    ref = layers.run_layer("pointwise", step, inputs, platform="vega")
    k, out = _flat(r.outputs)
    np.testing.assert_array_equal(out, ref.outputs[k])


def _ranges(xfers):
    return [(x.loc, x.loc + x.size) for x in xfers]


def _overlap(a, b):
    return any(lo1 < hi2 and lo2 < hi1 for lo1, hi1 in a for lo2, hi2 in b)


@pytest.mark.parametrize("name,step,shapes,params", [
    ("pointwise", "wg", {"x": (37, 6, 6), "dy": (29, 6, 6)}, {}),
    ("pointwise", "ig", {"W": (29, 37), "dy": (29, 6, 6)}, {}),
    ("linear", "fw", {"x": (300,), "W": (21, 300)}, {}),
    ("depthwise", "wg", {"x": (40, 9, 9), "dy": (40, 5, 5)}, {"stride": 2}),
])
@pytest.mark.parametrize("double", [True, False])
def test_schedule_invariants(name, step, shapes, params, double):
    """Every L1 range lies in the budget; double-buffered, the loads issued for step i+1 never touch what
    step i computes on or stores from, nor an output tile whose store may still be in flight."""
    budget = 6000
    inputs = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    tp = tiled.plan_tiles(name, step, inputs, budget, double_buffer=double, **params)
    assert len(tp.steps) > 2
    for s in tp.steps:
        for lo, hi in _ranges(s.loads + s.stores):
            assert 0 <= lo < hi <= budget
    if not double:
        return
    for i in range(len(tp.steps) - 1):
        cur, nxt = tp.steps[i], tp.steps[i + 1]
        reads = _ranges(cur.loads) + [(a, a + 1) for a in cur.args[:cur.nptr] if a is not None]
        assert not _overlap(_ranges(nxt.loads), reads)
        assert not _overlap(_ranges(nxt.loads), _ranges(cur.stores))
    # Output tiles alternate between two buffers: the stores of one are never overwritten by the next.
    lasts = [s for s in tp.steps if s.flags & tileplan.LAST]
    for a, b in zip(lasts, lasts[1:]):
        assert a.obuf != b.obuf
        assert not _overlap(_ranges(a.stores), _ranges(b.stores))


def test_double_buffering_hides_the_dma():
    """Many pointwise tiles: the DMA wait of the double-buffered schedule is under half the single one's."""
    inputs = {"x": f(32, 8, 8), "W": f(48, 32)}
    tiles = {"tm": 16, "tn": 16, "tk": 32}
    d = tiled.run_tiled("pointwise", "fw", inputs, platform="vega", tiles=tiles, double_buffer=True)
    s = tiled.run_tiled("pointwise", "fw", inputs, platform="vega", tiles=tiles, double_buffer=False)
    np.testing.assert_array_equal(d.outputs["y"], s.outputs["y"])
    assert d.steps == s.steps == 12
    assert d.dma_wait_cycles < 0.5 * s.dma_wait_cycles
    assert d.cycles < s.cycles


def test_bad_requests_are_clear_errors():
    x, W = f(8, 2, 2), f(4, 8)
    with pytest.raises(ConfigError, match="too small"):
        tiled.run_tiled("pointwise", "fw", {"x": x, "W": W}, platform="vega", l1_budget=16)
    with pytest.raises(ConfigError, match="not tiled"):
        tiled.run_tiled("conv2d", "fw", {"x": x, "W": W}, platform="vega")
    with pytest.raises(ConfigError, match="no step"):
        tiled.run_tiled("pointwise", "bw", {"x": x, "W": W}, platform="vega")
    with pytest.raises(ConfigError, match="exceeds"):
        tiled.run_tiled("pointwise", "fw", {"x": x, "W": W}, platform="vega", l1_budget=10**7)
    for bad in ({"tm": 0}, {"tc": 4}, {"tm": 2.5}, []):
        with pytest.raises(ConfigError, match="tile"):
            tiled.run_tiled("pointwise", "fw", {"x": x, "W": W}, platform="vega", tiles=bad)
    with pytest.raises(ConfigError, match="l1_budget"):
        tiled.run_tiled("pointwise", "fw", {"x": x, "W": W}, platform="vega", l1_budget="big")
    with pytest.raises(ConfigError, match="L2"):
        tiled.run_tiled("pointwise", "fw", {"x": f(64, 32, 32), "W": f(512, 64)}, platform="vega")


# ------------------------------------------------------------------------------ host builds (cffi)

_HOST_SRC = r"""
#include <math.h>
#include "tmm.h"
/* C (+)= op(A) @ op(B) as one chain per element in increasing k: fused (fmaf) or mul-then-add. */
void ref_chain(const float *A, const float *B, float *C, int M, int N, int K, int layout, int acc, int fused)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = acc ? C[i * N + j] : 0.0f;
            for (int k = 0; k < K; k++) {
                float a = layout == TMM_TN ? A[k * M + i] : A[i * K + k];
                float b = layout == TMM_NT ? B[j * K + k] : B[k * N + j];
                if (fused)
                    s = fmaf(a, b, s);
                else {
                    volatile float p = a * b;
                    s = s + p;
                }
            }
            C[i * N + j] = s;
        }
}
"""

_HOST_CDEF = """
struct tmm_args { const float *A; const float *B; float *C; int M, N, K; int layout; int acc; };
void tmm_kernel(void *args);
void ref_chain(const float *A, const float *B, float *C, int M, int N, int K, int layout, int acc, int fused);
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    return build_host_module("_tmm_host", _HOST_SRC, _HOST_CDEF, [tiled.tiled_dir() / "tmm.c"], [tiled.tiled_dir()],
                             tmp_path_factory.mktemp("tmm_host"))


def _host_mm(host, fn, A, B, C0, M, N, K, layout, acc, fused=0):
    ffi, lib = host.ffi, host.lib
    A, B = np.ascontiguousarray(A, np.float32), np.ascontiguousarray(B, np.float32)
    C = np.ascontiguousarray(C0, np.float32).copy()
    pa, pb, pc = (ffi.cast("float *", ffi.from_buffer(x)) for x in (A, B, C))
    if fn == "tmm":
        lib.tmm_kernel(ffi.new("struct tmm_args *", {"A": pa, "B": pb, "C": pc, "M": M, "N": N, "K": K,
                                                     "layout": layout, "acc": acc}))
    else:
        lib.ref_chain(pa, pb, pc, M, N, K, layout, acc, fused)
    return C


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (4, 4, 4), (7, 5, 9), (1, 13, 6), (9, 1, 3), (12, 8, 1)])
@pytest.mark.parametrize("layout", [tileplan.TMM_NN, tileplan.TMM_TN, tileplan.TMM_NT], ids=["NN", "TN", "NT"])
@pytest.mark.parametrize("acc", [0, 1])
def test_host_build_of_the_tile_matmul(host, M, N, K, layout, acc):
    """tmm.c compiled natively: every layout and accumulate mode equals a plain chain, and numpy within bound."""
    A = f(K, M) if layout == tileplan.TMM_TN else f(M, K)
    B = f(N, K) if layout == tileplan.TMM_NT else f(K, N)
    C0 = f(M, N)
    got = _host_mm(host, "tmm", A, B, C0, M, N, K, layout, acc)
    want = _host_mm(host, "ref", A, B, C0, M, N, K, layout, acc)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    opA = (A.T if layout == tileplan.TMM_TN else A).astype(np.float64)
    opB = (B.T if layout == tileplan.TMM_NT else B).astype(np.float64)
    exact = opA @ opB + (C0.astype(np.float64) if acc else 0)
    mag = np.abs(opA) @ np.abs(opB) + (np.abs(C0.astype(np.float64)) if acc else 0)
    assert np.all(np.abs(got - exact) <= (K + 1) * np.finfo(np.float32).eps * mag)


@pytest.mark.parametrize("step", ["fw", "wg", "ig"])
def test_simulated_tiles_equal_a_host_fused_chain(host, step):
    """The simulator's tiled pointwise steps (fmadd.s chains over K chunks) equal fmaf chains on the host, bit for
    bit: an independent check of the ISA's fused multiply-add, the tiling and the operand layouts together."""
    x, W, dy = f(10, 3, 3), f(7, 10), f(7, 3, 3)
    inputs = {"fw": {"x": x, "W": W}, "wg": {"x": x, "dy": dy}, "ig": {"W": W, "dy": dy}}[step]
    r = tiled.run_tiled("pointwise", step, inputs, platform="vega", tiles={"tm": 4, "tn": 5, "tk": 3})
    x2, dy2 = x.reshape(10, 9), dy.reshape(7, 9)
    M, N, K, lay, A, B = {"fw": (7, 9, 10, tileplan.TMM_NN, W, x2), "wg": (7, 10, 9, tileplan.TMM_NT, dy2, x2),
                          "ig": (10, 9, 7, tileplan.TMM_TN, W, dy2)}[step]
    want = _host_mm(host, "ref", A, B, np.zeros((M, N), np.float32), M, N, K, lay, 0, fused=1)
    (k, got), = r.outputs.items()
    np.testing.assert_array_equal(got.reshape(M, N).view(np.uint32), want.view(np.uint32))


def test_no_transfer_exceeds_the_dma_length_field():
    """A large budget still yields transfers the 17-bit MCHAN length field can hold."""
    for name, step, inputs in [("relu", "fw", {"x": np.zeros(100_000, np.float32)}),
                               ("pointwise", "fw", {"x": np.zeros((300, 20, 20), np.float32),
                                                    "W": np.zeros((300, 300), np.float32)})]:
        tp = tiled.plan_tiles(name, step, inputs, 10**7, double_buffer=False)
        assert all(x.size <= tileplan.DMA_MAX_BYTES for s in tp.steps for x in s.loads + s.stores)


# ------------------------------------------------------------------------------ sequences


def _forward_chain():
    t = {"x0": f(12, 6, 6), "w1": f(20, 12), "wd": f(20, 3, 3), "wf": f(5, 20)}
    seq = [("pointwise", "fw", {"x": "x0", "W": "w1"}, {"y": "z1"}),
           ("relu", "fw", {"x": "z1"}, {"y": "a1"}),
           ("depthwise", "fw", {"x": "a1", "W": "wd"}, {"y": "z2"}, {"stride": 2}),
           ("avgpool", "fw", {"x": "z2"}, {"y": "p"}),
           ("linear", "fw", {"x": ("p", (20,)), "W": "wf"}, {"y": "out"}),
           ("softmax_ce", "bw", {"z": "out"}, {"dz": "dout"}, {"label": 2})]
    return t, seq


@pytest.mark.parametrize("double", [True, False], ids=["double", "single"])
def test_sequence_equals_the_steps_run_one_by_one(double):
    """Each step of a chained run reads what the previous ones wrote (the sync drains the stores first):
    every tensor equals running the steps separately on the previous step's simulated output."""
    t, seq = _forward_chain()
    r = tiled.run_sequence(seq, t, platform="vega", double_buffer=double, l1_budget=1600)
    assert set(r.tensors) == {"z1", "a1", "z2", "p", "out", "dout"}
    env = dict(t)
    for st in seq:
        layer, step, ins, outs = st[:4]
        params = st[4] if len(st) > 4 else {}
        feed = {k: (env[v] if isinstance(v, str) else env[v[0]].reshape(v[1])) for k, v in ins.items()}
        one = tiled.run_tiled(layer, step, feed, platform="vega", double_buffer=double, l1_budget=1600, **params)
        (local, name), = outs.items()
        np.testing.assert_array_equal(r.tensors[name], one.outputs[local])
        env[name] = r.tensors[name]
    assert len(r.layers) == 6 and all(lay.cycles > 0 for lay in r.layers)
    assert sum(lay.cycles for lay in r.layers) <= r.cycles
    assert r.layers[0].macs == 20 * 12 * 36 and r.macs == sum(lay.macs for lay in r.layers)


def test_sequence_backward_chain_against_numpy():
    """A backward chain: the input gradient of a pointwise layer through ReLU, the weight gradient that
    uses it and the SGD update of the weights, against the numpy reference of each step."""
    x, W1, W2, dy = f(8, 4, 4), f(10, 8), f(6, 10), f(6, 4, 4)
    z1 = layers.golden("pointwise", "fw", {"x": x, "W": W1})["y"]
    seq = [("pointwise", "ig", {"W": "W2", "dy": "dy"}, {"dx": "da1"}),
           ("relu", "bw", {"x": "z1", "dy": "da1"}, {"dx": "dz1"}),
           ("pointwise", "wg", {"x": "x", "dy": "dz1"}, {"dW": "dW1"}),
           ("sgd", "step", {"w": "W1", "g": "dW1", "v": "v1"}, {"w": "W1n", "v": "v1n"},
            {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3})]
    v1 = f(10, 8)
    r = tiled.run_sequence(seq, {"x": x, "W2": W2, "dy": dy, "z1": z1, "W1": W1, "v1": v1}, platform="vega",
                           l1_budget=2000)
    w_ref, v_ref = layers.golden("sgd", "step", {"w": W1, "g": r.tensors["dW1"], "v": v1}, lr=0.05, momentum=0.9,
                                 weight_decay=1e-3).values()
    np.testing.assert_array_equal(r.tensors["W1n"], w_ref)
    np.testing.assert_array_equal(r.tensors["v1n"], v_ref)
    da1 = layers.golden("pointwise", "ig", {"W": W2, "dy": dy})["dx"]
    assert tiled.within_bound("pointwise", "ig", {"W": W2, "dy": dy}, {"dx": r.tensors["da1"]})
    dz1 = r.tensors["dz1"]
    np.testing.assert_array_equal(dz1, np.where(z1 > 0, r.tensors["da1"], 0).astype(np.float32))
    assert tiled.within_bound("pointwise", "wg", {"x": x, "dy": dz1}, {"dW": r.tensors["dW1"]})
    assert np.allclose(r.tensors["da1"], da1, rtol=1e-4, atol=1e-5)


def test_sequence_errors():
    t, seq = _forward_chain()
    with pytest.raises(ConfigError, match="neither given"):
        tiled.run_sequence([("relu", "fw", {"x": "nope"}, {"y": "a"})], t, platform="vega")
    with pytest.raises(ConfigError, match="already"):
        tiled.run_sequence([("relu", "fw", {"x": "x0"}, {"y": "w1"})], t, platform="vega")
    with pytest.raises(ConfigError, match="must map"):
        tiled.run_sequence([("relu", "fw", {"z": "x0"}, {"y": "a"})], t, platform="vega")
    with pytest.raises(ConfigError, match="not a tiled"):
        tiled.run_sequence([("conv2d", "fw", {"x": "x0", "W": "w1"}, {"y": "a"})], t, platform="vega")
    with pytest.raises(ConfigError, match="steps"):
        tiled.run_sequence([], t, platform="vega")
    with pytest.raises(ConfigError, match="view"):
        tiled.run_sequence([("relu", "fw", {"x": ("x0", (5,))}, {"y": "a"})], t, platform="vega")
    with pytest.raises(ConfigError, match="each step"):
        tiled.run_sequence([("relu",)], t, platform="vega")


def test_a_whole_training_step_as_one_sequence():
    """Forward pass, loss gradient, backward pass and SGD of a small pointwise + ReLU + pool + linear net in one
    program, against the same step computed in float64 with numpy."""
    C, K, H, n = 6, 12, 3, 5
    x, W1, W2 = f(C, H, H), f(K, C) * 0.5, f(n, K) * 0.5
    v1, v2 = np.zeros((K, C), np.float32), np.zeros((n, K), np.float32)
    label, sgd = 3, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
    seq = [("pointwise", "fw", {"x": "x", "W": "W1"}, {"y": "z1"}),
           ("relu", "fw", {"x": "z1"}, {"y": "a1"}),
           ("avgpool", "fw", {"x": "a1"}, {"y": "p"}),
           ("linear", "fw", {"x": ("p", (K,)), "W": "W2"}, {"y": "logits"}),
           ("softmax_ce", "fw", {"z": "logits"}, {"probs": "probs", "loss": "loss"}, {"label": label}),
           ("softmax_ce", "bw", {"z": "logits"}, {"dz": "dlogits"}, {"label": label}),
           ("linear", "wg", {"x": ("p", (K,)), "dy": "dlogits"}, {"dW": "dW2"}),
           ("linear", "ig", {"W": "W2", "dy": "dlogits"}, {"dx": "dp"}),
           ("avgpool", "bw", {"dy": "dp"}, {"dx": "da1"}, {"in_shape": (K, H, H)}),
           ("relu", "bw", {"x": "z1", "dy": "da1"}, {"dx": "dz1"}),
           ("pointwise", "wg", {"x": "x", "dy": "dz1"}, {"dW": "dW1"}),
           ("sgd", "step", {"w": "W1", "g": "dW1", "v": "v1"}, {"w": "W1n", "v": "v1n"}, sgd),
           ("sgd", "step", {"w": "W2", "g": "dW2", "v": "v2"}, {"w": "W2n", "v": "v2n"}, sgd)]
    r = tiled.run_sequence(seq, {"x": x, "W1": W1, "W2": W2, "v1": v1, "v2": v2}, platform="vega", l1_budget=4000)

    X, A1, A2 = x.astype(np.float64).reshape(C, -1), W1.astype(np.float64), W2.astype(np.float64)
    z1 = A1 @ X
    a1 = np.maximum(z1, 0)
    p = a1.mean(axis=1)
    logits = A2 @ p
    e = np.exp(logits - logits.max())
    probs = e / e.sum()
    loss = -np.log(probs[label])
    dlog = probs - np.eye(n)[label]
    dW2 = np.outer(dlog, p)
    da1 = np.repeat((A2.T @ dlog)[:, None] / (H * H), H * H, axis=1)
    dW1 = (da1 * (z1 > 0)) @ X.T

    def updated(w, g):
        v = g + sgd["weight_decay"] * w
        return w - sgd["lr"] * v

    assert abs(float(r.tensors["loss"]) - loss) <= 1e-5 * max(1.0, loss)
    np.testing.assert_allclose(r.tensors["dW1"], dW1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r.tensors["W1n"], updated(A1, dW1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.tensors["W2n"], updated(A2, dW2), rtol=1e-5, atol=1e-6)
    assert [lay.layer for lay in r.layers][-2:] == ["sgd", "sgd"] and r.macs > 0
