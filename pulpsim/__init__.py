"""pulpsim: a cycle-accurate, Numba-accelerated simulator of RV32IMF PULP clusters.

Quick start::

    import pulpsim
    result = pulpsim.run("prog.elf", platform="single")
    print(result.exit_code, result.cycles, result.cpi)

The package has three parts: ``pulpsim.sim`` (the simulator), ``pulpsim.workloads`` (drivers of the training
kernels: golden model, kernel and layer runners, tiled execution) and ``pulpsim.cl`` (continual learning).
The modules of the first two are also reachable as attributes of ``pulpsim`` (``pulpsim.tiled``,
``from pulpsim import golden``), as they were before the split.
"""

import importlib

from .errors import (ConfigError, CycleLimitExceeded, Deadlock, ElfError, FetchFault, GuestError, IllegalInstruction,
                     MemoryFault, PulpsimError, ToolchainError, UnhandledTrap)
from .sim.platform import PRESETS, Platform, get_platform

__version__ = "0.1.0"

__all__ = [
    "run", "Result", "CoreStats", "Platform", "PRESETS", "get_platform",
    "PulpsimError", "ConfigError", "ElfError", "ToolchainError", "GuestError", "IllegalInstruction",
    "MemoryFault", "FetchFault", "UnhandledTrap", "CycleLimitExceeded", "Deadlock",
]


_SIM_MODULES = ("isa", "decode", "disasm", "fpu", "engine", "memory", "cluster", "state", "machine", "platform",
                "elf", "result", "timeline", "jitcache", "plots")
_WORKLOAD_MODULES = ("golden", "kernel_runner", "layers", "kernel_cli", "tileplan", "tiled", "tiling")


#: Names that import Numba (through the simulator's compiled modules), imported on first use so that
#: ``import pulpsim`` and the commands that do not simulate (``pulpsim build``, ``platforms``) start fast.
_LAZY_NAMES = {"run": ".api", "Result": ".sim.result", "CoreStats": ".sim.result"}


def __getattr__(name: str):
    """``pulpsim.run``, ``Result`` and ``CoreStats``, and ``pulpsim.<module>`` for the modules of ``pulpsim.sim``
    and ``pulpsim.workloads``, imported on first use."""
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name)
    if name == "api":
        return importlib.import_module(".api", __name__)
    if name in _SIM_MODULES:
        return importlib.import_module(f".sim.{name}", __name__)
    if name in _WORKLOAD_MODULES:
        return importlib.import_module(f".workloads.{name}", __name__)
    raise AttributeError(f"module 'pulpsim' has no attribute {name!r}")
