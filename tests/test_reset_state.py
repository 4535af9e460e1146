"""CSR reset state as the CV32E40P RTL (cv32e40p_cs_registers.sv), and the two reset parameters.

Expected values come from the RTL: mstatus resets with MPP = M and FS = Off (``mstatus_fs_q <= FS_OFF`` with
FPU = 1), so FP instructions are illegal until software sets FS (cv32e40p_decoder.sv, ``fs_off_i``); every
implemented counter resets inhibited (``mcountinhibit_q <= 'b1``).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import pulpsim
from pulpsim import toolchain
from pulpsim.errors import ConfigError, IllegalInstruction
from pulpsim.sim.machine import Machine
from pulpsim.sim.platform import RTL_RESET_MCOUNTINHIBIT, get_platform

EXIT = """
    li   t0, 0x1A1040A0
    li   t1, 0x80000000
    sw   t1, 0(t0)
1:  j    1b
"""


def run_bare(body: str, **overrides) -> Machine:
    """Run a program without the runtime (nothing set up before `body`); return the stopped machine."""
    elf = toolchain.build_asm(".section .text.init\n.globl _start\n_start:\n" + body + EXIT, runtime=False,
                              name="reset_state")
    m = Machine(get_platform("single", overrides))
    m.load_elf(elf)
    assert m.run(stdout=False) == 0
    return m


def xreg(m: Machine, n: int) -> int:
    return int(m.xreg[0, n]) & 0xFFFFFFFF


def test_mstatus_resets_with_the_fpu_off():
    m = run_bare("    csrr a0, mstatus\n")
    assert xreg(m, 10) == 3 << 11  # MPP = M, FS = Off, MIE = MPIE = 0


def test_fp_instruction_before_turning_the_fpu_on_is_illegal():
    elf = toolchain.build_asm(".section .text.init\n.globl _start\n_start:\n    fmv.w.x ft0, zero\n" + EXIT,
                              runtime=False, name="fpu_off")
    with pytest.raises(IllegalInstruction) as info:
        pulpsim.run(elf, stdout=None)
    assert info.value.pc == 0x1C00_0000
    assert "mstatus.FS is Off" in str(info.value)


def test_reset_fs_parameter_starts_with_the_fpu_on():
    m = run_bare("    fmv.w.x ft0, zero\n    csrr a0, mstatus\n", **{"core.reset_fs": 1})
    assert xreg(m, 10) == (3 << 11) | (3 << 13) | (1 << 31)  # the fmv made FS Dirty (and SD reads 1)


def test_rtl_mcountinhibit_stops_the_counters_until_cleared():
    # two mcycle reads 4 cycles apart (each read flushes: 4 cycles): 0 and 0 while inhibited, then 4 apart
    m = run_bare("""
    csrr a0, mcountinhibit
    csrr a1, mcycle
    csrr a2, mcycle
    csrr a3, minstret
    csrw mcountinhibit, zero
    csrr a4, mcycle
    csrr a5, mcycle
""", **{"core.reset_mcountinhibit": RTL_RESET_MCOUNTINHIBIT})
    assert xreg(m, 10) == 0xFFFF_FFFD
    assert (xreg(m, 11), xreg(m, 12), xreg(m, 13)) == (0, 0, 0)
    assert xreg(m, 15) - xreg(m, 14) == 4


def test_default_mcountinhibit_counts_from_reset():
    m = run_bare("    csrr a0, mcountinhibit\n    csrr a1, mcycle\n    csrr a2, mcycle\n")
    assert xreg(m, 10) == 0
    # csrr mcountinhibit issues at cycle 0 and flushes (4 cycles): mcycle is read at 4, then at 8
    assert (xreg(m, 11), xreg(m, 12)) == (4, 8)


def test_bad_reset_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="reset_mcountinhibit"):
        get_platform("single", {"core.reset_mcountinhibit": 2})  # there is no counter 1
    with pytest.raises(ConfigError, match="reset_fs"):
        get_platform("single", {"core.reset_fs": 4})


def test_platforms_command_shows_the_reset_state():
    out = subprocess.run([sys.executable, "-m", "pulpsim", "platforms"], capture_output=True, text=True,
                         check=True).stdout
    assert out.count("reset: mstatus.FS=off mcountinhibit=0x00000000") == len(pulpsim.sim.platform.PRESETS)
