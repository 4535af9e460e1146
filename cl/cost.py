"""Cost of a learning event on the simulated cluster: cycles by layer and step, MAC/cycle, stalls,
bank conflicts, DMA, the latent-replay (LR) traffic from an external L3, time at the platform's
clock, energy from a configurable power model, and battery lifetime at an event rate.

Three pieces:

* :class:`PowerModel` and :func:`lifetime_hours`: the energy of an event from one of three models
  (``ENERGY_MODELS``) and what a battery lasts at a rate of events.  Every default is cited in the
  field's comment and in docs/cl.md ("Cost, energy and lifetime").
* :func:`l3_traffic`: the LR memory lives in the platform's ``l3`` (not in the guest's address
  map); fetching the replayed LRs of an event is costed from ``l3.latency``, ``l3.bandwidth`` and
  ``l3.burst`` ("modelled", never "measured").
* :class:`StepCost` rows (measured on the simulator) assembled into an :class:`EventCost` by
  :func:`cost_from_steps` (and :func:`event_cost` from a simulated event's record), and
  :func:`paper_cost`, the paper-scale configuration run on random data.

Work the simulator has not measured (the int8 frozen stage, which has no int8 kernel yet, and the
dequantization of LRs to FP32) appears as rows whose cycles and energy are ``None`` with the
reason, never as an estimate presented as a measurement.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from pulpsim.cl import memory, model
from pulpsim.errors import ConfigError

# --------------------------------------------------------------------------------------------
# Power model and lifetime
# --------------------------------------------------------------------------------------------

#: How an event's cluster energy is obtained:
#:  * "vega": time at the platform clock x ``active_w`` (VEGA's peak power: an upper bound when
#:    the cluster runs FP32 code below its peak rate);
#:  * "pulpsim": the simulator's own estimate from the run's counts (``Result.energy_uj``, the
#:    ``energy`` platform group: GVSoC's pulp_open power model, not calibrated to VEGA);
#:  * "vega-flops": 2 FLOP per MAC at VEGA's FP32 efficiency ``fp32_gflops_per_w`` (counts MACs
#:    only: steps without MACs cost nothing in this model).
ENERGY_MODELS = ("vega", "pulpsim", "vega-flops")


@dataclass(frozen=True)
class PowerModel:
    """Power figures and battery of the energy and lifetime estimates (SI units: W, Ah, V, pJ)."""

    #: Which model gives the cluster energy of an event (one of :data:`ENERGY_MODELS`).
    energy_model: str = "vega"
    #: Active power: VEGA's peak, "up to 32.2 GOPS @ 49.4 mW" (Rossi et al., "Vega: A Ten-Core SoC
    #: for IoT Endnodes With DNN Acceleration and Cognitive Wake-Up From MRAM-Based State-Retentive
    #: Sleep Mode", IEEE JSSC 57(1), 2022, abstract).
    active_w: float = 49.4e-3
    #: FP32 efficiency of the VEGA cluster: 79 GFLOPS/W (same abstract).
    fp32_gflops_per_w: float = 79.0
    #: Power between events: VEGA's cognitive sleep, 1.7 uW (same abstract).
    sleep_w: float = 1.7e-6
    #: Battery: 3.3 Ah, the capacity behind the 535 h lifetime of Ravaglia et al. ("A TinyML Platform
    #: for On-Device Continual Learning with Quantized Latent Replays", IEEE JETCAS 11(4), 2021) as
    #: reported by hackster.io's news article on it (the abstract gives 535 h at one mini-batch a minute).
    battery_ah: float = 3.3
    #: Battery voltage: an assumption (neither source states it); 3.3 V.
    battery_v: float = 3.3
    #: L3 (HyperRAM) read energy per byte: an assumption, about 25 mA at 1.8 V while streaming
    #: 333 MB/s (135 pJ/B), rounded up for the HyperBus I/O.
    l3_pj_per_byte: float = 150.0

    def __post_init__(self) -> None:
        if self.energy_model not in ENERGY_MODELS:
            raise ConfigError(f"power model: energy_model {self.energy_model!r} unknown: choose "
                              + ", ".join(ENERGY_MODELS))
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "energy_model":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"power model: {f.name}={v!r}: expected a finite non-negative number")
        for name in ("active_w", "fp32_gflops_per_w", "battery_ah", "battery_v"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"power model: {name} must be positive, got {getattr(self, name)!r}")

    def with_overrides(self, overrides: dict | None = None) -> "PowerModel":
        """A copy with fields replaced from ``{"active_w": "0.03", ...}`` (strings are converted);
        an unknown field or a bad value is a :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(self)}
        changes = {}
        for key, value in (overrides or {}).items():
            if key not in known:
                raise ConfigError(f"power model: unknown parameter {key!r} (known: {', '.join(sorted(known))})")
            if key == "energy_model":
                changes[key] = str(value)
                continue
            try:
                changes[key] = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"power model: {key}={value!r}: expected a number") from None
        return dataclasses.replace(self, **changes)

    @property
    def battery_j(self) -> float:
        """Energy stored in the battery: Ah x 3600 s x V."""
        return self.battery_ah * 3600.0 * self.battery_v

    def cluster_energy_j(self, cycles: int, clock_mhz: float, macs: int, pulpsim_uj: float | None,
                         model_name: str | None = None) -> float | None:
        """Cluster energy of work that took ``cycles`` at ``clock_mhz`` and did ``macs`` MACs, by
        ``model_name`` (default: this model's); ``None`` for "pulpsim" when no estimate was measured."""
        name = model_name or self.energy_model
        if name == "vega":
            return cycles / (clock_mhz * 1e6) * self.active_w
        if name == "vega-flops":
            return 2.0 * macs / (self.fp32_gflops_per_w * 1e9)
        return None if pulpsim_uj is None else pulpsim_uj * 1e-6

    def l3_energy_j(self, nbytes: int) -> float:
        return nbytes * self.l3_pj_per_byte * 1e-12


def lifetime_hours(energy_per_event_j: float, events_per_hour: float, battery_ah: float = 3.3,
                   voltage: float = 3.3, sleep_w: float = 1.7e-6, event_seconds: float = 0.0) -> float:
    """Hours a battery of ``battery_ah`` at ``voltage`` lasts when the device learns
    ``events_per_hour`` events of ``energy_per_event_j`` each and sleeps at ``sleep_w`` the rest of the
    time (an event lasts ``event_seconds``): ``Ah * 3600 * V / P_avg / 3600`` with
    ``P_avg = E * rate / 3600 + sleep_w * (1 - rate * event_seconds / 3600)``."""
    for name, v in (("energy_per_event_j", energy_per_event_j), ("events_per_hour", events_per_hour),
                    ("sleep_w", sleep_w), ("event_seconds", event_seconds)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"lifetime: {name}={v!r}: expected a finite non-negative number")
    for name, v in (("battery_ah", battery_ah), ("voltage", voltage)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"lifetime: {name}={v!r}: expected a positive number")
    busy = events_per_hour * event_seconds / 3600.0
    if busy > 1:
        raise ConfigError(f"lifetime: {events_per_hour:g} events of {event_seconds:g} s do not fit in an hour")
    power = energy_per_event_j * events_per_hour / 3600.0 + sleep_w * (1.0 - busy)
    if power <= 0:
        raise ConfigError("lifetime: no energy drawn (zero events and zero sleep power): the lifetime is unbounded")
    return battery_ah * 3600.0 * voltage / power / 3600.0


def energy_for_lifetime(hours: float, events_per_hour: float, battery_ah: float = 3.3, voltage: float = 3.3,
                        sleep_w: float = 1.7e-6) -> float:
    """Energy per event (J) for which :func:`lifetime_hours` gives ``hours`` (event time neglected): what a
    published lifetime implies, e.g. 535 h at one event a minute on 3.3 Ah at 3.3 V."""
    if not (hours > 0 and events_per_hour > 0):
        raise ConfigError("energy_for_lifetime: hours and events_per_hour must be positive")
    return (battery_ah * 3600.0 * voltage / (hours * 3600.0) - sleep_w) * 3600.0 / events_per_hour


# --------------------------------------------------------------------------------------------
# L3 traffic of the LR memory
# --------------------------------------------------------------------------------------------

def l3_traffic(platform, n_replay: int, lr_bytes: int, label_bytes: int) -> dict:
    """The LR memory's traffic L3 -> L2 for one event: ``n_replay`` slots, each its packed LR followed
    by its label in one contiguous transfer (replays are random slots, so every slot is its own
    transfer), costed by ``platform.l3`` (:meth:`pulpsim.platform.L3Config.transfer_cycles`).
    Returns bytes, transfers, bursts, cycles (at ``platform.clock_mhz``) and seconds."""
    for name, v in (("n_replay", n_replay), ("lr_bytes", lr_bytes), ("label_bytes", label_bytes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ConfigError(f"L3 traffic: {name}={v!r}: expected a non-negative integer")
    l3 = platform.l3
    slot = lr_bytes + label_bytes
    cycles = n_replay * l3.transfer_cycles(slot)
    return {"bytes": n_replay * slot, "transfers": n_replay, "bursts": n_replay * -(-slot // l3.burst),
            "cycles": cycles, "seconds": cycles / (platform.clock_mhz * 1e6), "source": "modelled"}


# --------------------------------------------------------------------------------------------
# The paper-scale configuration
# --------------------------------------------------------------------------------------------

#: MobileNet-V1 of the published tables: width 1.0, 128x128 input, CORe50's 50 classes.
PAPER_WIDTH, PAPER_RESOLUTION, PAPER_CLASSES = 1.0, 128, 50
#: LR memory sizes and mini-batch of the published configuration (AR1*'s mb_size = 128).
PAPER_SIZES, PAPER_MB = (1500, 3000), 128


def memory_table_text() -> str:
    """The LR memory table of Ravaglia et al. (MB = 10^6 bytes, labels excluded) for the paper-scale
    network: FP32, UINT8 and bit-packed UINT7 LRs, 1500 and 3000 of them, per candidate LR layer."""
    layers = model.mobilenet_v1(PAPER_WIDTH, PAPER_RESOLUTION, PAPER_CLASSES)
    return memory.format_memory_table(memory.memory_table(layers))
