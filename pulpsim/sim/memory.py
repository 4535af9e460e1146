"""Guest memory access: region lookup, little-endian reads/writes on the flat byte array, and the pages of
decoded code (the fetch window of a pc; marking written words stale).

Every guest address (core load/store, DMA beat) goes through :func:`find_region`,
which checks the whole access against the platform's regions before any array
is indexed: Numba does no bounds checking.
"""

from __future__ import annotations

import numpy as np

from .bits import MASK32
from .decode import F_OP
from .isa import OP_FLW, OP_FSW, OP_LH, OP_LHU, OP_LW, OP_SH, OP_STALE, OP_SW
from .jit import jit, jit_inline
from .state import *  # noqa: F401,F403  (array layouts and constants, see pulpsim.sim.state)


@jit_inline
def find_region(regions, addr, nbytes):
    """Index of the region holding [addr, addr+nbytes), or -1."""
    for r in range(regions.shape[0]):
        rel = addr - regions[r, R_BASE]
        if rel >= 0 and rel + nbytes <= regions[r, R_SIZE]:
            return r
    return -1


@jit_inline
def mem_read(mem8, mem16, mem32, off, nbytes):
    """Little-endian unsigned read of nbytes at a checked flat offset."""
    if nbytes == 4 and (off & 3) == 0:
        return np.int64(mem32[off >> 2])
    if nbytes == 2 and (off & 1) == 0:
        return np.int64(mem16[off >> 1])
    v = np.int64(0)
    for i in range(nbytes):
        v |= np.int64(mem8[off + i]) << (8 * i)
    return v


@jit_inline
def mem_write(mem8, mem16, mem32, off, nbytes, value):
    """Little-endian write of the low nbytes of value at a checked flat offset."""
    if nbytes == 4 and (off & 3) == 0:
        mem32[off >> 2] = np.uint32(value & MASK32)
    elif nbytes == 2 and (off & 1) == 0:
        mem16[off >> 1] = np.uint16(value & 0xFFFF)
    else:
        for i in range(nbytes):
            mem8[off + i] = np.uint8((value >> (8 * i)) & 0xFF)


@jit_inline
def misaligned_extra(addr, nbytes):
    """Extra cycles of a misaligned access: a second bus transaction when it crosses a word."""
    return 1 if (addr & 3) + nbytes > 4 else 0


@jit_inline
def access_extra_cycles(addr, nbytes, regions, r, stat, c, s_count, s_cycles):
    """Extra cycles of core c's access to region r beyond the first: the second bus transaction of a misaligned
    access (counted as misaligned) and the region's latency (counted under s_count / s_cycles, the load or
    store counters). Returns (misaligned cycles, latency cycles)."""
    extra = misaligned_extra(addr, nbytes)
    if extra:
        stat[c, S_MISALIGNED] += extra
    lat = regions[r, R_LATENCY] - 1
    if lat > 0:
        stat[c, s_count] += 1
        stat[c, s_cycles] += lat
    else:
        lat = 0
    return extra, lat


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
            code[row0 + (w & (CODE_PAGE_WORDS - 1)), F_OP] = OP_STALE
        w += 1


# Loads ahead of cycle order (where nothing is arbitrated, see run_core): a load of memory may execute before
# another core's earlier instructions when the platform arbitrates nothing (its timing cannot depend on them),
# which is exact unless one of those instructions writes the word it loads. Each such load records, per word of
# the flat memory, the order key of the latest one (record_load_ahead); every write of memory (a store, the
# test-and-set alias, a DMA transfer) checks its own key against it (written_after_load): a load with a later key
# read the word too early, and the run goes back to a checkpoint (ST_LOAD_AHEAD). Keys order events as the
# lock-step execution does: by cycle, then the DMA, then the cores by id.
AHEAD_KEY_SHIFT = 6  #: key = cycle << AHEAD_KEY_SHIFT, plus 1 + the core's id for a core's access


@jit_inline
def order_key(cycle, core):
    """The order of core `core`'s access in `cycle` (-1: the DMA's, which comes before the cores' of its cycle)."""
    return (cycle << AHEAD_KEY_SHIFT) + core + 1


@jit_inline
def record_load_ahead(ahead, off, nb, key):
    """Note a load ahead of cycle order (order key `key`) of flat bytes [off, off+nb)."""
    for w in range(off >> 2, ((off + nb - 1) >> 2) + 1):
        if ahead[w] < key:
            ahead[w] = key


@jit
def written_after_load(ahead, off, nb, key):
    """Whether a write of flat bytes [off, off+nb) with order key `key` reaches a word that a load ahead of cycle
    order read with a later key (the load must have seen the written value)."""
    for w in range(off >> 2, ((off + nb - 1) >> 2) + 1):
        if ahead[w] > key:
            return True
    return False


@jit_inline
def access_bytes(op):
    """Bytes moved by a load or store."""
    if op == OP_LW or op == OP_SW or op == OP_FLW or op == OP_FSW:
        return 4
    if op == OP_LH or op == OP_LHU or op == OP_SH:
        return 2
    return 1
