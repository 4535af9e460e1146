"""Bit-level helpers of 32-bit guest values on the host's int64 registers."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import jit

MASK32 = 0xFFFFFFFF


_ZERO_IS_DEFINED = ir.Constant(ir.IntType(1), 0)  #: for ctlz/cttz: a zero input gives the width (64)


def _int64_count(value_type, count):
    """Signature and code generator of an intrinsic that counts bits of an int64 with one LLVM intrinsic
    (`count(builder, value)`: one host instruction), or None for a non-integer argument."""
    if not isinstance(value_type, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return count(builder, context.cast(builder, args[0], signature.args[0], types.int64))

    return types.int64(value_type), codegen


@intrinsic
def lowest_bit(typingctx, mask):
    """Index of the lowest set bit of an int64 `mask` (LLVM's cttz; 64 for 0)."""
    return _int64_count(mask, lambda builder, value: builder.cttz(value, _ZERO_IS_DEFINED))


@intrinsic
def bit_count(typingctx, mask):
    """Number of set bits of an int64 `mask` (LLVM's ctpop)."""
    return _int64_count(mask, lambda builder, value: builder.ctpop(value))


@intrinsic
def leading_zeros(typingctx, value):
    """Number of leading zero bits of an int64 `value` (LLVM's ctlz; 64 for 0)."""
    return _int64_count(value, lambda builder, v: builder.ctlz(v, _ZERO_IS_DEFINED))


@jit
def s32(v):
    """Wrap an integer to a sign-extended 32-bit value."""
    return ((v + 0x80000000) & MASK32) - 0x80000000


@jit
def clz32(v):
    """Leading zeros of a 32-bit value (32 for 0)."""
    return leading_zeros(v & MASK32) - 32
