"""The continual-learning protocol (AR1*-style latent replay) and the host pretraining cache.

Checked against independent references: the mini-batch composition against the published
arithmetic worked by hand (Latent Replay's Caffe prototxt dims 21 + 107 and the AR1* code's
formula), the replay memory's contents against the LRs of the samples they claim to come from,
the two LR paths against direct computations of the float and int8 frozen stages."""

import warnings

import numpy as np
import pytest

from pulpsim.cl import model, nn, pretrain, protocol, quant
from pulpsim.cl.protocol import Event, HostBackend, ProtocolConfig, composition
from pulpsim.cl.scenario import to_nchw
from pulpsim.cl.synthetic import SyntheticSpec, scenario
from pulpsim.errors import ConfigError

# A tiny but real configuration: width 0.25 at 32x32, 5 categories x 2 objects, 4 frames per
# (object, session), LR layer 11 (32x2x2 at this size), one pretraining epoch, the synthetic data's
# easy end (nuisance 0: plain backgrounds) so that features this weak still separate the classes.
SPEC = SyntheticSpec(n_categories=5, objects_per_category=2, frames=4, nuisance=0.0)
PRE = pretrain.PretrainConfig(data=SPEC, n_categories=6, objects_per_category=2, n_sessions=4, epochs=1,
                              batch_size=32, lr=0.2, calib_images=64)
CFG = ProtocolConfig(lr_index=11, capacity=60, mb_size=32, epochs_first=4, epochs_inc=2, lr_first=0.01,
                     lr_inc=0.003, joint_every=3)


@pytest.fixture(scope="module")
def pre(tmp_path_factory):
    return pretrain.pretrained(PRE, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def scen():
    return scenario(SPEC, units_per_experience=4)


@pytest.fixture(scope="module")
def latents(pre, scen):
    return protocol.compute_latents(pre, scen, CFG.lr_index)


@pytest.fixture(scope="module")
def result(pre, scen, latents):
    return protocol.run(CFG, scen, pre, latents=latents)


# ---- the published mini-batch arithmetic ---------------------------------------------------

@pytest.mark.parametrize("n_new, capacity, mb, expect", [
    # NICv2-391: 300 new images per experience (AR1* Caffe prototxt: data 21, data_reha 107).
    (300, 1500, 128, (21, 107, 14)),      # 1800 // 128 = 14; 300 // 14 = 21; 300 // 21 = 14
    (300, 3000, 128, (12, 116, 25)),      # 3300 // 128 = 25; 300 // 25 = 12; 300 // 12 = 25
    (160, 500, 128, (32, 96, 5)),         # 660 // 128 = 5; 160 // 5 = 32; 160 // 32 = 5
    (16, 1500, 128, (1, 127, 16)),        # 1516 // 128 = 11; 16 // 11 = 1
    (10, 20, 128, (10, 118, 1)),          # 30 // 128 = 0: everything new in one mini-batch
    (500, 0, 128, (128, 0, 3)),           # 500 // 3 = 166 new would not fit: capped at 128; 500 // 128 = 3
])
def test_composition_matches_the_published_rule(n_new, capacity, mb, expect):
    assert composition(n_new, capacity, mb) == expect


def test_first_experience_is_padded_to_whole_mini_batches():
    assert protocol.first_batches(160, 128) == 2 and protocol.first_batches(256, 128) == 2
    assert protocol.first_batches(3000, 128) == 24   # AR1*: batch 0 of NICv2-391 (2,999 images) -> 24


def test_events_follow_the_composition(result, scen):
    sizes = [len(e) for e in scen.experiences]
    for name in ("replay", "replay-fp32", "naive"):
        events = result.methods[name].events
        for i, n in enumerate(sizes):
            ev = [e for e in events if e.experience == i]
            if i == 0:
                iters, cur, inj, epochs = protocol.first_batches(n, CFG.mb_size), CFG.mb_size, 0, CFG.epochs_first
            else:
                cur, inj, iters = composition(n, CFG.capacity, CFG.mb_size)
                epochs = CFG.epochs_inc
            assert len(ev) == iters * epochs
            assert all(e.n_new == cur for e in ev)
            assert all(e.n_replay == (0 if name == "naive" else inj) for e in ev)
    joint = result.methods["joint"].events
    assert {e.experience for e in joint} == {i for i in range(len(sizes)) if i % 3 == 0 or i == len(sizes) - 1}
    assert all(e.n_replay == 0 for e in joint)
    assert sum(e.n_new for e in joint if e.experience == 3) == CFG.epochs_first * sum(sizes[:4])


def test_a_backend_sees_each_concatenated_mini_batch(pre, scen, latents):
    """The training step is the one replaceable function: a backend gets every mini-batch as
    ``[n_new + n_replay, C, H, W]`` float32 at the LR layer, with its labels and event."""
    seen = []

    class Recording(HostBackend):
        def train_step(self, state, x, y, lr, momentum, weight_decay, event=None):
            seen.append((x.shape, x.dtype, len(y), event, lr))
            return super().train_step(state, x, y, lr, momentum, weight_decay, event)

    cfg = ProtocolConfig(**{**CFG.__dict__, "methods": ("replay",)})
    res = protocol.run(cfg, scen, pre, latents=latents, backend=Recording())
    lr_shape = model.mobilenet_v1(0.25, 32, 5)[CFG.lr_index].out_shape
    assert [s[3] for s in seen] == res.methods["replay"].events
    for shape, dtype, ny, ev, lr in seen:
        assert shape == (ev.n_new + ev.n_replay, *lr_shape) and dtype == np.float32 and ny == shape[0]
        assert lr == (CFG.lr_first if ev.experience == 0 else CFG.lr_inc)


# ---- determinism ------------------------------------------------------------------------------

def _weights(state):
    return nn.flatten_params(state.params)


def test_same_seed_same_accuracies_and_weights_bit_for_bit(pre, scen, latents, result):
    again = protocol.run(CFG, scen, pre, latents=latents)
    for name, m in result.methods.items():
        assert again.methods[name].accuracy == m.accuracy
        a, b = _weights(m.state), _weights(again.methods[name].state)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    other = protocol.run(ProtocolConfig(**{**CFG.__dict__, "seed": 1, "methods": ("replay",)}), scen, pre,
                         latents=latents)
    w0, w1 = _weights(result.methods["replay"].state), _weights(other.methods["replay"].state)
    assert any(not np.array_equal(w0[k], w1[k]) for k in w0)


def test_a_method_does_not_depend_on_the_others(pre, scen, latents, result):
    alone = protocol.run(ProtocolConfig(**{**CFG.__dict__, "methods": ("naive",)}), scen, pre, latents=latents)
    assert alone.methods["naive"].accuracy == result.methods["naive"].accuracy


# ---- the replay memory ---------------------------------------------------------------------------

def test_buffer_quota_per_experience(result, scen):
    """After experience i the memory holds h_i = min(M // (i+1), n_i) LRs of it (AR1*), and the
    older experiences keep the rest."""
    sizes = [len(e) for e in scen.experiences]
    for census in (result.methods["replay"].buffer, result.methods["replay-fp32"].buffer):
        total = 0
        for i, c in enumerate(census):
            h = min(CFG.capacity // (i + 1), sizes[i])
            assert c.get(i, 0) == h
            total = min(CFG.capacity, total + h)
            assert sum(c.values()) == total
            if i:
                assert all(c.get(j, 0) <= census[i - 1].get(j, 0) for j in range(i))


def test_memory_holds_lrs_of_the_samples_it_claims(pre, scen, latents):
    """Every stored LR is, bit for bit, the uint8 LR of a training sample of the experience and
    label recorded for it (replayed as ``code * scale``)."""
    cfg = ProtocolConfig(**{**CFG.__dict__, "methods": ("replay",)})
    init = protocol.initial_state(pre, cfg.lr_index, scen.n_classes)
    res = protocol.run_method("replay", cfg, scen, latents["uint8"], init)
    mem, origin = res.memory, res.origin
    x, y = mem.get(np.arange(len(mem)))
    lat = latents["uint8"]
    for slot in range(len(mem)):
        idx = scen.experiences[origin[slot]]
        cand = lat.train[idx].astype(np.float32) * np.float32(lat.scale)
        match = np.flatnonzero((cand.reshape(len(idx), -1) == x[slot].reshape(1, -1)).all(axis=1))
        assert len(match) and (scen.y_train[idx][match] == y[slot]).any()


# ---- the two LR paths ------------------------------------------------------------------------------

def test_fp32_and_uint8_paths(pre, scen, latents, result):
    """UINT8 LRs are the int8 stage's codes; FP32 LRs the float stage's output (not the codes):
    they differ, by about the int8 pipeline's error, and the runs on them differ too."""
    x = to_nchw(scen.x_test[:16], pretrain.MEAN, pretrain.STD)
    frozen, fparams = pre.frozen_float(CFG.lr_index)
    stage = pre.quantized_stage(CFG.lr_index)
    ref_f = nn.forward(frozen, fparams, x)
    ref_q = stage(x)
    assert np.array_equal(latents["fp32"].test[:16], ref_f)
    assert np.array_equal(latents["uint8"].test[:16], ref_q)
    f, q = latents["fp32"].floats("test"), latents["uint8"].floats("test")
    on_grid = np.abs(f / latents["uint8"].scale - np.rint(f / latents["uint8"].scale)) < 1e-4
    assert not on_grid.all()                                 # the FP32 LRs are not uint8 codes
    err = np.abs(f - q).mean() / np.abs(f).mean()
    assert 0 < err < 0.25, err                               # the same features, give or take int8
    assert result.methods["replay"].accuracy != result.methods["replay-fp32"].accuracy


# ---- learning ----------------------------------------------------------------------------------

def test_replay_beats_naive_and_joint_is_an_upper_bound(result):
    """Measured with this seed (see docs/cl.md): replay ends well above naive fine-tuning, which
    forgets; joint training on everything seen is at least about as good as replay."""
    acc = {m: result.final_accuracy(m) for m in result.methods}
    assert acc["replay"] >= acc["naive"] + 0.10, acc
    assert acc["replay-fp32"] >= acc["naive"] + 0.10, acc
    assert acc["joint"] >= acc["replay"] - 0.05, acc


# ---- configuration errors ----------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"capacity": 0}, {"mb_size": 0}, {"precision": 9}, {"methods": ("er",)},
                                {"lr_first": 0.0}, {"momentum": 1.0}])
def test_bad_configuration_is_a_config_error(kw):
    with pytest.raises(ConfigError):
        ProtocolConfig(**kw)


def test_unknown_lr_layer_is_a_config_error(pre, scen, latents):
    with pytest.raises(ConfigError, match="unknown LR layer"):
        protocol.run(ProtocolConfig(lr_index=12), scen, pre, latents=latents)


# ---- channel-range equalization at folding --------------------------------------------------------

def _random_folded_network():
    """A width-0.25 network at 32x32 with random BatchNorm statistics (channel ranges far apart),
    folded; and inputs to calibrate and to test on."""
    layers = model.mobilenet_v1(0.25, 32, 7)
    rng = np.random.default_rng(3)
    params = nn.init_params(layers, rng)
    for p in params.values():
        if "gamma" in p:
            k = len(p["gamma"])
            p["gamma"] = (np.exp(rng.uniform(-2, 2, k))).astype(np.float32)
            p["beta"] = rng.uniform(-0.5, 0.5, k).astype(np.float32)
            p["var"] = np.exp(rng.uniform(-1, 1, k)).astype(np.float32)
    folded = nn.fold_batchnorm(layers, params)
    x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    return layers, folded, x


def test_equalization_keeps_the_function_and_brings_the_channel_ranges_together():
    layers, folded, x = _random_folded_network()
    eq = pretrain.equalize_ranges(layers, folded, x[:48], alpha=0.5)
    other = x[48:]                                     # not the calibration inputs
    ref, got = nn.forward(layers, folded, other), nn.forward(layers, eq, other)
    assert np.allclose(got, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    # first layer: each channel's range r_k becomes r_k * sqrt(max r / r_k) = sqrt(max r * r_k)
    r = pretrain.channel_ranges(nn.layer_forward(layers[0], folded[0], x[:48]))
    r_eq = pretrain.channel_ranges(nn.layer_forward(layers[0], eq[0], x[:48]))
    live = r > 0
    assert np.allclose(r_eq[live], np.sqrt(r.max() * r[live]), rtol=1e-4)
    assert np.array_equal(r_eq[~live], r[~live])
    assert r_eq[live].max() / r_eq[live].min() == pytest.approx(np.sqrt(r[live].max() / r[live].min()), rel=1e-3)
    full = pretrain.equalize_ranges(layers, folded, x[:48], alpha=1.0)
    r_full = pretrain.channel_ranges(nn.layer_forward(layers[0], full[0], x[:48]))
    assert np.allclose(r_full[live], r.max(), rtol=1e-4)


def test_equalization_out_of_range_is_a_typed_error():
    with pytest.raises(ConfigError, match="equalize"):
        pretrain.PretrainConfig(equalize=1.5)


# ---- the pretraining cache -----------------------------------------------------------------------

def test_cache_key_covers_every_field():
    base = pretrain.PretrainConfig()
    changed = [pretrain.PretrainConfig(width=0.5), pretrain.PretrainConfig(data=SyntheticSpec(resolution=64)),
               pretrain.PretrainConfig(data=SyntheticSpec(seed=1)), pretrain.PretrainConfig(seed=1),
               pretrain.PretrainConfig(epochs=3), pretrain.PretrainConfig(lr=0.1),
               pretrain.PretrainConfig(calib_images=100), pretrain.PretrainConfig(equalize=0.0),
               pretrain.PretrainConfig(data=SyntheticSpec(background=0.5))]
    keys = {c.key() for c in changed}
    assert base.key() not in keys and len(keys) == len(changed)
    assert pretrain.PretrainConfig().key() == base.key()


def test_cache_round_trip_and_corrupt_file(pre, tmp_path):
    path = pretrain.cache_path(PRE, tmp_path)
    pretrain.save(pre, path)
    back = pretrain.load(PRE, path)
    a, b = nn.flatten_params(pre.params), nn.flatten_params(back.params)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not list(tmp_path.glob("*.tmp"))                         # nothing left behind
    with pytest.raises(ValueError, match="another configuration"):
        pretrain.load(pretrain.PretrainConfig(**{**PRE.__dict__, "seed": 5}), path)
    path.write_bytes(path.read_bytes()[:100])                       # truncated: not a zip any more
    with pytest.raises(ValueError, match="unreadable"):
        pretrain.load(PRE, path)


def test_corrupt_cache_file_is_reported_and_rebuilt(pre, tmp_path):
    path = pretrain.cache_path(PRE, tmp_path)
    path.write_bytes(b"not an npz archive")
    with pytest.warns(RuntimeWarning, match="unreadable pretraining cache"):
        again = pretrain.pretrained(PRE, cache_dir=tmp_path)
    a, b = nn.flatten_params(pre.params), nn.flatten_params(again.params)
    assert all(np.array_equal(a[k], b[k]) for k in a)           # pretraining itself is deterministic
    assert pretrain.load(PRE, path).losses == again.losses       # and the file was replaced
