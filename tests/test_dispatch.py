"""The engine's dispatch is generated from the ISA table, and every instruction has its semantic function."""

import inspect

from pulpsim.sim import gen_dispatch, isa, semantics

# The operands each unit's semantic functions take (pulpsim.sim.semantics).
UNIT_PARAMS = {
    "alu": ["a", "b", "imm", "pc"],
    "mulh": ["a", "b"],
    "div": ["a", "b"],
    "branch": ["a", "b"],
    "jump": ["a", "imm", "pc"],
    "load": ["raw"],
    "csr": ["old", "src"],
    "fp": ["fa", "fb", "fc", "xa", "rm"],
    "fdiv": ["fa", "fb", "fc", "xa", "rm"],
}


def test_committed_dispatch_matches_the_table():
    # regenerate with: python -m pulpsim.sim.gen_dispatch
    assert gen_dispatch.TARGET.read_text() == gen_dispatch.generate()


def test_every_instruction_has_a_unit_and_a_semantic_function_of_its_units_signature():
    assert set(gen_dispatch.SIGNATURES) == set(UNIT_PARAMS)
    for insn in isa.INSTRUCTIONS:
        if insn.unit in ("system", "store"):
            assert not hasattr(semantics, insn.sem), insn.name  # executed by the engine itself
            continue
        fn = getattr(semantics, insn.sem)
        params = list(inspect.signature(fn.py_func).parameters)
        assert params == UNIT_PARAMS[insn.unit], insn.name


def test_semantic_functions_compute_the_isa_results():
    # a few values from the RISC-V unprivileged ISA (independent of the engine's tests against unicorn)
    assert semantics.sra(-16, 2, 0, 0) == -4
    assert semantics.srl(-16, 2, 0, 0) == 0x3FFFFFFC
    assert semantics.sltu(-1, 1, 0, 0) == 0                      # 0xFFFFFFFF < 1 is false
    assert semantics.mulhu(-1, -1) == -2                         # 0xFFFFFFFE, sign-extended
    assert semantics.mulh(-1, -1) == 0
    assert semantics.div(-0x80000000, -1) == -0x80000000         # overflow: the dividend
    assert semantics.rem(7, 0) == 7 and semantics.divu(7, 0) == -1  # division by zero
    assert semantics.lb(0x80) == -128 and semantics.lhu(0xFFFF) == 0xFFFF
    assert semantics.jalr(0x1001, 2, 0) == 0x1002                # the lowest bit cleared
    assert semantics.csrrc(0b1111, 0b0101) == 0b1010
    assert semantics.fsgnjn_s(0x3F800000, 0x3F800000, 0, 0, 0) == (0xBF800000, 0)
