"""Control and status registers: the machine-mode CSRs of CV32E40P, the RISC-V and PULP performance counters
(as virtual counters derived from the statistics) and the CSR access itself."""

from __future__ import annotations

import numpy as np

from . import dispatch
from .isa import OP_CSRRC, OP_CSRRCI, OP_CSRRS, OP_CSRRSI, OP_CSRRW, OP_CSRRWI
from .jit import jit, jit_inline
from .bits import MASK32, s32
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)

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


# the six Zicsr instructions are consecutive rows of the ISA table
assert (OP_CSRRS, OP_CSRRC, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI) == tuple(OP_CSRRW + i for i in range(1, 6))


@jit_inline
def is_csr_op(op):
    """Whether `op` is one of the Zicsr instructions."""
    return (op >= OP_CSRRW) & (op <= OP_CSRRCI)


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
# Instructions of the CSR unit and the trap sequence, out of the engine's core loop: they are rare on the
# hot path, and inside the loop their code made its compilation longer (Numba's SSA, typing and lowering
# grow faster than linearly with the size of a function)
# ----------------------------------------------------------------------------

@jit
def csr_instruction(op, rd, rs1, num, c, hartid, now, xreg, csr, stat, opcount, evs, vc_acc, vc_snap,
                    region_log, io):
    """Execute core c's Zicsr instruction `op` on CSR `num` in cycle `now`.

    Returns its cost in cycles (4 when the access flushes the pipeline), or 0 when it raises an
    illegal-instruction exception (nothing is written then)."""
    src = xreg[c, rs1] if (op == OP_CSRRW or op == OP_CSRRS or op == OP_CSRRC) else np.int64(rs1)
    write = op == OP_CSRRW or op == OP_CSRRWI or rs1 != 0
    # read-modify-write values are computed from the value read
    ok, old = csr_access(csr, stat, opcount, evs, vc_acc, vc_snap, c, hartid, num, False, 0, now)
    if ok and write:
        ok, _ = csr_access(csr, stat, opcount, evs, vc_acc, vc_snap, c, hartid, num, True,
                           dispatch.csr(op, old, src), now)
        if ok and num == 0xCC1:
            # pi_perf_start/stop: log a snapshot so that the region can be reported
            n = io[IO_REGION_N]
            if n < region_log.shape[0]:
                region_log[n, 0] = c
                region_log[n, 1] = now
                region_log[n, 2] = csr[c, C_PCMR] & 1
                for q in range(NUM_STAT_SLOTS):
                    region_log[n, 3 + q] = stat[c, q]
                io[IO_REGION_N] = n + 1
    if not ok:
        return 0
    if rd != 0:
        xreg[c, rd] = old
    if csr_is_flushing(num) or (write and (num == 0x002 or num == 0x003)):
        # frm / fcsr writes flush too (CV32E40P decoder: csr_status_o for CSR_FRM, CSR_FCSR)
        stat[c, S_CSR] += 3
        return 4
    return 1


@jit
def enter_trap(csr, c, pc, cause, tval):
    """Take an exception of core c at `pc` (mepc, mcause, mtval, mstatus's interrupt-enable stack); returns the
    handler's address (mtvec, direct mode)."""
    csr[c, C_MEPC] = pc
    csr[c, C_MCAUSE] = cause
    csr[c, C_MTVAL] = tval
    ms = csr[c, C_MSTATUS]
    mpie = MSTATUS_MPIE if (ms & MSTATUS_MIE) else 0
    csr[c, C_MSTATUS] = (ms & ~(MSTATUS_MIE | MSTATUS_MPIE)) | mpie | MSTATUS_MPP
    return csr[c, C_MTVEC] & 0xFFFFFFFC


@jit
def return_from_trap(csr, c):
    """mret of core c: pop mstatus's interrupt-enable stack; returns the address to continue at (mepc)."""
    ms = csr[c, C_MSTATUS]
    mie = MSTATUS_MIE if (ms & MSTATUS_MPIE) else 0
    csr[c, C_MSTATUS] = (ms & ~MSTATUS_MIE) | mie | MSTATUS_MPIE | MSTATUS_MPP
    return csr[c, C_MEPC]
