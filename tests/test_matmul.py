"""FP32 matmul kernels (kernels/matmul/) on the simulated cluster, through pulpsim.workloads.kernel_runner.

Two golden references:

- numpy in float64 with the rigorous bound of a recursively summed dot product of length K
  (Higham, Accuracy and Stability of Numerical Algorithms, eq. 3.5):
  |C - A@B| <= gamma_K * (|A| @ |B|) elementwise, gamma_K = K*u / (1 - K*u), u = 2**-24.
  We allow K * eps32 (= 2*K*u > gamma_K), for any summation order and with or without fma.
- the same kernel source compiled natively for the host with cffi (-DMM_HOST, one-core PMSIS shim in
  kernels/matmul/host/), plus a host fmaf() chain.  Every variant accumulates each C element as one chain in
  increasing k, so:
  * simulator build with -ffp-contract=off == host build with -ffp-contract=off, bit for bit (every C variant);
  * simulator build with contraction (fmadd.s) and the asm kernel == host fmaf chain, bit for bit.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pulpsim.workloads import kernel_runner as kr
from pulpsim.errors import ConfigError

from hostbuild import build_host_module

PLATFORMS = ("vega", "pulp-open")

# (M, N, K): not divisible by the cores (8) or any block, M < cores, 1x1xK, single row/column, K % 4 != 0.
SHAPES = [
    (1, 1, 1),
    (1, 1, 9),       # 1x1xK
    (1, 7, 5),       # single row
    (9, 1, 6),       # single column (Mx1)
    (3, 5, 7),       # M < cores
    (13, 11, 10),    # nothing divisible
    (16, 16, 16),    # everything divisible
    (6, 9, 17),      # K % 4 == 1
]


def _inputs(M, N, K, seed=0):
    rng = np.random.default_rng(seed + 1000 * M + 100 * N + K)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    return A, B


def _check_numpy(C, A, B):
    K = A.shape[1]
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    exact = A64 @ B64
    bound = K * np.finfo(np.float32).eps * (np.abs(A64) @ np.abs(B64)) + np.finfo(np.float32).tiny
    err = np.abs(C.astype(np.float64) - exact)
    assert C.dtype == np.float32 and C.shape == exact.shape
    assert np.all(err <= bound), f"max error {err.max():.3e}, worst bound ratio {(err / bound).max():.3f}"


# ---------------------------------------------------------------- host reference (cffi)

_HOST_SRC = r"""
#include <math.h>
#include "matmul.h"
void ref_fma(const float *A, const float *B, float *C, int M, int N, int K)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc = fmaf(A[i * K + k], B[k * N + j], acc);
            C[i * N + j] = acc;
        }
}
"""

_HOST_CDEF = """
struct mm_args { const float *A; const float *B; float *C; int M, N, K; };
void mm_naive(void *); void mm_naive_n(void *); void mm_unroll_k(void *);
void mm_2x1(void *); void mm_2x2(void *); void mm_2x4(void *); void mm_4x2(void *); void mm_4x4(void *);
void ref_fma(const float *A, const float *B, float *C, int M, int N, int K);
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    return build_host_module("_mm_host", _HOST_SRC, _HOST_CDEF, [kr.kernel_dir() / "matmul.c"], [],
                             tmp_path_factory.mktemp("mm_host"))


def _host_run(host, variant, A, B):
    ffi, lib = host.ffi, host.lib
    M, K = A.shape
    N = B.shape[1]
    A = np.ascontiguousarray(A, np.float32)
    B = np.ascontiguousarray(B, np.float32)
    C = np.full((M, N), np.nan, np.float32)
    pa, pb, pc = (ffi.cast("float *", ffi.from_buffer(x)) for x in (A, B, C))
    if variant == "ref_fma":
        lib.ref_fma(pa, pb, pc, M, N, K)
    else:
        args = ffi.new("struct mm_args *", {"A": pa, "B": pb, "C": pc, "M": M, "N": N, "K": K})
        getattr(lib, f"mm_{variant}")(args)
    return C


def _bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


# ---------------------------------------------------------------- correctness

@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_variant_matches_both_references(host, platform, shape):
    A, B = _inputs(*shape)
    fma_ref = _host_run(host, "ref_fma", A, B)
    for variant in kr.VARIANTS:
        r = kr.run_matmul(A, B, variant, platform)
        _check_numpy(r.C, A, B)
        # Contraction (clang -ffp-contract=fast) and the asm kernel: one fmadd.s chain per element.
        np.testing.assert_array_equal(_bits(r.C), _bits(fma_ref), err_msg=f"{variant} vs host fmaf chain")
        assert r.cycles > 0 and r.mac_per_cycle > 0


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("shape", [(1, 1, 9), (9, 1, 6), (13, 11, 10), (6, 9, 17)],
                         ids=lambda s: "x".join(map(str, s)))
def test_uncontracted_build_is_bit_exact_with_the_host_build(host, platform, shape):
    A, B = _inputs(*shape, seed=1)
    for variant in kr.C_VARIANTS:
        r = kr.run_matmul(A, B, variant, platform, contract=False)
        expect = _host_run(host, variant, A, B)
        np.testing.assert_array_equal(_bits(r.C), _bits(expect), err_msg=f"{variant} on {platform}")
        _check_numpy(r.C, A, B)


@pytest.mark.parametrize("cores", [1, 2, 3, 5, 8])
def test_any_team_size(cores):
    A, B = _inputs(11, 6, 7, seed=2)
    ref = None
    for variant in kr.VARIANTS:
        r = kr.run_matmul(A, B, variant, "pulp-open", cores=cores)
        _check_numpy(r.C, A, B)
        assert r.cores == cores
        if ref is None:
            ref = r.C
        np.testing.assert_array_equal(_bits(r.C), _bits(ref))


def test_special_values_and_integer_inputs():
    A = np.array([[1, 2, 3], [4, 5, 6]])          # ints are converted to float32
    B = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]], dtype=np.float64)
    r = kr.run_matmul(A, B, "asm_4x4", "vega", cores=2)
    np.testing.assert_array_equal(r.C, np.array([[4, -1], [10, -1]], np.float32))
    A = np.array([[np.inf, 1.0]], np.float32)
    B = np.array([[0.0], [1.0]], np.float32)
    assert np.isnan(kr.run_matmul(A, B, "naive", "vega").C[0, 0])  # inf * 0


def test_repeated_run_is_deterministic_and_reuses_the_build():
    A, B = _inputs(8, 8, 8, seed=3)
    r1 = kr.run_matmul(A, B, "2x2", "vega")
    r2 = kr.run_matmul(A * 2, B, "2x2", "vega")
    assert r1.elf == r2.elf                      # data is written at load time: one ELF per shape
    np.testing.assert_array_equal(r2.C, r1.C * 2)
    r3 = kr.run_matmul(A, B, "2x2", "vega")
    assert (r3.cycles, r3.bank_conflicts) == (r1.cycles, r1.bank_conflicts)
    assert len(r1.stalls) == 8 and "tcdm_contention" in r1.stalls[0]


# ---------------------------------------------------------------- performance

def test_asm_beats_best_compiled_variant_on_32x32x32_pulp_open():
    A, B = _inputs(32, 32, 32, seed=4)
    rates = {}
    for variant in kr.VARIANTS:
        r = kr.run_matmul(A, B, variant, "pulp-open")
        _check_numpy(r.C, A, B)
        rates[variant] = r.mac_per_cycle
    best_c = max(kr.C_VARIANTS, key=rates.get)
    report = ", ".join(f"{v} {rates[v]:.3f}" for v in kr.VARIANTS)
    print(f"\n32x32x32 pulp-open 8 cores MAC/cycle: {report}", file=sys.stderr)
    assert rates["asm_4x4"] >= rates[best_c], report
    # Register blocking pays: every blocked 2x2+ variant beats naive.
    for v in ("2x2", "2x4", "4x2", "4x4"):
        assert rates[v] > rates["naive"], report


# ---------------------------------------------------------------- argument validation

@pytest.mark.parametrize("A, B, match", [
    (np.zeros((2, 3)), np.zeros((4, 2)), "inner dimensions differ"),
    (np.zeros(3), np.zeros((3, 2)), "2-D"),
    (np.zeros((0, 3)), np.zeros((3, 2)), "M must be >= 1"),
    (np.zeros((2, 3)), np.zeros((3, 0)), "N must be >= 1"),
    (np.array([["a"]]), np.zeros((1, 1)), "numeric"),
    (np.full((1, 1), 1e300), np.zeros((1, 1)), "float32 range"),
])
def test_bad_shapes_are_config_errors(A, B, match):
    with pytest.raises(ConfigError, match=match):
        kr.run_matmul(A, B)


def test_bad_variant_cores_and_size_are_config_errors():
    A, B = _inputs(2, 2, 2)
    with pytest.raises(ConfigError, match="unknown variant 'mm_4x4'"):
        kr.run_matmul(A, B, "mm_4x4")
    with pytest.raises(ConfigError, match="cores must be between 1 and 8"):
        kr.run_matmul(A, B, cores=9)
    with pytest.raises(ConfigError, match="cores must be between 1 and 8"):
        kr.run_matmul(A, B, cores=0)
    with pytest.raises(ConfigError, match="need .* bytes of TCDM"):
        kr.build_matmul(128, 128, 128, "naive", "pulp-open")
    with pytest.raises(ConfigError, match="K must be an integer"):
        kr.build_matmul(2, 2, 2.5)
