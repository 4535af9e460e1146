"""The winner's step: an arbitration winner's FP operation executed by the cluster's scheduler itself, without
entering the core loop.

Where the cores run in lock-step and share FPUs (`vega`), every FP operation is an arbitration winner of its own
round, and the core loop (:func:`~pulpsim.sim.core.run_core`) is entered for it: the core's state loaded, the one
instruction executed, the next one's stalls resolved, the state stored (docs/architecture.md, "What an entry
costs"). :func:`winner_step` executes such an FP-unit operation with the core loop's own functions
(:mod:`pulpsim.sim.core`: the rounding mode and its legality, the shared FPU's counters, the result and the
flags, the retirement; :mod:`pulpsim.sim.dispatch`: the operation; :mod:`pulpsim.sim.timing`: the next
instruction's stalls), touching only the state these need, and resolves the next instruction when that one also
needs cycle order (the core would stop before it anyway). The core loop notes, when it stops a core before an
instruction, whether the step applies (T_STEP, :func:`~pulpsim.sim.core.short_winner`); anything the step does not
do is left to the core loop: a trap, an FP divide in flight, a trace being written, code outside the fetch window,
and the next instruction when it does not need cycle order. Only the scheduler of a cluster with shared FPUs
(:func:`pulpsim.sim.engine.run_shared_fpus`) compiles it.
"""

from __future__ import annotations

from . import dispatch
from .core import (count_shared_fpu_op, fp_enabled, fp_rounding_mode, retire, save_resolved, short_winner,
                   write_fp_result)
from .csr import MSTATUS_FS
from .decode import F_DST, F_OP, F_RS1, F_RS2, F_RS3
from .isa import OP_STALE, UNIT_FP
from .jit import jit_inline
from .timing import decode_stalls, divider_stalls
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)

STEP_NOT_TAKEN = 0  #: nothing done: the core loop executes the instruction
STEP_DONE = 1       #: executed, and the core stopped where the core loop would: before its next instruction,
#:                     resolved, or (unresolved) past `stop` or with the budget spent
STEP_CONTINUE = 2   #: executed; the core loop goes on from the next instruction (not resolved)


@jit_inline
def winner_step(c, fetch, code, opflags, regions, pc, xreg, freg, csr, cyc, tim, stat, opcount, shared, nbanks, nfpu,
                arbitrated, stop, last):
    """Execute core c's resolved instruction, granted in its clock's cycle, if it is an FP-unit operation that the
    core loop would execute in one cycle with no trap (see the module's docstring); then resolve the next
    instruction if it needs cycle order (it issues after the round's cycle, so it waits for a round of its own),
    as the core loop would stop before it, or leave it to the core loop. The core must not go past cycle `stop`
    (the core loop's limit for instructions on its own state); `last`: the instruction is the last of the engine
    call's budget. Returns STEP_*."""
    f_lo, f_hi, f_row = fetch
    p = pc[c]
    if p < f_lo or p >= f_hi or tim[c, T_FDIV_DST] != 0 or tim[c, T_FDIV_WB] != 0:
        return STEP_NOT_TAKEN
    idx = (p >> 2) + f_row
    op = code[idx, F_OP]
    flags = opflags[op]
    if (flags >> OPF_UNIT_SHIFT) != UNIT_FP:
        return STEP_NOT_TAKEN  # (also code written since the core stopped before it)
    ms = csr[c, C_MSTATUS]
    rmode = fp_rounding_mode(code, idx, csr, c)
    if not fp_enabled(ms, rmode):
        return STEP_NOT_TAKEN  # illegal: the core loop traps
    csr[c, C_MSTATUS] = ms | MSTATUS_FS
    if nfpu > 0 and (flags & OPF_SHARED_FPU) != 0:
        count_shared_fpu_op(tim, shared, stat, c, pc.shape[0])
    rs1 = code[idx, F_RS1]
    res, fl = dispatch.fp(op, freg[c, rs1], freg[c, code[idx, F_RS2]], freg[c, code[idx, F_RS3]], xreg[c, rs1], rmode)
    write_fp_result(code[idx, F_DST], res, fl, c, xreg, freg, csr)
    issue = cyc[c]
    ex_wait = tim[c, T_EX_WAIT]
    last_alu = retire(code, idx, op, flags, issue, 1, 0, ex_wait, 0, opcount, stat, tim, c)
    tim[c, T_LAST_LOAD_DST] = 0
    tim[c, T_LAST_ALU_DST] = last_alu
    tim[c, T_PREV_PC] = p
    tim[c, T_RESOLVED] = 0
    p += 4
    t = issue + 1
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
    issue, pcset = decode_stalls(code, idx, op, flags, t, t - ex_wait, 0, last_alu, stat, tim, c)
    ex_wait = 0
    fdiv_ready = tim[c, T_FDIV_READY]
    if fdiv_ready > 0:
        issue, ex_wait, _ = divider_stalls(code, idx, op, flags, issue, ex_wait, 0, fdiv_ready, stat, tim, c)
    save_resolved(code, idx, flags, xreg, tim, c, regions, nbanks, arbitrated, pcset, ex_wait)
    tim[c, T_STEP] = short_winner(code, idx, flags, opflags, p + 4 < f_hi)
    cyc[c] = issue
    tim[c, T_RESOLVED] = 1
    return STEP_DONE
