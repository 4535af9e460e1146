"""Guest memory access: region lookup and little-endian reads/writes on the flat byte array.

Every guest address (core load/store, DMA beat) goes through :func:`find_region`,
which checks the whole access against the platform's regions before any array
is indexed: Numba does no bounds checking.
"""

from __future__ import annotations

import numpy as np
from .jit import jit_inline

from .state import R_BASE, R_SIZE

MASK32 = 0xFFFFFFFF


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
