"""Per-cycle arbitration of the cluster's shared resources: TCDM banks (word-interleaved, counter-steered
tree or fixed priority), shared FPUs and the DMA's second channel (docs/cluster.md)."""

from __future__ import annotations

import numpy as np

from .decode import F_IMM, F_OP, F_RS1, F_WORD
from .isa import OP_STALE
from .jit import jit, jit_inline
from .bits import MASK32, bit_count, lowest_bit
from .memory import access_bytes, fetch_window, find_region
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)


@jit
def tree_winner(mask, counter, nmasters):
    """Winner among the masters in `mask` of the counter-steered binary tree.

    Masters 0..nmasters-1 are padded to a power of two; the root uses the
    counter's MSB, the leaves its LSB; when both subtrees request, the
    higher-index one wins iff that counter bit is 1.

    Written without branches on the masks, so that the same code also runs on a numpy array of masks (one
    winner per mask: tree_winners_table).
    """
    levels = 0
    while (1 << levels) < nmasters:
        levels += 1
    lo = mask * 0  # (0, or an array of zeros like `mask`)
    size = 1 << levels
    for j in range(levels):
        half = size >> 1
        sub = (1 << half) - 1
        left = ((mask >> lo) & sub) != 0
        right = ((mask >> (lo + half)) & sub) != 0
        upper = right & ((left == 0) | (((counter >> (levels - 1 - j)) & 1) == 1))
        lo = lo + half * upper
        size = half
    return lo


TABLE_MASTERS = 8  #: up to this many masters, pick_winner looks the tree's winner up in TREE_WINNERS


def tree_winners_table(max_masters=TABLE_MASTERS):
    """The winners of tree_winner for every mask and counter of up to `max_masters` masters, as a table:
    entry [n, mask] holds tree_winner(mask, counter, n) for counter = 0 .. max_masters - 1, 3 bits each
    (counter i at bits 3i .. 3i+2). tree_winner's own walk (its Python code), on all masks at once."""
    masks = np.arange(1 << max_masters, dtype=np.int64)
    table = np.zeros((max_masters + 1, 1 << max_masters), np.int64)
    for n in range(1, max_masters + 1):
        for counter in range(max_masters):
            table[n] |= tree_winner.py_func(masks, counter, n) << (3 * counter)
    return table


#: A constant of the compiled engine (Numba freezes a global array into the code).
TREE_WINNERS = tree_winners_table()


@jit
def pick_winner(mask, counter, nmasters, policy):
    """Winner among the masters in `mask` (at least one) under the arbitration `policy` (ARB_FIXED: the lowest
    index; otherwise the counter-steered tree, with `counter` below `nmasters`)."""
    if policy == ARB_FIXED:
        return lowest_bit(mask)
    if nmasters <= TABLE_MASTERS:
        # a lookup instead of the walk down the tree: no branch on the requests to mispredict
        return (TREE_WINNERS[nmasters, mask] >> (3 * counter)) & 7
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
def cores_arbitrated(params):
    """Whether cores issuing in the same cycle can conflict on this platform (its TCDM banks are arbitrated, or
    its FPUs are shared), so that their requests are noted when resolved and arbitrated cycle by cycle."""
    return params[P_ARBITRATION] != ARB_NONE or params[P_NFPU] > 0


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
def fpu_of(requesters, c, nfpu):
    """The shared FPU of core c in a round whose FPU requesters are the cores in `requesters`: the k-th
    requesting core (ascending id) is routed to FPU k mod nfpu (docs/cluster.md)."""
    rank = bit_count(requesters & ((1 << c) - 1))
    while rank >= nfpu:
        rank -= nfpu
    return rank


@jit_inline
def delay_losers(losers, cyc, stat, tim, cause):
    """Delay the cores in `losers` by one cycle (they retry next cycle), the cycle counted under `cause`."""
    while losers != 0:
        k = lowest_bit(losers)
        losers &= losers - 1
        cyc[k] += 1
        stat[k, cause] += 1
        tim[k, T_LAST_STALL] = cause


@jit_inline
def arbitrate(code, pagemap, opflags, params, regions, xreg, pc, cyc, tim, stat, banks, shared, sched, nat,
              dma_chunk, nchunk):
    """Arbitrate TCDM banks and shared FPUs among the cores issuing in this cycle, listed in sched[0..nat).

    Every core due has its hazard stalls resolved, and its requests noted (note_request). Losers are delayed by
    one cycle (they retry next cycle); winners are written to sched[0..n) in ascending core id and their count is
    returned. Within the round, cores and banks are bit masks. The round's FPU requesters are kept in
    shared[U_FPU_REQUESTERS] (see fpu_of). sched[ncores..2*ncores) (each core's bank) and
    sched[3*ncores..3*ncores + nfpu) are scratch space.
    """
    ncores = pc.shape[0]
    nbanks = params[P_NBANKS]
    policy = params[P_ARBITRATION]
    nfpu = params[P_NFPU]
    seen = 0          # banks requested so far (bit b) ...
    clash = 0         # ... and those requested more than once, by cores or the DMA
    wide = nbanks > 62  # too many banks for the bit masks: look at every requested bank instead
    fpu_req = 0       # cores requesting a shared FPU (bit k)
    due = 0
    for i in range(nat):
        k = sched[i]
        due |= 1 << k
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
        sched[ncores + k] = bank
        if bank >= 0 and not wide:
            clash |= seen & (1 << bank)
            seen |= 1 << bank
        fpu_req |= fpu << k

    for d in range(nchunk):
        dma_chunk[d, 4] = 0
        b = dma_chunk[d, 3]
        if b >= 0 and not wide:
            clash |= seen & (1 << b)
    losers = 0
    if policy != ARB_NONE and (clash != 0 or wide):
        m = due
        while m != 0:
            k = lowest_bit(m)
            m &= m - 1
            b = sched[ncores + k]
            if b < 0 or not (wide or (clash >> b) & 1):
                continue  # no request, or the bank's only one
            # the bank's requesters: k and the later cores asking for it
            mask = 1 << k
            rest = m
            while rest != 0:
                j = lowest_bit(rest)
                rest &= rest - 1
                if sched[ncores + j] == b:
                    mask |= 1 << j
                    sched[ncores + j] = -1  # handled with k
            win = k
            if mask != 1 << k:
                win = pick_winner(mask, banks[b, B_COUNTER], ncores, policy)
            # the cores' winner against the DMA (second channel): the DMA wins iff the bank's flag is 1
            for d in range(nchunk):
                if dma_chunk[d, 3] == b:
                    if banks[b, B_FLAG] == 1:
                        win = -1
                    else:
                        dma_chunk[d, 4] = -1  # lost
            lost = mask & ~(1 << win) if win >= 0 else mask
            banks[b, B_CONFLICTS] += bit_count(lost)
            delay_losers(lost, cyc, stat, tim, S_TCDM_CONT)
            losers |= lost

    if nfpu > 0:
        shared[U_FPU_REQUESTERS] = fpu_req
        nreq = bit_count(fpu_req)
        if nreq > nfpu:
            # masks[f] = the requesters routed to FPU f (fpu_of); those with more than one requester are the
            # FPUs f < nreq - nfpu
            masks = 3 * ncores
            for f in range(nfpu):
                sched[masks + f] = 0
            f = 0
            m = fpu_req
            while m != 0:
                k = lowest_bit(m)
                m &= m - 1
                sched[masks + f] |= 1 << k
                f += 1
                if f == nfpu:
                    f = 0
            for f in range(min(nfpu, nreq - nfpu)):
                mask = sched[masks + f]
                win = pick_winner(mask, shared[U_FPU_COUNTER + f], ncores, policy if policy != ARB_NONE else ARB_TREE)
                lost = mask & ~(1 << win)
                shared[U_FPU_CONFLICTS + f] += bit_count(lost)
                delay_losers(lost, cyc, stat, tim, S_FPU_CONT)
                m = lost
                while m != 0:
                    tim[lowest_bit(m), T_FPU] = f
                    m &= m - 1
                losers |= lost

    for d in range(nchunk):
        dma_chunk[d, 4] = 0 if dma_chunk[d, 4] < 0 else 1
    if losers == 0:
        return nat
    n = 0
    for i in range(nat):
        k = sched[i]
        if (losers >> k) & 1 == 0:
            sched[n] = k
            n += 1
    return n
