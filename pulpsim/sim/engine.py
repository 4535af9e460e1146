"""The Numba engine: executes predecoded instructions on N cores, cycle by cycle.

Data flow: :mod:`pulpsim.machine` loads an ELF into the flat memory array,
decodes the pages of memory that hold code (:mod:`pulpsim.decode`) and calls
:func:`run` with plain numpy arrays (layouts in :mod:`pulpsim.state`).
:func:`run` returns a status (``ST_*``) whenever Python has to act: the
program ended, a fault, an output or trace buffer is full, a core fetches from
memory that is not decoded yet (or changed since), or the instruction budget
of this call is spent.

Timing: each core has its own clock ``cyc[core]`` = the cycle at which its
next instruction issues.  The core with the smallest clock (lowest id on a
tie) runs next, so instructions from all cores are executed in global cycle
order: this is what shared-resource arbitration (TCDM banks, FPUs, DMA) hooks
into.  A core keeps running, without re-scanning the others, while it stays
earliest.

The cost of an instruction follows the CV32E40P core (docs/timing.md): one
issue cycle plus stalls that are charged *before* it issues (load-use, jalr
dependency, FP divider) and extra cycles it spends itself (taken branch,
jumps, mulh, div, CSR flush, fence, misaligned access, slow memory, the FP
divider's write-back).  An instruction issues from decode and is in EX the
cycle after; the next one waits in decode while it is busy there.  Every extra cycle is
counted under its cause in ``stat`` so that the stall breakdown always adds up.

Memory safety: every guest address goes through :func:`find_region`, which
checks the whole access against the platform's regions before any array is
indexed (Numba does no bounds checking).
"""

from __future__ import annotations

import numpy as np
from .jit import jit, jit_inline

from . import jitcache

jitcache.ensure_fresh()

from . import fpu  # noqa: E402  (after the cache check, see pulpsim.jitcache)
from . import cluster as cl  # noqa: E402
from .memory import find_region, mem_read, mem_write, misaligned_extra  # noqa: E402
from .isa import (  # noqa: E402
    OP_ADD, OP_ADDI, OP_AND, OP_ANDI, OP_AUIPC, OP_BEQ, OP_BGE, OP_BGEU, OP_BLT, OP_BLTU, OP_BNE,
    OP_CSRRC, OP_CSRRCI, OP_CSRRS, OP_CSRRSI, OP_CSRRW, OP_CSRRWI, OP_DIV, OP_DIVU, OP_EBREAK,
    OP_ECALL, OP_FADD_S, OP_FCLASS_S, OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_W_S, OP_FCVT_WU_S,
    OP_FDIV_S, OP_FENCE, OP_FENCE_I, OP_FEQ_S, OP_FLE_S, OP_FLT_S, OP_FLW, OP_FMADD_S, OP_FMAX_S,
    OP_FMIN_S, OP_FMSUB_S, OP_FMUL_S, OP_FMV_W_X, OP_FMV_X_W, OP_FNMADD_S, OP_FNMSUB_S,
    OP_FSGNJ_S, OP_FSGNJN_S, OP_FSGNJX_S, OP_FSQRT_S, OP_FSUB_S, OP_FSW, OP_JAL, OP_JALR, OP_LB,
    OP_LBU, OP_LH, OP_LHU, OP_LUI, OP_LW, OP_MRET, OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_NOCODE, OP_STALE,
    OP_OR, OP_ORI, OP_REM, OP_REMU, OP_SB, OP_SH, OP_SLL, OP_SLLI, OP_SLT, OP_SLTI, OP_SLTIU,
    OP_SLTU, OP_SRA, OP_SRAI, OP_SRL, OP_SRLI, OP_SUB, OP_SW, OP_WFI, OP_XOR, OP_XORI,
)
from .state import *  # noqa: E402,F401,F403  (array layouts and constants, see pulpsim.state)

MASK32 = 0xFFFFFFFF
NO_LIMIT = 1 << 62

# How the scheduler runs a core (see run()).
MODE_BURST = 0    #: alone and earliest: run until another core is due
MODE_RESOLVE = 1  #: only compute the next instruction's hazard stalls
MODE_SINGLE = 2   #: run exactly one instruction (an arbitration winner)
PH_SCHEDULE = 0
PH_RESOLVE = 1
PH_EXECUTE = 2

# Columns of the predecoded table (pulpsim.decode).
_OP, _RD, _RS1, _RS2, _RS3, _IMM, _RM, _SA, _SB, _SC, _DST, _WORD = range(12)

# opflags[op] bits (built by pulpsim.machine from the ISA table).
OPF_FP = 1        #: needs mstatus.FS != Off
OPF_FPU = 2       #: an FP-unit instruction: waits while the FP divider is busy
OPF_LOAD = 4
OPF_STORE = 8
OPF_BRANCH = 16
OPF_JUMP = 32
OPF_SHARED_FPU = 64  #: executes on an FPU (shared ones are arbitrated); not fmv, flw, fsw, fdiv, fsqrt
OPF_ORDERED = 128    #: touches shared state (memory, devices, shared FPUs/divider): must run in cycle order
OPF_ALU_WB = 256     #: writes an integer register through the ALU write port (not loads, not FP-unit ops)

LOAD_X0 = 64  #: T_LAST_LOAD_DST of a load into x0 (no reader can depend on it, but ALU writes of x0 wait)

MSTATUS_MIE = 1 << 3
MSTATUS_MPIE = 1 << 7
MSTATUS_MPP = 3 << 11
MSTATUS_FS = 3 << 13
MSTATUS_SD = 1 << 31
MISA_RV32IMF = (1 << 30) | (1 << 8) | (1 << 12) | (1 << 5)
# Machine information registers of CV32E40P (cv32e40p_pkg.sv: MVENDORID_BANK 0xC, MVENDORID_OFFSET 0x2,
# MARCHID 4; cv32e40p_cs_registers.sv: mimpid = 1 with FPU=1).
MVENDORID = (0xC << 7) | 0x2
MARCHID = 4
MIMPID = 1


@jit
def s32(v):
    """Wrap an integer to a sign-extended 32-bit value."""
    return ((v + 0x80000000) & MASK32) - 0x80000000


@jit
def clz32(v):
    """Leading zeros of a 32-bit value (32 for 0)."""
    v = v & MASK32
    if v == 0:
        return 32
    n = 0
    if v <= 0x0000FFFF:
        n += 16
        v <<= 16
    if v <= 0x00FFFFFF:
        n += 8
        v <<= 8
    if v <= 0x0FFFFFFF:
        n += 4
        v <<= 4
    if v <= 0x3FFFFFFF:
        n += 2
        v <<= 2
    if v <= 0x7FFFFFFF:
        n += 1
    return n


@jit
def div_cycles(signed, b):
    """Cycles of div/rem (signed) or divu/remu, from the divisor only (CV32E40P cv32e40p_div)."""
    if signed and b < 0:
        return 2 + clz32(~b)
    return 3 + clz32(b)


@jit
def _fp_special(bits):
    """Zero, infinity or NaN (binary32 bits)."""
    e = (bits >> 23) & 0xFF
    return e == 0xFF or (e == 0 and (bits & 0x7FFFFF) == 0)


@jit
def _significand(bits):
    """(significand as a 24-bit integer with its leading one at bit 23, unbiased exponent) of a finite
    non-zero binary32; subnormals are normalised."""
    e = (bits >> 23) & 0xFF
    f = bits & 0x7FFFFF
    if e == 0:
        shift = 24 - (32 - clz32(f))
        return f << shift, -126 - shift
    return f | 0x800000, e - 127


@jit
def _trailing_zeros(v):
    n = 0
    while v & 1 == 0:
        v >>= 1
        n += 1
    return n


@jit
def srt_rounds(ma, mb):
    """SRT rounds of the divider for significands ma / mb: it stops when the partial remainder is zero, after
    at most 15 rounds; each round gives 2 quotient bits after the first 2 rounds (T-Head fdsu:
    pa_fdsu_srt_single.v srt_remainder_zero, pa_fdsu_ctrl.v srt_cnt_ini = 14)."""
    s = _trailing_zeros(mb)
    odd = mb >> s
    if ma % odd != 0:
        return 15  # ma / mb has no finite binary expansion
    # ma / mb = (ma / odd) / 2^s: digits after the binary point
    digits = max(0, s - _trailing_zeros(ma // odd))
    return min(15, 2 + (digits + 1) // 2)


@jit
def fdiv_cycles(a, b):
    """Cycles from an fdiv.s issue until the divider returns its result, from the operands (binary32 bits).

    3 for a zero, infinite or NaN operand; otherwise 4 + srt_rounds + 1 more for a subnormal divisor (one
    normalisation cycle, pa_fdsu_ctrl.v fdsu_dn_stall), with a single round when the exponent difference is
    out of range (pa_fdsu_srt_single.v ex2_expnt_of / ex2_id_nor_srt_skip)."""
    if _fp_special(a) or _fp_special(b):
        return 3
    d = 1 if ((b >> 23) & 0xFF) == 0 else 0
    ma, ea = _significand(a)
    mb, eb = _significand(b)
    e = ea - eb
    if e > 128 or e < -150:
        return 5 + d
    return 4 + d + srt_rounds(ma, mb)


@jit
def fsqrt_cycles(a, result, flags):
    """Cycles from an fsqrt.s issue until the divider returns its result: 3 for a zero, infinite, NaN or
    negative operand, 19 for an inexact root, 6 + ceil(m / 2) for an exact one with m fraction bits."""
    if _fp_special(a) or (a >> 31) != 0:
        return 3
    if flags & 1:
        return 19
    frac = result & 0x7FFFFF
    m = 0 if frac == 0 else 23 - _trailing_zeros(frac)
    return 6 + (m + 1) // 2


# ----------------------------------------------------------------------------
# Counters and CSRs
# ----------------------------------------------------------------------------

@jit
def event_total(stat, opcount, ev_load_ops, ev_store_ops, ev_jump_ops, ev_branch_ops, core, event, now):
    """Total of PULP performance event `event` (RI5CY riscv_cs_registers.sv PCER/PCCR events) for a core so
    far; EV_TOTAL_CYCLES is pulpsim's own."""
    if event == 0:
        # CYCLES counts the core's clock, which is gated while the core sleeps (event-unit wait, wfi): the
        # PULP SDK's PI_PERF_ACTIVE_CYCLES
        return now - stat[core, S_SLEEP]
    if event == EV_TOTAL_CYCLES:
        return now
    if event == 1:
        return stat[core, S_INSTR]
    if event == 2:
        return stat[core, S_LOAD_USE]
    if event == 3:
        return stat[core, S_JR_STALL]
    if event == 5 or event == 6 or event == 7 or event == 8:
        ops = ev_load_ops if event == 5 else (ev_store_ops if event == 6 else (ev_jump_ops if event == 7 else ev_branch_ops))
        s = 0
        for i in range(ops.shape[0]):
            s += opcount[core, ops[i]]
        return s
    if event == 9:
        return stat[core, S_BTAKEN]
    if event == 12:
        return stat[core, S_LD_EXT]
    if event == 13:
        return stat[core, S_ST_EXT]
    if event == 14:
        return stat[core, S_LD_EXT_CYC]
    if event == 15:
        return stat[core, S_ST_EXT_CYC]
    if event == 16:
        return stat[core, S_TCDM_CONT]
    if event == 17:
        return stat[core, S_FPU_OPS]     # APU_TYPE: operations sent to a shared FPU
    if event == 18:
        return stat[core, S_FPU_CONT]    # APU_CONT
    if event == 19:
        return stat[core, S_FDIV_WAIT]   # APU_DEP: waiting for an FP divide result
    return 0  # IMISS, RVC, ELW: no instruction cache, no compressed code, no Xpulp


@jit
def _hpm_event_to_pulp(bit):
    """Map a CV32E40P mhpmevent bit to the PULP event index."""
    if bit <= 10:
        return bit
    if bit == 11:
        return 11
    return 17 + (bit - 12)  # APU_TYPE, APU_CONT, APU_DEP, APU_WB


@jit
def vc_enabled_total(csr, stat, opcount, evs, core, k, now):
    """(enabled, selected event total) of virtual counter k."""
    ld, st, jp, br = evs
    if k == VC_MCYCLE:
        return (csr[core, C_MCOUNTINHIBIT] & 1) == 0, now
    if k == VC_MINSTRET:
        return (csr[core, C_MCOUNTINHIBIT] & 4) == 0, stat[core, S_INSTR]
    if k < 32:
        sel = csr[core, C_MHPMEVENT + k] if k >= 3 else 0
        if sel == 0 or (csr[core, C_MCOUNTINHIBIT] >> k) & 1:
            return False, 0
        tot = 0
        for bit in range(16):
            if (sel >> bit) & 1:
                tot += event_total(stat, opcount, ld, st, jp, br, core, _hpm_event_to_pulp(bit), now)
        return True, tot
    i = k - VC_PCCR
    en = (csr[core, C_PCMR] & 1) != 0 and ((csr[core, C_PCER] >> i) & 1) != 0
    if not en:
        return False, 0
    return True, event_total(stat, opcount, ld, st, jp, br, core, i, now)


@jit
def vc_read(csr, stat, opcount, evs, vc_acc, vc_snap, core, k, now):
    en, tot = vc_enabled_total(csr, stat, opcount, evs, core, k, now)
    if en:
        return vc_acc[core, k] + tot - vc_snap[core, k]
    return vc_acc[core, k]


@jit
def vc_fold_all(csr, stat, opcount, evs, vc_acc, vc_snap, core, now):
    """Freeze every counter's value into vc_acc (before its enable conditions change)."""
    for k in range(NUM_VC):
        vc_acc[core, k] = vc_read(csr, stat, opcount, evs, vc_acc, vc_snap, core, k, now)


@jit
def vc_resnap_all(csr, stat, opcount, evs, vc_snap, core, now):
    """Restart every counter from its folded value (after enable conditions changed)."""
    for k in range(NUM_VC):
        en, tot = vc_enabled_total(csr, stat, opcount, evs, core, k, now)
        vc_snap[core, k] = tot


@jit_inline
def is_csr_op(op):
    return (op == OP_CSRRW or op == OP_CSRRS or op == OP_CSRRC or op == OP_CSRRWI or op == OP_CSRRSI
            or op == OP_CSRRCI)


@jit
def csr_is_flushing(num):
    """CSRs whose access flushes the pipeline (4 cycles; CV32E40P decoder csr_status)."""
    return (num == 0x300 or num == 0x305 or num == 0x341 or num == 0x342 or num == 0x320
            or (0x323 <= num <= 0x33F) or (0xB00 <= num <= 0xB1F) or (0xB80 <= num <= 0xB9F)
            or (0xC00 <= num <= 0xC1F) or (0xC80 <= num <= 0xC9F))


@jit
def _counter_index(num):
    """Virtual counter index and half (0 low, 1 high) of a counter CSR, or (-1, 0)."""
    if 0xB00 <= num <= 0xB1F:
        return num - 0xB00, 0
    if 0xB80 <= num <= 0xB9F:
        return num - 0xB80, 1
    if 0xC00 <= num <= 0xC1F:
        return num - 0xC00, 0
    if 0xC80 <= num <= 0xC9F:
        return num - 0xC80, 1
    if 0x780 <= num <= 0x79E:
        return VC_PCCR + (num - 0x780), 0
    return -1, 0


@jit
def csr_access(csr, stat, opcount, evs, vc_acc, vc_snap, core, hartid, num, write, wval, now):
    """Read CSR `num` and, if `write`, write `wval` to it.

    Returns (ok, old value). ok is False for a CSR that does not exist or a
    write to a read-only one (the caller raises an illegal-instruction trap).
    """
    k, half = _counter_index(num)
    if k == 1 or (k >= 0 and k < 32 and num >= 0xC00 and write):
        return False, 0  # no counter 1; user counter shadows are read-only
    if k >= 0:
        full = vc_read(csr, stat, opcount, evs, vc_acc, vc_snap, core, k, now)
        if k >= VC_PCCR:
            full &= MASK32
        old = (full >> 32) & MASK32 if half else full & MASK32
        if write:
            wv = wval & MASK32
            new = ((full & MASK32) | (wv << 32)) if half else ((full & ~MASK32) | wv)
            if k >= VC_PCCR:
                new &= MASK32
            en, tot = vc_enabled_total(csr, stat, opcount, evs, core, k, now)
            vc_acc[core, k] = new
            # mcycle and minstret load the written value instead of counting the write's own cycle /
            # instruction (CV32E40P cs_registers: mhpmcounter_write_lower/upper)
            vc_snap[core, k] = tot + 1 if (k == VC_MCYCLE or k == VC_MINSTRET) else tot
        return True, s32(old)
    if num == 0x79F:  # PCCR "all": write sets every PULP counter
        if write:
            for i in range(31):
                en, tot = vc_enabled_total(csr, stat, opcount, evs, core, VC_PCCR + i, now)
                vc_acc[core, VC_PCCR + i] = wval & MASK32
                vc_snap[core, VC_PCCR + i] = tot
        return True, 0
    if (num >> 10) == 3 and write and num != 0xCC0 and num != 0xCC1:
        return False, 0  # read-only CSR space (PULP's PCER/PCMR live there but are writable)
    if num <= 0x003 and (csr[core, C_MSTATUS] & MSTATUS_FS) == 0:
        return False, 0  # fflags/frm/fcsr are FP state: illegal while the FPU is off
    if num <= 0x003 and write:
        csr[core, C_MSTATUS] |= MSTATUS_FS  # FP state modified: FS = Dirty
    old = 0
    if num == 0x001:
        old = csr[core, C_FFLAGS]
        if write:
            csr[core, C_FFLAGS] = wval & 0x1F
    elif num == 0x002:
        old = csr[core, C_FRM]
        if write:
            csr[core, C_FRM] = wval & 0x7
    elif num == 0x003:
        old = (csr[core, C_FRM] << 5) | csr[core, C_FFLAGS]
        if write:
            csr[core, C_FFLAGS] = wval & 0x1F
            csr[core, C_FRM] = (wval >> 5) & 0x7
    elif num == 0x300:
        ms = csr[core, C_MSTATUS]
        old = ms | (MSTATUS_SD if (ms & MSTATUS_FS) == MSTATUS_FS else 0)
        if write:
            csr[core, C_MSTATUS] = (wval & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_FS)) | MSTATUS_MPP
    elif num == 0x301:
        old = MISA_RV32IMF
    elif num == 0x304:
        old = csr[core, C_MIE]
        if write:
            csr[core, C_MIE] = wval & MASK32
    elif num == 0x305:
        old = csr[core, C_MTVEC]
        if write:
            csr[core, C_MTVEC] = wval & 0xFFFFFFFD  # MODE 0 (direct) or 1 (vectored)
    elif num == 0x340:
        old = csr[core, C_MSCRATCH]
        if write:
            csr[core, C_MSCRATCH] = wval & MASK32
    elif num == 0x341:
        old = csr[core, C_MEPC]
        if write:
            csr[core, C_MEPC] = wval & 0xFFFFFFFC
    elif num == 0x342:
        old = csr[core, C_MCAUSE]
        if write:
            csr[core, C_MCAUSE] = wval & MASK32
    elif num == 0x343:
        old = csr[core, C_MTVAL]
        if write:
            csr[core, C_MTVAL] = wval & MASK32
    elif num == 0x344:
        old = 0  # mip: no interrupt sources
    elif num == 0x320 or 0x323 <= num <= 0x33F or num == 0xCC0 or num == 0xCC1:
        if num == 0x320:
            old = csr[core, C_MCOUNTINHIBIT]
        elif num == 0xCC0:
            old = csr[core, C_PCER]
        elif num == 0xCC1:
            old = csr[core, C_PCMR]
        else:
            old = csr[core, C_MHPMEVENT + (num - 0x320)]
        if write:
            vc_fold_all(csr, stat, opcount, evs, vc_acc, vc_snap, core, now)
            if num == 0x320:
                csr[core, C_MCOUNTINHIBIT] = wval & 0xFFFFFFFD
            elif num == 0xCC0:
                csr[core, C_PCER] = wval & MASK32
            elif num == 0xCC1:
                csr[core, C_PCMR] = wval & 3
            else:
                csr[core, C_MHPMEVENT + (num - 0x320)] = wval & 0xFFFF
            vc_resnap_all(csr, stat, opcount, evs, vc_snap, core, now)
    elif num == 0xF11:
        old = MVENDORID
    elif num == 0xF12:
        old = MARCHID
    elif num == 0xF13:
        old = MIMPID
    elif num == 0xF14 or num == 0x014:  # mhartid (and PULP's uhartid)
        old = hartid
    else:
        return False, 0
    return True, s32(old)



# ----------------------------------------------------------------------------
# Shared-resource arbitration (cluster.md "Timing rules")
# ----------------------------------------------------------------------------

@jit
def tree_winner(mask, counter, nmasters):
    """Winner among the masters in `mask` of the counter-steered binary tree.

    Masters 0..nmasters-1 are padded to a power of two; the root uses the
    counter's MSB, the leaves its LSB; when both subtrees request, the
    higher-index one wins iff that counter bit is 1.
    """
    levels = 0
    while (1 << levels) < nmasters:
        levels += 1
    lo = 0
    size = 1 << levels
    for j in range(levels):
        half = size >> 1
        sub = (1 << half) - 1
        left = ((mask >> lo) & sub) != 0
        right = ((mask >> (lo + half)) & sub) != 0
        if right and (not left or ((counter >> (levels - 1 - j)) & 1) == 1):
            lo += half
        size = half
    return lo


@jit
def pick_winner(mask, counter, nmasters, policy):
    if policy == ARB_FIXED:
        k = 0
        while (mask >> k) & 1 == 0:
            k += 1
        return k
    return tree_winner(mask, counter, nmasters)


@jit_inline
def tcdm_bank(regions, r, addr, nbanks):
    """Bank of a TCDM access (word-interleaved), or -1 for other memories."""
    if regions[r, R_KIND] == RK_PLAIN:
        return -1
    return ((addr - regions[r, R_BASE]) >> 2) & (nbanks - 1)


@jit_inline
def fetch_window(regions, pagemap, p):
    """The code-table window that holds pc `p`: (lo, hi, row_delta).

    For every word-aligned p' in [lo, hi) the instruction at p' is row (p' >> 2) + row_delta of
    the code table; the window is one decoded page of one region. An unmapped or misaligned p
    gets a one-word window on the fetch-fault row, a p whose page is not decoded yet a one-word
    window on the stale row (the engine returns ST_DECODE there).
    """
    r = find_region(regions, p, 4)
    if r < 0 or (p & 3) != 0:
        return p, p + 4, CODE_ROW_NOCODE - (p >> 2)
    base = regions[r, R_BASE]
    off = p - base + regions[r, R_OFFSET]
    row0 = pagemap[off >> CODE_PAGE_SHIFT]
    if row0 < 0:
        return p, p + 4, CODE_ROW_STALE - (p >> 2)
    page_va = p - (off & (CODE_PAGE_BYTES - 1))
    lo = max(base, page_va)
    hi = min(base + regions[r, R_SIZE], page_va + CODE_PAGE_BYTES)
    return lo, hi, row0 - (page_va >> 2)


@jit
def invalidate_code(code, pagemap, off, nbytes):
    """Mark the decoded words overlapping flat bytes [off, off+nbytes) stale (they were written)."""
    w = off >> 2
    while w <= (off + nbytes - 1) >> 2:
        row0 = pagemap[w >> (CODE_PAGE_SHIFT - 2)]
        if row0 >= 0:
            code[row0 + (w & (CODE_PAGE_WORDS - 1)), _OP] = OP_STALE
        w += 1


@jit_inline
def access_bytes(op):
    """Bytes moved by a load or store."""
    if op == OP_LW or op == OP_SW or op == OP_FLW or op == OP_FSW:
        return 4
    if op == OP_LH or op == OP_LHU or op == OP_SH:
        return 2
    return 1


@jit_inline
def tcdm_request(code, idx, flags, xreg, k, regions, nbanks):
    """The TCDM bank that the instruction in row `idx` of core k's code requests (-1: none)."""
    if (flags & (OPF_LOAD | OPF_STORE)) == 0:
        return -1
    op = code[idx, _OP]
    nb = access_bytes(op)
    addr = (xreg[k, code[idx, _RS1]] + code[idx, _IMM]) & MASK32
    r = find_region(regions, addr, nb)
    if r < 0:
        return -1
    return tcdm_bank(regions, r, addr, nbanks)


@jit_inline
def note_request(code, idx, flags, xreg, tim, c, regions, nbanks):
    """Record the shared resources the resolved next instruction of core c requests, for arbitration."""
    tim[c, T_REQ_BANK] = tcdm_request(code, idx, flags, xreg, c, regions, nbanks)
    tim[c, T_REQ_FPU] = 1 if (flags & OPF_SHARED_FPU) != 0 else 0
    tim[c, T_REQ_ROW] = idx
    tim[c, T_REQ_WORD] = code[idx, _WORD]


@jit_inline
def next_counter(value, ncores):
    """A round-robin counter's next value (mod ncores, without a division)."""
    value += 1
    return 0 if value >= ncores else value


@jit
def arbitrate(code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks, shared, sched, t0,
              dma_chunk, nchunk):
    """Arbitrate TCDM banks and shared FPUs among the cores issuing in cycle t0.

    Every core due at t0 has its hazard stalls resolved, and its requests noted (note_request). Losers are
    delayed by one cycle (they retry next cycle); winners are written to sched[0..n) in ascending core id and
    their count is returned. sched[ncores..3*ncores + nfpu) is scratch space.
    """
    ncores = pc.shape[0]
    nbanks = params[P_NBANKS]
    policy = params[P_ARBITRATION]
    nfpu = params[P_NFPU]
    n = 0
    seen = 0          # banks requested so far (bit b), to detect conflicts cheaply
    bank_clash = nbanks > 62
    nfpu_req = 0
    for k in range(ncores):
        if tim[k, T_HALTED] != 0 or cyc[k] != t0:
            continue
        sched[n] = k
        row = tim[k, T_REQ_ROW]
        if code[row, _WORD] == tim[k, T_REQ_WORD] and code[row, _OP] != OP_STALE:
            bank = tim[k, T_REQ_BANK]
            fpu = tim[k, T_REQ_FPU]
        else:
            # the instruction was written since it was resolved: what is there now requests (nothing if it is
            # not decoded again yet: the stale row)
            lo, hi, row_delta = fetch_window(regions, pagemap, pc[k])
            idx = (pc[k] >> 2) + row_delta
            f = opflags[code[idx, _OP]]
            bank = tcdm_request(code, idx, f, xreg, k, regions, nbanks)
            fpu = 1 if (f & OPF_SHARED_FPU) != 0 else 0
        if bank >= 0 and not bank_clash:
            if (seen >> bank) & 1:
                bank_clash = True
            seen |= 1 << bank
        nfpu_req += fpu
        sched[ncores + n] = bank
        sched[2 * ncores + n] = fpu
        n += 1

    for d in range(nchunk):
        dma_chunk[d, 4] = 0
        b = dma_chunk[d, 3]
        if b >= 0 and (b > 62 or (seen >> b) & 1):
            bank_clash = True
    lost = False
    if policy != ARB_NONE and bank_clash:
        lost = True
        for i in range(n):
            b = sched[ncores + i]
            if b < 0:
                continue
            mask = 0
            count = 0
            for j in range(i, n):
                if sched[ncores + j] == b:
                    mask |= 1 << sched[j]
                    count += 1
                    if j > i:
                        sched[ncores + j] = -1  # handled with i
            win = sched[i]
            if count > 1:
                win = pick_winner(mask, banks[b, B_COUNTER], ncores, policy)
            # the cores' winner against the DMA (second channel): the DMA wins iff the bank's flag is 1
            for d in range(nchunk):
                if dma_chunk[d, 3] == b:
                    if banks[b, B_FLAG] == 1:
                        win = -1
                    else:
                        dma_chunk[d, 4] = -1  # lost
            for k in range(ncores):
                if (mask >> k) & 1 and k != win:
                    cyc[k] += 1
                    stat[k, S_TCDM_CONT] += 1
                    tim[k, T_LAST_STALL] = S_TCDM_CONT
                    banks[b, B_CONFLICTS] += 1

    if nfpu > 0 and nfpu_req > 0:
        # the k-th requesting core (ascending id) is routed to FPU k mod nfpu; masks[f] = its requesters
        masks = 3 * ncores
        if nfpu_req > nfpu:
            lost = True
            for f in range(nfpu):
                sched[masks + f] = 0
        f = 0
        for i in range(n):
            if sched[2 * ncores + i] != 0:
                k = sched[i]
                tim[k, T_FPU] = f
                if nfpu_req > nfpu:
                    sched[masks + f] |= 1 << k
                f += 1
                if f == nfpu:
                    f = 0
        # FPUs with more than one requester: those that got a second one (f < nfpu_req - nfpu)
        for f in range(min(nfpu, nfpu_req - nfpu) if nfpu_req > nfpu else 0):
            mask = sched[masks + f]
            win = pick_winner(mask, shared[U_FPU_COUNTER + f], ncores, policy if policy != ARB_NONE else ARB_TREE)
            for k in range(ncores):
                if (mask >> k) & 1 and k != win:
                    cyc[k] += 1
                    stat[k, S_FPU_CONT] += 1
                    tim[k, T_LAST_STALL] = S_FPU_CONT
                    shared[U_FPU_CONFLICTS + f] += 1

    for d in range(nchunk):
        dma_chunk[d, 4] = 0 if dma_chunk[d, 4] < 0 else 1
    if not lost:
        return n
    m = 0
    for i in range(n):
        k = sched[i]
        if cyc[k] == t0:
            sched[m] = k
            m += 1
    return m

# ----------------------------------------------------------------------------
# Hazards in decode
# ----------------------------------------------------------------------------

@jit_inline
def _reads(code, idx, reg):
    """Whether the instruction reads unified register `reg` (never true for x0)."""
    return code[idx, _SA] == reg or code[idx, _SB] == reg or code[idx, _SC] == reg


@jit
def jump_pcset(code, idx, op, issue, jr_held, first_id, stat, tim, c):
    """The cycle in which the controller redirects the fetch for the jump in decode (CV32E40P controller,
    DECODE state: pc_set while ~jr_stall): its first decode cycle without jr_stall. `first_id` is the cycle
    it entered decode (earlier than its issue while the instruction before it was busy in EX), `jr_held`
    whether the load-use / ALU-result jr_stall already held it until `issue`. A jalr is also held when a
    load writing its rs1 is in write-back in its first decode cycle (jr_stall's write-back term).
    Returns (issue, pcset)."""
    if jr_held:
        return issue, issue
    pcset = first_id
    ra = code[idx, _SA]
    if op == OP_JALR and ra != 0 and ((tim[c, T_LD1_DST] == ra and tim[c, T_LD1_WB] == first_id)
                                      or (tim[c, T_LD2_DST] == ra and tim[c, T_LD2_WB] == first_id)):
        pcset = first_id + 1
        if issue < pcset:
            stat[c, S_JR_STALL] += pcset - issue
            tim[c, T_LAST_STALL] = S_JR_STALL
            issue = pcset
    return issue, pcset


@jit_inline
def jump_cost(issue, pcset, links_own_rs1, stat, c):
    """Cycles from a jump's issue until its target issues.

    The controller redirects the fetch at `pcset` (its first cycle in decode without jr_stall, even while
    the jump itself cannot leave decode), and the target reaches decode 2 cycles later: 2 cycles for a jump
    that issues as soon as it is decoded, 1 for a jump held in decode by a busy EX stage (CV32E40P
    controller, DECODE state: jump_in_dec, pc_set, jump_done_q). A jalr that links into its own rs1 (the
    usual `auipc ra; jalr ra, off(ra)` far call) costs 1 more: the decode register still holds it after it
    issued, and jr_stall on that stale copy (the jalr in EX writes its rs1) holds the target 1 cycle.
    """
    cost = max(pcset + 2, issue + 1) - issue
    stat[c, S_JUMP] += cost - 1
    if links_own_rs1:
        cost += 1
        stat[c, S_JR_STALL] += 1
    return cost


@jit
def divider_writeback(wb_at, issue, cost, ex_busy, op, flags, mem_resp, jalr_in_decode, stat, c):
    """The FP divider's result and the instruction in EX share the ALU write port (CV32E40P ex_stage).

    The instruction is in EX from the cycle after its issue for 1 + ex_busy cycles. The divider's result
    is written in cycle `wb_at` unless the write is postponed (apu_rvalid_q) in that cycle: during both
    phases of a misaligned access, while a mulh is past its first cycle (mulh_active), when an ALU-port
    writer is in EX while a data response arrives (`mem_resp`) or while a jalr sits in decode. When the
    result is written while an ALU-port writer is in its last EX cycle, that writer stalls 1 cycle
    (wb_contention holds ex_ready low, and with it the decode stage: after a jal the target also waits).
    Returns (cost, ex_busy, write cycle, still pending).
    """
    ex_start = issue + 1
    ex_end = ex_start + ex_busy
    if wb_at < ex_start:
        return cost, ex_busy, wb_at, False  # written while EX held no instruction
    alu = (flags & OPF_ALU_WB) != 0
    mulh = op == OP_MULH or op == OP_MULHSU or op == OP_MULHU
    misaligned = ex_busy > 0 and (flags & (OPF_LOAD | OPF_STORE)) != 0
    w = wb_at
    while w <= ex_end:
        if misaligned or (mulh and w > ex_start) or (alu and (w == mem_resp or jalr_in_decode)):
            w += 1
            continue
        if alu and w == ex_end:
            stat[c, S_WB_CLASH] += 1
            return cost + 1, ex_busy + 1, w, False
        return cost, ex_busy, w, False
    return cost, ex_busy, w, True


@jit_inline
def append_trace(trace, io, cycle, core, pc, word, dst, value, cost, stall, cause, tval):
    """Append one row to the trace buffer (layout: state.TR_*); return whether the buffer is now full.

    `cause` is 1 + mcause for an instruction that raised an exception (with `tval` its mtval), 0 for one
    that retired (then `dst`/`value` give the register it wrote)."""
    n = io[IO_TRACE_LEN]
    trace[n, TR_CYCLE] = cycle
    trace[n, TR_CORE] = core
    trace[n, TR_PC] = pc
    trace[n, TR_WORD] = word & MASK32
    trace[n, TR_DST] = dst
    trace[n, TR_VALUE] = value & MASK32
    trace[n, TR_COST] = cost
    trace[n, TR_STALL] = stall
    trace[n, TR_CAUSE] = cause
    trace[n, TR_TVAL] = tval & MASK32
    io[IO_TRACE_LEN] = n + 1
    return n + 1 >= trace.shape[0]


# ----------------------------------------------------------------------------
# The run loop
# ----------------------------------------------------------------------------

@jit
def run(code, pagemap, opflags, evs, params, regions, mem8, mem16, mem32,
        pc, xreg, freg, csr, cyc, tim, stat, opcount, vc_acc, vc_snap,
        banks, shared, sched, eu_core, eu_glob, dma_tr, dma_port, dma_glob, dma_chunk, dma_log,
        region_log, outbuf, trace, io, budget):
    """Execute up to `budget` instructions (all cores together); return a status ST_*."""
    ncores = pc.shape[0]
    stdout_base = params[P_STDOUT]
    stdout_size = params[P_STDOUT_SIZE]
    corestatus = params[P_CORESTATUS]
    max_cycles = params[P_MAX_CYCLES]
    trap_cycles = params[P_TRAP_CYCLES]
    mret_cycles = params[P_MRET_CYCLES]
    cluster_id = params[P_CLUSTER_ID]
    tracing = params[P_TRACING] != 0
    nbanks = params[P_NBANKS]
    nfpu = params[P_NFPU]
    shared_div = params[P_SHARED_DIV] != 0
    div_latency = params[P_DIV_LATENCY]
    runahead = params[P_RUNAHEAD]
    horizon = params[P_HORIZON]  # set by a CORESTATUS exit: the last cycle in which anything happens
    c = 0
    mode = MODE_BURST
    limit = NO_LIMIT
    stop = NO_LIMIT
    out_cap = outbuf.shape[0]
    executed = 0
    status = ST_BUDGET
    # fetch window: the decoded code page last fetched from (see fetch_window); empty at first
    f_lo = 0
    f_hi = 0
    f_row = 0

    # sched[0 .. ncores): work list of the cycle being arbitrated; see below.
    phase = PH_SCHEDULE
    nwork = 0
    wi = 0
    while executed < budget and status == ST_BUDGET:
        # --- decide which core runs next, in which mode, and until when
        if phase == PH_SCHEDULE:
            # one pass: the earliest clock t0, how many cores are due then, the next clock t1 after it,
            # and how many of the cores due at t0 still need their stalls resolved
            t0 = NO_LIMIT
            t1 = NO_LIMIT
            nat = 0
            unresolved = 0
            for k in range(ncores):
                if tim[k, T_HALTED] == 0:
                    ck = cyc[k]
                    if ck < t0:
                        t1 = t0
                        t0 = ck
                        nat = 1
                        c = k
                        unresolved = 1 - tim[k, T_RESOLVED]
                    elif ck == t0:
                        nat += 1
                        unresolved += 1 - tim[k, T_RESOLVED]
                    elif ck < t1:
                        t1 = ck
            dma_t = dma_glob[cl.DG_TIME]
            if t0 > horizon and dma_t > horizon:
                status = ST_EXIT  # every agent has finished the exit's cycle
                break
            if dma_t < t0:
                # the DMA moves data alone in cycle dma_t (no core issues then)
                nchunk = cl.dma_chunks(dma_tr, dma_glob, regions, nbanks, dma_chunk)
                for i in range(nchunk):
                    b = dma_chunk[i, 3]
                    if b >= 0:
                        banks[b, B_ACCESSES] += 1
                        banks[b, B_FLAG] ^= 1
                    dst = cl.dma_move(dma_chunk[i], dma_t, dma_tr, dma_glob, regions, mem8)
                    if dst >= 0:
                        invalidate_code(code, pagemap, dst, dma_chunk[i, 2])
                dma_glob[cl.DG_BUSY] += 1
                dma_glob[cl.DG_TIME] = dma_t + 1
                cl.dma_finish_if_done(dma_t, dma_tr, dma_glob, dma_log, eu_core, cyc, tim, xreg, freg, stat, params)
                continue
            if max_cycles < t0 < NO_LIMIT and dma_t > max_cycles:
                status = ST_CYCLE_LIMIT
                io[IO_CORE] = c
                io[IO_PC] = pc[c]
                break
            if t0 == NO_LIMIT:
                status = ST_ALL_HALTED
                for k in range(ncores):
                    if tim[k, T_HALTED] == 0:
                        status = ST_DEADLOCK  # someone sleeps and nothing can wake it
                break
            if nat == 1 and dma_t > t0:
                # alone and earliest: run without arbitration until another core is due
                mode = MODE_BURST
                limit = min(dma_t, t1, horizon + 1) - 1
            else:
                # several cores issue in cycle t0: first resolve their hazard stalls ...
                nwork = 0
                if unresolved > 0:
                    for k in range(ncores):
                        if tim[k, T_HALTED] == 0 and cyc[k] == t0 and tim[k, T_RESOLVED] == 0:
                            sched[nwork] = k
                            nwork += 1
                if nwork > 0:
                    phase = PH_RESOLVE
                else:
                    # ... then arbitrate their shared resources (and the DMA's) and run the winners
                    nchunk = 0
                    if dma_t == t0:
                        nchunk = cl.dma_chunks(dma_tr, dma_glob, regions, nbanks, dma_chunk)
                    nwork = arbitrate(code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks,
                                      shared, sched, t0, dma_chunk, nchunk)
                    if dma_t == t0:
                        moved = False
                        for i in range(nchunk):
                            if dma_chunk[i, 4] != 0:
                                b = dma_chunk[i, 3]
                                if b >= 0:
                                    banks[b, B_ACCESSES] += 1
                                    banks[b, B_FLAG] ^= 1
                                dst = cl.dma_move(dma_chunk[i], t0, dma_tr, dma_glob, regions, mem8)
                                if dst >= 0:
                                    invalidate_code(code, pagemap, dst, dma_chunk[i, 2])
                                moved = True
                            else:
                                dma_glob[cl.DG_CONFLICTS] += 1
                                break  # chunks move in order
                        if moved:
                            dma_glob[cl.DG_BUSY] += 1
                        dma_glob[cl.DG_TIME] = t0 + 1
                        cl.dma_finish_if_done(t0, dma_tr, dma_glob, dma_log, eu_core, cyc, tim, xreg, freg, stat, params)
                    phase = PH_EXECUTE if nwork > 0 else PH_SCHEDULE
                wi = 0
                continue
        else:
            c = sched[wi]
            wi += 1
            if phase == PH_RESOLVE:
                mode = MODE_RESOLVE
                limit = cyc[c] - 1
            else:
                mode = MODE_SINGLE
                limit = cyc[c]
            if wi >= nwork:
                phase = PH_SCHEDULE
        # instructions that touch only the core's own state may run ahead of the others, by at most
        # `runahead` cycles (so that a core spinning in such a loop yields), and never past an exit
        ahead = cyc[c] if mode == MODE_RESOLVE else min(limit + runahead, horizon)
        stop = min(ahead, max_cycles)

        hartid = c | (cluster_id << 5)
        p = pc[c]
        t = cyc[c]
        last_load = tim[c, T_LAST_LOAD_DST]
        last_alu = tim[c, T_LAST_ALU_DST]
        fdiv_ready = tim[c, T_FDIV_READY]
        fdiv_dst = tim[c, T_FDIV_DST]
        fdiv_wb = tim[c, T_FDIV_WB]
        tohost = tim[c, T_TOHOST]
        prev_p = tim[c, T_PREV_PC]
        halted = False
        sleeping = False

        resolved = tim[c, T_RESOLVED] != 0
        while True:
            if executed >= budget and mode != MODE_RESOLVE:
                break
            if t > stop:
                # nothing of the core's happens after that cycle for now (no stall is charged either); the
                # scheduler reports a runaway once no core is left before max_cycles
                break
            # ---- fetch from any mapped memory: a page is decoded on its first fetch, a word again
            # after a store or DMA transfer changed it (Python decodes it: ST_DECODE, then calls again)
            if p < f_lo or p >= f_hi:
                f_lo, f_hi, f_row = fetch_window(regions, pagemap, p)
            idx = (p >> 2) + f_row
            op = code[idx, _OP]
            if op == OP_STALE:
                status = ST_DECODE
                io[IO_CORE] = c
                io[IO_CODE_ADDR] = p
                break
            flags = opflags[op]

            # ---- stalls charged before issue (already included in t if resolved)
            issue = t
            ex_wait = 0  # cycles an FP-unit instruction waits for the divider (in EX on the RTL, see below)
            pcset = 0  # for a jump: the cycle it redirects the fetch (jump_pcset)
            if resolved:
                resolved = False
                pcset = tim[c, T_PCSET]
                ex_wait = tim[c, T_EX_WAIT]
            else:
                # load_stall and jr_stall (cv32e40p_controller.sv)
                jr_held = False
                if last_load != 0:
                    if _reads(code, idx, last_load):
                        # the loaded value is used right away
                        issue += 1
                        stat[c, S_LOAD_USE] += 1
                        tim[c, T_LAST_STALL] = S_LOAD_USE
                        if op == OP_JALR:   # lw + dependent jalr: the load in write-back also raises jr_stall
                            issue += 1
                            stat[c, S_JR_STALL] += 1
                            tim[c, T_LAST_STALL] = S_JR_STALL
                            jr_held = True
                    elif (flags & OPF_ALU_WB) != 0 and code[idx, _RD] == (0 if last_load == LOAD_X0 else last_load):
                        # the write-after-write term: only for writers of the ALU port, x0 included
                        issue += 1
                        stat[c, S_LOAD_USE] += 1
                        tim[c, T_LAST_STALL] = S_LOAD_USE
                elif op == OP_JALR and last_alu != 0 and code[idx, _SA] == last_alu:
                    # rs1 is the ALU result of the instruction in EX
                    issue += 1
                    stat[c, S_JR_STALL] += 1
                    tim[c, T_LAST_STALL] = S_JR_STALL
                    jr_held = True
                if (flags & OPF_JUMP) != 0:
                    issue, pcset = jump_pcset(code, idx, op, issue, jr_held, t - tim[c, T_ID_EARLY], stat, tim, c)
            if fdiv_dst != 0:
                # an FP divide is in flight (or writes back this cycle)
                wait_until = issue
                dep = _reads(code, idx, fdiv_dst) or code[idx, _DST] == fdiv_dst
                # (fdiv_ready is the cycle the result is written: an FP-unit instruction arriving in EX then
                # still waits that cycle, apu_disp stall_type while active)
                if (flags & OPF_FPU) != 0 or dep:
                    wait_until = fdiv_ready
                if wait_until > issue:
                    stat[c, S_FDIV_WAIT] += wait_until - issue
                    tim[c, T_LAST_STALL] = S_FDIV_WAIT
                    if not dep:
                        # an independent FP-unit instruction goes on to EX and waits there for the divider
                        # (apu_ready), the next instruction sits in decode meanwhile; a dependent one waits in
                        # decode (apu_read_dep / apu_write_dep)
                        ex_wait = wait_until - issue
                    issue = wait_until
                if issue >= fdiv_ready:
                    fdiv_dst = 0
            if 0 < fdiv_ready and issue <= fdiv_ready and is_csr_op(op):
                # csr_apu_stall: a CSR access waits until the edge after the divide's result is valid
                stat[c, S_FDIV_WAIT] += fdiv_ready + 1 - issue
                tim[c, T_LAST_STALL] = S_FDIV_WAIT
                issue = fdiv_ready + 1
            if mode == MODE_RESOLVE or (issue > limit and ((flags & OPF_ORDERED) != 0 or issue > ahead)):
                # another core may be due before or with this instruction: let the scheduler decide
                # (instructions that only touch the core's own state may run ahead of the others)
                t = issue
                resolved = True
                tim[c, T_PCSET] = pcset
                tim[c, T_EX_WAIT] = ex_wait
                note_request(code, idx, flags, xreg, tim, c, regions, nbanks)
                break

            cost = 1
            ex_busy = 0  # extra cycles this instruction spends in EX (the next one waits in decode meanwhile)
            npc = p + 4
            new_load = 0
            trap_cause = -1
            trap_val = 0
            rd = code[idx, _RD]
            rs1 = code[idx, _RS1]
            rs2 = code[idx, _RS2]
            imm = np.int64(code[idx, _IMM])

            # ---- execute
            if op == OP_ADDI:
                if rd != 0:
                    xreg[c, rd] = s32(xreg[c, rs1] + imm)
            elif op == OP_LW or op == OP_LB or op == OP_LBU or op == OP_LH or op == OP_LHU or op == OP_FLW:
                addr = (xreg[c, rs1] + imm) & MASK32
                nb = 4 if (op == OP_LW or op == OP_FLW) else (2 if (op == OP_LH or op == OP_LHU) else 1)
                r = find_region(regions, addr, nb)
                if r < 0:
                    poff = cl.periph_offset(addr, params)
                    pst = cl.PS_UNMAPPED
                    if poff >= 0 and nb == 4 and (addr & 3) == 0 and op != OP_FLW:
                        pst, v, pcost, pwake = cl.periph_load(poff, c, issue, code[idx, _DST], p, eu_core, eu_glob,
                                                              dma_tr, dma_port, dma_glob, cyc, tim, xreg, freg,
                                                              stat, params)
                        if pst == cl.PS_DONE:
                            if rd != 0:
                                xreg[c, rd] = s32(v)
                            cost = pcost
                            stat[c, S_PERIPH] += pcost - 1
                            new_load = code[idx, _DST]
                            if pwake - 1 < limit:
                                # another agent is due then: run ahead of it by runahead cycles at most
                                limit = pwake - 1
                                ahead = min(ahead, limit + runahead)
                                stop = min(stop, ahead)
                        elif pst == cl.PS_SLEEP:
                            sleeping = True
                    if pst == cl.PS_UNMAPPED:
                        trap_cause = CAUSE_LOAD_FAULT
                        trap_val = addr
                else:
                    off = addr - regions[r, R_BASE] + regions[r, R_OFFSET]
                    v = mem_read(mem8, mem16, mem32, off, nb)
                    kind = regions[r, R_KIND]
                    if kind != RK_PLAIN:
                        b = ((addr - regions[r, R_BASE]) >> 2) & (nbanks - 1)
                        banks[b, B_ACCESSES] += 1
                        banks[b, B_COUNTER] = next_counter(banks[b, B_COUNTER], ncores)
                        banks[b, B_FLAG] ^= 1
                        stat[c, S_TCDM_ACCESSES] += 1
                        if kind == RK_TAS:  # test-and-set: the word becomes all ones
                            mem_write(mem8, mem16, mem32, off, nb, -1)
                            invalidate_code(code, pagemap, off, nb)
                    if op == OP_FLW:
                        ms = csr[c, C_MSTATUS]
                        if (ms & MSTATUS_FS) == 0:
                            trap_cause = CAUSE_ILLEGAL
                            trap_val = code[idx, _WORD] & MASK32
                        else:
                            csr[c, C_MSTATUS] = ms | MSTATUS_FS
                            freg[c, rd] = v
                            new_load = code[idx, _DST]
                    else:
                        if op == OP_LW:
                            v = s32(v)
                        elif op == OP_LB:
                            v = ((v + 0x80) & 0xFF) - 0x80
                        elif op == OP_LH:
                            v = ((v + 0x8000) & 0xFFFF) - 0x8000
                        if rd != 0:
                            xreg[c, rd] = v
                        new_load = code[idx, _DST] if rd != 0 else LOAD_X0
                    if trap_cause < 0:
                        extra = misaligned_extra(addr, nb)
                        if extra:
                            cost += extra
                            ex_busy = extra
                            stat[c, S_MISALIGNED] += extra
                        lat = regions[r, R_LATENCY] - 1
                        if lat > 0:
                            cost += lat
                            stat[c, S_LD_EXT] += 1
                            stat[c, S_LD_EXT_CYC] += lat
            elif op == OP_SW or op == OP_SB or op == OP_SH or op == OP_FSW:
                addr = (xreg[c, rs1] + imm) & MASK32
                if rs1 == 2 and addr < tim[c, T_STACK_LO]:
                    # a store into a stack frame below the core's own stack: it overflowed
                    status = ST_STACK_OVERFLOW
                    io[IO_CORE] = c
                    io[IO_PC] = p
                    io[IO_TVAL] = xreg[c, 2] & MASK32
                    break
                nb = 4 if (op == OP_SW or op == OP_FSW) else (2 if op == OP_SH else 1)
                if op == OP_FSW:
                    if (csr[c, C_MSTATUS] & MSTATUS_FS) == 0:
                        trap_cause = CAUSE_ILLEGAL
                        trap_val = code[idx, _WORD] & MASK32
                    v = freg[c, rs2]
                else:
                    v = xreg[c, rs2]
                r = find_region(regions, addr, nb) if trap_cause < 0 else -2
                if r >= 0:
                    off = addr - regions[r, R_BASE] + regions[r, R_OFFSET]
                    mem_write(mem8, mem16, mem32, off, nb, v)
                    if pagemap[off >> CODE_PAGE_SHIFT] >= 0 or (off & 3) + nb > 4:
                        invalidate_code(code, pagemap, off, nb)  # into a decoded page (or across words)
                    if regions[r, R_KIND] != RK_PLAIN:
                        b = ((addr - regions[r, R_BASE]) >> 2) & (nbanks - 1)
                        banks[b, B_ACCESSES] += 1
                        banks[b, B_COUNTER] = next_counter(banks[b, B_COUNTER], ncores)
                        banks[b, B_FLAG] ^= 1
                        stat[c, S_TCDM_ACCESSES] += 1
                    extra = misaligned_extra(addr, nb)
                    if extra:
                        cost += extra
                        ex_busy = extra
                        stat[c, S_MISALIGNED] += extra
                    lat = regions[r, R_LATENCY] - 1
                    if lat > 0:
                        cost += lat
                        stat[c, S_ST_EXT] += 1
                        stat[c, S_ST_EXT_CYC] += lat
                    if addr == tohost and nb == 4 and (v & 1) == 1:
                        tim[c, T_HALTED] = 1
                        tim[c, T_EXIT_CODE] = (v & MASK32) >> 1
                        halted = True
                elif r == -1:
                    if stdout_base <= addr < stdout_base + stdout_size:
                        n = io[IO_OUT_LEN]
                        outbuf[n, 0] = (addr - stdout_base) >> 3
                        outbuf[n, 1] = v & 0xFF
                        io[IO_OUT_LEN] = n + 1
                        if n + 1 >= out_cap:
                            status = ST_OUTPUT_FULL
                    elif addr == corestatus and nb == 4:
                        if (v >> 31) & 1 and io[IO_EXIT_CYCLE] < 0:
                            # the run ends with this cycle: the other cores finish it (the scheduler
                            # returns ST_EXIT once every agent is past it); nothing runs after it
                            io[IO_EXIT_CODE] = v & 0x7FFFFFFF
                            io[IO_CORE] = c
                            io[IO_EXIT_CYCLE] = issue
                            horizon = min(horizon, issue)
                            params[P_HORIZON] = horizon
                            limit = min(limit, horizon)
                            ahead = min(ahead, horizon)
                            stop = min(stop, horizon)
                    else:
                        poff = cl.periph_offset(addr, params)
                        pst = cl.PS_UNMAPPED
                        if poff >= 0 and nb == 4 and (addr & 3) == 0 and op != OP_FSW:
                            pst, pcost, pwake, paux = cl.periph_store(poff, c, issue, v, regions, eu_core, eu_glob,
                                                                      dma_tr, dma_port, dma_glob, cyc, tim, xreg,
                                                                      freg, stat, params)
                            cost = pcost
                            stat[c, S_PERIPH] += pcost - 1
                            if pwake - 1 < limit:
                                # another agent is due then: run ahead of it by runahead cycles at most
                                limit = pwake - 1
                                ahead = min(ahead, limit + runahead)
                                stop = min(stop, ahead)
                            if pst == cl.PS_DMA_FAULT:
                                status = ST_DMA_FAULT
                                io[IO_CORE] = c
                                io[IO_PC] = p
                                io[IO_TVAL] = paux
                        if pst == cl.PS_UNMAPPED:
                            trap_cause = CAUSE_STORE_FAULT
                            trap_val = addr
            elif op == OP_ADD:
                if rd != 0:
                    xreg[c, rd] = s32(xreg[c, rs1] + xreg[c, rs2])
            elif op == OP_BNE or op == OP_BEQ or op == OP_BLT or op == OP_BGE or op == OP_BLTU or op == OP_BGEU:
                a = xreg[c, rs1]
                b = xreg[c, rs2]
                if op == OP_BEQ:
                    taken = a == b
                elif op == OP_BNE:
                    taken = a != b
                elif op == OP_BLT:
                    taken = a < b
                elif op == OP_BGE:
                    taken = a >= b
                elif op == OP_BLTU:
                    taken = (a & MASK32) < (b & MASK32)
                else:
                    taken = (a & MASK32) >= (b & MASK32)
                if taken:
                    target = (p + imm) & MASK32
                    if target & 3:
                        trap_cause = CAUSE_FETCH_MISALIGNED
                        trap_val = target
                    else:
                        npc = target
                        cost = 3
                        stat[c, S_BRANCH] += 2
                        stat[c, S_BTAKEN] += 1
                        if issue + 1 < fdiv_ready + 2 and p + 4 < f_hi and is_csr_op(code[idx + 1, _OP]):
                            # the killed CSR instruction behind the branch stays in decode, where its
                            # csr_apu_stall (not gated by instr_valid) holds the fetch until the divider is free
                            cost = fdiv_ready + 2 - issue
                            stat[c, S_FDIV_WAIT] += cost - 3
            elif op == OP_SLLI:
                if rd != 0:
                    xreg[c, rd] = s32(xreg[c, rs1] << imm)
            elif op == OP_SRLI:
                if rd != 0:
                    xreg[c, rd] = s32((xreg[c, rs1] & MASK32) >> imm)
            elif op == OP_SRAI:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] >> imm
            elif op == OP_LUI:
                if rd != 0:
                    xreg[c, rd] = imm
            elif op == OP_AUIPC:
                if rd != 0:
                    xreg[c, rd] = s32(p + imm)
            elif op == OP_JAL:
                target = (p + imm) & MASK32
                if target & 3:
                    trap_cause = CAUSE_FETCH_MISALIGNED
                    trap_val = target
                else:
                    if rd != 0:
                        xreg[c, rd] = s32(p + 4)
                    npc = target
                    cost = jump_cost(issue, pcset, False, stat, c)
            elif op == OP_JALR:
                target = (xreg[c, rs1] + imm) & 0xFFFFFFFE
                if target & 3:
                    trap_cause = CAUSE_FETCH_MISALIGNED
                    trap_val = target
                else:
                    if rd != 0:
                        xreg[c, rd] = s32(p + 4)
                    npc = target
                    cost = jump_cost(issue, pcset, rd != 0 and rd == rs1, stat, c)
            elif op == OP_SUB:
                if rd != 0:
                    xreg[c, rd] = s32(xreg[c, rs1] - xreg[c, rs2])
            elif op == OP_ANDI:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] & imm
            elif op == OP_ORI:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] | imm
            elif op == OP_XORI:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] ^ imm
            elif op == OP_SLTI:
                if rd != 0:
                    xreg[c, rd] = 1 if xreg[c, rs1] < imm else 0
            elif op == OP_SLTIU:
                if rd != 0:
                    xreg[c, rd] = 1 if (xreg[c, rs1] & MASK32) < (imm & MASK32) else 0
            elif op == OP_SLL:
                if rd != 0:
                    xreg[c, rd] = s32(xreg[c, rs1] << (xreg[c, rs2] & 31))
            elif op == OP_SRL:
                if rd != 0:
                    xreg[c, rd] = s32((xreg[c, rs1] & MASK32) >> (xreg[c, rs2] & 31))
            elif op == OP_SRA:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] >> (xreg[c, rs2] & 31)
            elif op == OP_SLT:
                if rd != 0:
                    xreg[c, rd] = 1 if xreg[c, rs1] < xreg[c, rs2] else 0
            elif op == OP_SLTU:
                if rd != 0:
                    xreg[c, rd] = 1 if (xreg[c, rs1] & MASK32) < (xreg[c, rs2] & MASK32) else 0
            elif op == OP_XOR:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] ^ xreg[c, rs2]
            elif op == OP_OR:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] | xreg[c, rs2]
            elif op == OP_AND:
                if rd != 0:
                    xreg[c, rd] = xreg[c, rs1] & xreg[c, rs2]
            elif op == OP_MUL:
                if rd != 0:
                    xreg[c, rd] = s32(xreg[c, rs1] * xreg[c, rs2])
            elif op == OP_MULH or op == OP_MULHSU or op == OP_MULHU:
                a = xreg[c, rs1]
                b = xreg[c, rs2]
                ua = np.uint64(a & MASK32)
                ub = np.uint64(b & MASK32)
                hi = np.int64((ua * ub) >> np.uint64(32))  # unsigned high word
                if op == OP_MULH:
                    hi = hi - (b if a < 0 else 0) - (a if b < 0 else 0)
                elif op == OP_MULHSU:
                    hi = hi - ((b & MASK32) if a < 0 else 0)
                if rd != 0:
                    xreg[c, rd] = s32(hi)
                cost = 5
                ex_busy = 4
                stat[c, S_MULH] += 4
            elif op == OP_DIV or op == OP_DIVU or op == OP_REM or op == OP_REMU:
                a = xreg[c, rs1]
                b = xreg[c, rs2]
                signed = op == OP_DIV or op == OP_REM
                if signed:
                    if b == 0:
                        q = -1
                        rm_ = a
                    elif a == -0x80000000 and b == -1:
                        q = a
                        rm_ = 0
                    else:
                        q = abs(a) // abs(b)
                        if (a < 0) != (b < 0):
                            q = -q
                        rm_ = a - q * b
                else:
                    ua = a & MASK32
                    ub = b & MASK32
                    if ub == 0:
                        q = MASK32
                        rm_ = ua
                    else:
                        q = ua // ub
                        rm_ = ua - q * ub
                if rd != 0:
                    xreg[c, rd] = s32(q if (op == OP_DIV or op == OP_DIVU) else rm_)
                cost = div_cycles(signed, b)
                ex_busy = cost - 1
                stat[c, S_DIV] += cost - 1
            elif (flags & OPF_FP) != 0:
                # ---- F extension (flw/fsw are handled with the loads/stores)
                ms = csr[c, C_MSTATUS]
                rmode = code[idx, _RM]
                if rmode == 7:
                    rmode = csr[c, C_FRM]
                if (ms & MSTATUS_FS) == 0 or rmode > 4:
                    trap_cause = CAUSE_ILLEGAL
                    trap_val = code[idx, _WORD] & MASK32
                else:
                    csr[c, C_MSTATUS] = ms | MSTATUS_FS
                    if nfpu > 0 and (flags & OPF_SHARED_FPU) != 0:
                        f_unit = tim[c, T_FPU]
                        tim[c, T_FPU] = 0
                        shared[U_FPU_COUNTER + f_unit] = next_counter(shared[U_FPU_COUNTER + f_unit], ncores)
                        shared[U_FPU_OPS + f_unit] += 1
                        stat[c, S_FPU_OPS] += 1
                    fa = freg[c, rs1]
                    fb = freg[c, rs2]
                    fl = 0
                    res = 0
                    if op == OP_FMADD_S or op == OP_FMSUB_S or op == OP_FNMSUB_S or op == OP_FNMADD_S:
                        fma_op = 0 if op == OP_FMADD_S else (1 if op == OP_FMSUB_S else (2 if op == OP_FNMSUB_S else 3))
                        res, fl = fpu.f_fma(fa, fb, freg[c, code[idx, _RS3]], rmode, fma_op)
                        freg[c, rd] = res
                    elif op == OP_FADD_S:
                        res, fl = fpu.f_add(fa, fb, rmode)
                        freg[c, rd] = res
                    elif op == OP_FMUL_S:
                        res, fl = fpu.f_mul(fa, fb, rmode)
                        freg[c, rd] = res
                    elif op == OP_FSUB_S:
                        res, fl = fpu.f_sub(fa, fb, rmode)
                        freg[c, rd] = res
                    elif op == OP_FDIV_S or op == OP_FSQRT_S:
                        if op == OP_FDIV_S:
                            res, fl = fpu.f_div(fa, fb, rmode)
                        else:
                            res, fl = fpu.f_sqrt(fa, rmode)
                        freg[c, rd] = res
                        if shared_div:
                            # one non-pipelined divider for the cluster: wait until it is free
                            free_at = shared[U_DIV_FREE]
                            if free_at > issue:
                                stat[c, S_FDIV_WAIT] += free_at - issue
                                tim[c, T_LAST_STALL] = S_FDIV_WAIT
                                issue = free_at
                            fdiv_ready = issue + div_latency
                            shared[U_DIV_FREE] = fdiv_ready
                        elif op == OP_FDIV_S:
                            fdiv_ready = issue + fdiv_cycles(fa, fb)
                            if ((fb >> 23) & 0xFF) == 0 and (fb & 0x7FFFFF) != 0 and not _fp_special(fa):
                                # a subnormal divisor also holds the pipeline one cycle at the issue
                                cost = 2
                                ex_busy = 1
                                stat[c, S_FDIV_WAIT] += 1
                        else:
                            fdiv_ready = issue + fsqrt_cycles(fa, res, fl)
                        fdiv_dst = code[idx, _DST]
                        fdiv_wb = 1
                    elif op == OP_FSGNJ_S:
                        freg[c, rd] = (fa & 0x7FFFFFFF) | (fb & 0x80000000)
                    elif op == OP_FSGNJN_S:
                        freg[c, rd] = (fa & 0x7FFFFFFF) | ((fb ^ 0x80000000) & 0x80000000)
                    elif op == OP_FSGNJX_S:
                        freg[c, rd] = fa ^ (fb & 0x80000000)
                    elif op == OP_FMIN_S:
                        res, fl = fpu.f_min(fa, fb)
                        freg[c, rd] = res
                    elif op == OP_FMAX_S:
                        res, fl = fpu.f_max(fa, fb)
                        freg[c, rd] = res
                    elif op == OP_FMV_X_W:
                        if rd != 0:
                            xreg[c, rd] = s32(fa)
                    elif op == OP_FMV_W_X:
                        freg[c, rd] = xreg[c, rs1] & MASK32
                    elif op == OP_FCVT_W_S or op == OP_FCVT_WU_S:
                        if op == OP_FCVT_W_S:
                            res, fl = fpu.f_cvt_w_s(fa, rmode)
                        else:
                            res, fl = fpu.f_cvt_wu_s(fa, rmode)
                        if rd != 0:
                            xreg[c, rd] = res
                    elif op == OP_FCVT_S_W:
                        res, fl = fpu.f_cvt_s_w(xreg[c, rs1], rmode)
                        freg[c, rd] = res
                    elif op == OP_FCVT_S_WU:
                        res, fl = fpu.f_cvt_s_wu(xreg[c, rs1], rmode)
                        freg[c, rd] = res
                    elif op == OP_FEQ_S or op == OP_FLT_S or op == OP_FLE_S:
                        if op == OP_FEQ_S:
                            res, fl = fpu.f_eq(fa, fb)
                        elif op == OP_FLT_S:
                            res, fl = fpu.f_lt(fa, fb)
                        else:
                            res, fl = fpu.f_le(fa, fb)
                        if rd != 0:
                            xreg[c, rd] = res
                    elif op == OP_FCLASS_S:
                        if rd != 0:
                            xreg[c, rd] = fpu.f_class(fa)
                    csr[c, C_FFLAGS] |= fl
            elif op == OP_CSRRW or op == OP_CSRRS or op == OP_CSRRC or op == OP_CSRRWI or op == OP_CSRRSI or op == OP_CSRRCI:
                num = imm & 0xFFF
                src = xreg[c, rs1] if (op == OP_CSRRW or op == OP_CSRRS or op == OP_CSRRC) else np.int64(rs1)
                is_rw = op == OP_CSRRW or op == OP_CSRRWI
                write = is_rw or rs1 != 0
                # read-modify-write values are computed from the value read
                ok, old = csr_access(csr, stat, opcount, evs, vc_acc, vc_snap, c, hartid, num, False, 0, issue)
                if ok and write:
                    if is_rw:
                        wv = src
                    elif op == OP_CSRRS or op == OP_CSRRSI:
                        wv = old | src
                    else:
                        wv = old & ~src
                    ok, dummy = csr_access(csr, stat, opcount, evs, vc_acc, vc_snap, c, hartid, num, True, wv, issue)
                    if ok and num == 0xCC1:
                        # pi_perf_start/stop: log a snapshot so that the region can be reported
                        n = io[IO_REGION_N]
                        if n < region_log.shape[0]:
                            region_log[n, 0] = c
                            region_log[n, 1] = issue
                            region_log[n, 2] = csr[c, C_PCMR] & 1
                            for q in range(NUM_STAT_SLOTS):
                                region_log[n, 3 + q] = stat[c, q]
                            io[IO_REGION_N] = n + 1
                if not ok:
                    trap_cause = CAUSE_ILLEGAL
                    trap_val = code[idx, _WORD] & MASK32
                else:
                    if rd != 0:
                        xreg[c, rd] = old
                    if csr_is_flushing(num) or (write and (num == 0x002 or num == 0x003)):
                        # frm / fcsr writes flush too (CV32E40P decoder: csr_status_o for CSR_FRM, CSR_FCSR)
                        cost = 4
                        stat[c, S_CSR] += 3
            elif op == OP_FENCE or op == OP_FENCE_I:
                cost = 4
                stat[c, S_FENCE] += 3
            elif op == OP_WFI:
                # the core's clock stops until an event of its event-unit mask is pending (there are no
                # interrupt sources); with one already pending it continues as a nop
                sleeping = cl.wfi_sleep(c, issue, p, eu_core)
            elif op == OP_ECALL:
                trap_cause = CAUSE_ECALL_M
            elif op == OP_EBREAK:
                trap_cause = CAUSE_BREAKPOINT
                trap_val = p
            elif op == OP_MRET:
                ms = csr[c, C_MSTATUS]
                mie = MSTATUS_MIE if (ms & MSTATUS_MPIE) else 0
                csr[c, C_MSTATUS] = (ms & ~MSTATUS_MIE) | mie | MSTATUS_MPIE | MSTATUS_MPP
                npc = csr[c, C_MEPC]
                cost = mret_cycles
                stat[c, S_TRAP] += mret_cycles - 1
            elif op == OP_NOCODE:
                trap_cause = CAUSE_FETCH_MISALIGNED if p & 3 else CAUSE_FETCH_FAULT
                trap_val = p
            else:  # OP_ILLEGAL
                trap_cause = CAUSE_ILLEGAL
                trap_val = code[idx, _WORD] & MASK32

            # ---- exceptions
            if trap_cause >= 0:
                stat[c, S_TRAPS] += 1
                if tracing:
                    # the trapping instruction, with its cause, before the handler's first instruction
                    full = append_trace(trace, io, issue, c, p, code[idx, _WORD] if op != OP_NOCODE else 0, 0, 0,
                                        trap_cycles, tim[c, T_LAST_STALL], trap_cause + 1, trap_val)
                    if full and status == ST_BUDGET:
                        status = ST_TRACE_FULL
                if csr[c, C_MTVEC] == 0:
                    status = ST_FAULT
                    io[IO_CORE] = c
                    io[IO_PC] = p
                    io[IO_CAUSE] = trap_cause
                    io[IO_TVAL] = trap_val
                    cyc[c] = issue
                    break
                csr[c, C_MEPC] = p
                csr[c, C_MCAUSE] = trap_cause
                csr[c, C_MTVAL] = trap_val
                ms = csr[c, C_MSTATUS]
                mpie = MSTATUS_MPIE if (ms & MSTATUS_MIE) else 0
                csr[c, C_MSTATUS] = (ms & ~(MSTATUS_MIE | MSTATUS_MPIE)) | mpie | MSTATUS_MPP
                npc = csr[c, C_MTVEC] & 0xFFFFFFFC
                cost = trap_cycles
                stat[c, S_TRAP] += trap_cycles  # the trapping instruction does not retire
                last_load = 0
                last_alu = 0
                tim[c, T_ID_EARLY] = 0
            else:
                if fdiv_wb != 0:
                    # a jalr in decode: the next one, or the jalr itself (its stale copy stays in decode)
                    jalr_in_dec = (op == OP_JALR and cost >= 2) or (
                        npc == p + 4 and npc < f_hi and code[idx + 1, _OP] == OP_JALR)
                    cost, ex_busy, fdiv_ready, pending = divider_writeback(fdiv_ready, issue, cost, ex_busy, op, flags,
                                                                           tim[c, T_MEM_RESP], jalr_in_dec, stat, c)
                    fdiv_wb = 1 if pending else 0
                if (flags & (OPF_LOAD | OPF_STORE)) != 0:
                    tim[c, T_MEM_RESP] = issue + 2 + ex_busy  # the (last) response comes the cycle after EX
                opcount[c, op] += 1
                stat[c, S_INSTR] += 1
                last_load = new_load
                # a jump's link is no ALU result in EX by the time its target is decoded, unless the target
                # follows it right away (a jump held in decode)
                last_alu = code[idx, _DST] if (new_load == 0 and code[idx, _DST] < 32
                                               and ((flags & OPF_JUMP) == 0 or cost == 1)) else 0
                tim[c, T_ID_EARLY] = ex_busy + ex_wait
                if (flags & OPF_LOAD) != 0 and op != OP_FLW:
                    tim[c, T_LD2_DST] = tim[c, T_LD1_DST]
                    tim[c, T_LD2_WB] = tim[c, T_LD1_WB]
                    tim[c, T_LD1_DST] = code[idx, _DST]
                    tim[c, T_LD1_WB] = issue + cost + 1  # with a 1-cycle memory: data back the cycle after EX
                if tracing:
                    d = code[idx, _DST]
                    if append_trace(trace, io, issue, c, p, code[idx, _WORD], d,
                                    freg[c, d - 32] if d >= 32 else xreg[c, d], cost,
                                    tim[c, T_LAST_STALL] | (TR_PARKED if sleeping else 0), 0, 0):
                        status = ST_TRACE_FULL

            executed += 1
            prev_p = p
            p = npc
            t = issue + cost
            if halted or sleeping or status != ST_BUDGET:
                break
            if mode == MODE_SINGLE:
                # continue with the core's own instructions; stop (resolved) at the next one that
                # needs cycle order, so that the scheduler can arbitrate it
                mode = MODE_BURST

        pc[c] = p
        if sleeping:
            cyc[c] = NO_LIMIT  # parked: an event will set its clock again
        elif status != ST_FAULT:
            cyc[c] = t
        tim[c, T_RESOLVED] = 1 if resolved else 0
        tim[c, T_LAST_LOAD_DST] = last_load
        tim[c, T_LAST_ALU_DST] = last_alu
        tim[c, T_FDIV_READY] = fdiv_ready
        tim[c, T_FDIV_DST] = fdiv_dst
        tim[c, T_FDIV_WB] = fdiv_wb
        tim[c, T_PREV_PC] = prev_p

    io[IO_EXECUTED] = executed
    io[IO_STATUS] = status
    return status
