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
from pulpsim.machine import Machine
from pulpsim.platform import get_platform
from pulpsim.result import collect

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
    from pulpsim.elf import load_elf
    syms = load_elf(elf).symbols
    assert "sqrtf" in syms and "expf" not in syms and "floorf" not in syms
