"""Typed exceptions raised by pulpsim.

Every error a user can provoke (bad ELF, bad option, illegal instruction,
memory fault, runaway program, toolchain failure) derives from
:class:`PulpsimError`.  The CLI catches this base class, prints the one-line
``str()`` of the exception and exits with :attr:`PulpsimError.exit_status`, so
no traceback is shown for user errors.
"""

from __future__ import annotations


class PulpsimError(Exception):
    """Base class of all user-facing pulpsim errors."""

    #: Process exit status used by the CLI (distinct from program exit codes,
    #: which are 0..255 of the guest; see docs/cli.md).
    exit_status = 250


class ConfigError(PulpsimError):
    """An invalid platform parameter, CLI option or API argument."""

    exit_status = 251


class DataError(ConfigError):
    """A data set that cannot be read: a missing file or folder, a malformed list, an array of the
    wrong shape (the message names the file)."""


class ElfError(PulpsimError):
    """The file is not a loadable RV32IMF (ilp32/ilp32f) executable."""

    exit_status = 252


class ToolchainError(PulpsimError):
    """Compiling or linking a guest program failed."""

    exit_status = 253


class GuestError(PulpsimError):
    """The simulated program did something that stops the simulation.

    Carries the core, pc, the raw instruction word, its disassembly and a
    register dump so that the failure can be located without a trace.
    """

    exit_status = 254

    def __init__(self, message: str, *, core: int = 0, pc: int = 0, insn: int | None = None,
                 disasm: str = "", cycle: int = 0, regs: dict | None = None, addr: int | None = None):
        self.message = message
        self.core = core
        self.pc = pc
        self.insn = insn
        self.disasm = disasm
        self.cycle = cycle
        self.regs = regs or {}
        self.addr = addr
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"core {self.core}, pc 0x{self.pc:08x}"
        if self.disasm:
            where += f": {self.disasm}"
        return f"{self.message} ({where}, cycle {self.cycle})"

    def register_dump(self) -> str:
        """Multi-line dump of the integer (and FP, if present) registers."""
        lines = []
        items = list(self.regs.items())
        for i in range(0, len(items), 4):
            lines.append("  ".join(f"{k:>4}=0x{v & 0xFFFFFFFF:08x}" for k, v in items[i:i + 4]))
        return "\n".join(lines)


class IllegalInstruction(GuestError):
    """An instruction word that does not decode to an implemented instruction."""


class MemoryFault(GuestError):
    """A load, store or instruction fetch outside every mapped region (or a
    misaligned access where the target does not allow it)."""


class FetchFault(MemoryFault):
    """The pc left the program's executable segments (e.g. a jump into data)."""


class UnhandledTrap(GuestError):
    """An exception (ecall, ebreak, ...) was raised while no trap handler is
    installed (mtvec = 0)."""


class Deadlock(GuestError):
    """Every core is asleep (or stopped) and no event can wake any of them."""


class CycleLimitExceeded(GuestError):
    """The program ran past ``max_cycles`` (a runaway program)."""
