"""A simulated machine: memories, cores and the loop around the Numba engine.

``Machine`` owns every state array the engine works on.  It loads programs
(ELF files, or raw words for tests), decodes code wherever the cores fetch it
from, calls :func:`pulpsim.sim.engine.run` in slices and handles what the engine
hands back: program output, traces, code to decode (first fetch from a page of
memory, or a word changed since it was decoded), the end of the program, and
faults, which become typed :class:`pulpsim.errors.GuestError` exceptions.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from . import cluster, decode, isa, state
from .disasm import disassemble, reg_name, XREG_NAMES, FREG_NAMES
from .elf import ElfImage, load_elf
from ..errors import (ConfigError, CycleLimitExceeded, Deadlock, FetchFault, GuestError, IllegalInstruction,
                     MemoryFault, UnhandledTrap)
from .platform import Platform
from .timeline import Timeline

#: Instructions per engine call: bounds the latency of output and Ctrl-C.
SLICE = 20_000_000
OUTPUT_CAPACITY = 4096
TRACE_CAPACITY = 65536
DMA_LOG_CAPACITY = 65536
REGION_LOG_CAPACITY = 4096
DEFAULT_MAX_CYCLES = 10**12
#: Cycles a core may run ahead of the others through instructions that touch only its own state (ALU,
#: branches, private FPU, CSRs) before it lets the scheduler run the others.
RUNAHEAD = 1000


def _op_flags(shared_fpu: bool = False, shared_div: bool = False) -> np.ndarray:
    """Per-op class bits used by the engine (engine.OPF_*), from the ISA table and the platform."""
    from . import engine
    flags = np.zeros(isa.NUM_OPS, np.int64)
    for op, insn in enumerate(isa.INSTRUCTIONS):
        f = 0
        if insn.is_fp:
            f |= engine.OPF_FP
            if insn.name not in ("flw", "fsw"):
                f |= engine.OPF_FPU
        if insn.unit == "load":
            f |= engine.OPF_LOAD
        if insn.unit == "store":
            f |= engine.OPF_STORE
        if insn.unit == "branch":
            f |= engine.OPF_BRANCH
        if insn.unit == "jump":
            f |= engine.OPF_JUMP
        if insn.rd == isa.X and not insn.is_fp and not f & engine.OPF_LOAD:
            f |= engine.OPF_ALU_WB
        if insn.uses_fpu and insn.name not in ("fdiv.s", "fsqrt.s"):
            f |= engine.OPF_SHARED_FPU
        # what other cores can observe or compete for must execute in global cycle order (wfi reads the
        # event buffer, which other cores and the DMA write)
        if (f & (engine.OPF_LOAD | engine.OPF_STORE) or (shared_fpu and f & engine.OPF_SHARED_FPU)
                or (shared_div and insn.name in ("fdiv.s", "fsqrt.s")) or insn.name == "wfi"):
            f |= engine.OPF_ORDERED
        flags[op] = f | (isa.UNIT_NAMES.index(insn.unit) << engine.OPF_UNIT_SHIFT)
    return flags


def contended_fpus(platform: Platform) -> int:
    """Shared FPUs that can actually be contended (as many FPUs as cores = private)."""
    shared = platform.fpu.shared
    return shared if shared < platform.cores else 0


def loads_run_ahead(platform: Platform) -> bool:
    """Whether loads of memory may run ahead of cycle order on `platform` (pulpsim.sim.memory): several cores
    whose requests are never arbitrated (no bank arbitration, private FPUs)."""
    return platform.cores > 1 and platform.tcdm.arbitration == "none" and contended_fpus(platform) == 0


def cluster_scheduler(platform: Platform):
    """The engine's entry that schedules `platform`'s cores together: where FPUs are shared, the one that also
    executes arbitration winners' FP operations itself (pulpsim.sim.step); where nothing is arbitrated, the one
    whose loads may run ahead of cycle order (pulpsim.sim.memory)."""
    from . import engine
    if contended_fpus(platform) > 0:
        return engine.run_shared_fpus
    return engine.run_loads_ahead if loads_run_ahead(platform) else engine.run


def _ops_with(flag: int, flags: np.ndarray) -> np.ndarray:
    return np.nonzero(flags & flag)[0].astype(np.int64)


def trap_text(cause: int, tval: int) -> str:
    """Trace text of an instruction that raised exception `cause` (it did not retire)."""
    name = state.CAUSE_NAMES.get(cause, "exception")
    return f"trap: {name} (mcause {cause}, mtval 0x{tval & 0xFFFFFFFF:08x})"


@dataclass
class Program:
    """An executable range of guest memory (one per X segment), decoded before the run starts."""

    base: int
    size: int
    image: ElfImage | None = None


class Machine:
    """State of a whole simulated platform and the run loop around the engine."""

    def __init__(self, platform: Platform, *, max_cycles: int | None = None):
        self.platform = platform
        n = platform.cores
        self.max_cycles = DEFAULT_MAX_CYCLES if max_cycles is None else int(max_cycles)
        if self.max_cycles <= 0:
            raise ConfigError(f"max_cycles must be positive, got {max_cycles}")
        # Memories: one flat byte array; each RAM region maps a slice of it.
        # The cluster alias maps the TCDM storage a second time.
        storage = {"tcdm": (0, platform.tcdm.size)}
        storage["l2"] = (platform.tcdm.size, platform.l2.size)
        total = platform.tcdm.size + platform.l2.size
        self.mem8 = np.zeros(total, np.uint8)
        self.mem16 = self.mem8.view(np.uint16)
        self.mem32 = self.mem8.view(np.uint32)
        rows = []
        self.region_names = []
        for name, base, size, latency in platform.memory_regions():
            is_tcdm = name.startswith("tcdm")
            offset = storage["tcdm" if is_tcdm else "l2"][0]
            kind = (state.RK_TAS if name == "tcdm-tas" else state.RK_TCDM) if is_tcdm else state.RK_PLAIN
            rows.append((base, size, offset, latency, kind))
            self.region_names.append(name)
        self.regions = np.array(rows, np.int64).reshape(-1, state.NUM_REGION_FIELDS)

        self.pc = np.zeros(n, np.int64)
        self.xreg = np.zeros((n, 32), np.int64)
        self.freg = np.zeros((n, 32), np.int64)
        self.csr = np.zeros((n, state.NUM_CSR_SLOTS), np.int64)
        self.reset_csrs()
        self.cyc = np.zeros(n, np.int64)
        self.tim = np.zeros((n, state.NUM_TIM_SLOTS), np.int64)
        self.tim[:, state.T_TOHOST] = -1
        self.tim[:, state.T_STACK_LO] = -1
        self.stat = np.zeros((n, state.NUM_STAT_SLOTS), np.int64)
        self.opcount = np.zeros((n, isa.NUM_OPS), np.int64)
        self.vc_acc = np.zeros((n, state.NUM_VC), np.int64)
        self.vc_snap = np.zeros((n, state.NUM_VC), np.int64)
        self.banks = np.zeros((platform.tcdm.banks, state.NUM_BANK_FIELDS), np.int64)
        self.shared = np.zeros(state.NUM_SHARED, np.int64)
        self.sched = np.zeros(3 * n + state.NUM_SHARED, np.int64)
        self.eu_core = np.zeros((n, cluster.NUM_EU_CORE), np.int64)
        self.eu_glob = np.zeros(cluster.NUM_EU_GLOB, np.int64)
        self.eu_glob[cluster.G_MUTEX:cluster.G_MUTEX + cluster.NUM_MUTEX] = -1
        self.dma_tr = np.zeros((cluster.NUM_TIDS, cluster.NUM_D), np.int64)
        self.dma_port = np.zeros((n + 1, cluster.NUM_DP), np.int64)
        self.dma_port[:, cluster.DP_TID] = -1
        self.dma_glob = np.zeros(cluster.NUM_DG, np.int64)
        self.dma_glob[cluster.DG_ACTIVE] = -1
        self.dma_glob[cluster.DG_TIME] = cluster.NEVER
        self.dma_chunk = np.zeros((2, 5), np.int64)
        self.dma_log = np.zeros((DMA_LOG_CAPACITY, cluster.NUM_DL), np.int64)
        self.region_log = np.zeros((REGION_LOG_CAPACITY, 3 + state.NUM_STAT_SLOTS), np.int64)
        # loads ahead of cycle order (memory.py): on a cluster whose cores' requests are never arbitrated, the
        # order key of the latest such load of each word of the flat memory (elsewhere a placeholder)
        self.load_keys = np.zeros((len(self.mem8) + 3) // 4 if loads_run_ahead(platform) else 1, np.int64)
        self._load_keys_written = False  # (by a run with loads ahead: the next run clears them)
        self.outbuf = np.zeros((OUTPUT_CAPACITY, 2), np.int64)
        self.trace_buf = np.zeros((1, state.NUM_TRACE_FIELDS), np.int64)
        self.io = np.zeros(state.NUM_IO, np.int64)
        self.opflags = _op_flags(shared_fpu=contended_fpus(platform) > 0, shared_div=platform.fpu.divider == "shared")
        from . import engine
        self.events = (_ops_with(engine.OPF_LOAD, self.opflags), _ops_with(engine.OPF_STORE, self.opflags),
                       _ops_with(engine.OPF_JUMP, self.opflags), _ops_with(engine.OPF_BRANCH, self.opflags))
        self.params = np.zeros(state.NUM_PARAMS, np.int64)
        self.params[state.P_STDOUT] = platform.soc.stdout
        self.params[state.P_STDOUT_SIZE] = platform.soc.stdout_size
        self.params[state.P_CORESTATUS] = platform.soc.corestatus
        self.params[state.P_TRAP_CYCLES] = platform.core.trap_cycles
        self.params[state.P_MRET_CYCLES] = platform.core.mret_cycles
        self.params[state.P_CLUSTER_ID] = platform.cluster_id
        self.params[state.P_NBANKS] = platform.tcdm.banks
        self.params[state.P_ARBITRATION] = {"none": state.ARB_NONE, "tree": state.ARB_TREE,
                                            "fixed": state.ARB_FIXED}[platform.tcdm.arbitration]
        self.params[state.P_NFPU] = contended_fpus(platform)
        self.params[state.P_SHARED_DIV] = 1 if platform.fpu.divider == "shared" else 0
        self.params[state.P_DIV_LATENCY] = platform.fpu.div_latency
        self.params[state.P_PERIPH_BASE] = platform.cluster.periph_base
        self.params[state.P_PERIPH_LATENCY] = platform.cluster.periph_latency
        self.params[state.P_BARRIER_LATENCY] = platform.cluster.barrier_latency
        self.params[state.P_WAKE_LATENCY] = platform.cluster.wake_latency
        self.params[state.P_DMA_LATENCY] = platform.dma.latency

        self.programs: list[Program] = []
        self.images: list[ElfImage] = []
        # Decoded code, page by page (state.CODE_*): the fetch-fault and stale rows, then one row
        # per word of every decoded page; pagemap[flat page] = its first row or -1.
        self.code = np.zeros((state.CODE_FIRST_PAGE_ROW + 4 * state.CODE_PAGE_WORDS, decode.NUM_FIELDS), np.int32)
        self.code[state.CODE_ROW_NOCODE, decode.F_OP] = isa.OP_NOCODE
        self.code[state.CODE_ROW_STALE, decode.F_OP] = isa.OP_STALE
        self._code_rows = state.CODE_FIRST_PAGE_ROW
        self.pagemap = np.full(-(-len(self.mem8) // state.CODE_PAGE_BYTES), -1, np.int64)
        self._decoded = False
        self.stdout_text: list[str] = []
        self._line_buf: dict[int, list[str]] = {}
        self._printing_cores: set[int] = set()
        self.core_output: dict[int, list[str]] = {}  # each core's lines, without prefixes
        self.stdout_stream: IO[str] | None = sys.stdout
        self.trace_stream: IO[str] | None = None
        self.timeline: Timeline | None = None
        self._disasm_cache: dict[int, str] = {}
        self.exit_code: int | None = None
        self.end_cycle: int | None = None  #: cycles of the run once a CORESTATUS store ended it
        self._forget_exit()
        self.wall_seconds = 0.0
        self._replaying = False  # running again up to a known exit: the output was already emitted
        # output lines kept back while the run may still go back to a checkpoint (loads ahead of cycle order: see
        # run); None: shown as they come
        self._held_output: "list[tuple[int, str]] | None" = None
        self.loads_ahead_undone = 0  #: how often a run went back to a checkpoint for a load ahead of cycle order

    def reset_csrs(self) -> None:
        """Every core's CSRs at reset (docs/cluster.md "Core reset state"); the other CSRs reset to 0."""
        core = self.platform.core
        self.csr[:] = 0
        self.csr[:, state.C_MSTATUS] = (core.reset_fs << 13) | (3 << 11)  # FS, MPP = M (hardwired)
        self.csr[:, state.C_MCOUNTINHIBIT] = core.reset_mcountinhibit
        self.csr[:, state.C_PCMR] = 3  # RI5CY riscv_cs_registers.sv: PCMR_q <= 2'h3 (counting on, PCER = 0)

    # ------------------------------------------------------------------ loading
    def _region_of(self, addr: int, size: int) -> int:
        for r, (base, rsize, _off, _lat, _kind) in enumerate(self.regions):
            if base <= addr and addr + size <= base + rsize:
                return r
        return -1

    def write_bytes(self, addr: int, data: bytes) -> None:
        """Copy bytes into guest memory (must lie inside one RAM region)."""
        r = self._region_of(addr, max(len(data), 1))
        if r < 0:
            raise MemoryFault(f"host write of {len(data)} bytes at 0x{addr:08x} is outside every memory region")
        off = addr - int(self.regions[r, state.R_BASE]) + int(self.regions[r, state.R_OFFSET])
        self.mem8[off:off + len(data)] = np.frombuffer(data, np.uint8)
        self._host_wrote(off, len(data))

    def read_bytes(self, addr: int, size: int) -> bytes:
        r = self._region_of(addr, max(size, 1))
        if r < 0:
            raise MemoryFault(f"host read of {size} bytes at 0x{addr:08x} is outside every memory region")
        off = addr - int(self.regions[r, state.R_BASE]) + int(self.regions[r, state.R_OFFSET])
        return self.mem8[off:off + size].tobytes()

    def read_word(self, addr: int) -> int:
        return int.from_bytes(self.read_bytes(addr, 4), "little")

    def load_elf(self, elf: "str | Path | ElfImage", cores: "list[int] | None" = None) -> ElfImage:
        """Load an ELF's segments; the given cores (default all) start at its entry."""
        image = elf if isinstance(elf, ElfImage) else load_elf(elf)
        image.check_fits([(name, int(row[state.R_BASE]), int(row[state.R_SIZE]))
                          for name, row in zip(self.region_names, self.regions) if name in ("tcdm", "l2")])
        for seg in image.segments:
            data = seg.data + bytes(seg.memsz - len(seg.data))
            self.write_bytes(seg.vaddr, data)
            if seg.executable:
                self.programs.append(Program(seg.vaddr, len(seg.data), image))
        self.images.append(image)
        for c in (range(self.platform.cores) if cores is None else cores):
            self.set_pc(c, image.entry)
            self.tim[c, state.T_TOHOST] = image.symbols.get("tohost", -1)
            self.tim[c, state.T_STACK_LO] = self._stack_low(image, c)
        self._decoded = False
        return image

    def load_words(self, addr: int, words, *, executable: bool = True) -> None:
        """Place raw 32-bit words (e.g. a test's instruction sequence) in memory."""
        data = np.asarray(words, dtype=np.uint32).astype("<u4").tobytes()
        self.write_bytes(addr, data)
        if executable:
            self.programs.append(Program(addr, len(data)))
            self._decoded = False

    def set_pc(self, core: int, pc: int) -> None:
        if not 0 <= core < self.platform.cores:
            raise ConfigError(f"core {core} does not exist on platform {self.platform.name!r} "
                              f"({self.platform.cores} cores)")
        self.pc[core] = pc

    @staticmethod
    def _stack_low(image: ElfImage, core: int) -> int:
        """Lowest valid sp of a core's stack in the pulpsim runtime layout, or -1 (no check).

        The runtime gives hart h the stack [__stack_top - (h+1)*size, __stack_top - h*size); a program
        linked as the private program of a core uses the first stack whatever its hart id.
        """
        sym = image.symbols
        if not {"__stack_top", "__stack_size", "__num_cores"} <= sym.keys():
            return -1
        slot = core if core < sym["__num_cores"] else sym["__num_cores"] - 1
        if "pulpsim_private_program" in sym:
            slot = 0
        return sym["__stack_top"] - (slot + 1) * sym["__stack_size"]

    def halt_core(self, core: int) -> None:
        """Keep a core stopped (it has no program)."""
        self.tim[core, state.T_HALTED] = 1

    def predecode(self) -> None:
        """Decode the pages of every executable range now (other memory is decoded on first fetch)."""
        if not self.programs:
            raise ConfigError("nothing to run: no program loaded")
        for prog in self.programs:
            first = self._flat_offset(prog.base)
            last = self._flat_offset(prog.base + max(prog.size, 1) - 1)
            for page in range(first >> state.CODE_PAGE_SHIFT, (last >> state.CODE_PAGE_SHIFT) + 1):
                self.decode_page(page)
        self._decoded = True

    def _flat_offset(self, addr: int) -> int:
        r = self._region_of(addr, 1)
        if r < 0:
            raise MemoryFault(f"address 0x{addr:08x} is outside every memory region")
        return addr - int(self.regions[r, state.R_BASE]) + int(self.regions[r, state.R_OFFSET])

    def decode_page(self, page: int) -> None:
        """Decode page `page` of the flat memory: every word not decoded yet, stale or changed since."""
        words = self.mem32[page * state.CODE_PAGE_WORDS:(page + 1) * state.CODE_PAGE_WORDS]
        row0 = int(self.pagemap[page])
        if row0 < 0:
            row0 = self._new_code_rows()
            self.pagemap[page] = row0
            rows = np.arange(len(words))
        else:
            table = self.code[row0:row0 + len(words)]
            rows = np.nonzero((table[:, decode.F_WORD].view(np.uint32) != words)
                              | (table[:, decode.F_OP] == isa.OP_STALE))[0]
        if len(rows):
            self.code[row0 + rows] = decode.predecode(words[rows])

    def _host_wrote(self, off: int, size: int) -> None:
        """Decode again what the host changed in decoded pages (flat bytes [off, off+size))."""
        for page in range(off >> state.CODE_PAGE_SHIFT, ((off + max(size, 1) - 1) >> state.CODE_PAGE_SHIFT) + 1):
            if self.pagemap[page] >= 0:
                self.decode_page(page)

    def _new_code_rows(self) -> int:
        """First row of a fresh page of the code table (which grows by doubling)."""
        row0 = self._code_rows
        need = row0 + state.CODE_PAGE_WORDS
        if need > len(self.code):
            grown = np.zeros((max(need, 2 * len(self.code)), decode.NUM_FIELDS), np.int32)
            grown[:row0] = self.code[:row0]
            self.code = grown
        self._code_rows = need
        return row0

    # ------------------------------------------------------------------ running
    def run(self, *, trace: "IO[str] | None" = None, stdout: "IO[str] | None | bool" = True,
            timeline: "Timeline | None" = None) -> int:
        """Run until the program ends; return the exit code. Raises GuestError on faults."""
        from . import engine
        if not self._decoded:
            self.predecode()
        self.stdout_stream = sys.stdout if stdout is True else (stdout or None)
        self.trace_stream = trace
        self.timeline = timeline
        tracing = trace is not None or timeline is not None
        self.params[state.P_MAX_CYCLES] = self.max_cycles
        self.params[state.P_TRACING] = 1 if tracing else 0
        # Cores may run ahead of each other, so when a core ends the run others may already have executed
        # instructions after the exit's cycle: the run is then simulated again from a checkpoint with the
        # end known (_Rewind). With a trace or timeline being written (it cannot be taken back) cores do not
        # run ahead of each other at all instead, which is exact by construction.
        self.params[state.P_RUNAHEAD] = 0 if tracing else RUNAHEAD
        # (a load ahead of cycle order that read a word too early is undone by going back to a checkpoint: runs
        # with a trace take none)
        self.params[state.P_LOADS_AHEAD] = 1 if loads_run_ahead(self.platform) and not tracing else 0
        if self._load_keys_written:
            self.load_keys[:] = 0  # (each run checks its own loads ahead)
        self._load_keys_written = self.params[state.P_LOADS_AHEAD] != 0
        self._forget_exit()  # a machine may be set up again and run anew after an exit
        # a run whose loads may run ahead may go back to a checkpoint: its output is shown once it is final
        self._held_output = [] if self.params[state.P_LOADS_AHEAD] else None
        rewind = _Rewind(self) if self.platform.cores > 1 and not tracing else None
        if tracing and len(self.trace_buf) != TRACE_CAPACITY:
            self.trace_buf = np.zeros((TRACE_CAPACITY, state.NUM_TRACE_FIELDS), np.int64)
        # a one-core cluster runs its core in a loop of its own while nothing else happens (engine.run_alone)
        entry = engine.run_alone if self.platform.cores == 1 else cluster_scheduler(self.platform)
        start = time.perf_counter()
        try:
            while True:
                arrays = (self.code, self.pagemap, self.opflags, self.events, self.params, self.regions,
                          self.mem8, self.mem16, self.mem32, self.pc, self.xreg, self.freg,
                          self.csr, self.cyc, self.tim, self.stat, self.opcount,
                          self.vc_acc, self.vc_snap, self.banks, self.shared, self.sched,
                          self.eu_core, self.eu_glob, self.dma_tr, self.dma_port, self.dma_glob,
                          self.dma_chunk, self.dma_log, self.region_log, self.load_keys, self.outbuf, self.trace_buf,
                          self.io)
                status = entry(*arrays, SLICE)
                if status == state.ST_SCHEDULE:
                    # the one core no longer runs alone (the DMA, the end of the run): the cluster's scheduler
                    # continues the slice
                    status = engine.run(*arrays, SLICE - int(self.io[state.IO_EXECUTED]))
                self._drain_output()
                self._drain_trace()
                if status == state.ST_BUDGET and rewind is not None:
                    rewind.checkpoint()
                if status in (state.ST_BUDGET, state.ST_OUTPUT_FULL, state.ST_TRACE_FULL):
                    continue
                if status == state.ST_DECODE:
                    self.decode_page(self._flat_offset(int(self.io[state.IO_CODE_ADDR])) >> state.CODE_PAGE_SHIFT)
                    continue
                if status == state.ST_LOAD_AHEAD or (status in _ENDS_BEFORE_OTHERS and rewind is not None
                                                     and self.load_keys.max() > 0):
                    # a write reached a word a core had loaded ahead of it: back to a checkpoint from before that
                    # load, and on in cycle order (deterministic: the same run takes the same way every time). A
                    # core's fault (or the cycle limit) may come from such a load before the write that shows
                    # it: the run is then simulated again in cycle order from its start, to end as that ends.
                    key = int(self.io[state.IO_TVAL]) if status == state.ST_LOAD_AHEAD else 0
                    rewind.before_load_ahead(key)
                    self.params[state.P_LOADS_AHEAD] = 0
                    self.loads_ahead_undone += 1
                    continue
                if status == state.ST_EXIT:
                    if rewind is not None and rewind.replay_to_exit():
                        continue
                    self.exit_code = int(self.io[state.IO_EXIT_CODE])
                    self.end_cycle = int(self.io[state.IO_EXIT_CYCLE]) + 1
                    self._finish_sleepers(self.end_cycle)
                    if self.timeline is not None:
                        self.timeline.end_run(self.end_cycle)
                    break
                if status == state.ST_ALL_HALTED:
                    codes = [int(c) for c in self.tim[:, state.T_EXIT_CODE]]
                    self.exit_code = next((c for c in codes if c != 0), 0)
                    break
                if status == state.ST_DEADLOCK:
                    raise self._deadlock_error()
                if status == state.ST_STACK_OVERFLOW:
                    sp = int(self.io[state.IO_TVAL]) & 0xFFFFFFFF
                    core = int(self.io[state.IO_CORE])
                    lo = int(self.tim[core, state.T_STACK_LO])
                    self.pc[core] = self.io[state.IO_PC]  # the store into the overflowing frame
                    raise self._guest_error(MemoryFault, f"stack overflow: sp = 0x{sp:08x} is below core {core}'s "
                                            f"stack (which starts at 0x{lo:08x})", core, sp)
                if status == state.ST_DMA_FAULT:
                    addr = int(self.io[state.IO_TVAL]) & 0xFFFFFFFF
                    raise self._guest_error(MemoryFault, f"DMA transfer touches unmapped address 0x{addr:08x}",
                                            int(self.io[state.IO_CORE]), addr)
                if status == state.ST_FAULT:
                    raise self._fault_error()
                if status == state.ST_CYCLE_LIMIT:
                    others = ""
                    if self.platform.cores > 1:
                        others = "; " + "; ".join(f"core {c} {self.core_state(c)}"
                                                  for c in range(self.platform.cores))
                    raise self._guest_error(CycleLimitExceeded,
                                            f"runaway program: no exit after {self.max_cycles} cycles{others}",
                                            int(self.io[state.IO_CORE]))
                raise RuntimeError(f"engine returned unknown status {status}")  # pragma: no cover
        finally:
            self._replaying = False
            self.wall_seconds += time.perf_counter() - start
            self._flush_lines()
            held, self._held_output = self._held_output, None
            for core, line in held or ():
                self._emit(core, line)
            if self.timeline is not None:
                self.timeline.add_dma(self.dma_log[:int(self.dma_glob[cluster.DG_LOG_N])].tolist())
        return self.exit_code

    def _forget_exit(self) -> None:
        self.io[state.IO_EXIT_CYCLE] = -1
        self.params[state.P_HORIZON] = state.NO_HORIZON
        self.end_cycle = None

    def core_state(self, core: int) -> str:
        """Human description of what a core is doing (for deadlock reports)."""
        if self.tim[core, state.T_HALTED]:
            return "stopped"
        wait = int(self.eu_core[core, cluster.E_WAIT])
        if wait == cluster.W_NONE:
            return f"running at pc 0x{int(self.pc[core]):08x}"
        what = cluster.WAIT_NAMES[wait]
        if wait in (cluster.W_BARRIER, cluster.W_BARRIER_CLEAR):
            what = f"barrier {int(self.eu_core[core, cluster.E_WAIT_ARG])} wait"
        elif wait == cluster.W_MUTEX:
            what = f"mutex {int(self.eu_core[core, cluster.E_WAIT_ARG])} wait"
        elif wait in (cluster.W_EVENT, cluster.W_EVENT_CLEAR, cluster.W_WFI):
            what = f"{what} (mask 0x{int(self.eu_core[core, cluster.E_MASK]):x})"
        wpc = int(self.eu_core[core, cluster.E_WAIT_PC])
        sym = self.symbolize(wpc)
        return f"asleep in {what} at pc 0x{wpc:08x}" + (f" ({sym})" if sym else "")

    def _deadlock_error(self) -> GuestError:
        """Every core asleep or stopped and nothing left that could wake one: the error names each core's
        state; its core is the first one asleep, its pc the instruction that core sleeps in (wfi or a load of
        the event unit), its cycle the one from which no core runs any more."""
        cores = range(self.platform.cores)
        states = "; ".join(f"core {c} {self.core_state(c)}" for c in cores)
        asleep = [c for c in cores if self.eu_core[c, cluster.E_WAIT]]
        core = asleep[0] if asleep else 0
        pc = int(self.eu_core[core, cluster.E_WAIT_PC])
        since = max(int(self.eu_core[c, cluster.E_SLEEP_START]) if c in asleep else int(self.cyc[c]) for c in cores)
        word, text = self._described_instruction(pc)
        return Deadlock(f"deadlock: every core is asleep or stopped and no event is pending: {states}",
                        core=core, pc=pc, insn=word, disasm=text, cycle=since, regs=self.register_dump(core))

    def _finish_sleepers(self, end: int) -> None:
        """Cores still asleep when the program ends: their clock stops at the end, asleep until then."""
        for c in range(self.platform.cores):
            if self.eu_core[c, cluster.E_WAIT] and self.cyc[c] >= cluster.NEVER:
                start = int(self.eu_core[c, cluster.E_SLEEP_START])
                self.stat[c, state.S_SLEEP] += max(0, end - start)
                self.cyc[c] = max(end, start)

    # ------------------------------------------------------------------ output
    def _emit(self, core: int, line: str) -> None:
        if self._held_output is not None:
            self._held_output.append((core, line))
            return
        self._printing_cores.add(core)
        self.core_output.setdefault(core, []).append(line)
        text = f"[core {core}] {line}" if len(self._printing_cores) > 1 else line
        self.stdout_text.append(text)
        if self.stdout_stream is not None:
            self.stdout_stream.write(text)
            self.stdout_stream.flush()

    def _drain_output(self) -> None:
        n = int(self.io[state.IO_OUT_LEN])
        if n == 0 or self._replaying:
            self.io[state.IO_OUT_LEN] = 0
            return
        for core, ch in self.outbuf[:n]:
            core = int(core) & 0xF
            buf = self._line_buf.setdefault(core, [])
            buf.append(chr(int(ch)))
            if ch == 10:
                self._emit(core, "".join(buf))
                buf.clear()
        self.io[state.IO_OUT_LEN] = 0

    def _flush_lines(self) -> None:
        self._drain_output()
        for core, buf in sorted(self._line_buf.items()):
            if buf:
                self._emit(core, "".join(buf))
                buf.clear()

    @property
    def stdout(self) -> str:
        return "".join(self.stdout_text)

    # ------------------------------------------------------------------ traces
    def disasm_at(self, word: int, pc: int) -> str:
        key = (word << 32) | pc
        text = self._disasm_cache.get(key)
        if text is None:
            text = disassemble(word, pc, self.symbolize).replace("\t", " ")
            self._disasm_cache[key] = text
        return text

    def _drain_trace(self) -> None:
        n = int(self.io[state.IO_TRACE_LEN])
        if n == 0:
            return
        lines = []
        for cyc, core, pc, word, dst, value, cost, stall, cause, tval in self.trace_buf[:n].tolist():
            text = self.disasm_at(word, pc) if cause != state.CAUSE_FETCH_FAULT + 1 else "(no instruction)"
            if self.trace_stream is not None:
                if cause:
                    wr = trap_text(cause - 1, tval)
                else:
                    wr = f"{reg_name(dst)}=0x{value & 0xFFFFFFFF:08x}" if dst else ""
                lines.append(f"{cyc:>10} {core:>2} {pc:08x}  {text:<36} {wr}\n")
            if self.timeline is not None:
                self.timeline.add_instruction(core, cyc, cost, stall, "trap" if cause else text)
        if self.trace_stream is not None:
            self.trace_stream.write("".join(lines))
        self.io[state.IO_TRACE_LEN] = 0

    # ------------------------------------------------------------------ errors
    def symbolize(self, addr: int) -> str:
        for image in self.images:
            s = image.symbolize(addr)
            if s:
                return s
        return ""

    def instruction_at(self, pc: int) -> int | None:
        try:
            return self.read_word(pc)
        except MemoryFault:
            return None

    def register_dump(self, core: int) -> dict[str, int]:
        regs = {XREG_NAMES[i]: int(self.xreg[core, i]) & 0xFFFFFFFF for i in range(32)}
        regs.update({FREG_NAMES[i]: int(self.freg[core, i]) for i in range(32)})
        regs["pc"] = int(self.pc[core])
        return regs

    def _described_instruction(self, pc: int) -> tuple[int | None, str]:
        """(the instruction word at pc or None, its disassembly with the symbol it lies in) for error messages."""
        word = self.instruction_at(pc)
        text = self.disasm_at(word, pc) if word is not None else ""
        sym = self.symbolize(pc)
        if sym:
            text = f"{text} in {sym}" if text else f"in {sym}"
        return word, text

    def _guest_error(self, cls, message: str, core: int, addr: int | None = None) -> GuestError:
        pc = int(self.pc[core])
        word, text = self._described_instruction(pc)
        return cls(message, core=core, pc=pc, insn=word, disasm=text, cycle=int(self.cyc[core]),
                   regs=self.register_dump(core), addr=addr)

    def _fpu_off_hint(self, core: int, word: int) -> str:
        """Why an FP instruction or FP CSR access is illegal when the FPU is off (else "")."""
        if self.csr[core, state.C_MSTATUS] & (3 << 13):
            return ""
        op, row = decode.decode_one(word)
        fp_csr = isa.INSTRUCTIONS[op].name.startswith("csr") if op < len(isa.INSTRUCTIONS) else False
        fp_csr = fp_csr and int(row[decode.F_IMM]) & 0xFFF in (0x001, 0x002, 0x003)
        if op < len(isa.INSTRUCTIONS) and (isa.INSTRUCTIONS[op].is_fp or fp_csr):
            return (": an FP instruction while mstatus.FS is Off (the FPU is off at reset, as on CV32E40P; "
                    "set mstatus.FS first, as the runtime's crt0 does)")
        return ""

    def _fault_error(self) -> GuestError:
        core = int(self.io[state.IO_CORE])
        cause = int(self.io[state.IO_CAUSE])
        tval = int(self.io[state.IO_TVAL]) & 0xFFFFFFFF
        if cause == state.CAUSE_ILLEGAL:
            return self._guest_error(IllegalInstruction, f"illegal instruction 0x{tval:08x}{self._fpu_off_hint(core, tval)}",
                                     core)
        if cause == state.CAUSE_FETCH_FAULT:
            prev = int(self.tim[core, state.T_PREV_PC])
            word = self.instruction_at(prev)
            came = f", reached by '{self.disasm_at(word, prev)}' at 0x{prev:08x}" if word is not None else ""
            return self._guest_error(FetchFault, f"instruction fetch from unmapped address 0x{tval:08x}{came}",
                                     core, tval)
        if cause == state.CAUSE_FETCH_MISALIGNED:
            return self._guest_error(FetchFault, f"jump to misaligned address 0x{tval:08x}", core, tval)
        if cause == state.CAUSE_LOAD_FAULT:
            return self._guest_error(MemoryFault, f"load from unmapped address 0x{tval:08x}", core, tval)
        if cause == state.CAUSE_STORE_FAULT:
            return self._guest_error(MemoryFault, f"store to unmapped address 0x{tval:08x}", core, tval)
        if cause == state.CAUSE_ECALL_M:
            return self._guest_error(UnhandledTrap, "ecall with no trap handler (mtvec = 0)", core)
        if cause == state.CAUSE_BREAKPOINT:
            return self._guest_error(UnhandledTrap, "ebreak with no trap handler (mtvec = 0)", core)
        return self._guest_error(UnhandledTrap, f"exception cause {cause} with no trap handler", core)


#: Statuses with which a run ends while other cores may not have reached its cycle yet (their earlier writes
#: not made): with loads ahead of cycle order, such an end is checked by running again in cycle order.
_ENDS_BEFORE_OTHERS = (state.ST_FAULT, state.ST_STACK_OVERFLOW, state.ST_DMA_FAULT, state.ST_CYCLE_LIMIT)


#: A checkpoint's array that was all zeros (restored by filling, not copied).
_ALL_ZEROS = object()


class _Rewind:
    """Checkpoints of a multi-core run, to end it exactly at a CORESTATUS exit.

    A core may run ahead of the others through instructions that touch only its own state, so when another
    core's exit store executes in cycle T, a core may have executed instructions (and charged their cycles)
    after T. Those must not count: the run is simulated again from the latest checkpoint taken before any
    core passed T, with P_HORIZON = T so that nothing runs after T. Checkpoints are taken at the start and
    every engine slice (SLICE instructions); a second pass takes at most one slice plus the exit's.
    """

    def __init__(self, machine: Machine):
        self.m = machine
        self.first = self._take(first=True)
        self.previous = self.latest = self.first

    #: Logs the engine only appends to: their fill counts (in dma_glob, io) are restored, the rows after
    #: them are written again.
    APPEND_ONLY = ("dma_log", "region_log", "trace_buf")

    def _take(self, first: bool = False) -> tuple[int, dict[str, np.ndarray], tuple]:
        """(the latest clock of an awake core, a copy of every state array of the machine, the output held back so
        far: its length and the partial lines).
        `first`: the run's start, where no load ahead has been recorded yet (load_keys is all zeros, kept as
        _ALL_ZEROS instead of a copy: on `ideal` it is twice the size of the memory)."""
        m = self.m
        arrays = {name: value.copy() for name, value in vars(m).items()
                  if isinstance(value, np.ndarray) and value.base is None and name not in self.APPEND_ONLY
                  and not (first and name == "load_keys")}
        if first:
            arrays["load_keys"] = _ALL_ZEROS
        arrays["_code_rows"] = m._code_rows  # the used rows of the code table (pagemap refers to them)
        held = (len(m._held_output) if m._held_output is not None else 0,
                {core: list(chars) for core, chars in m._line_buf.items()})
        return self._latest_awake_clock(), arrays, held

    def _restore(self, arrays: dict) -> None:
        m = self.m
        for name, saved in arrays.items():
            current = getattr(m, name)
            if saved is _ALL_ZEROS:
                current.fill(0)
            elif not isinstance(saved, np.ndarray):
                setattr(m, name, saved)
            elif current.shape == saved.shape and current.dtype == saved.dtype:
                np.copyto(current, saved)
            else:
                setattr(m, name, saved.copy())  # (the code table grows by replacement)

    @staticmethod
    def _latest_key(checkpoint: tuple) -> int:
        """The latest order key of a load ahead of cycle order recorded by the time of `checkpoint` (_take), read
        from its copy of the record when asked for (after a load read too early: rare), not at every checkpoint."""
        saved = checkpoint[1]["load_keys"]
        return 0 if saved is _ALL_ZEROS else int(saved.max())

    def _latest_awake_clock(self) -> int:
        m = self.m
        awake = (m.tim[:, state.T_HALTED] == 0) & (m.eu_core[:, cluster.E_WAIT] == cluster.W_NONE)
        return int(m.cyc[awake].max()) if awake.any() else 0

    def checkpoint(self) -> None:
        self.previous, self.latest = self.latest, self._take()

    def before_load_ahead(self, key: int) -> None:
        """After ST_LOAD_AHEAD (a write with order key `key` reached a word loaded ahead of it): restore the latest
        checkpoint taken before any load ahead of cycle order with a later key (the first one has none), and the
        output held back then. Loads ahead of cycle order made before it were checked by every write since."""
        m = self.m
        checkpoint = next(c for c in (self.latest, self.previous, self.first) if self._latest_key(c) <= key)
        _, arrays, (held, line_buf) = checkpoint
        self._restore(arrays)
        if m._held_output is not None:
            del m._held_output[held:]
        m._line_buf = {core: list(chars) for core, chars in line_buf.items()}
        self.previous = self.latest = checkpoint

    def replay_to_exit(self) -> bool:
        """After ST_EXIT: if some core ran past the exit's cycle, restore a checkpoint from before and
        return True (the caller runs on, now up to the exit's cycle only, once)."""
        m = self.m
        if m._replaying:
            return False
        end = int(m.io[state.IO_EXIT_CYCLE])
        if self._latest_awake_clock() <= end + 1:
            return False
        arrays = (self.latest if self.latest[0] <= end + 1 else self.first)[1]
        self._restore(arrays)
        m.params[state.P_HORIZON] = end
        # (in cycle order: every load ahead of the first pass up to the exit was checked by the writes before it)
        m.params[state.P_LOADS_AHEAD] = 0
        m._replaying = True
        return True
