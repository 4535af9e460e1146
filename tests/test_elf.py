"""Tests of pulpsim.sim.elf: loading, symbols, symbolize, check_fits, and the
one-line ElfError for every kind of unusable file."""

from __future__ import annotations

import dataclasses
import random
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pulpsim.sim.elf import ElfImage, Segment, load_elf
from pulpsim.errors import ElfError, PulpsimError
from pulpsim.toolchain import L2_BASE, L2_SIZE, TCDM_BASE, TCDM_SIZE, build_c

HOST_CC = shutil.which("cc") or shutil.which("gcc")
RV_GCC = shutil.which("riscv64-unknown-elf-gcc")


pytestmark = pytest.mark.usefixtures("private_build_cache")   # conftest.py


GOOD_C = r"""
#include "pulpsim.h"
int counter = 5;           /* .data  */
int zeros[256];            /* .bss   */
__attribute__((noinline)) static int helper(int x) { return x * 3 + counter; }
int main(void) { zeros[3] = helper(4); printf("%d\n", zeros[3]); return 0; }
"""


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return build_c(GOOD_C, name="good")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("elves")


def _zig_cc(out: Path, *args: str, src: str = "void _start(void) { for (;;) ; }\n") -> Path:
    c = out.with_suffix(".c")
    c.write_text(src)
    cmd = [sys.executable, "-m", "ziglang", "cc", "-ffreestanding", "-nostdlib", "-fno-sanitize=all", "-O2",
           *args, str(c), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def _patched(src: Path, dst: Path, **fields) -> Path:
    """Copy of an ELF32 with header fields overwritten."""
    data = bytearray(src.read_bytes())
    offsets = {"e_type": (16, "<H"), "e_entry": (24, "<I"), "e_phnum": (44, "<H"), "e_flags": (36, "<I"),
               "e_phoff": (28, "<I")}
    for name, value in fields.items():
        off, fmt = offsets[name]
        struct.pack_into(fmt, data, off, value)
    dst.write_bytes(bytes(data))
    return dst


def _flags(path: Path) -> int:
    return struct.unpack_from("<I", path.read_bytes(), 36)[0]


# ---------------------------------------------------------------------------
# a good program
# ---------------------------------------------------------------------------

def test_load_good(good):
    img = load_elf(good)
    assert isinstance(img, ElfImage)
    assert img.path == str(good)
    assert img.entry == img.symbols["_start"] == L2_BASE
    assert img.flags == 0x2
    assert all(isinstance(s, Segment) for s in img.segments)
    code = [s for s in img.segments if s.executable]
    data = [s for s in img.segments if s.writable]
    assert code and data
    for s in img.segments:
        assert len(s.data) == s.memsz  # bss zero-filled
    # .bss (zeros[]) is in the data segment, zero-filled past p_filesz
    z = img.symbols["zeros"]
    seg = next(s for s in data if s.vaddr <= z < s.end)
    assert seg.data[z - seg.vaddr: z - seg.vaddr + 1024] == bytes(1024)
    # initialised data is there
    c = img.symbols["counter"]
    seg = next(s for s in data if s.vaddr <= c < s.end)
    assert struct.unpack_from("<i", seg.data, c - seg.vaddr)[0] == 5
    for name in ("main", "helper", "tohost", "fromhost", "printf", "__global_pointer$", "__stack_top"):
        assert name in img.symbols, name
    assert img.tohost == img.symbols["tohost"] and img.fromhost == img.symbols["fromhost"]
    assert not any(n.startswith(("$", ".L")) for n in img.symbols)
    with pytest.raises(dataclasses.FrozenInstanceError):
        img.entry = 0  # type: ignore[misc]


def test_a_file_rewritten_in_place_is_parsed_again(good, work):
    """A file is parsed once per content: loading the same bytes again gives the same image, but a file rewritten
    with other bytes of the same size and the same modification time (a rebuild within the file system's
    timestamp resolution) gives the new program's image, not the one parsed before."""
    import os
    first = load_elf(good)
    assert load_elf(good) is first
    path = _patched(good, work / "rewritten.elf", e_entry=first.entry)
    stamp = (1_700_000_000, 1_700_000_000)
    os.utime(path, stamp)
    before = load_elf(path)
    assert before.entry == first.entry and before.path == str(path)
    _patched(good, path, e_entry=first.entry + 4)
    os.utime(path, stamp)
    assert path.stat().st_size == good.stat().st_size
    assert load_elf(path).entry == first.entry + 4


def test_symbolize(good):
    img = load_elf(good)
    main = img.symbols["main"]
    assert img.symbolize(main) == "main"
    assert img.symbolize(main + 0x1C) == "main+0x1c"
    assert img.symbolize(img.entry + 8) == "_start+0x8"
    assert img.symbolize(L2_BASE - 4) == ""
    assert img.symbolize(0) == ""
    # compiler-rt routine names are the public ones, not zig's local aliases
    sym = img.symbolize(img.symbols["printf"] + 4)
    assert sym == "printf+0x4"


def test_check_fits(good):
    img = load_elf(good)
    img.check_fits([("L2", L2_BASE, L2_SIZE)])
    img.check_fits([("TCDM", TCDM_BASE, TCDM_SIZE), ("L2", L2_BASE, L2_SIZE)])
    code = next(s for s in img.segments if s.executable)
    with pytest.raises(ElfError) as ei:
        img.check_fits([("TCDM", TCDM_BASE, TCDM_SIZE)])
    assert f"0x{code.vaddr:08x}-0x{code.end:08x}" in str(ei.value)
    assert "TCDM" in str(ei.value)
    # a region too small for the whole segment
    with pytest.raises(ElfError, match="does not fit"):
        img.check_fits([("tiny", L2_BASE, 0x100)])


# ---------------------------------------------------------------------------
# unusable files
# ---------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(ElfError, match="no such file"):
        load_elf(tmp_path / "nope.elf")


def test_text_file(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello, I am not a program\n")
    with pytest.raises(ElfError) as ei:
        load_elf(p)
    assert str(ei.value) == f"{p} is not an ELF file"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ElfError, match="is not an ELF file"):
        load_elf(empty)


def test_directory(tmp_path):
    with pytest.raises(ElfError):
        load_elf(tmp_path)


@pytest.mark.skipif(HOST_CC is None, reason="no host C compiler")
def test_host_x86_64_elf(tmp_path):
    c = tmp_path / "hello.c"
    c.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "hello"
    r = subprocess.run([HOST_CC, str(c), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import platform
    expected = {"x86_64": "x86-64 ELF", "aarch64": "AArch64", "arm64": "AArch64"}.get(platform.machine(), "ELF")
    with pytest.raises(ElfError) as ei:
        load_elf(exe)
    msg = str(ei.value)
    assert expected in msg and "RV32" in msg and "\n" not in msg


def test_arm_elf(work):
    p = _zig_cc(work / "arm.elf", "-target", "arm-freestanding-eabi")
    with pytest.raises(ElfError, match=r"ARM ELF \(32-bit, EM_ARM\), not RISC-V"):
        load_elf(p)


def test_aarch64_elf(work):
    p = _zig_cc(work / "a64.elf", "-target", "aarch64-freestanding-none")
    with pytest.raises(ElfError, match="AArch64"):
        load_elf(p)


def test_riscv64_elf(work):
    p = _zig_cc(work / "rv64.elf", "-target", "riscv64-freestanding-none")
    with pytest.raises(ElfError, match=r"64-bit ELF; pulpsim runs 32-bit RISC-V \(RV32\) programs"):
        load_elf(p)


def test_relocatable_object(work):
    p = _zig_cc(work / "obj.o", "-c", "-target", "riscv32-freestanding-none",
                "-mcpu=generic_rv32+m+f+zicsr+zifencei")
    with pytest.raises(ElfError) as ei:
        load_elf(p)
    assert "relocatable" in str(ei.value) and "link" in str(ei.value)


def test_double_float_abi(work):
    p = _zig_cc(work / "ilp32d.elf", "-target", "riscv32-freestanding-none",
                "-mcpu=generic_rv32+m+f+d", "-mabi=ilp32d")
    assert _flags(p) & 0x6 == 0x4
    with pytest.raises(ElfError, match=r"double-float ABI \(ilp32d\)"):
        load_elf(p)


@pytest.mark.skipif(RV_GCC is None, reason="riscv64-unknown-elf-gcc not installed")
def test_double_float_abi_gcc(work):
    c = work / "gd.c"
    c.write_text("void _start(void) { for (;;) ; }\n")
    out = work / "gd.elf"
    r = subprocess.run([RV_GCC, "-march=rv32imfd", "-mabi=ilp32d", "-nostdlib", "-O2", str(c), "-o", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"gcc cannot build rv32imfd: {r.stderr[:200]}")
    with pytest.raises(ElfError, match="double-float ABI"):
        load_elf(out)


def test_compressed_elf(work):
    p = _zig_cc(work / "rvc.elf", "-target", "riscv32-freestanding-none", "-mcpu=generic_rv32+m+f+c")
    assert _flags(p) & 1
    with pytest.raises(ElfError, match=r"compressed \(C extension\) code is not supported; "
                                       r"compile without the C extension"):
        load_elf(p)


def test_rv32e_elf(work):
    p = _zig_cc(work / "rve.elf", "-target", "riscv32-freestanding-none", "-mcpu=generic_rv32+e")
    with pytest.raises(ElfError, match="RV32E"):
        load_elf(p)


def test_patched_headers(good, tmp_path):
    img = load_elf(good)
    data_seg = next(s for s in img.segments if not s.executable)
    cases = [
        (dict(e_flags=0x6), "quad-float ABI"),
        (dict(e_flags=0x4), "double-float ABI"),
        (dict(e_flags=0xA), "RV32E"),
        (dict(e_flags=0x3), "compressed"),
        (dict(e_type=3), "ET_DYN"),
        (dict(e_type=1), "relocatable"),
        (dict(e_type=4), "not an executable"),
        (dict(e_phnum=0), "no loadable (PT_LOAD) segments"),
        (dict(e_entry=data_seg.vaddr), "entry point"),
        (dict(e_entry=0x100), "not inside an executable segment"),
    ]
    for i, (fields, expect) in enumerate(cases):
        p = _patched(good, tmp_path / f"p{i}.elf", **fields)
        with pytest.raises(ElfError, match=re.escape(expect)):
            load_elf(p)
    # a corrupt p_memsz must not make the loader allocate gigabytes
    data = bytearray(good.read_bytes())
    phoff = struct.unpack_from("<I", data, 28)[0]
    struct.pack_into("<I", data, phoff + 20, 0x7000_0000)
    big = tmp_path / "big.elf"
    big.write_bytes(bytes(data))
    with pytest.raises(ElfError, match="implausibly large"):
        load_elf(big)
    # soft-float (ilp32) programs are fine
    load_elf(_patched(good, tmp_path / "soft.elf", e_flags=0x0))


def test_truncated_files(good, tmp_path):
    raw = good.read_bytes()
    p = tmp_path / "t.elf"
    for n in (4, 20, 51, 52, 100, 200, 1000, 4096, len(raw) // 3, len(raw) // 2):
        p.write_bytes(raw[:n])
        with pytest.raises(ElfError) as ei:
            load_elf(p)
        assert "\n" not in str(ei.value)
    p.write_bytes(raw[:30])
    with pytest.raises(ElfError, match="truncated"):
        load_elf(p)


def test_corrupt_files_never_leak_pyelftools_errors(good, tmp_path):
    """Random byte corruption: load_elf either succeeds or raises ElfError."""
    raw = good.read_bytes()
    rnd = random.Random(42)
    p = tmp_path / "c.elf"
    outcomes = {"ok": 0, "error": 0}
    for i in range(300):
        data = bytearray(raw)
        if i % 3 == 0:  # the ELF header and program headers are the interesting part
            for _ in range(rnd.randint(1, 4)):
                data[rnd.randrange(4, 52 + 32 * 4)] = rnd.randrange(256)
        elif i % 3 == 1:
            for _ in range(rnd.randint(1, 20)):
                data[rnd.randrange(4, len(data))] = rnd.randrange(256)
        else:
            data = data[: rnd.randrange(1, len(data))]
            data[rnd.randrange(4, len(data))] = rnd.randrange(256) if len(data) > 4 else 0
        p.write_bytes(bytes(data))
        try:
            load_elf(p)
            outcomes["ok"] += 1
        except ElfError as e:
            assert isinstance(e, PulpsimError)
            assert str(e)
            outcomes["error"] += 1
    assert outcomes["error"] > 0
