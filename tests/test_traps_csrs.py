"""Machine-mode traps and CSRs, against the RISC-V privileged spec.

Hand-written assembly programs (built with pulpsim.toolchain, no runtime) run on
the "single" platform.  With a trap handler installed (mtvec != 0) each
exception must enter the handler with the right mcause / mepc / mtval and
mstatus (MPIE = old MIE, MIE = 0, MPP = M), and mret must return to mepc and
restore MIE from MPIE.  With mtvec = 0 the same faults must stop the simulation
with the typed exceptions of pulpsim.errors.

Register conventions of the programs: the handler saves mcause, mepc, mtval and
mstatus in s2..s5 and counts traps in s6; s8 holds the address of the faulting
instruction (label ``fault``); the body stores anything else it wants checked in
s7, s9, s10, s11, a0..a7.
"""

from __future__ import annotations

import pytest

from pulpsim.errors import GuestError, IllegalInstruction, MemoryFault, UnhandledTrap
from pulpsim.sim.machine import Machine
from pulpsim.sim.platform import get_platform

toolchain = pytest.importorskip("pulpsim.toolchain")

MSTATUS_MIE = 1 << 3
MSTATUS_MPIE = 1 << 7
MSTATUS_MPP = 3 << 11
MSTATUS_FS = 3 << 13

CAUSE_ILLEGAL = 2
CAUSE_BREAKPOINT = 3
CAUSE_LOAD_FAULT = 5
CAUSE_STORE_FAULT = 7
CAUSE_ECALL_M = 11

UNMAPPED = 0x2000_0000

PROLOGUE = """
    .section .text.init, "ax", @progbits
    .globl _start
_start:
    li      t0, 0x6000
    csrs    mstatus, t0          # FPU on
    {set_mtvec}
    li      s6, 0                # trap count
    la      s8, fault
"""

EPILOGUE = """
exit:
    li      t0, 0x1A1040A0       # CORESTATUS
    li      t1, 0x80000000       # exit code 0
    sw      t1, 0(t0)
1:  j       1b

    .align  4
handler:
    csrr    s2, mcause
    csrr    s3, mepc
    csrr    s4, mtval
    csrr    s5, mstatus
    addi    s6, s6, 1
    csrr    t0, mepc
    addi    t0, t0, 4
    csrw    mepc, t0
    mret
"""


def X(name: str) -> int:
    """x register number of an ABI name."""
    names = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
             "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
             "t5", "t6"]
    return names.index(name)


def build_and_load(body: str, *, handler: bool = True, mtvec_mode: int = 0) -> Machine:
    set_mtvec = f"la t0, handler\n    ori t0, t0, {mtvec_mode}\n    csrw mtvec, t0" if handler else "csrw mtvec, zero"
    text = PROLOGUE.format(set_mtvec=set_mtvec) + body + EPILOGUE
    elf = toolchain.build_asm(text, name="traps", runtime=False)
    m = Machine(get_platform("single"), max_cycles=100_000)
    m.load_elf(elf)
    return m


def run_asm(body: str, **kw) -> dict[str, int]:
    """Build, run to the exit, return the x registers by ABI name (unsigned 32-bit)."""
    m = build_and_load(body, **kw)
    assert m.run(stdout=False) == 0
    return {n: int(m.xreg[0, X(n)]) & 0xFFFFFFFF for n in
            ("s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
             "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7")}


def fault_word(m: Machine) -> int:
    return m.read_word(int(m.xreg[0, X("s8")]))


# ----------------------------------------------------------------------------- traps

TRAPS = {
    # name: (body with the `fault:` instruction, mcause, mtval: "word" | "pc" | "addr" | 0)
    "illegal": ("fault: .word 0xFFFFFFFF", CAUSE_ILLEGAL, "word"),
    "ecall": ("fault: ecall", CAUSE_ECALL_M, 0),
    "ebreak": ("fault: ebreak", CAUSE_BREAKPOINT, "pc"),
    "load": (f"li t1, {UNMAPPED:#x}\nfault: lw t2, 0(t1)", CAUSE_LOAD_FAULT, "addr"),
    "store": (f"li t1, {UNMAPPED:#x}\nfault: sw t2, 0(t1)", CAUSE_STORE_FAULT, "addr"),
    "load_byte": (f"li t1, {UNMAPPED - 3:#x}\nfault: lbu t2, 4(t1)", CAUSE_LOAD_FAULT, "addr+1"),
    "store_half": (f"li t1, {UNMAPPED:#x}\nfault: sh t2, 6(t1)", CAUSE_STORE_FAULT, "addr+6"),
    "flw": (f"li t1, {UNMAPPED:#x}\nfault: flw ft0, 0(t1)", CAUSE_LOAD_FAULT, "addr"),
    "fsw": (f"li t1, {UNMAPPED:#x}\nfault: fsw ft0, 8(t1)", CAUSE_STORE_FAULT, "addr+8"),
}


def _expected_tval(kind, m: Machine) -> int:
    pc = int(m.xreg[0, X("s8")]) & 0xFFFFFFFF
    if kind == "word":
        return fault_word(m)
    if kind == "pc":
        return pc
    if isinstance(kind, str) and kind.startswith("addr"):
        return UNMAPPED + (int(kind[5:]) if "+" in kind else 0)
    return kind


@pytest.mark.parametrize("mie", [0, 1])
@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_trap_enters_handler_and_mret_returns(trap, mie):
    fault, cause, tval = TRAPS[trap]
    body = f"""
    {'csrsi mstatus, 8' if mie else 'csrci mstatus, 8'}
    li      s7, 0
    {fault}
    li      s7, 0x600D            # reached after mret (mepc + 4)
    csrr    s9, mstatus           # after mret
"""
    m = build_and_load(body)
    assert m.run(stdout=False) == 0
    r = {n: int(m.xreg[0, X(n)]) & 0xFFFFFFFF for n in ("s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9")}
    assert r["s6"] == 1, "exactly one trap"
    assert r["s2"] == cause, f"mcause {r['s2']}"
    assert r["s3"] == r["s8"], f"mepc 0x{r['s3']:08x} != faulting pc 0x{r['s8']:08x}"
    assert r["s4"] == _expected_tval(tval, m), f"mtval 0x{r['s4']:08x}"
    ms = r["s5"]  # mstatus inside the handler
    assert bool(ms & MSTATUS_MPIE) == bool(mie), "MPIE = MIE before the trap"
    assert ms & MSTATUS_MIE == 0, "MIE cleared in the handler"
    assert ms & MSTATUS_MPP == MSTATUS_MPP, "MPP = M"
    assert r["s7"] == 0x600D, "mret returned to mepc + 4"
    after = r["s9"]
    assert bool(after & MSTATUS_MIE) == bool(mie), "mret restores MIE from MPIE"
    assert after & MSTATUS_MPIE, "mret sets MPIE"
    assert int(m.pc[0]) != 0


def test_trap_state_in_csr_array_and_counts():
    """Two traps in a row: mcause/mepc/mtval reflect the last one; the handler ran twice."""
    r = run_asm(f"""
    ecall
    li t1, {UNMAPPED:#x}
fault:
    sw zero, 12(t1)
""")
    assert r["s6"] == 2
    assert (r["s2"], r["s3"], r["s4"]) == (CAUSE_STORE_FAULT, r["s8"], UNMAPPED + 12)


def test_vectored_mtvec_takes_exceptions_at_base():
    """mtvec.MODE = 1 (vectored): synchronous exceptions still go to BASE."""
    r = run_asm("csrr s9, mtvec\nfault: ecall\nli s7, 1", mtvec_mode=1)
    assert r["s6"] == 1 and r["s2"] == CAUSE_ECALL_M and r["s7"] == 1
    assert r["s9"] & 3 == 1


def test_mret_jumps_to_mepc_and_restores_mie():
    """mret without a trap: pc = mepc, MIE = MPIE, MPIE = 1."""
    r = run_asm("""
    la      t0, target
    csrw    mepc, t0
    li      t0, 0x80              # MPIE = 1
    csrs    mstatus, t0
    csrci   mstatus, 8            # MIE = 0
    li      s7, 1
    mret
    li      s7, 2                 # skipped
target:
    csrr    s9, mstatus
    li      t0, 0x80
    csrc    mstatus, t0           # MPIE = 0
    la      t0, target2
    csrw    mepc, t0
    mret
target2:
    csrr    s10, mstatus
fault:
""")
    assert r["s7"] == 1
    assert r["s9"] & MSTATUS_MIE and r["s9"] & MSTATUS_MPIE
    assert r["s10"] & MSTATUS_MIE == 0 and r["s10"] & MSTATUS_MPIE
    assert r["s6"] == 0


# ----------------------------------------------------------------------------- CSRs

def test_mscratch_read_write_set_clear():
    r = run_asm("""
    li      t0, 0x12345678
    csrw    mscratch, t0
    csrr    s7, mscratch
    li      t0, 0x0F0F0000
    csrrs   s9, mscratch, t0      # s9 = old, set bits
    li      t0, 0x00000078
    csrrc   s10, mscratch, t0     # s10 = old, clear bits
    csrrwi  s11, mscratch, 21     # s11 = old, write zimm
    csrr    a0, mscratch
    li      t0, -1
    csrrw   a1, mscratch, t0
    csrr    a2, mscratch
fault:
""")
    assert r["s7"] == 0x12345678
    assert r["s9"] == 0x12345678
    assert r["s10"] == 0x1F3F5678
    assert r["s11"] == 0x1F3F5600
    assert r["a0"] == 21
    assert r["a1"] == 21 and r["a2"] == 0xFFFFFFFF
    assert r["s6"] == 0


def test_fcsr_is_frm_and_fflags():
    r = run_asm("""
    csrwi   frm, 3
    csrwi   fflags, 0x15
    csrr    s7, fcsr              # 3 << 5 | 0x15
    li      t0, 0x1234
    csrrw   s9, fcsr, t0          # only bits 7:0 are kept
    csrr    s10, frm              # (0x1234 >> 5) & 7
    csrr    s11, fflags           # 0x1234 & 0x1f
    csrr    a0, fcsr
    li      t0, 0xFF
    csrw    fflags, t0            # fflags keeps 5 bits
    csrr    a1, fflags
    csrr    a2, frm               # untouched
    csrrci  a3, fflags, 0x5       # clear NX and OF (bits 0, 2)
    csrr    a4, fflags
    csrrsi  a5, frm, 4            # frm 1 | 4 = 5
    csrr    a6, fcsr
    csrwi   frm, 0
    csrr    a7, fcsr
fault:
""")
    assert r["s7"] == (3 << 5) | 0x15
    assert r["s9"] == (3 << 5) | 0x15
    assert r["s10"] == (0x1234 >> 5) & 7
    assert r["s11"] == 0x1234 & 0x1F
    assert r["a0"] == 0x34
    assert r["a1"] == 0x1F
    assert r["a2"] == (0x1234 >> 5) & 7
    assert r["a3"] == 0x1F and r["a4"] == 0x1A
    assert r["a5"] == 1 and r["a6"] == (5 << 5) | 0x1A
    assert r["a7"] == 0x1A
    assert r["s6"] == 0


def test_fp_ops_accrue_fflags():
    """An FP operation ORs its exception flags into fflags (visible through fcsr)."""
    r = run_asm("""
    csrw    fcsr, zero
    fmv.w.x ft0, zero
    li      t0, 0x3f800000
    fmv.w.x ft1, t0
    fdiv.s  ft2, ft1, ft0         # 1/0: DZ
    csrr    s7, fflags
    li      t0, 0x7f7fffff
    fmv.w.x ft3, t0
    fadd.s  ft4, ft3, ft3         # overflow: OF | NX
    csrr    s9, fcsr
fault:
""")
    assert r["s7"] == 0x08
    assert r["s9"] == 0x08 | 0x04 | 0x01


def test_mhartid_misa_and_ids():
    r = run_asm("""
    csrr    s7, mhartid
    csrr    s9, misa
    csrr    s10, mvendorid
    csrr    s11, marchid
    csrr    a0, mimpid
fault:
""")
    assert r["s7"] == 0, "mhartid of core 0"
    assert r["s9"] == 0x40001120, f"misa 0x{r['s9']:08x} (MXL=1, I, M, F)"
    # cv32e40p_pkg.sv: mvendorid = {MVENDORID_BANK 0xC, MVENDORID_OFFSET 0x2}, MARCHID 4; mimpid 1 with FPU
    assert (r["s10"], r["s11"], r["a0"]) == (0x602, 4, 1)
    assert r["s6"] == 0


def test_mepc_low_bits_are_zero():
    """IALIGN = 32: mepc[1:0] always read as zero."""
    r = run_asm("""
    li      t0, 0x1C000003
    csrw    mepc, t0
    csrr    s7, mepc
fault:
""")
    assert r["s7"] == 0x1C000000


ILLEGAL_CSR_ACCESSES = {
    "write_mhartid": "li t0, 5\nfault: csrw mhartid, t0",
    "set_mhartid": "li t0, 1\nfault: csrs mhartid, t0",
    "write_mvendorid": "fault: csrwi mvendorid, 1",
    "read_0x7c0": "fault: csrr t0, 0x7C0",
    "write_0x7c0": "fault: csrw 0x7C0, zero",
    "read_0x5c0": "fault: csrr t0, 0x5C0",
}


@pytest.mark.parametrize("case", sorted(ILLEGAL_CSR_ACCESSES))
def test_illegal_csr_access_traps(case):
    m = build_and_load(ILLEGAL_CSR_ACCESSES[case] + "\nli s7, 0x600D")
    assert m.run(stdout=False) == 0
    x = lambda n: int(m.xreg[0, X(n)]) & 0xFFFFFFFF  # noqa: E731
    assert x("s6") == 1
    assert x("s2") == CAUSE_ILLEGAL
    assert x("s3") == x("s8")
    assert x("s4") == fault_word(m), "mtval = the instruction word"
    assert x("s7") == 0x600D


def test_reading_a_read_only_csr_with_x0_source_is_legal():
    """csrrs/csrrc with rs1 = x0 and csrrsi/csrrci with zimm = 0 do not write: legal on read-only CSRs."""
    r = run_asm("""
    csrrs   s7, mhartid, zero
    csrrc   s9, misa, zero
    csrrsi  s10, mhartid, 0
    csrrci  s11, mhartid, 0
fault:
""")
    assert r["s6"] == 0
    assert (r["s7"], r["s9"], r["s10"], r["s11"]) == (0, 0x40001120, 0, 0)


# ----------------------------------------------------------------------------- FP state

FP_WITH_FS_OFF = {
    "fadd": "fault: fadd.s ft0, ft1, ft2",
    "fmv.x.w": "fault: fmv.x.w t2, ft1",
    "fmv.w.x": "fault: fmv.w.x ft1, t2",
    "flw": "la t1, fault\nfault: flw ft0, 0(t1)",
    "fsw": "la t1, scratch\nfault: fsw ft0, 0(t1)",
    "fmadd": "fault: fmadd.s ft0, ft1, ft2, ft3",
    "fcvt.s.w": "fault: fcvt.s.w ft0, t2",
    "fclass": "fault: fclass.s t2, ft0",
}


@pytest.mark.parametrize("case", sorted(FP_WITH_FS_OFF))
def test_fp_instruction_with_fs_off_is_illegal(case):
    body = f"""
    li      t0, 0x6000
    csrc    mstatus, t0          # FS = Off
    li      s7, 0
    {FP_WITH_FS_OFF[case]}
    li      s7, 0x600D
    csrr    s9, mstatus
    j       exit
    .data
    .align 2
scratch: .word 0
    .text
"""
    m = build_and_load(body)
    assert m.run(stdout=False) == 0
    x = lambda n: int(m.xreg[0, X(n)]) & 0xFFFFFFFF  # noqa: E731
    assert x("s6") == 1, "one illegal-instruction trap"
    assert x("s2") == CAUSE_ILLEGAL
    assert x("s3") == x("s8")
    assert x("s4") == fault_word(m)
    assert x("s7") == 0x600D
    assert x("s9") & MSTATUS_FS == 0, "FS stays Off"


FCSR_WITH_FS_OFF = {
    "read_fflags": "fault: csrr t2, fflags",
    "write_frm": "fault: csrwi frm, 1",
    "read_fcsr": "fault: csrr t2, fcsr",
}


@pytest.mark.parametrize("case", sorted(FCSR_WITH_FS_OFF))
def test_fcsr_access_with_fs_off_is_illegal(case):
    body = f"""
    li      t0, 0x6000
    csrc    mstatus, t0          # FS = Off
    {FCSR_WITH_FS_OFF[case]}
"""
    m = build_and_load(body)
    assert m.run(stdout=False) == 0
    assert int(m.xreg[0, X("s6")]) == 1
    assert int(m.xreg[0, X("s2")]) == CAUSE_ILLEGAL


def test_fp_state_becomes_dirty():
    """FS = Initial: an FP instruction that writes FP state sets FS = Dirty (and SD reads as 1)."""
    r = run_asm("""
    li      t0, 0x6000
    csrc    mstatus, t0
    li      t0, 0x2000
    csrs    mstatus, t0           # FS = Initial
    csrr    s7, mstatus
    fmv.w.x ft0, zero
    csrr    s9, mstatus
fault:
""")
    assert r["s7"] & MSTATUS_FS == 0x2000
    assert r["s9"] & MSTATUS_FS == MSTATUS_FS
    assert r["s9"] >> 31 == 1, "SD = (FS == Dirty)"


@pytest.mark.parametrize("frm", [5, 6, 7])
def test_dynamic_rounding_with_invalid_frm_is_illegal(frm):
    body = f"""
    csrwi   frm, {frm}
    fsgnj.s ft3, ft1, ft2         # no rounding: legal whatever frm is
    fmv.x.w t2, ft1               # legal too
    li      s7, 0
fault:
    fadd.s  ft0, ft1, ft2, dyn
    li      s7, 0x600D
"""
    m = build_and_load(body)
    assert m.run(stdout=False) == 0
    x = lambda n: int(m.xreg[0, X(n)]) & 0xFFFFFFFF  # noqa: E731
    assert x("s6") == 1
    assert x("s2") == CAUSE_ILLEGAL
    assert x("s3") == x("s8")
    assert x("s4") == fault_word(m)
    assert x("s7") == 0x600D


@pytest.mark.parametrize("rm", [5, 6])
def test_static_reserved_rounding_mode_is_illegal(rm):
    # fadd.s ft0, ft1, ft2 with funct3 = rm (not expressible in assembly)
    word = (0x00 << 25) | (2 << 20) | (1 << 15) | (rm << 12) | (0 << 7) | 0x53
    m = build_and_load(f"csrwi frm, 0\nfault: .word {word:#x}")
    assert m.run(stdout=False) == 0
    x = lambda n: int(m.xreg[0, X(n)]) & 0xFFFFFFFF  # noqa: E731
    assert (x("s6"), x("s2"), x("s3"), x("s4")) == (1, CAUSE_ILLEGAL, x("s8"), word)


# ----------------------------------------------------------------------------- mtvec = 0

NO_HANDLER = {
    # name: (body, exception class, address attribute or None)
    "illegal": ("fault: .word 0xFFFFFFFF", IllegalInstruction, None),
    "write_mhartid": ("li t0, 1\nfault: csrw mhartid, t0", IllegalInstruction, None),
    "csr_0x7c0": ("fault: csrr t0, 0x7C0", IllegalInstruction, None),
    "fs_off": ("li t0, 0x6000\ncsrc mstatus, t0\nfault: fadd.s ft0, ft1, ft2", IllegalInstruction, None),
    "frm_5": ("csrwi frm, 5\nfault: fmul.s ft0, ft1, ft2, dyn", IllegalInstruction, None),
    "load": (f"li t1, {UNMAPPED:#x}\nfault: lw t2, 0(t1)", MemoryFault, UNMAPPED),
    "store": (f"li t1, {UNMAPPED:#x}\nfault: sw t2, 4(t1)", MemoryFault, UNMAPPED + 4),
    "ecall": ("fault: ecall", UnhandledTrap, None),
    "ebreak": ("fault: ebreak", UnhandledTrap, None),
}


@pytest.mark.parametrize("case", sorted(NO_HANDLER))
def test_fault_without_handler_raises_typed_error(case):
    body, cls, addr = NO_HANDLER[case]
    m = build_and_load(body, handler=False)
    with pytest.raises(GuestError) as info:
        m.run(stdout=False)
    exc = info.value
    assert type(exc) is cls, f"{type(exc).__name__}: {exc}"
    assert exc.core == 0
    fault_pc = int(m.xreg[0, X("s8")]) & 0xFFFFFFFF
    assert exc.pc == fault_pc, f"pc 0x{exc.pc:08x} != 0x{fault_pc:08x}"
    assert exc.insn == m.read_word(fault_pc)
    assert isinstance(exc.disasm, str) and exc.disasm.strip(), "a disassembly of the faulting instruction"
    assert f"0x{fault_pc:08x}" in str(exc)
    if addr is not None:
        assert exc.addr == addr
        assert f"0x{addr:08x}" in str(exc)


def test_wfi_is_legal_in_machine_mode():
    """wfi in M-mode is legal; with an event of the core's mask pending (SW event 0, sent to itself
    through the event unit) it does not sleep."""
    r = run_asm("li t0, 0x10204000\nli t1, 1\nsw t1, 0(t0)\nsw t1, 0x100(t0)\n"
                "li s7, 1\nwfi\nli s7, 2\nfault:")
    assert r["s6"] == 0 and r["s7"] == 2
