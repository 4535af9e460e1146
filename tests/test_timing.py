"""Cycle-exact timing microbenchmarks: one or more tests per rule of the core
timing model (docs/timing.md: the CV32E40P instruction timings and the
pipeline rules measured on its RTL).

Method: an assembly program repeats an instruction pattern N times in a loop
between two ``csrr mcycle`` reads and exits with the difference as its exit
code.  Every expected value below is derived by hand from the rule, never
from the simulator.  The harness
(see :func:`program`)::

        <setup>                   # registers, data, FPU on; not measured
        li    t6, N
        csrr  s0, mcycle          # issue cycle c0; costs 4 (mcycle flushes)
    1:  <pattern>                 # P cycles
        addi  t6, t6, -1          # 1 (ALU result forwarded to bnez: no stall)
        bnez  t6, 1b              # taken: 3; last iteration falls through: 1
        csrr  s1, mcycle          # value = its issue cycle c1
        sub   a0, s1, s0          # exit code = c1 - c0

A ``csrr rd, mcycle`` returns the number of cycles elapsed before it issues,
so the delta is

    delta = 4 (first csrr) + N * (P + 1 + 3) - 2 (last bnez not taken)

(:func:`loop_total`).  Every test checks this exact total for two loop counts
N1 and N2, and separately that the per-iteration cost
``(delta(N2) - delta(N1)) / (N2 - N1) - 4`` equals P, which does not depend on
anything outside the loop.  Every run also checks that the core's stall
breakdown adds up (cycles == instructions + sum of stalls).

Patterns are written so that they have no hazard on the loop's own
instructions (t6, s0, s1 are reserved; the pattern never ends with a load
whose destination the ``addi`` touches, nor with an FP divide in flight
unless the test says so).
"""

from __future__ import annotations

import re

import pytest

import pulpsim
from pulpsim import toolchain

N1, N2 = 10, 25
CORESTATUS = 0x1A1040A0

# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------

# Common set-up (before the first mcycle read, so never measured):
#   FPU on (mstatus.FS), fcsr = 0 (round to nearest even),
#   a1 = buf (16-byte aligned scratch memory), buf[0] = &buf (a pointer, for the
#   "load address" consumer), buf[1] = 5 (non-zero, for branches),
#   t1 = 7, t2 = 3, a2 = 1,
#   ft1 = 1.5, ft2 = 2.25, ft4 = +0.0, ft5 = 3.0.
_COMMON_SETUP = """
    li      t0, 0x6000
    csrs    mstatus, t0
    csrw    fcsr, zero
    la      a1, buf
    sw      a1, 0(a1)
    li      t0, 5
    sw      t0, 4(a1)
    li      t1, 7
    li      t2, 3
    li      a2, 1
    li      t0, 0x3FC00000
    fmv.w.x ft1, t0
    li      t0, 0x40100000
    fmv.w.x ft2, t0
    fmv.w.x ft4, zero
    li      t0, 0x40400000
    fmv.w.x ft5, t0
"""

_TEMPLATE = """
    .section .text.init, "ax", @progbits
    .globl _start
_start:
{common}
{setup}
    li      t6, {n}
    csrr    s0, mcycle
{pre}
1:
{body}
    addi    t6, t6, -1
    bnez    t6, 1b
    csrr    s1, mcycle
    sub     a0, s1, s0
    li      t0, 0x{corestatus:08X}
    li      t1, 0x80000000
    or      t1, t1, a0
    sw      t1, 0(t0)
2:  j       2b
{extra_text}
    .section .data
    .balign 16
buf:
    .space  64
"""


def _indent(text: str) -> str:
    lines = []
    for line in text.strip("\n").splitlines():
        line = line.strip()
        if not line:
            continue
        # labels stay in column 0, instructions are indented
        lines.append(line if re.match(r"^[.\w]+:$", line) else "    " + line)
    return "\n".join(lines)


def program(body: str, n: int, setup: str = "", pre: str = "", extra_text: str = "") -> str:
    """The assembly text of one microbenchmark (see the module docstring)."""
    return _TEMPLATE.format(common=_indent(_COMMON_SETUP), setup=_indent(setup), n=n, pre=_indent(pre),
                            body=_indent(body), corestatus=CORESTATUS, extra_text=extra_text)


def check_breakdown(res) -> None:
    """The stall breakdown adds up: cycles == instructions + sum(stalls)."""
    core = res.cores[0]
    assert core.cycles == core.instructions + sum(core.stalls.values()), (
        f"stall breakdown does not add up: cycles={core.cycles} instructions={core.instructions} "
        f"stalls={core.stalls}")


def run_asm(text: str, *, breakdown: bool = True, **overrides):
    """Build and run on the ``single`` preset (1-cycle memories); check the
    stall breakdown unless ``breakdown=False`` (the caller then checks it)."""
    elf = toolchain.build_asm(text, runtime=False, name="timing")
    res = pulpsim.run(elf, platform="single", overrides=overrides or None)
    assert res.cores[0].exit_code is None and res.stdout == ""
    if breakdown:
        check_breakdown(res)
    return res


def measure(body: str, n: int, setup: str = "", pre: str = "", extra_text: str = "", *,
            breakdown: bool = True, **overrides) -> int:
    """mcycle delta of the loop program with n iterations."""
    return run_asm(program(body, n, setup, pre, extra_text), breakdown=breakdown, **overrides).exit_code


def loop_total(n: int, p: int) -> int:
    """Hand-derived delta of the harness loop with an n-fold pattern of p cycles:
    4 (the first csrr mcycle) + n * (p + 1 [addi] + 3 [taken bnez]) - 2 (the
    last bnez is not taken: 1 instead of 3)."""
    return 4 + n * (p + 1 + 3) - 2


def check_loop(body: str, p: int, setup: str = "", **overrides) -> None:
    """Assert the exact totals for N1 and N2 and the per-iteration cost p."""
    d1 = measure(body, N1, setup, **overrides)
    d2 = measure(body, N2, setup, **overrides)
    assert (d1, d2) == (loop_total(N1, p), loop_total(N2, p)), (
        f"mcycle deltas {d1}, {d2} != expected {loop_total(N1, p)}, {loop_total(N2, p)} "
        f"(pattern of {p} cycles)\n{body}")
    per_iter, rem = divmod(d2 - d1, N2 - N1)
    assert rem == 0 and per_iter - 4 == p, (
        f"per-iteration cost {(d2 - d1) / (N2 - N1) - 4} != expected {p}\n{body}")


def fsetup(**regs: int) -> str:
    """Set FP registers to raw binary32 patterns: fsetup(ft1=0x3F800000)."""
    out = []
    for name, bits in regs.items():
        out += [f"li t0, 0x{bits & 0xFFFFFFFF:08X}", f"fmv.w.x {name}, t0"]
    return "\n".join(out)


def xsetup(**regs: int) -> str:
    return "\n".join(f"li {name}, {value}" for name, value in regs.items())


# ---------------------------------------------------------------------------
# Harness conventions
# ---------------------------------------------------------------------------

def test_mcycle_read_convention():
    """Two back-to-back csrr mcycle differ by 4 (the first one's cost: the value
    is the cycle count before the csrr issues); one ALU instruction in between
    adds 1."""
    tail = """
    csrr    s1, mcycle
    sub     a0, s1, s0
    li      t0, 0x1A1040A0
    li      t1, 0x80000000
    or      t1, t1, a0
    sw      t1, 0(t0)
2:  j       2b
"""
    head = '    .section .text.init, "ax", @progbits\n    .globl _start\n_start:\n    csrr    s0, mcycle\n'
    assert run_asm(head + tail).exit_code == 4
    assert run_asm(head + "    addi t3, t3, 1\n" + tail).exit_code == 5


def test_loop_overhead():
    """Empty pattern: only addi (1) + taken bnez (3) per iteration."""
    check_loop("", 0)


# ---------------------------------------------------------------------------
# ALU, mul, mulh, div
# ---------------------------------------------------------------------------

ALU_OPS = [
    "add t0, t0, t1", "sub t0, t0, t1", "sll t0, t0, t2", "srl t0, t0, t2", "sra t0, t0, t2",
    "slt t0, t0, t1", "sltu t0, t0, t1", "xor t0, t0, t1", "or t0, t0, t1", "and t0, t0, t1",
    "addi t0, t0, 3", "slli t0, t0, 1", "srli t0, t0, 1", "srai t0, t0, 1", "slti t0, t0, 9",
    "sltiu t0, t0, 9", "xori t0, t0, 5", "ori t0, t0, 5", "andi t0, t0, 5",
]


@pytest.mark.parametrize("op", ALU_OPS, ids=lambda s: s.split()[0])
def test_alu_dependent_back_to_back(op):
    """Row "ALU, dependent back-to-back: 1 (full forwarding)": four copies of
    the op, each reading the previous one's result (t0): 4 x 1 = 4."""
    check_loop("\n".join([op] * 4), 4)


def test_alu_lui_auipc_chain():
    """lui and auipc (no source register) feeding a dependent chain: 6 x 1."""
    body = """
    lui   t0, 0x12345
    add   t0, t0, t1
    auipc t3, 0
    sub   t0, t0, t3
    slt   t3, t0, t1
    or    t0, t0, t3
    """
    check_loop(body, 6)


def test_mul_dependent():
    """Row "mul: 1": a chain of 4 dependent mul (result forwarded EX->ID, no
    stall) followed by a dependent add: 5 x 1."""
    body = "\n".join(["mul t0, t0, t1"] * 4 + ["add t3, t0, t1"])
    check_loop(body, 5)


@pytest.mark.parametrize("op", ["mulh", "mulhsu", "mulhu"])
def test_mulh(op):
    """Row "mulh, mulhsu, mulhu: 5 (no extra stall for a dependent successor)":
    mulh (5) + dependent mulh (5) + dependent add (1) = 11."""
    body = f"""
    {op} t0, t1, t2
    {op} t0, t0, t1
    add  t3, t0, t1
    """
    check_loop(body, 11)


# Divider cost by divisor b (CV32E40P user manual, instruction execution table; RTL cv32e40p_div):
#   unsigned ops, and signed ops with b >= 0: 3 + clz32(b)     (clz32(0) = 32)
#   signed ops with b < 0:                    2 + clz32(~b)
# (b, cycles for div/rem, cycles for divu/remu), each worked out by hand:
DIV_CASES = [
    (0, 35, 35),                   # clz(0) = 32 -> 3 + 32
    (-1, 34, 3),                   # signed: ~b = 0, clz 32 -> 2 + 32; unsigned 0xFFFFFFFF: clz 0 -> 3
    (-2, 33, 3),                   # ~b = 1, clz 31 -> 33
    (-3, 32, 3),                   # ~b = 2, clz 30 -> 32
    (-9, 30, 3),                   # ~b = 8, clz 28 -> 30
    (-1000003, 14, 3),             # ~b = 1000002 < 2^20, >= 2^19: clz 12 -> 14
    (-0x80000000, 3, 3),           # signed: ~b = 0x7FFFFFFF, clz 1 -> 3; unsigned 0x80000000: clz 0 -> 3
    (0x40000000, 4, 4),            # clz 1 -> 4
    (0x7FFFFFFF, 4, 4),            # clz 1 -> 4
    (0x10000, 18, 18),             # clz 15 -> 18
    (0xFF, 27, 27),                # clz 24 -> 27
    (3, 33, 33),                   # clz 30 -> 33
    (1, 34, 34),                   # clz 31 -> 34
]


@pytest.mark.parametrize("op", ["div", "rem", "divu", "remu"])
@pytest.mark.parametrize("b, signed_cycles, unsigned_cycles", DIV_CASES,
                         ids=[f"b={c[0]:#x}" if c[0] >= 0 else f"b={c[0]}" for c in DIV_CASES])
def test_div_divisor(op, b, signed_cycles, unsigned_cycles):
    """Row "div, divu, rem, remu": data-dependent on the divisor only."""
    k = signed_cycles if op in ("div", "rem") else unsigned_cycles
    check_loop(f"{op} t0, t1, a2", k, setup=xsetup(t1=1000, a2=b))


@pytest.mark.parametrize("op, b, k", [
    ("div", 7, 32),        # clz(7) = 29 -> 3 + 29
    ("divu", 7, 32),
    ("rem", -7, 31),       # ~(-7) = 6, clz 29 -> 2 + 29
    ("div", -1, 34),       # includes the overflow case -2^31 / -1
])
@pytest.mark.parametrize("a", [0, 1, -1, 0x7FFFFFFF, -0x80000000, 1000003, -12345])
def test_div_dividend_does_not_matter(op, b, k, a):
    """Row "div...": "The dividend does not matter"."""
    check_loop(f"{op} t0, t1, a2", k, setup=xsetup(t1=a, a2=b))


def test_div_result_forwarded():
    """The divider result is forwarded (ALU write port), a dependent
    instruction has no extra stall: divu by 3 (33) + dependent add (1) +
    dependent div by 0xFF (27) = 61."""
    body = """
    divu t0, t1, a2
    add  t3, t0, t1
    div  t0, t0, a3
    """
    check_loop(body, 61, setup=xsetup(t1=100000, a2=3, a3=0xFF))


# ---------------------------------------------------------------------------
# Loads and stores
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("insn", [
    "lw t0, 8(a1)", "lh t0, 10(a1)", "lhu t0, 8(a1)", "lb t0, 11(a1)", "lbu t0, 9(a1)",
    "flw ft0, 8(a1)", "sw t1, 8(a1)", "sh t1, 10(a1)", "sb t1, 11(a1)", "fsw ft1, 8(a1)",
], ids=lambda s: s.split()[0])
def test_load_store_aligned(insn):
    """Row "load / store, aligned: 1": two independent copies: 2 x 1."""
    check_loop(f"{insn}\n{insn}", 2)


def test_load_store_aligned_mixed():
    """Ten independent aligned loads and stores back to back: 10 x 1."""
    body = """
    lw   t0, 8(a1)
    lh   t3, 12(a1)
    lhu  t4, 14(a1)
    lb   t5, 16(a1)
    lbu  a4, 17(a1)
    sw   t1, 20(a1)
    sh   t1, 24(a1)
    sb   t1, 27(a1)
    flw  ft0, 28(a1)
    fsw  ft1, 32(a1)
    """
    check_loop(body, 10)


# (id, producer load, consumer); every consumer reads the load's result.
LOAD_USE_CASES = [
    ("alu_rs1", "lw t0, 4(a1)", "add t3, t0, t1"),
    ("alu_rs2", "lw t0, 4(a1)", "sub t3, t1, t0"),
    ("alu_imm", "lw t0, 4(a1)", "addi t3, t0, 1"),
    ("lh_alu", "lh t0, 4(a1)", "add t3, t0, t1"),
    ("lhu_alu", "lhu t0, 4(a1)", "add t3, t0, t1"),
    ("lb_alu", "lb t0, 4(a1)", "add t3, t0, t1"),
    ("lbu_alu", "lbu t0, 4(a1)", "add t3, t0, t1"),
    ("mul", "lw t0, 4(a1)", "mul t3, t0, t1"),
    ("store_data", "lw t0, 4(a1)", "sw t0, 8(a1)"),
    ("store_address", "lw t0, 0(a1)", "sw t1, 8(t0)"),
    ("load_address", "lw t0, 0(a1)", "lw t3, 4(t0)"),
    ("flw_fadd_rs1", "flw ft0, 4(a1)", "fadd.s ft3, ft0, ft1"),
    ("flw_fadd_rs2", "flw ft0, 4(a1)", "fmul.s ft3, ft1, ft0"),
    ("flw_fmadd_rs3", "flw ft0, 4(a1)", "fmadd.s ft3, ft1, ft2, ft0"),
    ("flw_fsw_data", "flw ft0, 4(a1)", "fsw ft0, 8(a1)"),
    ("lw_fmv_w_x", "lw t0, 4(a1)", "fmv.w.x ft3, t0"),
    ("lw_fcvt_s_w", "lw t0, 4(a1)", "fcvt.s.w ft3, t0"),
]


@pytest.mark.parametrize("producer, consumer", [c[1:] for c in LOAD_USE_CASES],
                         ids=[c[0] for c in LOAD_USE_CASES])
def test_load_use(producer, consumer):
    """Row "load followed immediately by an instruction that uses its result:
    +1": load (1) + stall (1) + consumer (1) = 3."""
    check_loop(f"{producer}\n{consumer}", 3)


@pytest.mark.parametrize("producer, consumer", [c[1:] for c in LOAD_USE_CASES],
                         ids=[c[0] for c in LOAD_USE_CASES])
def test_load_use_one_instruction_between(producer, consumer):
    """Same row, "with one instruction in between: 0": load (1) + independent
    addi (1) + consumer (1) = 3, no stall."""
    check_loop(f"{producer}\naddi a5, a5, 1\n{consumer}", 3)


def test_load_use_branch_operand():
    """Branch operand consumer (see also the branch rows): lw (1) + stall (1) +
    not-taken beq (1) = 3."""
    check_loop("lw t0, 4(a1)\nbeq t0, zero, 3f\n3:", 3)


@pytest.mark.parametrize("body, p", [
    # RTL load_stall (cv32e40p_controller.sv): the instruction right after a load also stalls when
    # it *writes* the load's destination through the ALU write port (WAW) ...
    ("lw t0, 4(a1)\naddi t0, t1, 1", 3),          # 1 + 1 stall + 1
    ("lw t0, 4(a1)\nlui t0, 1", 3),               # 1 + 1 stall + 1
    # ... not an FP-unit instruction: it writes through the FPU's port (regfile_we_id not set): 1 + 1
    ("flw ft0, 4(a1)\nfadd.s ft0, ft1, ft2", 2),
    # ... except when that instruction is itself a load: 1 + 1
    ("lw t0, 4(a1)\nlw t0, 8(a1)", 2),
    ("flw ft0, 4(a1)\nflw ft0, 8(a1)", 2),
    # no dependency at all: 1 + 1
    ("lw t0, 4(a1)\naddi t3, t1, 1", 2),
    ("lw t0, 4(a1)\nsw t1, 8(a1)", 2),
    ("flw ft0, 4(a1)\nfadd.s ft3, ft1, ft2", 2),
], ids=["lw_waw_alu", "lw_waw_lui", "flw_waw_fadd", "lw_lw_same_rd", "flw_flw_same_rd",
        "lw_indep_alu", "lw_indep_sw", "flw_indep_fadd"])
def test_load_waw(body, p):
    check_loop(body, p)


@pytest.mark.parametrize("body, p", [
    # the WAW term compares register numbers with no x0 exception: a load into x0, then any ALU-port
    # writer of x0 (a nop is addi x0, x0, 0) is held 1: 1 + 1 + 1
    ("lw zero, 4(a1)\nnop", 3),
    ("lbu zero, 4(a1)\nadd zero, t1, t2", 3),
    # FP instructions that write the loaded integer register do not use the ALU port: 1 + 1
    ("lw t0, 4(a1)\nfmv.x.w t0, ft1", 2),
    ("lw t0, 4(a1)\nfeq.s t0, ft1, ft2", 2),
    ("lw t0, 4(a1)\nfcvt.w.s t0, ft1", 2),
    # a jal linking into the loaded register is held 1 (and, held in decode, costs 1): 1 + 1 + 1
    ("lw t0, 4(a1)\njal t0, 3f\n3:", 3),
], ids=["lw_x0_nop", "lbu_x0_add", "lw_fmv_x_w", "lw_feq", "lw_fcvt_w_s", "lw_jal_link"])
def test_load_waw_alu_port_only(body, p):
    """The load write-after-write stall applies only to writers of the ALU port, x0 included
    (cv32e40p_controller.sv load_stall: reg_d_ex_is_reg_d_id with regfile_we_id, the ALU-port write
    enable, which FP instructions do not set)."""
    check_loop(body, p)


@pytest.mark.parametrize("insn", [
    "lw t0, 1(a1)", "lw t0, 2(a1)", "lw t0, 3(a1)",
    "sw t1, 1(a1)", "sw t1, 2(a1)", "sw t1, 3(a1)",
    "lh t0, 3(a1)", "lhu t0, 3(a1)", "sh t1, 3(a1)",
    "lh t0, 7(a1)", "sh t1, 7(a1)",
], ids=lambda s: s.replace(" ", "_").replace(",", "").replace("(a1)", ""))
def test_misaligned_crossing_word(insn):
    """Row "misaligned lw/sw, or lh/sh crossing a word boundary: 2": two
    independent copies: 2 x 2 = 4."""
    check_loop(f"{insn}\n{insn}", 4)


@pytest.mark.parametrize("insn", [
    "lh t0, 1(a1)", "lhu t0, 1(a1)", "sh t1, 1(a1)", "lh t0, 5(a1)", "sh t1, 9(a1)",
], ids=lambda s: s.replace(" ", "_").replace(",", "").replace("(a1)", ""))
def test_misaligned_halfword_inside_word(insn):
    """Row "lh/sh misaligned but inside one word: 1": 2 x 1 = 2."""
    check_loop(f"{insn}\n{insn}", 2)


# ---------------------------------------------------------------------------
# Branches and jumps
# ---------------------------------------------------------------------------

# t1 = 7, t2 = 3 (common set-up); each branch targets the next instruction.
NOT_TAKEN = ["beq t1, t2, 3f", "bne t1, t1, 3f", "blt t1, t2, 3f", "bge t2, t1, 3f",
             "bltu t1, t2, 3f", "bgeu t2, t1, 3f"]
TAKEN = ["beq t1, t1, 3f", "bne t1, t2, 3f", "blt t2, t1, 3f", "bge t1, t2, 3f",
         "bltu t2, t1, 3f", "bgeu t1, t2, 3f"]


@pytest.mark.parametrize("insn", NOT_TAKEN, ids=lambda s: s.split()[0])
def test_branch_not_taken(insn):
    """Row "branch not taken: 1"."""
    check_loop(f"{insn}\n3:", 1)


@pytest.mark.parametrize("insn", TAKEN, ids=lambda s: s.split()[0])
def test_branch_taken(insn):
    """Row "branch taken: 3"."""
    check_loop(f"{insn}\n3:", 3)


def test_branch_taken_skips():
    """A taken branch over two instructions (never executed): 3."""
    check_loop("beq t1, t1, 3f\naddi t3, t3, 1\naddi t3, t3, 1\n3:", 3)


@pytest.mark.parametrize("body, p", [
    # buf[1] = 5: lw (1) + load-use stall (1) + not taken (1) = 3
    ("lw t0, 4(a1)\nbeq t0, zero, 3f\n3:", 3),
    ("lw t0, 4(a1)\nbeq zero, t0, 3f\n3:", 3),
    ("lw t0, 4(a1)\nblt t0, t2, 3f\n3:", 3),
    # one instruction in between: no stall: 1 + 1 + 1
    ("lw t0, 4(a1)\naddi a5, a5, 1\nbeq t0, zero, 3f\n3:", 3),
    # the load writes a register the branch does not read: 1 + 1
    ("lw t0, 4(a1)\nbeq t1, zero, 3f\n3:", 2),
], ids=["rs1", "rs2", "blt", "gap", "independent"])
def test_branch_not_taken_after_load(body, p):
    """Row "branch not taken: 1 (+1 if an operand comes from the immediately
    preceding load)"."""
    check_loop(body, p)


@pytest.mark.parametrize("body, p", [
    # lw (1) + load-use stall (1) + taken (3) = 5
    ("lw t0, 4(a1)\nbne t0, zero, 3f\n3:", 5),
    ("lw t0, 4(a1)\nbne zero, t0, 3f\n3:", 5),
    ("lw t0, 4(a1)\nbge t0, t2, 3f\n3:", 5),
    # one instruction in between: 1 + 1 + 3
    ("lw t0, 4(a1)\naddi a5, a5, 1\nbne t0, zero, 3f\n3:", 5),
    # independent load: 1 + 3
    ("lw t0, 4(a1)\nbne t1, zero, 3f\n3:", 4),
], ids=["rs1", "rs2", "bge", "gap", "independent"])
def test_branch_taken_after_load(body, p):
    """Row "branch taken: 3 (+1 if an operand comes from the immediately
    preceding load)"."""
    check_loop(body, p)


@pytest.mark.parametrize("body, p", [
    ("jal zero, 3f\n3:", 2),
    ("jal ra, 3f\n3:", 2),
    ("jal zero, 3f\naddi t3, t3, 1\naddi t3, t3, 1\n3:", 2),   # skipped instructions never execute
    ("jal ra, 3f\n3:\nadd t3, ra, t1", 3),                      # 2 + 1: the link value needs no stall
], ids=["j", "jal_ra", "skip", "link_used"])
def test_jal(body, p):
    """Row "jal: 2"."""
    check_loop(body, p)


_JALR_SETUP = "la a3, .Ljt\nsw a3, 8(a1)"   # a3 = buf[2] = address of .Ljt (the jalr target)


@pytest.mark.parametrize("body, p", [
    # jalr whose rs1 was written long before (set-up): 2
    ("jalr zero, 0(a3)\n.Ljt:", 2),
    ("jalr ra, 0(a3)\n.Ljt:", 2),
    # previous instruction is an ALU op writing another register: 1 + 2
    ("addi a4, a3, 0\njalr zero, 0(a3)\n.Ljt:", 3),
    # one instruction between the dependent ALU op and the jalr: 1 + 1 + 2
    ("addi a4, a3, 0\naddi a5, a5, 1\njalr zero, 0(a4)\n.Ljt:", 4),
], ids=["independent", "link", "alu_other_reg", "alu_gap"])
def test_jalr(body, p):
    """Row "jalr: 2"."""
    check_loop(body, p, setup=_JALR_SETUP)


@pytest.mark.parametrize("body, p", [
    ("addi a4, a3, 0\njalr zero, 0(a4)\n.Ljt:", 4),                 # 1 + 3
    ("add a4, a3, zero\njalr ra, 0(a4)\n.Ljt:", 4),                 # 1 + 3
    ("auipc a4, 0\njalr zero, 8(a4)\n.Ljt:", 4),                    # 1 + 3 (target = auipc pc + 8)
    ("lui a4, %hi(.Ljt)\njalr zero, %lo(.Ljt)(a4)\n.Ljt:", 4),      # 1 + 3
], ids=["addi", "add_link", "auipc", "lui"])
def test_jalr_after_dependent_alu(body, p):
    """Row "jalr: 3 if rs1 is written by the immediately preceding ALU
    instruction": ALU (1) + jalr (3) = 4."""
    check_loop(body, p, setup=_JALR_SETUP)


def test_lw_dependent_jalr():
    """Row "jalr: lw followed by dependent jalr = 5 for the pair"."""
    check_loop("lw a4, 8(a1)\njalr zero, 0(a4)\n.Ljt:", 5, setup=_JALR_SETUP)


def test_lw_dependent_jalr_with_link():
    """Same pair with a link register (rd = ra): 5."""
    check_loop("lw a4, 8(a1)\njalr ra, 0(a4)\n.Ljt:", 5, setup=_JALR_SETUP)


@pytest.mark.parametrize("body, p", [
    # a3 = .Ljt = the jalr's own pc + 4, so linking into a3 keeps it: the jalr alone costs 3
    ("jalr a3, 0(a3)\n.Ljt:", 3),
    # the usual far call: auipc (1) + jalr dependent on it (1 jr_stall + 3) = 5
    ("auipc ra, 0\njalr ra, 8(ra)\n.Ljt:", 5),
], ids=["no_dependency", "auipc_far_call"])
def test_jalr_links_into_its_rs1(body, p):
    """A jalr with rd == rs1 != x0 costs 3: after it issues, the decode register still holds it, and
    jr_stall on that stale copy (the jalr in EX writes its own rs1) holds the fetched target a cycle
    (cv32e40p_id_stage.sv reg_d_alu_is_reg_a, cv32e40p_controller.sv jr_stall)."""
    check_loop(body, p, setup=_JALR_SETUP)


@pytest.mark.parametrize("middle", [
    "addi t3, t3, 1", "nop", "mul t3, t1, t2", "lw t4, 4(a1)", "sw t1, 12(a1)", "beq t1, t2, .Ljt",
], ids=["addi", "nop", "mul", "lw", "sw", "branch_not_taken"])
def test_jalr_load_in_writeback(middle):
    """lw a4; one 1-cycle instruction; jalr using a4: the load is in write-back in the jalr's first
    decode cycle, which raises jr_stall (cv32e40p_controller.sv, its write-back term): 1 + 1 + (1 + 2)
    = 5, whatever the middle instruction (t1 = 7 != t2 = 3: the beq is not taken)."""
    check_loop(f"lw a4, 8(a1)\n{middle}\njalr zero, 0(a4)\n.Ljt:", 5, setup=_JALR_SETUP)


def test_jalr_load_two_instructions_before():
    """With two instructions between the load and the jalr the load has left write-back:
    1 + 1 + 1 + 2 = 5."""
    check_loop("lw a4, 8(a1)\naddi t3, t3, 1\naddi t4, t4, 1\njalr zero, 0(a4)\n.Ljt:", 5,
               setup=_JALR_SETUP)


@pytest.mark.parametrize("body, p", [
    # jal ra to the next instruction, a jalr there returning through ra + 4: jal 2 + jalr 2
    ("jal ra, 3f\n3:\njalr zero, 4(ra)", 4),
    # the same after a jalr that links: jalr 2 + jalr 2
    ("jalr ra, 0(a3)\n.Ljt:\njalr zero, 4(ra)", 4),
], ids=["after_jal", "after_jalr"])
def test_jalr_at_jump_target_uses_fresh_link(body, p):
    """A jalr at a jump's target that uses the link the jump just wrote has no jalr-dependency stall:
    the link is no ALU result in EX any more when the target is decoded (2 cycles later)."""
    check_loop(body, p, setup=_JALR_SETUP if ".Ljt" in body else "")


@pytest.mark.parametrize("body, p", [
    ("mulh t3, t1, t2\njal zero, 3f\n3:", 6),             # mulh 5 + jal 1
    ("mulh t3, t1, t2\njalr zero, 0(a3)\n.Ljt:", 6),      # mulh 5 + jalr 1
    ("divu t3, t1, a2\njal zero, 3f\n3:", 19),            # divu by 0x10000 (18) + jal 1
    ("lw t3, 1(a1)\njal zero, 3f\n3:", 3),                # misaligned lw (2) + jal 1
    ("sw t1, 2(a1)\njal ra, 3f\n3:", 3),                  # misaligned sw (2) + jal 1
    # a jump held in decode is followed at once by its target: its link is still the ALU result in
    # EX for a jalr there (1 jr_stall): mulh 5 + jal 1 + jalr (1 + 2)
    ("mulh t3, t1, t2\njal ra, 3f\n3:\njalr zero, 4(ra)", 9),
    # held by the jalr dependency instead: the fetch is redirected only when it clears: 1 + (1 + 2)
    ("addi a4, a3, 0\njalr zero, 0(a4)\n.Ljt:", 4),
    # after a flushing CSR the jump is fetched anew, nothing is early: 4 + 2
    ("csrr t3, mstatus\njal zero, 3f\n3:", 6),
], ids=["mulh_jal", "mulh_jalr", "divu_jal", "misaligned_lw_jal", "misaligned_sw_jal",
        "mulh_jal_link_used", "jalr_dependency", "csr_flush_jal"])
def test_jump_held_in_decode(body, p):
    """A jump that waits in decode while EX is busy (div, mulh, a misaligned access's second phase)
    costs 1: the controller redirects the fetch in its first decode cycle whether or not it can
    leave decode (cv32e40p_controller.sv DECODE state: jump_in_dec, pc_set, jump_done_q), so the
    target is decoded the cycle after the jump issues."""
    setup = xsetup(a2=0x10000) + ("\n" + _JALR_SETUP if ".Ljt" in body else "")
    check_loop(body, p, setup=setup)


# ---------------------------------------------------------------------------
# CSRs, fences
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("insn", [
    "csrr t0, mcycle", "csrr t0, minstret", "csrr t0, mcycleh", "csrr t0, minstreth",
    "csrr t0, mstatus", "csrw mstatus, a4", "csrs mstatus, a5",
    "csrr t0, mcountinhibit", "csrw mcountinhibit, zero",
], ids=lambda s: s.replace(" ", "_").replace(",", ""))
def test_csr_flushing(insn):
    """Row "csr access to mcycle/minstret/mstatus/mcountinhibit: 4" (and the
    h halves, CV32E40P decoder csr_status): 2 x 4 = 8.  a4 = the current mstatus,
    a5 = mstatus.FS bits (already set), so the writes change nothing."""
    check_loop(f"{insn}\n{insn}", 8, setup="csrr a4, mstatus\nli a5, 0x6000")


@pytest.mark.parametrize("insn", [
    "csrr t0, mscratch", "csrw mscratch, t1", "csrrw t0, mscratch, t1",
    "csrr t0, fcsr", "csrr t0, fflags", "csrw fflags, zero", "csrwi fflags, 1", "csrr t0, frm",
    "csrrs t0, frm, zero", "csrrsi t0, fcsr, 0",
], ids=lambda s: s.replace(" ", "_").replace(",", ""))
def test_csr_fast(insn):
    """Row "csr access to mscratch, fflags, and reads of fcsr/frm: 1": 2 x 1 = 2.  A csrrs/csrrsi
    with rs1 = x0 / uimm = 0 only reads."""
    check_loop(f"{insn}\n{insn}", 2)


@pytest.mark.parametrize("insn", [
    "csrw fcsr, zero", "csrwi frm, 0", "csrw frm, zero", "csrrw t0, fcsr, zero", "csrs frm, t3",
    "csrci fcsr, 2",
], ids=lambda s: s.replace(" ", "_").replace(",", ""))
def test_csr_fp_mode_write_flushes(insn):
    """Writes to frm or fcsr flush the pipeline like mstatus (CV32E40P decoder: csr_status for CSR_FRM
    and CSR_FCSR when csr_op != CSR_OP_READ), for every write form and even when the value does not
    change (t3 = 0, fcsr.frm = 0 and bit 1 of fcsr is a flag): 2 x 4 = 8."""
    check_loop(f"{insn}\n{insn}", 8, setup="li t3, 0")


def _counter_program(body: str) -> str:
    """A program whose exit code is the value of `csrr a0, <counter>` at the end of body."""
    return ('    .section .text.init, "ax", @progbits\n    .globl _start\n_start:\n' + _indent(body)
            + "\n    li t0, 0x1A1040A0\n    li t1, 0x80000000\n    or t1, t1, a0\n    sw t1, 0(t0)\n2:  j 2b\n")


@pytest.mark.parametrize("body, value", [
    # csrw mcycle, zero costs 4 (flush); the read 4 cycles later gives 0 + 4 - 1
    ("csrw mcycle, zero\ncsrr a0, mcycle", 3),
    # csrw (4) + 5 addi: the read 9 cycles after the write gives 100 + 9 - 1
    ("li t2, 100\ncsrw mcycle, t2\n" + "addi t3, t3, 1\n" * 5 + "csrr a0, mcycle", 108),
    # minstret: the csrw itself is not counted, the 3 addi after it are
    ("csrw minstret, zero\ncsrr a0, minstret", 0),
    ("csrw minstret, zero\n" + "addi t3, t3, 1\n" * 3 + "csrr a0, minstret", 3),
], ids=["mcycle", "mcycle_later", "minstret", "minstret_later"])
def test_counter_write_cycle_not_counted(body, value):
    """A counter write loads the value instead of counting its own cycle (mcycle) or instruction
    (minstret): cv32e40p_cs_registers.sv mhpmcounter_write_lower and the counter increment."""
    assert run_asm(_counter_program(body)).exit_code == value


def test_csr_mscratch_dependent():
    """mscratch write, read back and use: 1 + 1 + 1 (no stall)."""
    check_loop("csrw mscratch, t1\ncsrr t0, mscratch\nadd t3, t0, t1", 3)


@pytest.mark.parametrize("insn", ["fence", "fence.i", "fence rw, rw"])
def test_fence(insn):
    """Row "fence, fence.i: 4": 2 x 4 = 8."""
    check_loop(f"{insn}\n{insn}", 8)


# ---------------------------------------------------------------------------
# FP (non-divide) operations
# ---------------------------------------------------------------------------

# (producer writing ft0 or t0, dependent consumer): latency-0 FPU, so the
# dependent FP op costs +0: 1 + 1 = 2.
FP_CASES = [
    ("fadd.s ft0, ft1, ft2", "fadd.s ft3, ft0, ft2"),
    ("fsub.s ft0, ft1, ft2", "fsub.s ft3, ft2, ft0"),
    ("fmul.s ft0, ft1, ft2", "fmul.s ft3, ft0, ft0"),
    ("fmadd.s ft0, ft1, ft2, ft5", "fmadd.s ft3, ft1, ft2, ft0"),
    ("fmsub.s ft0, ft1, ft2, ft5", "fmsub.s ft3, ft0, ft2, ft5"),
    ("fnmadd.s ft0, ft1, ft2, ft5", "fnmadd.s ft3, ft1, ft0, ft5"),
    ("fnmsub.s ft0, ft1, ft2, ft5", "fnmsub.s ft3, ft0, ft0, ft0"),
    ("fmin.s ft0, ft1, ft2", "fadd.s ft3, ft0, ft2"),
    ("fmax.s ft0, ft1, ft2", "fmin.s ft3, ft0, ft1"),
    ("fsgnj.s ft0, ft1, ft2", "fadd.s ft3, ft0, ft2"),
    ("fsgnjn.s ft0, ft1, ft2", "fmul.s ft3, ft0, ft2"),
    ("fsgnjx.s ft0, ft1, ft2", "fsgnj.s ft3, ft0, ft2"),
    ("feq.s t0, ft1, ft2", "fcvt.s.w ft3, t0"),
    ("flt.s t0, ft1, ft2", "fmv.w.x ft3, t0"),
    ("fle.s t0, ft1, ft2", "fcvt.s.wu ft3, t0"),
    ("fclass.s t0, ft1", "fcvt.s.w ft3, t0"),
    ("fcvt.w.s t0, ft1", "fcvt.s.w ft3, t0"),
    ("fcvt.wu.s t0, ft1", "fcvt.s.wu ft3, t0"),
    ("fcvt.s.w ft0, t1", "fadd.s ft3, ft0, ft1"),
    ("fcvt.s.wu ft0, t1", "fcvt.w.s t3, ft0"),
    ("fmv.x.w t0, ft1", "fmv.w.x ft3, t0"),
    ("fmv.w.x ft0, t1", "fmv.x.w t3, ft0"),
    # FP result used by an integer instruction / integer result used by FP, and an fsw of an FP result
    ("fcvt.w.s t0, ft1", "add t3, t0, t1"),
    ("fadd.s ft0, ft1, ft2", "fsw ft0, 8(a1)"),
]


@pytest.mark.parametrize("producer, consumer", FP_CASES, ids=lambda s: s.split()[0])
def test_fp_op_with_dependent(producer, consumer):
    """Row "fadd.s ... fmv.*: 1 (latency 0 config: dependent FP op next costs
    +0)": producer (1) + dependent consumer (1) = 2."""
    check_loop(f"{producer}\n{consumer}", 2)


def test_fp_dependent_chain():
    """Ten FP ops, each reading the previous result: 10 x 1."""
    body = """
    fadd.s    ft0, ft1, ft2
    fmul.s    ft0, ft0, ft1
    fmadd.s   ft0, ft0, ft1, ft2
    fsgnjn.s  ft0, ft0, ft0
    fmax.s    ft0, ft0, ft1
    fcvt.w.s  t0, ft0
    fcvt.s.w  ft0, t0
    fmv.x.w   t0, ft0
    fmv.w.x   ft0, t0
    fsub.s    ft3, ft0, ft2
    """
    check_loop(body, 10)


def test_int_alu_to_fp():
    """An integer ALU result used by the next FP op (fmv.w.x / fcvt.s.w) is
    forwarded: 1 + 1 + 1 + 1 = 4."""
    check_loop("addi t0, t1, 1\nfmv.w.x ft0, t0\naddi t0, t0, 1\nfcvt.s.w ft3, t0", 4)


@pytest.mark.parametrize("body, p", [
    ("flw ft0, 8(a1)", 1),
    ("fsw ft1, 8(a1)", 1),
    ("flw ft0, 8(a1)\nfsw ft0, 12(a1)", 3),            # 1 + 1 (flw-use, store data) + 1
    ("flw ft0, 8(a1)\nfadd.s ft3, ft0, ft1", 3),       # 1 + 1 + 1
    ("flw ft0, 8(a1)\nfmv.x.w t0, ft0", 3),            # 1 + 1 + 1
    ("flw ft0, 8(a1)\nfeq.s t0, ft1, ft0", 3),         # 1 + 1 + 1
    ("flw ft0, 8(a1)\nfadd.s ft3, ft1, ft2", 2),       # independent: 1 + 1
    ("flw ft0, 8(a1)\naddi a5, a5, 1\nfadd.s ft3, ft0, ft1", 3),   # one in between: no stall
], ids=["flw", "fsw", "flw_fsw_dep", "flw_fadd_dep", "flw_fmv_dep", "flw_feq_dep", "flw_fadd_indep",
        "flw_gap_fadd"])
def test_flw_fsw(body, p):
    """Row "flw / fsw: 1 (flw followed by a dependent FP op: +1)"."""
    check_loop(body, p)


# ---------------------------------------------------------------------------
# fdiv.s / fsqrt.s
# ---------------------------------------------------------------------------
#
# k = cycles from the fdiv/fsqrt issue until a dependent instruction (or the
# next FP-unit instruction) can issue.  For fdiv.s it depends on the operands
# only (the T-Head E906 SRT divider inside the CV32E40P FPU, pa_fdsu_*.v):
#   zero, infinite or NaN operand                                     k = 3
#   E = ilogb(a) - ilogb(b) > 128 or < -150: one SRT round            k = 5 + d
#   otherwise                                    k = 4 + d + min(15, 2 + ceil(L/2))
# with d = 1 for a subnormal divisor and L = the binary digits after the
# point of the exact quotient of the significands (1 <= ma, mb < 2); a
# quotient with no finite binary expansion takes 15 rounds: k = 19.
# The basic pattern is
#     fdiv.s ft0, ft1, ft2      # issue at t
#     fadd.s ft3, ft0, ft4      # dependent: issues at t + k, costs 1
# so P = k + 1 and the divider is idle again at the loop's addi.

ONE, TWO, THREE = 0x3F800000, 0x40000000, 0x40400000
INF, NINF, QNAN, SNAN = 0x7F800000, 0xFF800000, 0x7FC00000, 0x7FA00000
PZERO, NZERO = 0x00000000, 0x80000000
FLT_MAX, FLT_MIN = 0x7F7FFFFF, 0x00800000
E30, EM30 = 0x7149F2CA, 0x0DA24260          # 1e30f, 1e-30f


def _fdiv_case(a: int, b: int, k: int) -> None:
    check_loop("fdiv.s ft0, ft1, ft2\nfadd.s ft3, ft0, ft4", k + 1, setup=fsetup(ft1=a, ft2=b))


def _fsqrt_case(a: int, k: int) -> None:
    check_loop("fsqrt.s ft0, ft1\nfadd.s ft3, ft0, ft4", k + 1, setup=fsetup(ft1=a))


@pytest.mark.parametrize("a, b", [                  # ma / mb has no finite binary expansion
    (ONE, THREE),                 # 1/3
    (TWO, THREE),                 # 2/3
    (ONE, 0x41200000),            # 1/10
    (ONE, 0x40E00000),            # 1/7
    (0xBF800000, THREE),          # -1/3
    (E30, 0x40E00000),            # 1e30/7
    (0x3F800001, 0x40E00000),     # (1+2^-23)/7
    (ONE, 0x3F800001),            # 1/(1+2^-23)
], ids=["1/3", "2/3", "1/10", "1/7", "-1/3", "1e30/7", "1+ulp/7", "1/(1+ulp)"])
def test_fdiv_inexact(a, b):
    """Significand quotient with no finite binary expansion: 15 rounds, k = 19."""
    _fdiv_case(a, b, 19)


@pytest.mark.parametrize("a", [TWO, THREE, 0x41200000, 0x3F800001],
                         ids=["sqrt(2)", "sqrt(3)", "sqrt(10)", "sqrt(1+ulp)"])
def test_fsqrt_inexact(a):
    """Same rule for fsqrt.s: k = 19."""
    _fsqrt_case(a, 19)


# Finite significand quotients: k = 4 + 2 + ceil(L/2) = 6 + ceil(L/2); for a
# quotient in [1, 2) L is the index of its lowest set fraction bit; a
# quotient in (0.5, 1) has one more digit after the point.
@pytest.mark.parametrize("a, b, k", [
    (ONE, ONE, 6),                  # 1.0:          m = 0  -> 6
    (THREE, TWO, 7),                # 1.5 = 1.1b:   m = 1  -> 6 + 1 = 7
    (0x3F800001, ONE, 18),          # 1 + 2^-23:    m = 23 -> 6 + 12 = 18
    (0x3F800002, ONE, 17),          # 1 + 2^-22:    m = 22 -> 6 + 11 = 17
    (0x40E00000, 0x40800000, 7),    # 7/4 = 1.11b:  m = 2  -> 6 + 1 = 7
    (0x41700000, 0x41000000, 8),    # 15/8 = 1.111b: m = 3 -> 6 + 2 = 8
    (0x44004000, 0x44000000, 11),   # 513/512 = 1 + 2^-9: m = 9 -> 6 + 5 = 11
    (0x41400000, TWO, 7),           # 12/2 = 6 = 1.1b * 4: m = 1 -> 7
    (0xC0400000, TWO, 7),           # -3/2 = -1.5:  m = 1  -> 7
    (ONE, 0x40800000, 6),           # 1/4: ma / mb = 1: L = 0 -> 6
    (0x42440000, 0x40E00000, 8),    # 49/7: 1.53125 / 1.75 = 0.875 = 0.111b: L = 3 -> 6 + 2 = 8
    (0x3FC00000, 0x3FC00000, 6),    # 1.5/1.5 = 1:  m counts the quotient, not the operands -> 6
    (0x3F800001, 0x3F800001, 6),    # (1+2^-23)/(1+2^-23) = 1 -> 6
    # exact although they look inexact: 0x800001 = 3 * 0x2AAAAB, so (1+2^-23)/3 = 0x2AAAAB * 2^-23
    # = 1.0101...1011b * 2^-2 with 21 fraction bits: m = 21 -> 6 + 11 = 17; the mantissa of 1e30f
    # is 0xC9F2CA = 3 * 0x4350EE, quotient mantissa 0x4350EE = 1.000011010100001110111b * 2^22,
    # lowest set bit 2^1: m = 21 -> 17
    (0x3F800001, THREE, 17),
    (E30, THREE, 17),
], ids=["1/1", "3/2", "1+2^-23", "1+2^-22", "7/4", "15/8", "513/512", "12/2", "-3/2", "1/4", "1.5/1.5",
        "ulp/ulp", "(1+2^-23)/3", "1e30/3", "49/7"])
def test_fdiv_exact(a, b, k):
    """Finite significand quotient: k = 6 + ceil(L/2) (1.0/1.0 -> 6, 3.0/2.0 -> 7, (1+2^-23)/1.0 -> 18,
    49/7 -> 8); the comments give the quotient digits m = L."""
    _fdiv_case(a, b, k)


@pytest.mark.parametrize("a, k", [
    (ONE, 6),              # sqrt(1) = 1:     m = 0 -> 6
    (0x41100000, 7),       # sqrt(9) = 3 = 1.1b * 2: m = 1 -> 7
    (0x40800000, 6),       # sqrt(4) = 2:     m = 0 -> 6
    (0x3E800000, 6),       # sqrt(0.25) = 0.5: m = 0 -> 6
    (0x40100000, 7),       # sqrt(2.25) = 1.5: m = 1 -> 7
    (0x40C80000, 7),       # sqrt(6.25) = 2.5 = 1.01b * 2: m = 2 -> 7
    (0x42440000, 7),       # sqrt(49) = 7 = 1.11b * 4: m = 2 -> 7
    (0x43610000, 8),       # sqrt(225) = 15 = 1.111b * 8: m = 3 -> 8
    (0x3F802002, 12),      # sqrt(1 + 2^-10 + 2^-22) = 1 + 2^-11: m = 11 -> 6 + 6 = 12
], ids=["sqrt(1)", "sqrt(9)", "sqrt(4)", "sqrt(0.25)", "sqrt(2.25)", "sqrt(6.25)", "sqrt(49)",
        "sqrt(225)", "sqrt((1+2^-11)^2)"])
def test_fsqrt_exact(a, k):
    """fsqrt of an exact square: k = 6 + ceil(m/2) (sqrt(1) -> 6, sqrt(9) -> 7)."""
    _fsqrt_case(a, k)


@pytest.mark.parametrize("a, b", [
    (ONE, PZERO), (0xBF800000, PZERO), (ONE, NZERO),      # x/0
    (PZERO, ONE), (NZERO, THREE), (PZERO, PZERO),         # 0/x, 0/0
    (QNAN, ONE), (ONE, QNAN), (SNAN, ONE),                # NaN
    (INF, ONE), (ONE, INF), (NINF, THREE), (INF, INF),    # inf
], ids=["1/0", "-1/0", "1/-0", "0/1", "-0/3", "0/0", "qnan/1", "1/qnan", "snan/1", "inf/1", "1/inf",
        "-inf/3", "inf/inf"])
def test_fdiv_special(a, b):
    """fdiv rule "special operands (x/0, 0/x, NaN, inf): k = 3"."""
    _fdiv_case(a, b, 3)


@pytest.mark.parametrize("a", [PZERO, NZERO, 0xC0800000, 0xBF800000, INF, NINF, QNAN, SNAN],
                         ids=["sqrt(0)", "sqrt(-0)", "sqrt(-4)", "sqrt(-1)", "sqrt(inf)", "sqrt(-inf)",
                              "sqrt(qnan)", "sqrt(snan)"])
def test_fsqrt_special(a):
    """fsqrt rule "special operands (sqrt(0), sqrt(negative), NaN, inf): k = 3"."""
    _fsqrt_case(a, 3)


@pytest.mark.parametrize("a, b", [
    (E30, EM30),                  # 1e30 / 1e-30: E = 99 - (-100) = 199 > 128
    (0xF149F2CA, EM30),           # -1e30 / 1e-30: the same
    (EM30, E30),                  # 1e-30 / 1e30: E = -199 < -150
    (FLT_MAX, 0x00000001),        # FLT_MAX / 2^-149: E = 127 + 149 = 276 (subnormal divisor: + 1)
], ids=["1e30/1e-30", "-1e30/1e-30", "1e-30/1e30", "max/min_subnormal"])
def test_fdiv_exponent_out_of_range(a, b):
    """An exponent difference beyond the range of the result skips the SRT iteration: one round, k = 5
    (6 with the subnormal divisor's normalisation cycle; pa_fdsu_srt_single.v ex2_expnt_of,
    ex2_id_nor_srt_skip)."""
    k = 6 if b == 0x00000001 else 5
    body = "fdiv.s ft0, ft1, ft2\nfadd.s ft3, ft0, ft4"
    # the subnormal divisor also holds the fdiv a cycle at its issue, which the wait for it covers
    check_loop(body, k + 1, setup=fsetup(ft1=a, ft2=b))


@pytest.mark.parametrize("a, b, k", [
    (FLT_MAX, 0x3F000000, 18),    # FLT_MAX / 0.5 overflows, but E = 128: L = 23 -> 6 + 12
    (FLT_MIN, THREE, 19),         # 2^-126 / 3 underflows, E = -127: 1/1.5 has no finite expansion
    (FLT_MIN, TWO, 6),            # 2^-126 / 2 = 2^-127 (subnormal, exact): L = 0
    (0x00400000, ONE, 6),         # 2^-127 (subnormal dividend) / 1: L = 0
    (0x00000003, THREE, 6),       # 3 * 2^-149 / 3: 1.5 / 1.5 = 1: L = 0
    (ONE, 0x00400000, 7),         # 1 / 2^-127 (subnormal divisor): L = 0, d = 1 -> 4 + 1 + 2
    (THREE, 0x00400000, 8),       # 3 / 2^-127: E = 128, 1.5 / 1 = 1.1b: L = 1, d = 1 -> 4 + 1 + 3
], ids=["max/0.5", "min/3", "min/2", "subnormal/1", "subnormal/3", "1/subnormal", "3/subnormal"])
def test_fdiv_operands_not_result(a, b, k):
    """k follows the operands, not the result's flags: quotients that overflow or underflow still run
    the SRT rounds of their significands, and a subnormal divisor adds its normalisation cycle
    (pa_fdsu_ctrl.v fdsu_dn_stall)."""
    _fdiv_case(a, b, k)


def test_fdiv_subnormal_divisor_holds_issue():
    """An fdiv with a subnormal divisor also holds the pipeline one cycle at its own issue: the next
    instruction issues 2 cycles after it.  fdiv 1/2^-127 (k = 7) at t, divu by 0 (35 cycles) at t+2,
    the dependent fadd at t+37 (the divide is long done): P = 2 + 35 + 1 = 38."""
    body = "fdiv.s ft0, ft1, ft2\ndivu t0, t1, zero\nfadd.s ft3, ft0, ft4"
    check_loop(body, 38, setup=fsetup(ft1=ONE, ft2=0x00400000))


# Divider shadow.  fdiv 1/3 (k = 19) issues at t; the integer instructions
# after it cost c <= 18 cycles together (issuing at t+1 .. t+c, none of them
# at t+19), then the dependent fadd issues at t + 19: P = 19 + 1 = 20, exactly
# as without the integer instructions.
_SHADOW_SETUP = fsetup(ft1=ONE, ft2=THREE) + "\n" + xsetup(a2=0x10000, a3=0x40000000, a4=0x20000)


@pytest.mark.parametrize("shadow", [
    "add t0, t1, t2\nxor t3, t0, t1\nslli t3, t3, 2",     # ALU: 3
    "mul t0, t1, t2\nmul t3, t0, t1",                     # mul: 2
    "mulh t0, t1, t2\nmulhu t3, t0, t1\nmulhsu t3, t3, t1",   # mulh: 15
    "divu t0, t1, a4",                                    # divu by 0x20000: 17 (t+1 .. t+17)
    "div t0, t1, a3\nrem t3, t1, a3",                     # div by 0x40000000: 4 + 4
    "lw t0, 4(a1)\nlw t3, 8(a1)",                         # lw: 2
    "sw t1, 8(a1)\nsw t2, 12(a1)",                        # sw: 2
    "flw ft5, 8(a1)\nflw ft6, 12(a1)",                    # flw of other registers: 2
    "fsw ft5, 8(a1)\nfsw ft1, 12(a1)",                    # fsw of other registers (ft1 is a source): 2
    "lw t0, 4(a1)\nadd t3, t0, t1",                       # load-use inside the shadow: 1 + 1 + 1
    # a mix: 1 + 1 + 5 + 1 + 1 + 1 + 1 + 4 = 15
    "add t0, t1, t2\nmul t3, t0, t1\nmulh t3, t3, t1\nlw t4, 4(a1)\nsw t1, 8(a1)\n"
    "flw ft6, 12(a1)\nfsw ft5, 16(a1)\ndivu t5, t1, a3",
], ids=["alu", "mul", "mulh", "div17", "div_rem", "lw", "sw", "flw", "fsw", "load_use", "mix"])
def test_fdiv_shadow_integer(shadow):
    """fdiv rule "independent integer instructions (ALU, mul, mulh, div, lw,
    sw, flw, fsw of other registers) keep issuing in the divider's shadow"."""
    body = f"fdiv.s ft0, ft1, ft2\n{shadow}\nfadd.s ft3, ft0, ft4"
    check_loop(body, 20, setup=_SHADOW_SETUP)


def test_fdiv_shadow_longer_than_divide():
    """Integer work longer than k is not extended by the divide: fdiv 1/3 at t;
    divu by 0 (35) at t+1, in EX t+2 .. t+36, so the divider's write-back at
    t+19 falls in the middle of it and costs nothing; the dependent fadd at
    t+36 (the divide is long done): P = 1 + 35 + 1 = 37."""
    body = "fdiv.s ft0, ft1, ft2\ndivu t0, t1, zero\nfadd.s ft3, ft0, ft4"
    check_loop(body, 37, setup=_SHADOW_SETUP)


@pytest.mark.parametrize("waiter, p", [
    ("fadd.s ft3, ft5, ft4", 20),            # independent fadd: waits until t+19, then 1
    ("fmul.s ft3, ft5, ft5", 20),
    ("fmadd.s ft3, ft5, ft5, ft5", 20),
    ("fmv.x.w t0, ft5", 20),                 # fmv.x.w of another register
    ("fmv.w.x ft6, t1", 20),
    ("fcvt.w.s t0, ft5", 20),
    ("feq.s t0, ft5, ft5", 20),
    ("fsgnj.s ft6, ft5, ft5", 20),
    ("fmv.x.w t0, ft0", 20),                 # fmv.x.w of the result
    ("fsw ft0, 8(a1)", 20),                  # fsw of the result (RAW on ft0)
    ("flw ft0, 8(a1)", 20),                  # flw to the fdiv's destination (WAW on ft0)
    ("fdiv.s ft6, ft1, ft2\nfadd.s ft3, ft6, ft4", 39),   # another fdiv: 19 + 19 + 1
    ("fsqrt.s ft6, ft2\nfadd.s ft3, ft6, ft4", 39),       # fsqrt(3): 19 + 19 + 1
], ids=["fadd", "fmul", "fmadd", "fmv.x.w", "fmv.w.x", "fcvt.w.s", "feq", "fsgnj", "fmv.x.w_result",
        "fsw_result", "flw_result_reg", "fdiv", "fsqrt"])
def test_fdiv_fp_unit_waits(waiter, p):
    """fdiv rule "any other FP-unit instruction (fadd, fmv.x.w, fsw of the
    result, another fdiv) waits for it": fdiv 1/3 at t, the waiter issues at
    t + 19: P = 19 + 1 (or 19 + 19 + 1 for a second divide)."""
    check_loop(f"fdiv.s ft0, ft1, ft2\n{waiter}", p, setup=_SHADOW_SETUP)


def test_fdiv_waits_with_exact_k():
    """The waiting uses each divide's own k: fdiv 1/1 (6) then fsqrt(9) (7)
    then a dependent fadd: 6 + 7 + 1 = 14."""
    body = "fdiv.s ft0, ft1, ft1\nfsqrt.s ft6, ft2\nfadd.s ft3, ft6, ft4"
    check_loop(body, 14, setup=fsetup(ft1=ONE, ft2=0x41100000))


def test_fdiv_shadow_then_waiter():
    """Integer instructions in the shadow, then an independent FP op: fdiv at
    t, 5 addi at t+1..t+5, fadd waits until t+19: P = 20."""
    body = "fdiv.s ft0, ft1, ft2\n" + "addi t3, t3, 1\n" * 5 + "fadd.s ft3, ft5, ft4"
    check_loop(body, 20, setup=_SHADOW_SETUP)


# Divider write-back: the result is written through the ALU write port in the
# cycle it returns, t + k.  An instruction is in EX the cycle after it issues,
# so at t + k the instruction issued at t + k - 1 is in EX: if it writes a
# register through that port it stalls 1 cycle (ex_stage wb_contention); a
# load, store, branch or FP-unit instruction there does not.
@pytest.mark.parametrize("x, stall", [
    ("addi t3, t3, 1", 1), ("lui t3, 1", 1), ("mul t0, t1, t2", 1), ("jal t4, 3f\n3:", 1),
    ("lw t0, 4(a1)", 0), ("sw t1, 8(a1)", 0), ("flw ft5, 8(a1)", 0), ("fsw ft5, 8(a1)", 0),
    ("beq t1, t2, 3f\n3:", 0),
], ids=["addi", "lui", "mul", "jal", "lw", "sw", "flw", "fsw", "branch"])
def test_fdiv_writeback_port(x, stall):
    """fdiv 1/3 at t; 17 addi at t+1 .. t+17 (in EX until t+18); x issues at t+18, so it is in EX at
    t+19 = t+k; then the dependent fadd.  An ALU-port writer x stalls: it costs 1 + 1 (a jal: 2 + 1;
    its target waits for decode, which the stall holds), the fadd issues right after.  Otherwise the
    fadd issues at t+19.  P = 1 + 17 + cost(x) + stall + 1 = 20 + stall (x = jal: 21 + stall)."""
    body = "fdiv.s ft0, ft1, ft2\n" + "addi t3, t3, 1\n" * 17 + x + "\nfadd.s ft3, ft0, ft4"
    check_loop(body, 20 + stall + (1 if x.startswith("jal") else 0), setup=_SHADOW_SETUP)


def test_fdiv_writeback_port_exact_k():
    """With k = 6 (1.0/1.0) at t: the 5th addi (issued t+5) is in EX at t+6 and stalls; the 6th and
    7th addi at t+7 and t+8, the dependent fadd at t+9: P = 1 + 7 + 1 + 1 = 10."""
    body = "fdiv.s ft0, ft1, ft1\n" + "addi t3, t3, 1\n" * 7 + "fadd.s ft3, ft0, ft4"
    check_loop(body, 10, setup=fsetup(ft1=ONE))


def test_fdiv_writeback_in_last_cycle_of_div():
    """A multi-cycle ALU-port writer stalls if the result returns in its last EX cycle: fdiv 1/3 at t,
    divu by 0x10000 issued at t+1 (18 cycles, in EX t+2 .. t+19): t+19 = t+k is its last cycle, so it
    takes 19; the fadd (dependent) issues at t+20, the addi at t+21:
    P = 1 + 19 + 1 + 1 = 22."""
    body = "fdiv.s ft0, ft1, ft2\ndivu t0, t1, a2\nfadd.s ft3, ft0, ft4\naddi t3, t3, 1"
    check_loop(body, 22, setup=_SHADOW_SETUP)


def test_fdiv_clash_on_loop_addi():
    """fdiv 1/3 at t, 17 addi at t+1 .. t+17, the loop's own addi at t+18 is in EX at t+19 and stalls,
    the taken bnez issues at t+20 (the divide is done by then, so it does not wait for the csrr
    mcycle behind it either).  The pattern is 1 + 17 + 1 (the stall) = 19 on top of the loop
    overhead."""
    body = "fdiv.s ft0, ft1, ft2\n" + "addi t3, t3, 1\n" * 17
    check_loop(body.rstrip("\n"), 19, setup=_SHADOW_SETUP)


@pytest.mark.parametrize("tail, p", [
    # the mulh (t+17) is in EX t+18 .. t+22; at t+19 it is past its first cycle (mulh_active): the
    # write waits until t+23, where the addi issued at t+22 stalls; the fadd waits for the write:
    # 1 + 16 + 5 + (1 + 1) + 1
    ("mulh t0, t1, t2\naddi t3, t3, 1", 25),
    # the mulh (t+18) is in its first EX cycle at t+19 (not yet mulh_active): written then, and the
    # mulh, busy anyway, loses nothing: 1 + 16 + 1 + 5 + 1
    ("addi t4, t4, 1\nmulh t0, t1, t2", 24),
    # the lw (t+17) answers at t+19 while the addi (t+18) is in EX: the write waits until t+20, where
    # the sw (t+19) is in EX and does not stall; the fadd issues at t+20: 1 + 16 + 1 + 1 + 1 + 1
    ("lw t0, 4(a1)\naddi t3, t3, 1\nsw t1, 8(a1)", 21),
    # same, but an independent fadd arrives in EX at t+20, the cycle of the postponed write: it waits
    # that cycle (the divider is still active): 1 + 16 + 1 + 1 + (1 + 1) + 1
    ("lw t0, 4(a1)\naddi t3, t3, 1\nfmul.s ft5, ft1, ft1", 22),
    # a jalr in decode behind the ALU-port writer in EX at t+19 postpones the write; at t+20 the
    # jalr is in EX with its stale copy in decode, again; at t+21 EX is empty: written with no stall.
    # 1 + 16 + 1 + 1 + 2 + 1 (the fadd at t+21)
    ("addi t3, t3, 1\naddi t4, t4, 1\njalr zero, 0(a3)\n.Ljt:", 22),
    # a misaligned lw (t+18) is in EX t+19 and t+20: the write waits until t+21, where the addi issued
    # at t+20 stalls: 1 + 16 + 1 + 2 + (1 + 1) + 1
    ("addi t4, t4, 1\nlw t0, 1(a1)\naddi t3, t3, 1", 23),
], ids=["mulh_active", "mulh_first_cycle", "load_response", "fp_op_in_write_cycle", "jalr_in_decode",
        "misaligned"])
def test_fdiv_writeback_postponed(tail, p):
    """The write of the divider's result is postponed (apu_rvalid_q in cv32e40p_ex_stage.sv) while a
    mulh is past its first cycle, during a misaligned access, while a data response arrives with an
    ALU-port writer in EX, and while a jalr is in decode with an ALU-port writer in EX; the ALU-port
    writer in EX when it is finally written stalls.  fdiv 1/3 at t, 16 addi at t+1 .. t+16, then the
    tail, then a fadd on the result."""
    body = "fdiv.s ft0, ft1, ft2\n" + "addi t3, t3, 1\n" * 16 + tail + "\nfadd.s ft3, ft0, ft4"
    check_loop(body, p, setup=_SHADOW_SETUP + ("\n" + _JALR_SETUP if ".Ljt" in tail else ""))


@pytest.mark.parametrize("body, p", [
    ("fdiv.s ft0, ft1, ft2\ncsrr t0, mscratch", 21),             # csrr at t+20: 20 + 1
    ("fdiv.s ft0, ft1, ft2\n" + "addi t3, t3, 1\n" * 5 + "csrr t0, mscratch", 21),   # still t+20
    ("fdiv.s ft0, ft1, ft2\ncsrw fflags, zero", 21),
    ("fdiv.s ft0, ft1, ft2\ncsrr t0, mhartid", 21),
    ("fdiv.s ft0, ft1, ft2\ncsrr t0, mstatus", 24),              # t+20, then its flush: 20 + 4
    # the second fdiv waits for the first (t+19), the csrr for the second: 19 + 20 + 1
    ("fdiv.s ft0, ft1, ft2\nfdiv.s ft6, ft1, ft2\ncsrr t0, mscratch", 40),
    # an FP op that is not a divide does not hold a CSR: 1 + 1
    ("fadd.s ft0, ft1, ft2\ncsrr t0, mscratch", 2),
], ids=["mscratch", "after_shadow", "fflags", "mhartid", "mstatus_flush", "two_divides", "fadd"])
def test_csr_waits_for_divider(body, p):
    """A CSR instruction issues no earlier than the cycle after the divider's result is written
    (cv32e40p_id_stage.sv csr_apu_stall: apu_busy until the edge after the result): fdiv 1/3 at t
    (k = 19), the CSR at t+20, whatever ran in the shadow."""
    check_loop(body, p, setup=_SHADOW_SETUP)


@pytest.mark.parametrize("jump, p", [
    # taken beq at t+1 with a csrr right behind it: its target issues at t + k + 2 = t+21, the
    # dependent fadd there: 1 + 20 + 1
    ("beq zero, zero, 3f", 22),
    ("bne t1, t2, 3f", 22),
    # a jal does not wait: 1 + 2, the fadd at t+19: 20
    ("jal zero, 3f", 20),
], ids=["beq", "bne", "jal"])
def test_taken_branch_before_csr_waits_for_divider(jump, p):
    """A taken branch whose next instruction in memory is a CSR instruction waits for the divider:
    the killed CSR stays in the decode register and its csr_apu_stall (not gated by instr_valid)
    holds the fetch of the target (cv32e40p_id_stage.sv csr_apu_stall, id_ready)."""
    body = f"fdiv.s ft0, ft1, ft2\n{jump}\ncsrr t0, mscratch\n3:\nfadd.s ft3, ft0, ft4"
    check_loop(body, p, setup=_SHADOW_SETUP)


def test_taken_branch_before_fp_op_does_not_wait():
    """The same with an FP instruction behind the branch: beq 3, fadd at t+19: 1 + 3 + ... = 20."""
    body = "fdiv.s ft0, ft1, ft2\nbeq zero, zero, 3f\nfmul.s ft5, ft1, ft1\n3:\nfadd.s ft3, ft0, ft4"
    check_loop(body, 20, setup=_SHADOW_SETUP)


# ---------------------------------------------------------------------------
# Stall breakdown, counters and the assumptions where the measurements are silent
# ---------------------------------------------------------------------------

def test_stall_breakdown_adds_up():
    """A pattern with one of each stall cause; the total is exact and the core's
    stall breakdown adds up (checked in every run of this file, and here on a
    run that has every kind of stall):
        lw + dependent add          1 + 1 + 1  = 3
        addi + dependent jalr       1 + 3      = 4
        jal                         2
        mulh                        5
        divu by 0x10000             18
        csrr mstatus                4
        fence                       4
        misaligned lw               2
        fdiv 1/3, 19 addi (the 18th is in EX at t+19 and
        stalls on the divider's write-back), fadd on the result
                                    1 + 19 + 1 + 1 = 22
        fdiv 1/3 + dependent fadd   19 + 1     = 20
    P = 3 + 4 + 2 + 5 + 18 + 4 + 4 + 2 + 22 + 20 = 84."""
    body = (
        "lw t0, 4(a1)\nadd t3, t0, t1\n"
        "addi a4, a3, 0\njalr zero, 0(a4)\n.Ljt:\n"
        "jal zero, 3f\n3:\n"
        "mulh t3, t1, t2\n"
        "divu t3, t1, a2\n"
        "csrr t3, mstatus\n"
        "fence\n"
        "lw t3, 1(a1)\n"
        "fdiv.s ft0, ft1, ft2\n" + "addi t3, t3, 1\n" * 19 + "fadd.s ft3, ft0, ft4\n"
        "fdiv.s ft0, ft1, ft2\nfadd.s ft3, ft0, ft4\n"
    )
    setup = _SHADOW_SETUP + "\n" + _JALR_SETUP
    check_loop(body, 84, setup=setup)
    res = run_asm(program(body, N1, setup))
    core = res.cores[0]
    assert core.cycles == core.instructions + sum(core.stalls.values())
    assert sum(core.stalls.values()) > 0


def test_mcountinhibit_stops_mcycle():
    """Counters section: writes to mcountinhibit are honoured.  With mcycle
    inhibited around the loop, the mcycle delta does not depend on N."""
    pre = "li t0, 1\ncsrw mcountinhibit, t0"
    body = "addi t3, t3, 1"
    # Re-enable counting right after the loop, before the second read.
    text1 = program(body, N1, pre=pre).replace("    csrr    s1, mcycle",
                                               "    csrw    mcountinhibit, zero\n    csrr    s1, mcycle")
    text2 = program(body, N2, pre=pre).replace("    csrr    s1, mcycle",
                                               "    csrw    mcountinhibit, zero\n    csrr    s1, mcycle")
    d1, d2 = run_asm(text1).exit_code, run_asm(text2).exit_code
    assert d1 == d2
    # Only the instructions around the inhibited window can be counted
    # (csrr 4, li 1, csrw 4, csrw 4): never the N-fold loop.
    assert d1 <= 4 + 1 + 4 + 4


def test_mcountinhibit_zero_counts():
    """mcountinhibit starts at 0 (mcycle counting), and writing 0 keeps it
    counting: an explicit csrw mcountinhibit, zero (4) in the loop body."""
    check_loop("csrw mcountinhibit, zero", 4)


_TRAP_HANDLER = """
    .balign 4
trap_handler:
    jalr    zero, 0(a5)
"""


_TRAP_SETUP = "la t0, trap_handler\ncsrw mtvec, t0\nla a5, .Lback"


@pytest.mark.parametrize("op", ["ecall", "ebreak"])
@pytest.mark.parametrize("trap_cycles, p", [(None, 6), (9, 11)], ids=["default", "trap_cycles=9"])
def test_trap_entry_assumption(op, trap_cycles, p):
    """Spec silent; assumption: trap entry takes core.trap_cycles (default 4).
    ecall/ebreak (trap entry, 4) -> handler: jalr back via a5 (set long
    before: 2): P = 6; with core.trap_cycles = 9: P = 11."""
    ov = {} if trap_cycles is None else {"core.trap_cycles": trap_cycles}
    body = f"{op}\n.Lback:"
    d1 = measure(body, N1, _TRAP_SETUP, extra_text=_TRAP_HANDLER, **ov)
    d2 = measure(body, N2, _TRAP_SETUP, extra_text=_TRAP_HANDLER, **ov)
    assert (d1, d2) == (loop_total(N1, p), loop_total(N2, p))
    assert (d2 - d1) == (N2 - N1) * (p + 4)


def test_stall_breakdown_with_trap():
    """The stall breakdown must add up on runs with traps too (a trapping
    instruction does not retire, so all trap_cycles of it are stall cycles):
    one ecall per iteration, handler = jalr back; default and non-default
    trap_cycles."""
    for ov in ({}, {"core.trap_cycles": 9}):
        res = run_asm(program("ecall\n.Lback:", N1, _TRAP_SETUP, extra_text=_TRAP_HANDLER), breakdown=False, **ov)
        check_breakdown(res)
        assert res.exit_code == loop_total(N1, 6 if not ov else 11)


def test_mret_assumption():
    """Spec silent; assumption: mret takes core.mret_cycles (default 4).
    mepc = .Lafter (the next instruction), so each mret returns to it: P = 4;
    with core.mret_cycles = 7: P = 7."""
    setup = "la t0, .Lafter\ncsrw mepc, t0"
    check_loop("mret\n.Lafter:", 4, setup=setup)
    check_loop("mret\n.Lafter:", 7, setup=setup, **{"core.mret_cycles": 7})


def test_wfi_with_an_event_pending_takes_one_cycle():
    """wfi sleeps until an event of the core's event-unit mask is pending (there are no interrupt
    sources); with one pending it does not sleep. The set-up unmasks SW event 0 and sends it to core 0;
    it stays pending (nothing clears it), so every wfi takes 1 cycle: 2 x 1 = 2. (With nothing pending a
    wfi sleeps: tests/test_event_unit.py.)"""
    setup = """
    li t0, 0x10204000
    li t1, 1
    sw t1, 0(t0)
    sw t1, 0x100(t0)
"""
    check_loop("wfi\nwfi", 2, setup=setup)
