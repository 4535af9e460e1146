"""Platform configurations: what hardware is simulated.

A :class:`Platform` is a frozen, validated description of the simulated
system: number of cores, memories (base, size, access latency), the SoC
addresses a program uses to print and exit, the divider model and the clock.
Every number is a parameter, never a constant in the engine, so that users can
explore architectures.  Presets live in :data:`PRESETS`; any field can be
overridden with a dotted key (``{"l2.latency": 15}`` from Python, ``--set
l2.latency=15`` on the CLI) or loaded from a TOML file whose tables mirror the
dataclasses.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError

MAX_CORES = 16  #: mhartid has 4 bits of core id


@dataclass(frozen=True)
class MemoryConfig:
    """A memory region seen by the cores."""

    base: int
    size: int
    #: Cycles a core's load/store spends on an access (1 = answers like an
    #: ideal single-cycle memory: grant in the request cycle, data next cycle).
    latency: int = 1

    def validate(self, name: str) -> None:
        _check(self.base % 4 == 0 and 0 <= self.base < 2**32, f"{name}.base", self.base, "a word-aligned 32-bit address")
        _check(self.size > 0 and self.size % 4 == 0, f"{name}.size", self.size, "a positive multiple of 4 bytes")
        _check(self.base + self.size <= 2**32, f"{name}.size", self.size, "a region that ends below 4 GiB")
        _check(1 <= self.latency <= 1000, f"{name}.latency", self.latency, "between 1 and 1000 cycles")


@dataclass(frozen=True)
class SocConfig:
    """SoC peripherals that programs use to print and to stop."""

    stdout: int = 0x1A12_0000      #: putchar target: + (core << 3) + (cluster << 7)
    stdout_size: int = 0x1000
    corestatus: int = 0x1A10_40A0  #: store (1 << 31) | code to exit

    def validate(self, name: str) -> None:
        for f in ("stdout", "corestatus"):
            v = getattr(self, f)
            _check(v % 4 == 0 and 0 <= v < 2**32, f"{name}.{f}", v, "a word-aligned 32-bit address")
        _check(self.stdout_size > 0, f"{name}.stdout_size", self.stdout_size, "positive")


@dataclass(frozen=True)
class TcdmConfig(MemoryConfig):
    """The cluster's banked L1 scratchpad (TCDM)."""

    #: Number of word-interleaved banks: bank = (addr >> 2) % banks.
    banks: int = 16
    #: Per-bank arbitration among cores that access the same bank in the same
    #: cycle: "tree" (the RTL's counter-steered binary tree, cluster.md),
    #: "fixed" (lowest core id wins) or "none" (no conflicts: ideal memory).
    arbitration: str = "tree"
    #: Offset of the test-and-set alias (a load returns the word and sets it to -1); 0 = none.
    tas_offset: int = 0x10_0000

    def validate(self, name: str) -> None:
        super().validate(name)
        _check(isinstance(self.banks, int) and 1 <= self.banks <= 1024 and self.banks & (self.banks - 1) == 0,
               f"{name}.banks", self.banks, "a power of two between 1 and 1024")
        _check(self.arbitration in ("tree", "fixed", "none"), f"{name}.arbitration", self.arbitration,
               "'tree', 'fixed' or 'none'")
        _check(self.tas_offset >= 0 and self.tas_offset % 4 == 0, f"{name}.tas_offset", self.tas_offset,
               "a non-negative multiple of 4")


@dataclass(frozen=True)
class FpuConfig:
    """Floating-point units of the cluster."""

    #: Number of FPUs shared by all cores (add/mul/fma/cmp/cvt/sgnj/minmax/class);
    #: 0 = a private FPU per core (no contention).
    shared: int = 0
    #: fdiv/fsqrt: "iterative" = each core's own divider with the data-dependent
    #: latency of the CV32E40P FPU's SRT divider (docs/timing.md); "shared" = one non-pipelined unit for the
    #: whole cluster with a fixed latency (div_latency).
    divider: str = "iterative"
    div_latency: int = 14

    def validate(self, name: str) -> None:
        _check(isinstance(self.shared, int) and 0 <= self.shared <= 16, f"{name}.shared", self.shared,
               "between 0 (private FPUs) and 16")
        _check(self.divider in ("iterative", "shared"), f"{name}.divider", self.divider, "'iterative' or 'shared'")
        _check(1 <= self.div_latency <= 200, f"{name}.div_latency", self.div_latency, "between 1 and 200")


#: mcountinhibit with every counter pulpsim implements inhibited (mcycle, minstret, mhpmcounter3..31):
#: the CV32E40P reset value (cv32e40p_cs_registers.sv, ``mcountinhibit_q <= 'b1`` for each counter).
RTL_RESET_MCOUNTINHIBIT = 0xFFFF_FFFD


@dataclass(frozen=True)
class CoreConfig:
    """Core micro-architecture choices."""

    #: Cycles taken to enter a trap handler and to execute mret (not pinned by
    #: the reference measurements; a pipeline flush like fence).
    trap_cycles: int = 4
    mret_cycles: int = 4
    #: Reset value of mstatus.FS: 0 = Off, as the RTL (cv32e40p_cs_registers.sv with FPU=1:
    #: ``mstatus_fs_q <= FS_OFF``): FP instructions and fflags/frm/fcsr are illegal until software
    #: turns the FPU on (the runtime's crt0 does). 1 = Initial, 2 = Clean, 3 = Dirty.
    reset_fs: int = 0
    #: Reset value of mcountinhibit. 0 (a convenience): mcycle, minstret and the mhpmcounters count
    #: from reset. The RTL resets every implemented counter inhibited: RTL_RESET_MCOUNTINHIBIT.
    reset_mcountinhibit: int = 0

    def validate(self, name: str) -> None:
        _check(1 <= self.trap_cycles <= 100, f"{name}.trap_cycles", self.trap_cycles, "between 1 and 100")
        _check(1 <= self.mret_cycles <= 100, f"{name}.mret_cycles", self.mret_cycles, "between 1 and 100")
        _check(isinstance(self.reset_fs, int) and 0 <= self.reset_fs <= 3, f"{name}.reset_fs", self.reset_fs,
               "0 (Off), 1 (Initial), 2 (Clean) or 3 (Dirty)")
        _check(isinstance(self.reset_mcountinhibit, int) and 0 <= self.reset_mcountinhibit <= 0xFFFF_FFFF
               and not self.reset_mcountinhibit & 2, f"{name}.reset_mcountinhibit", self.reset_mcountinhibit,
               f"a 32-bit mask with bit 1 clear (there is no counter 1); the RTL's is 0x{RTL_RESET_MCOUNTINHIBIT:08x}")


@dataclass(frozen=True)
class ClusterConfig:
    """Cluster peripherals: event unit, peripheral interconnect."""

    periph_base: int = 0x1020_0000
    #: Cycles of a core access through the peripheral interconnect (cluster
    #: control unit, timer, shared DMA port); demux peripherals take 1.
    periph_latency: int = 3
    #: Cycles from the last core's arrival at a hardware barrier until every
    #: waiting core's next instruction issues.
    barrier_latency: int = 4
    #: Cycles from an event (SW event, DMA completion, dispatch, mutex
    #: release) to the woken core's next instruction.
    wake_latency: int = 2

    def validate(self, name: str) -> None:
        _check(self.periph_base % 0x10000 == 0, f"{name}.periph_base", self.periph_base, "64 KiB aligned")
        for f in ("periph_latency", "barrier_latency", "wake_latency"):
            v = getattr(self, f)
            _check(isinstance(v, int) and 1 <= v <= 1000, f"{name}.{f}", v, "between 1 and 1000 cycles")


@dataclass(frozen=True)
class DmaConfig:
    """Cluster DMA (MCHAN v7): one transfer at a time, 2 words per cycle on the TCDM side."""

    #: Cycles from the last command word to the first data beat.
    latency: int = 15

    def validate(self, name: str) -> None:
        _check(isinstance(self.latency, int) and 0 <= self.latency <= 10000, f"{name}.latency", self.latency,
               "between 0 and 10000 cycles")


@dataclass(frozen=True)
class EnergyConfig:
    """Energy per event class and power per state (defaults: GVSoC's pulp_open power model at 25 C / 1.2 V,
    the power_models JSON files of GVSoC's pulp_open target; not calibrated to VEGA silicon)."""

    pj_per_instruction: float = 4.98      #: core dynamic energy per executed instruction
    pj_per_tcdm_access: float = 2.12      #: one 32-bit TCDM bank access (cores and DMA)
    core_leakage_uw: float = 35.5         #: per core, while its clock runs
    core_gated_uw: float = 1.6            #: per core, while asleep (clock gated)
    bank_leakage_uw: float = 5.2          #: per TCDM bank
    dma_active_uw: float = 187.0          #: while the DMA moves data
    cluster_dynamic_mw: float = 2.84      #: cluster background (interconnect, clock tree)
    cluster_leakage_mw: float = 1.10

    def validate(self, name: str) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            _check(isinstance(v, (int, float)) and v >= 0, f"{name}.{f.name}", v, "a non-negative number")


@dataclass(frozen=True)
class L3Config:
    """External L3 memory (HyperRAM over HyperBus on a VEGA-class board) that holds the latent-replay
    memory.  It is not in the guest's address map: transfers L3 -> L2 are costed from these parameters
    (``pulpsim.cl.cost``), not simulated.  The defaults are assumptions about the board, derived from
    the HyperBus protocol of a 166 MHz HyperRAM (docs/cluster.md, "L3")."""

    #: Bytes: 64 MiB, the memory budget Ravaglia et al. (IEEE JETCAS 2021) state for continual
    #: learning ("less than 64 MB"); the board's HyperRAM size is an assumption.
    size: int = 64 * 1024 * 1024
    #: Cycles at ``clock_mhz`` before the first byte of a burst: HyperBus command-address (3 clocks)
    #: plus twice the initial latency of 6 clocks (fixed-latency mode) at 166 MHz, about 90 ns,
    #: rounded up to 50 cycles at 450 MHz for the SoC DMA's set-up (an assumption).
    latency: int = 50
    #: Bytes per cycle at ``clock_mhz`` once a burst streams: an 8-bit DDR HyperBus at 166 MHz moves
    #: 333 MB/s, 0.74 bytes per cycle at 450 MHz.
    bandwidth: float = 0.74
    #: Largest burst in bytes: a HyperRAM must end a burst within its 4 us chip-select maximum
    #: (refresh), about 1.3 kB at 333 MB/s; 1 KiB bursts (an assumption).
    burst: int = 1024

    def validate(self, name: str) -> None:
        _check(isinstance(self.size, int) and self.size > 0, f"{name}.size", self.size, "a positive number of bytes")
        _check(isinstance(self.latency, int) and 0 <= self.latency <= 1_000_000, f"{name}.latency", self.latency,
               "between 0 and 1000000 cycles")
        _check(isinstance(self.bandwidth, (int, float)) and 0 < self.bandwidth <= 1024, f"{name}.bandwidth",
               self.bandwidth, "a number of bytes per cycle in (0, 1024]")
        _check(isinstance(self.burst, int) and self.burst >= 1, f"{name}.burst", self.burst,
               "a positive number of bytes")

    def transfer_cycles(self, nbytes: int) -> float:
        """Cycles to move one contiguous transfer of ``nbytes`` out of L3: one ``latency`` per burst of up
        to ``burst`` bytes, plus ``nbytes / bandwidth`` of streaming."""
        if nbytes <= 0:
            return 0.0
        return -(-nbytes // self.burst) * self.latency + nbytes / self.bandwidth


@dataclass(frozen=True)
class Platform:
    """A complete, validated platform description."""

    name: str
    cores: int = 1
    cluster_id: int = 0
    clock_mhz: float = 450.0
    tcdm: TcdmConfig = field(default_factory=lambda: TcdmConfig(0x1000_0000, 128 * 1024))
    l2: MemoryConfig = field(default_factory=lambda: MemoryConfig(0x1C00_0000, 1536 * 1024))
    #: Map the cluster alias (0x0000_0000..) onto the TCDM, as PULP does.
    tcdm_alias: bool = True
    soc: SocConfig = field(default_factory=SocConfig)
    core: CoreConfig = field(default_factory=CoreConfig)
    fpu: FpuConfig = field(default_factory=FpuConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    dma: DmaConfig = field(default_factory=DmaConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    l3: L3Config = field(default_factory=L3Config)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(isinstance(self.cores, int) and 1 <= self.cores <= MAX_CORES, "cores", self.cores,
               f"an integer between 1 and {MAX_CORES}")
        _check(isinstance(self.cluster_id, int) and 0 <= self.cluster_id < 64, "cluster_id", self.cluster_id,
               "between 0 and 63")
        _check(self.clock_mhz > 0, "clock_mhz", self.clock_mhz, "positive")
        self.tcdm.validate("tcdm")
        self.l2.validate("l2")
        self.soc.validate("soc")
        self.core.validate("core")
        self.fpu.validate("fpu")
        self.cluster.validate("cluster")
        self.dma.validate("dma")
        self.energy.validate("energy")
        self.l3.validate("l3")
        regions = sorted(self.memory_regions(), key=lambda r: r[1])
        for (n1, b1, s1, _), (n2, b2, _, _) in zip(regions, regions[1:]):
            if b1 + s1 > b2:
                raise ConfigError(f"memory regions {n1} and {n2} overlap")

    def memory_regions(self) -> list[tuple[str, int, int, int]]:
        """(name, base, size, latency) of every RAM region, in lookup order.

        Names starting with "tcdm" map the TCDM storage: "tcdm" itself, its
        test-and-set alias "tcdm-tas" and the cluster alias "tcdm-alias".
        """
        regions = [("tcdm", self.tcdm.base, self.tcdm.size, self.tcdm.latency),
                   ("l2", self.l2.base, self.l2.size, self.l2.latency)]
        if self.tcdm.tas_offset:
            regions.append(("tcdm-tas", self.tcdm.base + self.tcdm.tas_offset, self.tcdm.size, self.tcdm.latency))
        if self.tcdm_alias:
            regions.append(("tcdm-alias", 0, self.tcdm.size, self.tcdm.latency))
        return regions

    def with_overrides(self, overrides: Mapping[str, Any] | None = None, **kw: Any) -> "Platform":
        """A copy with dotted-key overrides applied (``{"l2.latency": 15}``).

        Keyword arguments may use ``__`` for the dot (``l2__latency=15``).
        """
        items = dict(overrides or {})
        items.update({k.replace("__", "."): v for k, v in kw.items()})
        plat = self
        for key, value in items.items():
            plat = _set_path(plat, key.split("."), value, key)
        return plat

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"invalid platform parameter {key}={value!r}: expected {expected}")


def _coerce(value: Any, current: Any, key: str) -> Any:
    """Convert a CLI string (or TOML value) to the type of the current field."""
    if isinstance(current, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"invalid platform parameter {key}={value!r}: expected true or false")
        return bool(value)
    if isinstance(current, int):
        try:
            return int(value, 0) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"invalid platform parameter {key}={value!r}: expected an integer") from None
    if isinstance(current, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"invalid platform parameter {key}={value!r}: expected a number") from None
    if isinstance(current, str):
        return str(value)
    raise ConfigError(f"platform parameter {key} is a group, not a value")


def _set_path(obj: Any, path: list[str], value: Any, key: str) -> Any:
    names = {f.name for f in fields(obj)}
    if path[0] not in names:
        raise ConfigError(f"unknown platform parameter {key!r} (known here: {', '.join(sorted(names))})")
    current = getattr(obj, path[0])
    if len(path) == 1:
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"platform parameter {key} is a group; set one of its fields")
            for sub_key, sub_value in value.items():
                current = _set_path(current, [sub_key], sub_value, f"{key}.{sub_key}")
            new = current
        else:
            new = _coerce(value, current, key)
    else:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"unknown platform parameter {key!r}")
        new = _set_path(current, path[1:], value, key)
    try:
        return replace(obj, **{path[0]: new})
    except TypeError as e:  # pragma: no cover - defensive
        raise ConfigError(f"invalid platform parameter {key}: {e}") from None


#: Named platforms.
#:  * "single": one core with 1-cycle memories (for comparing with a core's RTL).
#:  * "ideal": 8 cores (up to 16) with ideal memories and no shared-resource
#:    contention: an upper bound for exploration, and independent programs per core.
#:  * "vega": the VEGA-class cluster of cluster.md: 8 cores, 128 KiB TCDM in 16
#:    banks with tree arbitration, L2 at 15 cycles, 4 shared FPUs and one shared
#:    14-cycle divider.
#:  * "pulp-open": 8 cores with a private FPU each (and the core's own divider),
#:    64 KiB TCDM in 16 banks, L2 at 15 cycles.
PRESETS: dict[str, Platform] = {
    "single": Platform(name="single", cores=1),
    "ideal": Platform(name="ideal", cores=8,
                      tcdm=TcdmConfig(0x1000_0000, 128 * 1024, arbitration="none")),
    "vega": Platform(name="vega", cores=8,
                     tcdm=TcdmConfig(0x1000_0000, 128 * 1024, banks=16),
                     l2=MemoryConfig(0x1C00_0000, 1536 * 1024, latency=15),
                     fpu=FpuConfig(shared=4, divider="shared", div_latency=14)),
    "pulp-open": Platform(name="pulp-open", cores=8,
                          tcdm=TcdmConfig(0x1000_0000, 64 * 1024, banks=16),
                          l2=MemoryConfig(0x1C00_0000, 1536 * 1024, latency=15)),
}


def get_platform(platform: "str | Path | Platform | None" = "single",
                 overrides: Mapping[str, Any] | None = None, **kw: Any) -> Platform:
    """Resolve a preset name, a TOML file path or a Platform, then apply overrides."""
    if platform is None:
        platform = "single"
    if isinstance(platform, Platform):
        base = platform
    elif isinstance(platform, str) and platform in PRESETS:
        base = PRESETS[platform]
    elif isinstance(platform, (str, Path)) and str(platform).endswith(".toml"):
        base = load_toml(Path(platform))
    else:
        raise ConfigError(f"unknown platform {platform!r}; presets: {', '.join(PRESETS)} (or a .toml file)")
    return base.with_overrides(overrides, **kw)


def load_toml(path: Path) -> Platform:
    """A platform from a TOML file: ``preset = "single"`` plus overriding tables."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"platform file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"platform file {path}: {e}") from None
    preset = data.pop("preset", "single")
    if preset not in PRESETS:
        raise ConfigError(f"platform file {path}: unknown preset {preset!r}")
    name = data.pop("name", path.stem)
    return replace(PRESETS[preset], name=str(name)).with_overrides(data)
