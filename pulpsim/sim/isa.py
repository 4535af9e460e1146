"""The instruction set, as one declarative table.

Every implemented RV32IMF + Zicsr + Zifencei instruction is one :class:`Insn`
row: its mnemonic, its encoding (``word & mask == match``), which register file
each operand field names, how the immediate is encoded, and its timing class.
Everything else is derived from this table:

* the operation ids used by the engine (``OP_<NAME>`` constants below, the row
  index in :data:`INSTRUCTIONS`),
* the vectorised predecoder (:mod:`pulpsim.decode`),
* the disassembler (:mod:`pulpsim.disasm`).

To add an instruction: add a row here, implement its ``OP_`` case in
:mod:`pulpsim.engine`, and add a test (see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

# Operand register files.
X = "x"  # integer register
F = "f"  # floating-point register

# Immediate encodings.
IMM_NONE = "none"
IMM_I = "I"        # 12-bit signed, bits 31:20
IMM_S = "S"        # store offset
IMM_B = "B"        # branch offset
IMM_U = "U"        # upper 20 bits (value already shifted left by 12)
IMM_J = "J"        # jal offset
IMM_SHAMT = "shamt"  # 5-bit shift amount in bits 24:20
IMM_CSR = "csr"    # CSR number in bits 31:20 (rs1 is a register or a 5-bit zimm)
IMM_FENCE = "fence"  # pred/succ in bits 27:20

# Masks of the standard encoding formats.
MASK_OPCODE = 0x0000007F
MASK_F3 = 0x0000707F
MASK_F7 = 0xFE00707F
MASK_F7_NO_RM = 0xFE00007F          # funct7 + opcode, rm (funct3) is an operand
MASK_F7_RS2_NO_RM = 0xFFF0007F      # unary FP op with rm operand
MASK_F7_RS2_F3 = 0xFFF0707F         # unary FP op with fixed funct3
MASK_R4 = 0x0600007F                # fmt bits 26:25 + opcode; rm is an operand
MASK_EXACT = 0xFFFFFFFF


@dataclass(frozen=True)
class Insn:
    """One instruction encoding and how to read its operands."""

    name: str           #: assembler mnemonic
    mask: int           #: bits that identify the instruction
    match: int          #: their value
    rd: str | None = None   #: register file of rd (X, F) or None
    rs1: str | None = None
    rs2: str | None = None
    rs3: str | None = None
    imm: str = IMM_NONE  #: immediate encoding
    rm: bool = False     #: funct3 is a rounding-mode operand
    uses_fpu: bool = False  #: occupies the (possibly shared) FPU / waits for an FP divide in flight
    is_fp: bool = False  #: needs mstatus.FS != Off

    @property
    def const(self) -> str:
        return "OP_" + self.name.upper().replace(".", "_")


def _r(name, f7, f3, opcode=0x33):
    return Insn(name, MASK_F7, (f7 << 25) | (f3 << 12) | opcode, rd=X, rs1=X, rs2=X)


def _i(name, f3, opcode=0x13):
    return Insn(name, MASK_F3, (f3 << 12) | opcode, rd=X, rs1=X, imm=IMM_I)


def _shift_imm(name, f7, f3):
    return Insn(name, MASK_F7, (f7 << 25) | (f3 << 12) | 0x13, rd=X, rs1=X, imm=IMM_SHAMT)


def _load(name, f3):
    return Insn(name, MASK_F3, (f3 << 12) | 0x03, rd=X, rs1=X, imm=IMM_I)


def _store(name, f3):
    return Insn(name, MASK_F3, (f3 << 12) | 0x23, rs1=X, rs2=X, imm=IMM_S)


def _branch(name, f3):
    return Insn(name, MASK_F3, (f3 << 12) | 0x63, rs1=X, rs2=X, imm=IMM_B)


def _csr(name, f3, zimm):
    return Insn(name, MASK_F3, (f3 << 12) | 0x73, rd=X, rs1=None if zimm else X, imm=IMM_CSR)


def _fp_rm(name, f7, rd=F, rs1=F, rs2=F):
    return Insn(name, MASK_F7_NO_RM, (f7 << 25) | 0x53, rd=rd, rs1=rs1, rs2=rs2, rm=True,
                uses_fpu=True, is_fp=True)


def _fp_unary_rm(name, f7, rs2sel, rd, rs1):
    return Insn(name, MASK_F7_RS2_NO_RM, (f7 << 25) | (rs2sel << 20) | 0x53, rd=rd, rs1=rs1, rm=True,
                uses_fpu=True, is_fp=True)


def _fp_f3(name, f7, f3, rd=F, rs1=F, rs2=F, uses_fpu=True):
    return Insn(name, MASK_F7, (f7 << 25) | (f3 << 12) | 0x53, rd=rd, rs1=rs1, rs2=rs2,
                uses_fpu=uses_fpu, is_fp=True)


def _fp_unary_f3(name, f7, f3, rd, rs1, uses_fpu=True):
    return Insn(name, MASK_F7_RS2_F3, (f7 << 25) | (f3 << 12) | 0x53, rd=rd, rs1=rs1,
                uses_fpu=uses_fpu, is_fp=True)


def _r4(name, opcode):
    return Insn(name, MASK_R4, opcode, rd=F, rs1=F, rs2=F, rs3=F, rm=True, uses_fpu=True, is_fp=True)


#: The whole instruction set. The order is free (the table is matched by
#: mask/match, and encodings do not overlap) but it fixes the OP_ ids.
INSTRUCTIONS: tuple[Insn, ...] = (
    # --- RV32I ---------------------------------------------------------------
    Insn("lui", MASK_OPCODE, 0x37, rd=X, imm=IMM_U),
    Insn("auipc", MASK_OPCODE, 0x17, rd=X, imm=IMM_U),
    Insn("jal", MASK_OPCODE, 0x6F, rd=X, imm=IMM_J),
    Insn("jalr", MASK_F3, 0x67, rd=X, rs1=X, imm=IMM_I),
    _branch("beq", 0), _branch("bne", 1), _branch("blt", 4),
    _branch("bge", 5), _branch("bltu", 6), _branch("bgeu", 7),
    _load("lb", 0), _load("lh", 1), _load("lw", 2), _load("lbu", 4), _load("lhu", 5),
    _store("sb", 0), _store("sh", 1), _store("sw", 2),
    _i("addi", 0), _i("slti", 2), _i("sltiu", 3), _i("xori", 4), _i("ori", 6), _i("andi", 7),
    _shift_imm("slli", 0x00, 1), _shift_imm("srli", 0x00, 5), _shift_imm("srai", 0x20, 5),
    _r("add", 0x00, 0), _r("sub", 0x20, 0), _r("sll", 0x00, 1), _r("slt", 0x00, 2),
    _r("sltu", 0x00, 3), _r("xor", 0x00, 4), _r("srl", 0x00, 5), _r("sra", 0x20, 5),
    _r("or", 0x00, 6), _r("and", 0x00, 7),
    Insn("fence", MASK_F3, 0x0F, imm=IMM_FENCE),
    Insn("ecall", MASK_EXACT, 0x00000073),
    Insn("ebreak", MASK_EXACT, 0x00100073),
    # --- privileged ------------------------------------------------------------
    Insn("mret", MASK_EXACT, 0x30200073),
    Insn("wfi", MASK_EXACT, 0x10500073),
    # --- Zifencei / Zicsr --------------------------------------------------------
    Insn("fence.i", MASK_F3, 0x100F),
    _csr("csrrw", 1, False), _csr("csrrs", 2, False), _csr("csrrc", 3, False),
    _csr("csrrwi", 5, True), _csr("csrrsi", 6, True), _csr("csrrci", 7, True),
    # --- M ---------------------------------------------------------------------
    _r("mul", 0x01, 0), _r("mulh", 0x01, 1), _r("mulhsu", 0x01, 2), _r("mulhu", 0x01, 3),
    _r("div", 0x01, 4), _r("divu", 0x01, 5), _r("rem", 0x01, 6), _r("remu", 0x01, 7),
    # --- F ---------------------------------------------------------------------
    Insn("flw", MASK_F3, (2 << 12) | 0x07, rd=F, rs1=X, imm=IMM_I, is_fp=True),
    Insn("fsw", MASK_F3, (2 << 12) | 0x27, rs1=X, rs2=F, imm=IMM_S, is_fp=True),
    _r4("fmadd.s", 0x43), _r4("fmsub.s", 0x47), _r4("fnmsub.s", 0x4B), _r4("fnmadd.s", 0x4F),
    _fp_rm("fadd.s", 0x00), _fp_rm("fsub.s", 0x04), _fp_rm("fmul.s", 0x08), _fp_rm("fdiv.s", 0x0C),
    _fp_unary_rm("fsqrt.s", 0x2C, 0, F, F),
    _fp_f3("fsgnj.s", 0x10, 0), _fp_f3("fsgnjn.s", 0x10, 1), _fp_f3("fsgnjx.s", 0x10, 2),
    _fp_f3("fmin.s", 0x14, 0), _fp_f3("fmax.s", 0x14, 1),
    _fp_unary_rm("fcvt.w.s", 0x60, 0, X, F), _fp_unary_rm("fcvt.wu.s", 0x60, 1, X, F),
    # fmv.x.w / fmv.w.x do not use an FPU (cluster.md), but wait for an FP divide like any FP op.
    _fp_unary_f3("fmv.x.w", 0x70, 0, X, F, uses_fpu=False),
    _fp_f3("feq.s", 0x50, 2, rd=X), _fp_f3("flt.s", 0x50, 1, rd=X), _fp_f3("fle.s", 0x50, 0, rd=X),
    _fp_unary_f3("fclass.s", 0x70, 1, X, F),
    _fp_unary_rm("fcvt.s.w", 0x68, 0, F, X), _fp_unary_rm("fcvt.s.wu", 0x68, 1, F, X),
    _fp_unary_f3("fmv.w.x", 0x78, 0, F, X, uses_fpu=False),
)

# Pseudo operations of the code table: "illegal" (a word that is no instruction) and
# "nocode" (fetch from unmapped memory) raise the matching exception; "stale" marks code
# that must be decoded (again) before it runs.
PSEUDO_OPS = ("illegal", "nocode", "stale")

NUM_OPS = len(INSTRUCTIONS) + len(PSEUDO_OPS)

# OP_<NAME> constants (engine dispatch ids), one per table row, then the pseudo
# ops. They are generated so that the table stays the single source of truth.
for _i_op, _insn in enumerate(INSTRUCTIONS):
    globals()[_insn.const] = _i_op
OP_ILLEGAL = len(INSTRUCTIONS)
OP_NOCODE = len(INSTRUCTIONS) + 1
OP_STALE = len(INSTRUCTIONS) + 2

OP_BY_NAME = {insn.name: i for i, insn in enumerate(INSTRUCTIONS)}


def _check_table() -> None:
    """Encodings must be consistent (match within mask) and names unique."""
    names = set()
    for insn in INSTRUCTIONS:
        assert insn.match & ~insn.mask & 0xFFFFFFFF == 0, insn.name
        assert insn.name not in names, insn.name
        names.add(insn.name)


_check_table()

# Rounding modes (funct3 / frm encoding).
RM_NAMES = ("rne", "rtz", "rdn", "rup", "rmm", "rm5", "rm6", "dyn")
RM_DYN = 7
