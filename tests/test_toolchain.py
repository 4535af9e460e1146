"""Tests of pulpsim.toolchain and the guest runtime (kernels/runtime).

There is no simulator to run the programs here, so the build artifacts are
checked (ELF header flags, segments, symbols, instruction encodings), and the
runtime's printf/memory functions are compiled for the host and compared with
glibc.
"""

from __future__ import annotations

import math
import random
import shutil
import struct
import subprocess
import threading

import pytest
from elftools.elf.elffile import ELFFile

from pulpsim import toolchain
from pulpsim.sim.elf import load_elf
from pulpsim.errors import ConfigError, ToolchainError
from pulpsim.toolchain import L2_BASE, L2_SIZE, TCDM_BASE, TCDM_SIZE, Layout, build, build_asm, build_c

HAVE_GCC = shutil.which("riscv64-unknown-elf-gcc") is not None
HOST_CC = shutil.which("cc") or shutil.which("gcc")


pytestmark = pytest.mark.usefixtures("private_build_cache")   # conftest.py


PROGRAM = r"""
#include "pulpsim.h"

struct big { int v[24]; };
static struct big g_big = {{1, 2, 3, 4}};
int g_zero[64];
volatile double g_d = 3.14159;
volatile long long g_a = 123456789012345LL, g_b = -1000;
volatile unsigned long long g_u = 0xFEDCBA9876543210ULL;
volatile float g_f = 1.5f;

int main(void)
{
    struct big copy = g_big;                      /* memcpy */
    double d = g_d * 2.0 + 1e-5;                  /* soft double */
    long long q = g_a / g_b, r = g_a % g_b;       /* __divdi3 / __moddi3 */
    unsigned long long uq = g_u / 12345u;         /* __udivdi3 */
    float f = g_f * 2.0f;                         /* hardware single */
    printf("int %d %5u %-4x| %08X %c %s %%\n", -42, 7u, 255u, 0xBEEFu, 'z', "str");
    printf("float %.3f %e %g %f\n", d, 1e-5, (double)f, -0.0);
    printf("ll %lld %lld %llu\n", q, r, uq);
    puts("done");
    return copy.v[1] + g_zero[5] + (int)f;
}
"""


@pytest.fixture(scope="module")
def program_elf():
    return build_c(PROGRAM, name="program")


def _words(seg):
    data = seg.data[: len(seg.data) // 4 * 4]
    return struct.unpack(f"<{len(data) // 4}I", data)


def _code_words(image):
    for seg in image.segments:
        if seg.executable:
            yield from _words(seg)


# ---------------------------------------------------------------------------
# ELF properties of a C program
# ---------------------------------------------------------------------------

def test_c_program_elf_properties(program_elf):
    img = load_elf(program_elf)
    # single-float ABI, no RVC, not RVE
    assert img.flags & 0x1 == 0, "RVC flag set"
    assert img.flags & 0x6 == 0x2, "not ilp32f"
    assert img.flags & 0x8 == 0
    # entry is _start, first thing in the code region, in .text.init
    assert img.entry == img.symbols["_start"] == L2_BASE
    with open(program_elf, "rb") as f:
        ef = ELFFile(f)
        assert ef.header["e_machine"] == "EM_RISCV" and ef.elfclass == 32
        init = ef.get_section_by_name(".text.init")
        assert init is not None and init["sh_addr"] == img.entry
        loads = [s for s in ef.iter_segments() if s["p_type"] == "PT_LOAD"]
        # every allocated section lies in exactly one PT_LOAD, code only in X ones
        for sec in ef.iter_sections():
            if not sec["sh_flags"] & 0x2 or sec["sh_size"] == 0:  # SHF_ALLOC
                continue
            holders = [s for s in loads if s.section_in_segment(sec)]
            assert len(holders) == 1, sec.name
            is_code = bool(sec["sh_flags"] & 0x4)  # SHF_EXECINSTR
            assert bool(holders[0]["p_flags"] & 1) == is_code, sec.name
    # separate executable and non-executable segments, no W+X
    assert any(s.executable for s in img.segments)
    assert any(not s.executable for s in img.segments)
    assert not any(s.executable and s.writable for s in img.segments)
    for name in ("main", "tohost", "fromhost", "printf", "exit", "putchar", "memcpy",
                 "__global_pointer$", "__stack_top", "__bss_start", "__bss_end", "_end"):
        assert name in img.symbols, name
    # the 64-bit division and soft-double helpers of compiler-rt were linked
    assert "__divdi3" in img.symbols and "__moddi3" in img.symbols and "__udivdi3" in img.symbols
    assert any(n.endswith("df3") for n in img.symbols)  # __muldf3 / __adddf3
    # tohost: 8-byte aligned, in a writable segment
    th = img.symbols["tohost"]
    assert th % 8 == 0
    assert any(s.writable and s.vaddr <= th < s.end for s in img.segments)
    # stacks at the end of the data region (default layout: all of L2)
    assert img.symbols["__stack_top"] == Layout().stack_top == L2_BASE + L2_SIZE
    assert img.symbols["_end"] <= img.symbols["__stack_bottom"]
    img.check_fits([("L2", L2_BASE, L2_SIZE)])


def test_no_compressed_instructions(program_elf):
    """Every 32-bit word of the code (incl. compiler-rt) is a 32-bit
    instruction: low two bits 11 (a compressed pair would break this)."""
    img = load_elf(program_elf)
    words = list(_code_words(img))
    assert len(words) > 100
    bad = [hex(w) for w in words if w & 3 != 3]
    assert not bad, bad[:10]


def test_symbolize(program_elf):
    img = load_elf(program_elf)
    main = img.symbols["main"]
    assert img.symbolize(main) == "main"
    assert img.symbolize(main + 0x1C) == "main+0x1c"
    assert img.symbolize(img.entry + 4) == "_start+0x4"
    assert img.symbolize(0) == ""


def _fmadd_count(image):
    """Fused multiply-adds (R4-type opcodes 0x43 0x47 0x4B 0x4F) in the code, outside the runtime's
    fmaf (libm.c; gcc links every libm function), whose fmadd.s is the function itself."""
    lo = image.symbols.get("fmaf")
    hi = min((a for a in image.symbols.values() if lo is not None and a > lo), default=lo)
    n = 0
    for seg in image.segments:
        if seg.executable:
            for i, w in enumerate(_words(seg)):
                if w & 0x7F in (0x43, 0x47, 0x4B, 0x4F) and not (lo is not None and lo <= seg.vaddr + 4 * i < hi):
                    n += 1
    return n


def test_fp_contract_follows_gcc_by_default():
    """As GCC (and so PULP GCC): a*b+c is fused into fmadd.s by default (GNU C), not in an ISO mode
    (-std=c99), and an explicit -ffp-contract wins either way."""
    src = """
    float axpy(float a, float x, float y) { return a * x + y; }
    int main(void) { volatile float a = 2, x = 3, y = 4; return (int)axpy(a, x, y); }
    """
    assert _fmadd_count(load_elf(build_c(src, name="fma"))) >= 1
    assert _fmadd_count(load_elf(build_c(src, name="fma", cflags=["-std=gnu11"]))) >= 1
    assert _fmadd_count(load_elf(build_c(src, name="fma", cflags=["-std=c99"]))) == 0
    assert _fmadd_count(load_elf(build_c(src, name="fma", cflags=["-ffp-contract=off"]))) == 0
    assert _fmadd_count(load_elf(build_c(src, name="fma", cflags=["-std=c11", "-ffp-contract=fast"]))) >= 1


def test_exit_define_selects_tohost():
    """-DPULPSIM_EXIT_TOHOST makes exit() store to tohost instead of
    CORESTATUS (0x1A1040A0, built with lui 0x1a104)."""
    src = "int main(void) { return 3; }"

    def has_corestatus_lui(img):
        return any(w & 0xFFFFF07F == 0x1A104037 for w in _code_words(img))

    assert has_corestatus_lui(load_elf(build_c(src, name="exit")))
    assert not has_corestatus_lui(load_elf(build_c(src, name="exit", defines={"PULPSIM_EXIT_TOHOST": None})))


@pytest.mark.parametrize("opt", ["-O0", "-Os", "-Oz", "-O3"])
def test_symbols_kept_and_debug_info_dropped(opt):
    """zig strips everything at -Os unless told otherwise; the symbol table
    must survive at every level, debug sections only with -g."""
    src = "int main(void) { return 1; }"
    plain = build_c(src, name="dbg", opt=opt)
    debug = build_c(src, name="dbg", opt=opt, cflags=["-g"])
    for path, want_debug in ((plain, False), (debug, True)):
        with open(path, "rb") as f:
            ef = ELFFile(f)
            assert (ef.get_section_by_name(".debug_info") is not None) == want_debug
        assert "main" in load_elf(path).symbols
    assert plain.stat().st_size < 64 * 1024


# ---------------------------------------------------------------------------
# assembly snippets, runtime on/off
# ---------------------------------------------------------------------------

ASM_START = """
    .section .text.init, "ax"
    .globl _start
_start:
    li      a0, 10
loop:
    addi    a0, a0, -1
    bnez    a0, loop
    li      t0, PULPSIM_CORESTATUS_ADDR
    li      t1, 0x80000000
    sw      t1, 0(t0)
1:  j       1b

    .data
    .globl result
result: .word 0x12345678
"""


def test_asm_without_runtime():
    path = build_asm('#include "pulpsim.h"\n' + ASM_START, runtime=False)
    img = load_elf(path)
    assert img.entry == img.symbols["_start"] == L2_BASE
    assert "printf" not in img.symbols and "tohost" not in img.symbols
    assert img.symbolize(img.symbols["loop"] + 4) == "loop+0x4"
    assert img.symbolize(img.symbols["result"]) == ""  # data, not code
    assert img.flags & 1 == 0
    # first instruction: li a0, 10 == addi a0, zero, 10
    code = next(s for s in img.segments if s.executable)
    assert _words(code)[0] == 0x00A00513


def test_asm_main_with_runtime():
    path = build_asm("""
        .text
        .globl main
        .type main, @function
    main:
        li a0, 0
        ret
    """)
    img = load_elf(path)
    assert {"main", "_start", "tohost", "exit"} <= set(img.symbols)
    assert img.entry == img.symbols["_start"]


def test_start_and_runtime_conflict():
    with pytest.raises(ToolchainError, match="_start"):
        build_asm(ASM_START.replace("PULPSIM_CORESTATUS_ADDR", "0x1A1040A0"), runtime=True)


# ---------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------

def test_layout_code_l2_data_tcdm(program_elf):
    lay = Layout(data_base=TCDM_BASE, data_size=TCDM_SIZE, num_cores=8, stack_size_per_core=0x800)
    img = load_elf(build_c(PROGRAM, name="program", layout=lay))
    for s in img.segments:
        if s.executable:
            assert L2_BASE <= s.vaddr and s.end <= L2_BASE + L2_SIZE
        else:
            assert TCDM_BASE <= s.vaddr and s.end <= TCDM_BASE + TCDM_SIZE
    assert img.symbols["__stack_top"] == TCDM_BASE + TCDM_SIZE
    assert img.symbols["__stack_bottom"] == TCDM_BASE + TCDM_SIZE - 8 * 0x800
    assert img.symbols["__stack_size"] == 0x800
    assert TCDM_BASE <= img.symbols["tohost"] < TCDM_BASE + TCDM_SIZE
    img.check_fits([("L2", L2_BASE, L2_SIZE), ("TCDM", TCDM_BASE, TCDM_SIZE)])
    # a different layout is a different cache entry
    assert build_c(PROGRAM, name="program", layout=lay) != program_elf


def test_layout_all_in_tcdm():
    lay = Layout(code_base=TCDM_BASE, code_size=0x8000, data_size=0x18000)
    img = load_elf(build_c("int main(void){return 0;}", layout=lay))
    assert img.entry == TCDM_BASE
    for s in img.segments:
        assert TCDM_BASE <= s.vaddr and s.end <= TCDM_BASE + TCDM_SIZE
    assert img.symbols["__stack_top"] == TCDM_BASE + TCDM_SIZE


def test_linker_script_text():
    text = toolchain.linker_script(Layout(data_base=TCDM_BASE, data_size=TCDM_SIZE, num_cores=4))
    assert "ENTRY(_start)" in text and "PHDRS" in text
    assert "ORIGIN = 0x1C000000, LENGTH = 0x100000" in text
    assert "ORIGIN = 0x10000000, LENGTH = 0x20000" in text
    assert "__num_cores = 4;" in text and "@" not in text.split("*/", 1)[1]


@pytest.mark.parametrize("kw", [
    dict(num_cores=0), dict(num_cores=17), dict(stack_size_per_core=0x801),
    dict(code_base=0x1C000002), dict(data_base=TCDM_BASE, data_size=0x100, num_cores=2),
    dict(data_base=0x1C000100), dict(code_size=0),
])
def test_layout_validation(kw):
    with pytest.raises(ConfigError):
        Layout(**kw)


def test_data_too_big_for_region():
    lay = Layout(code_base=TCDM_BASE, code_size=0x8000, data_size=0x8000)
    with pytest.raises(ToolchainError, match="overlaps the stacks|overflow|does not fit"):
        build_c("char big[0xF000]; int main(void){ big[5] = 1; return big[7]; }", layout=lay)


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------

def test_cache_hit_does_not_run_compiler(program_elf, monkeypatch):
    mtime = program_elf.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("the compiler was started on a cache hit")

    monkeypatch.setattr(subprocess, "run", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)
    again = build_c(PROGRAM, name="program")
    assert again == program_elf
    assert again.stat().st_mtime_ns == mtime


def test_cache_key_covers_headers_flags_and_sources(tmp_path):
    hdr = tmp_path / "inc" / "val.h"
    hdr.parent.mkdir()
    hdr.write_text("#define VAL 1\n")
    sub = tmp_path / "sub.h"
    sub.write_text('#include "val.h"\n')
    src = tmp_path / "prog.c"
    src.write_text('#include "sub.h"\nint main(void) { return VAL; }\n')
    a = build([src], include_dirs=[hdr.parent])
    assert build([src], include_dirs=[hdr.parent]) == a
    hdr.write_text("#define VAL 2\n")  # transitively included header changed
    b = build([src], include_dirs=[hdr.parent])
    assert b != a
    assert build([src], include_dirs=[hdr.parent], opt="-O0") != b
    assert build([src], include_dirs=[hdr.parent], defines={"X": 1}) != b
    src.write_text('#include "sub.h"\nint main(void) { return VAL + 1; }\n')
    assert build([src], include_dirs=[hdr.parent]) != b
    assert a.exists() and b.exists()


def test_output_is_copied(tmp_path, program_elf):
    out = tmp_path / "out" / "prog.elf"
    got = build_c(PROGRAM, name="program", output=out)
    assert got == out
    assert out.read_bytes() == program_elf.read_bytes()


def test_parallel_builds_same_key(tmp_path):
    src = tmp_path / "par.c"
    src.write_text("int main(void) { return 7; }\n")
    results, errors = [], []

    def work():
        try:
            results.append(build([src], defines={"PARALLEL_TEST": 1}))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    load_elf(results[0])
    leftovers = [p for p in results[0].parent.iterdir() if p.name.startswith(".build-") or p.name.endswith(".tmp")]
    assert not leftovers


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

def test_syntax_error_reports_compiler_message():
    with pytest.raises(ToolchainError) as ei:
        build_c("int main(void) { return 0 }\n", name="syntax")
    msg = str(ei.value)
    assert "expected ';'" in msg
    assert "syntax-" in msg and "command:" in msg and "ziglang" in msg


def test_link_error_reports_undefined_symbol():
    with pytest.raises(ToolchainError, match="undefined symbol: no_such_function"):
        build_c("int no_such_function(void);\nint main(void) { return no_such_function(); }\n", name="undef")


def test_missing_source_and_bad_arguments(tmp_path):
    with pytest.raises(ToolchainError, match="not found"):
        build([tmp_path / "nope.c"])
    bad = tmp_path / "x.cpp"
    bad.write_text("int main(){}")
    with pytest.raises(ToolchainError, match="unsupported source type"):
        build([bad])
    with pytest.raises(ConfigError):
        build_c("int main(void){return 0;}", compiler="msvc")


def test_gcc_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError, match="riscv64-unknown-elf-gcc"):
        build_c("int main(void){return 0;}", compiler="gcc")


@pytest.mark.skipif(not HAVE_GCC, reason="riscv64-unknown-elf-gcc not installed")
def test_gcc_build():
    img = load_elf(build_c(PROGRAM, name="program", compiler="gcc"))
    assert img.flags & 0x7 == 0x2
    assert img.entry == img.symbols["_start"]
    assert {"main", "tohost", "__divdi3", "printf"} <= set(img.symbols)
    assert not any(w & 3 != 3 for w in _code_words(img))
    assert _fmadd_count(img) == 0


# ---------------------------------------------------------------------------
# running the programs on an instruction-set emulator (unicorn), when present:
# checks crt0 + runtime + compiler-rt end to end (output, exit code, tohost)
# ---------------------------------------------------------------------------

try:
    import unicorn  # noqa: F401
    HAVE_UNICORN = True
except ImportError:  # pragma: no cover - optional dev dependency
    HAVE_UNICORN = False

needs_unicorn = pytest.mark.skipif(not HAVE_UNICORN, reason="unicorn (dev extra) not installed")
STDOUT, CORESTATUS = 0x1A120000, 0x1A1040A0


def _run(path, *, poison_bss=False, max_insns=20_000_000):
    """Run hart 0 of an ELF under unicorn; returns (stdout text, exit code or
    None, tohost value or None)."""
    from unicorn import UC_ARCH_RISCV, UC_HOOK_MEM_WRITE, UC_MODE_RISCV32, Uc

    img = load_elf(path)
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
    uc.mem_map(L2_BASE, L2_SIZE)
    uc.mem_map(TCDM_BASE, TCDM_SIZE)
    uc.mem_map(0x1A100000, 0x30000)  # SoC peripherals: CORESTATUS, stdout
    for seg in img.segments:
        uc.mem_write(seg.vaddr, seg.data)
    if poison_bss:  # crt0 must zero .bss itself
        lo, hi = img.symbols["__bss_start"], img.symbols["__bss_end"]
        uc.mem_write(lo, b"\xAA" * (hi - lo))
    out, res = [], {}

    def on_write(uc, access, addr, size, value, user):
        if STDOUT <= addr < STDOUT + 0x800:
            assert size == 4, "putchar must use 32-bit stores"
            out.append(chr(value & 0xFF))
        elif addr == CORESTATUS:
            assert value >> 31 == 1
            res["exit"] = value & 0x7FFFFFFF
            uc.emu_stop()
        elif img.tohost is not None and addr == img.tohost:
            res["tohost"] = value
            uc.emu_stop()

    uc.hook_add(UC_HOOK_MEM_WRITE, on_write)
    uc.emu_start(img.entry, 0xFFFFFFFF, count=max_insns)
    return "".join(out), res.get("exit"), res.get("tohost")


def _expected_program_output():
    d = 3.14159 * 2.0 + 1e-5
    q = int(123456789012345 / -1000)  # C truncates toward zero
    r = 123456789012345 - q * -1000
    uq = 0xFEDCBA9876543210 // 12345
    return ("int -42     7 ff  | 0000BEEF z str %\n"
            f"float {d:.3f} {1e-5:e} {3.0:g} {-0.0:f}\n"
            f"ll {q} {r} {uq}\n"
            "done\n")


@needs_unicorn
@pytest.mark.parametrize("opt", ["-O2", "-O0", "-Os"])
def test_run_program_output_and_exit(opt):
    out, code, _ = _run(build_c(PROGRAM, name="program", opt=opt), poison_bss=True)
    assert out == _expected_program_output()
    assert code == 2 + 0 + 3  # copy.v[1] + g_zero[5] + (int)f


@needs_unicorn
@pytest.mark.skipif(not HAVE_GCC, reason="riscv64-unknown-elf-gcc not installed")
def test_run_gcc_program():
    out, code, _ = _run(build_c(PROGRAM, name="program", compiler="gcc"), poison_bss=True)
    assert out == _expected_program_output()
    assert code == 5


@needs_unicorn
def test_run_with_data_in_tcdm():
    lay = Layout(data_base=TCDM_BASE, data_size=TCDM_SIZE, num_cores=8, stack_size_per_core=0x800)
    out, code, _ = _run(build_c(PROGRAM, name="program", layout=lay), poison_bss=True)
    assert out == _expected_program_output() and code == 5


@needs_unicorn
def test_run_exit_via_tohost():
    path = build_c("int main(void) { return 42; }", name="tohost", defines={"PULPSIM_EXIT_TOHOST": None})
    out, code, tohost = _run(path)
    assert code is None and tohost == (42 << 1) | 1


@needs_unicorn
def test_run_printf_matches_python_formatting():
    """Formats whose C semantics Python's %-operator shares, printed by the
    guest and compared with Python."""
    rnd = random.Random(99)
    vals = [0.0, -0.0, 1.0, 3.14159, -2.5, 1e-5, 123456.789, 1e300, 5e-324, 0.1, 2.5, 0.125, math.inf,
            -math.inf, math.nan] + [rnd.uniform(-1e6, 1e6) for _ in range(10)] + \
           [rnd.random() * 10.0 ** rnd.randint(-30, 30) for _ in range(10)]
    fmts = ["%f", "%.3f", "%e", "%.3e", "%g", "%.10g", "%+.2f", "%12.4f", "%-12.3e|", "%012.3f", "%.0f"]
    ints = [0, 7, -7, 123456789, -2147483648, 2147483647]
    ifmts = ["%d", "%5d", "%-5d|", "%05d", "%+d", "%x", "%X", "%08x", "%u"]
    lines, expect = [], []
    for v in vals:
        for f in fmts:
            if f.startswith("%0") and not math.isfinite(v):
                continue  # Python zero-pads inf/nan, C pads with spaces
            lines.append(f'printf("{f}\\n", {_c_double(v)});')
            expect.append(f % v + "\n")
    for v in ints:
        for f in ifmts:
            lit = "(-2147483647-1)" if v == -2147483648 else str(v)
            lines.append(f'printf("{f}\\n", {lit});')
            expect.append(f % (v & 0xFFFFFFFF if f[-1] in "xXu" else v) + "\n")
    src = '#include "pulpsim.h"\nint main(void) {\n' + "\n".join(lines) + "\nreturn 0; }\n"
    out, code, _ = _run(build_c(src, name="fmt"), max_insns=200_000_000)
    assert code == 0
    got = out.splitlines(keepends=True)
    assert len(got) == len(expect)
    for g, e, line in zip(got, expect, lines):
        assert g == e, line


@needs_unicorn
def test_run_memfuncs_on_target():
    src = r"""
    #include "pulpsim.h"
    static unsigned char src[96], a[96], b[96];
    static void ref_move(unsigned char *d, const unsigned char *s, int n) {
        unsigned char t[96]; for (int i = 0; i < n; i++) t[i] = s[i]; for (int i = 0; i < n; i++) d[i] = t[i];
    }
    int main(void) {
        int bad = 0;
        for (int i = 0; i < 96; i++) src[i] = (unsigned char)(i * 37 + 11);
        for (int so = 0; so < 4; so++) for (int dof = 0; dof < 4; dof++) for (int n = 0; n < 40; n++) {
            for (int i = 0; i < 96; i++) a[i] = b[i] = src[i];
            memmove(a + dof, a + so + 5, n); ref_move(b + dof, b + so + 5, n);
            memmove(a + so + 5, a + dof, n); ref_move(b + so + 5, b + dof, n);
            memcpy(a + 50 + dof, src + so, n); ref_move(b + 50 + dof, src + so, n);
            memset(a + dof + 10, so + 1, n); for (int i = 0; i < n; i++) b[dof + 10 + i] = (unsigned char)(so + 1);
            if (memcmp(a, b, 96) != 0) bad++;
        }
        if (strlen("hello") != 5 || strcmp("abc", "abd") >= 0 || strcmp("b", "a") <= 0 || strcmp("x", "x")) bad++;
        char buf[16];
        int r = snprintf(buf, sizeof buf, "%s-%04d", "ab", 7);
        if (r != 7 || strcmp(buf, "ab-0007")) bad++;
        printf("bad=%d\n", bad);
        return bad;
    }
    """
    out, code, _ = _run(build_c(src, name="memtest"))
    assert out == "bad=0\n" and code == 0


# ---------------------------------------------------------------------------
# the runtime's printf and memory functions, compiled for the host
# ---------------------------------------------------------------------------

_RENAMED = ("exit putchar puts printf vprintf snprintf vsnprintf memcpy memset memmove memcmp "
            "strlen strcmp tohost fromhost").split()


def _c_double(x: float) -> str:
    if math.isnan(x):
        return '(-__builtin_nan(""))' if math.copysign(1, x) < 0 else '__builtin_nan("")'
    if math.isinf(x):
        return "__builtin_inf()" if x > 0 else "(-__builtin_inf())"
    return x.hex()


def _printf_cases():
    """(format, kind, C literal) with kind d(ouble) i(nt) l(ong long) s(tring)
    p(ointer); and free-form calls (format, "args...") for the rest."""
    rnd = random.Random(1234)
    vals = [0.0, -0.0, 1.0, -1.0, 3.14159, 1e-5, -2.5, 0.5, 1.5, 2.5, 0.125, 0.375, 1e300, -1e-300,
            5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.0, 0.1, 0.01, 9.9999,
            99.5, 0.00001234, 1e15, 1e16, 1e21, 1e-4, 9.5, 0.05, 0.0005, math.inf, -math.inf, math.nan,
            1 / 3, 2 / 3, 100.0, 1e6, 1e-7, 123.456, -273.15, 6.02214076e23]
    vals += [struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0] for _ in range(150)]
    vals += [rnd.choice([-1, 1]) * rnd.random() * 10.0 ** rnd.randint(-12, 12) for _ in range(150)]
    vals += [round(rnd.uniform(-1000, 1000), rnd.randint(0, 4)) for _ in range(60)]
    ffmts = ["%f", "%e", "%g", "%.3f", "%.0f", "%.1f", "%.10f", "%.0e", "%.3e", "%.12e", "%.1g",
             "%.3g", "%.10g", "%.17g", "%12.4f", "%-12.3e|", "%012.3f", "%+.2f", "% .3g", "%#.0f",
             "%#.3e", "%E", "%G", "%F", "%.20f", "%.40e", "%.0g", "%10g", "%-010g|", "%.17e", "%#g"]
    table = []
    for v in vals:
        for f in ffmts:
            if f == "%#g" and v == 999999.5:
                continue  # glibc prints "1.e+06" (drops the zeros '#' must keep)
            table.append((f, "d", _c_double(v)))
    ivals = ["0", "1", "-1", "42", "-42", "2147483647", "(-2147483647-1)", "123456", "-987654"]
    ifmts = ["%d", "%i", "%5d", "%-5d|", "%05d", "%+d", "% d", "%.3d", "%.0d", "%8.3d", "%-08d|",
             "%x", "%X", "%#x", "%08x", "%#010x", "%u", "%o", "%#o", "%hd", "%hhu"]
    table += [(f, "i", v) for v in ivals for f in ifmts]
    for v in ["0LL", "1LL", "(1LL<<40)", "-(1LL<<40)", "9223372036854775807LL", "-9223372036854775807LL",
              "12345678901234LL"]:
        table += [(f, "l", v) for f in ["%lld", "%llx", "%20lld", "%-20llu|", "%llu", "%+lld"]]
    for v in ['"hello"', '""', '"abc"', "(const char *)0"]:
        table += [(f, "s", v) for f in ["%s", "%10s", "%-10s|", "%.2s", "%5.1s", "%.6s"]]
    table += [("%p", "p", "(void *)0x1c000100"), ("%p", "p", "(void *)0"), ("%20p|", "p", "(void *)0x1234"),
              ("%-20p|", "p", "(void *)0")]
    calls = [("%%", None), ("a%%b%5%c", None), ("%c|%-3c|%3c", "'a', 'b', 'c'"),
             ("%lu", "4000000000UL"), ("%ld %lx", "-123456789L, 0xABCDEFL"),
             ("%*d", "5, 42"), ("%-*d|", "5, 42"), ("%*d|", "-5, 42"), ("%.*f", "3, 3.14159"),
             ("%.*f", "-1, 3.14159"), ("%zu %td", "(size_t)77, (ptrdiff_t)-3"),
             ("x=%d y=%.2f s=%s", '7, 2.345, "ok"')]
    return table, calls


@pytest.mark.skipif(HOST_CC is None, reason="no host C compiler")
def test_runtime_printf_and_memfuncs_match_glibc(tmp_path):
    rt = toolchain.runtime_dir()
    defs = [f"-D{n}=ps_{n}" for n in _RENAMED]
    obj = tmp_path / "runtime.o"
    r = subprocess.run([HOST_CC, "-O2", "-ffreestanding", "-fno-builtin", "-Wall", "-Wextra", "-Werror",
                        *defs, f"-I{rt}", "-c", str(rt / "runtime.c"), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [
        "#include <stdio.h>", "#include <string.h>", "#include <stddef.h>", "#include <stdlib.h>",
        "int ps_snprintf(char *, size_t, const char *, ...);",
        "void *ps_memcpy(void *, const void *, size_t); void *ps_memmove(void *, const void *, size_t);",
        "void *ps_memset(void *, int, size_t); int ps_memcmp(const void *, const void *, size_t);",
        "size_t ps_strlen(const char *); int ps_strcmp(const char *, const char *);",
        "static int bad, n;",
        "#define T(fmt, ...) do { char a[600], b[600]; int ra = snprintf(a, sizeof a, fmt, ##__VA_ARGS__);"
        " int rb = ps_snprintf(b, sizeof b, fmt, ##__VA_ARGS__); n++;"
        " if (ra != rb || strcmp(a, b)) { bad++; if (bad < 30) printf(\"MISMATCH %s: glibc [%s] %d, pulpsim [%s] %d\\n\","
        " fmt, a, ra, b, rb); } } while (0)",
        "#define CHECK(c) do { n++; if (!(c)) { bad++; printf(\"FAIL line %d: %s\\n\", __LINE__, #c); } } while (0)",
        "static int sgn(int x) { return (x > 0) - (x < 0); }",
        "int main(void) {",
        '#pragma GCC diagnostic ignored "-Wformat"',
        '#pragma GCC diagnostic ignored "-Wformat-extra-args"',
        '#pragma GCC diagnostic ignored "-Wformat-truncation"',
        '#pragma GCC diagnostic ignored "-Wformat-overflow"',
    ]
    table, calls = _printf_cases()
    # A data table and one loop (not thousands of calls): fast to compile.
    lines.append("static const struct { const char *fmt; char kind; double d; long long l; const char *s; void *p; }"
                 " cases[] = {")
    for fmt, kind, lit in table:
        fields = {"d": "0", "l": "0", "s": "0", "p": "0"}
        fields["l" if kind == "i" else kind] = lit
        lines.append(f'  {{"{fmt}", \'{kind}\', {fields["d"]}, {fields["l"]}, {fields["s"]}, {fields["p"]}}},')
    lines += [
        "};",
        "#define CMP(...) do { char a[600], b[600]; int ra = snprintf(a, sizeof a, __VA_ARGS__);"
        " int rb = ps_snprintf(b, sizeof b, __VA_ARGS__); n++;"
        " if (ra != rb || strcmp(a, b)) { bad++; if (bad < 30) printf(\"MISMATCH %s: glibc [%s] %d, pulpsim [%s] %d\\n\","
        " cases[k].fmt, a, ra, b, rb); } } while (0)",
        "for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++) switch (cases[k].kind) {",
        "  case 'd': CMP(cases[k].fmt, cases[k].d); break;",
        "  case 'i': CMP(cases[k].fmt, (int)cases[k].l); break;",
        "  case 'l': CMP(cases[k].fmt, cases[k].l); break;",
        "  case 's': CMP(cases[k].fmt, cases[k].s); break;",
        "  case 'p': CMP(cases[k].fmt, cases[k].p); break;",
        "}",
    ]
    for fmt, args in calls:
        lines.append(f'T("{fmt}"{", " + args if args else ""});')
    lines += [
        # truncation and measuring
        '{ char b[8]; int r = ps_snprintf(b, 5, "%d-%s", 12345, "xy"); CHECK(r == 8 && !strcmp(b, "1234"));',
        '  r = ps_snprintf(NULL, 0, "%f", 1.5); CHECK(r == 8);',
        '  b[0] = 7; r = ps_snprintf(b, 0, "abc"); CHECK(r == 3 && b[0] == 7); }',
        # memory functions against libc on all small sizes / alignments / overlaps
        "{ unsigned char s[80], d1[80], d2[80]; srand(7);",
        "  for (int i = 0; i < 80; i++) s[i] = (unsigned char)rand();",
        "  for (int so = 0; so < 4; so++) for (int dof = 0; dof < 4; dof++) for (int len = 0; len < 40; len++) {",
        "    memset(d1, 0xAA, 80); memset(d2, 0xAA, 80);",
        "    CHECK(ps_memcpy(d1 + dof, s + so, len) == d1 + dof); memcpy(d2 + dof, s + so, len); CHECK(!memcmp(d1, d2, 80));",
        "    memcpy(d1, s, 80); memcpy(d2, s, 80);",
        "    CHECK(ps_memmove(d1 + dof, d1 + so + 3, len) == d1 + dof); memmove(d2 + dof, d2 + so + 3, len); CHECK(!memcmp(d1, d2, 80));",
        "    memcpy(d1, s, 80); memcpy(d2, s, 80);",
        "    ps_memmove(d1 + so + 3, d1 + dof, len); memmove(d2 + so + 3, d2 + dof, len); CHECK(!memcmp(d1, d2, 80));",
        "    memcpy(d1, s, 80); memcpy(d2, s, 80);",
        "    CHECK(ps_memset(d1 + dof, so * 60, len) == d1 + dof); memset(d2 + dof, so * 60, len); CHECK(!memcmp(d1, d2, 80));",
        "    CHECK(sgn(ps_memcmp(s + so, s + dof, len)) == sgn(memcmp(s + so, s + dof, len)));",
        "  } }",
        '{ const char *w[] = {"", "a", "ab", "abc", "abd", "b", "\\xff", "hello world"};',
        "  for (int i = 0; i < 8; i++) { CHECK(ps_strlen(w[i]) == strlen(w[i]));",
        "    for (int j = 0; j < 8; j++) CHECK(sgn(ps_strcmp(w[i], w[j])) == sgn(strcmp(w[i], w[j]))); } }",
        'printf("%d checks, %d failures\\n", n, bad);',
        "return bad != 0; }",
    ]
    drv = tmp_path / "driver.c"
    drv.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "driver"
    r = subprocess.run([HOST_CC, "-O1", "-w", "-fno-builtin", str(drv), str(obj), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-5000:]
    checks = int(r.stdout.split(" checks")[0].split()[-1])
    assert checks > len(table) + len(calls), r.stdout
    assert " 0 failures" in r.stdout


# ---------------------------------------------------------------------------
# PULP SDK code: build flags, PULP GCC types, error messages
# ---------------------------------------------------------------------------

def _cli_build(capsys, *argv) -> tuple[int, str, str]:
    from pulpsim import cli
    status = cli.main(["build", *map(str, argv)])
    cap = capsys.readouterr()
    return status, cap.out, cap.err


def test_build_error_names_the_failing_source(tmp_path):
    """The message names the source with the error (first, in a header it includes, or last on the line),
    not the last few files of the command line."""
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "bad.h").write_text("int broken(void) { return }\n")
    files = {"a.c": "int a(void) { return 1; }\n", "bad1.c": "int b(void) { return 2 }\n",
             "b.c": "int c(void) { return 3; }\n", "d.c": "int main(void) { return 0; }\n",
             "viahdr.c": '#include "bad.h"\n'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    p = {n: tmp_path / n for n in files}
    with pytest.raises(ToolchainError) as ei:
        build([p["bad1.c"], p["a.c"], p["b.c"], p["d.c"]], include_dirs=[inc])
    first = str(ei.value).splitlines()[0]
    assert first.startswith(f"compiling {p['bad1.c']} failed")
    assert "a.c" not in first and "b.c" not in first and "d.c" not in first
    with pytest.raises(ToolchainError) as ei:
        build([p["a.c"], p["viahdr.c"], p["d.c"]], include_dirs=[inc])
    assert str(ei.value).splitlines()[0].startswith(f"compiling {p['viahdr.c']} failed")
    with pytest.raises(ToolchainError) as ei:
        build([p["a.c"], p["b.c"]])                     # no main: the link fails
    assert str(ei.value).splitlines()[0].startswith("linking ")


def test_pulp_gcc_flags_are_dropped_with_one_warning():
    kept, ignored = toolchain.split_pulp_gcc_flags(
        ["-O3", "-mhwloopalign", "-DX=1", "-mno-memcpy", "-march=rv32imfcxpulpv2", "-mPE=8", "-mFC=1", "-lm",
         "-Wall", "-mabi=ilp32", "-g3"])
    assert kept == ["-O3", "-DX=1", "-Wall", "-g3"]
    assert ignored == ["-mhwloopalign", "-mno-memcpy", "-march=rv32imfcxpulpv2", "-mPE=8", "-mFC=1", "-mabi=ilp32"]
    with pytest.warns(toolchain.IgnoredFlagsWarning, match="-mhwloopalign -mno-memcpy") as rec:
        elf = build_c("int main(void) { return 0; }", name="pulpflags", cflags=["-mhwloopalign", "-mno-memcpy", "-lm"])
    assert len(rec) == 1 and load_elf(elf).entry


PULP_TYPES = r"""
#include "pulpsim.h"
typedef float16alt fp16;
typedef fp16 v2f16 __attribute__((vector_size(4)));
volatile float a = 1.00390625f, b = 3.0f;     /* a: 1 + 2^-8, one bit more than bfloat16 keeps */
int main(void)
{
    float16 h = (float16)a * (float16)b;      /* binary16: 3.01171875 exactly */
    fp16 r = (fp16)a;                         /* bfloat16: ties to even -> 1.0 */
    v2f16 v = {(fp16)b, (fp16)1.5f};
    v2f16 w = __builtin_shuffle(v, (v2s){1, 0}) * v;
    return (h == (float16)3.01171875f) + 2 * (r == (fp16)1.0f) + 4 * ((float)w[0] == 4.5f && (float)w[1] == 4.5f)
           + 8 * (sizeof(float16) == 2 && sizeof(fp16) == 2);
}
"""


def test_pulp_gcc_half_precision_types():
    """float16 (binary16) and float16alt (bfloat16) exist without any header, round as the 16-bit formats,
    and their vectors work with __builtin_shuffle (v2s comes from pmsis.h in SDK code; here it is declared)."""
    import pulpsim
    src = PULP_TYPES.replace('#include "pulpsim.h"', '#include "pulpsim.h"\ntypedef short v2s __attribute__((vector_size(4)));')
    assert pulpsim.run(build_c(src, name="pulptypes"), platform="single").exit_code == 15


def test_cli_build_takes_compiler_style_flags(tmp_path, capsys):
    """-I, -D, -O3 and '-O -O3' directly, --cflag FLAG, compiler flags such as -g3 and -Wall passed on,
    PULP GCC flags dropped with one warning line, -lm accepted."""
    import pulpsim
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "val.h").write_text("#define BASE 40\n")
    src = tmp_path / "prog.c"
    src.write_text('#include "val.h"\nint main(void) { return BASE + EXTRA; }\n')
    out = tmp_path / "prog.elf"
    status, stdout, err = _cli_build(capsys, src, "-I", inc, "-DEXTRA=2", "-O3", "-g3", "-Wall",
                                     "-mhwloopalign", "-mno-memcpy", "-march=rv32imfcxpulpv2", "-lm", "-o", out)
    assert status == 0 and stdout.strip() == str(out)
    assert err == "pulpsim: warning: PULP GCC options ignored, no effect on RV32IMF: " \
                  "-mhwloopalign -mno-memcpy -march=rv32imfcxpulpv2\n"
    assert pulpsim.run(out, platform="single").exit_code == 42
    for argv in (["-O", "-O3", f"-I{inc}", "-D", "EXTRA=1"], ["-O", "s", "--cflag", f"-I{inc}", "--cflag=-DEXTRA=1"]):
        status, _, err = _cli_build(capsys, src, *argv, "-o", out)
        assert status == 0 and err == ""
        assert pulpsim.run(out, platform="single").exit_code == 41


def test_cli_build_links_for_a_platform_and_stack_size(tmp_path, capsys):
    """--platform pulp-open links for its 64 KiB TCDM (the default layout does not load there); --stack-size
    sets the per-core stacks."""
    import pulpsim
    from pulpsim.errors import ElfError
    src = tmp_path / "cl.c"
    src.write_text('#include "pmsis.h"\nPI_L1 int x[4] = {1, 2, 3, 4};\nint main(void) { return x[3]; }\n')
    default, small = tmp_path / "default.elf", tmp_path / "small.elf"
    assert _cli_build(capsys, src, "-o", default)[0] == 0
    with pytest.raises(ElfError):
        pulpsim.run(default, platform="pulp-open")
    assert _cli_build(capsys, src, "--platform", "pulp-open", "--stack-size", "0x800", "-o", small)[0] == 0
    assert pulpsim.run(small, platform="pulp-open").exit_code == 4
    syms = load_elf(small).symbols
    assert syms["__stack_top"] == TCDM_BASE + 64 * 1024 and syms["__stack_size"] == 0x800
    assert _cli_build(capsys, src, "--stack-size", "100", "-o", small)[0] == 251      # not a multiple of 16
