"""The winner's step: an arbitration winner's instruction executed by the cluster's scheduler itself, without
entering the core loop, when it is one whose execution and retirement are short.

Where the cores run in lock-step, every instruction that needs cycle order is an arbitration winner of its own
round, and the core loop (:func:`~pulpsim.sim.core.run_core`) is entered for it: the core's state loaded, the one
instruction executed, the next one's stalls resolved, the state stored (docs/architecture.md, "What an entry
costs"). Those are the loads and stores of the cluster's memories and, on `vega`, most FP operations (each on a
shared FPU). :func:`winner_step` executes an FP-unit operation, or a load or store of a memory region, with the
core loop's own functions (:mod:`pulpsim.sim.core`: the rounding mode, the shared FPU's counters, the operation
and its result, the region's access, the retirement; :mod:`pulpsim.sim.timing`: the next instruction's stalls),
touching only the state these need. Anything else is left to the core loop: a trap, a device, the end of the
core's program (its `tohost` word), a stack overflow, an FP divide in flight, a trace being written, code
outside the fetch window; and so is the next instruction when it does not need cycle order.
"""

from __future__ import annotations

from .arbiter import note_request
from .bits import MASK32
from .core import (count_shared_fpu_op, fp_operation, fp_rounding_mode, load_from_region, retire, store_to_region,
                   write_fp_result)
from .csr import MSTATUS_FS
from .decode import F_DST, F_IMM, F_OP, F_RS1, F_RS2
from .isa import OP_FSW, OP_STALE, UNIT_FP, UNIT_LOAD, UNIT_STORE
from .memory import access_bytes, find_region
from .jit import jit_inline
from .timing import decode_stalls, divider_stalls
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)

STEP_NOT_TAKEN = 0  #: nothing done: the core loop executes the instruction
STEP_DONE = 1       #: executed, and the core stopped where the core loop would: before its next instruction,
#:                     resolved, or (unresolved) past `stop` or with the budget spent
STEP_CONTINUE = 2   #: executed; the core loop goes on from the next instruction (not resolved)


@jit_inline
def winner_step(c, fetch, code, pagemap, opflags, regions, mem, pc, xreg, freg, csr, cyc, tim, stat, opcount, banks,
                shared, nbanks, nfpu, arbitrated, stop, last):
    """Execute core c's resolved instruction, granted in its clock's cycle, if it is an FP-unit operation or a
    load or store of the cluster's memories that the core loop would execute with no trap and no effect beyond
    the core and the memory (see the module's docstring); then resolve the next instruction if it needs cycle
    order (it issues after the round's cycle, so it waits for a round of its own), as the core loop would stop
    before it, or leave it to the core loop. The core must not go past cycle `stop` (the core loop's limit for
    instructions on its own state); `last`: the instruction is the last of the engine call's budget. Returns
    STEP_*."""
    f_lo, f_hi, f_row = fetch
    p = pc[c]
    if p < f_lo or p >= f_hi or tim[c, T_FDIV_DST] != 0 or tim[c, T_FDIV_WB] != 0:
        return STEP_NOT_TAKEN
    idx = (p >> 2) + f_row
    op = code[idx, F_OP]
    flags = opflags[op]
    unit = flags >> OPF_UNIT_SHIFT
    cost = 1
    ex_busy = 0
    new_load = 0
    if unit == UNIT_FP:
        rmode = fp_rounding_mode(code, idx, csr, c)
        if rmode < 0:
            return STEP_NOT_TAKEN  # illegal: the core loop traps
        if nfpu > 0 and (flags & OPF_SHARED_FPU) != 0:
            count_shared_fpu_op(tim, shared, stat, c, pc.shape[0])
        res, fl = fp_operation(code, idx, op, c, xreg, freg, rmode)
        write_fp_result(code[idx, F_DST], res, fl, c, xreg, freg, csr)
    elif unit == UNIT_LOAD or unit == UNIT_STORE:
        rs1 = code[idx, F_RS1]
        addr = (xreg[c, rs1] + code[idx, F_IMM]) & MASK32
        nb = access_bytes(op)
        if (flags & OPF_FP) != 0 and (csr[c, C_MSTATUS] & MSTATUS_FS) == 0:
            return STEP_NOT_TAKEN  # an flw or fsw with the FP unit off: the core loop traps
        r = find_region(regions, addr, nb)
        if r < 0:
            return STEP_NOT_TAKEN  # a device, stdout or unmapped: the core loop's
        if unit == UNIT_LOAD:
            new_load, ex_busy, lat = load_from_region(code, pagemap, idx, op, addr, nb, r, c, regions, mem, xreg,
                                                      freg, csr, banks, stat, nbanks)
        else:
            if (rs1 == 2 and addr < tim[c, T_STACK_LO]) or addr == tim[c, T_TOHOST]:
                return STEP_NOT_TAKEN  # a stack overflow, or a possible end of the core's program
            v = freg[c, code[idx, F_RS2]] if op == OP_FSW else xreg[c, code[idx, F_RS2]]
            ex_busy, lat = store_to_region(code, pagemap, addr, nb, r, v, c, regions, mem, banks, stat, nbanks)
        cost += ex_busy + lat
    else:
        return STEP_NOT_TAKEN
    issue = cyc[c]
    ex_wait = tim[c, T_EX_WAIT]
    last_alu = retire(code, idx, op, flags, issue, cost, ex_busy, ex_wait, new_load, opcount, stat, tim, c)
    tim[c, T_LAST_LOAD_DST] = new_load
    tim[c, T_LAST_ALU_DST] = last_alu
    tim[c, T_PREV_PC] = p
    tim[c, T_RESOLVED] = 0
    p += 4
    t = issue + cost
    pc[c] = p
    cyc[c] = t

    # the next instruction: stop before it, resolved, if it needs cycle order (as the core loop does)
    if last or t > stop:
        return STEP_DONE
    if p >= f_hi:
        return STEP_CONTINUE
    idx += 1
    op = code[idx, F_OP]
    flags = opflags[op]
    if (flags & OPF_ORDERED) == 0 or op == OP_STALE:
        return STEP_CONTINUE
    issue, pcset = decode_stalls(code, idx, op, flags, t, t - ex_busy - ex_wait, new_load, last_alu, stat, tim, c)
    ex_wait = 0
    fdiv_ready = tim[c, T_FDIV_READY]
    if fdiv_ready > 0:
        issue, ex_wait, _ = divider_stalls(code, idx, op, flags, issue, ex_wait, 0, fdiv_ready, stat, tim, c)
    tim[c, T_PCSET] = pcset
    tim[c, T_EX_WAIT] = ex_wait
    if arbitrated:
        note_request(code, idx, flags, xreg, tim, c, regions, nbanks)
    cyc[c] = issue
    tim[c, T_RESOLVED] = 1
    return STEP_DONE
