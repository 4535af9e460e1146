"""MobileNet-V1 layer list against the published architecture, and the numpy passes against
independent references (hand formulas, direct loops, finite differences)."""

import numpy as np
import pytest

from pulpsim.cl import model, nn
from pulpsim.errors import ConfigError

# MobileNet-V1 alpha 1.0 at 128x128, as tabulated for the Latent Replay code (Pellegrini et al.,
# ar1-pytorch indices; Caffe layer names of the Latent-Replay repository):
# (index, type, in C, in H, out C, out H, forward MACs, params, out elements).
PAPER_TABLE = [
    (0, "conv", 3, 128, 32, 64, 3_538_944, 864, 131_072),
    (1, "dw", 32, 64, 32, 64, 1_179_648, 288, 131_072),
    (2, "pw", 32, 64, 64, 64, 8_388_608, 2_048, 262_144),
    (3, "dw", 64, 64, 64, 32, 589_824, 576, 65_536),
    (4, "pw", 64, 32, 128, 32, 8_388_608, 8_192, 131_072),
    (5, "dw", 128, 32, 128, 32, 1_179_648, 1_152, 131_072),
    (6, "pw", 128, 32, 128, 32, 16_777_216, 16_384, 131_072),
    (7, "dw", 128, 32, 128, 16, 294_912, 1_152, 32_768),
    (8, "pw", 128, 16, 256, 16, 8_388_608, 32_768, 65_536),
    (9, "dw", 256, 16, 256, 16, 589_824, 2_304, 65_536),
    (10, "pw", 256, 16, 256, 16, 16_777_216, 65_536, 65_536),
    (11, "dw", 256, 16, 256, 8, 147_456, 2_304, 16_384),
    (12, "pw", 256, 8, 512, 8, 8_388_608, 131_072, 32_768),
    (13, "dw", 512, 8, 512, 8, 294_912, 4_608, 32_768),
    (14, "pw", 512, 8, 512, 8, 16_777_216, 262_144, 32_768),
    (15, "dw", 512, 8, 512, 8, 294_912, 4_608, 32_768),
    (16, "pw", 512, 8, 512, 8, 16_777_216, 262_144, 32_768),
    (17, "dw", 512, 8, 512, 8, 294_912, 4_608, 32_768),
    (18, "pw", 512, 8, 512, 8, 16_777_216, 262_144, 32_768),
    (19, "dw", 512, 8, 512, 8, 294_912, 4_608, 32_768),
    (20, "pw", 512, 8, 512, 8, 16_777_216, 262_144, 32_768),
    (21, "dw", 512, 8, 512, 8, 294_912, 4_608, 32_768),
    (22, "pw", 512, 8, 512, 8, 16_777_216, 262_144, 32_768),
    (23, "dw", 512, 8, 512, 4, 73_728, 4_608, 8_192),
    (24, "pw", 512, 4, 1024, 4, 8_388_608, 524_288, 16_384),
    (25, "dw", 1024, 4, 1024, 4, 147_456, 9_216, 16_384),
    (26, "pw", 1024, 4, 1024, 4, 16_777_216, 1_048_576, 16_384),
    (27, "pool", 1024, 4, 1024, 1, 0, 0, 1_024),
    (28, "fc", 1024, 1, 50, 1, 51_200, 51_200, 50),
]

# Per candidate LR layer: frozen MACs (M), adaptive forward MACs (M), adaptive params,
# train MACs per sample (M), rounded as published.
PAPER_STAGES = {
    13: (74.9, 110.50, 2_967_040, 314.7), 15: (92.0, 93.43, 2_700_288, 263.5),
    17: (109.1, 76.36, 2_433_536, 212.3), 19: (126.1, 59.29, 2_166_784, 161.1),
    21: (143.2, 42.22, 1_900_032, 109.9), 23: (160.1, 25.36, 1_633_280, 67.7),
    25: (168.6, 16.83, 1_099_776, 33.7), 27: (185.4, 0.05, 51_200, 0.1),
}


def hand_counts(kind, cin, hin, cout, hout):
    """MACs and params from the textbook formulas: a KxK conv costs K*K*Cin*Cout*Ho*Wo MACs and
    K*K*Cin*Cout weights; a depthwise conv K*K*C*Ho*Wo and K*K*C; a 1x1 conv Cin*Cout*H*W and
    Cin*Cout; fc Cin*Cout; the average pool no MAC and no weight."""
    return {
        "conv": (9 * cin * cout * hout * hout, 9 * cin * cout),
        "dw": (9 * cin * hout * hout, 9 * cin),
        "pw": (cin * cout * hout * hout, cin * cout),
        "fc": (cin * cout, cin * cout),
        "pool": (0, 0),
    }[kind]


def test_paper_scale_layers_match_the_published_table():
    layers = model.mobilenet_v1(1.0, 128, 50)
    assert len(layers) == len(PAPER_TABLE)
    for l, (idx, kind, cin, hin, cout, hout, macs, params, out_elems) in zip(layers, PAPER_TABLE):
        assert hand_counts(kind, cin, hin, cout, hout) == (macs, params), idx  # the table is consistent
        assert (l.index, l.kind) == (idx, kind)
        assert l.in_shape[:2] == (cin, hin) and l.out_shape[:2] == (cout, hout), idx
        assert (l.macs, l.params, l.out_elems) == (macs, params, out_elems), idx
    assert round(model.total_macs(layers) / 1e6, 1) == 185.4
    assert round(model.total_params(layers) / 1e6, 3) == 3.236
    assert layers[19].name == "conv5_4/dw" and layers[27].name == "pool6"


@pytest.mark.parametrize("idx", sorted(PAPER_STAGES))
def test_stage_split_matches_published_compute(idx):
    layers = model.mobilenet_v1()
    frozen, adaptive = model.split(layers, idx)
    assert frozen[-1].index == idx and adaptive[0].index == idx + 1 and len(frozen) + len(adaptive) == 29
    fm, am, ap, tm = PAPER_STAGES[idx]
    assert round(model.total_macs(frozen) / 1e6, 1) == fm
    assert round(model.total_macs(adaptive) / 1e6, 2) == am
    assert model.total_params(adaptive) == ap
    assert round(model.train_macs(adaptive) / 1e6, 1) == tm


@pytest.mark.parametrize("width,res", [(0.5, 160), (0.25, 64), (0.75, 224)])
def test_width_and_resolution_follow_the_formulas(width, res):
    layers = model.mobilenet_v1(width, res, 10)
    base = [32, 32, 64, 64, 128, 128, 128, 128, 256, 256, 256, 256, 512] + [512] * 10 + [512, 1024, 1024, 1024, 1024]
    strides = {0: 2, 3: 2, 7: 2, 11: 2, 23: 2}
    h = res
    for l in layers[:27]:
        assert l.out_shape[0] == int(base[l.index] * width)
        h = -(-h // strides.get(l.index, 1))  # a stride-2 3x3 conv with padding 1 gives ceil(H/2)
        assert l.out_shape[1:] == (h, h)
        assert (l.macs, l.params) == hand_counts(l.kind, l.in_shape[0], l.in_shape[1], l.out_shape[0], h)
    assert h == res // 32
    assert layers[28].out_shape == (10, 1, 1) and layers[28].in_shape == (int(1024 * width), 1, 1)


def test_lr_layer_choice():
    layers = model.mobilenet_v1()
    assert model.lr_candidates(layers) == (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27)
    assert model.lr_shape(layers, 23) == (512, 4, 4) and model.lr_shape(layers, 27) == (1024, 1, 1)
    for bad in (0, 20, 28, 29, -1, "19", 19.0, True):
        with pytest.raises(ConfigError, match="unknown LR layer"):
            model.split(layers, bad)


@pytest.mark.parametrize("kw", [dict(width=0), dict(width=-1.0), dict(resolution=100), dict(resolution=0),
                                dict(num_classes=1)])
def test_bad_configuration_is_a_config_error(kw):
    with pytest.raises(ConfigError):
        model.mobilenet_v1(**kw)


# ------------------------------------------------------------------------------------------
# numerics
# ------------------------------------------------------------------------------------------

TINY = model.mobilenet_v1(0.125, 32, 5)   # channels 4..128, spatial 32 -> 1


def direct_linear(layer, W, x):
    """Textbook loops (padding 1 for 3x3) over a batch, float64."""
    n, c, h, w = x.shape
    if layer.kind == "pool":
        return x.mean(axis=(2, 3), keepdims=True)
    if layer.kind in ("pw", "fc"):
        return np.einsum("kc,nchw->nkhw", W, x)
    s = layer.stride
    ho = (h - 1) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    taps = np.empty((n, c, 3, 3, ho, ho))
    for i in range(3):
        for j in range(3):
            taps[:, :, i, j] = xp[:, :, i:i + s * ho:s, j:j + s * ho:s]
    if layer.kind == "dw":
        return np.einsum("cij,ncijhw->nchw", W, taps)
    return np.einsum("kcij,ncijhw->nkhw", W, taps)


@pytest.mark.parametrize("idx", [0, 1, 2, 3, 27, 28])
def test_batched_layers_match_direct_loops(idx):
    rng = np.random.default_rng(idx)
    l = TINY[idx]
    x = rng.standard_normal((3, *l.in_shape))
    W = rng.standard_normal(l.weight_shape) if l.weight_shape else None
    np.testing.assert_allclose(nn.linear_forward(l, W, x), direct_linear(l, W, x), rtol=1e-12, atol=1e-12)


def _loss(layers, params, x, labels, batch_stats):
    return nn.softmax_cross_entropy(nn.forward(layers, params, x, batch_stats=batch_stats), labels)[0]


@pytest.mark.parametrize("batchnorm,batch_stats", [(True, True), (True, False), (False, False)])
def test_backward_matches_finite_differences(batchnorm, batch_stats):
    rng = np.random.default_rng(1)
    params = nn.init_params(TINY, rng, batchnorm=batchnorm, dtype=np.float64)
    for p in params.values():   # move BN away from identity so every term of its gradient matters
        if "gamma" in p:
            k = p["gamma"].size
            p.update(gamma=rng.uniform(0.5, 1.5, k), beta=rng.normal(0, 0.1, k),
                     mean=rng.normal(0, 0.1, k), var=rng.uniform(0.5, 2, k))
        elif "b" in p:
            p["b"] = rng.normal(0, 0.1, p["b"].size)
    params[28]["b"] = rng.normal(0, 0.1, 5)
    x = rng.standard_normal((4, 3, 32, 32))
    labels = np.array([0, 3, 1, 4])
    trace = nn.Trace()
    logits = nn.forward(TINY, params, x, batch_stats=batch_stats, trace=trace)
    _, dlogits = nn.softmax_cross_entropy(logits, labels)
    grads, dx = nn.backward(TINY, params, trace, dlogits, need_dx=True)
    eps = 1e-6
    checks = [(0, "W", (1, 2, 0, 1)), (1, "W", (2, 1, 1)), (2, "W", (3, 1)), (25, "W", (7, 0)),
              (26, "W", (11, 5)), (28, "W", (2, 9)), (28, "b", (4,))]
    checks += [(0, "gamma", (1,)), (13, "beta", (2,))] if batchnorm else [(0, "b", (1,)), (13, "b", (2,))]
    for i, key, pos in checks:
        orig = params[i][key][pos]
        params[i][key][pos] = orig + eps
        up = _loss(TINY, params, x, labels, batch_stats)
        params[i][key][pos] = orig - eps
        down = _loss(TINY, params, x, labels, batch_stats)
        params[i][key][pos] = orig
        assert grads[i][key][pos] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8), (i, key)
    for pos in [(0, 1, 5, 7), (3, 2, 31, 0)]:
        xp, xm = x.copy(), x.copy()
        xp[pos] += eps
        xm[pos] -= eps
        fd = (_loss(TINY, params, xp, labels, batch_stats) - _loss(TINY, params, xm, labels, batch_stats)) / (2 * eps)
        assert dx[pos] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_first_layer_of_a_stage_skips_its_input_gradient():
    rng = np.random.default_rng(2)
    _, adaptive = model.split(TINY, 19)
    params = nn.init_params(adaptive, rng, batchnorm=False)
    trace = nn.Trace()
    x = rng.random((2, *adaptive[0].in_shape)).astype(np.float32)
    out = nn.forward(adaptive, params, x, trace=trace)
    grads, dx = nn.backward(adaptive, params, trace, np.ones_like(out))
    assert dx is None and sorted(grads) == [20, 21, 22, 23, 24, 25, 26, 28]
    assert all(v.dtype == np.float32 for gl in grads.values() for v in gl.values())


def test_folded_batchnorm_equals_inference_batchnorm():
    rng = np.random.default_rng(3)
    params = nn.init_params(TINY, rng, dtype=np.float64)
    for p in params.values():
        if "gamma" in p:
            k = p["gamma"].size
            p.update(gamma=rng.uniform(0.5, 1.5, k), beta=rng.normal(0, 0.5, k),
                     mean=rng.normal(0, 0.5, k), var=rng.uniform(0.5, 2, k))
    x = rng.standard_normal((2, 3, 32, 32))
    folded = nn.fold_batchnorm(TINY, params)
    assert all("gamma" not in p for p in folded.values())
    np.testing.assert_allclose(nn.forward(TINY, folded, x), nn.forward(TINY, params, x), rtol=1e-10, atol=1e-12)


def test_running_statistics_follow_the_pytorch_rule():
    rng = np.random.default_rng(4)
    layers = TINY[:1]
    params = nn.init_params(layers, rng, dtype=np.float64)
    x = rng.standard_normal((3, 3, 32, 32))
    trace = nn.Trace()
    nn.forward(layers, params, x, batch_stats=True, trace=trace)
    new = nn.update_running_stats(params, trace, momentum=0.25)
    z = direct_linear(layers[0], params[0]["W"], x)
    np.testing.assert_allclose(new[0]["mean"], 0.75 * 0 + 0.25 * z.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(new[0]["var"], 0.75 * 1 + 0.25 * z.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    assert params[0]["mean"].max() == 0  # the input is not modified


def test_sgd_step_moves_only_what_has_a_gradient():
    rng = np.random.default_rng(5)
    params = nn.init_params(TINY[26:], rng, batchnorm=False)
    grads = {28: {"W": np.ones_like(params[28]["W"])}}
    new_p, new_v = nn.sgd_step(params, grads, {}, lr=0.1, momentum=0.9, weight_decay=0.5)
    np.testing.assert_allclose(new_p[28]["W"], params[28]["W"] - 0.1 * (1 + 0.5 * params[28]["W"]), rtol=1e-6)
    np.testing.assert_array_equal(new_p[26]["W"], params[26]["W"])
    assert set(new_v) == {28}
    new_p2, _ = nn.sgd_step(new_p, grads, new_v, lr=0.1, momentum=0.9, weight_decay=0.0)
    np.testing.assert_allclose(new_p2[28]["W"], new_p[28]["W"] - 0.1 * (0.9 * new_v[28]["W"] + 1), rtol=1e-6)


def test_params_flatten_round_trip(tmp_path):
    params = nn.init_params(TINY, np.random.default_rng(6))
    np.savez(tmp_path / "p.npz", **nn.flatten_params(params))
    with np.load(tmp_path / "p.npz") as f:
        back = nn.unflatten_params(dict(f))
    assert sorted(back) == sorted(params)
    for i in params:
        assert sorted(back[i]) == sorted(params[i])
        for k in params[i]:
            np.testing.assert_array_equal(back[i][k], params[i][k])
            assert back[i][k].dtype == params[i][k].dtype
