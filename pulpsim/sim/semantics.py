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

The functions are inlined into the dispatch (``jit_inline``): compiled one by one, their number made the
first run's compilation 11 % longer.
"""

from __future__ import annotations

import numpy as np

from . import fpu
from .bits import MASK32, s32
from .jit import jit_inline

SIGN = 0x80000000
MAGNITUDE = 0x7FFFFFFF

# ---- alu: (a, b, imm, pc) -> rd -------------------------------------------------------------------------


@jit_inline
def lui(a, b, imm, pc):
    return imm


@jit_inline
def auipc(a, b, imm, pc):
    return s32(pc + imm)


@jit_inline
def addi(a, b, imm, pc):
    return s32(a + imm)


@jit_inline
def slti(a, b, imm, pc):
    return 1 if a < imm else 0


@jit_inline
def sltiu(a, b, imm, pc):
    return 1 if (a & MASK32) < (imm & MASK32) else 0


@jit_inline
def xori(a, b, imm, pc):
    return a ^ imm


@jit_inline
def ori(a, b, imm, pc):
    return a | imm


@jit_inline
def andi(a, b, imm, pc):
    return a & imm


@jit_inline
def slli(a, b, imm, pc):
    return s32(a << imm)


@jit_inline
def srli(a, b, imm, pc):
    return s32((a & MASK32) >> imm)


@jit_inline
def srai(a, b, imm, pc):
    return a >> imm


@jit_inline
def add(a, b, imm, pc):
    return s32(a + b)


@jit_inline
def sub(a, b, imm, pc):
    return s32(a - b)


@jit_inline
def sll(a, b, imm, pc):
    return s32(a << (b & 31))


@jit_inline
def slt(a, b, imm, pc):
    return 1 if a < b else 0


@jit_inline
def sltu(a, b, imm, pc):
    return 1 if (a & MASK32) < (b & MASK32) else 0


@jit_inline
def xor(a, b, imm, pc):
    return a ^ b


@jit_inline
def srl(a, b, imm, pc):
    return s32((a & MASK32) >> (b & 31))


@jit_inline
def sra(a, b, imm, pc):
    return a >> (b & 31)


@jit_inline
def or_(a, b, imm, pc):
    return a | b


@jit_inline
def and_(a, b, imm, pc):
    return a & b


@jit_inline
def mul(a, b, imm, pc):
    return s32(a * b)


# ---- mulh: (a, b) -> rd ---------------------------------------------------------------------------------


@jit_inline
def _mul_high_unsigned(a, b):
    """High word of the unsigned 64-bit product of the two 32-bit patterns."""
    return np.int64((np.uint64(a & MASK32) * np.uint64(b & MASK32)) >> np.uint64(32))


@jit_inline
def mulh(a, b):
    return s32(_mul_high_unsigned(a, b) - (b if a < 0 else 0) - (a if b < 0 else 0))


@jit_inline
def mulhsu(a, b):
    return s32(_mul_high_unsigned(a, b) - ((b & MASK32) if a < 0 else 0))


@jit_inline
def mulhu(a, b):
    return s32(_mul_high_unsigned(a, b))


# ---- div: (a, b) -> rd (division by zero and overflow as the ISA defines them) -----------------------------


@jit_inline
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


@jit_inline
def _div_unsigned(a, b):
    ua = a & MASK32
    ub = b & MASK32
    if ub == 0:
        return MASK32, ua
    q = ua // ub
    return q, ua - q * ub


@jit_inline
def div(a, b):
    return s32(_div_signed(a, b)[0])


@jit_inline
def divu(a, b):
    return s32(_div_unsigned(a, b)[0])


@jit_inline
def rem(a, b):
    return s32(_div_signed(a, b)[1])


@jit_inline
def remu(a, b):
    return s32(_div_unsigned(a, b)[1])


# ---- branch: (a, b) -> taken ------------------------------------------------------------------------------


@jit_inline
def beq(a, b):
    return a == b


@jit_inline
def bne(a, b):
    return a != b


@jit_inline
def blt(a, b):
    return a < b


@jit_inline
def bge(a, b):
    return a >= b


@jit_inline
def bltu(a, b):
    return (a & MASK32) < (b & MASK32)


@jit_inline
def bgeu(a, b):
    return (a & MASK32) >= (b & MASK32)


# ---- jump: (a, imm, pc) -> target ------------------------------------------------------------------------


@jit_inline
def jal(a, imm, pc):
    return (pc + imm) & MASK32


@jit_inline
def jalr(a, imm, pc):
    return (a + imm) & 0xFFFFFFFE


# ---- load: raw -> rd ---------------------------------------------------------------------------------------


@jit_inline
def lb(raw):
    return ((raw + 0x80) & 0xFF) - 0x80


@jit_inline
def lh(raw):
    return ((raw + 0x8000) & 0xFFFF) - 0x8000


@jit_inline
def lw(raw):
    return s32(raw)


@jit_inline
def lbu(raw):
    return raw


@jit_inline
def lhu(raw):
    return raw


@jit_inline
def flw(raw):
    return raw


# ---- csr: (old, src) -> new ----------------------------------------------------------------------------------


@jit_inline
def csrrw(old, src):
    return src


@jit_inline
def csrrs(old, src):
    return old | src


@jit_inline
def csrrc(old, src):
    return old & ~src


@jit_inline
def csrrwi(old, src):
    return src


@jit_inline
def csrrsi(old, src):
    return old | src


@jit_inline
def csrrci(old, src):
    return old & ~src


# ---- fp and fdiv: (fa, fb, fc, xa, rm) -> (result, fflags) ---------------------------------------------------


@jit_inline
def fmadd_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 0)


@jit_inline
def fmsub_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 1)


@jit_inline
def fnmsub_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 2)


@jit_inline
def fnmadd_s(fa, fb, fc, xa, rm):
    return fpu.f_fma(fa, fb, fc, rm, 3)


@jit_inline
def fadd_s(fa, fb, fc, xa, rm):
    return fpu.f_add(fa, fb, rm)


@jit_inline
def fsub_s(fa, fb, fc, xa, rm):
    return fpu.f_sub(fa, fb, rm)


@jit_inline
def fmul_s(fa, fb, fc, xa, rm):
    return fpu.f_mul(fa, fb, rm)


@jit_inline
def fdiv_s(fa, fb, fc, xa, rm):
    return fpu.f_div(fa, fb, rm)


@jit_inline
def fsqrt_s(fa, fb, fc, xa, rm):
    return fpu.f_sqrt(fa, rm)


@jit_inline
def fsgnj_s(fa, fb, fc, xa, rm):
    return (fa & MAGNITUDE) | (fb & SIGN), 0


@jit_inline
def fsgnjn_s(fa, fb, fc, xa, rm):
    return (fa & MAGNITUDE) | ((fb ^ SIGN) & SIGN), 0


@jit_inline
def fsgnjx_s(fa, fb, fc, xa, rm):
    return fa ^ (fb & SIGN), 0


@jit_inline
def fmin_s(fa, fb, fc, xa, rm):
    return fpu.f_min(fa, fb)


@jit_inline
def fmax_s(fa, fb, fc, xa, rm):
    return fpu.f_max(fa, fb)


@jit_inline
def fcvt_w_s(fa, fb, fc, xa, rm):
    return fpu.f_cvt_w_s(fa, rm)


@jit_inline
def fcvt_wu_s(fa, fb, fc, xa, rm):
    return fpu.f_cvt_wu_s(fa, rm)


@jit_inline
def fmv_x_w(fa, fb, fc, xa, rm):
    return s32(fa), 0


@jit_inline
def feq_s(fa, fb, fc, xa, rm):
    return fpu.f_eq(fa, fb)


@jit_inline
def flt_s(fa, fb, fc, xa, rm):
    return fpu.f_lt(fa, fb)


@jit_inline
def fle_s(fa, fb, fc, xa, rm):
    return fpu.f_le(fa, fb)


@jit_inline
def fclass_s(fa, fb, fc, xa, rm):
    return fpu.f_class(fa), 0


@jit_inline
def fcvt_s_w(fa, fb, fc, xa, rm):
    return fpu.f_cvt_s_w(xa, rm)


@jit_inline
def fcvt_s_wu(fa, fb, fc, xa, rm):
    return fpu.f_cvt_s_wu(xa, rm)


@jit_inline
def fmv_w_x(fa, fb, fc, xa, rm):
    return xa & MASK32, 0
