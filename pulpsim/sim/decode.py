"""Predecoder: instruction words -> the engine's operand table.

The program's executable segments are decoded once, vectorised over all words
with numpy, into an ``int32`` table with one row per instruction slot
(:data:`NUM_FIELDS` columns, named by the ``F_*`` constants).  The engine then
never looks at raw instruction bits again.

Besides the raw operand fields, each row carries the registers the
instruction reads and writes as *unified* register ids (0 = none or x0,
1..31 = x1..x31, 32..63 = f0..f31), which is what the timing model's hazard
checks compare.
"""

from __future__ import annotations

import numpy as np

from . import isa

# Columns of the predecoded table.
F_OP = 0     #: operation id (isa.OP_*)
F_RD = 1     #: rd field
F_RS1 = 2    #: rs1 field (or zimm for csrr*i)
F_RS2 = 3    #: rs2 field
F_RS3 = 4    #: rs3 field
F_IMM = 5    #: decoded immediate (sign-extended; CSR number for csr ops)
F_RM = 6     #: rounding-mode field (funct3) for FP ops
F_SRC_A = 7  #: unified id of the 1st source register (0 = none)
F_SRC_B = 8  #: unified id of the 2nd source register
F_SRC_C = 9  #: unified id of the 3rd source register
F_DST = 10   #: unified id of the destination register (0 = none / x0)
F_WORD = 11  #: the raw instruction word (for traces and error messages)
NUM_FIELDS = 12

FREG_BASE = 32  #: unified id of f0


def _bits(words: np.ndarray, hi: int, lo: int) -> np.ndarray:
    return (words >> np.uint32(lo)) & np.uint32((1 << (hi - lo + 1)) - 1)


def _sext(values: np.ndarray, nbits: int) -> np.ndarray:
    v = values.astype(np.int64)
    sign = np.int64(1 << (nbits - 1))
    return (v ^ sign) - sign


def immediates(words: np.ndarray) -> dict[str, np.ndarray]:
    """Every immediate encoding of every word (int64 arrays), keyed by isa.IMM_*."""
    w = words.astype(np.uint32)
    imm_i = _sext(_bits(w, 31, 20), 12)
    imm_s = _sext((_bits(w, 31, 25) << np.uint32(5)) | _bits(w, 11, 7), 12)
    imm_b = _sext((_bits(w, 31, 31) << np.uint32(12)) | (_bits(w, 7, 7) << np.uint32(11))
                  | (_bits(w, 30, 25) << np.uint32(5)) | (_bits(w, 11, 8) << np.uint32(1)), 13)
    imm_u = _sext(w & np.uint32(0xFFFFF000), 32)
    imm_j = _sext((_bits(w, 31, 31) << np.uint32(20)) | (_bits(w, 19, 12) << np.uint32(12))
                  | (_bits(w, 20, 20) << np.uint32(11)) | (_bits(w, 30, 21) << np.uint32(1)), 21)
    return {
        isa.IMM_NONE: np.zeros(len(w), np.int64),
        isa.IMM_I: imm_i,
        isa.IMM_S: imm_s,
        isa.IMM_B: imm_b,
        isa.IMM_U: imm_u,
        isa.IMM_J: imm_j,
        isa.IMM_SHAMT: _bits(w, 24, 20).astype(np.int64),
        isa.IMM_CSR: _bits(w, 31, 20).astype(np.int64),
        isa.IMM_FENCE: _bits(w, 27, 20).astype(np.int64),
    }


def _unified(field: np.ndarray, kind: str | None) -> np.ndarray:
    if kind is None:
        return np.zeros(len(field), np.int64)
    if kind == isa.X:
        return field.astype(np.int64)
    return field.astype(np.int64) + FREG_BASE


def match_ops(words: np.ndarray) -> np.ndarray:
    """Operation id of every word (isa.OP_ILLEGAL where nothing matches).

    Static rounding modes 5 and 6 are reserved: such words are illegal.
    """
    w = words.astype(np.uint32)
    ops = np.full(len(w), isa.OP_ILLEGAL, np.int64)
    rm = _bits(w, 14, 12)
    for op, insn in enumerate(isa.INSTRUCTIONS):
        hit = (w & np.uint32(insn.mask)) == np.uint32(insn.match)
        if insn.rm:
            hit &= (rm != 5) & (rm != 6)
        ops[hit] = op
    return ops


def predecode(words: np.ndarray) -> np.ndarray:
    """Decode instruction words (uint32 array) into the engine's int32 table (a fresh array)."""
    w = np.ascontiguousarray(words, dtype=np.uint32)
    key = w.tobytes()
    table = _DECODED.get(key)
    if table is None:
        table = _decode(w)
        if len(_DECODED) >= _DECODED_MAX:     # a bounded memo: programs loaded again and again
            _DECODED.pop(next(iter(_DECODED)))
        _DECODED[key] = table
    return table.copy()


#: Decoded tables by the words they decode: a program run many times (the tiled executor, once per
#: training sample) is decoded once. Decoding is a pure function of the words.
_DECODED: dict = {}
_DECODED_MAX = 512


def _decode(w: np.ndarray) -> np.ndarray:
    n = len(w)
    table = np.zeros((n, NUM_FIELDS), np.int32)
    ops = match_ops(w)
    rd = _bits(w, 11, 7)
    rs1 = _bits(w, 19, 15)
    rs2 = _bits(w, 24, 20)
    rs3 = _bits(w, 31, 27)
    imms = immediates(w)
    table[:, F_OP] = ops
    table[:, F_RD] = rd
    table[:, F_RS1] = rs1
    table[:, F_RS2] = rs2
    table[:, F_RS3] = rs3
    table[:, F_RM] = _bits(w, 14, 12)
    table[:, F_WORD] = w.view(np.int32)
    for op, insn in enumerate(isa.INSTRUCTIONS):
        sel = ops == op
        if not sel.any():
            continue
        table[sel, F_IMM] = imms[insn.imm][sel].astype(np.int64).astype(np.int32)
        table[sel, F_SRC_A] = _unified(rs1[sel], insn.rs1)
        table[sel, F_SRC_B] = _unified(rs2[sel], insn.rs2)
        table[sel, F_SRC_C] = _unified(rs3[sel], insn.rs3)
        dst = _unified(rd[sel], insn.rd)
        if insn.rd == isa.X:
            dst[rd[sel] == 0] = 0  # writes to x0 create no hazard
        table[sel, F_DST] = dst
    return table


def decode_one(word: int) -> tuple[int, np.ndarray]:
    """(op id, predecoded row) of a single instruction word."""
    row = predecode(np.array([word & 0xFFFFFFFF], np.uint32))[0]
    return int(row[F_OP]), row
