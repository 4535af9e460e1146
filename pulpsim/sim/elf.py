"""Load and validate RV32IMF bare-metal ELF executables for pulpsim.

:func:`load_elf` reads an ELF with pyelftools and returns an :class:`ElfImage`:
the entry point, the PT_LOAD segments (with .bss zero-filled up to p_memsz),
the symbol table and a symbolizer for addresses.  Everything a user can get
wrong (not an ELF, 64-bit, another architecture, an object file, compressed
or double-float code, ...) is reported as a one-line :class:`ElfError`;
pyelftools exceptions never escape.

A file is parsed once per content: a program run many times (a sweep, a benchmark's repeats) is read each time
but parsed only the first time (parsing is most of a short run's set-up). The images are shared: read-only.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import io
import os
import struct
import threading
from typing import Iterable, Sequence

from ..errors import ElfError

__all__ = ["Segment", "ElfImage", "load_elf"]

# e_flags of RISC-V (psABI)
EF_RISCV_RVC = 0x0001
EF_RISCV_FLOAT_ABI_MASK = 0x0006
EF_RISCV_FLOAT_ABI_SOFT = 0x0000
EF_RISCV_FLOAT_ABI_SINGLE = 0x0002
EF_RISCV_FLOAT_ABI_DOUBLE = 0x0004
EF_RISCV_FLOAT_ABI_QUAD = 0x0006
EF_RISCV_RVE = 0x0008

PF_X, PF_W, PF_R = 1, 2, 4

#: Largest PT_LOAD segment accepted (far above any PULP memory: L2 is 1.5 MiB).
MAX_SEGMENT_SIZE = 64 << 20

_RV32 = "pulpsim runs 32-bit RISC-V (RV32) programs"

# Friendlier names for the e_machine values people actually feed us; any other
# machine is named by pyelftools' EM_* string.
_MACHINE_NAMES = {
    "EM_X86_64": "x86-64",
    "EM_386": "x86 (i386)",
    "EM_ARM": "ARM",
    "EM_AARCH64": "AArch64 (ARM64)",
    "EM_MIPS": "MIPS",
    "EM_PPC": "PowerPC",
    "EM_PPC64": "PowerPC64",
    "EM_S390": "s390",
    "EM_SPARC": "SPARC",
    "EM_SPARCV9": "SPARC v9",
    "EM_LOONGARCH": "LoongArch",
    "EM_XTENSA": "Xtensa",
    "EM_AVR": "AVR",
    "EM_MSP430": "MSP430",
}


@dataclasses.dataclass(frozen=True)
class Segment:
    """A PT_LOAD segment; ``data`` has ``memsz`` bytes (file bytes followed
    by the zero-filled part, e.g. .bss)."""

    vaddr: int
    data: bytes
    memsz: int
    executable: bool
    writable: bool

    @property
    def end(self) -> int:
        """First address past the segment."""
        return self.vaddr + self.memsz

    def __repr__(self) -> str:  # data can be large: keep reprs short
        flags = ("R" + ("W" if self.writable else "-") + ("X" if self.executable else "-"))
        return f"Segment(0x{self.vaddr:08x}-0x{self.end:08x} {flags})"


@dataclasses.dataclass(frozen=True)
class ElfImage:
    """A validated RV32 executable.

    ``symbols`` maps names of function, object and untyped (assembly label,
    linker-script) symbols to their addresses; ``flags`` is e_flags.
    """

    path: str
    entry: int
    segments: list
    symbols: dict
    flags: int = 0
    # (addr, size, name) of code symbols sorted by address, for symbolize()
    _code_symbols: tuple = dataclasses.field(default=(), repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_code_addrs", [a for a, _, _ in self._code_symbols])

    @property
    def tohost(self) -> int | None:
        """Address of the ``tohost`` symbol (Spike exit convention), if any."""
        return self.symbols.get("tohost")

    @property
    def fromhost(self) -> int | None:
        return self.symbols.get("fromhost")

    def symbolize(self, addr: int) -> str:
        """``"func+0x1c"`` for a code address (``"func"`` at its start);
        ``""`` when no code symbol covers it."""
        i = bisect.bisect_right(self._code_addrs, addr) - 1
        if i < 0:
            return ""
        if not any(s.executable and s.vaddr <= addr < s.end for s in self.segments):
            return ""  # data address: an assembly label (size 0) must not claim it
        start, size, name = self._code_symbols[i]
        if size and addr >= start + size:
            return ""
        off = addr - start
        return f"{name}+0x{off:x}" if off else name

    def check_fits(self, regions: Sequence[tuple]) -> None:
        """Raise ElfError unless every segment lies entirely inside one of
        ``regions``, a sequence of ``(name, base, size)``."""
        for seg in self.segments:
            if seg.memsz == 0:
                continue
            if any(base <= seg.vaddr and seg.end <= base + size for _, base, size in regions):
                continue
            kind = "code" if seg.executable else ("data" if seg.writable else "read-only data")
            where = ", ".join(f"{n} 0x{b:08x}-0x{b + s:08x}" for n, b, s in regions) or "none"
            raise ElfError(f"{self.path}: {kind} segment 0x{seg.vaddr:08x}-0x{seg.end:08x} does not fit in "
                           f"any memory region ({where}); relink the program for this platform")


def _machine_name(em: str) -> str:
    if em in _MACHINE_NAMES:
        return _MACHINE_NAMES[em]
    return em[3:] if isinstance(em, str) and em.startswith("EM_") else str(em)


#: Images parsed so far, by (path, file contents), the most recently loaded last (see the module's docstring):
#: at most _PARSED_MAX files of at most _PARSED_MAX_BYTES each.
_PARSED: "collections.OrderedDict[tuple[str, bytes], ElfImage]" = collections.OrderedDict()
_PARSED_MAX = 16
_PARSED_MAX_BYTES = 4 << 20
_PARSED_LOCK = threading.Lock()  # (runs may load programs from several threads: a dask worker's)


def load_elf(path) -> ElfImage:
    """Read and validate an RV32 (ilp32/ilp32f, no C extension) executable."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ElfError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ElfError(f"{name} is a directory, not an ELF file") from None
    except OSError as e:
        raise ElfError(f"{name}: cannot read: {e.strerror or e}") from None

    if raw[:4] != b"\x7fELF":
        raise ElfError(f"{name} is not an ELF file")
    if len(raw) < 52:
        raise ElfError(f"{name}: truncated ELF file ({len(raw)} bytes)")

    key = (name, raw)  # (the bytes themselves: a file rewritten in place is parsed again, whatever its timestamps)
    with _PARSED_LOCK:
        image = _PARSED.get(key)
        if image is not None:
            _PARSED.move_to_end(key)
            return image
    try:
        image = _parse(name, raw)
    except ElfError:
        raise
    except Exception as e:  # pyelftools / construct errors on corrupt input
        raise ElfError(f"{name}: corrupt or truncated ELF file ({type(e).__name__}: {e})") from None
    if len(raw) <= _PARSED_MAX_BYTES:
        with _PARSED_LOCK:
            _PARSED[key] = image
            if len(_PARSED) > _PARSED_MAX:
                _PARSED.popitem(last=False)  # the least recently loaded
    return image


def _parse(name: str, raw: bytes) -> ElfImage:
    from elftools.elf.elffile import ELFFile

    ei_class, ei_data = raw[4], raw[5]
    if ei_data not in (1, 2):
        raise ElfError(f"{name}: corrupt ELF header (bad EI_DATA {ei_data})")
    elf = ELFFile(io.BytesIO(raw))
    hdr = elf.header
    em = hdr["e_machine"]
    if em != "EM_RISCV":
        bits = "64-bit" if elf.elfclass == 64 else "32-bit"
        raise ElfError(f"{name}: {_machine_name(em)} ELF ({bits}, {em}), not RISC-V; {_RV32}")
    if ei_class == 2 or elf.elfclass == 64:
        raise ElfError(f"{name}: 64-bit ELF; {_RV32} (compile for rv32, e.g. -march=rv32imf -mabi=ilp32f)")
    if not elf.little_endian:
        raise ElfError(f"{name}: big-endian ELF; RISC-V programs are little-endian")

    et = hdr["e_type"]
    if et == "ET_REL":
        raise ElfError(f"{name} is a relocatable object file (ET_REL), not an executable; link it first "
                       "(e.g. pulpsim.toolchain.build or `pulpsim build`)")
    if et == "ET_DYN":
        raise ElfError(f"{name} is a shared object or position-independent executable (ET_DYN); "
                       "link a static, non-PIE executable")
    if et != "ET_EXEC":
        raise ElfError(f"{name} is not an executable (e_type {et})")

    flags = hdr["e_flags"]
    if flags & EF_RISCV_RVC:
        raise ElfError(f"{name}: compressed (C extension) code is not supported; compile without the "
                       "C extension (e.g. -march=rv32imf)")
    if flags & EF_RISCV_RVE:
        raise ElfError(f"{name}: RV32E ELF (EF_RISCV_RVE); pulpsim implements RV32IMF with 32 integer registers")
    fabi = flags & EF_RISCV_FLOAT_ABI_MASK
    if fabi == EF_RISCV_FLOAT_ABI_DOUBLE:
        raise ElfError(f"{name}: double-float ABI (ilp32d) is not supported: pulpsim implements RV32IMF "
                       "(single precision); compile with -mabi=ilp32f")
    if fabi == EF_RISCV_FLOAT_ABI_QUAD:
        raise ElfError(f"{name}: quad-float ABI (ilp32q) is not supported: pulpsim implements RV32IMF "
                       "(single precision); compile with -mabi=ilp32f")

    segments: list[Segment] = []
    dynamic = False
    for seg in elf.iter_segments():
        ptype = seg["p_type"]
        if ptype in ("PT_INTERP", "PT_DYNAMIC"):
            dynamic = True
        if ptype != "PT_LOAD":
            continue
        off, filesz, memsz, vaddr = seg["p_offset"], seg["p_filesz"], seg["p_memsz"], seg["p_vaddr"]
        if filesz > memsz:
            raise ElfError(f"{name}: corrupt program header (p_filesz > p_memsz at 0x{vaddr:08x})")
        if off + filesz > len(raw):
            raise ElfError(f"{name}: truncated ELF file (segment at 0x{vaddr:08x} extends past the end of the file)")
        if memsz > MAX_SEGMENT_SIZE:
            # Guards against corrupt headers: zero-filling p_memsz bytes could
            # otherwise allocate gigabytes.
            raise ElfError(f"{name}: segment at 0x{vaddr:08x} is implausibly large (0x{memsz:x} bytes; "
                           f"at most 0x{MAX_SEGMENT_SIZE:x} supported): corrupt ELF file?")
        if vaddr + memsz > 1 << 32:
            raise ElfError(f"{name}: segment at 0x{vaddr:08x} (0x{memsz:x} bytes) extends past the 32-bit address space")
        data = raw[off:off + filesz] + bytes(memsz - filesz)
        segments.append(Segment(vaddr=vaddr, data=data, memsz=memsz,
                                executable=bool(seg["p_flags"] & PF_X),
                                writable=bool(seg["p_flags"] & PF_W)))
    if dynamic:
        raise ElfError(f"{name} is dynamically linked; pulpsim runs static bare-metal executables")
    if not segments:
        raise ElfError(f"{name}: no loadable (PT_LOAD) segments")

    entry = hdr["e_entry"]
    if not any(s.executable and s.vaddr <= entry < s.end for s in segments):
        raise ElfError(f"{name}: entry point 0x{entry:08x} is not inside an executable segment")

    symbols, code_syms = _symbols(name, raw, elf, segments)
    return ElfImage(path=name, entry=entry, segments=segments, symbols=symbols, flags=flags,
                    _code_symbols=tuple(code_syms))


_BIND_RANK = {0: 2, 1: 0, 2: 1}   # STB_LOCAL, STB_GLOBAL, STB_WEAK -> preference (global first)
_STT_NOTYPE, _STT_OBJECT, _STT_FUNC = 0, 1, 2
_SHN_UNDEF, _SHN_ABS = 0, 0xFFF1
_SYM32 = struct.Struct("<IIIBBH")  # st_name, st_value, st_size, st_info, st_other, st_shndx


def _symbols(name: str, raw: bytes, elf, segments: Iterable[Segment]):
    """(name -> address, sorted code symbols).

    The symbol table is decoded with struct rather than pyelftools (whose
    per-symbol parsing costs ~60 us: a -g build with compiler-rt has
    thousands of symbols).  Mapping symbols ($x, $d) and assembler
    temporaries (.L*) are skipped; for duplicate names (static functions of
    several files) a global definition wins."""
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None or symtab["sh_type"] != "SHT_SYMTAB":
        return {}, []
    off, size, link = symtab["sh_offset"], symtab["sh_size"], symtab["sh_link"]
    if link >= elf.num_sections():
        raise ElfError(f"{name}: corrupt symbol table (bad string table index {link})")
    strtab = elf.get_section(link)
    soff, ssize = strtab["sh_offset"], strtab["sh_size"]
    if off + size > len(raw) or soff + ssize > len(raw):
        raise ElfError(f"{name}: truncated ELF file (symbol table extends past the end of the file)")
    strings = raw[soff:soff + ssize]
    table = raw[off:off + size - size % _SYM32.size]

    xsegs = [(s.vaddr, s.end) for s in segments if s.executable]
    best: dict[str, tuple] = {}
    by_addr: dict[int, tuple] = {}
    for st_name, addr, sz, info, _other, shndx in _SYM32.iter_unpack(table):
        typ, bind = info & 0xF, info >> 4
        if typ not in (_STT_FUNC, _STT_OBJECT, _STT_NOTYPE) or shndx == _SHN_UNDEF or st_name == 0:
            continue
        end = strings.find(b"\0", st_name)
        if st_name >= len(strings):
            continue
        nm = strings[st_name:end if end >= 0 else len(strings)].decode("utf-8", "replace")
        if not nm or nm.startswith(("$", ".L")):
            continue
        rank = _BIND_RANK.get(bind, 3)
        if nm not in best or rank < best[nm][0]:
            best[nm] = (rank, addr)
        # Code symbols: functions, and untyped labels (assembly) that lie in
        # an executable segment.  At equal addresses prefer global over
        # local, functions over labels, then the shorter name (zig's
        # compiler-rt has local aliases such as compiler_rt.int.__divdi3).
        if typ == _STT_OBJECT or shndx == _SHN_ABS:
            continue
        if not any(lo <= addr < hi for lo, hi in xsegs):
            continue
        prio = (rank, 0 if typ == _STT_FUNC else 1, len(nm), nm)
        if addr not in by_addr or prio < by_addr[addr][0]:
            by_addr[addr] = (prio, sz if typ == _STT_FUNC else 0, nm)
    symbols = {nm: v[1] for nm, v in best.items()}
    code = sorted((addr, sz, nm) for addr, (_, sz, nm) in by_addr.items())
    return symbols, code
