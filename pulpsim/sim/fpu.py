"""Bit-exact IEEE-754 binary32 arithmetic with RISC-V "F" extension semantics.

Every function here is compiled with Numba (nopython, cached) so that the
simulator's interpreter loop can call it directly.  Operands and results are
float32 *bit patterns* held in int64 values (0 .. 2**32-1); integer operands
and results of the conversions are ordinary (sign-extended) int64 values.

Arithmetic functions return ``(result, fflags)`` where ``fflags`` is the
RISC-V accrued-exception set raised by that single operation:

    NX = 1 (inexact), UF = 2 (underflow), OF = 4 (overflow),
    DZ = 8 (divide by zero), NV = 16 (invalid)

``rm`` is a static rounding mode (0 RNE, 1 RTZ, 2 RDN, 3 RUP, 4 RMM); the
caller resolves the dynamic mode (rm=7) from ``frm`` before calling.

RISC-V specifics honoured here (unprivileged spec, chapter "F"):

* every NaN-producing operation returns the canonical NaN 0x7FC00000; input
  NaN payloads are never propagated;
* tininess is detected after rounding, and UF is raised only when the
  result is both tiny and inexact;
* fmin/fmax are IEEE 754-2019 minimumNumber/maximumNumber (a single NaN
  operand is ignored, -0.0 < +0.0, NV only for signalling NaNs);
* feq is a quiet comparison, flt/fle are signalling comparisons;
* fcvt.w[u].s saturate on NaN/overflow and then raise NV but not NX.

The slow paths are ports of Berkeley SoftFloat 3e (specialisation RISCV;
Copyright 2011-2018 The Regents of the University of California, BSD
3-clause licence: its notice and full text are in the repository's NOTICE
file, which applies to the code derived from it here), using only 64-bit
signed integer arithmetic: all intermediate significands
stay below 2**63, so Numba never has to mix signed and unsigned 64-bit
types (which it would silently promote to float64).

add/sub/mul/fma in round-to-nearest-even also have a fast path that uses the
host's float64 arithmetic; see ``_fast_round`` for why it is exact.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .bits import clz32, leading_zeros
from .jit import jit

__all__ = [
    "NX", "UF", "OF", "DZ", "NV",
    "RNE", "RTZ", "RDN", "RUP", "RMM",
    "CANONICAL_NAN",
    "f_add", "f_sub", "f_mul", "f_div", "f_sqrt", "f_fma",
    "f_min", "f_max", "f_eq", "f_lt", "f_le", "f_class",
    "f_cvt_w_s", "f_cvt_wu_s", "f_cvt_s_w", "f_cvt_s_wu",
]

# fflags bits
NX = 1
UF = 2
OF = 4
DZ = 8
NV = 16

# static rounding modes (the rm field of an F instruction)
RNE = 0
RTZ = 1
RDN = 2
RUP = 3
RMM = 4

CANONICAL_NAN = 0x7FC00000
MASK32 = 0xFFFFFFFF
SIGN_BIT = 0x80000000
POS_INF = 0x7F800000

# Limits of the float64 fast path (see _fast_round).
_FAST_MIN = 2.0 ** -125
_FAST_MAX = 2.0 ** 127
# The 29 fraction bits of a float64 below the binary32 ulp (for a value in the binary32 normal range): all zero
# if the value is a binary32 number, exactly _HALF_ULP if it is a binary32 midpoint.
_BELOW_ULP = 0x1FFFFFFF
_HALF_ULP = 0x10000000


# ---------------------------------------------------------------------------
# LLVM intrinsics: bit casts (Numba has no scalar bitcast); leading zeros come
# from bits.leading_zeros (one `ctlz` instruction instead of a search loop).
# ---------------------------------------------------------------------------

@intrinsic
def _f32_bits_to_f64(typingctx, x):
    """Value of the binary32 pattern in the low 32 bits of x, as a float64."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], types.int64)
        f32 = builder.bitcast(builder.trunc(val, ir.IntType(32)), ir.FloatType())
        return builder.fpext(f32, ir.DoubleType())

    return types.float64(x), codegen


@intrinsic
def _f64_to_f32_bits(typingctx, x):
    """Round a float64 to binary32 (host RNE) and return its bit pattern."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], types.float64)
        f32 = builder.fptrunc(val, ir.FloatType())
        return builder.zext(builder.bitcast(f32, ir.IntType(32)), ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def _f64_bits(typingctx, x):
    """Bit pattern of a float64, as int64."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], types.float64)
        return builder.bitcast(val, ir.IntType(64))

    return types.int64(x), codegen


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

@jit
def _shift_right_jam(x, dist):
    """x >> dist, ORing every bit shifted out into bit 0 ("sticky" bit).

    x must be non-negative (< 2**63); dist may exceed the width.
    """
    if dist <= 0:
        return x
    if dist >= 63:
        return 1 if x != 0 else 0
    lost = x & ((1 << dist) - 1)
    return (x >> dist) | (1 if lost != 0 else 0)


@jit
def _is_nan(x):
    return (x & 0x7FFFFFFF) > POS_INF


@jit
def _is_snan(x):
    return (x & 0x7FC00000) == 0x7F800000 and (x & 0x003FFFFF) != 0


@jit
def _nan_result(a, b):
    """RISC-V NaN "propagation": always the canonical NaN; NV if any sNaN."""
    if _is_snan(a) or _is_snan(b):
        return CANONICAL_NAN, NV
    return CANONICAL_NAN, 0


@jit
def _pack(sign, exp, sig):
    # Addition, not OR: a significand carrying into bit 23 bumps the exponent.
    return (sign << 31) + (exp << 23) + sig


@jit
def _norm_subnormal(frac):
    """Normalise a subnormal fraction: returns (exp, sig) with bit 23 set."""
    shift = clz32(frac) - 8
    return 1 - shift, frac << shift


@jit
def _round_pack(sign, exp, sig, rm):
    """SoftFloat softfloat_roundPackToF32 with after-rounding tininess.

    sig holds the significand with its leading 1 at bit 30 (7 round bits
    below the 24-bit result), exp is the biased exponent minus one.
    Returns (bits, flags).
    """
    flags = 0
    if rm == RNE or rm == RMM:
        inc = 0x40
    elif (sign != 0 and rm == RDN) or (sign == 0 and rm == RUP):
        inc = 0x7F
    else:
        inc = 0
    round_bits = sig & 0x7F
    if exp < 0 or exp >= 0xFD:
        if exp < 0:
            # Tiny after rounding: the result, rounded as if the exponent
            # range were unbounded, is still below 2**-126.
            is_tiny = exp < -1 or sig + inc < 0x80000000
            sig = _shift_right_jam(sig, -exp)
            exp = 0
            round_bits = sig & 0x7F
            if is_tiny and round_bits != 0:
                flags |= UF
        elif exp > 0xFD or sig + inc >= 0x80000000:
            # Overflow: infinity, or the largest finite value when the
            # rounding direction points towards zero.
            if inc != 0:
                return (sign << 31) | POS_INF, OF | NX
            return (sign << 31) | 0x7F7FFFFF, OF | NX
    sig = (sig + inc) >> 7
    if round_bits != 0:
        flags |= NX
    if round_bits == 0x40 and rm == RNE:
        sig &= ~1  # tie: round to even
    if sig == 0:
        exp = 0
    return _pack(sign, exp, sig), flags


@jit
def _norm_round_pack(sign, exp, sig, rm):
    """SoftFloat softfloat_normRoundPackToF32: normalise sig first."""
    shift = clz32(sig) - 1
    exp -= shift
    if shift >= 7 and 0 <= exp < 0xFD:
        # Exactly representable: no rounding needed.
        if sig == 0:
            exp = 0
        return _pack(sign, exp, sig << (shift - 7)), 0
    return _round_pack(sign, exp, sig << shift, rm)


# ---------------------------------------------------------------------------
# Float64 fast path (round-to-nearest-even only)
# ---------------------------------------------------------------------------

@jit
def _fast_operand(x):
    """True if x is a normal number or a zero (no subnormal, inf or NaN).

    Subnormal inputs are excluded so that no float64 operation below ever
    sees a subnormal double (the smallest non-zero value is a product of
    two binary32 normals, >= 2**-252), which keeps the fast path exact even
    if the host runs with flush-to-zero / denormals-are-zero enabled.
    """
    # (exp - 1) mod 256 < 0xFE  <=>  1 <= exp <= 0xFE
    return (((x >> 23) - 1) & 0xFF) < 0xFE or (x & 0x7FFFFFFF) == 0


@jit
def _fast_round(s, err):
    """Round the exact value s + err to binary32 (RNE) using the host FPU.

    s is a float64 and err the exact error of s (0.0 when s is exact, e.g.
    from TwoSum).  fptrunc rounds s, not the exact value v = s + err, but
    that double rounding is harmless unless s is exactly a binary32
    midpoint: the binary32 midpoints m1 < v < m2 around an inexact v are
    float64 numbers, so by monotonicity m1 <= s <= m2, and if s is neither
    of them it rounds to the same binary32 as v.  (If err == 0, s is v and
    ties are broken correctly by fptrunc.)  A midpoint s with err != 0 is
    rejected, as is any result outside [2**-125, 2**127) other than an
    exact zero: in that range the binary32 result is normal and finite, so
    neither OF nor UF can occur and NX is just "result != exact value".
    Returns (bits, flags, ok); ok=False means "use the integer path".
    """
    mag = abs(s)
    if mag >= _FAST_MIN and mag < _FAST_MAX:
        r = _f64_to_f32_bits(s)
        low = _f64_bits(s) & _BELOW_ULP
        if err != 0.0:
            if low == _HALF_ULP:
                return 0, 0, False
            return r, NX, True
        if low != 0:
            return r, NX, True
        return r, 0, True
    if s == 0.0 and err == 0.0:
        # Exact zero; float64 applies the same sign rules as binary32.
        return _f64_to_f32_bits(s), 0, True
    return 0, 0, False


@jit
def _two_sum(x, y):
    """Knuth's TwoSum: s = fl(x + y) and the exact error x + y - s."""
    s = x + y
    yv = s - x
    err = (x - (s - yv)) + (y - yv)
    return s, err


@jit
def _fast_round_sum(x, y):
    """Round the exact sum of the float64s x and y to binary32 (RNE); returns (bits, flags, ok) as _fast_round.

    The error of s = fl(x + y) is needed only in two cases: s is a binary32 number (is the sum exact?) or a
    binary32 midpoint (which way does the exact sum lie?). Otherwise the exact sum v rounds as s does (see
    _fast_round), and v is no binary32 number either (if it were, fl(v) = s would be one), so the result is
    inexact. That common case skips TwoSum's chain of five dependent additions.
    """
    s = x + y
    mag = abs(s)
    if mag >= _FAST_MIN and mag < _FAST_MAX:
        low = _f64_bits(s) & _BELOW_ULP  # (a test on the bits runs beside the rounding fptrunc)
        if low != 0 and low != _HALF_ULP:
            return _f64_to_f32_bits(s), NX, True
    s, err = _two_sum(x, y)
    return _fast_round(s, err)


# ---------------------------------------------------------------------------
# Addition / subtraction
# ---------------------------------------------------------------------------

@jit
def _add_mags(a, b, rm):
    """SoftFloat softfloat_addMagsF32: a and b have the same sign."""
    exp_a = (a >> 23) & 0xFF
    sig_a = a & 0x7FFFFF
    exp_b = (b >> 23) & 0xFF
    sig_b = b & 0x7FFFFF
    sign = a >> 31
    exp_diff = exp_a - exp_b
    if exp_diff == 0:
        if exp_a == 0:
            # Both subnormal or zero: the integer sum is exact (a carry
            # simply produces the smallest normal exponent).
            return a + sig_b, 0
        if exp_a == 0xFF:
            if sig_a != 0 or sig_b != 0:
                return _nan_result(a, b)
            return a, 0
        exp_z = exp_a
        sig_z = 0x01000000 + sig_a + sig_b
        if (sig_z & 1) == 0 and exp_z < 0xFE:
            return _pack(sign, exp_z, sig_z >> 1), 0
        sig_z <<= 6
    else:
        sig_a <<= 6
        sig_b <<= 6
        if exp_diff < 0:
            if exp_b == 0xFF:
                if sig_b != 0:
                    return _nan_result(a, b)
                return (sign << 31) | POS_INF, 0
            exp_z = exp_b
            sig_a += 0x20000000 if exp_a != 0 else sig_a
            sig_a = _shift_right_jam(sig_a, -exp_diff)
        else:
            if exp_a == 0xFF:
                if sig_a != 0:
                    return _nan_result(a, b)
                return a, 0
            exp_z = exp_a
            sig_b += 0x20000000 if exp_b != 0 else sig_b
            sig_b = _shift_right_jam(sig_b, exp_diff)
        sig_z = 0x20000000 + sig_a + sig_b
        if sig_z < 0x40000000:
            exp_z -= 1
            sig_z <<= 1
    return _round_pack(sign, exp_z, sig_z, rm)


@jit
def _sub_mags(a, b, rm):
    """SoftFloat softfloat_subMagsF32: a and b have opposite signs."""
    exp_a = (a >> 23) & 0xFF
    sig_a = a & 0x7FFFFF
    exp_b = (b >> 23) & 0xFF
    sig_b = b & 0x7FFFFF
    sign = a >> 31
    exp_diff = exp_a - exp_b
    if exp_diff == 0:
        if exp_a == 0xFF:
            if sig_a != 0 or sig_b != 0:
                return _nan_result(a, b)
            return CANONICAL_NAN, NV  # inf - inf
        sig_diff = sig_a - sig_b
        if sig_diff == 0:
            # Exact cancellation: +0, except -0 when rounding down.
            return (SIGN_BIT if rm == RDN else 0), 0
        if exp_a != 0:
            exp_a -= 1
        if sig_diff < 0:
            sign ^= 1
            sig_diff = -sig_diff
        shift = clz32(sig_diff) - 8
        exp_z = exp_a - shift
        if exp_z < 0:
            shift = exp_a
            exp_z = 0
        # Same exponent: the difference is exact.
        return _pack(sign, exp_z, sig_diff << shift), 0
    sig_a <<= 7
    sig_b <<= 7
    if exp_diff < 0:
        sign ^= 1
        if exp_b == 0xFF:
            if sig_b != 0:
                return _nan_result(a, b)
            return (sign << 31) | POS_INF, 0
        exp_z = exp_b - 1
        sig_x = sig_b | 0x40000000
        sig_y = sig_a + (0x40000000 if exp_a != 0 else sig_a)
        exp_diff = -exp_diff
    else:
        if exp_a == 0xFF:
            if sig_a != 0:
                return _nan_result(a, b)
            return a, 0
        exp_z = exp_a - 1
        sig_x = sig_a | 0x40000000
        sig_y = sig_b + (0x40000000 if exp_b != 0 else sig_b)
    return _norm_round_pack(sign, exp_z, sig_x - _shift_right_jam(sig_y, exp_diff), rm)


@jit
def _add_slow(a, b, rm):
    """Integer-only a + b (a, b already masked to 32 bits)."""
    if (a >> 31) == (b >> 31):
        return _add_mags(a, b, rm)
    return _sub_mags(a, b, rm)


@jit
def _add_fast(a, b):
    """RNE a + b on the host FPU; returns (bits, flags, ok)."""
    if not (_fast_operand(a) and _fast_operand(b)):
        return 0, 0, False
    return _fast_round_sum(_f32_bits_to_f64(a), _f32_bits_to_f64(b))


@jit
def f_add(a, b, rm):
    """fadd.s: a + b."""
    a = a & MASK32
    b = b & MASK32
    if rm == RNE:
        r, fl, ok = _add_fast(a, b)
        if ok:
            return r, fl
    return _add_slow(a, b, rm)


@jit
def f_sub(a, b, rm):
    """fsub.s: a - b (= a + (-b); NaN signs are irrelevant on RISC-V)."""
    return f_add(a, (b & MASK32) ^ SIGN_BIT, rm)


# ---------------------------------------------------------------------------
# Multiplication / division / square root
# ---------------------------------------------------------------------------

@jit
def _mul_slow(a, b, rm):
    """SoftFloat f32_mul."""
    sign = (a ^ b) >> 31
    exp_a = (a >> 23) & 0xFF
    sig_a = a & 0x7FFFFF
    exp_b = (b >> 23) & 0xFF
    sig_b = b & 0x7FFFFF
    if exp_a == 0xFF or exp_b == 0xFF:
        if _is_nan(a) or _is_nan(b):
            return _nan_result(a, b)
        # inf * x: invalid only when x is zero
        other = b if exp_a == 0xFF else a
        if (other & 0x7FFFFFFF) == 0:
            return CANONICAL_NAN, NV
        return (sign << 31) | POS_INF, 0
    if exp_a == 0:
        if sig_a == 0:
            return sign << 31, 0
        exp_a, sig_a = _norm_subnormal(sig_a)
    if exp_b == 0:
        if sig_b == 0:
            return sign << 31, 0
        exp_b, sig_b = _norm_subnormal(sig_b)
    exp_z = exp_a + exp_b - 0x7F
    sig_a = (sig_a | 0x00800000) << 7
    sig_b = (sig_b | 0x00800000) << 8
    # 24x24-bit product (< 2**63), keeping 32 bits plus a sticky bit.
    sig_z = _shift_right_jam(sig_a * sig_b, 32)
    if sig_z < 0x40000000:
        exp_z -= 1
        sig_z <<= 1
    return _round_pack(sign, exp_z, sig_z, rm)


@jit
def _mul_fast(a, b):
    """RNE a * b on the host FPU; returns (bits, flags, ok)."""
    if not (_fast_operand(a) and _fast_operand(b)):
        return 0, 0, False
    # The product of two binary32 values (24-bit significands) is exact in
    # float64, so the only rounding is the final one.
    return _fast_round(_f32_bits_to_f64(a) * _f32_bits_to_f64(b), 0.0)


@jit
def f_mul(a, b, rm):
    """fmul.s: a * b."""
    a = a & MASK32
    b = b & MASK32
    if rm == RNE:
        r, fl, ok = _mul_fast(a, b)
        if ok:
            return r, fl
    return _mul_slow(a, b, rm)


@jit
def f_div(a, b, rm):
    """fdiv.s: a / b (SoftFloat f32_div, 64-by-32-bit division variant)."""
    a = a & MASK32
    b = b & MASK32
    sign = (a ^ b) >> 31
    exp_a = (a >> 23) & 0xFF
    sig_a = a & 0x7FFFFF
    exp_b = (b >> 23) & 0xFF
    sig_b = b & 0x7FFFFF
    if exp_a == 0xFF:
        if sig_a != 0:
            return _nan_result(a, b)
        if exp_b == 0xFF:
            if sig_b != 0:
                return _nan_result(a, b)
            return CANONICAL_NAN, NV  # inf / inf
        return (sign << 31) | POS_INF, 0
    if exp_b == 0xFF:
        if sig_b != 0:
            return _nan_result(a, b)
        return sign << 31, 0  # finite / inf
    if exp_b == 0:
        if sig_b == 0:
            if exp_a == 0 and sig_a == 0:
                return CANONICAL_NAN, NV  # 0 / 0
            return (sign << 31) | POS_INF, DZ
        exp_b, sig_b = _norm_subnormal(sig_b)
    if exp_a == 0:
        if sig_a == 0:
            return sign << 31, 0
        exp_a, sig_a = _norm_subnormal(sig_a)
    exp_z = exp_a - exp_b + 0x7E
    sig_a |= 0x00800000
    sig_b |= 0x00800000
    if sig_a < sig_b:
        exp_z -= 1
        sig64_a = sig_a << 31
    else:
        sig64_a = sig_a << 30
    sig_z = sig64_a // sig_b
    if (sig_z & 0x3F) == 0:
        # Only when the low round bits are all zero can the discarded
        # remainder change the outcome (exact result or exact tie): then
        # set the sticky bit if the division was not exact.
        if sig_b * sig_z != sig64_a:
            sig_z |= 1
    return _round_pack(sign, exp_z, sig_z, rm)


@jit
def f_sqrt(a, rm):
    """fsqrt.s: square root, computed as an exact integer square root."""
    a = a & MASK32
    sign = a >> 31
    exp_a = (a >> 23) & 0xFF
    sig_a = a & 0x7FFFFF
    if exp_a == 0xFF:
        if sig_a != 0:
            return _nan_result(a, a)
        if sign == 0:
            return a, 0  # sqrt(+inf) = +inf
        return CANONICAL_NAN, NV
    if sign != 0:
        if exp_a == 0 and sig_a == 0:
            return a, 0  # sqrt(-0) = -0
        return CANONICAL_NAN, NV
    if exp_a == 0:
        if sig_a == 0:
            return a, 0
        exp_a, sig_a = _norm_subnormal(sig_a)
    sig_a |= 0x00800000
    # a = m * 2**e with m = sig_a / 2**23 in [1, 2), e = exp_a - 127.  The
    # result significand sqrt(m) (e even) or sqrt(2m) (e odd) lies in [1, 2);
    # we want it scaled by 2**30 for _round_pack, i.e. the integer square
    # root of sig_a * 2**37 (e even) or sig_a * 2**38 (e odd), < 2**62.
    exp_z = ((exp_a - 0x7F) >> 1) + 0x7E
    if (exp_a & 1) != 0:
        rad = sig_a << 37
    else:
        rad = sig_a << 38
    # float64 estimate, then exact integer correction.
    q = int(math.sqrt(float(rad)))
    while q * q > rad:
        q -= 1
    while (q + 1) * (q + 1) <= rad:
        q += 1
    if q * q != rad:
        q |= 1  # sticky: the root is not exact
    return _round_pack(0, exp_z, q, rm)


# ---------------------------------------------------------------------------
# Fused multiply-add
# ---------------------------------------------------------------------------

@jit
def _fma_slow(a, b, c, rm, neg_prod):
    """SoftFloat softfloat_mulAddF32 computing (+-(a*b)) + c, c already signed."""
    sign_a = a >> 31
    exp_a = (a >> 23) & 0xFF
    sig_a = a & 0x7FFFFF
    sign_b = b >> 31
    exp_b = (b >> 23) & 0xFF
    sig_b = b & 0x7FFFFF
    sign_c = c >> 31
    exp_c = (c >> 23) & 0xFF
    sig_c = c & 0x7FFFFF
    sign_prod = sign_a ^ sign_b ^ neg_prod

    if exp_a == 0xFF or exp_b == 0xFF:
        if _is_nan(a) or _is_nan(b):
            r, fl = _nan_result(a, b)
            return r, fl | _nan_result(c, c)[1]
        other = b if exp_a == 0xFF else a
        if (other & 0x7FFFFFFF) == 0:
            # inf * 0 is invalid whatever the addend, even a quiet NaN.
            return CANONICAL_NAN, NV
        if exp_c == 0xFF:
            if sig_c != 0:
                return _nan_result(c, c)
            if sign_prod != sign_c:
                return CANONICAL_NAN, NV  # inf - inf
        return (sign_prod << 31) | POS_INF, 0
    if exp_c == 0xFF:
        if sig_c != 0:
            return _nan_result(c, c)
        return c, 0
    if exp_a == 0:
        if sig_a == 0:
            return _fma_zero_prod(sign_prod, c, rm)
        exp_a, sig_a = _norm_subnormal(sig_a)
    if exp_b == 0:
        if sig_b == 0:
            return _fma_zero_prod(sign_prod, c, rm)
        exp_b, sig_b = _norm_subnormal(sig_b)

    exp_prod = exp_a + exp_b - 0x7E
    sig_a = (sig_a | 0x00800000) << 7
    sig_b = (sig_b | 0x00800000) << 7
    sig_prod = sig_a * sig_b  # exact, < 2**62
    if sig_prod < 0x2000000000000000:
        exp_prod -= 1
        sig_prod <<= 1
    sign_z = sign_prod
    if exp_c == 0:
        if sig_c == 0:
            exp_z = exp_prod - 1
            sig_z = _shift_right_jam(sig_prod, 31)
            return _round_pack(sign_z, exp_z, sig_z, rm)
        exp_c, sig_c = _norm_subnormal(sig_c)
    sig_c = (sig_c | 0x00800000) << 6
    exp_diff = exp_prod - exp_c
    if sign_prod == sign_c:
        if exp_diff <= 0:
            exp_z = exp_c
            sig_z = sig_c + _shift_right_jam(sig_prod, 32 - exp_diff)
        else:
            exp_z = exp_prod
            sig64_z = sig_prod + _shift_right_jam(sig_c << 32, exp_diff)
            sig_z = _shift_right_jam(sig64_z, 32)
        if sig_z < 0x40000000:
            exp_z -= 1
            sig_z <<= 1
    else:
        sig64_c = sig_c << 32
        if exp_diff < 0:
            sign_z = sign_c
            exp_z = exp_c
            sig64_z = sig64_c - _shift_right_jam(sig_prod, -exp_diff)
        elif exp_diff == 0:
            exp_z = exp_prod
            sig64_z = sig_prod - sig64_c
            if sig64_z == 0:
                # Exact cancellation: +0, except -0 when rounding down.
                return (SIGN_BIT if rm == RDN else 0), 0
            if sig64_z < 0:
                sign_z ^= 1
                sig64_z = -sig64_z
        else:
            exp_z = exp_prod
            sig64_z = sig_prod - _shift_right_jam(sig64_c, exp_diff)
        shift = leading_zeros(sig64_z) - 1
        exp_z -= shift
        shift -= 32
        if shift < 0:
            sig_z = _shift_right_jam(sig64_z, -shift)
        else:
            sig_z = sig64_z << shift
    return _round_pack(sign_z, exp_z, sig_z, rm)


@jit
def _fma_zero_prod(sign_prod, c, rm):
    """(+-0) + c: c itself, except that zeros of opposite sign cancel."""
    if (c & 0x7FFFFFFF) == 0 and (c >> 31) != sign_prod:
        return (SIGN_BIT if rm == RDN else 0), 0
    return c, 0


@jit
def _fma_fast(a, b, c, neg_prod):
    """RNE (+-(a*b)) + c on the host FPU; returns (bits, flags, ok)."""
    if not (_fast_operand(a) and _fast_operand(b) and _fast_operand(c)):
        return 0, 0, False
    p = _f32_bits_to_f64(a) * _f32_bits_to_f64(b)  # exact, see _mul_fast
    if neg_prod != 0:
        p = -p
    return _fast_round_sum(p, _f32_bits_to_f64(c))


@jit
def f_fma(a, b, c, rm, op):
    """Fused multiply-add with a single rounding.

    op 0 fmadd.s: a*b + c      op 1 fmsub.s: a*b - c
    op 2 fnmsub.s: -(a*b) + c  op 3 fnmadd.s: -(a*b) - c
    """
    a = a & MASK32
    b = b & MASK32
    c = c & MASK32
    neg_prod = (op >> 1) & 1
    if (op & 1) != 0:
        c ^= SIGN_BIT  # negating the addend is exact (NaNs become canonical anyway)
    if rm == RNE:
        r, fl, ok = _fma_fast(a, b, c, neg_prod)
        if ok:
            return r, fl
    return _fma_slow(a, b, c, rm, neg_prod)


# ---------------------------------------------------------------------------
# min / max / comparisons / classify
# ---------------------------------------------------------------------------

@jit
def _total_lt(a, b):
    """a < b for non-NaN a, b, with -0 < +0."""
    sign_a = a >> 31
    sign_b = b >> 31
    if sign_a != sign_b:
        return sign_a != 0
    if sign_a != 0:
        return a > b  # both negative: larger magnitude is smaller
    return a < b


@jit
def _minmax(a, b, is_max):
    a = a & MASK32
    b = b & MASK32
    flags = NV if (_is_snan(a) or _is_snan(b)) else 0
    nan_a = _is_nan(a)
    nan_b = _is_nan(b)
    if nan_a and nan_b:
        return CANONICAL_NAN, flags
    if nan_a:
        return b, flags
    if nan_b:
        return a, flags
    if _total_lt(a, b) != is_max:
        return a, flags
    return b, flags


@jit
def f_min(a, b):
    """fmin.s (IEEE 754-2019 minimumNumber, -0 < +0)."""
    return _minmax(a, b, False)


@jit
def f_max(a, b):
    """fmax.s (IEEE 754-2019 maximumNumber, -0 < +0)."""
    return _minmax(a, b, True)


@jit
def f_eq(a, b):
    """feq.s: quiet comparison (NV only for signalling NaNs)."""
    a = a & MASK32
    b = b & MASK32
    if _is_nan(a) or _is_nan(b):
        if _is_snan(a) or _is_snan(b):
            return 0, NV
        return 0, 0
    if a == b or ((a | b) & 0x7FFFFFFF) == 0:
        return 1, 0
    return 0, 0


@jit
def f_lt(a, b):
    """flt.s: signalling comparison (NV for any NaN)."""
    a = a & MASK32
    b = b & MASK32
    if _is_nan(a) or _is_nan(b):
        return 0, NV
    if ((a | b) & 0x7FFFFFFF) == 0:
        return 0, 0  # -0 == +0
    return (1 if _total_lt(a, b) else 0), 0


@jit
def f_le(a, b):
    """fle.s: signalling comparison (NV for any NaN)."""
    a = a & MASK32
    b = b & MASK32
    if _is_nan(a) or _is_nan(b):
        return 0, NV
    if a == b or ((a | b) & 0x7FFFFFFF) == 0:
        return 1, 0
    return (1 if _total_lt(a, b) else 0), 0


@jit
def f_class(a):
    """fclass.s: one-hot 10-bit classification mask."""
    a = a & MASK32
    sign = a >> 31
    exp = (a >> 23) & 0xFF
    frac = a & 0x7FFFFF
    if exp == 0xFF:
        if frac == 0:
            return 1 if sign != 0 else 1 << 7  # -inf / +inf
        if (frac & 0x400000) != 0:
            return 1 << 9  # quiet NaN
        return 1 << 8  # signalling NaN
    if exp == 0:
        if frac == 0:
            return 1 << 3 if sign != 0 else 1 << 4  # -0 / +0
        return 1 << 2 if sign != 0 else 1 << 5  # subnormal
    return 1 << 1 if sign != 0 else 1 << 6  # normal


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------

@jit
def _to_int_sig(a):
    """Common front end of fcvt.w[u].s (SoftFloat f32_to_[u]i32).

    Returns (sign, sig) with sig the absolute value in fixed point with 12
    fraction bits (jammed); a NaN is treated as a positive value so that it
    saturates to the positive limit.
    """
    sign = a >> 31
    exp = (a >> 23) & 0xFF
    sig = a & 0x7FFFFF
    if exp == 0xFF and sig != 0:
        sign = 0
    if exp != 0:
        sig |= 0x00800000
    sig64 = sig << 32
    shift = 0xAA - exp
    if shift > 0:
        sig64 = _shift_right_jam(sig64, shift)
    return sign, sig64


@jit
def _round_fixed(sign, sig, rm):
    """Round the magnitude sig (12 fraction bits) to an integer.

    The direction of rm applies to the signed value, hence the sign.
    Returns (magnitude, inexact); the magnitude may exceed 32 bits.
    """
    if rm == RNE or rm == RMM:
        inc = 0x800
    elif (sign != 0 and rm == RDN) or (sign == 0 and rm == RUP):
        inc = 0xFFF
    else:
        inc = 0
    round_bits = sig & 0xFFF
    z = (sig + inc) >> 12
    if round_bits == 0x800 and rm == RNE:
        z &= ~1  # tie: round to even
    return z, round_bits != 0


@jit
def f_cvt_w_s(a, rm):
    """fcvt.w.s: float -> signed 32-bit integer (saturating).

    Returns the integer as a sign-extended int64.
    """
    sign, sig = _to_int_sig(a & MASK32)
    z, inexact = _round_fixed(sign, sig, rm)
    if sign != 0:
        if z <= 0x80000000:
            return -z, (NX if inexact else 0)
        return -0x80000000, NV  # negative overflow: saturate, NV only
    if z <= 0x7FFFFFFF:
        return z, (NX if inexact else 0)
    return 0x7FFFFFFF, NV  # NaN or positive overflow


@jit
def f_cvt_wu_s(a, rm):
    """fcvt.wu.s: float -> unsigned 32-bit integer (saturating).

    Returns the 32-bit result as RV32 writes it to a register, i.e.
    sign-extended to int64 (0xFFFFFFFF -> -1).
    """
    sign, sig = _to_int_sig(a & MASK32)
    z, inexact = _round_fixed(sign, sig, rm)
    # A negative input is valid only if it rounds to 0 (then NX only).
    if z <= MASK32 and (sign == 0 or z == 0):
        if z >= 0x80000000:
            z -= 0x100000000
        return z, (NX if inexact else 0)
    if sign != 0:
        return 0, NV  # negative overflow: 0
    return -1, NV  # NaN or positive overflow: 0xFFFFFFFF


@jit
def f_cvt_s_w(x, rm):
    """fcvt.s.w: signed 32-bit integer -> float."""
    x = ((x & MASK32) ^ SIGN_BIT) - SIGN_BIT  # sign-extend the low 32 bits
    sign = 1 if x < 0 else 0
    if (x & 0x7FFFFFFF) == 0:
        return (0xCF000000 if sign != 0 else 0), 0  # 0 or -2**31
    mag = -x if sign != 0 else x
    return _norm_round_pack(sign, 0x9C, mag, rm)


@jit
def f_cvt_s_wu(x, rm):
    """fcvt.s.wu: unsigned 32-bit integer (low 32 bits of x) -> float."""
    x = x & MASK32
    if x == 0:
        return 0, 0
    if (x & SIGN_BIT) != 0:
        # Bit 31 set: halve with a sticky bit so the value fits _round_pack.
        return _round_pack(0, 0x9D, (x >> 1) | (x & 1), rm)
    return _norm_round_pack(0, 0x9C, x, rm)
