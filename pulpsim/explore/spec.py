"""Sweep specifications: a TOML file (or a dict) -> a validated, ordered list of points.

A spec names a base platform, one or more workloads, and the platform overrides to sweep: a
``[grid]`` (the cartesian product of its lists, the first key varying slowest) and/or explicit
``[[points]]``.  Every workload runs at every override set; each (workload, overrides) pair is one
:class:`Point`, one simulation.  Override keys are the dotted keys of ``pulpsim run --set``
(``cores``, ``tcdm.banks``, ``l2.latency``, ...) plus ``platform`` (the preset or TOML file the
overrides apply to).  Whether an override is valid is decided by :mod:`pulpsim.sim.platform` when the
point runs: an invalid one makes that point fail, not the sweep.

A point's id is a stable hash of what it runs (workload and overrides as written, the base platform
and the cycle limit): the same spec gives the same ids on every machine, and a results table can be
resumed by id.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError

__all__ = ["Point", "Spec", "WORKLOAD_KINDS", "load_spec", "parse_spec"]

#: Workload kinds and, for each, its required and optional fields (beyond ``kind`` and ``name``).
WORKLOAD_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "kernel": (("kernel", "shape"), ("step", "stride", "window", "variant", "seed", "cores")),
    "tiled": (("layer", "shape"), ("step", "stride", "window", "seed", "cores", "l1", "double_buffer", "tiles")),
    "sequence": (("tensors", "steps"), ("seed", "cores", "l1", "double_buffer")),
    "elf": (("elf",), ()),
    "c": (("sources",), ("opt", "cflags", "defines")),
    "cl": ((), ("width", "resolution", "lr_layer", "batch", "classes", "seed", "cores", "check")),
}
#: Top-level keys of a spec.
_TOP_KEYS = {"name", "description", "platform", "max_cycles", "workload", "grid", "points", "plots"}
#: Length of a point id (hex digits of a sha256).
ID_LENGTH = 12


@dataclass(frozen=True)
class Point:
    """One simulation of a sweep: a workload on the base platform with overrides."""

    id: str
    workload: dict                #: the workload table as written (with ``kind`` and ``name``)
    platform: str                 #: preset name or platform TOML file (absolute when a file)
    overrides: dict               #: dotted key -> value, in spec order (``platform`` removed)
    params: dict                  #: the swept values as they appear in the table: ``platform`` and overrides
    max_cycles: int | None = None
    base_dir: str = "."           #: directory that relative paths of the workload are taken from

    @property
    def name(self) -> str:
        return self.workload["name"]


@dataclass
class Spec:
    """A parsed sweep specification."""

    name: str
    points: list[Point]
    param_keys: list[str]         #: the swept keys, in the order of the spec (table columns)
    path: Path | None = None      #: the TOML file, if the spec came from one
    plots: list[dict] = field(default_factory=list)

    def point(self, point_id: str) -> Point:
        """The point with this id (a unique prefix is enough)."""
        found = [p for p in self.points if p.id.startswith(point_id)]
        if len(found) != 1:
            what = "no point" if not found else f"{len(found)} points"
            raise ConfigError(f"sweep {self.name}: {what} with id {point_id!r}")
        return found[0]


def load_spec(path: "str | Path") -> Spec:
    """Read and validate a spec file (errors are one-line :class:`ConfigError` naming the file)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"sweep spec {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"sweep spec {path}: {e}") from None
    except IsADirectoryError:
        raise ConfigError(f"sweep spec {path} is a directory") from None
    spec = parse_spec(data, base_dir=path.resolve().parent, default_name=path.stem, what=f"sweep spec {path}")
    spec.path = path
    return spec


def parse_spec(data: Mapping[str, Any], *, base_dir: "str | Path" = ".", default_name: str = "sweep",
               what: str = "sweep spec") -> Spec:
    """Validate a spec given as a dict (the parsed TOML) and expand it into points."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: expected a table of keys, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{what}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    name = _string(data.get("name", default_name), "name", what)
    base_dir = Path(base_dir)
    platform = _string(data.get("platform", "vega"), "platform", what)
    max_cycles = data.get("max_cycles")
    if max_cycles is not None and (isinstance(max_cycles, bool) or not isinstance(max_cycles, int) or max_cycles < 1):
        raise ConfigError(f"{what}: max_cycles must be a positive integer, got {max_cycles!r}")
    workloads = _workloads(data.get("workload"), what)
    override_sets = _override_sets(data.get("grid"), data.get("points"), what)
    plots = _plots(data.get("plots", []), what)
    keys: list[str] = []
    for ov in override_sets:
        keys += [k for k in ov if k not in keys]
    points, seen = [], {}
    for wl in workloads:
        for ov in override_sets:
            p = _point(wl, platform, ov, max_cycles, base_dir)
            if p.id in seen:
                raise ConfigError(f"{what}: workload {wl['name']!r} appears twice with the same overrides "
                                  f"({_describe(ov)})")
            seen[p.id] = p
            points.append(p)
    return Spec(name=name, points=points, param_keys=keys, plots=plots)


def _string(v, key: str, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{what}: {key} must be a non-empty string, got {v!r}")
    return v


def _workloads(tables, what: str) -> list[dict]:
    """The ``[[workload]]`` tables, each checked for its kind's fields and given a unique name."""
    if tables is None:
        raise ConfigError(f"{what}: no [[workload]] table (a workload: kind = "
                          + " | ".join(WORKLOAD_KINDS) + ")")
    if isinstance(tables, Mapping):
        tables = [tables]
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{what}: workload must be a list of tables ([[workload]])")
    out, names = [], set()
    for i, wl in enumerate(tables):
        if not isinstance(wl, Mapping):
            raise ConfigError(f"{what}: workload {i} is not a table")
        kind = wl.get("kind")
        if kind not in WORKLOAD_KINDS:
            raise ConfigError(f"{what}: workload {i}: kind must be one of {', '.join(WORKLOAD_KINDS)}, got {kind!r}")
        required, optional = WORKLOAD_KINDS[kind]
        missing = [k for k in required if k not in wl]
        if missing:
            raise ConfigError(f"{what}: workload {i} ({kind}) lacks {missing[0]!r}")
        extra = set(wl) - set(required) - set(optional) - {"kind", "name"}
        if extra:
            raise ConfigError(f"{what}: workload {i} ({kind}): unknown field {sorted(extra)[0]!r} (known: "
                              + ", ".join(("name",) + required + optional) + ")")
        name = wl.get("name", _default_name(kind, wl, i))
        name = _string(name, f"workload {i} name", what)
        if name in names:
            raise ConfigError(f"{what}: two workloads are named {name!r}")
        names.add(name)
        out.append({"name": name, **{k: v for k, v in wl.items() if k != "name"}})
    return out


def _default_name(kind: str, wl: Mapping, i: int) -> str:
    if kind in ("kernel", "tiled"):
        from ..workloads.layers import LAYERS
        layer = wl.get("kernel", wl.get("layer"))
        step = wl.get("step") or next(iter(LAYERS.get(layer, {"": None})))
        shape = "x".join(map(str, wl["shape"])) if isinstance(wl["shape"], list) else str(wl["shape"])
        return f"{layer}{'/' + step if step else ''} {shape}"
    if kind == "elf":
        return Path(str(wl["elf"])).stem
    if kind == "c":
        srcs = wl["sources"]
        return Path(str(srcs[0] if isinstance(srcs, list) and srcs else srcs)).stem
    return f"{kind}{i}"


def _override_sets(grid, points, what: str) -> list[dict]:
    """Every override set: the grid's cartesian product (first key slowest), then the explicit points.
    Neither given: one point with no overrides."""
    sets: list[dict] = []
    if grid is not None:
        if not isinstance(grid, Mapping) or not grid:
            raise ConfigError(f"{what}: [grid] must map parameters to lists of values")
        flat = _flatten(grid)
        for k, vals in flat.items():
            if not isinstance(vals, list) or not vals:
                raise ConfigError(f"{what}: grid {k} must be a non-empty list of values, got {vals!r}")
            for v in vals:
                _check_value(k, v, what)
        sets += [dict(zip(flat, combo)) for combo in itertools.product(*flat.values())]
    if points is not None:
        if not isinstance(points, list) or not points:
            raise ConfigError(f"{what}: points must be a list of tables ([[points]])")
        for i, p in enumerate(points):
            if not isinstance(p, Mapping):
                raise ConfigError(f"{what}: points entry {i} is not a table")
            flat = _flatten(p)
            for k, v in flat.items():
                _check_value(k, v, what)
            sets.append(flat)
    return sets or [{}]


def _flatten(table: Mapping, prefix: str = "") -> dict:
    """``{"tcdm": {"banks": [8]}}`` and ``{"tcdm.banks": [8]}`` both -> ``{"tcdm.banks": [8]}``."""
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _check_value(key: str, v, what: str) -> None:
    if not isinstance(v, (bool, int, float, str)):
        raise ConfigError(f"{what}: {key} = {v!r}: a value must be a number, a string or a boolean")
    if key == "platform" and (not isinstance(v, str) or not v):
        raise ConfigError(f"{what}: platform must be a preset name or a TOML file, got {v!r}")


def _plots(plots, what: str) -> list[dict]:
    if not isinstance(plots, list):
        raise ConfigError(f"{what}: plots must be a list of tables ([[plots]] with x, y and optionally hue)")
    out = []
    for i, p in enumerate(plots):
        if not isinstance(p, Mapping) or not {"x", "y"} <= set(p) or set(p) - {"x", "y", "hue", "name"}:
            raise ConfigError(f"{what}: plots entry {i} must have x and y (and optionally hue, name)")
        out.append(dict(p))
    return out


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def point_id(workload: dict, platform: str, overrides: dict, max_cycles) -> str:
    """sha256 of the canonical JSON of what a point runs, shortened to :data:`ID_LENGTH` hex digits."""
    blob = _canonical({"workload": workload, "platform": platform, "overrides": overrides,
                       "max_cycles": max_cycles})
    return hashlib.sha256(blob.encode()).hexdigest()[:ID_LENGTH]


def _point(wl: dict, platform: str, ov: dict, max_cycles, base_dir: Path) -> Point:
    ov = dict(ov)
    plat = str(ov.pop("platform", platform))
    pid = point_id(wl, plat, ov, max_cycles)
    if plat.endswith(".toml") and not Path(plat).is_absolute():
        plat = str(base_dir / plat)
    params = {"platform": plat if not plat.endswith(".toml") else Path(plat).stem, **ov}
    return Point(id=pid, workload=wl, platform=plat, overrides=ov, params=params, max_cycles=max_cycles,
                 base_dir=str(base_dir))


def _describe(ov: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in ov.items()) or "no overrides"
