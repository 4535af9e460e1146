"""Instruction fetch from any mapped memory, as on CV32E40P (no PMP): code that a program writes into
TCDM or L2 data, or that the DMA or the host puts there, runs; a fetch from unmapped memory is an
instruction access fault.

The expected values are derived by hand from the instruction encodings (RISC-V unprivileged spec:
``addi a0, a0, imm`` = 0x00050513 | imm << 20, ``ret`` = ``jalr x0, 0(ra)`` = 0x00008067).
"""

from __future__ import annotations

import numpy as np
import pytest

import pulpsim
from pulpsim import toolchain
from pulpsim.errors import FetchFault, IllegalInstruction
from pulpsim.sim.machine import Machine
from pulpsim.sim.platform import get_platform

# Every core writes `addi a0, a0, 100 + id; ret` into its own slot of TCDM and of L2 data, runs it
# after fence.i, changes the immediate to 200 + id and runs it again without fence.i.
WRITE_AND_RUN = r"""
#include "pmsis.h"
#define ADDI_A0(imm) (0x00050513u | ((unsigned)(imm) << 20))
#define RET 0x00008067u
PI_L1 unsigned l1_code[16][2];
PI_L2 unsigned l2_code[16][2];
static int results[16][4];
typedef int (*fn_t)(int);

static void body(void *arg) {
    int id = pi_core_id();
    unsigned *slots[2] = { l1_code[id], l2_code[id] };
    for (int m = 0; m < 2; m++) {
        volatile unsigned *code = slots[m];
        code[0] = ADDI_A0(100 + id);
        code[1] = RET;
        asm volatile("fence.i" ::: "memory");
        results[id][2 * m] = ((fn_t)code)(1000);
        code[0] = ADDI_A0(200 + id);
        results[id][2 * m + 1] = ((fn_t)code)(1000);
    }
}

int main(void) {
    pi_cl_team_fork(0, body, 0);
    for (int id = 0; id < pi_cl_cluster_nb_cores(); id++)
        printf("%d %p %p %d %d %d %d\n", id, l1_code[id], l2_code[id],
               results[id][0], results[id][1], results[id][2], results[id][3]);
    return 0;
}
"""


@pytest.mark.parametrize("platform", ["single", "vega"])
def test_code_written_into_tcdm_and_l2_runs(platform):
    plat = get_platform(platform)
    res = pulpsim.run(toolchain.build_c(WRITE_AND_RUN, name="write_and_run"), platform=platform)
    assert res.exit_code == 0, res.stdout
    lines = res.stdout.splitlines()
    assert len(lines) == plat.cores
    for line in lines:
        id_, l1, l2, *got = line.split()
        id_ = int(id_)
        assert plat.tcdm.base <= int(l1, 16) < plat.tcdm.base + plat.tcdm.size
        assert plat.l2.base <= int(l2, 16) < plat.l2.base + plat.l2.size
        assert [int(v) for v in got] == [1100 + id_, 1200 + id_] * 2


# Core 0 DMAs `addi a0, a0, 1; ret` from L2 into a TCDM buffer and runs it, then DMAs
# `addi a0, a0, 2; ret` over it and runs it again: the DMA's write must replace the decoded code.
DMA_CODE = r"""
#include "pmsis.h"
PI_L2 unsigned version[2][2] = { { 0x00150513u, 0x00008067u }, { 0x00250513u, 0x00008067u } };
PI_L1 unsigned buf[2];
typedef int (*fn_t)(int);

int main(void) {
    pi_cl_dma_cmd_t cmd;
    int r[2];
    for (int v = 0; v < 2; v++) {
        pi_cl_dma_cmd((uint32_t)version[v], (uint32_t)buf, sizeof version[v], PI_CL_DMA_DIR_EXT2LOC, &cmd);
        pi_cl_dma_cmd_wait(&cmd);
        asm volatile("fence.i" ::: "memory");
        r[v] = ((fn_t)buf)(1000);
    }
    printf("%d %d\n", r[0], r[1]);
    return 0;
}
"""


def test_code_copied_by_dma_runs_and_a_second_copy_replaces_it():
    res = pulpsim.run(toolchain.build_c(DMA_CODE, name="dma_code"), platform="vega", cores=1)
    assert res.exit_code == 0, res.stdout
    assert res.stdout.split() == ["1001", "1002"]


# A misaligned store across two decoded words: `addi a0, a0, 1; ret` becomes `addi a0, a0, 5; ret`
# (the store writes the upper half of the addi, 0x0055, and the lower half of the ret, 0x8067 again).
MISALIGNED_STORE_INTO_CODE = r"""
#include "pulpsim.h"
static unsigned code[3] = { 0x00150513u, 0x00008067u, 0x00008067u };
typedef int (*fn_t)(int);
int main(void) {
    int r1 = ((fn_t)code)(1000);
    unsigned char *p = (unsigned char *)code + 2;
    asm volatile("sw %0, 0(%1)" :: "r"(0x80670055u), "r"(p) : "memory");
    int r2 = ((fn_t)code)(1000);
    printf("%d %d %08x %08x\n", r1, r2, code[0], code[1]);
    return 0;
}
"""


def test_misaligned_store_across_two_code_words():
    res = pulpsim.run(toolchain.build_c(MISALIGNED_STORE_INTO_CODE, name="misaligned_code_store"), stdout=None)
    assert res.stdout.split() == ["1001", "1005", "00550513", "00008067"]


CORESTATUS = 0x1A10_40A0


def exit_with_a0_words(imm: int) -> list[int]:
    """`addi a0, zero, imm; lui t0, 0x1a104; sw a0 ... CORESTATUS` exits with code `imm`."""
    return [0x00000513 | (imm << 20),            # addi a0, zero, imm
            0x800002B7,                           # lui  t0, 0x80000
            0x00556533,                           # or   a0, a0, t0   (exit flag, bit 31)
            0x1A1042B7,                           # lui  t0, 0x1a104
            0x0AA2A023,                           # sw   a0, 0xa0(t0)
            0x0000006F]                           # j    .


def test_host_write_into_decoded_code_is_decoded_again():
    m = Machine(get_platform("single"))
    base = 0x1C00_0000
    m.load_words(base, exit_with_a0_words(5))
    m.set_pc(0, base)
    assert m.run(stdout=False) == 5
    m.write_bytes(base, np.asarray([0x00000513 | (7 << 20)], "<u4").tobytes())
    m.set_pc(0, base)
    assert m.run(stdout=False) == 7


def test_jump_into_zeroed_data_is_an_illegal_instruction_there():
    """Memory is executable: the all-zero word is the defined illegal instruction (RISC-V spec 1.5)."""
    elf = toolchain.build_asm("""
    .section .text.init
    .globl _start
_start:
    la t0, zeros
    jr t0
    .data
    .align 2
zeros: .word 0, 0
""", runtime=False)
    with pytest.raises(IllegalInstruction) as info:
        pulpsim.run(elf, stdout=None)
    err = info.value
    assert err.insn == 0
    assert get_platform("single").l2.base <= err.pc < get_platform("single").l2.base + get_platform("single").l2.size
    assert "illegal instruction 0x00000000" in str(err)


@pytest.mark.parametrize("target", [0x2000_0000, 0x1A10_0000])
def test_fetch_from_unmapped_memory_or_a_device_is_a_fetch_fault(target):
    m = Machine(get_platform("single"))
    m.load_words(0x1C00_0000, [0x000002B7 | (target & 0xFFFFF000),   # lui  t0, target
                               0x00028067])                            # jalr x0, 0(t0)
    m.set_pc(0, 0x1C00_0000)
    with pytest.raises(FetchFault) as info:
        m.run(stdout=False)
    assert info.value.pc == target
    assert f"instruction fetch from unmapped address 0x{target:08x}" in str(info.value)


@pytest.mark.parametrize("run_at", [0x1000_0000, 0x0000_0000])  # the TCDM and its cluster alias
def test_code_in_tcdm_runs_through_either_address(run_at):
    m = Machine(get_platform("single"))
    m.load_words(0x1000_0000, exit_with_a0_words(9))
    m.set_pc(0, run_at)
    assert m.run(stdout=False) == 9
