"""Random RV32IMF instruction sequences for differential testing (simulator vs unicorn).

This module is deliberately independent of pulpsim's decoder: the encoder below
is written from the RISC-V unprivileged spec (chapter "RV32I Base Integer
Instruction Set", "M" and "F" chapters, and the opcode map), so that an
encoding mistake in :mod:`pulpsim.sim.isa` / :mod:`pulpsim.sim.decode` shows up as a
mismatch instead of being copied into the test.  Only the *list of mnemonics*
is taken from :data:`pulpsim.sim.isa.INSTRUCTIONS`, so that a newly added
instruction is automatically required to be covered (the generator raises if it
does not know how to encode it).

A sequence is a list of *blocks* (one instruction, or a short fixed pattern
such as ``auipc/addi/jalr``); branches and jumps only go forward over whole
blocks (0..3 of them), so every path through a sequence reaches the final
``sw x31, 0(x30)`` that ends the program, and no branch ever lands inside a
pattern.

Register conventions (random instructions never write these):

* ``x28`` scratch of the patterns (jalr target, CSR operand values),
* ``x29`` base of the data area (every load/store is ``off(x29)``),
* ``x30`` = CORESTATUS address, ``x31`` = 0x80000000 (the exit store).

Loads and stores use every access size at random offsets of a 512-byte data
area, half of them misaligned: unicorn (QEMU) performs misaligned accesses
without trapping, like the simulator and the CV32E40P.  CSR accesses only touch
fflags, frm, fcsr and mscratch, and never leave frm at a reserved value (5..7).

:class:`SimRunner` and :class:`UnicornRunner` run a :class:`Sequence` on one
reused pulpsim ``Machine`` and one reused unicorn instance; :func:`compare`
returns their differences.  Where unicorn disagrees with the RISC-V spec
(:data:`UNICORN_DEVIATIONS`), a code hook corrects unicorn's result to the
spec's, and only in exactly those cases.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------------------
# Memory layout of a test sequence
# ---------------------------------------------------------------------------

CODE = 0x1C00_0000                 #: code address (L2)
CORESTATUS = 0x1A10_40A0           #: store (1 << 31) | code here to exit
DATA_SIZE = 512                    #: bytes of the data area compared after each run
#: Possible data areas: TCDM, L2 (a page away from the code), and the TCDM alias at 0.
DATA_BASES = (0x1000_0000, 0x1000_7F00, 0x1C01_0000, 0x1C0F_F000, 0x0000_1000)

REG_TMP = 28
REG_BASE = 29
REG_STATUS = 30
REG_EXITVAL = 31
RESERVED = (REG_TMP, REG_BASE, REG_STATUS, REG_EXITVAL)
WRITABLE_X = tuple(r for r in range(32) if r not in RESERVED)   # includes x0

#: Mnemonics of instructions that stop or redirect execution to a trap handler:
#: not generated in sequences (covered by tests/test_traps_csrs.py).
EXCLUDED = frozenset({"ecall", "ebreak", "mret", "wfi"})

CSR_FFLAGS = 0x001
CSR_FRM = 0x002
CSR_FCSR = 0x003
CSR_MSCRATCH = 0x340

ROUNDING_MODES = (0, 1, 2, 3, 4, 7)  # rne rtz rdn rup rmm dyn

# ---------------------------------------------------------------------------
# Encoder (RISC-V unprivileged spec, "Base Instruction Formats")
# ---------------------------------------------------------------------------


def _chk(v: int, lo: int, hi: int, what: str) -> int:
    if not lo <= v <= hi:
        raise ValueError(f"{what}={v} out of range [{lo}, {hi}]")
    return v


def enc_r(opcode: int, rd: int, f3: int, rs1: int, rs2: int, f7: int) -> int:
    return ((f7 & 0x7F) << 25) | ((rs2 & 31) << 20) | ((rs1 & 31) << 15) | ((f3 & 7) << 12) \
        | ((rd & 31) << 7) | (opcode & 0x7F)


def enc_r4(opcode: int, rd: int, rm: int, rs1: int, rs2: int, rs3: int, fmt: int = 0) -> int:
    return ((rs3 & 31) << 27) | ((fmt & 3) << 25) | ((rs2 & 31) << 20) | ((rs1 & 31) << 15) \
        | ((rm & 7) << 12) | ((rd & 31) << 7) | (opcode & 0x7F)


def enc_i(opcode: int, rd: int, f3: int, rs1: int, imm: int) -> int:
    _chk(imm, -2048, 4095, "I-immediate")  # 4095: raw 12-bit fields (CSR numbers)
    return ((imm & 0xFFF) << 20) | ((rs1 & 31) << 15) | ((f3 & 7) << 12) | ((rd & 31) << 7) | (opcode & 0x7F)


def enc_s(opcode: int, f3: int, rs1: int, rs2: int, imm: int) -> int:
    _chk(imm, -2048, 2047, "S-immediate")
    return (((imm >> 5) & 0x7F) << 25) | ((rs2 & 31) << 20) | ((rs1 & 31) << 15) | ((f3 & 7) << 12) \
        | ((imm & 0x1F) << 7) | (opcode & 0x7F)


def enc_b(opcode: int, f3: int, rs1: int, rs2: int, imm: int) -> int:
    _chk(imm, -4096, 4094, "B-immediate")
    if imm & 1:
        raise ValueError("B-immediate must be even")
    return (((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3F) << 25) | ((rs2 & 31) << 20) \
        | ((rs1 & 31) << 15) | ((f3 & 7) << 12) | (((imm >> 1) & 0xF) << 8) | (((imm >> 11) & 1) << 7) \
        | (opcode & 0x7F)


def enc_u(opcode: int, rd: int, imm20: int) -> int:
    """U-type; imm20 is the 20-bit value placed in bits 31:12."""
    return ((imm20 & 0xFFFFF) << 12) | ((rd & 31) << 7) | (opcode & 0x7F)


def enc_j(opcode: int, rd: int, imm: int) -> int:
    _chk(imm, -(1 << 20), (1 << 20) - 2, "J-immediate")
    if imm & 1:
        raise ValueError("J-immediate must be even")
    return (((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3FF) << 21) | (((imm >> 11) & 1) << 20) \
        | (((imm >> 12) & 0xFF) << 12) | ((rd & 31) << 7) | (opcode & 0x7F)


# Opcodes (spec table "RISC-V base opcode map").
OPC_LOAD, OPC_LOAD_FP, OPC_MISC_MEM, OPC_OP_IMM, OPC_AUIPC = 0x03, 0x07, 0x0F, 0x13, 0x17
OPC_STORE, OPC_STORE_FP, OPC_OP, OPC_LUI = 0x23, 0x27, 0x33, 0x37
OPC_MADD, OPC_MSUB, OPC_NMSUB, OPC_NMADD, OPC_OP_FP = 0x43, 0x47, 0x4B, 0x4F, 0x53
OPC_BRANCH, OPC_JALR, OPC_JAL, OPC_SYSTEM = 0x63, 0x67, 0x6F, 0x73

#: name -> (register files of rd, rs1, rs2, rs3 ('x', 'f' or None), encoding parameters)
#: Encoding kinds:
#:   ("R", opcode, funct3, funct7)          rd rs1 rs2
#:   ("RF", funct7, rs2|None)               OP-FP with a rounding-mode funct3 (rs2 fixed if given)
#:   ("RF3", funct7, funct3, rs2|None)      OP-FP with a fixed funct3 (rs2 fixed if given)
#:   ("R4", opcode)                         fused multiply-add, fmt=S
#:   ("I", opcode, funct3) / ("S", opcode, funct3) / ("B", funct3) / ("U", opcode) / ("J",)
#:   ("SHIFT", funct3, funct7) / ("CSR", funct3) / ("FENCE",) / ("FENCEI",) / ("WORD", word)
SPEC: dict[str, tuple] = {}


def _add(name, regs, enc):
    SPEC[name] = (regs, enc)


_add("lui", ("x", None, None, None), ("U", OPC_LUI))
_add("auipc", ("x", None, None, None), ("U", OPC_AUIPC))
_add("jal", ("x", None, None, None), ("J",))
_add("jalr", ("x", "x", None, None), ("I", OPC_JALR, 0))
for _n, _f3 in (("beq", 0), ("bne", 1), ("blt", 4), ("bge", 5), ("bltu", 6), ("bgeu", 7)):
    _add(_n, (None, "x", "x", None), ("B", _f3))
for _n, _f3 in (("lb", 0), ("lh", 1), ("lw", 2), ("lbu", 4), ("lhu", 5)):
    _add(_n, ("x", "x", None, None), ("I", OPC_LOAD, _f3))
for _n, _f3 in (("sb", 0), ("sh", 1), ("sw", 2)):
    _add(_n, (None, "x", "x", None), ("S", OPC_STORE, _f3))
for _n, _f3 in (("addi", 0), ("slti", 2), ("sltiu", 3), ("xori", 4), ("ori", 6), ("andi", 7)):
    _add(_n, ("x", "x", None, None), ("I", OPC_OP_IMM, _f3))
for _n, _f3, _f7 in (("slli", 1, 0x00), ("srli", 5, 0x00), ("srai", 5, 0x20)):
    _add(_n, ("x", "x", None, None), ("SHIFT", _f3, _f7))
for _n, _f3, _f7 in (("add", 0, 0), ("sub", 0, 0x20), ("sll", 1, 0), ("slt", 2, 0), ("sltu", 3, 0),
                     ("xor", 4, 0), ("srl", 5, 0), ("sra", 5, 0x20), ("or", 6, 0), ("and", 7, 0),
                     ("mul", 0, 1), ("mulh", 1, 1), ("mulhsu", 2, 1), ("mulhu", 3, 1),
                     ("div", 4, 1), ("divu", 5, 1), ("rem", 6, 1), ("remu", 7, 1)):
    _add(_n, ("x", "x", "x", None), ("R", OPC_OP, _f3, _f7))
_add("fence", (None, None, None, None), ("FENCE",))
_add("fence.i", (None, None, None, None), ("FENCEI",))
_add("ecall", (None, None, None, None), ("WORD", 0x00000073))
_add("ebreak", (None, None, None, None), ("WORD", 0x00100073))
_add("mret", (None, None, None, None), ("WORD", 0x30200073))
_add("wfi", (None, None, None, None), ("WORD", 0x10500073))
for _n, _f3 in (("csrrw", 1), ("csrrs", 2), ("csrrc", 3)):
    _add(_n, ("x", "x", None, None), ("CSR", _f3))
for _n, _f3 in (("csrrwi", 5), ("csrrsi", 6), ("csrrci", 7)):
    _add(_n, ("x", None, None, None), ("CSR", _f3))
_add("flw", ("f", "x", None, None), ("I", OPC_LOAD_FP, 2))
_add("fsw", (None, "x", "f", None), ("S", OPC_STORE_FP, 2))
for _n, _opc in (("fmadd.s", OPC_MADD), ("fmsub.s", OPC_MSUB), ("fnmsub.s", OPC_NMSUB), ("fnmadd.s", OPC_NMADD)):
    _add(_n, ("f", "f", "f", "f"), ("R4", _opc))
for _n, _f7 in (("fadd.s", 0x00), ("fsub.s", 0x04), ("fmul.s", 0x08), ("fdiv.s", 0x0C)):
    _add(_n, ("f", "f", "f", None), ("RF", _f7, None))
_add("fsqrt.s", ("f", "f", None, None), ("RF", 0x2C, 0))
for _n, _f3 in (("fsgnj.s", 0), ("fsgnjn.s", 1), ("fsgnjx.s", 2)):
    _add(_n, ("f", "f", "f", None), ("RF3", 0x10, _f3, None))
_add("fmin.s", ("f", "f", "f", None), ("RF3", 0x14, 0, None))
_add("fmax.s", ("f", "f", "f", None), ("RF3", 0x14, 1, None))
_add("fcvt.w.s", ("x", "f", None, None), ("RF", 0x60, 0))
_add("fcvt.wu.s", ("x", "f", None, None), ("RF", 0x60, 1))
_add("fcvt.s.w", ("f", "x", None, None), ("RF", 0x68, 0))
_add("fcvt.s.wu", ("f", "x", None, None), ("RF", 0x68, 1))
_add("fmv.x.w", ("x", "f", None, None), ("RF3", 0x70, 0, 0))
_add("fclass.s", ("x", "f", None, None), ("RF3", 0x70, 1, 0))
_add("fmv.w.x", ("f", "x", None, None), ("RF3", 0x78, 0, 0))
for _n, _f3 in (("feq.s", 2), ("flt.s", 1), ("fle.s", 0)):
    _add(_n, ("x", "f", "f", None), ("RF3", 0x50, _f3, None))

#: Mnemonics whose rounding-mode field is an operand.
HAS_RM = frozenset(n for n, (_r, e) in SPEC.items() if e[0] in ("RF", "R4"))
#: Computational instructions (a result register from register/immediate operands only):
#: the ones :meth:`SequenceGenerator.matrix_sequence` exercises on special values.
MATRIX_NAMES = frozenset(n for n, (_r, e) in SPEC.items()
                         if e[0] in ("R", "RF", "RF3", "R4", "SHIFT") or (e[0] == "I" and e[1] == OPC_OP_IMM))


def encode(name: str, rd: int = 0, rs1: int = 0, rs2: int = 0, rs3: int = 0, imm: int = 0, rm: int = 0) -> int:
    """Encode one instruction. ``imm`` is the immediate as the assembler writes it
    (byte offset for branches/jumps, 20-bit value for lui/auipc, CSR number for
    csr*, pred<<4|succ for fence, shift amount for shifts); ``rs1`` is the zimm of csr*i."""
    try:
        _regs, e = SPEC[name]
    except KeyError:
        raise KeyError(f"diffgen does not know how to encode {name!r}") from None
    kind = e[0]
    if kind == "R":
        return enc_r(e[1], rd, e[2], rs1, rs2, e[3])
    if kind == "RF":
        return enc_r(OPC_OP_FP, rd, rm, rs1, rs2 if e[2] is None else e[2], e[1])
    if kind == "RF3":
        return enc_r(OPC_OP_FP, rd, e[2], rs1, rs2 if e[3] is None else e[3], e[1])
    if kind == "R4":
        return enc_r4(e[1], rd, rm, rs1, rs2, rs3)
    if kind == "I":
        return enc_i(e[1], rd, e[2], rs1, imm)
    if kind == "S":
        return enc_s(e[1], e[2], rs1, rs2, imm)
    if kind == "B":
        return enc_b(OPC_BRANCH, e[1], rs1, rs2, imm)
    if kind == "U":
        return enc_u(e[1], rd, imm)
    if kind == "J":
        return enc_j(OPC_JAL, rd, imm)
    if kind == "SHIFT":
        return enc_r(OPC_OP_IMM, rd, e[1], rs1, _chk(imm, 0, 31, "shamt"), e[2])
    if kind == "CSR":
        return enc_i(OPC_SYSTEM, rd, e[1], rs1, _chk(imm, 0, 0xFFF, "csr"))
    if kind == "FENCE":
        return enc_i(OPC_MISC_MEM, 0, 0, 0, _chk(imm, 0, 0xFF, "fence pred/succ"))
    if kind == "FENCEI":
        return enc_i(OPC_MISC_MEM, 0, 1, 0, 0)
    if kind == "WORD":
        return e[1]
    raise AssertionError(kind)  # pragma: no cover


# ---------------------------------------------------------------------------
# Assembly text (for the encoder's cross-check with an assembler, and messages)
# ---------------------------------------------------------------------------

_RM_TEXT = ("rne", "rtz", "rdn", "rup", "rmm", "", "", "dyn")
_CSR_TEXT = {CSR_FFLAGS: "fflags", CSR_FRM: "frm", CSR_FCSR: "fcsr", CSR_MSCRATCH: "mscratch"}


def asm_text(name: str, rd=0, rs1=0, rs2=0, rs3=0, imm=0, rm=0, *, label: str | None = None) -> str:
    """GNU assembler syntax of an instruction built with the same arguments as :func:`encode`.

    Branch/jump offsets are written as ``label`` (if given) or ``. + imm``.
    """
    regs, e = SPEC[name]
    kind = e[0]

    def r(kind_, n):
        return f"{kind_}{n}"

    tgt = label if label is not None else f".{imm:+d}"
    if kind in ("WORD", "FENCEI"):
        return name
    if kind == "FENCE":
        bits = lambda v: "".join(c for i, c in enumerate("iorw") if v & (8 >> i))  # noqa: E731
        pred, succ = imm >> 4, imm & 15
        if pred == 0 or succ == 0:   # not expressible with letters: emit the raw word
            return f".word 0x{encode(name, imm=imm):08x}"
        return f"fence {bits(pred)}, {bits(succ)}"
    if kind == "U":
        return f"{name} x{rd}, 0x{imm & 0xFFFFF:x}"
    if kind == "J":
        return f"jal x{rd}, {tgt}"
    if kind == "B":
        return f"{name} x{rs1}, x{rs2}, {tgt}"
    if kind == "CSR":
        src = f"{rs1}" if name.endswith("i") else f"x{rs1}"
        return f"{name} x{rd}, {_CSR_TEXT.get(imm, hex(imm))}, {src}"
    if name in ("jalr",) or e[0] == "I" and e[1] in (OPC_LOAD, OPC_LOAD_FP):
        return f"{name} {r(regs[0], rd)}, {imm}({r(regs[1], rs1)})"
    if kind == "S":
        return f"{name} {r(regs[2], rs2)}, {imm}({r(regs[1], rs1)})"
    if kind in ("I", "SHIFT"):
        return f"{name} x{rd}, x{rs1}, {imm}"
    ops = [r(regs[0], rd), r(regs[1], rs1)]
    if regs[2] is not None:
        ops.append(r(regs[2], rs2))
    if regs[3] is not None:
        ops.append(r(regs[3], rs3))
    if name in HAS_RM:
        ops.append(_RM_TEXT[rm])
    return f"{name} " + ", ".join(ops)


# ---------------------------------------------------------------------------
# Interesting operand values
# ---------------------------------------------------------------------------

INT_MIN = -0x8000_0000
INT_MAX = 0x7FFF_FFFF

F_SPECIALS = (
    0x00000000, 0x80000000,                              # +-0
    0x7F800000, 0xFF800000,                              # +-inf
    0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FD55555, 0xFFE00123,  # qNaN (payloads)
    0x7F800001, 0x7FA00000, 0xFF800001, 0x7FBFFFFF, 0xFFAAAAAA, 0x7F812345,              # sNaN (payloads)
    0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000, 0x80400000, 0x00012345,  # subnormals
    0x00800000, 0x80800000, 0x00800001, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7FFFFE,              # min/max normals
    0x3F800000, 0xBF800000, 0x3F000000, 0xBF000000, 0x3FC00000, 0xBFC00000,              # 1 -1 .5 -.5 1.5 -1.5
    0x40200000, 0xC0200000, 0x40400000, 0x3EFFFFFF, 0x3F000001, 0xBF7FFFFF, 0x3F7FFFFF,  # 2.5 -2.5 3 ...
    0x4EFFFFFF, 0x4F000000, 0x4F000001, 0xCF000000, 0xCF000001, 0xCEFFFFFF,              # near +-2^31
    0x4F7FFFFF, 0x4F800000, 0x4F800001, 0xCF800000,                                      # near 2^32
    0x4B000000, 0x4B000001, 0x4B7FFFFF, 0x4B800000, 0x4B800001, 0xCB000001,              # 2^23, 2^24
    0x34000000, 0x33800000, 0x0C000000, 0x72000000, 0x5F000000, 0x1F800000,              # 2^-23, ... 2^63 2^-64
    0x40490FDB, 0x3DCCCCCD, 0xC2F6E979,                                                  # pi, 0.1, -123.456
    0x3F7FFFFE, 0x3F800001, 0x00FFFFFF,  # 1-2^-23, 1+2^-23, 2^-125-ulp: products just below 2^-126
)

X_SPECIALS = (
    0, 1, -1, 2, -2, 3, 7, 31, 32, 33, -31, -32, INT_MIN, INT_MAX, INT_MIN + 1, INT_MAX - 1,
    0x0000FFFF, 0x00010000, -0x10000, 0x00FFFFFF, 0x01000000, 0x01000001, 0x01000003, -0x01000001,
    0x7FFFFF80, 0x7FFFFFC0, 0x7FFFFF7F, -0x80, -0x7FFFFFC0, 0x40000000, -0x40000000, 0x12345678,
    0x55555555, -0x55555556,
)


def _s32(v: int) -> int:
    return ((v + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


_F_SPECIALS_ARR = np.array(F_SPECIALS, np.int64)
_X_SPECIALS_ARR = np.array(X_SPECIALS, np.int64)
# Exponent ranges of random_float's classes 2..9 (0, 1: special values).
_EXP_LO = np.array([0, 0, 110, 110, 110, 1, 225, 0, 120, 120], np.int64)
_EXP_HI = np.array([0, 0, 144, 144, 144, 30, 254, 255, 160, 160], np.int64)


def _s32_array(v: np.ndarray) -> np.ndarray:
    return ((v.astype(np.int64) + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


class Gen:
    """Draws operand values and instructions from a numpy Generator.

    Scalar draws come from a buffer of uniform doubles (one numpy call per 4096
    draws: numpy's per-call overhead would otherwise dominate); vector draws
    (initial registers, memory) call the Generator directly.
    """

    BUF = 4096

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._buf = rng.random(self.BUF).tolist()
        self._i = 0

    def uniform(self) -> float:
        if self._i == self.BUF:
            self._buf = self.rng.random(self.BUF).tolist()
            self._i = 0
        u = self._buf[self._i]
        self._i += 1
        return u

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi] (inclusive)."""
        return lo + int(self.uniform() * (hi - lo + 1))

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def choice(self, seq):
        return seq[int(self.uniform() * len(seq))]

    def u32(self) -> int:
        return int(self.uniform() * 4294967296.0)

    # -- vectors of operand values (drawn in large batches, handed out in slices)
    POOL = 1 << 15

    def _take(self, kind: str, n: int) -> np.ndarray:
        pool, i = getattr(self, "_pool_" + kind, (None, self.POOL))
        if i + n > self.POOL:
            pool, i = (self._floats if kind == "f" else self._ints)(self.POOL), 0
        setattr(self, "_pool_" + kind, (pool, i + n))
        return pool[i:i + n]

    def floats(self, n: int) -> np.ndarray:
        """n float32 bit patterns (see _floats)."""
        return self._take("f", n)

    def ints(self, n: int) -> np.ndarray:
        """n signed 32-bit values (see _ints)."""
        return self._take("x", n)

    def _floats(self, n: int) -> np.ndarray:
        """n float32 bit patterns: special values, ordinary magnitudes, near under/overflow,
        any exponent, and the integer-conversion range; 30 % with only a few fraction bits
        (exact results and rounding ties)."""
        rng = self.rng
        k = rng.integers(0, 10, n)
        special = _F_SPECIALS_ARR[rng.integers(0, len(_F_SPECIALS_ARR), n)]
        sign = rng.integers(0, 2, n) << 31
        exp = _EXP_LO[k] + (rng.random(n) * (_EXP_HI[k] - _EXP_LO[k] + 1)).astype(np.int64)
        few = rng.random(n) < 0.3
        frac = np.where(few, rng.integers(0, 16, n) << rng.integers(0, 20, n), rng.integers(0, 1 << 23, n))
        return np.where(k <= 1, special, sign | (exp << 23) | frac)

    def _ints(self, n: int) -> np.ndarray:
        """n signed 32-bit values: special values, small ints, float patterns, values with
        few significant bits (int -> float rounding), random."""
        rng = self.rng
        k = rng.integers(0, 10, n)
        out = _s32_array(rng.integers(0, 1 << 32, n))
        out = np.where(k <= 2, _X_SPECIALS_ARR[rng.integers(0, len(_X_SPECIALS_ARR), n)], out)
        out = np.where(k == 3, rng.integers(-16, 17, n), out)
        out = np.where(k == 4, _s32_array(self._floats(n)), out)
        out = np.where(k == 5, _s32_array(rng.integers(1, 1 << 24, n) << rng.integers(0, 9, n)), out)
        return out

    def random_float(self) -> int:
        return int(self.floats(1)[0])

    def random_x(self) -> int:
        return int(self.ints(1)[0])

    def imm12(self) -> int:
        k = self.randint(0, 5)
        if k == 0:
            return self.choice((0, 1, -1, 2047, -2048, 31, 32, 0x7FF, -0x800, 0x555))
        if k <= 2:
            return self.randint(-32, 32)
        return self.randint(-2048, 2047)


# ---------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------

@dataclass
class Ins:
    """One instruction of a sequence, before branch offsets are resolved."""

    name: str
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    rs3: int = 0
    imm: int = 0
    rm: int = 0
    skip: int = -1          #: branch/jump: number of blocks to jump over (resolved later)
    target_adjust: int = 0  #: jalr pattern: byte offset added to the target (bit 0 test)
    jalr_off: int = 0       #: jalr pattern: the jalr's own immediate

    def word(self) -> int:
        return encode(self.name, self.rd, self.rs1, self.rs2, self.rs3, self.imm, self.rm)

    def text(self) -> str:
        return asm_text(self.name, self.rd, self.rs1, self.rs2, self.rs3, self.imm, self.rm)


@dataclass
class Sequence:
    """A complete test case: code, initial registers and memory."""

    insns: list[Ins]                 #: every instruction, the final exit store included
    words: list[int]
    names: list[str]                 #: mnemonic of every word
    x: list[int]                     #: initial x0..x31 (signed 32-bit)
    f: list[int]                     #: initial f0..f31 (bit patterns)
    frm: int
    fflags: int
    mscratch: int
    data_base: int
    data: bytes
    code_base: int = CODE
    rms: list[int] = field(default_factory=list)   #: rm field of every word (-1 if none)

    @property
    def end(self) -> int:
        """Address of the final ``sw x31, 0(x30)``."""
        return self.code_base + 4 * (len(self.words) - 1)

    def listing(self) -> str:
        """Address, word and assembly text of every instruction (for failure messages)."""
        lines = [f"  {self.code_base + 4 * i:08x}: {w:08x}  {ins.text()}"
                 for i, (w, ins) in enumerate(zip(self.words, self.insns))]
        lines[-1] += "   # exit"
        return "\n".join(lines)

    def describe(self) -> str:
        """The whole test case: listing and initial state."""
        xs = " ".join(f"x{i}=0x{v & 0xFFFFFFFF:08x}" for i, v in enumerate(self.x))
        fs = " ".join(f"f{i}=0x{v:08x}" for i, v in enumerate(self.f))
        return (f"{self.listing()}\n  initial: {xs}\n  {fs}\n  frm={self.frm} fflags=0x{self.fflags:02x} "
                f"mscratch=0x{self.mscratch:08x} data@0x{self.data_base:08x}={self.data[:32].hex()}...")


def generated_names() -> list[str]:
    """The mnemonics the generator draws from: every table entry minus :data:`EXCLUDED`."""
    from pulpsim.sim import isa
    names = [insn.name for insn in isa.INSTRUCTIONS if insn.name not in EXCLUDED]
    for n in names:
        if n not in SPEC:
            raise KeyError(f"pulpsim.sim.isa has {n!r}, which diffgen cannot encode: extend diffgen.SPEC")
    return names


class SequenceGenerator:
    """Builds random sequences; ``names`` (default: :func:`generated_names`) are drawn uniformly."""

    def __init__(self, seed: int, names: list[str] | None = None, *, length: tuple[int, int] = (10, 40)):
        self.g = Gen(np.random.default_rng(seed))
        self.names = list(names) if names is not None else generated_names()
        self.length = length

    # -- register choices
    def rd_x(self) -> int:
        return self.g.choice(WRITABLE_X)

    def rs_x(self) -> int:
        return self.g.randint(0, 31)

    def rf(self) -> int:
        return self.g.randint(0, 31)

    def rm(self) -> int:
        return self.g.choice(ROUNDING_MODES)

    def mem_offset(self, size: int) -> int:
        """Offset from x29 (the middle of the data area) of an access of `size` bytes."""
        half = DATA_SIZE // 2
        off = self.g.randint(-half, half - size)
        if self.g.chance(0.5):
            off &= ~(size - 1)   # aligned half of the time; misaligned otherwise
        return off

    def li_tmp(self, value: int) -> list[Ins]:
        """x28 = value (lui+addi, or addi alone for small values)."""
        value = _s32(value)
        if -2048 <= value <= 2047:
            return [Ins("addi", rd=REG_TMP, rs1=0, imm=value)]
        lo = ((value & 0xFFF) ^ 0x800) - 0x800
        hi = ((value - lo) >> 12) & 0xFFFFF
        return [Ins("lui", rd=REG_TMP, imm=hi), Ins("addi", rd=REG_TMP, rs1=REG_TMP, imm=lo)]

    # -- one block for mnemonic `name`
    def block(self, name: str) -> list[Ins]:
        g = self.g
        regs, e = SPEC[name]
        kind = e[0]
        if kind == "B":
            rs1 = self.rs_x()
            rs2 = rs1 if g.chance(0.15) else self.rs_x()
            return [Ins(name, rs1=rs1, rs2=rs2, skip=g.randint(0, 3))]
        if name == "jal":
            return [Ins("jal", rd=self.rd_x(), skip=g.randint(0, 3))]
        if name == "jalr":
            # auipc x28, 0; addi x28, x28, d; jalr rd, off(x28) with x28 + off = target (+ bit 0)
            off = g.randint(-64, 64)
            rd = REG_TMP if g.chance(0.15) else self.rd_x()
            return [Ins("auipc", rd=REG_TMP, imm=0), Ins("addi", rd=REG_TMP, rs1=REG_TMP),
                    Ins("jalr", rd=rd, rs1=REG_TMP, imm=off, skip=g.randint(0, 3),
                        target_adjust=g.randint(0, 1), jalr_off=off)]
        if kind == "CSR":
            return self.csr_block(name)
        if kind == "FENCE":
            return [Ins(name, imm=g.randint(0, 0xFF))]
        if kind in ("FENCEI", "WORD"):
            return [Ins(name)]
        if kind == "U":
            k = g.randint(0, 3)
            imm = g.choice((0, 1, 0x80000, 0xFFFFF, 0x7FFFF)) if k == 0 else g.randint(0, 0xFFFFF)
            return [Ins(name, rd=self.rd_x(), imm=imm)]
        if kind == "SHIFT":
            return [Ins(name, rd=self.rd_x(), rs1=self.rs_x(), imm=g.randint(0, 31))]
        if kind == "I" and e[1] == OPC_OP_IMM:
            return [Ins(name, rd=self.rd_x(), rs1=self.rs_x(), imm=g.imm12())]
        if kind == "I" and e[1] in (OPC_LOAD, OPC_LOAD_FP):
            size = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2}.get(name, 4)
            rd = self.rd_x() if regs[0] == "x" else self.rf()
            return [Ins(name, rd=rd, rs1=REG_BASE, imm=self.mem_offset(size))]
        if kind == "S":
            size = {"sb": 1, "sh": 2}.get(name, 4)
            rs2 = self.rs_x() if regs[2] == "x" else self.rf()
            return [Ins(name, rs1=REG_BASE, rs2=rs2, imm=self.mem_offset(size))]
        if kind in ("R", "RF", "RF3", "R4"):
            ins = Ins(name)
            ins.rd = (self.rd_x() if regs[0] == "x" else self.rf())
            ins.rs1 = (self.rs_x() if regs[1] == "x" else self.rf())
            if regs[2] is not None:
                ins.rs2 = ins.rs1 if g.chance(0.1) else (self.rs_x() if regs[2] == "x" else self.rf())
            if regs[3] is not None:
                ins.rs3 = self.rf()
            if name in HAS_RM:
                ins.rm = self.rm()
            return [ins]
        raise KeyError(f"diffgen cannot generate {name!r}")

    def csr_block(self, name: str) -> list[Ins]:
        """CSR accesses to fflags, frm, fcsr and mscratch that keep frm a valid rounding mode (0..4)."""
        g = self.g
        csr = g.choice((CSR_FFLAGS, CSR_FRM, CSR_FCSR, CSR_MSCRATCH))
        rd = self.rd_x()
        imm_form = name.endswith("i")
        op = name[:5]  # csrrw / csrrs / csrrc
        touches_frm = csr in (CSR_FRM, CSR_FCSR)
        if not touches_frm:
            if imm_form:
                return [Ins(name, rd=rd, rs1=g.randint(0, 31), imm=csr)]
            return [Ins(name, rd=rd, rs1=self.rs_x(), imm=csr)]
        # A random value whose frm field (if the access writes it) is a valid mode.
        frm_shift = 0 if csr == CSR_FRM else 5
        if imm_form:
            # zimm is 5 bits: for frm, bits 2:0 are the mode; for fcsr it only reaches fflags
            # (csrrwi fcsr sets frm = 0).
            zimm = g.randint(0, 31)
            if csr == CSR_FRM and op == "csrrw":
                zimm = (zimm & ~7) | g.randint(0, 4)
            block = [Ins(name, rd=rd, rs1=zimm, imm=csr)]
        else:
            v = g.u32()
            if op == "csrrw":
                v = (v & ~(7 << frm_shift)) | (g.randint(0, 4) << frm_shift)
            if g.chance(0.2):
                v = 0 if g.chance(0.5) else -1  # csrrs/csrrc with all/no bits
                if op == "csrrw":
                    v = g.randint(0, 4) << frm_shift
            block = self.li_tmp(v) + [Ins(name, rd=rd, rs1=REG_TMP, imm=csr)]
        if op == "csrrs":
            # Setting bits may leave frm at 5..7: read the result back and write a valid mode.
            block.append(Ins("csrrwi", rd=self.rd_x(), rs1=g.randint(0, 4), imm=CSR_FRM))
        # csrrc only clears bits: the mode stays <= the old (valid) one.
        return block

    def initial_state(self) -> dict:
        g = self.g
        x = g.ints(32).tolist()
        x[0] = 0
        f = g.floats(32).tolist()
        # Operand reuse makes equal / related operands likely (feq, fmin, x - x, ...).
        for _ in range(g.randint(0, 4)):
            f[g.randint(0, 31)] = f[g.randint(0, 31)]
            x[g.randint(1, 27)] = x[g.randint(1, 27)]
        data_base = g.choice(DATA_BASES)
        x[REG_BASE] = data_base + DATA_SIZE // 2
        x[REG_STATUS] = CORESTATUS
        x[REG_EXITVAL] = INT_MIN
        # data: half float patterns, a quarter integer values, a quarter random bits
        n = DATA_SIZE // 4
        words = np.concatenate([g.floats(n // 2), g.ints(n // 4) & 0xFFFFFFFF, g.floats(n // 4) ^ g.ints(n // 4)])
        words = words[g.rng.permutation(n)]
        return dict(x=x, f=f, frm=g.randint(0, 4), fflags=g.randint(0, 31) if g.chance(0.3) else 0,
                    mscratch=g.u32(), data_base=data_base, data=words.astype("<u4").tobytes())

    def sequence(self, names: list[str] | None = None) -> Sequence:
        """A random sequence (of the given mnemonics, in order, if `names` is given)."""
        g = self.g
        if names is None:
            n = g.randint(*self.length)
            names = [g.choice(self.names) for _ in range(n)]
        blocks = [self.block(nm) for nm in names]
        return self.assemble(blocks, **self.initial_state())

    # -- targeted sequences
    def matrix_sequence(self, name: str, rm: int = 0, count: int = 24) -> Sequence:
        """`count` instances of computational instruction `name` (rounding mode `rm`) on special values.

        The registers start with distinct special values (F_SPECIALS, X_SPECIALS); after each
        instruction its result and its own fflags (read and cleared with ``csrrw x28, fflags,
        x0``) are stored to the data area, so one bad result or flag cannot be hidden by a
        later instruction.
        """
        g = self.g
        regs, _e = SPEC[name]
        specials = _F_SPECIALS_ARR[g.rng.permutation(len(_F_SPECIALS_ARR))[:32]].tolist()
        st = self.initial_state()
        st["f"] = specials
        xs = np.concatenate([_X_SPECIALS_ARR, _s32_array(_F_SPECIALS_ARR)])
        st["x"][1:REG_TMP] = xs[g.rng.permutation(len(xs))[:REG_TMP - 1]].tolist()
        st["fflags"] = 0
        blocks = []
        half = DATA_SIZE // 2
        if 8 * count > DATA_SIZE:
            raise ValueError("count too large for the data area")
        if name not in MATRIX_NAMES:
            raise ValueError(f"no matrix sequence for {name!r}")
        for i in range(count):
            ins = self.block(name)[0]
            if name in HAS_RM:
                ins.rm = rm
            off = -half + 8 * i
            store = Ins("sw", rs1=REG_BASE, rs2=ins.rd, imm=off) if regs[0] == "x" else \
                Ins("fsw", rs1=REG_BASE, rs2=ins.rd, imm=off)
            blocks.append([ins, store, Ins("csrrw", rd=REG_TMP, rs1=0, imm=CSR_FFLAGS),
                           Ins("sb", rs1=REG_BASE, rs2=REG_TMP, imm=off + 4)])
        return self.assemble(blocks, **st)

    def single_sequence(self, name: str, *, rm: int = 0, f: tuple[int, ...] = (), x: tuple[int, ...] = (),
                        imm: int = 0, frm: int = 0, fflags: int = 0) -> Sequence:
        """One instruction ``name rd=4, rs1=1, rs2=2, rs3=3`` (f or x registers as the instruction
        needs) with f1.. = `f`, x1.. = `x`, then its fflags are read into x5 (and cleared)."""
        st = self.initial_state()
        for i, v in enumerate(f):
            st["f"][1 + i] = v & 0xFFFFFFFF
        for i, v in enumerate(x):
            st["x"][1 + i] = _s32(v)
        st["frm"] = frm
        st["fflags"] = fflags
        ins = Ins(name, rd=4, rs1=1, rs2=2, rs3=3, imm=imm, rm=rm if name in HAS_RM else 0)
        return self.assemble([[ins], [Ins("csrrw", rd=5, rs1=0, imm=CSR_FFLAGS)]], **st)

    @staticmethod
    def assemble(blocks: list[list[Ins]], **state) -> Sequence:
        """Lay out blocks, resolve forward branches/jumps, append the exit store."""
        starts = []
        addr = CODE
        for b in blocks:
            starts.append(addr)
            addr += 4 * len(b)
        end = addr
        starts.append(end)  # "block" len(blocks): the exit store
        for bi, b in enumerate(blocks):
            for k, ins in enumerate(b):
                if ins.skip < 0:
                    continue
                target = starts[min(bi + 1 + ins.skip, len(blocks))]
                if ins.name == "jalr":
                    # auipc x28, 0 (at the block start); addi x28, x28, d; jalr rd, off(x28):
                    # (x28 + off) & ~1 == target, with bit 0 of the sum set when target_adjust is 1.
                    b[k - 1].imm = target + ins.target_adjust - starts[bi] - ins.jalr_off
                else:
                    ins.imm = target - (starts[bi] + 4 * k)
        flat = [ins for b in blocks for ins in b]
        flat.append(Ins("sw", rs1=REG_STATUS, rs2=REG_EXITVAL, imm=0))  # the exit store
        words = [ins.word() for ins in flat]
        names = [ins.name for ins in flat]
        rms = [ins.rm if ins.name in HAS_RM else -1 for ins in flat]
        return Sequence(insns=flat, words=words, names=names, rms=rms, **state)


# ---------------------------------------------------------------------------
# Running a sequence: simulator and unicorn
# ---------------------------------------------------------------------------

@dataclass
class Result:
    x: list[int]        #: x0..x31 as unsigned 32-bit
    f: list[int]        #: f0..f31 low 32 bits
    fflags: int
    frm: int
    mscratch: int
    data: bytes
    error: str | None = None

    def diff(self, other: "Result") -> list[str]:
        """Human-readable differences (self = expected/unicorn, other = simulator)."""
        out = []
        if self.error or other.error:
            if self.error != other.error:
                out.append(f"error: unicorn={self.error!r} sim={other.error!r}")
            return out
        for i in range(32):
            if self.x[i] != other.x[i]:
                out.append(f"x{i}: unicorn=0x{self.x[i]:08x} sim=0x{other.x[i]:08x}")
        for i in range(32):
            if self.f[i] != other.f[i]:
                out.append(f"f{i}: unicorn=0x{self.f[i]:08x} sim=0x{other.f[i]:08x}")
        for name in ("fflags", "frm", "mscratch"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: unicorn=0x{a:x} sim=0x{b:x}")
        if self.data != other.data:
            bad = [i for i in range(len(self.data)) if self.data[i] != other.data[i]]
            out.append(f"data bytes differ at offsets {bad[:16]}{'...' if len(bad) > 16 else ''}: "
                       f"unicorn={self.data[bad[0]:bad[0] + 8].hex()} sim={other.data[bad[0]:bad[0] + 8].hex()}")
        return out


class SimRunner:
    """Runs sequences on one reused pulpsim Machine ("single" platform)."""

    def __init__(self, max_cycles: int = 100_000):
        from pulpsim.sim import state
        from pulpsim.sim.machine import Machine
        from pulpsim.sim.platform import get_platform
        self.state = state
        # FS = Initial at reset: the sequences use the FPU without turning it on
        self.m = Machine(get_platform("single", {"core.reset_fs": 1}), max_cycles=max_cycles)
        self._zero = bytes(DATA_SIZE)

    def run(self, seq: Sequence) -> Result:
        from pulpsim.errors import PulpsimError
        st = self.state
        m = self.m
        m.programs = []
        m.load_words(seq.code_base, np.asarray(seq.words, np.uint32))
        m.write_bytes(seq.data_base, seq.data)
        m.set_pc(0, seq.code_base)
        m.xreg[0, :] = seq.x
        m.freg[0, :] = seq.f
        m.reset_csrs()
        m.csr[0, st.C_FRM] = seq.frm
        m.csr[0, st.C_FFLAGS] = seq.fflags
        m.csr[0, st.C_MSCRATCH] = seq.mscratch
        m.tim[:] = 0
        m.tim[:, st.T_TOHOST] = -1
        m.cyc[:] = 0
        m.exit_code = None
        error = None
        try:
            code = m.run(stdout=False)
            if code != 0:
                error = f"exit code {code}"
        except PulpsimError as exc:
            error = f"{type(exc).__name__}: {exc}"
        res = Result(x=[int(v) & 0xFFFFFFFF for v in m.xreg[0]], f=[int(v) & 0xFFFFFFFF for v in m.freg[0]],
                     fflags=int(m.csr[0, st.C_FFLAGS]), frm=int(m.csr[0, st.C_FRM]),
                     mscratch=int(m.csr[0, st.C_MSCRATCH]) & 0xFFFFFFFF,
                     data=m.read_bytes(seq.data_base, DATA_SIZE), error=error)
        m.write_bytes(seq.data_base, self._zero)
        return res


class UnicornRunner:
    """Runs sequences on one reused unicorn RISC-V 32 instance (QEMU's model, machine mode)."""

    CODE_SIZE = 0x10000

    def __init__(self, *, spec_fixes: bool = True):
        from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV32, Uc
        self.spec_fixes = spec_fixes  #: correct UNICORN_DEVIATIONS (False: raw unicorn)
        from unicorn import riscv_const as rc
        self.rc = rc
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        self.uc.mem_map(CODE, self.CODE_SIZE)
        mapped = {CODE}
        for base in DATA_BASES:
            for page in range(base & ~0xFFF, (base + DATA_SIZE + 0xFFF) & ~0xFFF, 0x1000):
                if page not in mapped and not CODE <= page < CODE + self.CODE_SIZE:
                    self.uc.mem_map(page, 0x1000)
                    mapped.add(page)
        self.xregs = [getattr(rc, f"UC_RISCV_REG_X{i}") for i in range(32)]
        self.fregs = [getattr(rc, f"UC_RISCV_REG_F{i}") for i in range(32)]
        # Spec fix-ups of unicorn's known deviations (see UNICORN_DEVIATIONS): a code hook
        # before every instruction of a sequence that has one of the affected mnemonics.
        self._fix_at: dict[int, tuple] = {}   # address -> (name, rd, rs1, rs2)
        self._pending: tuple | None = None     # (rd, spec value or None, fflags to add) after the instruction
        self.fixups: dict[str, int] = {}       # deviation name -> times corrected
        self._hook = None

    def _code_hook(self, uc, address, size, user_data):
        if self._pending is not None:
            rd, value, flags = self._pending
            if value is not None:
                uc.reg_write(self.fregs[rd], 0xFFFFFFFF00000000 | value)
            if flags:
                uc.reg_write(self.rc.UC_RISCV_REG_FFLAGS, uc.reg_read(self.rc.UC_RISCV_REG_FFLAGS) | flags)
            self._pending = None
        ins = self._fix_at.get(address)
        if ins is not None:
            name, rd, rs1, rs2, rs3 = ins
            ops = [uc.reg_read(self.fregs[r]) & 0xFFFFFFFF for r in (rs1, rs2, rs3)]
            fixed = spec_fix(name, *ops)
            if fixed is not None:
                deviation, value, flags = fixed
                self._pending = (rd, value, flags)
                self.fixups[deviation] = self.fixups.get(deviation, 0) + 1

    def run(self, seq: Sequence) -> Result:
        from unicorn import UcError
        rc = self.rc
        uc = self.uc
        code = struct.pack(f"<{len(seq.words)}I", *seq.words)
        uc.mem_write(seq.code_base, code)
        uc.ctl_remove_cache(seq.code_base, seq.code_base + len(code))
        uc.mem_write(seq.data_base, seq.data)
        uc.reg_write(rc.UC_RISCV_REG_MSTATUS, 0x6000)  # FS = dirty: FPU on
        uc.reg_write(rc.UC_RISCV_REG_MTVEC, 0)
        for i in range(1, 32):
            uc.reg_write(self.xregs[i], seq.x[i] & 0xFFFFFFFF)
        for i in range(32):
            uc.reg_write(self.fregs[i], 0xFFFFFFFF00000000 | seq.f[i])   # NaN-boxed
        uc.reg_write(rc.UC_RISCV_REG_FRM, seq.frm)
        uc.reg_write(rc.UC_RISCV_REG_FFLAGS, seq.fflags)
        uc.reg_write(rc.UC_RISCV_REG_MSCRATCH, seq.mscratch)
        self._fix_at = {seq.code_base + 4 * i: (n, (w >> 7) & 31, (w >> 15) & 31, (w >> 20) & 31, (w >> 27) & 31)
                        for i, (n, w) in enumerate(zip(seq.names, seq.words))
                        if self.spec_fixes and n in SPEC_FIXED}
        self._pending = None
        if self._fix_at and self._hook is None:
            from unicorn import UC_HOOK_CODE
            self._hook = uc.hook_add(UC_HOOK_CODE, self._code_hook, begin=CODE, end=CODE + self.CODE_SIZE - 1)
        elif not self._fix_at and self._hook is not None:
            uc.hook_del(self._hook)
            self._hook = None
        error = None
        try:
            uc.emu_start(seq.code_base, seq.end, count=10 * len(seq.words) + 10)
            if self._pending is not None:   # the fixed instruction was the last one before the exit store
                self._code_hook(uc, -1, 0, None)
            pc = uc.reg_read(rc.UC_RISCV_REG_PC)
            if pc != seq.end:
                error = f"stopped at pc 0x{pc:08x}"
        except UcError as exc:
            error = f"UcError: {exc} at pc 0x{uc.reg_read(rc.UC_RISCV_REG_PC):08x}"
        return Result(x=[uc.reg_read(r) & 0xFFFFFFFF for r in self.xregs],
                      f=[uc.reg_read(r) & 0xFFFFFFFF for r in self.fregs],
                      fflags=uc.reg_read(rc.UC_RISCV_REG_FFLAGS), frm=uc.reg_read(rc.UC_RISCV_REG_FRM),
                      mscratch=uc.reg_read(rc.UC_RISCV_REG_MSCRATCH) & 0xFFFFFFFF,
                      data=bytes(uc.mem_read(seq.data_base, DATA_SIZE)), error=error)


# ---------------------------------------------------------------------------
# Where unicorn (QEMU 5.0's RISC-V model) disagrees with the RISC-V spec
# ---------------------------------------------------------------------------

#: Known deviations of unicorn from the ratified RISC-V "F" extension (v2.2), which the
#: reference run corrects with a code hook (the simulator follows the spec).
UNICORN_DEVIATIONS = {
    "fminmax-snan": "fmin.s/fmax.s with exactly one signalling-NaN operand: the spec (F v2.2, IEEE 754-2019 "
                    "minimumNumber/maximumNumber) returns the other operand (and raises NV); unicorn "
                    "implements IEEE 754-2008 minNum/maxNum (the older spec) and returns the canonical NaN.",
    "fma-inf-zero-qnan": "fmadd/fmsub/fnmsub/fnmadd.s with multiplicands infinity and zero and a quiet-NaN "
                         "addend: the spec says 'must set the invalid operation exception flag when the "
                         "multiplicands are infinity and zero, even when the addend is a quiet NaN'; unicorn "
                         "returns the canonical NaN (correct) without raising NV.",
}

SPEC_FIXED = frozenset({"fmin.s", "fmax.s", "fmadd.s", "fmsub.s", "fnmsub.s", "fnmadd.s"})

_NV = 0x10


def _f_is_nan(x: int) -> bool:
    return (x & 0x7FFFFFFF) > 0x7F800000


def _f_is_snan(x: int) -> bool:
    return _f_is_nan(x) and not (x & 0x00400000)


def _f_is_inf(x: int) -> bool:
    return (x & 0x7FFFFFFF) == 0x7F800000


def _f_is_zero(x: int) -> bool:
    return (x & 0x7FFFFFFF) == 0


def spec_fix(name: str, a: int, b: int, c: int) -> tuple[str, int | None, int] | None:
    """Where unicorn deviates from the spec on this operation: (deviation, spec result or None
    when unicorn's result is right, fflags bits unicorn fails to raise); else None."""
    if name in ("fmin.s", "fmax.s"):
        if _f_is_nan(a) != _f_is_nan(b) and (_f_is_snan(a) or _f_is_snan(b)):
            return "fminmax-snan", (b if _f_is_nan(a) else a), 0
    elif name in ("fmadd.s", "fmsub.s", "fnmsub.s", "fnmadd.s"):
        inf_times_zero = (_f_is_inf(a) and _f_is_zero(b)) or (_f_is_zero(a) and _f_is_inf(b))
        if inf_times_zero and _f_is_nan(c) and not _f_is_snan(c):
            return "fma-inf-zero-qnan", None, _NV
    return None


def compare(sim: SimRunner, ref: UnicornRunner, seq: Sequence) -> list[str]:
    """Run a sequence on both; return the list of differences (empty when they agree)."""
    return ref.run(seq).diff(sim.run(seq))
