"""Compile C and assembly sources into RV32IMF bare-metal ELFs for pulpsim.

The default compiler is the clang inside the ``ziglang`` PyPI package (``zig
cc``), so a plain ``pip install`` gives a working cross toolchain.  A
``riscv64-unknown-elf-gcc`` on PATH can be used instead (``compiler="gcc"``).

Programs are linked with a linker script generated from
``kernels/runtime/link.ld.in`` for a :class:`Layout` (where code, data and the
per-core stacks go), and by default with the guest runtime of
``kernels/runtime`` (``crt0.S``, ``runtime.c``, ``pulpsim.h``), plus the
PMSIS cluster runtime (``pmsis.h``: ``pmsis.c``, ``dma.c``, ``alloc.c``) when
a source includes ``pmsis.h`` (see docs/runtime.md).

Builds are cached by content: the key hashes the compiler identity, every
flag, the layout, the linker script and the contents of every source, runtime
file and (transitively) included header.  A repeated identical :func:`build`
returns the cached ELF without starting the compiler.

Public API::

    build(sources, *, output=None, opt="-O2", cflags=(), include_dirs=(),
          defines=None, compiler="clang", runtime=True, layout=None,
          pmsis=None, platform=None, stack_size=None) -> Path
    build_c(text, **kw) -> Path          # a C snippet
    build_asm(text, **kw) -> Path        # an assembly snippet (preprocessed .S)
    split_pulp_gcc_flags(flags) -> (kept, ignored)
    IgnoredFlagsWarning                  # warned by build() for PULP GCC flags
    Layout(...)                          # memory placement, see the class
    PMSIS_LAYOUT                         # default Layout of PMSIS programs
    linker_script(layout) -> str
    cache_dir() -> Path
    runtime_dir() -> Path
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

from .errors import ConfigError, ToolchainError

__all__ = [
    "L2_BASE", "L2_SIZE", "TCDM_BASE", "TCDM_SIZE", "CLANG_TARGET", "CLANG_MCPU", "GCC_MABI",
    "Layout", "PMSIS_LAYOUT", "layout_for", "build", "split_pulp_gcc_flags", "IgnoredFlagsWarning", "build_c", "build_asm", "source_file", "linker_script", "cache_dir", "runtime_dir",
]

# Default memory map of the cluster (shared spec "Memory map"); layouts may
# use any slice of these.
L2_BASE = 0x1C00_0000
L2_SIZE = 0x18_0000          # 1.5 MiB
TCDM_BASE = 0x1000_0000
TCDM_SIZE = 0x2_0000         # 128 KiB

# zig's clang: the CPU is generic_rv32 plus the features we implement.  zig
# spells features as +name; "c" is deliberately absent (the simulator has no
# compressed instructions), so the ELF gets e_flags = 0x2 (ilp32f, no RVC).
CLANG_TARGET = "riscv32-freestanding-none"
CLANG_MCPU = "generic_rv32+m+f+zicsr+zifencei"
GCC_MABI = "ilp32f"

# Bumped when the way outputs are produced changes, to invalidate old caches.
_CACHE_FORMAT = 2

PathLike = Union[str, os.PathLike]

_SOURCE_SUFFIXES = {".c", ".S", ".s", ".sx"}


# --------------------------------------------------------------------------
# Layout and linker script
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a program is linked.

    Code (``.text.init``, ``.text``) goes to ``[code_base, code_base +
    code_size)``.  Data (``.rodata``, ``.data``, ``.sdata``, ``.tohost``,
    ``.bss``) goes to ``[data_base, data_base + data_size)``; when
    ``data_base`` is None the data follows the code in one region of
    ``code_size + data_size`` bytes starting at ``code_base`` (the default:
    all 1.5 MiB of L2).

    The TCDM is ``[l1_base, l1_base + l1_size)`` (128 KiB at 0x1000_0000 by
    default; 64 KiB on a pulp-open-like cluster).  It holds the ``.l1``
    section (``PI_L1`` data of pmsis.h): in a region of its own when neither
    the code nor the data region lies in the TCDM, else inside that region.

    Stacks: ``num_cores`` stacks of ``stack_size_per_core`` bytes at the top
    of the data region, or, with ``stack_in_tcdm=True``, at the top of the
    TCDM (the default of programs that include pmsis.h, see
    :data:`PMSIS_LAYOUT`).  ``__stack_top`` is that top and hart h's stack
    ends at ``__stack_top - h * stack_size_per_core``.

    Heaps (pmsis.h ``pi_l1_malloc`` / ``pi_l2_malloc``): the L1 heap is the
    TCDM between the ``.l1`` data and the stacks (or the end of its region);
    the L2 heap is the data region after ``.bss`` up to the stacks (or its
    end), or, when the data region is in the TCDM, the code region after the
    code.

    Examples: ``Layout()`` (all in L2); ``Layout(data_base=TCDM_BASE,
    data_size=TCDM_SIZE, num_cores=8)`` (code in L2, data and stacks in TCDM);
    ``Layout(code_base=TCDM_BASE, code_size=0x8000, data_size=0x18000)`` (all
    in TCDM); ``Layout(stack_in_tcdm=True, num_cores=8,
    stack_size_per_core=0x800)`` (code and data in L2, stacks in TCDM).
    """

    code_base: int = L2_BASE
    code_size: int = 0x10_0000
    data_base: int | None = None
    data_size: int = 0x8_0000
    stack_size_per_core: int = 0x1000
    num_cores: int = 1
    stack_in_tcdm: bool = False
    l1_base: int = TCDM_BASE
    l1_size: int = TCDM_SIZE

    def __post_init__(self):
        def bad(msg):
            raise ConfigError(f"invalid Layout: {msg} ({self})")

        for name in ("code_base", "code_size", "data_size", "stack_size_per_core", "num_cores",
                     "l1_base", "l1_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(f"{name} must be a non-negative integer")
        if not isinstance(self.stack_in_tcdm, bool):
            bad("stack_in_tcdm must be True or False")
        if self.data_base is not None and (not isinstance(self.data_base, int) or self.data_base < 0):
            bad("data_base must be None or a non-negative integer")
        if self.code_base % 4:
            bad("code_base must be 4-byte aligned")
        if self.code_size == 0:
            bad("code_size must be > 0")
        if not 1 <= self.num_cores <= 16:
            bad("num_cores must be 1..16 (core ids are mhartid[3:0])")
        if self.stack_size_per_core < 16 or self.stack_size_per_core % 16:
            bad("stack_size_per_core must be a positive multiple of 16 (the ABI's stack alignment)")
        if self.l1_base % 16 or self.l1_size == 0 or self.l1_size % 16:
            bad("l1_base and l1_size must be 16-byte aligned and l1_size > 0")
        base, size = self.data_region()
        if base % 8:
            bad("data_base must be 8-byte aligned")
        if (base + size) % 16:
            bad("the data region must end on a 16-byte boundary (it is the top of the stacks)")
        sbase, ssize = self.stack_region()
        if self.num_cores * self.stack_size_per_core > ssize:
            where = "the TCDM (l1_size)" if self._l1_is_separate() and self.stack_in_tcdm else "the data region"
            bad(f"the stacks (num_cores * stack_size_per_core) do not fit in {where}")
        for rbase, rsize in (self.code_region(), (base, size), (self.l1_base, self.l1_size)):
            if rbase + rsize > 1 << 32:
                bad("region extends past the 32-bit address space")
        if self.data_base is not None:
            cb, cs = self.code_region()
            if base < cb + cs and cb < base + size:
                bad("code and data regions overlap")
        if self.stack_in_tcdm and not self._l1_is_separate() and not self._in_l1(self.data_region()):
            bad("stack_in_tcdm=True needs the TCDM free of code (the stacks go to the top of the TCDM)")

    def code_region(self) -> tuple[int, int]:
        """(base, size) of the region holding code; with ``data_base=None``
        the shared code+data region."""
        if self.data_base is None:
            return self.code_base, self.code_size + self.data_size
        return self.code_base, self.code_size

    def data_region(self) -> tuple[int, int]:
        """(base, size) of the region holding data (and by default stacks)."""
        if self.data_base is None:
            return self.code_base, self.code_size + self.data_size
        return self.data_base, self.data_size

    def _in_l1(self, region: tuple[int, int]) -> bool:
        base, size = region
        return base < self.l1_base + self.l1_size and self.l1_base < base + size

    def _l1_is_separate(self) -> bool:
        """True when the TCDM is a linker region of its own (neither code nor
        data lies in it)."""
        return not (self._in_l1(self.code_region()) or self._in_l1(self.data_region()))

    def stack_region(self) -> tuple[int, int]:
        """(base, size) of the region whose top holds the stacks."""
        if self.stack_in_tcdm and self._l1_is_separate():
            return self.l1_base, self.l1_size
        return self.data_region()

    @property
    def stack_top(self) -> int:
        """Value of ``__stack_top`` (initial sp of hart 0)."""
        base, size = self.stack_region()
        return base + size


#: Default layout of programs that include pmsis.h (cluster programs): code
#: and data in L2 as :class:`Layout`'s default, the per-core stacks at the top
#: of the TCDM (an L2 access costs 15 cycles on the "vega" preset, a TCDM one
#: 1): 8 stacks of 4 KiB, 32 KiB of the 128 KiB TCDM; the rest minus the
#: ``.l1`` data is the L1 heap.  Measured: printf alone takes 1.0 KiB of stack
#: at -O2 and 1.5 KiB at -O0; an SDK-style core 0 (main -> cluster task ->
#: fork -> printf) reached 1.0 KiB at -O2 but 2.3 KiB at -O0, so 2 KiB stacks
#: are not enough.  A fork over more cores than ``num_cores`` stops the
#: program with an error; a 64 KiB TCDM (preset "pulp-open") needs
#: ``dataclasses.replace(PMSIS_LAYOUT, l1_size=0x10000)`` (else the simulator
#: refuses to load the ELF: its TCDM segment ends at 0x1002_0000).
PMSIS_LAYOUT = Layout(stack_in_tcdm=True, num_cores=8, stack_size_per_core=0x1000)


def layout_for(platform, *, pmsis: bool = True) -> Layout:
    """The default layout sized for a platform (a preset name or a pulpsim.Platform).

    Code and data go to the platform's L2, PI_L1 data (and, for PMSIS
    programs, one stack per core) to its TCDM, so that the program loads on
    that platform: e.g. ``build_c(src, layout=layout_for("pulp-open"))``.
    """
    from .sim.platform import get_platform
    plat = get_platform(platform) if not hasattr(platform, "tcdm") else platform
    base = PMSIS_LAYOUT if pmsis else Layout()
    code_size = min(base.code_size, plat.l2.size // 2)
    return dataclasses.replace(base, code_base=plat.l2.base, code_size=code_size,
                               data_size=plat.l2.size - code_size, l1_base=plat.tcdm.base,
                               l1_size=plat.tcdm.size, num_cores=plat.cores if pmsis else 1)


def runtime_dir() -> Path:
    """Directory of the guest runtime (crt0.S, runtime.c, pulpsim.h,
    link.ld.in); ``$PULPSIM_RUNTIME_DIR`` overrides the in-tree copy."""
    env = os.environ.get("PULPSIM_RUNTIME_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "kernels" / "runtime"


def _runtime_file(name: str) -> Path:
    p = runtime_dir() / name
    if not p.is_file():
        raise ToolchainError(f"pulpsim runtime file {p} is missing (set PULPSIM_RUNTIME_DIR?)")
    return p


# Input sections of the program's own objects that survive --gc-sections.
_KEEP_SECTIONS = {
    "KEEP_TEXT": ".text .text.*",
    "KEEP_RODATA": ".rodata .rodata.*",
    "KEEP_DATA": ".data .data.*",
    "KEEP_SDATA": ".srodata .srodata.* .sdata .sdata.*",
    "KEEP_BSS": ".sbss .sbss.* .bss .bss.* COMMON",
}


def _keep_rules(objects: Sequence[str], sections: str) -> str:
    # One input-section description per object-file pattern.  (lld in zig
    # 0.17 ignores EXCLUDE_FILE, so compiler-rt cannot be excluded instead.)
    return "\n".join(f"    KEEP({pat}({sections}))" for pat in objects)


def linker_script(layout: Layout | None = None, *, keep_debug: bool = False,
                  keep_objects: Sequence[str] = ()) -> str:
    """The linker script for ``layout``, generated from link.ld.in.

    Debug sections are discarded unless ``keep_debug`` (build() sets it when
    a -g flag is given).  ``keep_objects`` are linker-script file patterns
    (e.g. ``*/main.o``) whose sections are kept even when unreferenced."""
    layout = layout or Layout()
    template = _runtime_file("link.ld.in").read_text()
    if layout.data_base is None:
        b, s = layout.code_region()
        memory = f"  MEM (rwx) : ORIGIN = 0x{b:08X}, LENGTH = 0x{s:X}"
        code_region = data_region = "MEM"
    else:
        cb, cs = layout.code_region()
        db, ds = layout.data_region()
        memory = (f"  CODE (rx) : ORIGIN = 0x{cb:08X}, LENGTH = 0x{cs:X}\n"
                  f"  DATA (rw) : ORIGIN = 0x{db:08X}, LENGTH = 0x{ds:X}")
        code_region, data_region = "CODE", "DATA"
    region_end = lambda r: f"ORIGIN({r}) + LENGTH({r})"  # noqa: E731
    if layout._l1_is_separate():
        memory += f"\n  L1 (rw) : ORIGIN = 0x{layout.l1_base:08X}, LENGTH = 0x{layout.l1_size:X}"
        l1_region = "L1"
    elif layout._in_l1(layout.data_region()):
        l1_region = data_region
    else:
        l1_region = code_region
    stack_region = "L1" if (layout.stack_in_tcdm and l1_region == "L1") else data_region
    # L1 heap: after the .l1 data up to the stacks (when they share the
    # region) or the region's end.
    l1_heap_end = "__stack_bottom" if stack_region == l1_region else region_end(l1_region)
    # L2 heap: after the data (data region in L2) or after the code.
    if not layout._in_l1(layout.data_region()):
        l2_heap_start = "ALIGN(_end, 8)"
        l2_heap_end = "__stack_bottom" if stack_region == data_region else region_end(data_region)
    elif not layout._in_l1(layout.code_region()):
        l2_heap_start = "ALIGN(__text_end, 8)"
        l2_heap_end = region_end(code_region)
    else:
        l2_heap_start = l2_heap_end = "0"
    subst = {
        "MEMORY": memory,
        "CODE_REGION": code_region,
        "DATA_REGION": data_region,
        "L1_REGION": l1_region,
        "STACK_REGION": stack_region,
        "L1_HEAP_END": l1_heap_end,
        "L2_HEAP_START": l2_heap_start,
        "L2_HEAP_END": l2_heap_end,
        "DATA_LIMIT": "__stack_bottom" if stack_region == data_region else region_end(data_region),
        "L1_LIMIT": "__stack_bottom" if stack_region == l1_region else region_end(l1_region),
        "STACK_SECTION": (f"  .stack 0x{layout.stack_top - layout.num_cores * layout.stack_size_per_core:08X} (NOLOAD) : {{\n"
                          f"    . += 0x{layout.num_cores * layout.stack_size_per_core:X};\n"
                          f"  }} > L1 :l1\n") if stack_region == "L1" else "",
        "STACK_SIZE": f"0x{layout.stack_size_per_core:X}",
        "NUM_CORES": str(layout.num_cores),
        "DEBUG_SECTIONS": "" if keep_debug else "  /DISCARD/ : { *(.debug_*) }",
    }
    for name, sections in _KEEP_SECTIONS.items():
        subst[name] = _keep_rules(keep_objects, sections)
    out = re.sub(r"@([A-Z0-9_]+)@", lambda m: subst[m.group(1)] if m.group(1) in subst else m.group(0), template)
    left = re.findall(r"@[A-Z0-9_]+@", out)
    if left:
        raise ToolchainError(f"link.ld.in has unknown placeholders {sorted(set(left))}")
    return out


# --------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------

def cache_dir() -> Path:
    """Build cache directory: ``$PULPSIM_CACHE`` or ``~/.cache/pulpsim/build``."""
    env = os.environ.get("PULPSIM_CACHE")
    d = Path(env) if env else Path.home() / ".cache" / "pulpsim" / "build"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolchainError(f"cannot create the build cache directory {d}: {e}") from None
    return d


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_SELF_HASH: str | None = None


def _self_hash() -> str:
    global _SELF_HASH
    if _SELF_HASH is None:
        _SELF_HASH = _sha256(Path(__file__).read_bytes())
    return _SELF_HASH


def _atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write via a temporary file in the same directory and rename, so that a
    concurrent reader sees either nothing or the whole file (``mode``: its
    permissions, else those of mkstemp)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _atomic_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(dst, src.read_bytes(), 0o755)


# --------------------------------------------------------------------------
# Header dependency scan (for the cache key)
# --------------------------------------------------------------------------

# C/preprocessed-asm #include and GNU as .include.  Conditional and macro
# includes are not evaluated: every resolvable file named is hashed (a few
# headers too many only cost a cache miss, never a stale hit).
_INCLUDE_RE = re.compile(rb'^[ \t]*(?:#[ \t]*include(?:_next)?|\.include)[ \t]*([<"])([^">\r\n]+)[">]', re.M)


def _scan_headers(files: Iterable[Path], include_dirs: Sequence[Path]) -> dict[str, str]:
    """Transitively included files found in the source directories and
    ``include_dirs`` -> content hash.  System headers (not found) are
    covered by the compiler identity."""
    seen: dict[str, str] = {}
    stack = [Path(f) for f in files]
    scanned: set[Path] = set()
    while stack:
        f = stack.pop()
        if f in scanned:
            continue
        scanned.add(f)
        try:
            data = f.read_bytes()
        except OSError:
            continue
        for kind, name in _INCLUDE_RE.findall(data):
            rel = name.decode("utf-8", "replace").strip()
            dirs = ([f.parent] if kind == b'"' else []) + list(include_dirs)
            for d in dirs:
                cand = (d / rel)
                if cand.is_file():
                    cand = cand.resolve()
                    if str(cand) not in seen:
                        seen[str(cand)] = _sha256(cand.read_bytes())
                        stack.append(cand)
                    break
    return seen


def _include_dirs_from_flags(flags: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """-I/-iquote/-isystem directories and -include files named in cflags."""
    dirs: list[Path] = []
    forced: list[Path] = []
    it = iter(flags)
    for a in it:
        for opt in ("-I", "-iquote", "-isystem", "-idirafter"):
            if a == opt:
                nxt = next(it, None)
                if nxt:
                    dirs.append(Path(nxt))
                break
            if a.startswith(opt) and len(a) > len(opt) and opt == "-I":
                dirs.append(Path(a[2:]))
                break
        else:
            if a == "-include":
                nxt = next(it, None)
                if nxt:
                    forced.append(Path(nxt))
    return dirs, forced


# --------------------------------------------------------------------------
# Compilers
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Compiler:
    kind: str            # "clang" | "gcc"
    argv0: tuple         # command prefix
    identity: tuple      # for the cache key (no subprocess needed)


def _stat_identity(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns)


def _zig_compiler() -> _Compiler:
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("ziglang")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError("the default compiler needs the 'ziglang' Python package: pip install ziglang")
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    zig = pkg_dir / ("zig.exe" if os.name == "nt" else "zig")
    try:
        version = importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    ident: tuple = ("zig", version)
    if zig.exists():
        ident += _stat_identity(str(zig))
    return _Compiler("clang", (sys.executable, "-m", "ziglang", "cc"), ident)


_GCC_NAME = "riscv64-unknown-elf-gcc"


def _gcc_compiler() -> _Compiler:
    gcc = shutil.which(_GCC_NAME)
    if not gcc:
        raise ToolchainError(
            f"compiler='gcc' needs {_GCC_NAME} on PATH, and it was not found "
            "(Debian/Ubuntu: apt-get install gcc-riscv64-unknown-elf); use compiler='clang' (zig) instead")
    return _Compiler("gcc", (gcc,), ("gcc",) + _stat_identity(gcc))


_gcc_probe_memo: dict[tuple, tuple[str, list[str]]] = {}


def _gcc_probe(comp: _Compiler) -> tuple[str, list[str]]:
    """(-march value, libgcc link arguments) for this gcc; memoised.

    GCC >= 12 (ISA spec 20191213) needs _zicsr_zifencei for csrr/fence.i;
    older ones reject those names and imply them in rv32imf.  Multilib
    selection does not understand the z-extensions, so libgcc is looked up
    with the plain rv32imf/ilp32f pair and passed by path."""
    if comp.identity in _gcc_probe_memo:
        return _gcc_probe_memo[comp.identity]
    gcc = comp.argv0[0]
    march = None
    for cand in ("rv32imf_zicsr_zifencei", "rv32imf"):
        r = subprocess.run([gcc, f"-march={cand}", f"-mabi={GCC_MABI}", "-x", "c", "-c", "-o", os.devnull, "-"],
                           input=b"int pulpsim_probe;\n", capture_output=True)
        if r.returncode == 0:
            march = cand
            break
    if march is None:
        raise ToolchainError(f"{gcc} cannot compile for -march=rv32imf -mabi={GCC_MABI}:\n"
                             + _trim(r.stderr.decode("utf-8", "replace")))
    r = subprocess.run([gcc, "-march=rv32imf", f"-mabi={GCC_MABI}", "-print-libgcc-file-name"],
                       capture_output=True, text=True)
    lib = r.stdout.strip()
    libargs = [lib] if r.returncode == 0 and os.path.isabs(lib) and os.path.isfile(lib) else ["-lgcc"]
    _gcc_probe_memo[comp.identity] = (march, libargs)
    return march, libargs


def _get_compiler(name: str) -> _Compiler:
    if name in ("clang", "zig"):
        return _zig_compiler()
    if name == "gcc":
        return _gcc_compiler()
    raise ConfigError(f"unknown compiler {name!r}: use 'clang' (zig, the default) or 'gcc'")


def _base_flags(comp: _Compiler) -> list[str]:
    """Flags every build gets, before opt and the caller's cflags (so that
    e.g. -ffp-contract=fast in cflags overrides the default)."""
    common = [
        "-ffreestanding",
        "-nostdlib",
        "-fno-stack-protector",
        # No .eh_frame for user code (C has no use for it here).
        "-fno-unwind-tables",
        "-fno-asynchronous-unwind-tables",
    ]
    if comp.kind == "clang":
        return [
            "-target", CLANG_TARGET,
            f"-mcpu={CLANG_MCPU}",
            f"-mabi={GCC_MABI}",
            *common,
            # -nostdlib drops compiler-rt too; this brings it back (soft
            # double, 64-bit division, ...).
            "--rtlib=compiler-rt",
            # zig's compiler-rt is one big object: without section GC every
            # program would carry all of it (~300 KiB of code).  The linker
            # script KEEPs the program's own sections (_object_patterns).
            "-Wl,--gc-sections",
            # zig cc turns on UBSan (with a runtime we do not link) at -O0.
            "-fno-sanitize=all",
            # float16/float16alt (pulp_builtin_types.h): round every operation
            # to the 16-bit format, as a half-precision FPU does.
            "-Xclang", "-ffloat16-excess-precision=none",
            "-Xclang", "-fbfloat16-excess-precision=none",
            # zig strips the symbol table at -Os/-Oz (ReleaseSmall) unless
            # debug info is requested; -g does not change the code, and the
            # linker script discards .debug_* unless the caller passed -g.
            "-g",
        ]
    march, _ = _gcc_probe(comp)
    return [f"-march={march}", f"-mabi={GCC_MABI}", "-static", *common]


def _object_patterns(comp: _Compiler, sources: Sequence[Path]) -> list[str]:
    """File patterns matching the objects compiled from ``sources`` in the
    final link, for the KEEP rules of the linker script.

    Only needed with zig: its compiler-rt is a single huge object, so the
    link uses --gc-sections, and zig names the object of ``dir/foo.c``
    ``<zig cache>/o/<hash>/foo.o`` (compiler-rt is
    ``libcompiler_rt.a:compiler_rt_zcu.o``, which these do not match).  gcc
    links libgcc per function and needs no section GC."""
    if comp.kind != "clang":
        return []
    pats = []
    for s in sources:
        # Glob metacharacters and anything the script lexer could trip on
        # become '?' (matches any one character).
        stem = re.sub(r"[^A-Za-z0-9_.+-]", "?", s.stem)
        pat = f"*/{stem}.o"
        if pat not in pats:
            pats.append(pat)
    return pats


def _define_flags(defines) -> list[str]:
    if not defines:
        return []
    out = []
    if isinstance(defines, Mapping):
        for k, v in defines.items():
            if v is None or v is True:
                out.append(f"-D{k}")
            elif v is False:
                continue
            else:
                out.append(f"-D{k}={v}")
    elif isinstance(defines, str):
        out.append(f"-D{defines}")
    else:
        out.extend(f"-D{d}" for d in defines)
    return out


def _trim(text: str, max_lines: int = 60, max_chars: int = 6000) -> str:
    text = text.strip()
    lines = text.splitlines()
    cut = len(lines) > max_lines
    lines = lines[:max_lines]
    out = "\n".join(lines)
    if len(out) > max_chars:
        out, cut = out[:max_chars], True
    if cut:
        out += "\n[... compiler output truncated ...]"
    return out


# --------------------------------------------------------------------------
# Flags of PULP GCC, floating-point contraction
# --------------------------------------------------------------------------

class IgnoredFlagsWarning(UserWarning):
    """build() was given PULP GCC options that have no effect here."""


# Options of PULP GCC (the PULP SDK's compiler) that select PULP-specific code
# generation: hardware loops, Xpulp instructions, the cluster's core counts,
# library call expansion.  pulpsim compiles for RV32IMF (the simulated ISA),
# so they have nothing to change; -march, -mabi, -mcpu and -mtune are dropped
# too, because the target is fixed.
_PULP_GCC_FLAGS = frozenset({
    "-mhwloopalign", "-mhwloopnorvc", "-mnohwloop", "-mno-hwloop", "-mno-pulp-hwloop", "-mno-memcpy",
    "-mfdiv", "-mnofdiv", "-mnativeomp",
})
_PULP_GCC_PREFIXES = ("-march=", "-mabi=", "-mcpu=", "-mtune=", "-mPE=", "-mFC=", "-mL2=", "-mL1Cl=", "-mL1Fc=")
# Libraries the runtime always provides (its libm, libc, compiler-rt/libgcc):
# accepted silently, as the link already has them.
_RUNTIME_LIBS = frozenset({"-lm", "-lc", "-lgcc"})


def split_pulp_gcc_flags(flags: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split compiler flags into (flags to pass on, PULP GCC flags with no
    effect here).  ``-lm``, ``-lc`` and ``-lgcc`` are in neither list: the
    runtime links its own."""
    kept, ignored = [], []
    for f in flags:
        if f in _RUNTIME_LIBS:
            continue
        if f in _PULP_GCC_FLAGS or f.startswith(_PULP_GCC_PREFIXES):
            ignored.append(f)
        else:
            kept.append(f)
    return kept, ignored


def _warn_ignored(ignored: Sequence[str]) -> None:
    if ignored:
        warnings.warn(f"PULP GCC options ignored, no effect on RV32IMF: {' '.join(ignored)}",
                      IgnoredFlagsWarning, stacklevel=3)


_ISO_STD_RE = re.compile(r"-std=(?:c\d+|iso9899:\S+)|-ansi")


def _contract_flag(user_flags: Sequence[str]) -> str:
    """GCC's default floating-point contraction, which PULP GCC has: a*b+c
    becomes fmadd.s (``-ffp-contract=fast``) except in the ISO C modes
    (``-std=c99``, ``-std=c11``, ``-ansi``: ``-ffp-contract=off``).  An
    explicit -ffp-contract in the flags comes later and wins."""
    iso = any(_ISO_STD_RE.fullmatch(f) for f in user_flags)
    return "-ffp-contract=off" if iso else "-ffp-contract=fast"


def _resolve_layout(layout: Layout | None, platform, stack_size: int | None, pmsis: bool) -> Layout:
    """The build's layout: ``layout``, else one sized for ``platform``
    (:func:`layout_for`), else the default; ``stack_size`` replaces its
    per-core stack size."""
    if layout is not None and platform is not None:
        raise ConfigError("give build() either a layout or a platform, not both")
    if layout is None:
        if platform is not None:
            layout = layout_for(platform, pmsis=pmsis)
        else:
            layout = PMSIS_LAYOUT if pmsis else Layout()
    if stack_size is not None:
        layout = dataclasses.replace(layout, stack_size_per_core=stack_size)
    return layout


# "file:line[:col]: [fatal ]error:" (clang and gcc) and the include chains
# leading to it: clang "In file included from a.c:3:" (outermost first), gcc
# "In file included from b.h:5," / "                 from a.c:3:".
_DIAG_ERROR_RE = re.compile(r"^(.+?):\d+(?::\d+)?: (?:fatal )?error:")
_LINKER_ERROR_RE = re.compile(r"\bld(?:\.lld)?: |undefined reference|collect2")
_DIAG_INCLUDE_RE = re.compile(r"^(?:In file included from |\s+from )(.+?):\d+[:,]")


def _failed_sources(stderr: str, sources: Sequence[Path]) -> list[Path]:
    """The sources whose compilation reported an error (directly or in a
    header they include), in command-line order."""
    def key(path: str):
        try:
            return Path(path).resolve()
        except (OSError, RuntimeError):
            return None

    by_key = {key(str(s)): s for s in sources}
    failed: set[Path] = set()
    chain: list[str] = []
    for line in stderr.splitlines():
        m = _DIAG_INCLUDE_RE.match(line)
        if m:
            chain.append(m.group(1))
            continue
        m = _DIAG_ERROR_RE.match(line)
        if m:
            for f in chain + [m.group(1)]:
                if key(f) in by_key:
                    failed.add(by_key[key(f)])
                    break
        chain = []
    return [s for s in sources if s in failed]


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

_PMSIS_FILES = ("pmsis.c", "dma.c", "alloc.c")
# Compiled into every program but not KEPT by the linker script: --gc-sections
# links only the functions a program calls (bsp.c: PMSIS programs only;
# fp16.c: a half-precision conversion compiler-rt lacks).
_LIBM_FILES = ("libm.c", "libm_double.c", "fp16.c")
# Force-included ahead of every source: PULP GCC's built-in types.
_BUILTIN_TYPES = "pulp_builtin_types.h"


def build(sources, *, output: PathLike | None = None, opt: str | None = "-O2",
          cflags: Sequence[str] | str = (), include_dirs: Sequence[PathLike] = (),
          defines: Mapping[str, object] | Sequence[str] | None = None,
          compiler: str = "clang", runtime: bool = True, layout: Layout | None = None,
          pmsis: bool | None = None, platform=None, stack_size: int | None = None) -> Path:
    """Compile and link ``sources`` (.c, .S, .s paths) into an RV32IMF ELF.

    ``opt`` is the optimisation flag (``None`` or "" for none); ``cflags``
    are extra compiler/linker-driver flags appended after the defaults.
    PULP GCC's own options among them (``-mhwloopalign``, ``-mno-memcpy``,
    ``-march=rv32imfcxpulpv2``, ``-mPE=8``, ...; see
    :func:`split_pulp_gcc_flags`) are dropped with one
    :class:`IgnoredFlagsWarning`, and ``-lm`` is accepted (the runtime's
    libm is always linked).  Floating-point contraction is GCC's default:
    ``-ffp-contract=fast`` (a*b+c gives fmadd.s), ``-ffp-contract=off`` with an
    ISO ``-std=c..``; a -ffp-contract flag in ``cflags`` overrides it.
    ``float16`` and ``float16alt`` are defined as in PULP GCC
    (pulp_builtin_types.h, force-included);
    ``defines`` maps macro names to values (None: plain ``-DNAME``).  With
    ``runtime=True`` crt0.S and runtime.c are linked in (define ``main``);
    with ``runtime=False`` only the linker script is used and the sources
    must define ``_start``.  The runtime directory is always on the include
    path, so ``#include "pulpsim.h"`` works.

    ``pmsis``: link the PMSIS cluster runtime (pmsis.c, dma.c, alloc.c of
    the runtime directory, API in pmsis.h).  None (the default) decides by
    itself: yes when a source includes the runtime's pmsis.h.  A PMSIS
    program's default ``layout`` is :data:`PMSIS_LAYOUT` (stacks in the
    TCDM) instead of ``Layout()``.  ``platform`` (a preset name or a
    Platform) links for that platform's memories instead
    (:func:`layout_for`); ``stack_size`` sets the per-core stack size in
    bytes of whichever layout is used.

    Returns the path of the ELF: ``output`` if given (copied there
    atomically), else the file in the build cache.  Raises ToolchainError
    when compiling or linking fails.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    srcs = [Path(s) for s in sources]
    if not srcs:
        raise ConfigError("build() needs at least one source file")
    for s in srcs:
        if not s.is_file():
            raise ToolchainError(f"source file {s} not found")
        if s.suffix not in _SOURCE_SUFFIXES:
            raise ToolchainError(f"{s}: unsupported source type {s.suffix!r} (expected .c, .S or .s)")
    if isinstance(cflags, str):
        cflags = shlex.split(cflags)
    cflags, ignored = split_pulp_gcc_flags([str(c) for c in cflags])
    _warn_ignored(ignored)
    if layout is not None and not isinstance(layout, Layout):
        raise ConfigError(f"layout must be a pulpsim.toolchain.Layout, not {type(layout).__name__}")
    if pmsis and not runtime:
        raise ConfigError("pmsis=True needs runtime=True (the PMSIS runtime builds on crt0.S and runtime.c)")

    comp = _get_compiler(compiler)
    rt = runtime_dir()
    inc_dirs = [Path(d) for d in include_dirs]
    # Everything the output depends on, without running the compiler.
    user_flags = ([opt] if opt else []) + [f"-I{d}" for d in inc_dirs] + _define_flags(defines) + cflags
    keep_debug = any(f.startswith("-g") and f != "-g0" for f in user_flags)
    flag_dirs, forced = _include_dirs_from_flags(user_flags)
    search_dirs = inc_dirs + flag_dirs + [rt, rt / "libc"]
    forced = [f for f in forced if f.is_file()]
    user_headers = _scan_headers(srcs + forced, search_dirs)
    if pmsis is None:
        pmsis = runtime and str(_runtime_file("pmsis.h").resolve()) in user_headers
    layout = _resolve_layout(layout, platform, stack_size, bool(pmsis))
    runtime_files = [_runtime_file("crt0.S"), _runtime_file("runtime.c")] if runtime else []
    if pmsis:
        runtime_files += [_runtime_file(f) for f in _PMSIS_FILES]
    script = linker_script(layout, keep_debug=keep_debug,
                           keep_objects=_object_patterns(comp, runtime_files + srcs))
    if runtime:
        runtime_files += [_runtime_file(f) for f in _LIBM_FILES + (("bsp.c",) if pmsis else ())]
    all_srcs = runtime_files + srcs
    types_h = _runtime_file(_BUILTIN_TYPES)
    flags = [_contract_flag(user_flags), "-include", str(types_h)] + user_flags
    headers = dict(user_headers)
    headers.update(_scan_headers(runtime_files, search_dirs))
    key_doc = {
        "format": _CACHE_FORMAT,
        # The fixed flags and the build recipe live in this file: any change
        # to it invalidates earlier builds.
        "toolchain": _self_hash(),
        "compiler": list(comp.identity),
        "flags": flags,
        "runtime": runtime,
        "pmsis": bool(pmsis),
        "layout": dataclasses.asdict(layout),
        "script": _sha256(script.encode()),
        "sources": [(str(s.resolve()), _sha256(s.read_bytes())) for s in all_srcs + forced + [types_h]],
        "runtime_header": _sha256(_runtime_file("pulpsim.h").read_bytes()),
        "headers": sorted(headers.items()),
    }
    key = _sha256(json.dumps(key_doc, sort_keys=True, default=str).encode())
    cdir = cache_dir()
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", srcs[0].stem)[:40] or "prog"
    cached = cdir / f"{stem}-{key[:24]}.elf"

    if not cached.is_file():
        _compile(comp, all_srcs, srcs, script, flags, rt, cached)

    if output is None:
        return cached
    out = Path(output)
    _atomic_copy(cached, out)
    return out


def _compile(comp: _Compiler, sources: list[Path], user_sources: list[Path], script: str, flags: list[str],
             rt: Path, target: Path) -> None:
    """Compile and link ``sources`` (the runtime's and the user's) into ``target``; a failure names the
    sources that reported errors, or the link."""
    tmpdir = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        ld = tmpdir / "link.ld"
        ld.write_text(script)
        elf = tmpdir / "out.elf"
        cmd = [*comp.argv0, *_base_flags(comp), *flags, f"-I{rt}", f"-I{rt / 'libc'}", "-T", str(ld),
               *[str(s) for s in sources]]
        if comp.kind == "gcc":
            cmd += _gcc_probe(comp)[1]
        cmd += ["-o", str(elf)]
        what = ", ".join(str(s) for s in user_sources)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=900,
                               stdin=subprocess.DEVNULL)
        except FileNotFoundError as e:
            raise ToolchainError(f"cannot run the compiler: {e}\ncommand: {shlex.join(cmd)}") from None
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"compiling {what} timed out\ncommand: {shlex.join(cmd)}") from None
        if r.returncode != 0 or not elf.is_file():
            failed = _failed_sources(r.stderr or "", sources)
            if failed:
                step = f"compiling {', '.join(str(s) for s in failed)}"
            elif _LINKER_ERROR_RE.search(r.stderr or ""):
                step = f"linking {what}"
            else:
                step = f"building {what}"
            msg = _trim(r.stderr or r.stdout or "(no output)")
            raise ToolchainError(f"{step} failed ({comp.kind}, exit status {r.returncode}):\n"
                                 f"{msg}\ncommand: {shlex.join(cmd)}")
        _drop_empty_load_segments(elf)
        # Rename into place: parallel builders of the same key each produce a
        # complete file; the last rename wins and readers never see a partial one.
        os.chmod(elf, 0o755)
        os.replace(elf, target)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _drop_empty_load_segments(path: Path) -> None:
    """Turn PT_LOAD program headers of size 0 into PT_NULL.

    The linker script declares a PT_LOAD for the ``.l1`` (TCDM) data; GNU ld
    emits it even when the program has no such data, as an empty segment at
    address 0 (lld drops it).  The simulator would then "load" nothing at an
    address that may not be memory."""
    data = bytearray(path.read_bytes())
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:  # ELF32 little-endian only
        return
    phoff = int.from_bytes(data[28:32], "little")
    phentsize = int.from_bytes(data[42:44], "little")
    phnum = int.from_bytes(data[44:46], "little")
    changed = False
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 32 > len(data):
            return
        p_type = int.from_bytes(data[off:off + 4], "little")
        p_memsz = int.from_bytes(data[off + 20:off + 24], "little")
        if p_type == 1 and p_memsz == 0:  # PT_LOAD -> PT_NULL
            data[off:off + 4] = b"\0\0\0\0"
            changed = True
    if changed:
        path.write_bytes(bytes(data))


def source_file(text: str, suffix: str = ".c", name: str = "snippet") -> Path:
    """Write generated source text to the build cache as ``<name>-<hash><suffix>`` and return its path,
    for :func:`build` source lists that mix generated drivers with files of the tree."""
    data = text.encode()
    if not data.endswith(b"\n"):
        data += b"\n"  # assemblers warn about a missing final newline
    d = cache_dir() / "src"
    d.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40] or "snippet"
    p = d / f"{safe}-{_sha256(data)[:16]}{suffix}"
    if not (p.is_file() and p.read_bytes() == data):
        _atomic_write(p, data)
    return p


def build_c(text: str, *, name: str = "c", **kw) -> Path:
    """Build a C snippet (written to the cache as ``<name>-<hash>.c``);
    keyword arguments as for :func:`build` (``runtime=True`` by default, so
    the snippet defines ``main``)."""
    return build([source_file(text, ".c", name)], **kw)


def build_asm(text: str, *, name: str = "asm", **kw) -> Path:
    """Build an assembly snippet (preprocessed, so ``#include "pulpsim.h"``
    and ``#define`` work); keyword arguments as for :func:`build`.  Pass
    ``runtime=False`` when the snippet defines ``_start`` itself."""
    return build([source_file(text, ".S", name)], **kw)
