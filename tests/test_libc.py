"""The runtime's C library headers (<math.h>, <stdio.h>, <string.h>, <stdlib.h>) and libm.c.

Guest results are checked against numpy / float64 references: sqrtf, fabsf, copysignf, fmaxf,
fminf and the rounding functions exactly; expf and logf within 3 ulp of the float64 value rounded to
float32; fmaf on a case whose fused result differs from the unfused one.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pulpsim import toolchain
from pulpsim.sim.machine import Machine
from pulpsim.sim.platform import get_platform
from pulpsim.sim.result import collect

HAVE_GCC = shutil.which("riscv64-unknown-elf-gcc") is not None
COMPILERS = ["clang", pytest.param("gcc", marks=pytest.mark.skipif(not HAVE_GCC,
                                                                     reason="riscv64-unknown-elf-gcc not installed"))]

N = 64
PROGRAM = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N %d
float in_a[N] = {1.0f}, in_b[N] = {1.0f};           /* written by the test before the run */
float out[16][N];
float fused[2];

int main(void)
{
    float tmp[N];
    memcpy(tmp, in_a, sizeof tmp);
    for (int i = 0; i < N; i++) {
        float a = tmp[i], b = in_b[i];
        out[0][i] = expf(a);
        out[1][i] = logf(fabsf(a));
        out[2][i] = sqrtf(fabsf(a));
        out[3][i] = fabsf(a);
        out[4][i] = copysignf(a, b);
        out[5][i] = fmaxf(a, b);
        out[6][i] = fminf(a, b);
        out[7][i] = floorf(a);
        out[8][i] = ceilf(a);
        out[9][i] = truncf(a);
        out[10][i] = roundf(a);
        out[11][i] = isnan(a) ? 1.0f : (isinf(a) ? 2.0f : 0.0f);
    }
    float x = 1.0f + 0x1p-23f;
    fused[0] = fmaf(x, x, -(1.0f + 0x1p-22f));       /* 2^-46 exactly */
    fused[1] = fmaf(2.0f, 3.0f, 1.0f);
    printf("libc ok %%d\n", abs(-7));
    return EXIT_SUCCESS;
}
""" % N


def _values():
    rng = np.random.default_rng(5)
    a = np.concatenate([
        np.array([0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-40, -3e-39, 8388607.5, -8388608.0, 1e30,
                  88.0, -87.0, -100.0, np.inf, -np.inf, np.nan], np.float32),
        (rng.standard_normal(N - 19) * 20).astype(np.float32)])
    b = np.concatenate([np.resize(np.array([1.0, -1.0, np.nan], np.float32), N // 2),
                        rng.standard_normal(N - N // 2).astype(np.float32)])
    return a.astype(np.float32), b.astype(np.float32)


def _ulps(got, want):
    """Distance in units in the last place between float32 arrays (finite values)."""
    g = got.view(np.int32).astype(np.int64)
    w = want.view(np.int32).astype(np.int64)
    g = np.where(g < 0, -(g & 0x7FFFFFFF), g)
    w = np.where(w < 0, -(w & 0x7FFFFFFF), w)
    return np.abs(g - w)


@pytest.mark.parametrize("compiler", COMPILERS)
def test_math_stdio_string_stdlib(compiler):
    elf = toolchain.build_c(PROGRAM, name="libc_test", compiler=compiler, opt="-O2")
    m = Machine(get_platform("single"))
    syms = m.load_elf(elf).symbols
    a, b = _values()
    m.write_bytes(syms["in_a"], a.tobytes())
    m.write_bytes(syms["in_b"], b.tobytes())
    code = m.run(stdout=False)
    assert code == 0
    assert "libc ok 7" in collect(m, code).stdout
    res = np.frombuffer(m.read_bytes(syms["out"], 16 * N * 4), np.float32).reshape(16, N)
    fused = np.frombuffer(m.read_bytes(syms["fused"], 8), np.float32)

    def same(k, want):
        np.testing.assert_array_equal(res[k].view(np.uint32), np.asarray(want, np.float32).view(np.uint32),
                                      err_msg=f"row {k}")

    with np.errstate(all="ignore"):
        a64 = a.astype(np.float64)
        same(2, np.sqrt(np.abs(a)))
        same(3, np.abs(a))
        same(4, np.copysign(a, b))
        finite = np.isfinite(a) & np.isfinite(b)
        np.testing.assert_array_equal(res[5][finite], np.fmax(a, b)[finite])
        np.testing.assert_array_equal(res[6][finite], np.fmin(a, b)[finite])
        # NaN operand: the other one (IEEE maxNum/minNum, fmax.s/fmin.s)
        nb = np.isnan(b) & np.isfinite(a)
        np.testing.assert_array_equal(res[5][nb], a[nb])
        np.testing.assert_array_equal(res[6][nb], a[nb])
        same(7, np.floor(a))
        same(8, np.ceil(a))
        same(9, np.trunc(a))
        same(10, np.copysign(np.floor(np.abs(a64) + 0.5), a64).astype(np.float32))
        np.testing.assert_array_equal(res[11], np.where(np.isnan(a), 1.0, np.where(np.isinf(a), 2.0, 0.0)))

        e_want = np.exp(a64).astype(np.float32)
        ok = np.isfinite(e_want) & (e_want > np.finfo(np.float32).tiny) & np.isfinite(a)
        assert _ulps(res[0][ok], e_want[ok]).max() <= 3
        assert res[0][a == np.inf][0] == np.inf and res[0][a == -np.inf][0] == 0.0
        assert np.isnan(res[0][np.isnan(a)]).all()

        l_want = np.log(np.abs(a64)).astype(np.float32)
        ok = np.isfinite(l_want) & (np.abs(a64) != 1.0)
        assert _ulps(res[1][ok], l_want[ok]).max() <= 3
        assert res[1][a == 0.0][0] == -np.inf and res[1][np.isinf(a)][0] == np.inf

    assert fused[0] == np.float32(2.0 ** -46) and fused[1] == 7.0


def test_only_called_libm_functions_are_linked():
    elf = toolchain.build_c('#include <math.h>\nvolatile float v = 2.0f;\n'
                            'int main(void){ return sqrtf(v) > 1.0f ? 0 : 1; }', name="libm_gc")
    from pulpsim.sim.elf import load_elf
    syms = load_elf(elf).symbols
    assert "sqrtf" in syms and "expf" not in syms and "floorf" not in syms


DOUBLE_PROGRAM = r"""
#include <math.h>

#define N %d
double in_x[N] = {1.0}, in_y[N] = {1.0};          /* written by the test before the run */
double out[14][N];
float outf[2][N];
double consts[13] = {M_E, M_LOG2E, M_LOG10E, M_LN2, M_LN10, M_PI, M_PI_2, M_PI_4, M_1_PI, M_2_PI, M_2_SQRTPI,
                     M_SQRT2, M_SQRT1_2};
int classes[5];

int main(void)
{
    for (int i = 0; i < N; i++) {
        double x = in_x[i], y = in_y[i];
        out[0][i] = sqrt(x);
        out[1][i] = exp(x);
        out[2][i] = log(x);
        out[3][i] = pow(x, y);
        out[4][i] = tanh(x);
        out[5][i] = fabs(x);
        out[6][i] = copysign(x, y);
        out[7][i] = fmax(x, y);
        out[8][i] = fmin(x, y);
        out[9][i] = floor(x);
        out[10][i] = ceil(x);
        out[11][i] = trunc(x);
        out[12][i] = round(x);
        outf[0][i] = powf((float)x, (float)y);
        outf[1][i] = tanhf((float)x);
    }
    volatile double z = 0.0, sub = 1e-310, one = 1.0;
    classes[0] = fpclassify(z / z) == FP_NAN;
    classes[1] = fpclassify(one / z) == FP_INFINITE;
    classes[2] = fpclassify(z) == FP_ZERO;
    classes[3] = fpclassify(sub) == FP_SUBNORMAL && !isnormal(sub);
    classes[4] = fpclassify(one) == FP_NORMAL && isnormal(one) && HUGE_VAL == one / z;
    return 0;
}
""" % N


def _ulps64(got, want):
    g = got.view(np.int64)
    w = want.view(np.int64)
    g = np.where(g < 0, -(g & 0x7FFFFFFFFFFFFFFF), g)
    w = np.where(w < 0, -(w & 0x7FFFFFFFFFFFFFFF), w)
    return np.abs(g.astype(object) - w.astype(object)).astype(np.float64)


def _double_inputs():
    rng = np.random.default_rng(11)
    special = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 0.49999999999999994, 4503599627370495.5, 1e-310, -1e-310,
               1e300, 700.0, -740.0, 1e-20, np.inf, -np.inf, np.nan, 2.0, -8.0, 0.1]
    x = np.concatenate([np.array(special), rng.standard_normal(N - len(special)) * 5])
    ys = [0.0, 2.0, -3.0, 0.5, 1.0, 2.0, 3.0, -2.0, 7.0, 0.25, 1.5, -1.5, 0.5, 1.0, -1.0, 3.0, -1.0, 2.0, 2.0, 10.0,
          1.0 / 3.0, -0.5]
    y = np.concatenate([np.array(ys), np.round(rng.standard_normal(N - len(ys)) * 4, 2)])
    return x, y


def test_double_precision_math_and_constants():
    """The C99/POSIX parts of <math.h>: the M_* constants, fpclassify, and the double-precision functions
    (software double arithmetic) against numpy/glibc: sqrt, fabs, copysign, fmax, fmin, floor, ceil, trunc,
    round exactly; exp, log within 2 ulp; tanh within 3 ulp; pow within its documented bound; powf and tanhf
    within 1 ulp of the float64 value."""
    import math
    from fractions import Fraction
    elf = toolchain.build_c(DOUBLE_PROGRAM, name="libm_double", opt="-O2")
    m = Machine(get_platform("single"))
    syms = m.load_elf(elf).symbols
    x, y = _double_inputs()
    m.write_bytes(syms["in_x"], x.tobytes())
    m.write_bytes(syms["in_y"], y.tobytes())
    assert m.run(stdout=False) == 0
    res = np.frombuffer(m.read_bytes(syms["out"], 14 * N * 8), np.float64).reshape(14, N)
    resf = np.frombuffer(m.read_bytes(syms["outf"], 2 * N * 4), np.float32).reshape(2, N)
    consts = np.frombuffer(m.read_bytes(syms["consts"], 13 * 8), np.float64)
    assert list(np.frombuffer(m.read_bytes(syms["classes"], 20), np.int32)) == [1] * 5
    np.testing.assert_array_equal(consts, [math.e, math.log2(math.e), math.log10(math.e), math.log(2), math.log(10),
                                           math.pi, math.pi / 2, math.pi / 4, 1 / math.pi, 2 / math.pi,
                                           2 / math.sqrt(math.pi), math.sqrt(2), math.sqrt(0.5)])

    def same(k, want):
        """Bit for bit (the sign of zero included); a NaN for a NaN (RISC-V's canonical NaN is positive)."""
        want = np.asarray(want, np.float64)
        np.testing.assert_array_equal(np.isnan(res[k]), np.isnan(want), err_msg=f"row {k}")
        ok = ~np.isnan(want)
        np.testing.assert_array_equal(res[k][ok].view(np.uint64), want[ok].view(np.uint64), err_msg=f"row {k}")

    def round_half_away(v):
        if not np.isfinite(v):
            return v
        r = math.floor(abs(Fraction(v)) + Fraction(1, 2))
        return math.copysign(float(r), v)

    with np.errstate(all="ignore"):
        same(0, np.sqrt(x))
        same(5, np.abs(x))
        same(6, np.copysign(x, y))
        both = ~np.isnan(x) & ~np.isnan(y)
        np.testing.assert_array_equal(res[7][both], np.fmax(x, y)[both])
        np.testing.assert_array_equal(res[8][both], np.fmin(x, y)[both])
        assert res[7][np.isnan(x)][0] == y[np.isnan(x)][0]
        same(9, np.floor(x))
        same(10, np.ceil(x))
        same(11, np.trunc(x))
        same(12, [round_half_away(v) for v in x])

        for row, fn, tol in ((1, np.exp, 2), (2, np.log, 2), (4, np.tanh, 3)):
            want = fn(x)
            fin = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float64).tiny)
            assert _ulps64(res[row][fin], want[fin]).max() <= tol, fn.__name__
            np.testing.assert_array_equal(res[row][~fin], want[~fin], err_msg=fn.__name__)   # NaN == NaN here

        want = np.power(x, y)
        fin = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float64).tiny) & np.isfinite(x)
        bound = np.where((np.trunc(y) == y) & (np.abs(y) <= 64), 8, 2 + 2 * np.abs(y * np.log(np.abs(x))))
        assert np.all(_ulps64(res[3][fin], want[fin]) <= bound[fin])
        np.testing.assert_array_equal(res[3][~fin], want[~fin])      # C99 Annex F special cases

        xf, yf = x.astype(np.float32), y.astype(np.float32)
        for row, want in ((0, np.power(xf.astype(np.float64), yf.astype(np.float64))), (1, np.tanh(xf.astype(np.float64)))):
            want = want.astype(np.float32)
            fin = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float32).tiny)
            assert _ulps(resf[row][fin], want[fin]).max() <= 1
            np.testing.assert_array_equal(resf[row][~fin], want[~fin])


BF16_PROGRAM = r"""
#define N 24
double in_d[N] = {1.0};
float in_f[N] = {1.0f};
unsigned short out_d[N], out_f[N];

int main(void)
{
    for (int i = 0; i < N; i++) {
        union { __bf16 b; unsigned short u; } d = {(float16alt)in_d[i]}, f = {(float16alt)in_f[i]};
        out_d[i] = d.u;
        out_f[i] = f.u;
    }
    return 0;
}
"""


def _bf16_reference(x: float) -> int:
    """x rounded to bfloat16 (8 significant bits, quantum 2^-133 at the bottom), nearest even, as bits."""
    import math
    from fractions import Fraction
    if math.isnan(x):
        return 0x7FC0
    sign = 0x8000 if math.copysign(1.0, x) < 0 else 0
    if math.isinf(x):
        return sign | 0x7F80
    if x == 0.0:
        return sign
    e = math.frexp(abs(x))[1]
    quantum = Fraction(2) ** max(e - 8, -133)
    r = round(Fraction(abs(x)) / quantum) * quantum          # round() of a Fraction: ties to even
    if r > Fraction(2 - Fraction(1, 128)) * Fraction(2) ** 127:
        return sign | 0x7F80
    return sign | int(np.float32(float(r)).view(np.uint32) >> 16)


def test_bfloat16_conversions_round_to_nearest_even():
    """float -> and double -> float16alt (the runtime's __truncsfbf2/__truncdfbf2): the nearest bfloat16, ties to
    even, with one rounding from double (1 + 2^-8 + 2^-40 must round up, although rounding to float first gives a
    tie that rounds down), subnormals, overflow to infinity, NaN."""
    d = np.array([1.0, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -40, -(1 + 2.0 ** -8 + 2.0 ** -40),
                  1 + 2.0 ** -8 - 2.0 ** -40, 0.1, -0.1, 3.0e38, 3.4e38, 1e39, -1e300, 2.0 ** -133, 2.0 ** -134,
                  3 * 2.0 ** -135, 2.0 ** -140, 1e-45, -0.0, np.inf, np.nan, 65504.0, 1.0 / 3, 2.0 ** 127 * 1.99609375,
                  np.pi])
    elf = toolchain.build_c(BF16_PROGRAM, name="bf16_conv")
    m = Machine(get_platform("single"))
    syms = m.load_elf(elf).symbols
    with np.errstate(over="ignore"):
        f = d.astype(np.float32)
    m.write_bytes(syms["in_d"], d.tobytes())
    m.write_bytes(syms["in_f"], f.tobytes())
    assert m.run(stdout=False) == 0
    got_d = np.frombuffer(m.read_bytes(syms["out_d"], 2 * len(d)), np.uint16)
    got_f = np.frombuffer(m.read_bytes(syms["out_f"], 2 * len(d)), np.uint16)
    nan = np.isnan(d)
    assert all((g & 0x7FFF) > 0x7F80 for g in got_d[nan]) and all((g & 0x7FFF) > 0x7F80 for g in got_f[nan])
    assert [hex(v) for v in got_d[~nan]] == [hex(_bf16_reference(float(x))) for x in d[~nan]]
    assert [hex(v) for v in got_f[~nan]] == [hex(_bf16_reference(float(x))) for x in f[~nan]]
