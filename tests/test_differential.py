"""Differential tests: pulpsim against unicorn (QEMU's RISC-V model) on random RV32IMF code.

Each test case is a short random instruction sequence (tests/diffgen.py) run from
the same initial state on the simulator and on unicorn; afterwards every x
register, every f register (low 32 bits), fflags, frm, mscratch and the data area
must be identical.  The generator's instruction mix is derived from
``pulpsim.sim.isa.INSTRUCTIONS`` (all entries but the trap/return/wait instructions,
which tests/test_traps_csrs.py covers), and a coverage test checks that every
entry was generated and executed.

Where unicorn deviates from the RISC-V spec, the reference run is corrected to
the spec (``diffgen.UNICORN_DEVIATIONS``); the tests below also pin those
deviations so that the correction is known to be needed.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("unicorn")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import diffgen as dg  # noqa: E402
from pulpsim.sim import isa, state  # noqa: E402

N_CHUNKS = 15
CHUNK = 1000                    #: N_CHUNKS * CHUNK = 15,000 random sequences
SEED = 20240601
MATRIX_REPS = 8                 #: matrix sequences per (instruction, rounding mode)
MIN_GENERATED = 50              #: every instruction at least this often over all random sequences
MIN_PER_RM = 10                 #: every (FP instruction, rounding mode) pair at least this often


_SINGLE = dg.SequenceGenerator(SEED - 1)   # state around single-instruction tests


def _chunk_sequences(chunk: int) -> list[dg.Sequence]:
    gen = dg.SequenceGenerator(SEED + chunk)
    return [gen.sequence() for _ in range(CHUNK)]


@pytest.fixture(scope="module")
def runners():
    return dg.SimRunner(), dg.UnicornRunner()


def _report(failures: list[tuple[dg.Sequence, list[str]]], what: str, total: int) -> str:
    parts = [f"{len(failures)} of {total} {what} disagree with unicorn"]
    for seq, diff in failures[:3]:
        parts.append(seq.describe())
        parts.append("  -> " + "\n  -> ".join(diff))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# The generator itself
# --------------------------------------------------------------------------------------

def test_encoder_matches_the_assembler(tmp_path):
    """diffgen's encoder agrees with LLVM's assembler (zig cc) on every mnemonic it knows."""
    pytest.importorskip("ziglang")
    gen = dg.SequenceGenerator(7, names=sorted(dg.SPEC))
    insns = []
    for _ in range(12):
        for name in sorted(dg.SPEC):
            for ins in gen.block(name):
                if ins.skip >= 0 and ins.name != "jalr":   # branch/jump offsets: any even value
                    ins.imm = 2 * (gen.g.randint(-2048, 2047) if ins.name != "jal" else gen.g.randint(-2**19, 2**19 - 1))
                insns.append(ins)
    src = tmp_path / "enc.S"
    src.write_text(".text\n.option norelax\n" + "\n".join(i.text() for i in insns) + "\n")
    obj = tmp_path / "enc.o"
    r = subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "riscv32-freestanding-none",
                        "-mcpu=generic_rv32+m+f+zicsr+zifencei", "-mno-relax", "-c", str(src), "-o", str(obj)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    from elftools.elf.elffile import ELFFile
    with open(obj, "rb") as fh:
        text = ELFFile(fh).get_section_by_name(".text").data()
    words = np.frombuffer(text, "<u4").tolist()
    assert len(words) == len(insns)
    bad = [f"{i.text()}: diffgen 0x{i.word():08x} assembler 0x{w:08x}" for i, w in zip(insns, words) if i.word() != w]
    assert not bad, "\n".join(bad[:20])
    assert {i.name for i in insns} == set(dg.SPEC)


def test_generator_is_deterministic():
    a = dg.SequenceGenerator(123).sequence()
    b = dg.SequenceGenerator(123).sequence()
    assert a.words == b.words and a.x == b.x and a.f == b.f and a.data == b.data
    assert dg.SequenceGenerator(124).sequence().words != a.words


def test_generator_knows_every_table_entry():
    table = [insn.name for insn in isa.INSTRUCTIONS]
    assert dg.EXCLUDED <= set(table)
    assert set(dg.generated_names()) == set(table) - dg.EXCLUDED
    assert set(table) <= set(dg.SPEC), "diffgen.SPEC must encode every instruction of pulpsim.sim.isa"


def test_generated_coverage():
    """Over all random sequences every generated table entry appears at least
    MIN_GENERATED times, every FP rounding mode (static 0..4 and dynamic) appears for every FP
    instruction with an rm field, and pulpsim's decoder reads every word as the mnemonic
    diffgen meant (the encoder is independent of it)."""
    from pulpsim.sim import decode
    names = Counter()
    rms = Counter()
    words = []
    expected_ops = []
    for chunk in range(N_CHUNKS):
        for seq in _chunk_sequences(chunk):
            names.update(seq.names)
            rms.update((n, rm) for n, rm in zip(seq.names, seq.rms) if rm >= 0)
            words.extend(seq.words)
            expected_ops.extend(isa.OP_BY_NAME[n] for n in seq.names)
    low = {n: names[n] for n in dg.generated_names() if names[n] < MIN_GENERATED}
    assert not low, f"instructions generated fewer than {MIN_GENERATED} times: {low}"
    assert not set(names) & dg.EXCLUDED
    low_rm = {(n, rm): rms[(n, rm)] for n in dg.HAS_RM for rm in dg.ROUNDING_MODES if rms[(n, rm)] < MIN_PER_RM}
    assert not low_rm, f"FP (instruction, rm) pairs generated too rarely: {low_rm}"
    # Half of the loads/stores wider than a byte are misaligned (unicorn, like the simulator
    # and the CV32E40P, performs misaligned accesses without trapping).
    misaligned = Counter()
    for chunk in range(2):
        for seq in _chunk_sequences(chunk):
            misaligned.update(i.name for i in seq.insns[:-1]
                              if i.name in ("lh", "lhu", "lw", "flw", "sh", "sw", "fsw") and i.imm % 2 ** (
                                  1 if i.name in ("lh", "lhu", "sh") else 2))
    few = {n: misaligned[n] for n in ("lh", "lhu", "lw", "flw", "sh", "sw", "fsw") if misaligned[n] < 50}
    assert not few, f"too few misaligned accesses: {few}"
    ops = decode.match_ops(np.array(words, np.uint32))
    wrong = np.nonzero(ops != np.array(expected_ops))[0]
    assert len(wrong) == 0, [f"0x{words[i]:08x}" for i in wrong[:10]]


# --------------------------------------------------------------------------------------
# Random sequences
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", range(N_CHUNKS))
def test_random_sequences(runners, chunk):
    """CHUNK random sequences of 10-40 instructions: zero mismatches."""
    sim, ref = runners
    before = sim.m.opcount[0].copy()
    taken_before = int(sim.m.stat[0, state.S_BTAKEN])
    failures = []
    for seq in _chunk_sequences(chunk):
        diff = dg.compare(sim, ref, seq)
        if diff:
            failures.append((seq, diff))
    assert not failures, _report(failures, "random sequences", CHUNK)
    # Every generated instruction was also executed (not only skipped by branches) here.
    executed = sim.m.opcount[0] - before
    rare = {n: int(executed[isa.OP_BY_NAME[n]]) for n in dg.generated_names()
            if executed[isa.OP_BY_NAME[n]] < 5}
    assert not rare, f"instructions executed fewer than 5 times in chunk {chunk}: {rare}"
    # Branches went both ways.
    branches = sum(int(executed[isa.OP_BY_NAME[n]]) for n in ("beq", "bne", "blt", "bge", "bltu", "bgeu"))
    taken = int(sim.m.stat[0, state.S_BTAKEN] - taken_before)
    assert 0.2 * branches < taken < 0.8 * branches, (taken, branches)


# --------------------------------------------------------------------------------------
# Every computational instruction on special values, with its own fflags
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(dg.MATRIX_NAMES))
def test_special_value_matrix(runners, name):
    """Sequences of one instruction over registers holding special values (NaNs with
    payloads, infinities, subnormals, zeros, max/min normals, values near 2^31 and 2^32,
    INT_MIN, -1, 0 ...) for every rounding mode; each result and each instruction's fflags
    are stored to memory and compared."""
    sim, ref = runners
    gen = dg.SequenceGenerator(SEED + 100 + sorted(dg.MATRIX_NAMES).index(name))
    failures = []
    total = 0
    for rm in (dg.ROUNDING_MODES if name in dg.HAS_RM else (0,)):
        for _ in range(MATRIX_REPS if name in dg.HAS_RM else 2 * MATRIX_REPS):
            seq = gen.matrix_sequence(name, rm)
            total += 1
            diff = dg.compare(sim, ref, seq)
            if diff:
                failures.append((seq, diff))
    assert not failures, _report(failures, f"{name} matrix sequences", total)


# --------------------------------------------------------------------------------------
# Hypothesis: single FP instructions on adversarial operands; short random sequences
# --------------------------------------------------------------------------------------

def _float_bits():
    """Float32 bit patterns concentrated on boundaries: specials, and a sign with an exponent
    at/near 0, 1, 126/127, 150 (2^23), 157/158/159 (2^30..2^32), 254, 255 and a fraction with
    few or all bits set."""
    exps = st.sampled_from([0, 1, 2, 23, 24, 25, 103, 104, 125, 126, 127, 128, 149, 150, 151, 157, 158, 159,
                            160, 253, 254, 255]) | st.integers(0, 255)
    fracs = st.sampled_from([0, 1, 2, 3, 0x400000, 0x400001, 0x7FFFFF, 0x7FFFFE, 0x3FFFFF, 0x200000]) \
        | st.integers(0, 0x7FFFFF)
    built = st.builds(lambda s, e, f: (s << 31) | (e << 23) | f, st.integers(0, 1), exps, fracs)
    return st.sampled_from(dg.F_SPECIALS) | built | st.integers(0, 2**32 - 1)


_FP_NAMES = sorted(n for n in dg.MATRIX_NAMES if n.startswith("f"))
_INT_VALUES = st.sampled_from(dg.X_SPECIALS) | st.integers(-2**31, 2**31 - 1) \
    | st.builds(lambda m, s: dg._s32(m << s), st.integers(1, 2**25), st.integers(0, 8))


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(_FP_NAMES), rm=st.sampled_from(dg.ROUNDING_MODES), frm=st.integers(0, 4),
       a=_float_bits(), b=_float_bits(), c=_float_bits(), xa=_INT_VALUES)
def test_hypothesis_fp_instruction(runners, name, rm, frm, a, b, c, xa):
    sim, ref = runners
    seq = _SINGLE.single_sequence(name, rm=rm, frm=frm, f=(a, b, c), x=(xa, 0))
    diff = dg.compare(sim, ref, seq)
    assert not diff, seq.describe() + "\n" + "\n".join(diff)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=st.lists(st.sampled_from(sorted(dg.generated_names())), min_size=1, max_size=8),
       seed=st.integers(0, 2**32 - 1))
def test_hypothesis_short_sequences(runners, names, seed):
    """Short sequences of hypothesis-chosen instructions (shrinks to a minimal failing list)."""
    sim, ref = runners
    seq = dg.SequenceGenerator(seed).sequence(names)
    diff = dg.compare(sim, ref, seq)
    assert not diff, seq.describe() + "\n" + "\n".join(diff)


# --------------------------------------------------------------------------------------
# Edge cases written out, and the unicorn deviations from the spec
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, x", [
    ("div", (dg.INT_MIN, -1)), ("rem", (dg.INT_MIN, -1)), ("div", (5, 0)), ("divu", (5, 0)),
    ("rem", (-5, 0)), ("remu", (-5, 0)), ("div", (-7, 2)), ("rem", (-7, 2)), ("mulh", (dg.INT_MIN, dg.INT_MIN)),
    ("mulhsu", (-1, -1)), ("mulhu", (-1, -1)), ("sra", (dg.INT_MIN, 63)), ("sll", (1, 33)),
])
def test_integer_edge_cases(runners, name, x):
    sim, ref = runners
    seq = _SINGLE.single_sequence(name, x=x)
    assert not dg.compare(sim, ref, seq), seq.describe()


@pytest.mark.parametrize("name, f, rm", [
    ("fcvt.w.s", (0x7FC00000,), 0), ("fcvt.w.s", (0xFFC00000,), 0), ("fcvt.wu.s", (0x7F800001,), 1),
    ("fcvt.w.s", (0x4F000000,), 0), ("fcvt.w.s", (0xCF000000,), 0), ("fcvt.w.s", (0xCF000001,), 1),
    ("fcvt.wu.s", (0x4F800000,), 0), ("fcvt.wu.s", (0x4F7FFFFF,), 3), ("fcvt.wu.s", (0xBF000000,), 0),
    ("fcvt.wu.s", (0xBF000000,), 2), ("fcvt.wu.s", (0xBE800000,), 3), ("fcvt.w.s", (0x3F000000,), 4),
    ("fmul.s", (0x3F7FFFFF, 0x00800000), 0), ("fmul.s", (0x3F7FFFFF, 0x00800000), 1),
    # exact products in (2^-126 - 2^-151, 2^-126): tiny before rounding, not after (UF must stay clear)
    ("fmul.s", (0x00800001, 0x3F7FFFFE), 0), ("fmul.s", (0x00800001, 0x3F7FFFFE), 3),
    ("fmul.s", (0x807FFFFF, 0x3F800001), 0), ("fmul.s", (0x807FFFFF, 0x3F800001), 2),
    ("fmul.s", (0x807FFFFF, 0x3F800001), 1), ("fmadd.s", (0x00800001, 0x3F7FFFFE, 0x80000000), 4),
    ("fdiv.s", (0x00FFFFFF, 0x40000000), 0), ("fdiv.s", (0x00FFFFFF, 0x40000000), 3),
    ("fadd.s", (0x7F7FFFFF, 0x73800000), 0), ("fadd.s", (0x7F7FFFFF, 0x73800000), 1),
    ("fsub.s", (0x3F800000, 0x3F800000), 2), ("fsqrt.s", (0x80000000,), 0), ("fsqrt.s", (0xBF800000,), 0),
    ("fdiv.s", (0x00000000, 0x00000000), 0), ("fdiv.s", (0x3F800000, 0x80000000), 0),
    ("fclass.s", (0x7FA00000,), 0), ("fclass.s", (0x807FFFFF,), 0),
])
def test_fp_edge_cases(runners, name, f, rm):
    sim, ref = runners
    seq = _SINGLE.single_sequence(name, f=f, rm=rm)
    assert not dg.compare(sim, ref, seq), seq.describe()


def _raw_unicorn(runner: dg.UnicornRunner, seq: dg.Sequence) -> dg.Result:
    """Run without the spec corrections (to check that a deviation is real)."""
    runner.spec_fixes = False
    try:
        return runner.run(seq)
    finally:
        runner.spec_fixes = True


@pytest.mark.parametrize("name, f, deviation", [
    ("fmin.s", (0x3F800000, 0x7F800001), "fminmax-snan"),
    ("fmax.s", (0xFFA00000, 0xBF800000), "fminmax-snan"),
    ("fmadd.s", (0x7F800000, 0x00000000, 0x7FC00000), "fma-inf-zero-qnan"),
    ("fnmsub.s", (0x00000000, 0xFF800000, 0xFFC00001), "fma-inf-zero-qnan"),
])
def test_unicorn_spec_deviations(runners, name, f, deviation):
    """The cases that diffgen corrects in unicorn's results: the simulator follows the spec
    (checked against hand-computed values), and raw unicorn differs (if a future unicorn
    follows the spec, the correction becomes a no-op and this test tells so)."""
    sim, ref = runners
    seq = _SINGLE.single_sequence(name, f=f)
    got = sim.run(seq)
    if deviation == "fminmax-snan":
        assert got.f[4] == (f[0] if f[1] & 0x7FFFFFFF > 0x7F800000 else f[1])
        assert got.x[5] == 0x10
    else:
        assert got.f[4] == 0x7FC00000 and got.x[5] == 0x10
    before = ref.fixups.get(deviation, 0)
    assert not ref.run(seq).diff(got)
    assert ref.fixups.get(deviation, 0) == before + 1
    raw = _raw_unicorn(ref, seq)
    if not raw.diff(got):
        pytest.skip(f"this unicorn follows the spec on {deviation}: the correction is no longer needed")
