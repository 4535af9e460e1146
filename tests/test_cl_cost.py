"""Cost of a learning event (pulpsim.cl.cost): energy and lifetime formulas, the L3 model, the
published LR memory table, data-independence of the simulated steps that are scaled by the
mini-batch, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pulpsim.cl import cost, memory, model
from pulpsim.errors import ConfigError
from pulpsim.platform import get_platform


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
