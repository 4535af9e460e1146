"""The precision and LR-layer sweeps (``pulpsim.cl.compare``) on a tiny configuration.

Checked against independent references: every accuracy against a separate ``protocol.run`` of the
same configuration (computing its own LRs), the paired differences against those runs, the LR
memory against the byte count worked by hand, the cost hook's mini-batch against the published
composition rule worked by hand."""

import json

import numpy as np
import pytest

from pulpsim.cl import compare, pretrain, protocol
from pulpsim.cl.compare import CompareResult, CompareRow, CostQuery, run_compare
from pulpsim.cl.protocol import ProtocolConfig
from pulpsim.cl.synthetic import SyntheticSpec, scenario
from pulpsim.errors import ConfigError

# The tiny configuration of tests/test_cl_protocol.py: width 0.25 at 32x32, 5 categories x 2
# objects, 4 frames, LR layer 11 (64x2x2), one pretraining epoch, nuisance-free data.
SPEC = SyntheticSpec(n_categories=5, objects_per_category=2, frames=4, nuisance=0.0)
PRE = pretrain.PretrainConfig(data=SPEC, n_categories=6, objects_per_category=2, n_sessions=4, epochs=1,
                              batch_size=32, lr=0.2, calib_images=64)
BASE = ProtocolConfig(lr_index=11, capacity=60, mb_size=32, epochs_first=2, epochs_inc=1, lr_first=0.01,
                      lr_inc=0.003)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def pre(tmp_path_factory):
    return pretrain.pretrained(PRE, cache_dir=tmp_path_factory.mktemp("cache"))


def order(seed):
    """One experience order per seed, on the same images (as the command line's --seed)."""
    return scenario(SPEC, units_per_experience=8, order_seed=seed)


@pytest.fixture(scope="module")
def swept(pre):
    calls, queries, progress = [], [], []
    real = protocol.compute_latents

    def counting(*a, **k):
        calls.append(a[2])
        return real(*a, **k)

    def cost(q: CostQuery):
        queries.append(q)
        return 1000.0 * q.lr_index if q.lr_index == 11 else None

    protocol.compute_latents, saved = counting, protocol.compute_latents
    try:
        res = run_compare(BASE, order, pre, seeds=SEEDS, precisions=(8, 2), lr_layers=(11, 13),
                          cost_fn=cost, progress=lambda d, t, label: progress.append((d, t, label)))
    finally:
        protocol.compute_latents = saved
    return res, calls, queries, progress


def direct(pre, seed, lr_index, method, precision):
    """Final accuracy (%) of one method from a separate protocol run (its own LRs)."""
    cfg = ProtocolConfig(**{**BASE.__dict__, "seed": seed, "lr_index": lr_index, "methods": (method,),
                            "precision": precision})
    return 100.0 * protocol.run(cfg, order(seed), pre).final_accuracy(method)


def test_accuracies_and_paired_differences_match_separate_runs(pre, swept):
    res = swept[0]
    rows = {(r.sweep, r.lr_index, r.name): r for r in res.rows}
    for seed_pos, seed in enumerate(SEEDS):
        fp32 = direct(pre, seed, 11, "replay", "fp32")
        u2 = direct(pre, seed, 11, "replay", 2)
        naive = direct(pre, seed, 11, "naive", 8)
        assert rows["precision", 11, "FP32"].accuracy[seed_pos] == pytest.approx(fp32, abs=1e-9)
        assert rows["precision", 11, "UINT2"].accuracy[seed_pos] == pytest.approx(u2, abs=1e-9)
        assert rows["precision", 11, "UINT2"].delta[seed_pos] == pytest.approx(u2 - fp32, abs=1e-9)
        assert rows["precision", 11, "naive"].accuracy[seed_pos] == pytest.approx(naive, abs=1e-9)
    u2 = rows["precision", 11, "UINT2"]
    assert u2.mean == pytest.approx(np.mean(u2.accuracy))
    assert u2.spread == pytest.approx(abs(u2.accuracy[0] - u2.accuracy[1]) / np.sqrt(2))
    assert u2.delta_spread == pytest.approx(abs(u2.delta[0] - u2.delta[1]) / np.sqrt(2))


def test_lr_memory_is_counted_by_hand(swept):
    res = swept[0]
    rows = {(r.sweep, r.lr_index, r.name): r for r in res.rows}
    for (sweep, i, name), r in rows.items():
        if name == "naive":
            assert r.lr_bytes is None
            continue
        elems = int(np.prod(r.lr_shape))
        per = 4 * elems if name == "FP32" else -(-elems * int(name[4:]) // 8)
        assert r.lr_bytes == BASE.capacity * per and r.label_bytes == BASE.capacity   # 5 classes: 1 byte
    # conv4_2/dw at width 0.25 and 32x32: 256 * 0.25 = 64 channels at 32 / 16 = 2x2 pixels
    assert rows["precision", 11, "UINT2"].lr_shape == (64, 2, 2)
    assert rows["precision", 11, "UINT2"].lr_bytes == 60 * 64        # 256 values x 2 bits = 64 bytes
    assert rows["precision", 11, "FP32"].lr_bytes == 60 * 1024


def test_runs_once_each_and_shares_the_lrs_of_a_layer(swept):
    res, calls, _, progress = swept
    assert sorted(calls) == [11, 13]                  # LRs once per LR layer, for every seed and precision
    # layer 11: FP32, UINT8, UINT2, naive; layer 13: UINT8, FP32, naive (layer 11 of the layer sweep reused)
    assert [p[0] for p in progress] == list(range(1, 7 * len(SEEDS) + 1))
    assert all(p[1] == 7 * len(SEEDS) for p in progress)
    assert [(r.sweep, r.lr_index, r.name) for r in res.rows] == [
        ("precision", 11, "FP32"), ("precision", 11, "UINT8"), ("precision", 11, "UINT2"),
        ("precision", 11, "naive"), ("lr_layer", 11, "UINT8"), ("lr_layer", 11, "FP32"),
        ("lr_layer", 13, "UINT8"), ("lr_layer", 13, "FP32"), ("lr_layer", 11, "naive"), ("lr_layer", 13, "naive")]


def test_cost_hook_gets_the_published_composition_and_none_is_not_measured(swept):
    res, _, queries, _ = swept
    sc = order(0)
    n = int(np.median([len(e) for e in sc.experiences[1:]]))
    assert n == 8 * 4                                 # 8 (object, session) units of 4 frames
    # cur_sz = 32 // ((32 + 60) // 32) = 32 // 2 = 16 new, 32 - 16 = 16 LRs
    assert {(q.n_new, q.n_replay) for q in queries} == {(16, 16)}
    assert all(isinstance(q.config, ProtocolConfig) and q.config.lr_index == q.lr_index for q in queries)
    for r in res.rows:
        assert r.cycles_per_event == (11000.0 if r.lr_index == 11 and r.method == "replay" else None)
    table = res.table()
    assert "11,000" in table and "not measured" in table
    assert "host ms/event" in table
    json.dumps(res.to_dict())                         # plain JSON


def _row(q, delta):
    return CompareRow("precision", 19, "conv5_4/dw", (128, 2, 2), q, "replay", [50.0 + d for d in delta],
                      list(delta), 0, 0, 1.0)


def test_first_failing_is_the_highest_precision_losing_more_than_the_threshold():
    res = CompareResult(ProtocolConfig(), (0, 1), rows=[
        _row("fp32", (0, 0)), _row(8, (-0.5, 0.5)), _row(4, (-4.0, -5.0)), _row(3, (-6.0, -4.5)),
        _row(2, (-20.0, -30.0)), _row(1, (-40.0, -40.0))])
    # UINT4: -4.5 (not more than 5); UINT3: -5.25 -> the first
    assert res.first_failing().name == "UINT3"
    assert "**UINT3** (-5.2 ± 1.1)" in res.table()
    assert CompareResult(ProtocolConfig(), (0,), rows=[_row("fp32", (0,)), _row(8, (-1.0,))]).first_failing() is None


@pytest.mark.parametrize("kw, match", [({"lr_layers": (12,)}, "LR layer"), ({"precisions": (9,)}, "precision"),
                                       ({"baselines": ("cwr",)}, "baseline"), ({"seeds": ()}, "seed")])
def test_bad_sweep_is_a_typed_error(pre, kw, match):
    with pytest.raises(ConfigError, match=match):
        run_compare(BASE, order, pre, **{"seeds": (0,), "precisions": (8,), "lr_layers": (11,), **kw})


def test_seeds_must_share_the_images(pre):
    other = {0: order(0), 1: scenario(SyntheticSpec(**{**SPEC.__dict__, "seed": 5}), units_per_experience=8)}
    with pytest.raises(ConfigError, match="same training images"):
        run_compare(BASE, other.__getitem__, pre, seeds=(0, 1), precisions=(8,), lr_layers=(), baselines=())
