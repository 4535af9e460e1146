"""The Numba engine's schedulers: which core runs next, in which cycle, and what the cluster's shared resources
grant it.

Data flow: :mod:`pulpsim.sim.machine` loads an ELF into the flat memory array,
decodes the pages of memory that hold code (:mod:`pulpsim.sim.decode`) and calls
:func:`run` (:func:`run_shared_fpus` where FPUs are shared; for a one-core cluster, :func:`run_alone`) with
plain numpy arrays
(layouts in :mod:`pulpsim.sim.state`). They return a status (``ST_*``) whenever
Python has to act: the program ended, a fault, an output or trace buffer is full,
a core fetches from memory that is not decoded yet (or changed since), or the
instruction budget of this call is spent.

This module is the scheduler; the rest of the engine lives in its units:
:mod:`~pulpsim.sim.core` (the core loop: one core's instructions with their timing),
:mod:`~pulpsim.sim.step` (an arbitration winner's FP operation, executed without entering the core loop),
:mod:`~pulpsim.sim.arbiter` (per-cycle arbitration of banks, FPUs and the DMA),
:mod:`~pulpsim.sim.timing` (decode-stage and multi-cycle timing rules),
:mod:`~pulpsim.sim.dispatch` and :mod:`~pulpsim.sim.semantics` (what each
instruction computes), :mod:`~pulpsim.sim.csr` (CSRs and counters),
:mod:`~pulpsim.sim.memory` (region checks, memory access, code pages) and
:mod:`~pulpsim.sim.cluster` (event unit, DMA, peripherals).

Timing: each core has its own clock ``cyc[core]`` = the cycle at which its
next instruction issues.  The core with the smallest clock (lowest id on a
tie) runs next, so instructions from all cores are executed in global cycle
order: this is what shared-resource arbitration (TCDM banks, FPUs, DMA) hooks
into.  A core keeps running, without re-scanning the others, while it stays
earliest.
"""

from __future__ import annotations

from . import jitcache
from .jit import jit_entry, jit_inline

jitcache.ensure_fresh()

from . import cluster as cl  # noqa: E402  (after the cache check, see pulpsim.sim.jitcache)
from .arbiter import arbitrate, cores_arbitrated, fpu_of  # noqa: E402
from .core import MODE_BURST, MODE_RESOLVE, MODE_SINGLE, NO_LIMIT, core_config, run_core  # noqa: E402
from .memory import invalidate_code, order_key, written_after_load  # noqa: E402
from .step import STEP_DONE, winner_step  # noqa: E402
from .state import *  # noqa: E402,F401,F403  (array layouts and constants, see pulpsim.sim.state)

# What the cluster's scheduler does next (see run()).
PH_SCHEDULE = 0
PH_RESOLVE = 1
PH_EXECUTE = 2


@jit_inline
def move_dma_chunk(code, pagemap, banks, dma_chunk, i, now, dma_tr, dma_glob, regions, mem8, load_keys, watch):
    """Move the DMA's granted chunk i in cycle `now`: count the access of its TCDM bank (which also alternates the
    bank's DMA priority flag), copy its bytes, and mark the decoded code they overwrite stale. Returns whether it
    wrote a word a core loaded ahead of cycle order, later than `now` (see memory.py; `watch`, a constant: loads
    run ahead on this platform)."""
    b = dma_chunk[i, 3]
    if b >= 0:
        banks[b, B_ACCESSES] += 1
        banks[b, B_FLAG] ^= 1
    dst = cl.dma_move(dma_chunk[i], now, dma_tr, dma_glob, regions, mem8)
    if dst >= 0:
        invalidate_code(code, pagemap, dst, dma_chunk[i, 2])
        if watch:
            return written_after_load(load_keys, dst, dma_chunk[i, 2], order_key(now, -1))
    return False


@jit_inline
def stuck(t0, dma_t, max_cycles, c, pc, tim, io):
    """Why the run cannot go on when the earliest core's clock is t0 (core c's; NO_LIMIT: every core stopped or
    asleep) and the DMA's dma_t, not before t0: ST_CYCLE_LIMIT (core c passed max_cycles), ST_ALL_HALTED,
    ST_DEADLOCK (a core sleeps and nothing can wake it), or ST_BUDGET when it can."""
    if max_cycles < t0 < NO_LIMIT and dma_t > max_cycles:
        io[IO_CORE] = c
        io[IO_PC] = pc[c]
        return ST_CYCLE_LIMIT
    if t0 == NO_LIMIT:
        for k in range(pc.shape[0]):
            if tim[k, T_HALTED] == 0:
                return ST_DEADLOCK
        return ST_ALL_HALTED
    return ST_BUDGET


# ----------------------------------------------------------------------------
# The schedulers
# ----------------------------------------------------------------------------

@jit_entry
def run(code, pagemap, opflags, evs, params, regions, mem8, mem16, mem32,
        pc, xreg, freg, csr, cyc, tim, stat, opcount, vc_acc, vc_snap,
        banks, shared, sched, eu_core, eu_glob, dma_tr, dma_port, dma_glob, dma_chunk, dma_log,
        region_log, load_keys, outbuf, trace, io, budget):
    """Execute up to `budget` instructions (all cores together); return a status ST_*."""
    return cluster_loop(code, pagemap, opflags, params, regions, (mem8, mem16, mem32, load_keys), pc, xreg, freg,
                        csr, cyc,
                        tim, stat, opcount, banks, shared, sched, (evs, vc_acc, vc_snap, region_log),
                        (eu_core, eu_glob), (dma_tr, dma_port, dma_glob, dma_chunk, dma_log), outbuf, trace, io,
                        budget, False, False)


@jit_entry
def run_shared_fpus(code, pagemap, opflags, evs, params, regions, mem8, mem16, mem32,
                    pc, xreg, freg, csr, cyc, tim, stat, opcount, vc_acc, vc_snap,
                    banks, shared, sched, eu_core, eu_glob, dma_tr, dma_port, dma_glob, dma_chunk, dma_log,
                    region_log, load_keys, outbuf, trace, io, budget):
    """run() for a cluster whose FPUs are shared (the same scheduler, which also executes arbitration winners' FP
    operations itself: pulpsim.sim.step). A loop of its own: elsewhere FP operations are no arbitration winners
    (private FPUs need no cycle order), and their scheduler compiles without the step."""
    return cluster_loop(code, pagemap, opflags, params, regions, (mem8, mem16, mem32, load_keys), pc, xreg, freg,
                        csr, cyc,
                        tim, stat, opcount, banks, shared, sched, (evs, vc_acc, vc_snap, region_log),
                        (eu_core, eu_glob), (dma_tr, dma_port, dma_glob, dma_chunk, dma_log), outbuf, trace, io,
                        budget, True, False)


@jit_entry
def run_loads_ahead(code, pagemap, opflags, evs, params, regions, mem8, mem16, mem32,
                    pc, xreg, freg, csr, cyc, tim, stat, opcount, vc_acc, vc_snap,
                    banks, shared, sched, eu_core, eu_glob, dma_tr, dma_port, dma_glob, dma_chunk, dma_log,
                    region_log, load_keys, outbuf, trace, io, budget):
    """run() for a cluster whose cores' requests are never arbitrated (no bank arbitration, private FPUs), whose
    loads of memory may run ahead of cycle order (see pulpsim.sim.memory): the same scheduler, with the core loop's
    loads ahead and every write's check of them compiled in (elsewhere they are left out)."""
    return cluster_loop(code, pagemap, opflags, params, regions, (mem8, mem16, mem32, load_keys), pc, xreg, freg,
                        csr, cyc, tim, stat, opcount, banks, shared, sched, (evs, vc_acc, vc_snap, region_log),
                        (eu_core, eu_glob), (dma_tr, dma_port, dma_glob, dma_chunk, dma_log), outbuf, trace, io,
                        budget, False, True)


@jit_inline
def cluster_loop(code, pagemap, opflags, params, regions, mem, pc, xreg, freg, csr, cyc, tim, stat, opcount, banks,
                 shared, sched, counters, eu, dma, outbuf, trace, io, budget, fpu_step, loads_ahead):
    """The cluster's scheduler (run, run_shared_fpus, run_loads_ahead): execute up to `budget` instructions (all cores
    together); return a status ST_*. `fpu_step` (a constant) lets the scheduler execute arbitration winners' FP
    operations itself (pulpsim.sim.step); `loads_ahead` (a constant) lets loads of memory run ahead of cycle order
    (pulpsim.sim.memory). The arrays are grouped as in run_core (at most 30 arguments: see there):
    mem = (mem8, mem16, mem32, load_keys), counters = (evs, vc_acc, vc_snap, region_log), eu = (eu_core, eu_glob),
    dma = (dma_tr, dma_port, dma_glob, dma_chunk, dma_log)."""
    mem8, mem16, mem32, load_keys = mem
    evs, vc_acc, vc_snap, region_log = counters
    eu_core, eu_glob = eu
    dma_tr, dma_port, dma_glob, dma_chunk, dma_log = dma
    ncores = pc.shape[0]
    max_cycles = params[P_MAX_CYCLES]
    nbanks = params[P_NBANKS]
    nfpu = params[P_NFPU]
    contended = cores_arbitrated(params)  # can cores issuing together conflict? (else no request is noted)
    horizon = params[P_HORIZON]  # set by a CORESTATUS exit: the last cycle in which anything happens
    c = 0
    mode = MODE_BURST
    limit = NO_LIMIT
    executed = 0
    status = ST_BUDGET
    fetch = (0, 0, 0)  # the decoded code page last fetched from (see fetch_window): none yet
    config = core_config(params)

    # sched[wi .. nwork): the cores of the cycle being arbitrated still to run, in ascending id: to resolve,
    # then to execute
    phase = PH_SCHEDULE
    nwork = 0
    wi = 0
    while executed < budget and status == ST_BUDGET:
        # --- decide which core runs next, in which mode, and until when
        if phase == PH_SCHEDULE:
            # one pass: the earliest clock t0, the cores due then (listed in sched[0 .. nat), in ascending id),
            # the next clock t1 after it, and how many of the cores due at t0 still need their stalls resolved
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
                        sched[0] = k
                        unresolved = 1 - tim[k, T_RESOLVED]
                    elif ck == t0:
                        sched[nat] = k
                        nat += 1
                        unresolved += 1 - tim[k, T_RESOLVED]
                    elif ck < t1:
                        t1 = ck
            c = sched[0]
            dma_t = dma_glob[cl.DG_TIME]
            if t0 > horizon and dma_t > horizon:
                status = ST_EXIT  # every agent has finished the exit's cycle
                break
            if dma_t < t0:
                # the DMA moves data alone in cycles dma_t, dma_t + 1, ... (no core issues then), until a core is
                # due, its transfer ends (which may wake a core), or it passes the exit or the cycle limit
                tid = dma_glob[cl.DG_ACTIVE]
                while True:
                    nchunk = cl.dma_chunks(dma_tr, dma_glob, regions, nbanks, dma_chunk)
                    for i in range(nchunk):
                        if move_dma_chunk(code, pagemap, banks, dma_chunk, i, dma_t, dma_tr, dma_glob, regions, mem8,
                                          load_keys, loads_ahead):
                            status = ST_LOAD_AHEAD
                            io[IO_TVAL] = order_key(dma_t, -1)
                    if status != ST_BUDGET:
                        break
                    dma_glob[cl.DG_BUSY] += 1
                    dma_glob[cl.DG_TIME] = dma_t + 1
                    cl.dma_finish_if_done(dma_t, dma_tr, dma_glob, dma_log, eu_core, cyc, tim, xreg, freg, stat,
                                          params)
                    dma_t += 1
                    if (dma_t >= t0 or dma_t > horizon or dma_t > max_cycles or dma_glob[cl.DG_ACTIVE] != tid
                            or dma_glob[cl.DG_TIME] != dma_t):
                        break
                continue
            status = stuck(t0, dma_t, max_cycles, c, pc, tim, io)
            if status != ST_BUDGET:
                break
            if nat == 1 and dma_t > t0:
                # alone and earliest: run without arbitration until another core is due
                mode = MODE_BURST
                limit = min(dma_t, t1, horizon + 1) - 1
            else:
                # several cores issue in cycle t0: first resolve their hazard stalls ...
                nwork = 0
                if unresolved > 0:
                    for i in range(nat):
                        k = sched[i]
                        if tim[k, T_RESOLVED] == 0:
                            sched[nwork] = k
                            nwork += 1
                    phase = PH_RESOLVE
                else:
                    # ... then arbitrate their shared resources (and the DMA's) and run the winners
                    nchunk = 0
                    if dma_t == t0:
                        nchunk = cl.dma_chunks(dma_tr, dma_glob, regions, nbanks, dma_chunk)
                    if contended:
                        nwork = arbitrate(code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks,
                                          shared, sched, nat, dma_chunk, nchunk)
                    else:
                        # nothing to arbitrate (conflict-free banks, private FPUs): every core and the DMA's
                        # chunks go ahead
                        nwork = nat
                        for i in range(nchunk):
                            dma_chunk[i, 4] = 1
                    if dma_t == t0:
                        moved = False
                        for i in range(nchunk):
                            if dma_chunk[i, 4] != 0:
                                if move_dma_chunk(code, pagemap, banks, dma_chunk, i, t0, dma_tr, dma_glob, regions,
                                                  mem8, load_keys, loads_ahead):
                                    status = ST_LOAD_AHEAD
                                    io[IO_TVAL] = order_key(t0, -1)
                                moved = True
                            else:
                                dma_glob[cl.DG_CONFLICTS] += 1
                                break  # chunks move in order
                        if moved:
                            dma_glob[cl.DG_BUSY] += 1
                        dma_glob[cl.DG_TIME] = t0 + 1
                        cl.dma_finish_if_done(t0, dma_tr, dma_glob, dma_log, eu_core, cyc, tim, xreg, freg, stat,
                                              params)
                    phase = PH_EXECUTE if nwork > 0 else PH_SCHEDULE
                wi = 0
                continue
        else:
            # the next core of the work list, in ascending id
            c = sched[wi]
            wi += 1
            if phase == PH_RESOLVE:
                mode = MODE_RESOLVE
                limit = cyc[c] - 1
            else:
                mode = MODE_SINGLE
                limit = cyc[c]
                if nfpu > 0 and (shared[U_FPU_REQUESTERS] >> c) & 1:
                    tim[c, T_FPU] = fpu_of(shared[U_FPU_REQUESTERS], c, nfpu)
            if wi >= nwork:
                phase = PH_SCHEDULE
            if fpu_step:
                if mode == MODE_SINGLE and tim[c, T_STEP] != 0 and params[P_TRACING] == 0:
                    # an FP operation is executed here, without entering the core loop (see pulpsim.sim.step)
                    done = winner_step(c, fetch, code, opflags, regions, pc, xreg, freg, csr, cyc, tim, stat,
                                       opcount, shared, nbanks, nfpu, contended,
                                       min(limit + params[P_RUNAHEAD], horizon, max_cycles), executed + 1 >= budget)
                    if done != 0:
                        executed += 1
                        if done == STEP_DONE:
                            continue
                        mode = MODE_BURST
        executed, status, fetch = run_core(
            c, mode, False, loads_ahead, limit, budget, executed, fetch, config, code, pagemap, opflags, params,
            regions, mem, pc, xreg, freg, csr, cyc, tim, stat, opcount, banks, shared,
            (evs, vc_acc, vc_snap, region_log), (eu_core, eu_glob), (dma_tr, dma_port, dma_glob), (outbuf, trace), io)
        horizon = params[P_HORIZON]

    if nfpu > 0 and phase == PH_EXECUTE:
        # winners of the last arbitration that this call did not reach keep the FPU they were routed to, as
        # losers do (T_FPU)
        for i in range(wi, nwork):
            k = sched[i]
            if (shared[U_FPU_REQUESTERS] >> k) & 1:
                tim[k, T_FPU] = fpu_of(shared[U_FPU_REQUESTERS], k, nfpu)

    io[IO_EXECUTED] = executed
    io[IO_STATUS] = status
    return status


@jit_entry(ext_tsp=True)  # (its block layout: see pulpsim.sim.jit)
def run_alone(code, pagemap, opflags, evs, params, regions, mem8, mem16, mem32,
              pc, xreg, freg, csr, cyc, tim, stat, opcount, vc_acc, vc_snap,
              banks, shared, sched, eu_core, eu_glob, dma_tr, dma_port, dma_glob, dma_chunk, dma_log,
              region_log, load_keys, outbuf, trace, io, budget):
    """Execute up to `budget` instructions of a one-core cluster while its core runs alone; return a status ST_*.

    While no DMA transfer is due by its clock, run() would run the core in bursts, as this does, and end the run
    as this does. When the DMA has to move data, this returns ST_SCHEDULE with io[IO_EXECUTED] the instructions
    executed so far, and the caller continues with run(), whose scheduler handles it. (The same core loop in a
    loop of its own, so that a one-core run's machine code is not shaped by the cluster's scheduler, and a
    program without DMA transfers compiles and loads only this.)"""
    max_cycles = params[P_MAX_CYCLES]
    executed = 0
    status = ST_BUDGET
    fetch = (0, 0, 0)  # the decoded code page last fetched from (see fetch_window): none yet
    config = core_config(params)
    while executed < budget and status == ST_BUDGET:
        # run's scheduler, for one core: the end of the run, the DMA's turn (handed over), or a burst
        t0 = cyc[0] if tim[0, T_HALTED] == 0 else NO_LIMIT
        dma_t = dma_glob[cl.DG_TIME]
        horizon = params[P_HORIZON]
        if t0 > horizon and dma_t > horizon:
            status = ST_EXIT
            break
        if dma_t < t0 or dma_t == t0 < NO_LIMIT:
            status = ST_SCHEDULE  # the DMA moves data before or with the core
            break
        status = stuck(t0, dma_t, max_cycles, 0, pc, tim, io)
        if status != ST_BUDGET:
            break
        executed, status, fetch = run_core(
            0, MODE_BURST, True, False, min(dma_t, horizon + 1) - 1, budget, executed, fetch, config, code, pagemap,
            opflags, params, regions, (mem8, mem16, mem32, load_keys), pc, xreg, freg, csr, cyc, tim, stat, opcount,
            banks, shared, (evs, vc_acc, vc_snap, region_log), (eu_core, eu_glob), (dma_tr, dma_port, dma_glob),
            (outbuf, trace), io)

    io[IO_EXECUTED] = executed
    io[IO_STATUS] = status
    return status
