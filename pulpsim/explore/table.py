"""The results of a sweep as one tidy table: a row per point, a column per parameter and statistic.

Rows are plain dicts (no pandas); :class:`Table` orders the columns, writes CSV (always) and Parquet
(when pyarrow imports), and reads a written table back.  Rows are in the order of the spec's points,
whichever way and in whatever order the points ran; ``wall_s`` is the only column that may differ
between two runs of the same spec (:meth:`Table.comparable` leaves it out).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .workloads import STALL_CAUSES

__all__ = ["Table", "read_table", "read_journal", "STAT_COLUMNS"]

#: Columns that identify a point (then come the swept parameters).
ID_COLUMNS = ("id", "workload", "kind", "platform")
#: Statistics in table order (per-bank columns go after ``bank_conflicts``; unknown columns after these).
STAT_COLUMNS = ("cycles", "run_cycles", "instructions", "ipc", "cpi", "macs", "mac_per_cycle", "time_us", "team",
                "exit_code", "stall_cycles", *(f"stall_{c}" for c in STALL_CAUSES), "asleep_cycles",
                "tcdm_accesses", "bank_conflicts", "fpu_ops", "fpu_conflicts", "dma_bytes", "dma_busy",
                "dma_transfers", "dma_delayed_beats", "dma_wait", "compute_cycles", "energy_uj", "energy_vega_uj",
                "tiles", "tile_steps", "tile_l1_bytes", "programs", "l2_size_used")
#: Columns that close every row.
TAIL_COLUMNS = ("error", "command", "wall_s")
#: Columns that may differ between two runs of the same point.
VOLATILE = ("wall_s",)
#: Columns read back as text whatever they look like (a point id is hex: "1234e5678901" would parse as a number).
TEXT_COLUMNS = ("id", "workload", "kind", "platform", "status", "error", "command")

_BANK = re.compile(r"bank(\d+)_conflicts")


@dataclass
class Table:
    """Rows of a sweep, in spec order. ``ran`` and ``skipped`` count the points this sweep simulated and
    the ones it found already in the results."""

    rows: list[dict]
    param_keys: list[str] = field(default_factory=list)
    ran: int = 0
    skipped: int = 0

    @property
    def columns(self) -> list[str]:
        present = {k for r in self.rows for k in r}
        head = [c for c in ID_COLUMNS if c in present]
        head += [k for k in self.param_keys if k in present and k not in head]
        head.append("status")
        stats = []
        for c in STAT_COLUMNS:
            if c in present:
                stats.append(c)
            if c == "bank_conflicts":
                stats += sorted((k for k in present if _BANK.fullmatch(k)), key=lambda k: int(_BANK.fullmatch(k)[1]))
        known = set(head) | set(stats) | set(TAIL_COLUMNS)
        rest = sorted(k for k in present if k not in known)
        return head + stats + rest + [c for c in TAIL_COLUMNS if c in present]

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, key: str) -> list:
        return [r.get(key) for r in self.rows]

    def ok(self) -> list[dict]:
        return [r for r in self.rows if r.get("status") == "ok"]

    def failed(self) -> list[dict]:
        return [r for r in self.rows if r.get("status") != "ok"]

    def comparable(self) -> list[dict]:
        """The rows without the columns that may differ between runs (wall time)."""
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in self.rows]

    def write_csv(self, path: "str | Path") -> Path:
        path = Path(path)
        cols = self.columns
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in self.rows:
                w.writerow([_cell(r.get(c)) for c in cols])
        return path

    def write_parquet(self, path: "str | Path") -> Path | None:
        """Parquet, when pyarrow is installed (None otherwise)."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return None
        cols = self.columns
        data = {}
        for c in cols:
            vals = [r.get(c) for r in self.rows]
            kinds = {type(v) for v in vals if v is not None}
            if kinds == {int, float}:
                vals = [None if v is None else float(v) for v in vals]
            elif len(kinds) > 1:
                vals = [None if v is None else _cell(v) for v in vals]
            data[c] = vals
        pq.write_table(pa.table(data), path)
        return Path(path)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _value(text: str):
    """A CSV cell back to a number, a boolean, None (empty) or the string."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def read_table(path: "str | Path") -> Table:
    """A table written by a sweep: ``results.csv``, ``results.jsonl``, or the folder holding them."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.is_file():
        raise ConfigError(f"sweep results {path} not found")
    if path.suffix == ".jsonl":
        return Table(list(read_journal(path).values()))
    try:
        with open(path, newline="") as f:
            rows = [{k: v if k in TEXT_COLUMNS else _value(v) for k, v in r.items() if v != ""}
                    for r in csv.DictReader(f)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"sweep results {path}: not a CSV table ({e})") from None
    if rows and "id" not in rows[0]:
        raise ConfigError(f"sweep results {path}: no id column (not a sweep's table)")
    return Table(rows)


def read_journal(path: "str | Path") -> dict[str, dict]:
    """The rows of a sweep's journal (one JSON object a line; a later row of an id replaces an earlier one;
    a truncated last line, from an interrupted sweep, is ignored)."""
    rows: dict[str, dict] = {}
    path = Path(path)
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and "id" in r:
            rows[r["id"]] = r
    return rows
