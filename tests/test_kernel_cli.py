"""``pulpsim kernel NAME --shape M N K``: run a library kernel on seeded random data, checked against numpy."""

from __future__ import annotations

import subprocess
import sys

import pytest

STATUS_CONFIG = 251


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pulpsim", "kernel", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def assert_config_error(proc, *fragments):
    assert proc.returncode == STATUS_CONFIG, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("pulpsim: error: ")
    for frag in fragments:
        assert frag in err, (frag, err)


def field(out: str, name: str) -> str:
    for line in out.splitlines():
        if line.startswith(name):
            return line[len(name):].split()[0]
    raise AssertionError(f"no {name!r} line in:\n{out}")


@pytest.mark.parametrize("variant,cores,platform,shape", [
    ("4x4", 8, "vega", (16, 12, 8)),
    ("asm_4x4", 3, "pulp-open", (13, 11, 10)),
    ("naive", 1, "vega", (5, 7, 3)),
])
def test_matmul_runs_and_checks(variant, cores, platform, shape):
    p = cli("matmul", "--shape", *shape, "--cores", cores, "--variant", variant, "--platform", platform,
            "--seed", 3)
    assert p.returncode == 0, (p.stdout, p.stderr)
    M, N, K = shape
    cycles = int(field(p.stdout, "cycles"))
    mpc = float(field(p.stdout, "MAC/cycle"))
    assert cycles > 0
    assert mpc == pytest.approx(M * N * K / cycles, abs=1e-3)
    assert "bank conflicts" in p.stdout
    assert p.stdout.count("  core ") == 8          # stall causes of every core of the platform
    assert "check         ok" in p.stdout


def test_default_variant_and_cores_and_determinism():
    a = cli("matmul", "--shape", 8, 8, 8)
    b = cli("matmul", "--shape", 8, 8, 8)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert "cores 8" in a.stdout


def test_unknown_kernel_lists_known_ones():
    assert_config_error(cli("conv9", "--shape", 1, 1, 1), "unknown kernel", "matmul")


@pytest.mark.parametrize("shape,frag", [((0, 4, 4), "M must be >= 1"), ((4, -1, 4), "N must be >= 1"),
                                        ((4, 4, 0), "K must be >= 1"), ((200, 200, 200), "TCDM"),
                                        ((100000, 100000, 100000), "TCDM"), ((90, 90, 90), "TCDM")])
def test_bad_shape(shape, frag):
    assert_config_error(cli("matmul", "--shape", *shape, "--platform", "pulp-open"), frag)


def test_bad_variant_cores_platform_and_usage():
    assert_config_error(cli("matmul", "--shape", 2, 2, 2, "--variant", "8x8"), "unknown variant", "asm_4x4")
    assert_config_error(cli("matmul", "--shape", 2, 2, 2, "--cores", 9), "cores")
    assert_config_error(cli("matmul", "--shape", 2, 2, 2, "--platform", "nosuch"))
    assert_config_error(cli("matmul", "--shape", 2, 2), "--shape")
    assert_config_error(cli("matmul", "--shape", 2, 2, "x"))


@pytest.mark.parametrize("args", [
    ["conv2d", "--shape", "3", "4", "5", "7", "--step", "ig", "--stride", "2"],
    ["depthwise", "--shape", "5", "7", "6", "--step", "wg", "--stride", "2"],
    ["linear", "--shape", "13", "9"],
    ["softmax_ce", "--shape", "10", "--step", "bw"],
])
def test_layer_kernels_run_and_check(args):
    proc = subprocess.run([sys.executable, "-m", "pulpsim", "kernel", *args, "--platform", "vega"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "check         ok" in proc.stdout and "cycles" in proc.stdout


@pytest.mark.parametrize("args, fragment", [
    (["conv2d", "--shape", "3", "4", "5"], "takes 4 values"),
    (["conv2d", "--shape", "3", "4", "5", "5", "--step", "bw"], "unknown step"),
    (["depthwise", "--shape", "3", "5", "5", "--stride", "3"], "stride"),
    (["relu", "--shape", "0", "4", "4"], "must be >= 1"),
    (["pointwise", "--shape", "256", "256", "8", "8"], "TCDM"),
    (["matmul", "--shape", "4", "4"], "takes 3 values"),
])
def test_layer_kernel_bad_arguments(args, fragment):
    proc = subprocess.run([sys.executable, "-m", "pulpsim", "kernel", *args], capture_output=True, text=True)
    assert proc.returncode == 251, (proc.returncode, proc.stderr)
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("pulpsim: error: ") and fragment in err, err
