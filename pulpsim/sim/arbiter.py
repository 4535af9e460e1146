"""Per-cycle arbitration of the cluster's shared resources: TCDM banks (word-interleaved, counter-steered
tree or fixed priority), shared FPUs and the DMA's second channel (docs/cluster.md)."""

from __future__ import annotations

from .decode import F_IMM, F_OP, F_RS1, F_WORD
from .isa import OP_STALE
from .jit import jit, jit_inline
from .bits import MASK32
from .memory import access_bytes, fetch_window, find_region
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)


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
def tcdm_request(code, idx, flags, xreg, k, regions, nbanks):
    """The TCDM bank that the instruction in row `idx` of core k's code requests (-1: none)."""
    if (flags & (OPF_LOAD | OPF_STORE)) == 0:
        return -1
    op = code[idx, F_OP]
    nb = access_bytes(op)
    addr = (xreg[k, code[idx, F_RS1]] + code[idx, F_IMM]) & MASK32
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
    tim[c, T_REQ_WORD] = code[idx, F_WORD]


@jit_inline
def next_counter(value, ncores):
    """A round-robin counter's next value (mod ncores, without a division)."""
    value += 1
    return 0 if value >= ncores else value


@jit_inline
def count_tcdm_access(banks, stat, c, b, ncores):
    """Count core c's granted access to TCDM bank b: the bank's accesses, its round-robin counter and the
    flag that alternates the DMA's priority (docs/cluster.md), and the core's TCDM accesses."""
    banks[b, B_ACCESSES] += 1
    banks[b, B_COUNTER] = next_counter(banks[b, B_COUNTER], ncores)
    banks[b, B_FLAG] ^= 1
    stat[c, S_TCDM_ACCESSES] += 1


@jit_inline
def arbitrate(code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks, shared, sched, nat, t0,
              dma_chunk, nchunk):
    """Arbitrate TCDM banks and shared FPUs among the cores issuing in cycle t0, listed in sched[0..nat).

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
    for i in range(nat):
        k = sched[i]
        row = tim[k, T_REQ_ROW]
        if code[row, F_WORD] == tim[k, T_REQ_WORD] and code[row, F_OP] != OP_STALE:
            bank = tim[k, T_REQ_BANK]
            fpu = tim[k, T_REQ_FPU]
        else:
            # the instruction was written since it was resolved: what is there now requests (nothing if it is
            # not decoded again yet: the stale row)
            lo, hi, row_delta = fetch_window(regions, pagemap, pc[k])
            idx = (pc[k] >> 2) + row_delta
            f = opflags[code[idx, F_OP]]
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
