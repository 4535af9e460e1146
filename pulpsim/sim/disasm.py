"""Disassembler derived from the ISA table.

The text follows GNU objdump's ``-M no-aliases`` style (ABI register names,
hex shift amounts and ``lui``/``auipc`` immediates, absolute branch targets,
static rounding modes printed, ``dyn`` omitted), so listings can be compared
with ``riscv64-unknown-elf-objdump -d -M no-aliases``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import decode, isa

XREG_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1",
              "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
              "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
              "t3", "t4", "t5", "t6")
FREG_NAMES = ("ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1",
              "fa0", "fa1", "fa2", "fa3", "fa4", "fa5", "fa6", "fa7",
              "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11",
              "ft8", "ft9", "ft10", "ft11")

#: CSR names (as binutils spells them) of the CSRs that pulpsim implements.
CSR_NAMES = {
    0x001: "fflags", 0x002: "frm", 0x003: "fcsr",
    0x300: "mstatus", 0x301: "misa", 0x304: "mie", 0x305: "mtvec",
    0x320: "mcountinhibit",
    0x340: "mscratch", 0x341: "mepc", 0x342: "mcause", 0x343: "mtval", 0x344: "mip",
    0xB00: "mcycle", 0xB02: "minstret", 0xB80: "mcycleh", 0xB82: "minstreth",
    0xC00: "cycle", 0xC02: "instret", 0xC80: "cycleh", 0xC82: "instreth",
    0xF11: "mvendorid", 0xF12: "marchid", 0xF13: "mimpid", 0xF14: "mhartid",
}
for _k in range(3, 32):
    CSR_NAMES[0x320 + _k] = f"mhpmevent{_k}"
    CSR_NAMES[0xB00 + _k] = f"mhpmcounter{_k}"
    CSR_NAMES[0xB80 + _k] = f"mhpmcounter{_k}h"
    CSR_NAMES[0xC00 + _k] = f"hpmcounter{_k}"
    CSR_NAMES[0xC80 + _k] = f"hpmcounter{_k}h"

FENCE_BITS = "iorw"


def reg_name(unified: int) -> str:
    """Name of a unified register id (see pulpsim.sim.decode)."""
    if unified >= decode.FREG_BASE:
        return FREG_NAMES[unified - decode.FREG_BASE]
    return XREG_NAMES[unified]


def csr_name(num: int) -> str:
    return CSR_NAMES.get(num, f"0x{num:x}")


def _fence_set(bits: int) -> str:
    return "".join(c for i, c in enumerate(FENCE_BITS) if bits & (8 >> i)) or "0"


def _reg(kind: str | None, num: int) -> str:
    return FREG_NAMES[num] if kind == isa.F else XREG_NAMES[num]


def disassemble(word: int, pc: int = 0, symbolize: Callable[[int], str] | None = None) -> str:
    """One instruction as text (``.word 0x...`` when it does not decode)."""
    op, row = decode.decode_one(word)
    if op >= len(isa.INSTRUCTIONS):
        return f".word\t0x{word & 0xFFFFFFFF:08x}"
    insn = isa.INSTRUCTIONS[op]
    rd, rs1, rs2, rs3 = (int(row[decode.F_RD]), int(row[decode.F_RS1]),
                         int(row[decode.F_RS2]), int(row[decode.F_RS3]))
    imm = int(row[decode.F_IMM])
    name = insn.name

    def target(offset: int) -> str:
        addr = (pc + offset) & 0xFFFFFFFF
        sym = symbolize(addr) if symbolize else ""
        return f"{addr:x}" + (f" <{sym}>" if sym else "")

    if insn.imm == isa.IMM_U:
        ops = [XREG_NAMES[rd], f"0x{(imm >> 12) & 0xFFFFF:x}"]
    elif insn.imm == isa.IMM_J:
        ops = [XREG_NAMES[rd], target(imm)]
    elif insn.imm == isa.IMM_B:
        ops = [XREG_NAMES[rs1], XREG_NAMES[rs2], target(imm)]
    elif name in ("lb", "lh", "lw", "lbu", "lhu", "flw", "jalr"):
        ops = [_reg(insn.rd, rd), f"{imm}({XREG_NAMES[rs1]})"]
    elif insn.imm == isa.IMM_S:
        ops = [_reg(insn.rs2, rs2), f"{imm}({XREG_NAMES[rs1]})"]
    elif insn.imm == isa.IMM_I:
        ops = [XREG_NAMES[rd], XREG_NAMES[rs1], str(imm)]
    elif insn.imm == isa.IMM_SHAMT:
        ops = [XREG_NAMES[rd], XREG_NAMES[rs1], f"0x{imm:x}"]
    elif insn.imm == isa.IMM_CSR:
        src = XREG_NAMES[rs1] if insn.rs1 == isa.X else str(rs1)
        ops = [XREG_NAMES[rd], csr_name(imm), src]
    elif insn.imm == isa.IMM_FENCE:
        if name == "fence":
            ops = [_fence_set((imm >> 4) & 0xF), _fence_set(imm & 0xF)]
        else:
            ops = []
    else:
        ops = [_reg(kind, num) for kind, num in
               ((insn.rd, rd), (insn.rs1, rs1), (insn.rs2, rs2), (insn.rs3, rs3)) if kind is not None]
        if insn.rm and int(row[decode.F_RM]) != isa.RM_DYN:
            ops.append(isa.RM_NAMES[int(row[decode.F_RM])])
    return f"{name}\t{','.join(ops)}" if ops else name


def disassemble_words(words: np.ndarray, base: int,
                      symbolize: Callable[[int], str] | None = None) -> list[str]:
    """Listing lines ``addr:  word  text`` for consecutive words starting at base."""
    lines = []
    for i, w in enumerate(np.asarray(words, dtype=np.uint32)):
        pc = base + 4 * i
        lines.append(f"{pc:8x}:\t{int(w):08x}          \t{disassemble(int(w), pc, symbolize)}")
    return lines
