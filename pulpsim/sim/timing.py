"""The core's timing rules that are not arbitration: the stalls an instruction waits in decode (load use,
jumps, the FP divider), the multi-cycle costs of the divider, FP divide and square root, and the FP divider's
write-back (CV32E40P, docs/timing.md)."""

from __future__ import annotations

from .csr import is_csr_op
from .decode import F_DST, F_RD, F_SRC_A, F_SRC_B, F_SRC_C
from .isa import OP_JALR, OP_MULH, OP_MULHSU, OP_MULHU
from .jit import jit, jit_inline
from .bits import clz32
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)


@jit
def div_cycles(signed, b):
    """Cycles of div/rem (signed) or divu/remu, from the divisor only (CV32E40P cv32e40p_div)."""
    if signed and b < 0:
        return 2 + clz32(~b)
    return 3 + clz32(b)


@jit
def fp_special(bits):
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
    if fp_special(a) or fp_special(b):
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
    if fp_special(a) or (a >> 31) != 0:
        return 3
    if flags & 1:
        return 19
    frac = result & 0x7FFFFF
    m = 0 if frac == 0 else 23 - _trailing_zeros(frac)
    return 6 + (m + 1) // 2


@jit_inline
def reads_register(code, idx, reg):
    """Whether the instruction reads unified register `reg` (never true for x0)."""
    return code[idx, F_SRC_A] == reg or code[idx, F_SRC_B] == reg or code[idx, F_SRC_C] == reg


@jit_inline
def decode_stalls(code, idx, op, flags, t, first_id, last_load, last_alu, stat, tim, c):
    """The load_stall and jr_stall cycles of the instruction in row `idx`, decoded and ready to issue in cycle
    `t` (CV32E40P cv32e40p_controller.sv), charged to the core's statistics. `first_id` is the cycle it entered
    decode, `last_load` the register a load in EX writes (LOAD_X0 for x0, 0 for none), `last_alu` the ALU
    result's register in EX (0 for none). Returns (issue cycle, pcset: for a jump, the cycle it redirects the
    fetch, see jump_pcset)."""
    issue = t
    pcset = 0
    jr_held = False
    if last_load != 0:
        if reads_register(code, idx, last_load):
            # the loaded value is used right away
            issue += 1
            stat[c, S_LOAD_USE] += 1
            tim[c, T_LAST_STALL] = S_LOAD_USE
            if op == OP_JALR:   # lw + dependent jalr: the load in write-back also raises jr_stall
                issue += 1
                stat[c, S_JR_STALL] += 1
                tim[c, T_LAST_STALL] = S_JR_STALL
                jr_held = True
        elif (flags & OPF_ALU_WB) != 0 and code[idx, F_RD] == (0 if last_load == LOAD_X0 else last_load):
            # the write-after-write term: only for writers of the ALU port, x0 included
            issue += 1
            stat[c, S_LOAD_USE] += 1
            tim[c, T_LAST_STALL] = S_LOAD_USE
    elif op == OP_JALR and last_alu != 0 and code[idx, F_SRC_A] == last_alu:
        # rs1 is the ALU result of the instruction in EX
        issue += 1
        stat[c, S_JR_STALL] += 1
        tim[c, T_LAST_STALL] = S_JR_STALL
        jr_held = True
    if (flags & OPF_JUMP) != 0:
        issue, pcset = jump_pcset(code, idx, op, issue, jr_held, first_id, stat, tim, c)
    return issue, pcset


@jit_inline
def divider_stalls(code, idx, op, flags, issue, ex_wait, fdiv_dst, fdiv_ready, stat, tim, c):
    """The cycles the instruction in row `idx`, otherwise ready in cycle `issue`, waits for the FP divider,
    whose result register is `fdiv_dst` (0 once written) and which writes it in cycle `fdiv_ready` (CV32E40P:
    apu_read_dep / apu_write_dep and apu_ready for FP-unit instructions, csr_apu_stall for CSR accesses).
    Returns (issue, ex_wait: the cycles of it spent in EX rather than decode, fdiv_dst)."""
    if fdiv_dst != 0:
        # an FP divide is in flight (or writes back this cycle)
        wait_until = issue
        dep = reads_register(code, idx, fdiv_dst) or code[idx, F_DST] == fdiv_dst
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
    return issue, ex_wait, fdiv_dst


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
    ra = code[idx, F_SRC_A]
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
