"""The disassembler agrees with GNU objdump (-M no-aliases), and `pulpsim disasm` lists an ELF."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pulpsim.sim import decode, isa

from pulpsim import toolchain
from pulpsim.sim.disasm import CSR_NAMES, disassemble

OBJDUMP = shutil.which("riscv64-unknown-elf-objdump")
needs_objdump = pytest.mark.skipif(OBJDUMP is None, reason="riscv64-unknown-elf-objdump not installed")

LINE = re.compile(r"^\s*([0-9a-f]+):\s+([0-9a-f]{8})\s+(.*)$")


def objdump_binary(words: np.ndarray, tmp_path) -> dict[int, str]:
    """objdump's text for raw words placed at address 0 (branch targets are absolute)."""
    blob = tmp_path / "words.bin"
    blob.write_bytes(words.astype("<u4").tobytes())
    out = subprocess.run([OBJDUMP, "-D", "-b", "binary", "-m", "riscv:rv32", "-M", "no-aliases",
                          str(blob)], capture_output=True, text=True, check=True).stdout
    texts = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            text = m[3].split(" #")[0].split(" <")[0].strip()
            if text.startswith(("jal\t", "b")):
                # without symbols objdump writes targets as 0x...; with them (ELF listings) without
                text = re.sub(r",0x([0-9a-f]+)$", r",\1", text)
            texts[int(m[1], 16)] = text
    return texts


def random_instances(rng, n_per_insn: int) -> np.ndarray:
    """Random words matching each table row (don't-care bits random), valid for our decoder."""
    csr_numbers = np.array(sorted(CSR_NAMES), np.uint32)
    words = []
    for insn in isa.INSTRUCTIONS:
        for _ in range(n_per_insn):
            w = (int(rng.integers(0, 2**32)) & ~insn.mask & 0xFFFFFFFF) | insn.match
            if insn.imm == isa.IMM_CSR:
                w = (w & 0x000FFFFF) | (int(rng.choice(csr_numbers)) << 20)
            if insn.name == "fence":
                w = (w & 0x0FF0707F) | 0x01100000  # fm = 0, rd = rs1 = 0, non-empty pred/succ sets
            if insn.name == "fence.i":
                w = insn.match  # objdump shows other immediates as data
            if insn.rm and ((w >> 12) & 7) in (5, 6):
                w &= ~(0x7 << 12)
            words.append(w)
    words = np.array(words, np.uint32)
    ops = decode.match_ops(words)
    assert (ops < len(isa.INSTRUCTIONS)).all()
    return words


@needs_objdump
def test_every_table_entry_matches_objdump(tmp_path):
    rng = np.random.default_rng(2024)
    words = random_instances(rng, 40)
    ref = objdump_binary(words, tmp_path)
    mismatches = []
    for i, w in enumerate(words):
        mine = disassemble(int(w), 4 * i).split(" <")[0]
        if mine != ref[4 * i]:
            mismatches.append((hex(int(w)), mine, ref[4 * i]))
    assert not mismatches, mismatches[:20]


@needs_objdump
def test_compiled_program_listing_matches_objdump():
    elf = toolchain.build_c(r"""
#include "pulpsim.h"
float w[16];
int main(void) {
    float s = 0.0f;
    for (int i = 0; i < 16; i++) { w[i] = (float)i / 3.0f; s += w[i] * w[i]; }
    printf("%d\n", (int)s);
    return (int)s & 1;
}
""", name="disasm_listing")
    ours = subprocess.run([sys.executable, "-m", "pulpsim", "disasm", str(elf)], capture_output=True, text=True,
                          check=True).stdout
    theirs = subprocess.run([OBJDUMP, "-d", "-M", "no-aliases", str(elf)], capture_output=True, text=True,
                            check=True).stdout
    ref = {}
    for line in theirs.splitlines():
        m = LINE.match(line)
        if m:
            ref[int(m[1], 16)] = (m[2], m[3].split(" #")[0].split(" <")[0].strip())
    count = 0
    for line in ours.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        addr = int(m[1], 16)
        word, text = ref[addr]
        assert m[2] == word
        if text.startswith(".word") or text.startswith("unimp"):
            continue
        assert m[3].split(" <")[0].strip() == text, (hex(addr), m[3], text)
        count += 1
    assert count > 200


def test_undecodable_word_is_shown_as_data():
    assert disassemble(0xFFFFFFFF) == ".word\t0xffffffff"
    assert disassemble(0x00000000) == ".word\t0x00000000"
    # static rounding modes 5 and 6 are reserved
    assert disassemble(0x0020D053).startswith(".word")
