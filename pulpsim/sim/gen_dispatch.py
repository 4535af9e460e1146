"""Generate pulpsim/sim/dispatch.py from the ISA table: ``python -m pulpsim.sim.gen_dispatch``.

For every unit with semantic functions, the dispatch module gets one function that takes the operation id and
the unit's operands and calls the operation's function in :mod:`pulpsim.sim.semantics`. The generated file is
committed, so that it can be read like any other source; a test checks that it matches the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import isa

#: unit -> (dispatch function name, parameters after `op`, what it returns, the value for no match)
SIGNATURES = {
    "alu": ("alu", "a, b, imm, pc", "the value written to rd", "0"),
    "mulh": ("mulh", "a, b", "the value written to rd", "0"),
    "div": ("div", "a, b", "the value written to rd", "0"),
    "branch": ("branch", "a, b", "whether the branch is taken", "False"),
    "jump": ("jump", "a, imm, pc", "the target address", "0"),
    "load": ("load", "raw", "the value written to rd", "0"),
    "csr": ("csr", "old, src", "the value written to the CSR", "0"),
    "fp": ("fp", "fa, fb, fc, xa, rm", "(result, fflags)", "(0, 0)"),
    "fdiv": ("fdiv", "fa, fb, fc, xa, rm", "(result, fflags)", "(0, 0)"),
}

#: The units whose dispatch LLVM must inline into the core loop (``jit_forceinline``): the two that execute most
#: instructions. Left to LLVM's heuristics, both stayed calls in the core loop's large function; forced inline,
#: one core ran 12-19 % faster and the cluster 1-16 % (docs/architecture.md, "Where the host time goes"). The
#: other units' dispatch is small, or rare, and stays with LLVM's choice (forcing all of them in was slower).
FORCE_INLINE = ("alu", "fp")

TARGET = Path(__file__).with_name("dispatch.py")


def generate() -> str:
    """The source of pulpsim/sim/dispatch.py."""
    out = ['"""Dispatch from an operation id to its semantic function, one function per unit.',
           "",
           "GENERATED from the ISA table (pulpsim.sim.isa) by ``python -m pulpsim.sim.gen_dispatch``: do not edit.",
           '"""',
           "",
           "from __future__ import annotations",
           "",
           "from . import semantics as sem",
           "from .isa import (  # noqa: F401"]
    names = [insn.const for insn in isa.INSTRUCTIONS if insn.unit in SIGNATURES]
    line = "   "
    for name in names:
        if len(line) + len(name) + 2 > 116:
            out.append(line)
            line = "   "
        line += f" {name},"
    out += [line, ")", "from .jit import jit, jit_forceinline"]
    for unit, (fname, params, returns, default) in SIGNATURES.items():
        insns = [insn for insn in isa.INSTRUCTIONS if insn.unit == unit]
        decorator = "@jit_forceinline" if unit in FORCE_INLINE else "@jit"
        out += ["", "", decorator, f"def {fname}(op, {params}):",
                f'    """Unit "{unit}": {returns}."""']
        for insn in insns:
            out += [f"    if op == {insn.const}:", f"        return sem.{insn.sem}({params})"]
        out.append(f"    return {default}")
    return "\n".join(out) + "\n"


def main() -> int:
    TARGET.write_text(generate())
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
