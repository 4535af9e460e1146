"""Results of a run: per-core statistics as Python objects, JSON and a table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from . import cluster, isa, state


@dataclass
class CoreStats:
    """What one core did during a run."""

    core: int
    cycles: int                 #: the core's clock at the end (its last instruction's completion)
    instructions: int
    stalls: dict[str, int]      #: extra cycles by cause (state.CYCLE_CAUSES)
    # cycles = instructions + sum(stalls) + asleep
    loads: int = 0
    stores: int = 0
    branches: int = 0
    branches_taken: int = 0
    jumps: int = 0
    exit_code: int | None = None  #: set when the core stopped through tohost
    asleep: int = 0             #: cycles with the clock gated by the event unit (not stalls)
    tcdm_accesses: int = 0
    fpu_ops: int = 0            #: operations on shared FPUs
    op_counts: dict[str, int] = field(default_factory=dict)

    @property
    def cpi(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0


@dataclass
class RegionStats:
    """A program region bracketed by pi_perf_start() / pi_perf_stop() (PCMR writes) on one core."""

    core: int
    index: int          #: n-th region of this core
    start: int          #: cycle of the starting PCMR write
    end: int            #: cycle of the stopping PCMR write
    instructions: int
    stalls: dict[str, int]
    asleep: int

    @property
    def cycles(self) -> int:
        return self.end - self.start


def regions_from_log(log) -> list[RegionStats]:
    """Pair start/stop snapshots of each core into regions."""
    regions: list[RegionStats] = []
    open_: dict[int, list] = {}
    count: dict[int, int] = {}
    for row in log:
        core, cycle, active = int(row[0]), int(row[1]), int(row[2])
        snap = row[3:]
        if active and core not in open_:
            open_[core] = [cycle, snap]
        elif not active and core in open_:
            start, s0 = open_.pop(core)
            d = snap - s0
            regions.append(RegionStats(
                core=core, index=count.get(core, 0), start=start, end=cycle,
                instructions=int(d[state.S_INSTR]),
                stalls={name: int(d[idx]) for idx, name in state.CYCLE_CAUSES.items()},
                asleep=int(d[state.S_SLEEP])))
            count[core] = count.get(core, 0) + 1
    return regions


@dataclass
class Result:
    """Outcome of :func:`pulpsim.run`."""

    exit_code: int
    cycles: int                 #: cycles until the program ended: the exit's cycle + 1, else the latest core clock
    instructions: int           #: instructions retired by all cores
    cores: list[CoreStats]
    stdout: str                 #: all output; lines carry "[core N] " once several cores have printed
    platform: str
    clock_mhz: float
    wall_seconds: float
    stdout_by_core: dict[int, str] = field(default_factory=dict)  #: each core's own output
    banks: list[dict] = field(default_factory=list)  #: per TCDM bank: accesses, conflicts
    fpus: list[dict] = field(default_factory=list)   #: per shared FPU: ops, conflicts
    dma: dict = field(default_factory=dict)          #: bytes, busy cycles, transfers, delayed beats
    regions: list[RegionStats] = field(default_factory=list)  #: pi_perf_start/stop regions
    energy_uj: dict = field(default_factory=dict)    #: estimated energy by component, microjoules

    @property
    def cpi(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0

    @property
    def mips(self) -> float:
        """Guest instructions per host second (millions)."""
        return self.instructions / self.wall_seconds / 1e6 if self.wall_seconds > 0 else 0.0

    @property
    def stalls(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in self.cores:
            for k, v in c.stalls.items():
                total[k] = total.get(k, 0) + v
        return total

    @property
    def time_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def energy_total_uj(self) -> float:
        return sum(self.energy_uj.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cpi"] = self.cpi
        d["stalls"] = self.stalls
        d["time_us"] = self.time_us
        d["energy_total_uj"] = self.energy_total_uj
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def table(self) -> str:
        """Readable summary: totals, then one row per core with the stall causes."""
        lines = [f"exit code     {self.exit_code}",
                 f"cycles        {self.cycles}  ({self.time_us:.3f} us at {self.clock_mhz:g} MHz)",
                 f"instructions  {self.instructions}",
                 f"CPI           {self.cpi:.3f}",
                 f"energy        {self.energy_total_uj:.4f} uJ (" + ", ".join(
                     f"{k} {v:.4f}" for k, v in self.energy_uj.items()) + ")"]
        causes = [name for name in state.CYCLE_CAUSES.values()
                  if any(c.stalls.get(name, 0) for c in self.cores)]
        header = (f"{'core':>4} {'cycles':>12} {'instr':>12} {'CPI':>6} {'asleep':>10}"
                  + "".join(f" {n:>15}" for n in causes))
        lines += ["", "stall cycles by cause:", header]
        for c in self.cores:
            lines.append(f"{c.core:>4} {c.cycles:>12} {c.instructions:>12} {c.cpi:>6.3f} {c.asleep:>10}"
                         + "".join(f" {c.stalls.get(n, 0):>15}" for n in causes))
        if any(b["conflicts"] for b in self.banks):
            lines += ["", "TCDM banks (accesses/conflicts): " + "  ".join(
                f"{b['bank']}:{b['accesses']}/{b['conflicts']}" for b in self.banks)]
        if self.dma.get("transfers"):
            d = self.dma
            lines += ["", f"DMA: {d['transfers']} transfers, {d['bytes']} bytes, {d['busy_cycles']} busy cycles, "
                          f"{d['delayed_beats']} beats delayed by bank conflicts"]
        if self.regions:
            lines += ["", "regions (pi_perf_start .. pi_perf_stop):"]
            for r in self.regions:
                stalls = ", ".join(f"{k} {v}" for k, v in r.stalls.items() if v)
                lines.append(f"  core {r.core} #{r.index}: {r.cycles} cycles, {r.instructions} instructions, "
                             f"asleep {r.asleep}" + (f", {stalls}" if stalls else ""))
        return "\n".join(lines)


def estimate_energy(platform, cores: list[CoreStats], cycles: int, tcdm_accesses: int, dma_busy: int) -> dict:
    """Energy by component in microjoules from the event counts and the time spent in each state."""
    e = platform.energy
    us_per_cycle = 1.0 / platform.clock_mhz
    instr = sum(c.instructions for c in cores)
    awake = sum(c.cycles - c.asleep for c in cores)
    asleep = sum(c.asleep for c in cores)
    return {
        "instructions": instr * e.pj_per_instruction * 1e-6,
        "tcdm": tcdm_accesses * e.pj_per_tcdm_access * 1e-6,
        "core_leakage": (awake * e.core_leakage_uw + asleep * e.core_gated_uw) * us_per_cycle * 1e-6,
        "tcdm_leakage": platform.tcdm.banks * e.bank_leakage_uw * cycles * us_per_cycle * 1e-6,
        "dma": dma_busy * e.dma_active_uw * us_per_cycle * 1e-6,
        "cluster": (e.cluster_dynamic_mw + e.cluster_leakage_mw) * 1e3 * cycles * us_per_cycle * 1e-6,
    }


def collect(machine, exit_code: int) -> Result:
    """Build a Result from a finished Machine."""
    from . import engine
    cores = []
    flags = machine.opflags
    for c in range(machine.platform.cores):
        st = machine.stat[c]
        oc = machine.opcount[c]
        stalls = {name: int(st[idx]) for idx, name in state.CYCLE_CAUSES.items()}
        ops = {isa.INSTRUCTIONS[i].name: int(n) for i, n in enumerate(oc[:len(isa.INSTRUCTIONS)]) if n}
        halted = bool(machine.tim[c, state.T_HALTED])
        cores.append(CoreStats(
            core=c, cycles=int(machine.cyc[c]), instructions=int(st[state.S_INSTR]), stalls=stalls,
            loads=int(oc[(flags & engine.OPF_LOAD) != 0].sum()),
            stores=int(oc[(flags & engine.OPF_STORE) != 0].sum()),
            branches=int(oc[(flags & engine.OPF_BRANCH) != 0].sum()),
            branches_taken=int(st[state.S_BTAKEN]),
            jumps=int(oc[(flags & engine.OPF_JUMP) != 0].sum()),
            exit_code=int(machine.tim[c, state.T_EXIT_CODE]) if halted else None,
            asleep=int(st[state.S_SLEEP]), tcdm_accesses=int(st[state.S_TCDM_ACCESSES]),
            fpu_ops=int(st[state.S_FPU_OPS]),
            op_counts=ops))
    active = [c for c in cores if c.instructions]
    # a CORESTATUS store ends the run in its cycle (a core may still be inside an instruction or stall
    # that started by then: its own cycles include all of it)
    total_cycles = (machine.end_cycle if machine.end_cycle is not None
                    else max((c.cycles for c in active), default=0))
    tcdm_accesses = int(machine.banks[:, state.B_ACCESSES].sum())
    energy = estimate_energy(machine.platform, cores, total_cycles, tcdm_accesses,
                             int(machine.dma_glob[cluster.DG_BUSY]))
    return Result(exit_code=exit_code,
                  cycles=total_cycles, energy_uj=energy,
                  instructions=sum(c.instructions for c in cores),
                  cores=cores, stdout=machine.stdout, platform=machine.platform.name,
                  clock_mhz=machine.platform.clock_mhz, wall_seconds=machine.wall_seconds,
                  stdout_by_core={c: "".join(lines) for c, lines in sorted(machine.core_output.items())},
                  banks=[{"bank": b, "accesses": int(row[state.B_ACCESSES]), "conflicts": int(row[state.B_CONFLICTS])}
                         for b, row in enumerate(machine.banks)],
                  fpus=[{"fpu": f, "ops": int(machine.shared[state.U_FPU_OPS + f]),
                         "conflicts": int(machine.shared[state.U_FPU_CONFLICTS + f])}
                        for f in range(int(machine.params[state.P_NFPU]))],
                  dma={"bytes": int(machine.dma_glob[cluster.DG_BYTES]), "busy_cycles": int(machine.dma_glob[cluster.DG_BUSY]),
                       "transfers": int(machine.dma_glob[cluster.DG_TRANSFERS]),
                       "delayed_beats": int(machine.dma_glob[cluster.DG_CONFLICTS])},
                  regions=regions_from_log(machine.region_log[:int(machine.io[state.IO_REGION_N])]))
