"""Host time of one cluster arbitration round (pulpsim.sim.arbiter.arbitrate), by kind of round.

Usage:  python benchmarks/arbitration_round.py [--platform vega] [--rounds N] [--json]

Loads the 8-core matmul of cluster_mips.py on the platform, puts every core at the same cycle with its next
instruction resolved and its requests noted as each kind of round has them, and times `arbitrate` on that
cycle N times in a compiled loop that restores the clocks and the work list before each call; the loop without the call is timed
too and subtracted. Kinds of rounds (8 cores due):
  no conflict      every core requests a different TCDM bank
  bank conflict    two cores request the same bank, the others different ones
  fpu              6 cores request a shared FPU (4 on vega), 2 different banks
  fpu + bank       6 FPU requests, the other 2 cores the same bank
Every branch is predicted here and the state is in cache, so this is the round's cost at best; in a run,
rounds of every kind alternate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from pulpsim.sim import state
from pulpsim.sim.arbiter import arbitrate
from pulpsim.sim.decode import F_WORD
from pulpsim.sim.jit import jit_entry
from pulpsim.sim.machine import Machine
from pulpsim.sim.memory import fetch_window
from pulpsim.sim.platform import get_platform

import cluster_mips

#: kind -> (cores requesting a shared FPU, {core: TCDM bank})
ROUNDS = {
    "no conflict": ((), {k: k for k in range(8)}),
    "bank conflict": ((), {0: 3, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7, 6: 8, 7: 9}),
    "fpu": ((0, 1, 2, 3, 4, 5), {6: 3, 7: 9}),
    "fpu + bank": ((0, 1, 2, 3, 4, 5), {6: 3, 7: 3}),
}


@jit_entry(cache=False)  # (it inlines pulpsim's arbitrate: a cached copy would not see a change to it)
def _timed(n, call, code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks, shared, sched, nat,
           dma_chunk, cyc0, sched0):
    """Restore the clocks and the work list, then (if `call`) arbitrate the cycle of the cores listed; n times. Returns the winners
    of the last call. (What else arbitrate writes, the contention counters and the last stall's cause, does
    not change its decisions, so it is left to accumulate.)"""
    won = 0
    for _ in range(n):
        for i in range(cyc.shape[0]):
            cyc[i] = cyc0[i]
        for i in range(sched.shape[0]):
            sched[i] = sched0[i]
        if call:
            won = arbitrate(code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks, shared, sched,
                            nat, dma_chunk, 0)
    return won


def _machine(platform: str) -> Machine:
    elf = cluster_mips.build_naive(platform, 1)
    m = Machine(get_platform(platform))
    m.load_elf(elf)
    m.predecode()
    return m


def measure(platform: str, rounds: int) -> dict:
    m = _machine(platform)
    ncores = m.pc.shape[0]
    entry = int(m.pc[0])
    _, _, delta = fetch_window(m.regions, m.pagemap, entry)
    row = (entry >> 2) + delta  # a decoded instruction: the requests below are noted for it
    out = {}
    for kind, (fpu_cores, bank_of) in ROUNDS.items():
        for k in range(ncores):
            m.cyc[k] = 0
            m.tim[k, state.T_HALTED] = 0
            m.tim[k, state.T_RESOLVED] = 1
            m.tim[k, state.T_REQ_ROW] = row
            m.tim[k, state.T_REQ_WORD] = m.code[row, F_WORD]
            m.tim[k, state.T_REQ_FPU] = 1 if k in fpu_cores else 0
            m.tim[k, state.T_REQ_BANK] = bank_of.get(k, -1)  # (-1: no TCDM access)
        sched0 = m.sched.copy()
        sched0[:ncores] = np.arange(ncores)
        args = (m.code, m.pagemap, m.opflags, m.params, m.regions, m.xreg, m.pc, m.cyc, m.tim, m.stat, m.banks,
                m.shared, m.sched, ncores, m.dma_chunk, m.cyc.copy(), sched0)
        winners = _timed(1, True, *args)
        best = None
        for _ in range(3):
            t = time.process_time()
            _timed(rounds, False, *args)
            base = time.process_time() - t
            t = time.process_time()
            _timed(rounds, True, *args)
            full = time.process_time() - t
            ns = (full - base) / rounds * 1e9
            best = ns if best is None or ns < best else best
        out[kind] = {"ns_per_round": round(best, 1), "winners": int(winners)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="vega")
    parser.add_argument("--rounds", type=int, default=2_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    res = measure(args.platform, args.rounds)
    if args.json:
        print(json.dumps({"platform": args.platform, "rounds": res}))
    else:
        print(f"arbitration rounds on {args.platform}, 8 cores due (best of 3, CPU time):")
        for kind, r in res.items():
            print(f"  {kind:14} {r['ns_per_round']:6.1f} ns per round ({r['winners']} winners)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
