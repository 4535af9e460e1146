"""Per-core timelines as Chrome trace-event JSON (opens in Perfetto / chrome://tracing).

Built from the engine's instruction records: for each core, the cycles between
the end of one instruction and the issue of the next are a wait (a stall with
its cause, or sleep when the previous instruction parked the core on the
event unit); an instruction's first cycle is "running" and any further cycles
it takes are attributed to what it does (memory latency, divider, taken
branch...).  Consecutive intervals of the same state are merged.  DMA
transfers appear on their own track.  Time unit: 1 trace microsecond = 1
cycle (the ``displayTimeUnit`` hint keeps numbers readable).
"""

from __future__ import annotations

import json
from typing import IO

from . import state

#: Names of the wait states before an instruction issues.
WAIT_NAMES = dict(state.CYCLE_CAUSES)
WAIT_NAMES[state.S_SLEEP] = "asleep"

_BUSY_BY_PREFIX = (
    (("lw", "lh", "lb", "flw"), "load latency"),
    (("sw", "sh", "sb", "fsw"), "store latency"),
    (("div", "rem"), "div"),
    (("mulh",), "mulh"),
    (("b",), "branch taken"),
    (("jal",), "jump"),
    (("csr",), "csr flush"),
    (("fence",), "fence"),
    (("trap",), "trap"),
)


def busy_name(text: str) -> str:
    """What an instruction does in its cycles after the first, from its mnemonic."""
    mnemonic = text.split(" ", 1)[0]
    for prefixes, name in _BUSY_BY_PREFIX:
        if mnemonic.startswith(prefixes):
            return name
    return "busy"


class Timeline:
    """Collects per-core state intervals and writes Chrome trace-event JSON."""

    def __init__(self, ncores: int):
        self.ncores = ncores
        self._end = [0] * ncores           # completion cycle of each core's last instruction
        self._parked = [False] * ncores    # the last instruction put the core to sleep
        self._open: list[list | None] = [None] * ncores  # [state, start, end] being merged
        self.events: list[dict] = []

    def _emit(self, core: int, name: str, start: int, end: int) -> None:
        if end <= start:
            return
        cur = self._open[core]
        if cur is not None and cur[0] == name and cur[2] == start:
            cur[2] = end
            return
        if cur is not None:
            self._flush(core)
        self._open[core] = [name, start, end]

    def _flush(self, core: int) -> None:
        cur = self._open[core]
        if cur is None:
            return
        name, start, end = cur
        cat = "running" if name == "running" else ("asleep" if name == "asleep" else "stall")
        self.events.append({"name": name, "cat": cat, "ph": "X", "pid": 0, "tid": core,
                            "ts": start, "dur": end - start})
        self._open[core] = None

    def add_instruction(self, core: int, issue: int, cost: int, stall: int, text: str) -> None:
        """One executed instruction; `stall` is the trace's TR_STALL field."""
        if issue > self._end[core]:
            name = "asleep" if self._parked[core] else WAIT_NAMES.get(stall & ~state.TR_PARKED, "stall")
            self._emit(core, name, self._end[core], issue)
        self._parked[core] = bool(stall & state.TR_PARKED)
        self._emit(core, "running", issue, issue + 1)
        if cost > 1:
            self._emit(core, busy_name(text), issue + 1, issue + cost)
        self._end[core] = issue + cost

    def end_run(self, end: int) -> None:
        """The run ended with cycle end - 1: cores still asleep were asleep until then."""
        for core in range(self.ncores):
            if self._parked[core]:
                self._emit(core, "asleep", self._end[core], end)
                self._end[core] = max(self._end[core], end)

    def add_dma(self, rows) -> None:
        for tid, core, first, end, nbytes, to_tcdm in rows:
            self.events.append({"name": f"{'L2->TCDM' if to_tcdm else 'TCDM->L2'} {nbytes} B",
                                "cat": "dma", "ph": "X", "pid": 1, "tid": 0, "ts": int(first),
                                "dur": max(1, int(end) - int(first)),
                                "args": {"tid": int(tid), "core": int(core), "bytes": int(nbytes)}})

    def write(self, stream: IO[str], platform: str = "") -> None:
        for core in range(self.ncores):
            self._flush(core)
        meta = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"name": f"cluster ({platform})"}},
                {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "DMA"}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": 0, "tid": c, "args": {"name": f"core {c}"}}
                 for c in range(self.ncores)]
        json.dump({"traceEvents": meta + self.events, "displayTimeUnit": "ns",
                   "otherData": {"time_unit": "1 us in the trace = 1 cluster cycle"}}, stream)
