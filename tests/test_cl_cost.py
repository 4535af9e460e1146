"""Cost of a learning event (pulpsim.cl.cost): energy and lifetime formulas, the L3 model, the
published LR memory table, data-independence of the simulated steps that are scaled by the
mini-batch, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pulpsim.cl import cost, memory, model
from pulpsim.errors import ConfigError
from pulpsim.sim.platform import get_platform


# ------------------------------------------------------------------------------ lifetime and energy

def test_lifetime_by_hand():
    # 3.3 Ah at 3.3 V = 39204 J; 1 J a minute is 1/60 W, so 39204 * 60 s = 653.4 h.
    assert cost.lifetime_hours(1.0, 60, 3.3, 3.3, sleep_w=0.0) == pytest.approx(653.4, rel=1e-12)
    # with sleep power for the 5/6 of the time between 10 s events: P = 1/60 + 1.7e-6 * 5/6 W
    p = 1 / 60 + 1.7e-6 * 5 / 6
    assert cost.lifetime_hours(1.0, 60, 3.3, 3.3, sleep_w=1.7e-6, event_seconds=10.0) == \
        pytest.approx(3.3 * 3.3 / p, rel=1e-12)
    # sleeping only: 39204 J / 1.7 uW
    assert cost.lifetime_hours(0.0, 0, 3.3, 3.3, sleep_w=1.7e-6) == pytest.approx(3.3 * 3.3 / 1.7e-6, rel=1e-12)


def test_published_lifetime_implies_an_energy_per_event():
    # 535 h at one event a minute on 3.3 Ah, 3.3 V: (39204 J / 1,926,000 s - 1.7 uW) * 60 s = 1.2213 J
    e = cost.energy_for_lifetime(535, 60, 3.3, 3.3, 1.7e-6)
    assert e == pytest.approx((39204 / (535 * 3600) - 1.7e-6) * 60, rel=1e-12)
    assert 1.22 < e < 1.223
    assert cost.lifetime_hours(e, 60, 3.3, 3.3, 1.7e-6) == pytest.approx(535, rel=1e-12)


def test_power_model_energies_by_hand():
    pm = cost.PowerModel()
    # 450e6 cycles at 450 MHz = 1 s at 49.4 mW
    assert pm.cluster_energy_j(450_000_000, 450.0, 0, None) == pytest.approx(0.0494, rel=1e-12)
    # 79e9 FLOP = 39.5e9 MACs at 79 GFLOPS/W = 1 J
    assert pm.cluster_energy_j(1, 450.0, 39_500_000_000, None, "vega-flops") == pytest.approx(1.0, rel=1e-12)
    assert pm.cluster_energy_j(1, 450.0, 0, 2.5e6, "pulpsim") == pytest.approx(2.5, rel=1e-12)
    assert pm.cluster_energy_j(1, 450.0, 0, None, "pulpsim") is None
    assert pm.l3_energy_j(10 ** 6) == pytest.approx(150e-6, rel=1e-12)
    assert pm.battery_j == pytest.approx(39204.0)
    assert pm.with_overrides({"active_w": "0.02", "energy_model": "pulpsim"}).active_w == 0.02


@pytest.mark.parametrize("bad", [{"energy_model": "magic"}, {"active_w": -1.0}, {"battery_v": 0.0},
                                 {"sleep_w": float("nan")}])
def test_power_model_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        cost.PowerModel(**bad)


def test_power_model_overrides_reject_unknown_and_non_numbers():
    with pytest.raises(ConfigError, match="unknown parameter"):
        cost.PowerModel().with_overrides({"volts": 3})
    with pytest.raises(ConfigError, match="expected a number"):
        cost.PowerModel().with_overrides({"active_w": "lots"})


@pytest.mark.parametrize("args", [(-1.0, 60), (1.0, -1), (1.0, 60, 0.0), (1.0, 60, 3.3, -3.3),
                                  (0.0, 0, 3.3, 3.3, 0.0), (1.0, 3600, 3.3, 3.3, 0.0, 2.0)])
def test_lifetime_rejects_bad_input(args):
    with pytest.raises(ConfigError):
        cost.lifetime_hours(*args)


# ------------------------------------------------------------------------------ L3

def test_l3_time_by_hand():
    plat = get_platform("vega")
    assert (plat.l3.latency, plat.l3.bandwidth, plat.l3.burst) == (50, 0.74, 1024)
    # a UINT8 LR of conv5_4/dw (512x8x8 = 32768 bytes) and a 1-byte label: 32769 bytes = 33 bursts
    t = cost.l3_traffic(plat, 107, 32768, 1)
    per_slot = 33 * 50 + 32769 / 0.74
    assert t["bytes"] == 107 * 32769 and t["transfers"] == 107 and t["bursts"] == 107 * 33
    assert t["cycles"] == pytest.approx(107 * per_slot, rel=1e-12)
    assert t["seconds"] == pytest.approx(107 * per_slot / 450e6, rel=1e-12)
    assert t["source"] == "modelled"
    # parameters come from the platform: 2 bytes/cycle, 100 cycles per 4 kB burst
    p2 = get_platform("vega", {"l3.bandwidth": "2", "l3.latency": "100", "l3.burst": "4096"})
    assert cost.l3_traffic(p2, 1, 8192, 0)["cycles"] == pytest.approx(2 * 100 + 8192 / 2)
    assert cost.l3_traffic(plat, 0, 8192, 1)["cycles"] == 0


@pytest.mark.parametrize("key,value", [("l3.latency", "-1"), ("l3.bandwidth", "0"), ("l3.burst", "0"),
                                       ("l3.size", "0"), ("l3.burst", "many"), ("l3.speed", "1")])
def test_l3_bad_parameters(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        get_platform("vega", {key: value})


def test_l3_bad_parameter_is_a_one_line_cli_error():
    proc = subprocess.run([sys.executable, "-m", "pulpsim", "kernel", "matmul", "--shape", "2", "2", "2",
                           "--set", "l3.latency=-5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 251, (proc.stdout, proc.stderr)
    assert proc.stderr.strip().count("\n") == 0 and "l3.latency" in proc.stderr


def test_l3_traffic_rejects_bad_counts():
    with pytest.raises(ConfigError):
        cost.l3_traffic(get_platform("vega"), -1, 10, 1)


# ------------------------------------------------------------------------------ LR memory table

def test_memory_table_equals_the_published_one():
    rows = {r["index"]: r for r in memory.memory_table(model.mobilenet_v1(1.0, 128))}
    assert rows[23]["mb"][(3000, "UINT8")] == pytest.approx(24.576)       # 24.6 MB
    assert rows[23]["mb"][(3000, "UINT7")] == pytest.approx(21.504)       # 21.5 MB
    assert rows[19]["mb"][(1500, "UINT8")] == pytest.approx(49.152)       # 49.2 MB
    assert rows[19]["mb"][(3000, "FP32")] == pytest.approx(393.216)       # 393.2 MB
    assert rows[27]["bytes_per_lr"] == {"FP32": 4096, "UINT8": 1024, "UINT7": 896}
    text = cost.memory_table_text()
    assert "24.6" in text and "21.5" in text and "| 23 | conv5_6/dw | 512x4x4 |" in text


# ------------------------------------------------------------------------------ simulated steps

SMALL = dict(width=0.25, resolution=64, num_classes=10)


def _small_layers():
    return model.mobilenet_v1(SMALL["width"], SMALL["resolution"], SMALL["num_classes"])


def test_sample_steps_of_an_adaptive_stage():
    layers = model.mobilenet_v1(1.0, 128)
    _, adaptive = model.split(layers, 19)
    specs = cost.sample_steps(adaptive)
    keys = [s.key for s in specs]
    assert len(set(keys)) == len(keys)
    # no input gradient at the first adaptive layer (nothing below it learns); every other layer with weights has one
    assert (20, "ig") not in keys and all((i, "ig") in keys for i in (21, 22, 23, 24, 25, 26, 28))
    # one SGD step per weight and per folded-BatchNorm bias tensor; the classifier has no bias
    sgd = {s.key: dict(s.shapes)["w"][0] for s in specs if s.per == "event"}
    assert sorted({i for i, _ in sgd}) == [20, 21, 22, 23, 24, 25, 26, 28] and len(sgd) == 15
    assert sgd[(20, "sgd W")] == 512 * 512 and sgd[(20, "sgd b")] == 512 and sgd[(28, "sgd W")] == 50 * 1024
    # gradients are accumulated from the second sample on: an event of 128 samples runs each 127 times
    acc = [s for s in specs if s.per == "accumulate"]
    assert len(acc) == 15 and {cost.step_count(s, 128) for s in acc} == {127}
    assert dict(next(s for s in specs if s.step == "loss bw").params)["batch"] == 128
    assert cost.sample_steps(model.split(layers, 21)[1])[0].index == 22


def _golden_walk(prog, tensors: dict) -> list:
    """Run ``prog``'s steps on the numpy reference (pulpsim.workloads.layers.golden), independently of the tiling
    planner: ``[(step, {input: shape})]``, the input shapes as the cluster sees them (views reshaped)."""
    from pulpsim.workloads import layers as ly
    t = dict(tensors)
    seen = []
    for st in prog.steps:
        ins = {loc: (t[ref] if isinstance(ref, str) else t[ref[0]].reshape(ref[1])) for loc, ref in st.ins.items()}
        seen.append((st, {loc: a.shape for loc, a in ins.items()}))
        out = ly.golden(st.layer, st.step, ins, **st.params)
        t.update({nm: out[loc] for loc, nm in st.outs.items()})
    return seen


def test_sample_steps_are_the_onchip_programs():
    """The cost model's steps are, one by one, those the simulator backend runs for a sample after the
    first and for the update (op, op step, parameters but the label, input shapes as the numpy reference
    sees them walking the programs), and one sample's steps do the adaptive stage's training MACs
    (counted independently by model.train_macs); first_ig adds the first layer's input gradient."""
    from pulpsim.workloads import layers as ly
    from pulpsim.cl import nn, onchip
    layers = model.mobilenet_v1(0.0625, 32, 5)
    _, adaptive = model.split(layers, 21)
    params = nn.init_params(adaptive, np.random.default_rng(0), batchnorm=False)
    acc = {(l.index, k): np.zeros_like(params[l.index][k]) for l in adaptive for k in params.get(l.index, {})}
    x = np.ones(adaptive[0].in_shape, np.float32)
    sample = onchip.sample_program(adaptive, label=2, batch=4, first=False)
    given = {f"{k}{i}": p for i, ps in params.items() for k, p in ps.items()}
    given.update({f"grad{i}.{k}": np.zeros_like(p) for (i, k), p in acc.items()})
    given.update({f"v{i}.{k}": np.zeros_like(p) for (i, k), p in acc.items()})
    update = onchip.update_program(adaptive, **cost._SGD)
    runs = (_golden_walk(sample, onchip.sample_tensors(adaptive, params, x, acc)) + _golden_walk(update, given))
    tags = sample.tags + update.tags
    specs = cost.sample_steps(adaptive, batch=4)
    assert len(specs) == len(runs) == len(tags)
    no_label = lambda p: {k: v for k, v in dict(p).items() if k != "label"}  # noqa: E731
    names = {l.index: l.name for l in adaptive}
    for spec, (st, shapes), tag in zip(specs, runs, tags):
        assert (spec.op, spec.op_step, no_label(spec.params)) == (st.layer, st.step, no_label(st.params)), spec
        assert dict(spec.shapes) == shapes and list(dict(spec.shapes)) == list(st.ins), spec
        assert (spec.index, spec.kind, spec.step, spec.name) == (*tag, names[tag[0]])
        assert spec.per == ("event" if st.layer == "sgd" else "accumulate" if st.layer == "accumulate" else "sample")

    def macs(specs):
        return sum(ly.plan(s.op, s.op_step, {n: np.zeros(sh, np.float32) for n, sh in s.shapes}, **dict(s.params)).macs
                   for s in specs if s.per != "event")
    assert macs(specs) == model.train_macs(adaptive) > 0
    with_ig = cost.sample_steps(adaptive, first_ig=True, batch=4)
    extra = [s for s in with_ig if s.key not in {t.key for t in specs}]
    assert [s.key for s in extra] == [(22, "ig")] and macs(with_ig) - macs(specs) == adaptive[0].macs


def test_steps_scaled_by_the_minibatch_are_data_independent():
    """Two different random inputs give identical cycles, instructions, stalls, bank conflicts and DMA
    counts for every step kind that paper_cost counts once and multiplies by the mini-batch (stride 1
    and 2 depthwise, pointwise, pool, fc, bias, gradient accumulation and the forward ReLU), at a small
    shape."""
    layers = _small_layers()
    _, adaptive = model.split(layers, 21)          # 22 pw, 23 dw stride 2, 24 pw, 25 dw, 26 pw, 27 pool, 28 fc
    plat = get_platform("vega")
    scaled = [s for s in cost.sample_steps(adaptive) if s.per != "event"
              and (s.op, s.op_step) not in (("relu", "bw"), ("softmax_ce", "fw"), ("softmax_ce", "bw"))]
    assert {s.op for s in scaled} == {"pointwise", "depthwise", "avgpool", "linear", "relu", "bias", "accumulate"}
    for spec in scaled:
        a = cost.run_step(spec, plat, 8, np.random.default_rng(1))
        b = cost.run_step(spec, plat, 8, np.random.default_rng(2))
        assert a.signature() == b.signature(), spec


def test_data_dependent_steps_are_simulated_for_every_sample():
    # the ReLU gradient branches on the sign of its input: two random inputs give different counts
    layers = _small_layers()
    spec = next(s for s in cost.sample_steps(model.split(layers, 25)[1]) if s.step == "relu bw")
    m = cost.measure_steps([spec], get_platform("vega"), 8, samples=3, seed=0)[spec.key]
    assert not m.independent and len(m.runs) == 3
    assert m.total(3)["cycles"] == sum(r.cycles for r in m.runs)
    with pytest.raises(ConfigError):
        m.total(5)


@pytest.fixture(scope="module")
def small_paper():
    return cost.paper_cost(lr_layers=(21, 23, 27), sizes=(1500, 3000), mb_size=3, l2_size=None, **SMALL)


def test_paper_cost_small_scale(small_paper):
    pc = small_paper
    layers = _small_layers()
    assert [(e.config["lr_index"], e.config["capacity"]) for e in pc.events] == \
        [(21, 1500), (21, 3000), (23, 1500), (23, 3000), (27, 1500), (27, 3000)]
    for ev in pc.events:
        lr = ev.config["lr_index"]
        _, adaptive = model.split(layers, lr)
        t = ev.totals()
        assert ev.config["n_new"] + ev.config["n_replay"] == 3
        # MACs of the simulated steps = the model's count of a training sample x the mini-batch
        assert t["macs"] == 3 * model.train_macs(adaptive)
        assert t["cycles"] == sum(r.cycles for r in ev.rows if r.measured)
        assert {r.index for r in ev.rows if r.measured} == {l.index for l in adaptive}
        assert not any(r.index == lr + 1 and r.step == "ig" for r in ev.rows)
        assert {r.count for r in ev.rows if r.step.startswith("accumulate")} == {2}
        # the not-measured work is None, never estimated
        nm = {r.step: r for r in ev.not_measured}
        assert set(nm) == {"int8 fw", "LR dequant"}
        assert all(r.cycles is None and r.energy_uj is None and r.how.startswith("not measured") for r in nm.values())
        assert nm["int8 fw"].macs == ev.config["n_new"] * model.total_macs(layers[:lr + 1])
        # time, energy and lifetime by hand from the totals
        slot = memory.lr_bytes(layers[lr].out_elems, 8) + 1
        assert ev.l3["bytes"] == ev.config["n_replay"] * slot
        secs = (t["cycles"] + ev.l3["cycles"]) / 450e6
        assert t["time_s"] == pytest.approx(secs, rel=1e-12)
        e = t["cycles"] / 450e6 * 49.4e-3 + ev.l3["bytes"] * 150e-12
        assert t["energy_j"] == pytest.approx(e, rel=1e-12)
        p_avg = e / 60 + 1.7e-6 * (1 - secs / 60)
        assert t["lifetime_h"] == pytest.approx(3.3 * 3.3 / p_avg, rel=1e-9)
    # a later LR layer reuses the earlier one's steps: the same rows for the layers both train
    a = {(r.index, r.step): r.cycles for r in pc.events[0].rows if r.measured and r.index > 24}
    b = {(r.index, r.step): r.cycles for r in pc.events[2].rows if r.measured and r.index > 24}
    assert a == b and a
    json.dumps(pc.to_dict())
    text = pc.text()
    assert "not measured" in text and "L2" in text and "| 23 | conv5_6/dw |" in text


def test_scaled_step_equals_a_fresh_run_times_the_minibatch(small_paper):
    m = small_paper.measured[(24, "fw")]
    assert m.independent
    fresh = cost.run_step(m.spec, get_platform("vega"), 8, np.random.default_rng(99))
    row = next(r for r in small_paper.events[0].rows if (r.index, r.step) == (24, "fw"))
    assert row.cycles == 3 * fresh.cycles and row.count == 3


@pytest.mark.parametrize("kw", [{"lr_layers": (20,)}, {"lr_layers": ()}, {"mb_size": 0}, {"sizes": ()},
                                {"sizes": (0,)}, {"precision": 9}, {"width": -1.0}])
def test_paper_cost_bad_input(kw):
    args = dict(SMALL, lr_layers=(27,), sizes=(10,), mb_size=1, l2_size=None)
    args.update(kw)
    with pytest.raises(ConfigError):
        cost.paper_cost(**args)


def test_event_cost_from_a_record():
    """An event simulated in full: its rows as measured, the L3 traffic of its replays, and the frozen
    stage and the dequantization as not measured."""
    record = {"event": {"method": "replay", "experience": 1, "epoch": 0, "iteration": 0, "n_new": 2, "n_replay": 6},
              "n_new": 2, "n_replay": 6,
              "rows": [{"index": 26, "kind": "pw", "step": "fw", "cycles": 1000, "macs": 3000, "instructions": 5000,
                        "stalls": {"load_use": 10}, "bank_conflicts": 7, "dma_busy": 300, "dma_wait": 20,
                        "energy_uj": {"instructions": 1.5, "tcdm": 0.5}},
                       {"index": 28, "kind": "fc", "step": "wg", "cycles": 500, "macs": 1000, "instructions": 900,
                        "stalls": {"load_use": 5, "branch_taken": 3}, "bank_conflicts": 1, "dma_busy": 50,
                        "dma_wait": 5, "energy_uj": 0.25}]}
    ev = cost.event_cost(record, get_platform("vega"), cost.PowerModel(energy_model="pulpsim"),
                         lr_bytes_per_sample=1024, frozen_macs_per_sample=100)
    t = ev.totals()
    assert (t["cycles"], t["macs"], t["bank_conflicts"], t["dma_busy"], t["dma_wait"]) == (1500, 4000, 8, 350, 25)
    assert t["stalls"] == {"load_use": 15, "branch_taken": 3} and t["mac_per_cycle"] == pytest.approx(4000 / 1500)
    assert ev.l3["bytes"] == 6 * 1025 and ev.l3["transfers"] == 6
    assert t["energy_j"] == pytest.approx(2.25e-6 + 6 * 1025 * 150e-12, rel=1e-12)
    frozen = next(r for r in ev.rows if r.kind == "frozen")
    assert frozen.cycles is None and frozen.macs == 200 and "not measured" in frozen.how
    assert "not measured" in ev.table()
    with pytest.raises(ConfigError):
        cost.event_cost({"n_new": 1, "n_replay": 1, "rows": []}, get_platform("vega"))


def test_event_cost_from_a_record_with_event_level_counts():
    """A record whose rows carry cycles, MACs and counts only (the steps ran in sequences), and whose
    instructions, stalls, conflicts, DMA and energy are the event's totals."""
    record = {"n_new": 1, "n_replay": 3, "event": None,
              "rows": [{"index": 27, "kind": "pool", "step": "fw", "cycles": 400, "macs": 0, "count": 4},
                       {"index": 28, "kind": "fc", "step": "fw", "cycles": 600, "macs": 2000, "count": 4}],
              "instructions": 7000, "stalls": {"fpu_contention": 90, "load_use": 120}, "bank_conflicts": 33,
              "dma": {"bytes": 4096, "busy_cycles": 512, "transfers": 8}, "dma_wait_cycles": 44,
              "energy_uj": {"instructions": 3.0, "cluster": 1.0}}
    ev = cost.event_cost(record, "vega", cost.PowerModel(energy_model="pulpsim"))
    t = ev.totals()
    assert (t["cycles"], t["macs"], t["instructions"], t["bank_conflicts"], t["dma_busy"], t["dma_wait"]) == \
        (1000, 2000, 7000, 33, 512, 44)
    assert list(t["stalls"]) == ["load_use", "fpu_contention"] and t["stall_cycles"] == 210
    assert t["energy_j"] == pytest.approx(4.0e-6, rel=1e-12) and ev.l3["bytes"] == 0
    assert ev.rows[0].count == 4 and ev.rows[0].stalls is None
    assert ev.config["lr_index"] == 26 and ev.config["lr_name"] is None
    named = cost.event_cost(record, "vega", layers=_small_layers())
    assert named.config["lr_name"] == "conv6/sep" and "LR layer 26 (conv6/sep)" in named.table()
    assert "| 27 |" in ev.table()
    json.dumps(ev.to_dict())


def test_event_cycles_for_the_compare_sweep(small_paper):
    """EventCycles answers compare's cost queries with paper_cost's cycles (cluster plus L3): the same for
    every data-independent step (the data-dependent ones see other random inputs), and simulates a step
    once across queries."""
    from types import SimpleNamespace
    fn = cost.EventCycles(_small_layers(), "vega", l2_size=None)
    ev = small_paper.events[2]                     # LR 23, 1500 LRs
    q = SimpleNamespace(lr_index=23, precision=8, n_new=ev.config["n_new"], n_replay=ev.config["n_replay"])
    mine = fn.event(q)
    fixed = lambda e: {(r.index, r.step): r.cycles for r in e.rows  # noqa: E731
                       if r.measured and not r.how.endswith("(data-dependent)")}
    assert fixed(mine) == fixed(ev) and len(fixed(ev)) > 20
    assert mine.l3 == ev.l3
    assert fn(q) == mine.totals()["cycles"] + ev.l3["cycles"]
    assert fn(q) == pytest.approx(ev.totals()["cycles"] + ev.l3["cycles"], rel=1e-3)
    n = len(fn._measured[3])
    fn(SimpleNamespace(lr_index=27, precision=8, n_new=1, n_replay=2))
    assert len(fn._measured[3]) == n              # pool and fc steps were measured for LR 23 already
