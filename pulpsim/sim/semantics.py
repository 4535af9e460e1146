"""What every instruction computes: one small pure function per instruction, on register values.

The functions know nothing of cores, memory, timing or traps: the engine reads the operands, calls the
instruction's function through :mod:`pulpsim.sim.dispatch` (generated from the ISA table) and does the rest
(write-back, memory access, cycles, exceptions). The signature is fixed by the instruction's unit
(``isa.UNIT_NAMES``):

========  ===================================  ==============================================
unit      arguments                            returns
========  ===================================  ==============================================
alu       a = x[rs1], b = x[rs2], imm, pc      the value written to rd (sign-extended 32 bits)
mulh      a, b                                 the value written to rd
div       a, b                                 the value written to rd
branch    a, b                                 whether the branch is taken
jump      a, imm, pc                           the target address (before the alignment check)
load      raw (the bytes read, zero-extended)  the value written to rd
csr       old (the CSR's value), src           the value written to the CSR
fp, fdiv  fa, fb, fc (FP bits), xa = x[rs1],   (result, fflags); the result goes to rd in the
          rm (resolved rounding mode)          register file the table names
========  ===================================  ==============================================

Integer registers hold sign-extended 32-bit values in int64 (:func:`pulpsim.sim.bits.s32`); FP registers
hold the 32-bit pattern, zero-extended. The semantics follow the RISC-V unprivileged ISA (RV32IMF, Zicsr);
the FP arithmetic is :mod:`pulpsim.sim.fpu` (bit-exact IEEE 754 with RISC-V NaN and flag rules).
"""

from __future__ import annotations

import numpy as np

from . import fpu
from .bits import MASK32, s32
from .jit import jit

SIGN = 0x80000000
MAGNITUDE = 0x7FFFFFFF

# ---- alu: (a, b, imm, pc) -> rd -------------------------------------------------------------------------


@jit
def lui(a, b, imm, pc):
    return imm


@jit
def auipc(a, b, imm, pc):
    return s32(pc + imm)


@jit
def addi(a, b, imm, pc):
    return s32(a + imm)


@jit
def slti(a, b, imm, pc):
    return 1 if a < imm else 0


@jit
def sltiu(a, b, imm, pc):
    return 1 if (a & MASK32) < (imm & MASK32) else 0


@jit
def xori(a, b, imm, pc):
    return a ^ imm


@jit
def ori(a, b, imm, pc):
    return a | imm


@jit
def andi(a, b, imm, pc):
    return a & imm


@jit
def slli(a, b, imm, pc):
    return s32(a << imm)


@jit
def srli(a, b, imm, pc):
    return s32((a & MASK32) >> imm)


@jit
def srai(a, b, imm, pc):
    return a >> imm


@jit
def add(a, b, imm, pc):
    return s32(a + b)


@jit
def sub(a, b, imm, pc):
    return s32(a - b)


@jit
def sll(a, b, imm, pc):
    return s32(a << (b & 31))


@jit
def slt(a, b, imm, pc):
    return 1 if a < b else 0


@jit
def sltu(a, b, imm, pc):
    return 1 if (a & MASK32) < (b & MASK32) else 0


@jit
def xor(a, b, imm, pc):
    return a ^ b


@jit
def srl(a, b, imm, pc):
    return s32((a & MASK32) >> (b & 31))


@jit
def sra(a, b, imm, pc):
    return a >> (b & 31)


@jit
def or_(a, b, imm, pc):
    return a | b


@jit
def and_(a, b, imm, pc):
    return a & b


@jit
def mul(a, b, imm, pc):
    return s32(a * b)


# ---- mulh: (a, b) -> rd ---------------------------------------------------------------------------------


@jit
def _mul_high_unsigned(a, b):
    """High word of the unsigned 64-bit product of the two 32-bit patterns."""
    return np.int64((np.uint64(a & MASK32) * np.uint64(b & MASK32)) >> np.uint64(32))


@jit
def mulh(a, b):
    return s32(_mul_high_unsigned(a, b) - (b if a < 0 else 0) - (a if b < 0 else 0))


@jit
def mulhsu(a, b):
    return s32(_mul_high_unsigned(a, b) - ((b & MASK32) if a < 0 else 0))


@jit
def mulhu(a, b):
    return s32(_mul_high_unsigned(a, b))


# ---- div: (a, b) -> rd (division by zero and overflow as the ISA defines them) -----------------------------


@jit
def _div_signed(a, b):
    """(quotient, remainder) of signed division, rounding towards zero."""
    if b == 0:
        return -1, a
    if a == -0x80000000 and b == -1:
        return a, 0
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return q, a - q * b


@jit
def _div_unsigned(a, b):
    ua = a & MASK32
    ub = b & MASK32
    if ub == 0:
        return MASK32, ua
    q = ua // ub
    return q, ua - q * ub


@jit
def div(a, b):
    return s32(_div_signed(a, b)[0])


@jit
def divu(a, b):
    return s32(_div_unsigned(a, b)[0])


@jit
def rem(a, b):
    return s32(_div_signed(a, b)[1])


@jit
def remu(a, b):
    return s32(_div_unsigned(a, b)[1])


# ---- branch: (a, b) -> taken ------------------------------------------------------------------------------


@jit
def beq(a, b):
    return a == b


@jit
def bne(a, b):
    return a != b


@jit
def blt(a, b):
    return a < b


@jit
def bge(a, b):
    return a >= b


@jit
def bltu(a, b):
    return (a & MASK32) < (b & MASK32)


@jit
def bgeu(a, b):
    return (a & MASK32) >= (b & MASK32)


# ---- jump: (a, imm, pc) -> target ------------------------------------------------------------------------


@jit
def jal(a, imm, pc):
    return (pc + imm) & MASK32


@jit
def jalr(a, imm, pc):
    return (a + imm) & 0xFFFFFFFE


# ---- load: raw -> rd ---------------------------------------------------------------------------------------


@jit
def lb(raw):
    return ((raw + 0x80) & 0xFF) - 0x80


@jit
def lh(raw):
    return ((raw + 0x8000) & 0xFFFF) - 0x8000


@jit
def lw(raw):
    return s32(raw)


@jit
def lbu(raw):
    return raw


@jit
def lhu(raw):
    return raw


@jit
def flw(raw):
    return raw


# ---- csr: (old, src) -> new ----------------------------------------------------------------------------------


@jit
def csrrw(old, src):
    return src


@jit
def csrrs(old, src):
    return old | src


@jit
def csrrc(old, src):
    return old & ~src


@jit
def csrrwi(old, src):
    return src


@jit
def csrrsi(old, src):
    return old | src


@jit
def csrrci(old, src):
    return old & ~src


# ---- fp and fdiv: (fa, fb, fc, xa, rm) -> (result, fflags) ---------------------------------------------------


@jit
def fmadd_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 0)


@jit
def fmsub_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 1)


@jit
def fnmsub_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 2)


@jit
def fnmadd_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 3)


@jit
def fadd_s(fa, fb, fc, xa, rm):
    return fpu.f_add(fa, fb, rm)


@jit
def fsub_s(fa, fb, fc, xa, rm):
    return fpu.f_sub(fa, fb, rm)


@jit
def fmul_s(fa, fb, fc, xa, rm):
    return fpu.f_mul(fa, fb, rm)


@jit
def fdiv_s(fa, fb, fc, xa, rm):
    return fpu.f_div(fa, fb, rm)


@jit
def fsqrt_s(fa, fb, fc, xa, rm):
    return fpu.f_sqrt(fa, rm)


@jit
def fsgnj_s(fa, fb, fc, xa, rm):
    return (fa & MAGNITUDE) | (fb & SIGN), 0


@jit
def fsgnjn_s(fa, fb, fc, xa, rm):
    return (fa & MAGNITUDE) | ((fb ^ SIGN) & SIGN), 0


@jit
def fsgnjx_s(fa, fb, fc, xa, rm):
    return fa ^ (fb & SIGN), 0


@jit
def fmin_s(fa, fb, fc, xa, rm):
    return fpu.f_min(fa, fb)


@jit
def fmax_s(fa, fb, fc, xa, rm):
    return fpu.f_max(fa, fb)


@jit
def fcvt_w_s(fa, fb, fc, xa, rm):
    return fpu.f_cvt_w_s(fa, rm)


@jit
def fcvt_wu_s(fa, fb, fc, xa, rm):
    return fpu.f_cvt_wu_s(fa, rm)


@jit
def fmv_x_w(fa, fb, fc, xa, rm):
    return s32(fa), 0


@jit
def feq_s(fa, fb, fc, xa, rm):
    return fpu.f_eq(fa, fb)


@jit
def flt_s(fa, fb, fc, xa, rm):
    return fpu.f_lt(fa, fb)


@jit
def fle_s(fa, fb, fc, xa, rm):
    return fpu.f_le(fa, fb)


@jit
def fclass_s(fa, fb, fc, xa, rm):
    return fpu.f_class(fa), 0


@jit
def fcvt_s_w(fa, fb, fc, xa, rm):
    return fpu.f_cvt_s_w(xa, rm)


@jit
def fcvt_s_wu(fa, fb, fc, xa, rm):
    return fpu.f_cvt_s_wu(xa, rm)


@jit
def fmv_w_x(fa, fb, fc, xa, rm):
    return xa & MASK32, 0
