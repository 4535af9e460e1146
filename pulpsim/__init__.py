"""pulpsim: a cycle-accurate, Numba-accelerated simulator of RV32IMF PULP clusters.

Quick start::

    import pulpsim
    result = pulpsim.run("prog.elf", platform="single")
    print(result.exit_code, result.cycles, result.cpi)
"""

from .api import run
from .errors import (ConfigError, CycleLimitExceeded, Deadlock, ElfError, FetchFault, GuestError, IllegalInstruction,
                     MemoryFault, PulpsimError, ToolchainError, UnhandledTrap)
from .platform import PRESETS, Platform, get_platform
from .result import CoreStats, Result

__version__ = "0.1.0"

__all__ = [
    "run", "Result", "CoreStats", "Platform", "PRESETS", "get_platform",
    "PulpsimError", "ConfigError", "ElfError", "ToolchainError", "GuestError", "IllegalInstruction",
    "MemoryFault", "FetchFault", "UnhandledTrap", "CycleLimitExceeded", "Deadlock",
]
