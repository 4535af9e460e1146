"""Dispatch from an operation id to its semantic function, one function per unit.

GENERATED from the ISA table (pulpsim.sim.isa) by ``python -m pulpsim.sim.gen_dispatch``: do not edit.
"""

from __future__ import annotations

from . import semantics as sem
from .isa import (  # noqa: F401
    OP_LUI, OP_AUIPC, OP_JAL, OP_JALR, OP_BEQ, OP_BNE, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU, OP_LB, OP_LH, OP_LW,
    OP_LBU, OP_LHU, OP_ADDI, OP_SLTI, OP_SLTIU, OP_XORI, OP_ORI, OP_ANDI, OP_SLLI, OP_SRLI, OP_SRAI, OP_ADD, OP_SUB,
    OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_SRA, OP_OR, OP_AND, OP_CSRRW, OP_CSRRS, OP_CSRRC, OP_CSRRWI,
    OP_CSRRSI, OP_CSRRCI, OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU, OP_FLW,
    OP_FMADD_S, OP_FMSUB_S, OP_FNMSUB_S, OP_FNMADD_S, OP_FADD_S, OP_FSUB_S, OP_FMUL_S, OP_FDIV_S, OP_FSQRT_S,
    OP_FSGNJ_S, OP_FSGNJN_S, OP_FSGNJX_S, OP_FMIN_S, OP_FMAX_S, OP_FCVT_W_S, OP_FCVT_WU_S, OP_FMV_X_W, OP_FEQ_S,
    OP_FLT_S, OP_FLE_S, OP_FCLASS_S, OP_FCVT_S_W, OP_FCVT_S_WU, OP_FMV_W_X,
)
from .jit import jit, jit_forceinline


@jit_forceinline
def alu(op, a, b, imm, pc):
    """Unit "alu": the value written to rd."""
    if op == OP_LUI:
        return sem.lui(a, b, imm, pc)
    if op == OP_AUIPC:
        return sem.auipc(a, b, imm, pc)
    if op == OP_ADDI:
        return sem.addi(a, b, imm, pc)
    if op == OP_SLTI:
        return sem.slti(a, b, imm, pc)
    if op == OP_SLTIU:
        return sem.sltiu(a, b, imm, pc)
    if op == OP_XORI:
        return sem.xori(a, b, imm, pc)
    if op == OP_ORI:
        return sem.ori(a, b, imm, pc)
    if op == OP_ANDI:
        return sem.andi(a, b, imm, pc)
    if op == OP_SLLI:
        return sem.slli(a, b, imm, pc)
    if op == OP_SRLI:
        return sem.srli(a, b, imm, pc)
    if op == OP_SRAI:
        return sem.srai(a, b, imm, pc)
    if op == OP_ADD:
        return sem.add(a, b, imm, pc)
    if op == OP_SUB:
        return sem.sub(a, b, imm, pc)
    if op == OP_SLL:
        return sem.sll(a, b, imm, pc)
    if op == OP_SLT:
        return sem.slt(a, b, imm, pc)
    if op == OP_SLTU:
        return sem.sltu(a, b, imm, pc)
    if op == OP_XOR:
        return sem.xor(a, b, imm, pc)
    if op == OP_SRL:
        return sem.srl(a, b, imm, pc)
    if op == OP_SRA:
        return sem.sra(a, b, imm, pc)
    if op == OP_OR:
        return sem.or_(a, b, imm, pc)
    if op == OP_AND:
        return sem.and_(a, b, imm, pc)
    if op == OP_MUL:
        return sem.mul(a, b, imm, pc)
    return 0


@jit
def mulh(op, a, b):
    """Unit "mulh": the value written to rd."""
    if op == OP_MULH:
        return sem.mulh(a, b)
    if op == OP_MULHSU:
        return sem.mulhsu(a, b)
    if op == OP_MULHU:
        return sem.mulhu(a, b)
    return 0


@jit
def div(op, a, b):
    """Unit "div": the value written to rd."""
    if op == OP_DIV:
        return sem.div(a, b)
    if op == OP_DIVU:
        return sem.divu(a, b)
    if op == OP_REM:
        return sem.rem(a, b)
    if op == OP_REMU:
        return sem.remu(a, b)
    return 0


@jit
def branch(op, a, b):
    """Unit "branch": whether the branch is taken."""
    if op == OP_BEQ:
        return sem.beq(a, b)
    if op == OP_BNE:
        return sem.bne(a, b)
    if op == OP_BLT:
        return sem.blt(a, b)
    if op == OP_BGE:
        return sem.bge(a, b)
    if op == OP_BLTU:
        return sem.bltu(a, b)
    if op == OP_BGEU:
        return sem.bgeu(a, b)
    return False


@jit
def jump(op, a, imm, pc):
    """Unit "jump": the target address."""
    if op == OP_JAL:
        return sem.jal(a, imm, pc)
    if op == OP_JALR:
        return sem.jalr(a, imm, pc)
    return 0


@jit
def load(op, raw):
    """Unit "load": the value written to rd."""
    if op == OP_LB:
        return sem.lb(raw)
    if op == OP_LH:
        return sem.lh(raw)
    if op == OP_LW:
        return sem.lw(raw)
    if op == OP_LBU:
        return sem.lbu(raw)
    if op == OP_LHU:
        return sem.lhu(raw)
    if op == OP_FLW:
        return sem.flw(raw)
    return 0


@jit
def csr(op, old, src):
    """Unit "csr": the value written to the CSR."""
    if op == OP_CSRRW:
        return sem.csrrw(old, src)
    if op == OP_CSRRS:
        return sem.csrrs(old, src)
    if op == OP_CSRRC:
        return sem.csrrc(old, src)
    if op == OP_CSRRWI:
        return sem.csrrwi(old, src)
    if op == OP_CSRRSI:
        return sem.csrrsi(old, src)
    if op == OP_CSRRCI:
        return sem.csrrci(old, src)
    return 0


@jit_forceinline
def fp(op, fa, fb, fc, xa, rm):
    """Unit "fp": (result, fflags)."""
    if op == OP_FMADD_S:
        return sem.fmadd_s(fa, fb, fc, xa, rm)
    if op == OP_FMSUB_S:
        return sem.fmsub_s(fa, fb, fc, xa, rm)
    if op == OP_FNMSUB_S:
        return sem.fnmsub_s(fa, fb, fc, xa, rm)
    if op == OP_FNMADD_S:
        return sem.fnmadd_s(fa, fb, fc, xa, rm)
    if op == OP_FADD_S:
        return sem.fadd_s(fa, fb, fc, xa, rm)
    if op == OP_FSUB_S:
        return sem.fsub_s(fa, fb, fc, xa, rm)
    if op == OP_FMUL_S:
        return sem.fmul_s(fa, fb, fc, xa, rm)
    if op == OP_FSGNJ_S:
        return sem.fsgnj_s(fa, fb, fc, xa, rm)
    if op == OP_FSGNJN_S:
        return sem.fsgnjn_s(fa, fb, fc, xa, rm)
    if op == OP_FSGNJX_S:
        return sem.fsgnjx_s(fa, fb, fc, xa, rm)
    if op == OP_FMIN_S:
        return sem.fmin_s(fa, fb, fc, xa, rm)
    if op == OP_FMAX_S:
        return sem.fmax_s(fa, fb, fc, xa, rm)
    if op == OP_FCVT_W_S:
        return sem.fcvt_w_s(fa, fb, fc, xa, rm)
    if op == OP_FCVT_WU_S:
        return sem.fcvt_wu_s(fa, fb, fc, xa, rm)
    if op == OP_FMV_X_W:
        return sem.fmv_x_w(fa, fb, fc, xa, rm)
    if op == OP_FEQ_S:
        return sem.feq_s(fa, fb, fc, xa, rm)
    if op == OP_FLT_S:
        return sem.flt_s(fa, fb, fc, xa, rm)
    if op == OP_FLE_S:
        return sem.fle_s(fa, fb, fc, xa, rm)
    if op == OP_FCLASS_S:
        return sem.fclass_s(fa, fb, fc, xa, rm)
    if op == OP_FCVT_S_W:
        return sem.fcvt_s_w(fa, fb, fc, xa, rm)
    if op == OP_FCVT_S_WU:
        return sem.fcvt_s_wu(fa, fb, fc, xa, rm)
    if op == OP_FMV_W_X:
        return sem.fmv_w_x(fa, fb, fc, xa, rm)
    return (0, 0)


@jit
def fdiv(op, fa, fb, fc, xa, rm):
    """Unit "fdiv": (result, fflags)."""
    if op == OP_FDIV_S:
        return sem.fdiv_s(fa, fb, fc, xa, rm)
    if op == OP_FSQRT_S:
        return sem.fsqrt_s(fa, fb, fc, xa, rm)
    return (0, 0)
