"""Bit-level helpers of 32-bit guest values on the host's int64 registers."""

from __future__ import annotations

from .jit import jit

MASK32 = 0xFFFFFFFF


@jit
def s32(v):
    """Wrap an integer to a sign-extended 32-bit value."""
    return ((v + 0x80000000) & MASK32) - 0x80000000


@jit
def clz32(v):
    """Leading zeros of a 32-bit value (32 for 0)."""
    v = v & MASK32
    if v == 0:
        return 32
    n = 0
    if v <= 0x0000FFFF:
        n += 16
        v <<= 16
    if v <= 0x00FFFFFF:
        n += 8
        v <<= 8
    if v <= 0x0FFFFFFF:
        n += 4
        v <<= 4
    if v <= 0x3FFFFFFF:
        n += 2
        v <<= 2
    if v <= 0x7FFFFFFF:
        n += 1
    return n
