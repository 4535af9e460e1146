"""Python API, CLI run output, traces, platform configuration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import pulpsim
from pulpsim import toolchain
from pulpsim.errors import ConfigError, CycleLimitExceeded

HELLO = r"""
#include "pulpsim.h"
int main(void) {
    int s = 0;
    for (int i = 1; i <= 10; i++) s += i * i;
    printf("sum %d\n", s);
    return s == 385 ? 5 : 1;
}
"""

COUNTDOWN = """
    .section .text.init
    .globl _start
_start:
    li   a0, 3
1:  addi a0, a0, -1
    bnez a0, 1b
    li   t0, 0x1A1040A0
    li   t1, 0x80000000
    sw   t1, 0(t0)
"""


@pytest.fixture(scope="module")
def hello_elf():
    return toolchain.build_c(HELLO, name="api_hello")


def test_run_returns_result(hello_elf):
    res = pulpsim.run(hello_elf)
    assert res.exit_code == 5
    assert res.stdout == "sum 385\n"
    assert res.platform == "single"
    core = res.cores[0]
    assert res.instructions == core.instructions > 0
    assert res.cycles == core.cycles == core.instructions + sum(core.stalls.values())
    assert res.cpi == pytest.approx(res.cycles / res.instructions)
    data = json.loads(res.to_json())
    assert data["exit_code"] == 5 and data["cycles"] == res.cycles
    assert "stall cycles by cause" in res.table()


def test_cli_run_prints_output_then_stats(hello_elf):
    proc = subprocess.run([sys.executable, "-m", "pulpsim", "run", str(hello_elf), "--stats", "json"],
                          capture_output=True, text=True)
    assert proc.returncode == 5
    out, _, stats = proc.stdout.partition("\n")
    assert out == "sum 385"
    data = json.loads(stats)
    assert data["exit_code"] == 5 and data["instructions"] > 0 and "load_use" in data["stalls"]


def test_trace_has_one_line_per_instruction(tmp_path):
    elf = toolchain.build_asm(COUNTDOWN, runtime=False, name="countdown")
    trace = tmp_path / "trace.txt"
    res = pulpsim.run(elf, trace=trace)
    lines = trace.read_text().splitlines()
    # li a0,3 ; 3 x (addi, bnez) ; lui t0 ; addi t0 ; lui t1 ; sw  = 1 + 6 + 4 = 11
    assert res.instructions == len(lines) == 11
    first = lines[0].split()
    assert first[:3] == ["0", "0", "1c000000"]
    assert "addi a0,zero,3" in lines[0] and lines[0].rstrip().endswith("a0=0x00000003")
    # issue cycles: li 0, addi 1, bnez 2 (taken: 3 cycles), addi 5, ...
    assert [int(l.split()[0]) for l in lines[:5]] == [0, 1, 2, 5, 6]
    assert "bne a0,zero,1c000004" in lines[2]


TRAPS = """
    .section .text.init
    .globl _start
_start:
    la   t0, handler
    csrw mtvec, t0
    ecall
    .align 2
handler:
    li   t0, 0x1A1040A0
    li   t1, 0x80000000
    sw   t1, 0(t0)
"""


def test_trace_shows_the_trapping_instruction_and_its_cause(tmp_path):
    elf = toolchain.build_asm(TRAPS, runtime=False, name="trace_trap")
    trace = tmp_path / "trace.txt"
    res = pulpsim.run(elf, trace=trace)
    lines = trace.read_text().splitlines()
    # auipc 0, addi 1, csrw mtvec 2 (4 cycles: flushes), ecall 6 (traps, 4 cycles), lui 10 ...
    assert [int(l.split()[0]) for l in lines[:5]] == [0, 1, 2, 6, 10]
    assert "ecall" in lines[3]
    assert lines[3].rstrip().endswith("trap: environment call from M-mode (mcause 11, mtval 0x00000000)")
    assert res.instructions == len(lines) - 1  # the ecall does not retire


def test_timeline_shows_the_trap_entry(tmp_path):
    elf = toolchain.build_asm(TRAPS, runtime=False, name="trace_trap")
    out = tmp_path / "trap.json"
    res = pulpsim.run(elf, timeline=out)
    events = sorted((e for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X" and e["pid"] == 0),
                    key=lambda e: e["ts"])
    # the ecall issues at 6 (running 6-7), the trap entry takes the next 3 cycles, the handler starts at 10
    assert {"name": "trap", "ts": 7, "dur": 3} in [{k: e[k] for k in ("name", "ts", "dur")} for e in events]
    for a, b in zip(events, events[1:]):
        assert a["ts"] + a["dur"] == b["ts"]
    assert events[-1]["ts"] + events[-1]["dur"] == res.cycles


def test_trace_ends_with_the_fault_that_stops_the_run(tmp_path):
    from pulpsim.errors import IllegalInstruction
    elf = toolchain.build_asm(".section .text.init\n.globl _start\n_start: nop\n.word 0xffffffff\n",
                              runtime=False, name="trace_fault")
    trace = tmp_path / "trace.txt"
    with pytest.raises(IllegalInstruction):
        pulpsim.run(elf, trace=trace)
    lines = trace.read_text().splitlines()
    assert len(lines) == 2
    assert lines[1].split()[:3] == ["1", "0", "1c000004"]
    assert lines[1].rstrip().endswith("trap: illegal instruction (mcause 2, mtval 0xffffffff)")


def test_max_cycles_stops_runaway():
    elf = toolchain.build_asm(".section .text.init\n.globl _start\n_start: j _start\n", runtime=False,
                              name="spin")
    with pytest.raises(CycleLimitExceeded) as info:
        pulpsim.run(elf, max_cycles=500)
    assert info.value.core == 0 and info.value.pc == 0x1C000000
    assert "jal" in info.value.disasm and info.value.regs["pc"] == 0x1C000000


def test_platform_overrides_and_toml(tmp_path, hello_elf):
    plat = pulpsim.get_platform("single", {"l2.latency": 3}, cores=2)
    assert plat.cores == 2 and plat.l2.latency == 3
    slow = pulpsim.run(hello_elf, platform="single", l2__latency=3)
    fast = pulpsim.run(hello_elf, platform="single")
    assert slow.exit_code == fast.exit_code == 5
    assert slow.instructions == fast.instructions
    core = slow.cores[0]
    # each load/store to L2 (code, data and stack all live in L2) takes 2 extra cycles
    assert core.stalls["load_latency"] == 2 * core.loads
    # stores to the SoC (one per printed character, one to CORESTATUS) are device writes, not L2
    assert core.stalls["store_latency"] == 2 * (core.stores - len(slow.stdout) - 1)
    toml = tmp_path / "myplat.toml"
    toml.write_text('preset = "single"\ncores = 3\n[l2]\nlatency = 7\n')
    p = pulpsim.get_platform(str(toml))
    assert (p.name, p.cores, p.l2.latency) == ("myplat", 3, 7)


@pytest.mark.parametrize("overrides, fragment", [
    ({"cores": 0}, "cores"),
    ({"cores": 99}, "cores"),
    ({"l2.size": 3}, "l2.size"),
    ({"l2.latency": "fast"}, "l2.latency"),
    ({"tcdm.base": 0x1C000000}, "overlap"),
    ({"nosuch": 1}, "unknown platform parameter"),
    ({"l2.nosuch": 1}, "unknown platform parameter"),
])
def test_bad_platform_values_name_the_field(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        pulpsim.get_platform("single", overrides)


def test_unknown_platform():
    with pytest.raises(ConfigError, match="unknown platform"):
        pulpsim.get_platform("vega9000")


def test_energy_estimate_from_counts_and_time():
    elf = toolchain.build_asm(COUNTDOWN, runtime=False, name="countdown")
    res = pulpsim.run(elf)
    # 11 instructions, no TCDM access, no sleep, 15 cycles at 450 MHz (li 1, 2 x (addi 1 + taken bnez 3),
    # addi 1 + bnez 1, then lui, addi, lui, sw)
    assert res.instructions == 11 and res.cycles == 15
    t_us = 15 / 450.0
    e = res.energy_uj
    assert e["instructions"] == pytest.approx(11 * 4.98e-6)
    assert e["tcdm"] == 0
    assert e["core_leakage"] == pytest.approx(35.5e-6 * t_us)
    assert e["tcdm_leakage"] == pytest.approx(16 * 5.2e-6 * t_us)
    assert e["cluster"] == pytest.approx((2.84 + 1.10) * 1e-3 * t_us)
    assert res.energy_total_uj == pytest.approx(sum(e.values()))
    doubled = pulpsim.run(elf, overrides={"energy.pj_per_instruction": 9.96})
    assert doubled.energy_uj["instructions"] == pytest.approx(2 * e["instructions"])
