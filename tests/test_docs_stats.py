"""docs/cli.md documents every line of the stats table that `pulpsim run` prints."""

import re
from pathlib import Path

from pulpsim.sim import state
from pulpsim.sim.result import CoreStats, RegionStats, Result

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()


def full_result() -> Result:
    """A result in which every optional part of the table is present (banks in conflict, DMA, regions)."""
    stalls = {name: 1 for name in state.CYCLE_CAUSES.values()}
    core = CoreStats(core=0, cycles=100, instructions=50, stalls=stalls, asleep=10)
    region = RegionStats(core=0, index=0, start=5, end=50, instructions=20, stalls=stalls, asleep=3)
    return Result(exit_code=0, cycles=100, instructions=50, cores=[core], stdout="", platform="vega",
                  clock_mhz=100.0, wall_seconds=0.1,
                  banks=[{"bank": 0, "accesses": 4, "conflicts": 1}],
                  dma={"transfers": 1, "bytes": 64, "busy_cycles": 16, "delayed_beats": 0},
                  regions=[region],
                  energy_uj={"instructions": 1.0, "tcdm": 0.5})


def line_labels(table: str) -> list[str]:
    """The label of each line of the table: the words before the value (or before the first colon)."""
    labels = []
    for line in table.splitlines():
        if not line.strip() or line.startswith(("   ", "  core")) or re.match(r"\s*\d", line):
            continue  # blank lines, the per-core rows and the region rows (documented by their headings)
        if line.lstrip().startswith("core") and "cycles" in line:
            labels += line.split()  # the per-core header: every column
            continue
        # "label  value" or "label: values" (the label itself may hold single spaces and parentheses)
        labels.append(re.split(r":|\s{2,}", line, maxsplit=1)[0].strip())
    return labels


def test_every_stats_line_is_documented():
    labels = line_labels(full_result().table())
    assert {"exit code", "cycles", "instructions", "CPI", "energy", "asleep"} <= set(labels)
    missing = [lab for lab in labels if f"`{lab}" not in DOC]
    assert not missing, f"stats-table lines not documented in docs/cli.md: {missing}"


def test_every_energy_part_is_documented():
    from pulpsim import get_platform
    from pulpsim.sim.result import estimate_energy
    parts = estimate_energy(get_platform("vega"), [], 1, 0, 0)
    missing = [p for p in parts if f"`{p}`" not in DOC]
    assert not missing, f"energy parts not documented in docs/cli.md: {missing}"
