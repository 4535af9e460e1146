"""A program written for the PULP SDK and PULP GCC (tests/sdk_program, in PULP-TrainLib's style) builds with
`pulpsim build` and its Makefile flags unchanged, runs on the cluster presets, and prints numbers that numpy
confirms.

The program uses what such code uses: PULP GCC's built-in float16alt/float16 types and a SIMD vector of them with
__builtin_shuffle, the SDK's board-support headers (bsp/bsp.h, bsp/fs/readfs.h, pi_fs_file_t), pmsis.h (cluster
task, pi_cl_team_fork, PI_L1/PI_L2 data, perf counters), <math.h> (M_2_PI, M_PI_2, double sqrt, tanhf, powf), and
PULP GCC flags (-mhwloopalign, -mno-memcpy, -march=rv32imfcxpulpv2, -lm).  The golden data header is written
here, as a TrainLib test's golden-model script writes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import pulpsim
from pulpsim import cli

APP = Path(__file__).parent / "sdk_program" / "app"
LIB = "../lib"
SOURCES = ["main.c", "net.c", f"{LIB}/sources/mini_linear_fp32.c", f"{LIB}/sources/mini_vec_fp16.c"]
PULP_GCC_ONLY = ["-mhwloopalign", "-mno-memcpy", "-march=rv32imfcxpulpv2"]
IN_SIZE, OUT_SIZE, VEC_SIZE = 32, 12, 16
FATAL = 0x7E


def _golden():
    rng = np.random.default_rng(8)
    x = rng.standard_normal(IN_SIZE).astype(np.float32)
    w = (rng.standard_normal((OUT_SIZE, IN_SIZE)) * 0.3).astype(np.float32)
    b = rng.standard_normal(OUT_SIZE).astype(np.float32)
    # bfloat16 operands: float32 values with the low 16 bits clear
    a, v = ((rng.standard_normal(VEC_SIZE).astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
            for _ in range(2))
    return x, w, b, a, v


def _array(name: str, values) -> str:
    body = ", ".join(f"{float(f).hex()}f" for f in np.ravel(values))
    return f"PI_L2 float {name}[{np.size(values)}] = {{{body}}};\n"


def _write_data_header(directory: Path) -> tuple:
    x, w, b, a, v = _golden()
    out = (w.astype(np.float64) @ x + b).astype(np.float32)
    text = (f"#define IN_SIZE {IN_SIZE}\n#define OUT_SIZE {OUT_SIZE}\n#define VEC_SIZE {VEC_SIZE}\n"
            + _array("INPUT", x) + _array("WEIGHTS", w) + _array("BIAS", b) + _array("OUTPUT", out)
            + _array("VEC_A", a) + _array("VEC_B", v))
    (directory / "sdk-data.h").write_text(text)
    return x, w, b, a, v


def _build(tmp_path, monkeypatch, capsys, platform, *extra) -> tuple[Path, str]:
    """`pulpsim build` run from the application's directory with its Makefile's flags."""
    monkeypatch.chdir(APP)
    elf = tmp_path / f"sdk-{platform}.elf"
    argv = ["build", *SOURCES, "-I.", f"-I{LIB}/include", f"-I{tmp_path}", "-O3", "-g3", "-DCLUSTER", "-DFABRIC",
            "-DNUM_CORES=8", "-DSTATS", *PULP_GCC_ONLY, "-lm", "--platform", platform, *extra, "-o", str(elf)]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    return elf, err


def _bf16_round(f32: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounding to nearest even (finite values)."""
    u = f32.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _values(stdout: str, tag: str, dtype) -> np.ndarray:
    rows = re.findall(rf"^{tag} (\d+) ([0-9a-f]+)$", stdout, re.M)
    assert [int(i) for i, _ in rows] == list(range(len(rows))) and rows, stdout
    return np.array([int(h, 16) for _, h in rows], dtype)


@pytest.mark.parametrize("platform", ["vega", "pulp-open"])
def test_sdk_style_program_builds_unchanged_and_matches_numpy(tmp_path, monkeypatch, capsys, platform):
    x, w, b, a, v = _write_data_header(tmp_path)
    elf, err = _build(tmp_path, monkeypatch, capsys, platform)
    # one warning line, naming exactly the PULP GCC options that have no effect
    assert err.count("\n") == 1 and err.startswith("pulpsim: warning:")
    assert all(f in err for f in PULP_GCC_ONLY) and "-lm" not in err

    res = pulpsim.run(elf, platform=platform, max_cycles=20_000_000)
    out = res.stdout
    assert res.exit_code == 0, out
    assert ">>>TENSOR MATCHING!" in out and "NOT MATCHING" not in out
    assert out.endswith("Net step done\n")

    # linear layer: within K * eps32 * (|W| @ |x| + |b|) of the exact result
    got = _values(out, "out", np.uint32).view(np.float32).astype(np.float64)
    w64, x64, b64 = w.astype(np.float64), x.astype(np.float64), b.astype(np.float64)
    bound = IN_SIZE * np.finfo(np.float32).eps * (np.abs(w64) @ np.abs(x64) + np.abs(b64))
    assert np.all(np.abs(got - (w64 @ x64 + b64)) <= bound)

    # GELU of those outputs (tanhf, powf, double sqrt of M_2_PI), in float64
    gelu = _values(out, "gelu", np.uint32).view(np.float32).astype(np.float64)
    want = 0.5 * got * (1 + np.tanh(np.sqrt(2 / np.pi) * (got + 0.044715 * got ** 3)))
    np.testing.assert_allclose(gelu, want, rtol=2e-6, atol=1e-6)

    # bfloat16 SIMD: lanes swapped by __builtin_shuffle, products rounded to bfloat16 (exact in float32 first)
    swapped = a.reshape(-1, 2)[:, ::-1].ravel()
    np.testing.assert_array_equal(_values(out, "vmul", np.uint16), _bf16_round(swapped * v))

    # IEEE binary16 product, and M_PI_2 / 2 rounded to float
    half = (np.float16(a[0]) * np.float16(v[0])).view(np.uint16)
    assert re.search(r"^half ([0-9a-f]+)$", out, re.M).group(1) == f"{half:04x}"
    assert re.search(r"^quarter pi ([0-9a-f]+)$", out, re.M).group(1) == f"{np.float32(np.pi / 4).view(np.uint32):08x}"

    # the perf counters of the linear layer's region
    cycles = int(re.search(r"^\[0\] cycles = (\d+)$", out, re.M).group(1))
    instr = int(re.search(r"^\[0\] instr = (\d+)$", out, re.M).group(1))
    assert cycles == res.regions[0].cycles and instr == res.regions[0].instructions and cycles > instr


def test_sdk_program_using_the_file_system_builds_and_fails_at_run_time(tmp_path, monkeypatch, capsys):
    """The SDK's read-only file system builds; mounting it stops the program with a message naming the call."""
    _write_data_header(tmp_path)
    elf, _ = _build(tmp_path, monkeypatch, capsys, "vega", "-DUSE_FLASH")
    res = pulpsim.run(elf, platform="vega", max_cycles=2_000_000)
    assert res.exit_code == FATAL
    assert "pmsis: fatal: pi_fs_mount: pulpsim simulates no flash and no file system" in res.stdout
    assert "Linear forward" not in res.stdout
