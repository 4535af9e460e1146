"""Bad inputs give a one-line error and a documented non-zero status, never a crash (issue acceptance 6)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from pulpsim import toolchain

EXIT_PROGRAM = """
    .section .text.init
    .globl _start
_start:
{body}
"""


def pulpsim_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pulpsim", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc, status, *fragments):
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("pulpsim: error: ")
    for frag in fragments:
        assert frag in err, (frag, err)


def asm_elf(body: str):
    return toolchain.build_asm(EXIT_PROGRAM.format(body=body), runtime=False)


def test_text_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("this is not a program\n")
    assert_one_line_error(pulpsim_cli("run", f), 252, "not an ELF file")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler")
def test_host_x86_elf(tmp_path):
    src = tmp_path / "host.c"
    src.write_text("int main(void){return 0;}\n")
    exe = tmp_path / "host"
    subprocess.run(["cc", str(src), "-o", str(exe)], check=True)
    assert_one_line_error(pulpsim_cli("run", exe), 252)


def test_missing_file(tmp_path):
    assert_one_line_error(pulpsim_cli("run", tmp_path / "nope.elf"), 252)


def test_jump_to_unmapped_memory():
    elf = asm_elf("""
    li t0, 0x20000000
    jr t0
""")
    assert_one_line_error(pulpsim_cli("run", elf), 254, "instruction fetch from unmapped address 0x20000000",
                          "core 0", "pc 0x20000000", "jalr")


def test_illegal_opcode():
    elf = asm_elf("    nop\n    .word 0xffffffff\n")
    assert_one_line_error(pulpsim_cli("run", elf), 254, "illegal instruction 0xffffffff", "core 0",
                          "pc 0x1c000004", ".word")


def test_store_out_of_bounds():
    elf = asm_elf("    li t0, 0x30000000\n    sw t0, 0(t0)\n")
    assert_one_line_error(pulpsim_cli("run", elf), 254, "store to unmapped address 0x30000000", "core 0",
                          "sw t0,0(t0)")


def test_load_out_of_bounds():
    elf = asm_elf("    li t0, 0x1c180000\n    lw t1, 0(t0)\n")  # first byte after L2
    assert_one_line_error(pulpsim_cli("run", elf), 254, "load from unmapped address 0x1c180000")


def test_infinite_loop_max_cycles():
    elf = asm_elf("1:  j 1b\n")
    assert_one_line_error(pulpsim_cli("run", elf, "--max-cycles", "1000"), 254, "runaway program",
                          "1000 cycles", "core 0", "jal zero")


def test_bad_options(tmp_path):
    elf = asm_elf("1:  j 1b\n")
    assert_one_line_error(pulpsim_cli("run", elf, "--platform", "nosuch"), 251, "unknown platform")
    assert_one_line_error(pulpsim_cli("run", elf, "--set", "tcdm.banks_x=3"), 251, "unknown platform parameter")
    assert_one_line_error(pulpsim_cli("run", elf, "--set", "cores=0"), 251, "cores")
    assert_one_line_error(pulpsim_cli("run", elf, "--max-cycles", "-5"), 251, "max-cycles")
    assert_one_line_error(pulpsim_cli("run", elf, "--bogus"), 251, "unrecognized arguments")


def test_program_exit_code_is_process_status():
    elf = toolchain.build_c("int main(void){ return 7; }\n")
    proc = pulpsim_cli("run", elf, "--stats", "none")
    assert proc.returncode == 7, proc.stderr


CORESTATUS_EXIT = """
    li t0, 0x1A1040A0
    li t1, {value}
    sw t1, 0(t0)
1:  j 1b
"""

TOHOST_EXIT = """
    la t0, tohost
    li t1, {value}
    sw t1, 0(t0)
1:  j 1b
    .data
    .align 3
    .globl tohost
tohost: .word 0, 0
"""


@pytest.mark.parametrize("how, code, status", [
    ("corestatus", 3, 3),
    ("corestatus", 256, 255),      # a multiple of 256 must not read as success
    ("corestatus", 512 + 7, 7),
    ("tohost", 256, 255),          # riscv-tests: tohost = (test << 1) | 1, test 256 failed
])
def test_nonzero_exit_code_never_gives_status_0(how, code, status):
    if how == "corestatus":
        elf = asm_elf(CORESTATUS_EXIT.format(value=(1 << 31) | code))
    else:
        elf = asm_elf(TOHOST_EXIT.format(value=(code << 1) | 1))
    proc = pulpsim_cli("run", elf, "--stats", "json" if how == "tohost" else "table")
    assert proc.returncode == status, (proc.stdout, proc.stderr)
    if how == "tohost":
        import json
        assert json.loads(proc.stdout)["exit_code"] == code
    else:
        assert f"exit code     {code}\n" in proc.stdout
