"""The core loop: runs one core's instructions, from its saved state, until the scheduler has to decide again.

:func:`run_core` is the unit both schedulers of :mod:`pulpsim.sim.engine` call (inlined): the cluster's
(``run``), which arbitrates the cores' shared resources cycle by cycle, and the one for a core that runs alone
(``run_alone``). Each compiles it into its own loop, so that the machine code of a one-core run is not shaped
by the cluster's scheduler around it (register allocation: see docs/architecture.md).

The cost of an instruction follows the CV32E40P core (docs/timing.md): one
issue cycle plus stalls that are charged *before* it issues (load-use, jalr
dependency, FP divider) and extra cycles it spends itself (taken branch,
jumps, mulh, div, CSR flush, fence, misaligned access, slow memory, the FP
divider's write-back).  An instruction issues from decode and is in EX the
cycle after; the next one waits in decode while it is busy there.  Every extra cycle is
counted under its cause in ``stat`` so that the stall breakdown always adds up.

Memory safety: every guest address goes through :func:`~pulpsim.sim.memory.find_region`,
which checks the whole access against the platform's regions before any array is
indexed (Numba does no bounds checking).
"""

from __future__ import annotations

import numpy as np

from . import cluster as cl
from .bits import MASK32, s32
from .timing import (decode_stalls, div_cycles, divider_stalls, divider_writeback, fdiv_cycles, fp_special,
                     fsqrt_cycles, jump_cost)
from .csr import MSTATUS_FS, csr_instruction, enter_trap, is_csr_op, return_from_trap
from .arbiter import count_tcdm_access, cores_arbitrated, next_counter, note_request, tcdm_bank
from .memory import (access_bytes, access_extra_cycles, fetch_window, find_region, invalidate_code,
                     mem_read, mem_write, order_key, record_load_ahead, written_after_load)
from . import dispatch
from .decode import F_DST, F_IMM, F_OP, F_RD, F_RM, F_RS1, F_RS2, F_RS3, F_WORD
from .isa import (
    OP_DIV, OP_EBREAK, OP_ECALL, OP_FDIV_S, OP_FENCE, OP_FENCE_I, OP_FLW,
    OP_FSW, OP_JALR, OP_MRET, OP_NOCODE, OP_REM, OP_STALE, OP_WFI, UNIT_ALU, UNIT_BRANCH, UNIT_CSR,
    UNIT_DIV, UNIT_FDIV, UNIT_FP, UNIT_JUMP, UNIT_LOAD, UNIT_MULH, UNIT_STORE,
)
from .jit import jit, jit_inline
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)

NO_LIMIT = 1 << 62
HANDOVER = -2  #: (in place of an exception's cause) the core stops here for the cluster's scheduler (run_core)

# How a scheduler runs a core (see run_core).
MODE_BURST = 0    #: alone and earliest: run until another core is due
MODE_RESOLVE = 1  #: only compute the next instruction's hazard stalls
MODE_SINGLE = 2   #: run exactly one instruction (an arbitration winner)


@jit
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


@jit_inline
def run_ahead_until(wake, limit, ahead, stop, runahead):
    """A burst's limits once another agent is due in cycle `wake` (a device the core started or woke): the core
    may still run ahead of it, through instructions on its own state, by `runahead` cycles at most. Returns
    (limit, ahead, stop)."""
    if wake - 1 < limit:
        limit = wake - 1
        ahead = min(ahead, limit + runahead)
        stop = min(stop, ahead)
    return limit, ahead, stop


@jit_inline
def save_resolved(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset, ex_wait):
    """Keep what the core loop knows of core c's next instruction, in row `idx`, whose stalls it has resolved
    (its clock is then the instruction's issue cycle): the cycle the fetch was redirected in (`pcset`), the cycles
    it will wait in EX, and, on a platform whose cores' requests are `arbitrated`, the shared resources it
    requests."""
    tim[c, T_PCSET] = pcset
    tim[c, T_EX_WAIT] = ex_wait
    if arbitrated:
        note_request(code, idx, flags, xreg, tim, c, regions, nbanks)


@jit_inline
def short_winner(code, idx, flags, opflags, next_in_window):
    """1 if the instruction in row `idx` (with `flags`) is one the cluster's scheduler executes itself as an
    arbitration winner (pulpsim.sim.step: an FP-unit operation) and the instruction after it
    (in the fetch window if `next_in_window`) needs cycle order too, so that the core would stop again right
    after it; else 0. (A hint: the step checks the instruction again.)"""
    if (flags >> OPF_UNIT_SHIFT) == UNIT_FP and next_in_window and (opflags[code[idx + 1, F_OP]] & OPF_ORDERED) != 0:
        return 1
    return 0


@jit_inline
def stop_before(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset, ex_wait, issue):
    """Stop core c before the instruction in row `idx`, whose stalls are resolved (it issues in cycle `issue`), for
    the cluster's scheduler to execute it in cycle order (a load that was to run ahead of it but reaches a device
    or the test-and-set alias; an instruction a core running alone hands over: hand_over). Returns the loop's
    (t, resolved)."""
    save_resolved(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset, ex_wait)
    return issue, True


@jit_inline
def hand_over(code, idx, flags, xreg, tim, c, regions, nbanks, pcset, ex_wait, issue):
    """Stop core c, alone, before the instruction in row `idx`, whose stalls are resolved (it issues in cycle
    `issue`), for the cluster's scheduler to execute it (see run_core). Returns the loop's (t, resolved,
    status)."""
    t, resolved = stop_before(code, idx, flags, xreg, tim, c, regions, nbanks, True, pcset, ex_wait, issue)
    return t, resolved, ST_SCHEDULE


@jit_inline
def fp_rounding_mode(code, idx, csr, c):
    """The rounding mode of core c's FP instruction in row `idx`: its rm field, or frm if dynamic (reserved ones
    are above 4)."""
    rmode = code[idx, F_RM]
    if rmode == 7:
        rmode = csr[c, C_FRM]
    return rmode


@jit_inline
def fp_enabled(ms, rmode):
    """Whether an FP instruction in rounding mode `rmode` is legal with `ms` the core's mstatus: the FP unit is on
    and the mode is not reserved. (It then marks the FP state dirty: ms | MSTATUS_FS.)"""
    return (ms & MSTATUS_FS) != 0 and rmode <= 4


@jit_inline
def count_shared_fpu_op(tim, shared, stat, c, ncores):
    """Count core c's operation on the shared FPU it was granted (T_FPU): its round-robin counter and operations,
    and the core's FPU operations."""
    f_unit = tim[c, T_FPU]
    tim[c, T_FPU] = 0
    shared[U_FPU_COUNTER + f_unit] = next_counter(shared[U_FPU_COUNTER + f_unit], ncores)
    shared[U_FPU_OPS + f_unit] += 1
    stat[c, S_FPU_OPS] += 1


@jit_inline
def write_fp_result(d, res, fl, c, xreg, freg, csr):
    """Write an FP instruction's result to its destination `d` (a unified register id) and accrue its flags."""
    if d >= 32:
        freg[c, d - 32] = res
    elif d != 0:
        xreg[c, d] = res
    csr[c, C_FFLAGS] |= fl


@jit_inline
def retire(code, idx, op, flags, issue, cost, ex_busy, ex_wait, new_load, opcount, stat, tim, c):
    """Retire core c's instruction in row `idx`, issued in cycle `issue`, which took `cost` cycles (`ex_busy` of
    them in EX, after `ex_wait` waiting there for the divider) and, if a load, wrote `new_load`: count it and
    keep what the next instructions' stalls depend on. Returns the register its ALU result writes (0: none)."""
    if (flags & (OPF_LOAD | OPF_STORE)) != 0:
        tim[c, T_MEM_RESP] = issue + 2 + ex_busy  # the (last) response comes the cycle after EX
    opcount[c, op] += 1
    stat[c, S_INSTR] += 1
    tim[c, T_ID_EARLY] = ex_busy + ex_wait
    if (flags & OPF_LOAD) != 0 and op != OP_FLW:
        tim[c, T_LD2_DST] = tim[c, T_LD1_DST]
        tim[c, T_LD2_WB] = tim[c, T_LD1_WB]
        tim[c, T_LD1_DST] = code[idx, F_DST]
        tim[c, T_LD1_WB] = issue + cost + 1  # with a 1-cycle memory: data back the cycle after EX
    # a jump's link is no ALU result in EX by the time its target is decoded, unless the target
    # follows it right away (a jump held in decode)
    return code[idx, F_DST] if (new_load == 0 and code[idx, F_DST] < 32
                                and ((flags & OPF_JUMP) == 0 or cost == 1)) else 0


@jit_inline
def load_from_region(code, pagemap, idx, op, addr, nb, r, c, regions, mem, xreg, freg, csr, banks, stat, nbanks):
    """Core c's load (the instruction in row `idx`) of `nb` bytes at `addr`, in region r: the access (a TCDM bank's
    counted; the test-and-set alias sets the word), the destination register written. Returns (the register it
    wrote for the load-use rule, -1 if it is illegal: an flw with the FP unit off; the cycles of a misaligned
    access's second transaction; the region's latency beyond the first cycle)."""
    mem8, mem16, mem32, _ = mem
    off = addr - regions[r, R_BASE] + regions[r, R_OFFSET]
    v = mem_read(mem8, mem16, mem32, off, nb)
    b = tcdm_bank(regions, r, addr, nbanks)
    if b >= 0:
        count_tcdm_access(banks, stat, c, b, stat.shape[0])
        if regions[r, R_KIND] == RK_TAS:  # test-and-set: the word becomes all ones
            mem_write(mem8, mem16, mem32, off, nb, -1)
            invalidate_code(code, pagemap, off, nb)
    rd = code[idx, F_RD]
    if op == OP_FLW:
        ms = csr[c, C_MSTATUS]
        if (ms & MSTATUS_FS) == 0:
            return -1, 0, 0
        csr[c, C_MSTATUS] = ms | MSTATUS_FS
        freg[c, rd] = v
        new_load = code[idx, F_DST]
    else:
        v = dispatch.load(op, v)
        if rd != 0:
            xreg[c, rd] = v
        new_load = code[idx, F_DST] if rd != 0 else LOAD_X0
    ex_busy, lat = access_extra_cycles(addr, nb, regions, r, stat, c, S_LD_EXT, S_LD_EXT_CYC)
    return new_load, ex_busy, lat


@jit_inline
def store_to_region(code, pagemap, addr, nb, r, v, c, regions, mem, banks, stat, nbanks):
    """Core c's store of the low `nb` bytes of `v` at `addr`, in region r: the access (a TCDM bank's counted; the
    decoded code it overwrites marked stale). Returns (the cycles of a misaligned access's second transaction,
    the region's latency beyond the first cycle)."""
    mem8, mem16, mem32, _ = mem
    off = addr - regions[r, R_BASE] + regions[r, R_OFFSET]
    mem_write(mem8, mem16, mem32, off, nb, v)
    if pagemap[off >> CODE_PAGE_SHIFT] >= 0 or (off & 3) + nb > 4:
        invalidate_code(code, pagemap, off, nb)  # into a decoded page (or across words)
    b = tcdm_bank(regions, r, addr, nbanks)
    if b >= 0:
        count_tcdm_access(banks, stat, c, b, stat.shape[0])
    return access_extra_cycles(addr, nb, regions, r, stat, c, S_ST_EXT, S_ST_EXT_CYC)


@jit_inline
def core_config(params):
    """The engine parameters the core loop reads, taken from `params` once per call of the engine."""
    return (params[P_STDOUT], params[P_STDOUT_SIZE], params[P_CORESTATUS], params[P_MAX_CYCLES],
            params[P_TRAP_CYCLES], params[P_MRET_CYCLES], params[P_CLUSTER_ID], params[P_TRACING] != 0,
            params[P_NBANKS], params[P_NFPU], params[P_SHARED_DIV] != 0, params[P_DIV_LATENCY],
            params[P_RUNAHEAD])


@jit_inline
def run_core(c, mode, alone, loads_ahead, limit, budget, executed, fetch, config, code, pagemap, opflags, params,
             regions, mem, pc, xreg, freg, csr, cyc, tim, stat, opcount, banks, shared, counters, eu, dma, out, io):
    """Run core c from its saved state (pc, cyc, tim) in `mode`, with `limit` the last cycle in which it may issue
    an instruction that needs cycle order; then save its state.

    Returns (executed, status, fetch): the instructions executed so far in this call of the engine (`executed`
    counts on, up to `budget`), a status ST_* (ST_BUDGET: the scheduler decides again), and the fetch window
    (f_lo, f_hi, f_row; see fetch_window) for the next entry. `config` is core_config(params).

    `alone` (a constant: True in run_alone) leaves the peripherals to the cluster's scheduler: the core stops
    before an access outside its memories (other than its stdout and exit words) or a wfi, resolved, with the
    status ST_SCHEDULE, and the cluster's scheduler executes it. Numba prunes the peripherals' branches from a
    loop compiled with alone=True, so that a program that never reaches them does not compile their code.

    The arrays are the engine's (pulpsim.sim.state), some grouped, since a call takes at most 30 arguments here
    (CPython passes more as one tuple, which Numba does not inline): mem = (mem8, mem16, mem32, load_keys),
    counters = (evs, vc_acc, vc_snap, region_log), eu = (eu_core, eu_glob), dma = (dma_tr, dma_port, dma_glob)."""
    mem8, mem16, mem32, load_keys = mem
    outbuf, trace = out
    evs, vc_acc, vc_snap, region_log = counters
    eu_core, eu_glob = eu
    dma_tr, dma_port, dma_glob = dma
    f_lo, f_hi, f_row = fetch
    ncores = pc.shape[0]
    (stdout_base, stdout_size, corestatus, max_cycles, trap_cycles, mret_cycles, cluster_id, tracing, nbanks, nfpu,
     shared_div, div_latency, runahead) = config
    # whether the next instruction's requests are noted for the arbitration when the core stops before it (a
    # core running alone notes them for the cluster's scheduler it hands over to; that keeps the one-core
    # loop's machine code as it was: with the test in it, it ran 6-10 % slower)
    arbitrated = True if alone else cores_arbitrated(params)
    # loads of memory ahead of cycle order (`loads_ahead`, a constant: where nothing is arbitrated, with other cores;
    # then every write checks their record; see memory.py), taken in this run unless it is traced
    take_loads_ahead = loads_ahead and params[P_LOADS_AHEAD] != 0
    horizon = params[P_HORIZON]  # set by a CORESTATUS exit: the last cycle in which anything happens
    out_cap = outbuf.shape[0]
    status = ST_BUDGET
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
    # a core that only resolves its stalls computes them even when the budget is spent
    budget_end = NO_LIMIT if mode == MODE_RESOLVE else budget
    halted = False
    sleeping = False

    resolved = tim[c, T_RESOLVED] != 0
    while True:
        if executed >= budget_end:
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
        op = code[idx, F_OP]
        if op == OP_STALE:
            status = ST_DECODE
            io[IO_CORE] = c
            io[IO_CODE_ADDR] = p
            break
        flags = opflags[op]

        # ---- stalls charged before issue (already included in t if resolved)
        ex_wait = 0  # cycles an FP-unit instruction waits for the divider (in EX on the RTL, see divider_stalls)
        if resolved:
            resolved = False
            issue = t
            pcset = tim[c, T_PCSET]
            ex_wait = tim[c, T_EX_WAIT]
        else:
            issue, pcset = decode_stalls(code, idx, op, flags, t, t - tim[c, T_ID_EARLY], last_load, last_alu,
                                         stat, tim, c)
        if fdiv_dst != 0 or fdiv_ready > 0:  # (an FP divide has been issued)
            issue, ex_wait, fdiv_dst = divider_stalls(code, idx, op, flags, issue, ex_wait, fdiv_dst, fdiv_ready,
                                                      stat, tim, c)
        if mode == MODE_RESOLVE or (issue > limit and ((flags & OPF_ORDERED) != 0 or issue > ahead)):
            # another core may be due before or with this instruction: let the scheduler decide
            # (instructions that only touch the core's own state may run ahead of the others, and where nothing
            # is arbitrated, loads of memory too: see memory.py)
            if alone or not (take_loads_ahead and (flags & OPF_LOAD) != 0 and issue <= ahead and mode != MODE_RESOLVE):
                t = issue
                resolved = True
                save_resolved(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset, ex_wait)
                if not alone and nfpu > 0:
                    # (where FP operations are arbitrated: see pulpsim.sim.step)
                    tim[c, T_STEP] = short_winner(code, idx, flags, opflags, p + 4 < f_hi)
                break

        cost = 1
        ex_busy = 0  # extra cycles this instruction spends in EX (the next one waits in decode meanwhile)
        npc = p + 4
        new_load = 0
        trap_cause = -1
        trap_val = 0
        rd = code[idx, F_RD]
        rs1 = code[idx, F_RS1]
        rs2 = code[idx, F_RS2]
        imm = np.int64(code[idx, F_IMM])

        # ---- execute: the instruction's unit reads the operands, calls its semantic function (through the
        # dispatch generated from the ISA table) and charges its cycles
        unit = flags >> OPF_UNIT_SHIFT
        if unit == UNIT_ALU:
            v = dispatch.alu(op, xreg[c, rs1], xreg[c, rs2], imm, p)
            if rd != 0:
                xreg[c, rd] = v
        elif unit == UNIT_LOAD:
            addr = (xreg[c, rs1] + imm) & MASK32
            nb = access_bytes(op)
            r = find_region(regions, addr, nb)
            if r < 0:
                if alone:
                    t, resolved, status = hand_over(code, idx, flags, xreg, tim, c, regions, nbanks, pcset, ex_wait,
                                                    issue)
                    break  # the cluster's scheduler executes it (see the docstring)
                if loads_ahead and issue > limit:  # (a load ahead of cycle order: not of a device)
                    t, resolved = stop_before(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset,
                                              ex_wait, issue)
                    break
                poff = cl.periph_offset(addr, params)
                pst = cl.PS_UNMAPPED
                if poff >= 0 and nb == 4 and (addr & 3) == 0 and op != OP_FLW:
                    pst, v, pcost, pwake = cl.periph_load(poff, c, issue, np.int64(code[idx, F_DST]), p, eu_core,
                                                          eu_glob, dma_tr, dma_port, dma_glob, cyc, tim, xreg,
                                                          freg, stat, params)
                    if pst == cl.PS_DONE:
                        if rd != 0:
                            xreg[c, rd] = s32(v)
                        cost = pcost
                        stat[c, S_PERIPH] += pcost - 1
                        new_load = code[idx, F_DST]
                        limit, ahead, stop = run_ahead_until(pwake, limit, ahead, stop, runahead)
                    elif pst == cl.PS_SLEEP:
                        sleeping = True
                if pst == cl.PS_UNMAPPED:
                    trap_cause = CAUSE_LOAD_FAULT
                    trap_val = addr
            else:
                if loads_ahead and issue > limit:
                    # a load ahead of cycle order (see memory.py): not of the test-and-set alias (a write)
                    if regions[r, R_KIND] == RK_TAS:
                        t, resolved = stop_before(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset,
                                                  ex_wait, issue)
                        break
                    record_load_ahead(load_keys, addr - regions[r, R_BASE] + regions[r, R_OFFSET], nb,
                                      order_key(issue, c))
                elif loads_ahead and regions[r, R_KIND] == RK_TAS and written_after_load(
                        load_keys, addr - regions[r, R_BASE] + regions[r, R_OFFSET], nb, order_key(issue, c)):
                    status = ST_LOAD_AHEAD  # (the test-and-set alias writes the word it loads)
                    io[IO_TVAL] = order_key(issue, c)
                    break
                new_load, ex_busy, lat = load_from_region(code, pagemap, idx, op, addr, nb, r, c, regions, mem, xreg,
                                                          freg, csr, banks, stat, nbanks)
                if new_load < 0:
                    trap_cause = CAUSE_ILLEGAL
                    trap_val = code[idx, F_WORD] & MASK32
                    new_load = 0
                cost += ex_busy + lat
        elif unit == UNIT_STORE:
            addr = (xreg[c, rs1] + imm) & MASK32
            if rs1 == 2 and addr < tim[c, T_STACK_LO]:
                # a store into a stack frame below the core's own stack: it overflowed
                status = ST_STACK_OVERFLOW
                io[IO_CORE] = c
                io[IO_PC] = p
                io[IO_TVAL] = xreg[c, 2] & MASK32
                break
            nb = access_bytes(op)
            if op == OP_FSW:
                if (csr[c, C_MSTATUS] & MSTATUS_FS) == 0:
                    trap_cause = CAUSE_ILLEGAL
                    trap_val = code[idx, F_WORD] & MASK32
                v = freg[c, rs2]
            else:
                v = xreg[c, rs2]
            r = find_region(regions, addr, nb) if trap_cause < 0 else -2
            if r >= 0:
                if loads_ahead and written_after_load(load_keys, addr - regions[r, R_BASE] + regions[r, R_OFFSET], nb,
                                                      order_key(issue, c)):
                    status = ST_LOAD_AHEAD
                    io[IO_TVAL] = order_key(issue, c)
                    break
                ex_busy, lat = store_to_region(code, pagemap, addr, nb, r, v, c, regions, mem, banks, stat, nbanks)
                cost += ex_busy + lat
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
                elif alone:
                    t, resolved, status = hand_over(code, idx, flags, xreg, tim, c, regions, nbanks, pcset, ex_wait,
                                                    issue)
                    break  # the cluster's scheduler executes it (see the docstring)
                else:
                    poff = cl.periph_offset(addr, params)
                    pst = cl.PS_UNMAPPED
                    if poff >= 0 and nb == 4 and (addr & 3) == 0 and op != OP_FSW:
                        pst, pcost, pwake, paux = cl.periph_store(poff, c, issue, v, regions, eu_core, eu_glob,
                                                                  dma_tr, dma_port, dma_glob, cyc, tim, xreg,
                                                                  freg, stat, params)
                        cost = pcost
                        stat[c, S_PERIPH] += pcost - 1
                        limit, ahead, stop = run_ahead_until(pwake, limit, ahead, stop, runahead)
                        if pst == cl.PS_DMA_FAULT:
                            status = ST_DMA_FAULT
                            io[IO_CORE] = c
                            io[IO_PC] = p
                            io[IO_TVAL] = paux
                    if pst == cl.PS_UNMAPPED:
                        trap_cause = CAUSE_STORE_FAULT
                        trap_val = addr
        elif unit == UNIT_BRANCH:
            taken = dispatch.branch(op, xreg[c, rs1], xreg[c, rs2])
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
                    if issue + 1 < fdiv_ready + 2 and p + 4 < f_hi and is_csr_op(code[idx + 1, F_OP]):
                        # the killed CSR instruction behind the branch stays in decode, where its
                        # csr_apu_stall (not gated by instr_valid) holds the fetch until the divider is free
                        cost = fdiv_ready + 2 - issue
                        stat[c, S_FDIV_WAIT] += cost - 3
        elif unit == UNIT_JUMP:
            target = dispatch.jump(op, xreg[c, rs1], imm, p)
            if target & 3:
                trap_cause = CAUSE_FETCH_MISALIGNED
                trap_val = target
            else:
                if rd != 0:
                    xreg[c, rd] = s32(p + 4)
                npc = target
                # a jalr that links into its own rs1 (CV32E40P: jr_stall on its stale copy in decode)
                cost = jump_cost(issue, pcset, op == OP_JALR and rd != 0 and rd == rs1, stat, c)
        elif unit == UNIT_MULH:
            v = dispatch.mulh(op, xreg[c, rs1], xreg[c, rs2])
            if rd != 0:
                xreg[c, rd] = v
            cost = 5
            ex_busy = 4
            stat[c, S_MULH] += 4
        elif unit == UNIT_DIV:
            b = xreg[c, rs2]
            v = dispatch.div(op, xreg[c, rs1], b)
            if rd != 0:
                xreg[c, rd] = v
            cost = div_cycles(op == OP_DIV or op == OP_REM, b)
            ex_busy = cost - 1
            stat[c, S_DIV] += cost - 1
        elif unit == UNIT_FP or unit == UNIT_FDIV:
            # ---- F extension (flw/fsw are handled with the loads/stores)
            ms = csr[c, C_MSTATUS]
            rmode = fp_rounding_mode(code, idx, csr, c)
            if not fp_enabled(ms, rmode):
                trap_cause = CAUSE_ILLEGAL
                trap_val = code[idx, F_WORD] & MASK32
            else:
                csr[c, C_MSTATUS] = ms | MSTATUS_FS
                if nfpu > 0 and (flags & OPF_SHARED_FPU) != 0:
                    count_shared_fpu_op(tim, shared, stat, c, ncores)
                fa = freg[c, rs1]
                fb = freg[c, rs2]
                if unit == UNIT_FP:
                    res, fl = dispatch.fp(op, fa, fb, freg[c, code[idx, F_RS3]], xreg[c, rs1], rmode)
                else:
                    # on the FP divider: iterative, its result written back later (fdiv_ready)
                    res, fl = dispatch.fdiv(op, fa, fb, 0, 0, rmode)
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
                        if ((fb >> 23) & 0xFF) == 0 and (fb & 0x7FFFFF) != 0 and not fp_special(fa):
                            # a subnormal divisor also holds the pipeline one cycle at the issue
                            cost = 2
                            ex_busy = 1
                            stat[c, S_FDIV_WAIT] += 1
                    else:
                        fdiv_ready = issue + fsqrt_cycles(fa, res, fl)
                    fdiv_dst = code[idx, F_DST]
                    fdiv_wb = 1
                write_fp_result(code[idx, F_DST], res, fl, c, xreg, freg, csr)
        elif unit == UNIT_CSR:
            cost = csr_instruction(op, rd, rs1, imm & 0xFFF, c, hartid, issue, xreg, csr, stat, opcount, evs,
                                   vc_acc, vc_snap, region_log, io)
            if cost == 0:
                trap_cause = CAUSE_ILLEGAL
                trap_val = code[idx, F_WORD] & MASK32
        elif op == OP_FENCE or op == OP_FENCE_I:  # unit "system" from here on
            cost = 4
            stat[c, S_FENCE] += 3
        elif op == OP_WFI:
            if alone:
                t, resolved, status = hand_over(code, idx, flags, xreg, tim, c, regions, nbanks, pcset, ex_wait, issue)
                break  # the cluster's scheduler executes it (see the docstring)
            else:
                # the core's clock stops until an event of its event-unit mask is pending (there are no
                # interrupt sources); with one already pending it continues as a nop
                sleeping = cl.wfi_sleep(c, issue, p, eu_core)
        elif op == OP_ECALL:
            trap_cause = CAUSE_ECALL_M
        elif op == OP_EBREAK:
            trap_cause = CAUSE_BREAKPOINT
            trap_val = p
        elif op == OP_MRET:
            npc = return_from_trap(csr, c)
            cost = mret_cycles
            stat[c, S_TRAP] += mret_cycles - 1
        elif op == OP_NOCODE:
            trap_cause = CAUSE_FETCH_MISALIGNED if p & 3 else CAUSE_FETCH_FAULT
            trap_val = p
        else:  # OP_ILLEGAL
            trap_cause = CAUSE_ILLEGAL
            trap_val = code[idx, F_WORD] & MASK32

        # ---- exceptions
        if trap_cause >= 0:
            stat[c, S_TRAPS] += 1
            if tracing:
                # the trapping instruction, with its cause, before the handler's first instruction
                full = append_trace(trace, io, issue, c, p, code[idx, F_WORD] if op != OP_NOCODE else 0, 0, 0,
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
            npc = enter_trap(csr, c, p, trap_cause, trap_val)
            cost = trap_cycles
            stat[c, S_TRAP] += trap_cycles  # the trapping instruction does not retire
            last_load = 0
            last_alu = 0
            tim[c, T_ID_EARLY] = 0
        else:
            if fdiv_wb != 0:
                # a jalr in decode: the next one, or the jalr itself (its stale copy stays in decode)
                jalr_in_dec = (op == OP_JALR and cost >= 2) or (
                    npc == p + 4 and npc < f_hi and code[idx + 1, F_OP] == OP_JALR)
                cost, ex_busy, fdiv_ready, pending = divider_writeback(fdiv_ready, issue, cost, ex_busy, op, flags,
                                                                       tim[c, T_MEM_RESP], jalr_in_dec, stat, c)
                fdiv_wb = 1 if pending else 0
            last_load = new_load
            last_alu = retire(code, idx, op, flags, issue, cost, ex_busy, ex_wait, new_load, opcount, stat, tim, c)
            if tracing:
                d = code[idx, F_DST]
                if append_trace(trace, io, issue, c, p, np.int64(code[idx, F_WORD]), np.int64(d),
                                freg[c, d - 32] if d >= 32 else xreg[c, d], cost,
                                tim[c, T_LAST_STALL] | (TR_PARKED if sleeping else 0), 0, 0):
                    status = ST_TRACE_FULL

        executed += 1
        prev_p = p
        p = npc
        t = issue + cost
        if halted or sleeping or status != ST_BUDGET:
            break
        # (after an arbitration winner's single instruction) continue with the core's own instructions;
        # stop (resolved) at the next one that needs cycle order, so that the scheduler can arbitrate it
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
    return executed, status, (f_lo, f_hi, f_row)
