"""Run the FP32 matrix multiply kernels of ``kernels/matmul/`` on a simulated cluster.

::

    import numpy as np
    from pulpsim import kernel_runner as kr

    A = np.random.rand(32, 32).astype(np.float32)
    B = np.random.rand(32, 32).astype(np.float32)
    r = kr.run_matmul(A, B, variant="4x4", platform="pulp-open", cores=8)
    r.C                 # (M, N) float32, read back from the TCDM
    r.cycles            # cycles of the pi_perf_start/stop region around the fork (core 0)
    r.mac_per_cycle     # M*N*K / cycles
    r.stalls            # per core: stall cycles by cause over the whole run
    r.bank_conflicts    # TCDM bank conflicts over the whole run

A driver program is generated for each (shape, variant, cores, platform
layout, contraction) and built with :func:`pulpsim.toolchain.build`, which
caches by content: A, B and C are zero-initialised ``PI_L1`` arrays of the
exact size, ``main`` brackets ``pi_cl_team_fork(cores, mm_<variant>, &args)``
with ``pi_perf_start/stop``.  The inputs are written into the loaded image
with ``Machine.write_bytes`` before the run, so one ELF serves any data.
docs/kernels.md describes the kernels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import toolchain
from ..errors import ConfigError, GuestError
from ..sim.machine import Machine
from ..sim.platform import Platform, get_platform
from ..sim.result import Result, collect

__all__ = ["VARIANTS", "C_VARIANTS", "ASM_VARIANTS", "MatmulResult", "kernel_dir", "build_matmul", "run_matmul"]

#: Variants compiled from C (kernels/matmul/matmul.c), in the order of docs/kernels.md.
C_VARIANTS = ("naive", "naive_n", "unroll_k", "2x1", "2x2", "2x4", "4x2", "4x4")
#: Variants with a hand-written assembly inner kernel (kernels/matmul/mm_asm.S).
ASM_VARIANTS = ("asm_4x4",)
VARIANTS = C_VARIANTS + ASM_VARIANTS

#: Compiler flags of the kernels (clang emits fmadd.s with contraction).
OPT = "-O3"
CONTRACT_FLAGS = ("-ffp-contract=fast",)
NO_CONTRACT_FLAGS = ("-ffp-contract=off",)

#: Per-core stacks of the driver (no printf on the kernel path: 2 KiB is
#: ample; 1 KiB is used when the matrices need the room).
_STACKS = (0x800, 0x400)
#: TCDM bytes kept for the runtime's own .l1 data (team size, allocator state).
_L1_RESERVE = 256

_DRIVER = r"""
#include "pmsis.h"
#include "matmul.h"

PI_L1 float A[{MK}];
PI_L1 float B[{KN}];
PI_L1 float C[{MN}];
PI_L1 struct mm_args args = {{A, B, C, {M}, {N}, {K}}};

int main(void)
{{
    pi_perf_stop();
    pi_perf_conf(1 << PI_PERF_CYCLES);
    pi_perf_reset();
    pi_perf_start();
    pi_cl_team_fork({CORES}, mm_{VARIANT}, &args);
    pi_perf_stop();
    return 0;
}}
"""


def kernel_dir() -> Path:
    """Directory of the matmul kernel sources (matmul.h, matmul.c, mm_asm.S)."""
    return Path(__file__).resolve().parents[2] / "kernels" / "matmul"


@dataclass
class MatmulResult:
    """Outcome of :func:`run_matmul`."""

    C: np.ndarray               #: (M, N) float32 output
    variant: str
    platform: str
    cores: int                  #: team size of the fork
    M: int
    N: int
    K: int
    cycles: int                 #: cycles of core 0's pi_perf_start..stop region (the fork and join)
    stalls: list[dict[str, int]]  #: per core: stall cycles by cause (whole run; cores outside the team idle)
    bank_conflicts: int         #: TCDM bank conflicts of all banks (whole run)
    banks: list[dict] = field(default_factory=list)  #: per bank: accesses, conflicts
    instructions: int = 0       #: instructions of core 0's region
    result: Result | None = field(default=None, repr=False)  #: the full simulator result
    elf: Path | None = None

    @property
    def macs(self) -> int:
        return self.M * self.N * self.K

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0


def _platform(platform) -> Platform:
    if isinstance(platform, Platform):
        return platform
    return get_platform(platform)


def _check_dims(M, N, K) -> tuple[int, int, int]:
    out = []
    for name, v in (("M", M), ("N", N), ("K", K)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"matmul: {name} must be an integer, got {v!r}")
        if v < 1:
            raise ConfigError(f"matmul: {name} must be >= 1, got {v}")
        out.append(int(v))
    return tuple(out)


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ConfigError(f"matmul: unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return variant


def _check_cores(cores, plat: Platform) -> int:
    if cores is None:
        return plat.cores
    if isinstance(cores, bool) or not isinstance(cores, (int, np.integer)):
        raise ConfigError(f"matmul: cores must be an integer, got {cores!r}")
    if not 1 <= cores <= plat.cores:
        raise ConfigError(f"matmul: cores must be between 1 and {plat.cores} (platform {plat.name!r}), got {cores}")
    return int(cores)


def _layout(plat: Platform, nbytes: int) -> toolchain.Layout:
    base = toolchain.layout_for(plat)
    for stack in _STACKS:
        avail = plat.tcdm.size - base.num_cores * stack - _L1_RESERVE
        if nbytes <= avail:
            return dataclasses.replace(base, stack_size_per_core=stack)
    avail = plat.tcdm.size - base.num_cores * _STACKS[-1] - _L1_RESERVE
    raise ConfigError(f"matmul: A, B and C need {nbytes} bytes of TCDM but platform {plat.name!r} has "
                      f"{avail} bytes free ({plat.tcdm.size} minus {base.num_cores} stacks of {_STACKS[-1]} bytes)")


def build_matmul(M: int, N: int, K: int, variant: str = "naive", platform="pulp-open", cores: int | None = None,
                 *, contract: bool = True) -> Path:
    """Build (or fetch from the cache) the driver ELF of one matmul problem.

    ``contract=False`` compiles with ``-ffp-contract=off`` (separate fmul.s
    and fadd.s: the rounding of a plain C compiler without FMA), for
    bit-exact comparisons with a host build.
    """
    M, N, K = _check_dims(M, N, K)
    _check_variant(variant)
    plat = _platform(platform)
    cores = _check_cores(cores, plat)
    layout = _layout(plat, 4 * (M * K + K * N + M * N))
    src = _DRIVER.format(MK=M * K, KN=K * N, MN=M * N, M=M, N=N, K=K, CORES=cores, VARIANT=variant)
    kd = kernel_dir()
    driver = toolchain.source_file(src, ".c", f"mm_{variant}")
    return toolchain.build([driver, kd / "matmul.c", kd / "mm_asm.S"], opt=OPT,
                           cflags=CONTRACT_FLAGS if contract else NO_CONTRACT_FLAGS,
                           include_dirs=[kd], layout=layout, pmsis=True)


def _as_matrix(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - any conversion failure is a bad argument
        raise ConfigError(f"matmul: {name} is not an array: {e}") from None
    if arr.ndim != 2:
        raise ConfigError(f"matmul: {name} must be a 2-D matrix, got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise ConfigError(f"matmul: {name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype != np.float32:
        if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
            # Values that float32 cannot hold would silently become inf.
            with np.errstate(over="ignore"):
                conv = arr.astype(np.float32)
            if not np.array_equal(np.isfinite(conv), np.isfinite(arr)):
                raise ConfigError(f"matmul: {name} has values out of float32 range")
            arr = conv
        else:
            arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr, dtype="<f4")


def run_driver(elf: Path, plat: Platform, inputs: dict[str, np.ndarray], *, what: str,
               max_cycles: int | None = None) -> tuple[Machine, dict[str, int], Result]:
    """Load a driver ELF, write each input array at its symbol, run it and collect the statistics.

    Returns (machine, symbols, result); a driver that exits non-zero raises GuestError naming `what`.
    """
    machine = Machine(plat, max_cycles=max_cycles)
    syms = machine.load_elf(elf).symbols
    for sym, array in inputs.items():
        machine.write_bytes(syms[sym], np.ascontiguousarray(array).tobytes())
    code = machine.run(stdout=False)
    res = collect(machine, code)
    if code != 0:
        raise GuestError(f"{what} driver exited with code {code}: {res.stdout.strip()}")
    return machine, syms, res


def read_floats(machine: Machine, addr: int, shape: tuple) -> np.ndarray:
    """A float32 array of `shape` read from guest memory at addr (at least one element)."""
    n = max(1, int(np.prod(shape)))
    return np.frombuffer(machine.read_bytes(addr, 4 * n), dtype="<f4").astype(np.float32).reshape(shape or (1,))


def run_matmul(A, B, variant: str = "naive", platform="pulp-open", cores: int | None = None, *,
               contract: bool = True, max_cycles: int | None = None) -> MatmulResult:
    """Compute ``A @ B`` on the simulated cluster with one kernel variant.

    ``A`` (M x K) and ``B`` (K x N) are converted to float32; ``platform`` is
    a preset name or a :class:`pulpsim.Platform`; ``cores`` is the team size
    of the fork (default: all cores of the platform).  Raises ConfigError on
    bad shapes, an unknown variant, a bad core count or matrices that do not
    fit the TCDM.
    """
    A = _as_matrix(A, "A")
    B = _as_matrix(B, "B")
    M, K = A.shape
    K2, N = B.shape
    if K != K2:
        raise ConfigError(f"matmul: inner dimensions differ: A is {M}x{K}, B is {K2}x{N}")
    _check_dims(M, N, K)
    plat = _platform(platform)
    cores = _check_cores(cores, plat)
    elf = build_matmul(M, N, K, variant, plat, cores, contract=contract)
    machine, syms, res = run_driver(elf, plat, {"A": A, "B": B}, what="matmul", max_cycles=max_cycles)
    C = read_floats(machine, syms["C"], (M, N))
    region = next((r for r in res.regions if r.core == 0), None)
    if region is None:
        raise GuestError("matmul driver: no pi_perf region on core 0")
    return MatmulResult(
        C=C, variant=variant, platform=plat.name, cores=cores, M=M, N=N, K=K,
        cycles=region.cycles, stalls=[dict(c.stalls) for c in res.cores],
        bank_conflicts=sum(b["conflicts"] for b in res.banks), banks=res.banks,
        instructions=region.instructions, result=res, elf=elf)


def _main(argv=None) -> int:
    """``python -m pulpsim.kernel_runner``: MAC/cycle table of the variants (random inputs, checked)."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m pulpsim.kernel_runner",
                                description="MAC/cycle of the matmul variants on simulated clusters")
    p.add_argument("--shape", type=int, nargs=3, default=(64, 64, 64), metavar=("M", "N", "K"))
    p.add_argument("--platforms", nargs="+", default=["pulp-open", "vega"])
    p.add_argument("--cores", type=int, nargs="+", default=[1, 8])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = p.parse_args(argv)
    M, N, K = args.shape
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    bound = K * np.finfo(np.float32).eps * (np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64)))
    cols = [(pl, c) for pl in args.platforms for c in args.cores]
    print(f"{M}x{N}x{K} FP32 matmul, MAC/cycle (cycles)")
    print("| variant | " + " | ".join(f"{pl} {c} core{'s' if c > 1 else ''}" for pl, c in cols) + " |")
    print("| --- |" + " --- |" * len(cols))
    for v in args.variants:
        cells = []
        for pl, c in cols:
            r = run_matmul(A, B, v, pl, c)
            ok = bool(np.all(np.abs(r.C - exact) <= bound))
            cells.append(f"{r.mac_per_cycle:.3f} ({r.cycles})" + ("" if ok else " WRONG"))
        print(f"| `{v}` | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
