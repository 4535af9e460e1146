"""The simulator in the loop (pulpsim.cl.onchip): learning events of the adaptive stage on the simulated
cluster, checked against the host path (numpy, pulpsim.cl.nn).

A tiny adaptive stage (MobileNet-V1 at width 0.0625 and 32x32 behind LR layer 21: pointwise at 2x2,
a stride-2 depthwise, pointwise, depthwise, pointwise at 1x1, pool, fc; random weights and biases)
keeps every test to a few seconds of simulation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pulpsim.workloads import golden
from pulpsim.cl import model, nn, onchip, protocol, scenario
from pulpsim.cl.onchip import NumericsError, SimMode, parse_sim
from pulpsim.cl.protocol import AdaptiveState, Event, HostBackend, Latents, ProtocolConfig
from pulpsim.errors import ConfigError
from pulpsim.workloads.tileplan import _MAX_MARKS

N_CLASSES = 5
SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)


def tiny_stage(seed=0):
    """(adaptive layers, params): random He weights and small random biases (a stand-in for a
    pretrained, BatchNorm-folded stage)."""
    layers = model.mobilenet_v1(0.0625, 32, N_CLASSES)
    _, adaptive = model.split(layers, 21)
    rng = np.random.default_rng(seed)
    params = nn.init_params(adaptive, rng, batchnorm=False)
    for p in params.values():
        if "b" in p:
            p["b"] = (rng.standard_normal(p["b"].shape) * 0.1).astype(np.float32)
    params[adaptive[-1].index]["W"] *= np.float32(0.5)
    return adaptive, params


def batch(adaptive, n, seed=1):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n,) + adaptive[0].in_shape), 0).astype(np.float32)
    return x, rng.integers(0, N_CLASSES, n)


@pytest.fixture(scope="module")
def event():
    """One simulated learning event of 4 samples from a state with non-zero momentum."""
    adaptive, params = tiny_stage()
    x, y = batch(adaptive, 4)
    velocity = {i: {k: (v * 0.01).astype(np.float32) for k, v in p.items()} for i, p in params.items()}
    state = AdaptiveState(adaptive, params, velocity)
    start = state.copy()
    be = onchip.SimBackend(mode="all")
    loss = be.train_step(state, x, y, event=Event("replay", 0, 0, 0, 4, 0), **SGD)
    return start, state, x, y, be, loss


# ------------------------------------------------------------------------------ numerics (acceptance 4)

def test_simulated_event_agrees_with_the_host_within_the_bound(event):
    start, state, x, y, be, loss = event
    rec, = be.records
    assert rec.numerics["worst"] <= 1.0
    assert set(rec.numerics["ratios"]) >= {"gradient 28.W", "gradient 22.b", "pre-activation 22", "logits"}
    host = start.copy()
    host_loss = HostBackend().train_step(host, x, y, **SGD)
    assert abs(loss - host_loss) <= 1e-5 * abs(host_loss)
    for i, p in host.params.items():
        for k, w in p.items():
            sim = state.params[i][k]
            assert sim.dtype == np.float32 and sim.shape == w.shape
            step = w - start.params[i][k]
            assert np.abs(sim - w).max() <= 1e-3 * np.abs(step).max() + 1e-7, (i, k)
            np.testing.assert_array_equal(state.velocity[i][k].shape, w.shape)
    # The trained weights are the simulator's, not the host's: the summation orders differ in the last bits.
    assert any(not np.array_equal(state.params[i][k], host.params[i][k]) for i in host.params for k in host.params[i])


def _rerun(monkeypatch, **force):
    """The same event with sample_program's arguments overridden (a deliberately broken device flow)."""
    real = onchip.sample_program

    def broken(layers, **kw):
        return real(layers, **{**kw, **force})

    monkeypatch.setattr(onchip, "sample_program", broken)
    adaptive, params = tiny_stage()
    x, y = batch(adaptive, 4)
    onchip.SimBackend(mode="all").simulate(AdaptiveState(adaptive, params), x, y, **SGD)


def test_the_check_fails_without_the_mean_over_the_batch(monkeypatch):
    with pytest.raises(NumericsError, match="gradient"):
        _rerun(monkeypatch, batch=1)


def test_the_check_fails_without_the_accumulation(monkeypatch):
    with pytest.raises(NumericsError, match="gradient"):
        _rerun(monkeypatch, first=True)


def test_the_update_is_checked_bit_for_bit(event):
    """Weights that are not SGD applied to the simulator's own gradients (here: the host's gradients
    handed in as the simulator's) fail the check, though the gradients alone would pass."""
    start, state, x, y, be, _ = event
    trace = nn.Trace()
    logits = nn.forward(start.layers, start.params, x, trace=trace)
    _, dz = nn.softmax_cross_entropy(logits, y)
    grads, _ = nn.backward(start.layers, start.params, trace, dz)
    sim = {"pre": dict(trace.pre_relu), "logits": logits, "params": state.params, "velocity": state.velocity,
           "grads": {(i, k): v for i, p in grads.items() for k, v in p.items()}}
    with pytest.raises(NumericsError, match="SGD"):
        onchip.check_event(start.layers, start.params, start.velocity, x, y, sim, **SGD)


def test_record_of_an_event(event):
    *_, be, _ = event
    rec, = be.records
    d = rec.to_dict()
    json.dumps(d)
    assert rec.programs == 5 and rec.event.method == "replay"
    assert rec.instructions > rec.cycles > 0 and rec.energy_uj and rec.dma["bytes"] > 0
    assert be.cycles == rec.cycles
    steps = {(r["index"], r["step"]) for r in rec.rows}
    assert (22, "ig") not in steps and (23, "ig") in steps          # no input gradient below the stage
    assert (22, "accumulate W") in steps and (28, "sgd W") in steps
    names = {l.index: l.name for l in tiny_stage()[0]}                 # each row names its model layer
    assert all(r["name"] == names[r["index"]] for r in rec.rows) and names[28] == "fc"
    acc = next(r for r in rec.rows if r["step"] == "accumulate W")
    assert acc["count"] == 3                                        # samples 2..4
    # The rows are the executor's per-step marks: together they cover the programs' cycles but for
    # the time before each program's first step.
    assert 0.95 * rec.cycles <= sum(r["cycles"] for r in rec.rows) <= rec.cycles
    assert rec.macs == 4 * model.train_macs(tiny_stage()[0])          # counted independently by the model
    from pulpsim.cl import cost                                       # the cost model reads the record
    ev = cost.event_cost(d, "vega")
    assert sum(r.cycles for r in ev.rows if r.measured) == sum(r["cycles"] for r in rec.rows)


def test_sample_program_of_the_default_stage_fits_one_sequence():
    layers = model.mobilenet_v1(0.25, 32, 10)
    _, adaptive = model.split(layers, 19)
    first = onchip.sample_program(adaptive, label=3, batch=128, first=True)
    later = onchip.sample_program(adaptive, label=3, batch=128, first=False)
    n_grads = sum(2 if l.kind in ("pw", "dw") else l.kind == "fc" for l in adaptive)
    assert len(later.steps) == len(first.steps) + n_grads <= _MAX_MARKS
    assert not any(s.layer == "accumulate" for s in first.steps)
    bw = next(s for s in first.steps if s.layer == "softmax_ce" and s.step == "bw")
    assert bw.params == {"label": 3, "batch": 128}


# ------------------------------------------------------------------------------ --sim all trains with the simulator

def tiny_run():
    """Two experiences of LRs at layer 21 (4 samples each, mini-batches of 4, FP32 memory of 4)."""
    adaptive, params = tiny_stage(seed=3)
    rng = np.random.default_rng(4)
    lr_shape = adaptive[0].in_shape
    x = np.maximum(rng.standard_normal((12,) + lr_shape), 0).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    scen = scenario.from_arrays(x[:8], y[:8], [0, 0, 0, 0, 1, 1, 1, 1], x[8:], y[8:], n_classes=N_CLASSES)
    lat = Latents("fp32", x[:8], x[8:], 1.0)
    cfg = ProtocolConfig(lr_index=21, capacity=4, precision="fp32", mb_size=4, epochs_first=1, epochs_inc=1,
                         lr_first=0.05, lr_inc=0.05, methods=("replay",))
    return cfg, scen, lat, AdaptiveState(adaptive, params)


class Spy(onchip.SimBackend):
    """Keeps the weights each simulated event produced."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.after = []

    def simulate(self, state, *a, **kw):
        rec = super().simulate(state, *a, **kw)
        self.after.append({i: {k: v.copy() for k, v in p.items()} for i, p in state.params.items()})
        return rec


def test_sim_all_trains_with_the_simulators_weights():
    cfg, scen, lat, init = tiny_run()
    cycles = []
    spy = Spy(mode="all", progress=cycles.append, n_experiences=scen.n_experiences)
    res = protocol.run_method("replay", cfg, scen, lat, init, backend=spy)
    host = protocol.run_method("replay", cfg, scen, lat, init, backend=HostBackend())
    assert len(res.events) == len(spy.records) == len(spy.after) == 3     # 1 + 2 mini-batches
    assert [r.event for r in spy.records] == res.events
    assert cycles == sorted(cycles) and cycles[-1] == spy.cycles == sum(r.cycles for r in spy.records)
    assert all(r.numerics["worst"] <= 1 for r in spy.records)
    final = res.state.params
    for i, p in spy.after[-1].items():           # the final weights are the last simulated event's
        for k, w in p.items():
            np.testing.assert_array_equal(final[i][k], w)
    differs = [not np.array_equal(final[i][k], host.state.params[i][k]) for i in final for k in final[i]]
    assert any(differs)                          # and not the host run's (last bits) ...
    for i in final:                              # ... though close to it
        for k in final[i]:
            np.testing.assert_allclose(final[i][k], host.state.params[i][k], rtol=0, atol=1e-4)


def test_sim_none_and_other_methods_stay_on_the_host():
    cfg, scen, lat, init = tiny_run()
    host = protocol.run_method("replay", cfg, scen, lat, init, backend=HostBackend())
    for be in (onchip.SimBackend(mode="none"), onchip.SimBackend(mode=parse_sim("all", methods=("naive",)))):
        res = protocol.run_method("replay", cfg, scen, lat, init, backend=be)
        assert not be.records
        for i in host.state.params:
            for k in host.state.params[i]:
                np.testing.assert_array_equal(res.state.params[i][k], host.state.params[i][k])


# ------------------------------------------------------------------------------ modes

def test_parse_sim():
    assert parse_sim("none") == SimMode("none") and parse_sim(" ALL ") == SimMode("all")
    assert parse_sim("sample:3") == SimMode("sample", 3, 1)
    assert parse_sim("sample:2@5") == SimMode("sample", 2, 5)
    assert str(parse_sim("sample:2@5")) == "sample:2@5" and str(parse_sim("sample:2")) == "sample:2"
    assert parse_sim("all", methods=("replay", "naive")).methods == ("replay", "naive")
    for bad in ("", "some", "sample", "sample:", "sample:0", "sample:-1", "sample:2@0", "sample:2@", "all:3",
                "sample:1.5", None, 3):
        with pytest.raises(ConfigError, match="--sim"):
            parse_sim(bad)


def test_sample_mode_selects_the_first_events_of_chosen_experiences():
    m = parse_sim("sample:2@3")
    ev = lambda e, ep=0, it=0, method="replay": Event(method, e, ep, it, 4, 0)  # noqa: E731
    assert m.selects(ev(0), 10, 0) and m.selects(ev(0), 10, 1) and not m.selects(ev(0), 10, 2)
    assert not m.selects(ev(1), 11, 0) and m.selects(ev(3), 11, 0) and m.selects(ev(9), 11, 0)
    assert m.selects(ev(10), 11, 0) and not m.selects(ev(10), 11, 2)    # the last experience
    assert not m.selects(ev(10), None, 0) and not m.selects(ev(10), 12, 0)
    assert m.selects(ev(3, 0, 1), 10) and not m.selects(ev(3, 1, 0), 10)  # no index: first epoch only
    assert not m.selects(ev(0, method="naive"), 10, 0)
    assert not parse_sim("none").selects(ev(0), 10, 0) and parse_sim("all").selects(ev(7, 3, 9), 10, 99)


def test_backend_counts_events_per_experience():
    cfg, scen, lat, init = tiny_run()
    be = onchip.SimBackend(mode="sample:1", n_experiences=scen.n_experiences)
    protocol.run_method("replay", cfg, scen, lat, init, backend=be)
    assert [(r.event.experience, r.event.iteration) for r in be.records] == [(0, 0), (1, 0)]


def test_bad_backend_arguments():
    with pytest.raises(ConfigError, match="cores"):
        onchip.SimBackend(cores=0)
    with pytest.raises(ConfigError, match="--sim"):
        onchip.SimBackend(mode="sometimes")
