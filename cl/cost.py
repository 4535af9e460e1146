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
    transfer), costed by ``platform.l3`` (:meth:`pulpsim.sim.platform.L3Config.transfer_cycles`).
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


# --------------------------------------------------------------------------------------------
# Steps of a learning event and their measurement
# --------------------------------------------------------------------------------------------

#: Hyper-parameters of the simulated SGD step (AR1*'s momentum and weight decay; the learning rate
#: does not change the cycles).
_SGD = {"lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4}


@dataclass(frozen=True)
class StepSpec:
    """One tiled step of a learning event: the model layer it belongs to (``index``, ``name``,
    ``kind``; the loss has the classifier's), its label in reports
    (``step``), the tiled op that runs it (``op``/``op_step`` of :data:`pulpsim.workloads.tiled.TILED_LAYERS`),
    the shapes of its inputs, its parameters, and whether it runs once per sample or once per event."""

    index: int
    name: str
    kind: str
    step: str
    op: str
    op_step: str
    shapes: tuple          #: ((input name, shape), ...)
    params: tuple = ()     #: ((name, value), ...)
    per: str = "sample"    #: "sample", "accumulate" (every sample but the first) or "event"

    def inputs(self, rng: np.random.Generator) -> dict:
        """Random standard-normal float32 inputs of this step's shapes."""
        return {nm: rng.standard_normal(shape).astype(np.float32) for nm, shape in self.shapes}

    @property
    def key(self) -> tuple:
        return (self.index, self.step)


def sample_steps(adaptive, first_ig: bool = False, batch: int = 128) -> list[StepSpec]:
    """The tiled steps of a learning event through the adaptive stage ``adaptive`` (layers after the LR
    layer), in execution order, read from the programs the simulator backend runs
    (:func:`pulpsim.cl.onchip.sample_program` of a sample after the first, then
    :func:`pulpsim.cl.onchip.update_program`): per sample the forward pass (convolution,
    folded-BatchNorm bias, ReLU; pool; fc), the softmax cross-entropy and its gradient (divided by
    ``batch``), the backward pass (ReLU gradient, bias and weight gradients, input gradient; the first
    adaptive layer has no input gradient unless ``first_ig``); from the second sample on, the
    accumulation of each weight and bias gradient; per event one SGD step (momentum, weight decay) per
    weight and bias tensor.  Each step's input shapes follow from the given tensors' shapes through
    the planner's output shapes, as :func:`pulpsim.workloads.tiled.run_sequence` derives them."""
    from pulpsim.cl import onchip
    adaptive = list(adaptive)
    if not adaptive:
        raise ConfigError("cost: the adaptive stage is empty")
    programs = ((onchip.sample_program(adaptive, label=0, batch=batch, first=False, first_ig=first_ig), None),
                (onchip.update_program(adaptive, **_SGD), "event"))
    shapes = _given_shapes(adaptive)
    names = {l.index: l.name for l in adaptive}
    specs = []
    for prog, per in programs:
        for st, (index, kind, step) in zip(prog.steps, prog.tags):
            ins = _step_inputs(st, shapes)
            specs.append(StepSpec(index, names[index], kind, step, st.layer, st.step, ins,
                                  tuple(st.params.items()),
                                  per or ("accumulate" if st.layer == "accumulate" else "sample")))
    return specs


def _given_shapes(adaptive) -> dict:
    """Shapes of the tensors the programs are given: the sample ``x`` at the first adaptive layer, and
    per weight and bias tensor the parameter, the gradients so far ``acc`` and the momentum ``v``."""
    from pulpsim.cl import onchip
    shapes = {"x": tuple(adaptive[0].in_shape)}
    for l in adaptive:
        for k in onchip.grad_keys(l):
            shape = onchip.param_shape(l, k)
            shapes.update({f"{k}{l.index}": shape, f"acc{l.index}.{k}": shape, f"v{l.index}.{k}": shape})
    return shapes


def _step_inputs(st, shapes: dict) -> tuple:
    """``((input name, shape), ...)`` of the sequence step ``st`` (an input is a tensor's name or
    ``(name, shape)``, a view), recording in ``shapes`` the shapes of the tensors it produces."""
    from pulpsim.workloads.tileplan import _shapes_plan
    ins = tuple((local, tuple(ref[1]) if isinstance(ref, tuple) else shapes[ref]) for local, ref in st.ins.items())
    plan = _shapes_plan(st.layer, st.step, {local: np.zeros(sh, np.float32) for local, sh in ins}, dict(st.params))
    for local, nm in st.outs.items():
        shapes[nm] = tuple(next(sh for o, sh in plan.outs.values() if o == local))
    return ins


def step_count(spec: StepSpec, batch: int) -> int:
    """Executions of ``spec`` in an event of ``batch`` samples."""
    return {"sample": batch, "accumulate": batch - 1, "event": 1}[spec.per]


#: Work of an event that no kernel has measured on the simulator: (label, reason).
NOT_MEASURED_FROZEN = "not measured: no int8 kernel runs the frozen stage on the simulator yet"
NOT_MEASURED_DEQUANT = "not measured: no kernel dequantizes LRs to FP32 on the simulator yet"


@dataclass
class StepRun:
    """Counts of one simulated run of a step (a :func:`pulpsim.workloads.tiled.run_tiled`)."""

    cycles: int            #: core 0's schedule, first DMA to last store
    macs: int
    instructions: int      #: every core, the whole run
    stalls: dict           #: stall cycles by cause, every core
    bank_conflicts: int
    dma_busy: int          #: cycles the DMA moved data
    dma_wait: int          #: core 0's cycles waiting for the DMA
    energy_uj: float       #: pulpsim's estimate (the ``energy`` platform group), the whole run

    def signature(self) -> tuple:
        """What must repeat exactly for the step to count as data-independent."""
        return (self.cycles, self.instructions, tuple(sorted(self.stalls.items())), self.bank_conflicts,
                self.dma_busy, self.dma_wait)


def run_step(spec: StepSpec, platform, cores: int, rng: np.random.Generator) -> StepRun:
    """Simulate ``spec`` once on random inputs drawn from ``rng``."""
    from pulpsim.workloads import tiled
    r = tiled.run_tiled(spec.op, spec.op_step, spec.inputs(rng), platform=platform, cores=cores,
                        **dict(spec.params))
    res = r.result
    return StepRun(cycles=r.cycles, macs=r.macs, instructions=res.instructions,
                   stalls={k: v for k, v in res.stalls.items() if v}, bank_conflicts=r.bank_conflicts,
                   dma_busy=int(res.dma.get("busy_cycles", 0)), dma_wait=r.dma_wait_cycles,
                   energy_uj=res.energy_total_uj)


@dataclass
class StepMeasurement:
    """A step measured for a mini-batch: ``runs`` holds one run when two random inputs gave identical
    counts (``independent``; the event counts it once per sample), else one run per sample."""

    spec: StepSpec
    runs: list
    independent: bool

    def total(self, count: int) -> dict:
        """Counts of ``count`` executions (each of ``runs`` once when every sample was simulated)."""
        if not self.independent and len(self.runs) != count:
            raise ConfigError(f"cost: step {self.spec.key} was simulated for {len(self.runs)} samples, "
                              f"not the {count} an event needs")
        runs, mult = (self.runs[:1], count) if self.independent else (self.runs, 1)
        stalls: dict = {}
        for r in runs:
            for k, v in r.stalls.items():
                stalls[k] = stalls.get(k, 0) + v * mult
        return {"cycles": mult * sum(r.cycles for r in runs), "macs": mult * sum(r.macs for r in runs),
                "instructions": mult * sum(r.instructions for r in runs), "stalls": stalls,
                "bank_conflicts": mult * sum(r.bank_conflicts for r in runs),
                "dma_busy": mult * sum(r.dma_busy for r in runs), "dma_wait": mult * sum(r.dma_wait for r in runs),
                "energy_uj": mult * sum(r.energy_uj for r in runs)}


def measure_steps(specs, platform, cores: int = 8, samples: int = 128, seed: int = 0,
                  progress=None) -> dict:
    """Simulate every step of ``specs`` on random data: a per-sample step twice on two different random
    inputs; if every count repeats exactly (:meth:`StepRun.signature`) it is data-independent and
    counted as often as an event of ``samples`` samples runs it (:func:`step_count`) from one run,
    otherwise it is simulated that many times.  A per-event step runs once.  ``progress(done, total, spec)`` is called after each step.
    Returns ``{spec.key: StepMeasurement}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, spec in enumerate(specs):
        n = step_count(spec, samples)
        first = run_step(spec, platform, cores, rng)
        if n <= 1:      # nothing to scale: one run is the event's count (or the step does not run)
            out[spec.key] = StepMeasurement(spec, [first], True)
        else:
            second = run_step(spec, platform, cores, rng)
            if second.signature() == first.signature():
                out[spec.key] = StepMeasurement(spec, [first], True)
            else:
                runs = [first, second] + [run_step(spec, platform, cores, rng) for _ in range(n - 2)]
                out[spec.key] = StepMeasurement(spec, runs, False)
        if progress is not None:
            progress(k + 1, len(specs), spec)
    return out


# --------------------------------------------------------------------------------------------
# The cost of one event
# --------------------------------------------------------------------------------------------

#: Counts a row carries (None where not measured).
_COUNTS = ("cycles", "macs", "instructions", "bank_conflicts", "dma_busy", "dma_wait", "energy_uj")


@dataclass
class StepCost:
    """One row of an event's cost: a step of a layer, executed ``count`` times in the event; the counts
    are the event's totals for that row (``None``: not measured, ``how`` says why)."""

    index: int
    name: str
    kind: str
    step: str
    count: int
    how: str
    cycles: int | None = None
    macs: int | None = None
    instructions: int | None = None
    stalls: dict | None = None
    bank_conflicts: int | None = None
    dma_busy: int | None = None
    dma_wait: int | None = None
    energy_uj: float | None = None

    @property
    def measured(self) -> bool:
        return self.cycles is not None

    @property
    def mac_per_cycle(self) -> float | None:
        return self.macs / self.cycles if self.cycles and self.macs is not None else None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mac_per_cycle"] = self.mac_per_cycle
        return d


def _stall_sum(rows) -> dict:
    total: dict = {}
    for r in rows:
        for k, v in (r.stalls or {}).items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


@dataclass
class EventCost:
    """Everything one learning event costs.  ``config`` describes it (LR layer, memory, mini-batch,
    platform, clock); ``rows`` are per layer and step; ``l3`` is the modelled LR traffic.  The cluster
    steps run one after the other, and the L3 transfers before them unless ``l3_overlap`` (then they
    are hidden behind the cluster's work, as a double-buffered prefetch of the next event's LRs would)."""

    config: dict
    rows: list
    l3: dict
    power: PowerModel
    clock_mhz: float
    events_per_hour: float = 60.0
    l3_overlap: bool = False
    #: Counts measured for the event as a whole, not per row (a simulated event runs its steps in
    #: sequences: instructions, stalls, bank conflicts, DMA and energy are known per sequence only);
    #: they replace the row sums in :meth:`totals`.
    event_totals: dict | None = None

    @property
    def measured_rows(self) -> list:
        return [r for r in self.rows if r.measured]

    @property
    def not_measured(self) -> list:
        return [r for r in self.rows if not r.measured]

    def totals(self) -> dict:
        """Sums over the measured rows, time, energy by every model, and the lifetime by the chosen one."""
        rows = self.measured_rows
        over = self.event_totals or {}
        t = {k: over[k] if k in over else sum(getattr(r, k) or 0 for r in rows) for k in _COUNTS}
        t["stalls"] = dict(sorted(over["stalls"].items(), key=lambda kv: -kv[1])) if "stalls" in over \
            else _stall_sum(rows)
        t["stall_cycles"] = sum(t["stalls"].values())
        t["mac_per_cycle"] = t["macs"] / t["cycles"] if t["cycles"] else 0.0
        l3_cycles = 0.0 if self.l3_overlap else self.l3["cycles"]
        t["event_cycles"] = t["cycles"] + l3_cycles
        t["time_s"] = t["event_cycles"] / (self.clock_mhz * 1e6)
        l3_j = self.power.l3_energy_j(self.l3["bytes"])
        t["energy_j_by_model"] = {
            m: (None if (e := self.power.cluster_energy_j(t["cycles"], self.clock_mhz, t["macs"],
                                                         t["energy_uj"], m)) is None else e + l3_j)
            for m in ENERGY_MODELS}
        t["l3_energy_j"] = l3_j
        t["energy_j"] = t["energy_j_by_model"][self.power.energy_model]
        p = self.power
        t["lifetime_h"] = lifetime_hours(t["energy_j"], self.events_per_hour, p.battery_ah, p.battery_v,
                                         p.sleep_w, min(t["time_s"], 3600.0 / self.events_per_hour)
                                         if self.events_per_hour else 0.0)
        t["not_measured"] = [f"{r.name} {r.step}: {r.how}" for r in self.not_measured]
        return t

    def to_dict(self) -> dict:
        return {"config": self.config, "rows": [r.to_dict() for r in self.rows], "l3": self.l3,
                "power": dataclasses.asdict(self.power), "clock_mhz": self.clock_mhz,
                "events_per_hour": self.events_per_hour, "l3_overlap": self.l3_overlap,
                "event_totals": self.event_totals, "totals": self.totals()}

    def table(self) -> str:
        """Markdown: one row per layer and step (counts for the whole event), then the totals."""
        head = ("| idx | layer | step | x | cycles | MACs | MAC/cycle | stall cycles (all cores) | bank conflicts | "
                "DMA busy | DMA wait | energy (uJ, pulpsim) | how |")
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        nm = "not measured"
        for r in self.rows:
            if r.measured:
                mpc = f"{r.mac_per_cycle:.2f}" if r.macs else ""
                opt = lambda v, f="{:,}": "" if v is None else f.format(v)  # noqa: E731
                cells = [f"{r.cycles:,}", f"{r.macs:,}" if r.macs else "", mpc,
                         opt(None if r.stalls is None else sum(r.stalls.values())), opt(r.bank_conflicts),
                         opt(r.dma_busy), opt(r.dma_wait), opt(r.energy_uj, "{:,.1f}")]
            else:
                cells = [nm, f"{r.macs:,}" if r.macs else "", "", "", "", "", "", nm]
            lines.append(f"| {r.index} | {r.name} | {r.step} | {r.count} | " + " | ".join(cells) + f" | {r.how} |")
        t = self.totals()
        lines += ["", self.summary(t)]
        return "\n".join(lines)

    def summary(self, t: dict | None = None) -> str:
        """The totals in a few lines of text."""
        t = t or self.totals()
        c = self.config
        e = t["energy_j_by_model"]
        fmt = lambda v: "n/a" if v is None else f"{v * 1e3:.1f} mJ"  # noqa: E731
        stalls = ", ".join(f"{k} {v:,}" for k, v in list(t["stalls"].items())[:4])
        return "\n".join([
            f"event: LR layer {c.get('lr_index')} ({c.get('lr_name')}), {c.get('n_new')} new + "
            f"{c.get('n_replay')} replayed samples",
            f"cluster (measured): {t['cycles']:,} cycles, {t['macs']:,} MACs, {t['mac_per_cycle']:.2f} MAC/cycle, "
            f"{t['stall_cycles']:,} stall cycles of all cores ({stalls}), {t['bank_conflicts']:,} bank conflicts, "
            f"DMA busy {t['dma_busy']:,} / wait {t['dma_wait']:,} cycles",
            f"L3 (modelled): {self.l3['bytes']:,} bytes in {self.l3['transfers']:,} transfers, "
            f"{self.l3['cycles']:,.0f} cycles{' (overlapped)' if self.l3_overlap else ''}",
            f"time at {self.clock_mhz:g} MHz: {t['time_s'] * 1e3:.2f} ms; energy ({self.power.energy_model}): "
            f"{fmt(t['energy_j'])} (vega {fmt(e['vega'])}, pulpsim {fmt(e['pulpsim'])}, "
            f"vega-flops {fmt(e['vega-flops'])}; L3 {t['l3_energy_j'] * 1e3:.2f} mJ)",
            f"lifetime at {self.events_per_hour:g} events/hour on {self.power.battery_ah:g} Ah at "
            f"{self.power.battery_v:g} V: {t['lifetime_h']:,.0f} h",
            "not measured: " + ("; ".join(t["not_measured"]) or "nothing")])


def _not_measured_rows(frozen, n_new: int, batch: int) -> list[StepCost]:
    """The rows of an event that no kernel has measured (counts of MACs where they are exact)."""
    lr = frozen[-1]
    return [StepCost(lr.index, f"frozen 0..{lr.index}", "frozen", "int8 fw", n_new, NOT_MEASURED_FROZEN,
                     macs=n_new * model.total_macs(frozen)),
            StepCost(lr.index, lr.name, "dequant", "LR dequant", batch, NOT_MEASURED_DEQUANT)]


def cost_from_steps(measured: dict, layers, lr_index: int, n_new: int, n_replay: int, platform,
                    power: PowerModel | None = None, precision=8, events_per_hour: float = 60.0,
                    l3_overlap: bool = False, extra_config: dict | None = None) -> EventCost:
    """The :class:`EventCost` of one event with LR layer ``lr_index`` and ``n_new + n_replay`` samples, from
    step measurements (:func:`measure_steps`) that cover its adaptive stage: the steps of layers after the
    LR layer, without the first adaptive layer's input gradient."""
    power = power or PowerModel()
    frozen, adaptive = model.split(layers, lr_index)
    batch = n_new + n_replay
    rows = []
    for spec in sample_steps(adaptive, batch=batch):
        m = measured.get(spec.key)
        if m is None:
            raise ConfigError(f"cost: no measurement of step {spec.step} of layer {spec.index} ({spec.name})")
        count = step_count(spec, batch)
        how = ("once per event" if spec.per == "event" else
               f"simulated once, x{count} (data-independent: two inputs gave identical counts)"
               if m.independent else f"simulated for each of the {count} samples (data-dependent)")
        rows.append(StepCost(spec.index, spec.name, spec.kind, spec.step, count, how, **m.total(count)))
    rows += _not_measured_rows(frozen, n_new, batch)
    lr_elems = layers[lr_index].out_elems
    n_classes = layers[-1].out_shape[0]
    l3 = l3_traffic(platform, n_replay, memory.lr_bytes(lr_elems, precision), memory.label_bytes(n_classes))
    config = {"lr_index": lr_index, "lr_name": layers[lr_index].name, "lr_shape": layers[lr_index].out_shape,
              "precision": memory.precision_name(precision), "n_new": n_new, "n_replay": n_replay,
              "mb_size": batch, "adaptive_train_macs_per_sample": model.train_macs(adaptive),
              "platform": platform.name, "clock_mhz": platform.clock_mhz, "l2_size": platform.l2.size,
              "l3": dataclasses.asdict(platform.l3)}
    config.update(extra_config or {})
    return EventCost(config, rows, l3, power, platform.clock_mhz, events_per_hour, l3_overlap)


def _field(obj, name: str, default=None):
    """``obj``'s ``name``: an attribute (an :class:`~pulpsim.cl.onchip.EventRecord`) or a dict's key (a record
    read back from ``results.json``)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _optional_int(v):
    return None if v is None else int(v)


def _energy_total(e) -> float | None:
    """Microjoules from a number or a dict of components (``Result.energy_uj``)."""
    if e is None:
        return None
    return float(sum(e.values())) if isinstance(e, dict) else float(e)


def _record_row(r) -> StepCost:
    """A :class:`StepCost` from one row of a simulated event (the record's per-step counts, summed over
    its samples; counts the row lacks stay ``None``)."""
    stalls = _field(r, "stalls")
    return StepCost(
        index=int(_field(r, "index", default=-1)),
        name=str(_field(r, "name", default="")), kind=str(_field(r, "kind", default="")),
        step=str(_field(r, "step", default="")), count=int(_field(r, "count", default=1)),
        how="simulated (every sample of the event)", cycles=int(_field(r, "cycles", default=0)),
        macs=int(_field(r, "macs", default=0)), instructions=_optional_int(_field(r, "instructions")),
        stalls=None if stalls is None else dict(stalls),
        bank_conflicts=_optional_int(_field(r, "bank_conflicts")),
        dma_busy=_optional_int(_field(r, "dma_busy")),
        dma_wait=_optional_int(_field(r, "dma_wait")),
        energy_uj=_energy_total(_field(r, "energy_uj")))


def _record_totals(record) -> dict | None:
    """The event-level counts of a simulated event (``instructions``, ``stalls``, ``bank_conflicts``,
    ``dma`` (``busy_cycles``), ``dma_wait_cycles``, ``energy_uj``), where the record has them."""
    dma = _field(record, "dma")
    found = {"instructions": _field(record, "instructions"), "stalls": _field(record, "stalls"),
             "bank_conflicts": _field(record, "bank_conflicts"),
             "dma_busy": _field(dma, "busy_cycles") if isinstance(dma, dict) else None,
             "dma_wait": _field(record, "dma_wait_cycles"),
             "energy_uj": _energy_total(_field(record, "energy_uj"))}
    found = {k: (dict(v) if k == "stalls" else v) for k, v in found.items() if v is not None}
    return found or None


def event_cost(record, platform, power: PowerModel | None = None, lr_bytes_per_sample: int | None = None,
               label_bytes: int = 1, events_per_hour: float = 60.0, l3_overlap: bool = False,
               frozen_macs_per_sample: int | None = None, layers=None) -> EventCost:
    """The :class:`EventCost` of an event simulated in full (an ``EventRecord`` of
    :class:`pulpsim.cl.onchip.SimBackend`, or its ``to_dict()``): cycles and MACs per layer and step as
    measured, the event's instructions, stalls, bank conflicts, DMA and energy as measured (per row where
    the record has them per row), the L3 traffic of its ``n_replay`` LRs of ``lr_bytes_per_sample`` bytes
    each (``None``: no L3 traffic), and the frozen stage's int8 forward and the LR dequantization as not
    measured.  ``layers`` (the network, optional) names the LR layer in the config (``lr_name``)."""
    from pulpsim.sim.platform import get_platform
    platform = get_platform(platform) if not hasattr(platform, "l3") else platform
    ev = _field(record, "event", default=None) or {}
    n_new = int(_field(record, "n_new", default=_field(ev, "n_new", default=0)))
    n_replay = int(_field(record, "n_replay", default=_field(ev, "n_replay", default=0)))
    rows = [_record_row(r) for r in _field(record, "rows", default=[])]
    if not rows:
        raise ConfigError("cost: the event record has no measured rows")
    lr_index = min(r.index for r in rows) - 1
    rows.append(StepCost(lr_index, "frozen stage", "frozen", "int8 fw", n_new, NOT_MEASURED_FROZEN,
                         macs=None if frozen_macs_per_sample is None else n_new * frozen_macs_per_sample))
    rows.append(StepCost(lr_index, "LR", "dequant", "LR dequant", n_new + n_replay, NOT_MEASURED_DEQUANT))
    l3 = (l3_traffic(platform, n_replay, lr_bytes_per_sample, label_bytes) if lr_bytes_per_sample else
          {"bytes": 0, "transfers": 0, "bursts": 0, "cycles": 0.0, "seconds": 0.0, "source": "none"})
    event = _field(record, "event", default=None)
    if event is not None and not isinstance(event, dict):
        event = dataclasses.asdict(event) if dataclasses.is_dataclass(event) else str(event)
    config = {"n_new": n_new, "n_replay": n_replay, "mb_size": n_new + n_replay, "platform": platform.name,
              "clock_mhz": platform.clock_mhz, "event": event, "lr_index": lr_index,
              "lr_name": layers[lr_index].name if layers is not None and 0 <= lr_index < len(layers) else None}
    return EventCost(config, rows, l3, power or PowerModel(), platform.clock_mhz, events_per_hour, l3_overlap,
                     _record_totals(record))


# --------------------------------------------------------------------------------------------
# pulpsim cl cost --paper
# --------------------------------------------------------------------------------------------

#: New samples of an experience after the first in NICv2-391 (about 300 images: one object, one session),
#: which sets the mini-batch composition (ar1-pytorch's rule, protocol.composition).
PAPER_N_NEW = 300
#: L2 for the paper-scale runs: conv6/sep's FP32 weights alone are 4 MiB, its SGD step holds weights,
#: gradients and velocities (12 MiB); on the device they would live in L3 or MRAM.
PAPER_L2_BYTES = 16 * 1024 * 1024


def _top_stalls(stalls: dict, n: int = 3) -> str:
    """The ``n`` largest stall causes, in units of 10^6 cycles."""
    return ", ".join(f"{k} {v / 1e6:,.1f} M" for k, v in list(stalls.items())[:n])


class EventCycles:
    """A ``cost_fn`` for :func:`pulpsim.cl.compare.run_compare`: the cycles of one learning event of a
    query (``lr_index``, ``precision``, ``n_new``, ``n_replay``) through ``layers`` on ``platform``, the
    cluster's measured by :func:`measure_steps` plus the modelled L3 transfers of its replays.  Steps are
    simulated once and reused across queries (a later LR layer's steps are a suffix of an earlier one's)."""

    def __init__(self, layers, platform="vega", cores: int = 8, seed: int = 0,
                 l2_size: int | None = PAPER_L2_BYTES, overrides: dict | None = None):
        from pulpsim.sim.platform import get_platform
        ov = dict(overrides or {})
        if l2_size is not None:
            ov.setdefault("l2.size", l2_size)
        self.layers, self.cores, self.seed = tuple(layers), cores, seed
        self.platform = get_platform(platform, ov)
        self._measured: dict = {}      # batch -> {step key: StepMeasurement}

    def event(self, query) -> EventCost:
        """The :class:`EventCost` of the query's event."""
        batch = query.n_new + query.n_replay
        _, adaptive = model.split(self.layers, query.lr_index)
        have = self._measured.setdefault(batch, {})
        todo = [s for s in sample_steps(adaptive, batch=batch) if s.key not in have]
        have.update(measure_steps(todo, self.platform, self.cores, samples=batch, seed=self.seed))
        return cost_from_steps(have, self.layers, query.lr_index, query.n_new, query.n_replay, self.platform,
                               precision=query.precision)

    def __call__(self, query) -> float:
        return float(self.event(query).totals()["event_cycles"])


@dataclass
class PaperCost:
    """Outcome of :func:`paper_cost`: the LR memory table, the measured steps (shared by every LR
    layer), one :class:`EventCost` per (LR layer, memory size), and how long it took."""

    memory_table: str
    config: dict
    measured: dict
    events: list
    wall_seconds: float

    def summary_table(self) -> str:
        """One row per event: the figures the published comparison asks for."""
        head = ("| LR idx | LR layer | LRs | new + replayed | cycles (cluster) | MAC/cycle | stall cycles (all cores) | "
                "main stall causes | bank conflicts | DMA busy / wait | L3 bytes / cycles (modelled) | time (ms) | "
                f"energy (mJ): {ENERGY_MODELS[0]} / {' / '.join(ENERGY_MODELS[1:])} | lifetime (h) |")
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        for ev in self.events:
            t, c = ev.totals(), ev.config
            lines.append(
                f"| {c['lr_index']} | {c['lr_name']} | {c['capacity']} | {c['n_new']} + {c['n_replay']} | "
                f"{t['cycles']:,} | {t['mac_per_cycle']:.2f} | {t['stall_cycles']:,} | {_top_stalls(t['stalls'])} | "
                f"{t['bank_conflicts']:,} | {t['dma_busy']:,} / {t['dma_wait']:,} | "
                f"{ev.l3['bytes']:,} / {ev.l3['cycles']:,.0f} | {t['time_s'] * 1e3:,.1f} | "
                + " / ".join("n/a" if e is None else f"{e * 1e3:,.1f}" for e in t["energy_j_by_model"].values())
                + f" | {t['lifetime_h']:,.0f} |")
        return "\n".join(lines)

    def steps_table(self) -> str:
        """The simulated steps, one sample (or one event for SGD): cycles, MAC/cycle, data independence."""
        head = "| idx | layer | step | cycles (one run) | MACs | MAC/cycle | counts on two random inputs |"
        lines = [head, "|" + "---|" * (head.count("|") - 1)]
        for m in self.measured.values():
            r = m.runs[0]
            mpc = f"{r.macs / r.cycles:.2f}" if r.macs and r.cycles else ""
            ind = ("once per event" if m.spec.per == "event" else "identical: scaled by the mini-batch"
                   if m.independent else f"differ: every sample simulated ({len(m.runs)} runs)")
            lines.append(f"| {m.spec.index} | {m.spec.name} | {m.spec.step} | {r.cycles:,} | "
                         f"{r.macs:,} | {mpc} | {ind} |")
        return "\n".join(lines)

    def text(self) -> str:
        """The whole printable report of ``pulpsim cl cost --paper``."""
        c = self.config
        ev0 = self.events[0]
        p = ev0.power
        return "\n".join([
            f"MobileNet-V1 width {c['width']:g}, {c['resolution']}x{c['resolution']}, {c['classes']} classes; "
            f"platform {c['platform']} ({c['cores']} cores, {c['clock_mhz']:g} MHz), L2 enlarged to "
            f"{c['l2_size'] // 2**20} MiB for these runs (the adaptive stage's tensors exceed the chip's L2: on "
            f"the device they would live in L3 or MRAM); random data (seed {c['seed']}), no dataset.",
            "", "LR memory (MB = 10^6 bytes, labels excluded):", "", self.memory_table, "",
            f"Per learning event: mini-batch {c['mb_size']} (new + replayed by the AR1* composition rule for "
            f"{c['n_new_experience']} new samples), {c['precision']} LRs fetched from L3; energy model "
            f"{p.energy_model!r} for the lifetime (all three models shown); lifetime at {ev0.events_per_hour:g} event(s)/hour on {p.battery_ah:g} Ah at "
            f"{p.battery_v:g} V (the published figure: 535 h at one event a minute, i.e. "
            f"{energy_for_lifetime(535, 60, p.battery_ah, p.battery_v, p.sleep_w) * 1e3:,.0f} mJ per event):",
            "", self.summary_table(), "",
            "Cycles, stalls, bank conflicts and DMA are measured on the simulator (the adaptive stage's "
            "forward, loss gradient, backward, gradient accumulation and SGD); the L3 transfers are modelled; "
            "the int8 frozen-stage forward of the new samples and the LR dequantization are not measured and "
            "not included (see the per-step table of an event). One simulation of the "
            f"adaptive stage of LR layer {c['lr_layers'][0]} serves every LR layer: a later LR layer's adaptive "
            "stage is a suffix of it, minus its first layer's input gradient.",
            "", "Simulated steps (shared by every LR layer):", "", self.steps_table(), "",
            f"host time {self.wall_seconds:.0f} s"])

    def to_dict(self) -> dict:
        return {"memory_table": self.memory_table, "config": self.config,
                "steps": [{"index": m.spec.index, "name": m.spec.name, "step": m.spec.step, "per": m.spec.per,
                           "independent": m.independent, "runs": [dataclasses.asdict(r) for r in m.runs]}
                          for m in self.measured.values()],
                "events": [ev.to_dict() for ev in self.events], "wall_seconds": self.wall_seconds}


def paper_cost(platform="vega", cores: int = 8, lr_layers=(19, 21, 23, 25, 27), sizes=PAPER_SIZES,
               mb_size: int = PAPER_MB, precision=8, power: PowerModel | None = None,
               events_per_hour: float = 60.0, width: float = PAPER_WIDTH, resolution: int = PAPER_RESOLUTION,
               num_classes: int = PAPER_CLASSES, n_new: int = PAPER_N_NEW, l2_size: int | None = PAPER_L2_BYTES,
               overrides: dict | None = None, seed: int = 0, l3_overlap: bool = False,
               progress=None) -> PaperCost:
    """The cost per learning event of the paper-scale configuration on random data: for each LR layer in
    ``lr_layers`` and each memory size in ``sizes``, a mini-batch of ``mb_size`` samples composed by the AR1*
    rule for an experience of ``n_new`` new samples.  The adaptive stage of the lowest LR layer is simulated
    step by step once (a per-sample step once more on a second random input, and for every sample if the
    two runs' counts differ); the other LR layers reuse its steps.  ``l2_size`` enlarges L2 (``None``:
    keep the platform's).  ``progress(done, total, spec)`` follows the simulated steps."""
    from pulpsim.cl.protocol import composition
    from pulpsim.sim.platform import get_platform
    t0 = time.perf_counter()
    layers = model.mobilenet_v1(width, resolution, num_classes)
    lrs = sorted({model.check_lr_layer(layers, i) for i in lr_layers})
    if not lrs:
        raise ConfigError("cost: no LR layer given")
    for name, v in (("mb_size", mb_size), ("n_new", n_new), ("cores", cores)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"cost: {name} must be a positive integer, got {v!r}")
    if not sizes or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in sizes):
        raise ConfigError(f"cost: LR memory sizes must be positive integers, got {sizes!r}")
    prec = memory.parse_precision(precision)
    ov = dict(overrides or {})
    if l2_size is not None:
        ov.setdefault("l2.size", l2_size)
    plat = get_platform(platform, ov)
    power = power or PowerModel()
    _, adaptive = model.split(layers, lrs[0])
    specs = sample_steps(adaptive, batch=mb_size)
    # The input gradients of the later LR layers' first layers are in specs already (they are not the
    # first layer of the lowest LR layer's stage); the SGD steps are per layer.
    measured = measure_steps(specs, plat, cores, samples=mb_size, seed=seed, progress=progress)
    events = []
    for lr in lrs:
        for m in sizes:
            new, rep, _ = composition(n_new, m, mb_size)
            events.append(cost_from_steps(measured, layers, lr, new, rep, plat, power, prec, events_per_hour,
                                          l3_overlap, extra_config={"capacity": m}))
    config = {"width": width, "resolution": resolution, "classes": num_classes, "platform": plat.name,
              "cores": cores, "clock_mhz": plat.clock_mhz, "l2_size": plat.l2.size, "lr_layers": lrs,
              "sizes": list(sizes), "mb_size": mb_size, "precision": memory.precision_name(prec),
              "n_new_experience": n_new, "seed": seed, "l3": dataclasses.asdict(plat.l3)}
    table = memory.format_memory_table(memory.memory_table(layers))
    return PaperCost(table, config, measured, events, time.perf_counter() - t0)
