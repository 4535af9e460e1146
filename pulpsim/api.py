"""The Python API: run an ELF on a platform and get a Result."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Mapping, Sequence

from .errors import ConfigError
from .sim.platform import Platform, get_platform

if TYPE_CHECKING:
    from .sim.result import Result


def run(elf: "str | Path | Sequence[str | Path]", platform: "str | Path | Platform" = "single", *,
        max_cycles: int | None = None, trace: "str | Path | IO[str] | None" = None,
        stdout: "IO[str] | bool | None" = False, overrides: Mapping[str, Any] | None = None,
        timeline: "str | Path | None" = None, **kw: Any) -> Result:
    """Simulate a program and return its :class:`Result`.

    ``elf`` is one ELF file (every core starts at its entry, as on PULP) or a
    list of ELF files, one per core (core i runs ``elf[i]``; each must be
    linked to its own memory range).  ``platform`` is a preset name, a TOML
    file or a :class:`Platform`; further keyword arguments override platform
    parameters (``cores=4``, ``l2__latency=15`` or ``overrides={"l2.latency":
    15}``).  ``stdout=True`` echoes the program's output to sys.stdout (it is
    always in ``Result.stdout``; on a multi-core platform that arbitrates nothing, such as ``ideal``, it is
    echoed when the run ends, since such a run may go back to a checkpoint); ``trace`` is a file path or stream for the
    instruction trace.  Raises a :class:`pulpsim.errors.PulpsimError` subclass
    on bad input or a guest fault.
    """
    # The simulator's modules import Numba: imported here, so that importing pulpsim stays light.
    from .sim.machine import Machine
    from .sim.numba_setup import load_registries
    from .sim.result import collect
    from .sim.timeline import Timeline
    plat = get_platform(platform, overrides, **kw)
    load_registries()
    machine = Machine(plat, max_cycles=max_cycles)
    elves = [elf] if isinstance(elf, (str, Path)) else list(elf)
    if not elves:
        raise ConfigError("no ELF file given")
    if len(elves) == 1:
        machine.load_elf(elves[0])
    else:
        if len(elves) > plat.cores:
            raise ConfigError(f"{len(elves)} programs for {plat.cores} cores on platform {plat.name!r}")
        for core, path in enumerate(elves):
            machine.load_elf(path, cores=[core])
        for core in range(len(elves), plat.cores):
            machine.halt_core(core)  # no program for this core
    close = None
    if isinstance(trace, (str, Path)):
        close = trace = open(trace, "w")
    tl = Timeline(plat.cores) if timeline is not None else None
    try:
        code = machine.run(trace=trace, stdout=stdout, timeline=tl)
    finally:
        if close is not None:
            close.close()
        if tl is not None:
            with open(timeline, "w") as f:
                tl.write(f, plat.name)
    return collect(machine, code)
