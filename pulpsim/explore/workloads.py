"""Run one point of a sweep and return its statistics as a flat dict.

Each workload kind has a runner that simulates the point through the project's public APIs and returns
the statistics its run measured (:func:`result_stats` turns a :class:`pulpsim.Result` into columns);
:func:`run_point` adds the point's identity, its status and the command that reproduces it, and turns
any error into a ``failed`` row (so one bad point never stops a sweep).

The columns every kind fills (docs/explore.md, "The table"):

* ``cycles``: the workload's own measure: the ``pi_perf`` region around the kernel (``kernel``), the
  tiled schedule from its first DMA to its last store on core 0 (``tiled``, ``sequence``), the whole run
  (``elf``, ``c``), the sum over the event's programs (``cl``);
* ``run_cycles``, ``instructions``, ``ipc``/``cpi`` (all cores' instructions per ``run_cycles``), the stall
  cycles by cause, TCDM, FPU and DMA counts and ``energy_uj``: the whole simulated run (all programs of an
  event for ``cl``);
* ``macs`` and ``mac_per_cycle`` where the workload's MACs are known.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, GuestError, PulpsimError
from ..sim import state
from ..sim.platform import Platform, get_platform
from .spec import Point

__all__ = ["run_point", "measure", "result_stats", "command_for", "RUNNERS", "ProgramFailed"]

#: Stall causes in the order of the simulator's counters.
STALL_CAUSES = tuple(state.CYCLE_CAUSES.values())


# ------------------------------------------------------------------------------ statistics

def result_stats(res) -> dict:
    """Columns from a :class:`pulpsim.Result`: totals, stalls by cause, per-bank conflicts, FPUs, DMA, energy."""
    stalls = res.stalls
    row = {"run_cycles": res.cycles, "instructions": res.instructions,
           "ipc": res.instructions / res.cycles if res.cycles else None,
           "cpi": res.cycles / res.instructions if res.instructions else None,
           "asleep_cycles": sum(c.asleep for c in res.cores)}
    row.update(_stall_columns(stalls))
    row.update(_unit_columns(res.banks, res.fpus))
    row.update(_dma_columns(res.dma))
    row["energy_uj"] = res.energy_total_uj
    return row


def _stall_columns(stalls: dict) -> dict:
    row = {f"stall_{k}": int(stalls.get(k, 0)) for k in STALL_CAUSES}
    row["stall_cycles"] = sum(row.values())
    return row


def _unit_columns(banks: list, fpus: list) -> dict:
    """TCDM accesses and conflicts (total and per bank), shared-FPU operations and conflicts."""
    row = {"tcdm_accesses": sum(b["accesses"] for b in banks), "bank_conflicts": sum(b["conflicts"] for b in banks)}
    row.update({f"bank{b['bank']}_conflicts": b["conflicts"] for b in banks})
    row["fpu_ops"] = sum(f["ops"] for f in fpus)
    row["fpu_conflicts"] = sum(f["conflicts"] for f in fpus)
    return row


def _dma_columns(dma: dict) -> dict:
    return {"dma_bytes": int(dma.get("bytes", 0)), "dma_busy": int(dma.get("busy_cycles", 0)),
            "dma_transfers": int(dma.get("transfers", 0)), "dma_delayed_beats": int(dma.get("delayed_beats", 0))}


def _work(cycles: int, macs: int | None, plat: Platform) -> dict:
    """``cycles``, ``macs``, ``mac_per_cycle``, time and the VEGA-model energy of the workload's cycles."""
    from ..cl.cost import PowerModel
    vega_j = PowerModel().cluster_energy_j(cycles, plat.clock_mhz, macs or 0, None, "vega")
    return {"cycles": int(cycles), "macs": macs, "mac_per_cycle": macs / cycles if macs and cycles else None,
            "time_us": cycles / plat.clock_mhz, "energy_vega_uj": vega_j * 1e6}


# ------------------------------------------------------------------------------ the runners

def _team(wl: dict, plat: Platform) -> int:
    cores = wl.get("cores", plat.cores)
    if isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= plat.cores:
        raise ConfigError(f"workload {wl['name']}: cores must be between 1 and {plat.cores} (the platform's), "
                          f"got {cores!r}")
    return cores


def _layer_inputs(name: str, wl: dict, step: str):
    """Seeded random inputs of a layer step, as ``pulpsim kernel``/``pulpsim tiling`` draw them."""
    from ..workloads.kernel_cli import SHAPE_ARGS, checked_dims, random_inputs
    if name not in SHAPE_ARGS:
        raise ConfigError(f"workload {wl['name']}: unknown layer {name!r} (known: {', '.join(SHAPE_ARGS)})")
    stride = wl.get("stride", 1)
    if stride not in (1, 2):
        raise ConfigError(f"workload {wl['name']}: stride must be 1 or 2, got {stride!r}")
    dims = checked_dims(name, list(wl["shape"]))
    rng = np.random.default_rng(wl.get("seed", 0))
    inputs, params, _ = random_inputs(name, step, dims, stride, rng, wl.get("window"))
    return inputs, params


def _first_step(name: str, wl: dict, steps: dict) -> str:
    if name not in steps:
        raise ConfigError(f"workload {wl['name']}: unknown layer {name!r} (known: {', '.join(steps)})")
    step = wl.get("step", next(iter(steps[name])))
    if step not in steps[name]:
        raise ConfigError(f"workload {wl['name']}: {name} has no step {step!r} (steps: {', '.join(steps[name])})")
    return step


def _wrong(wl: dict, what: str) -> PulpsimError:
    return PulpsimError(f"workload {wl['name']}: {what} differs from the numpy reference beyond its error bound")


def run_kernel(wl: dict, plat: Platform, point: Point) -> dict:
    """A library kernel on seeded random data (``pulpsim kernel``): matmul or one layer step."""
    from ..workloads import kernel_runner as kr, layers, tiled
    name, cores = wl["kernel"], _team(wl, plat)
    if name == "matmul":
        shape = list(wl["shape"])
        if len(shape) != 3 or any(not isinstance(v, int) or v < 1 for v in shape):
            raise ConfigError(f"workload {wl['name']}: matmul shape is [M, N, K], positive, got {shape!r}")
        M, N, K = shape
        rng = np.random.default_rng(wl.get("seed", 0))
        A = rng.standard_normal((M, K)).astype(np.float32)
        B = rng.standard_normal((K, N)).astype(np.float32)
        r = kr.run_matmul(A, B, variant=wl.get("variant", "4x4"), platform=plat, cores=cores,
                          max_cycles=point.max_cycles)
        A64, B64 = A.astype(np.float64), B.astype(np.float64)
        bound = K * np.finfo(np.float32).eps * (np.abs(A64) @ np.abs(B64))
        if not np.all(np.abs(r.C - A64 @ B64) <= bound):
            raise _wrong(wl, "C")
    else:
        step = _first_step(name, wl, layers.LAYERS)
        inputs, params = _layer_inputs(name, wl, step)
        r = layers.run_layer(name, step, inputs, platform=plat, cores=cores, max_cycles=point.max_cycles, **params)
        if not tiled.within_bound(name, step, inputs, r.outputs, **params):
            raise _wrong(wl, "the output")
    return {**_work(r.cycles, r.macs or None, plat), "team": cores, **result_stats(r.result)}


def run_tiled_layer(wl: dict, plat: Platform, point: Point) -> dict:
    """One layer step with its tensors in L2, tiled to L1 by the tiler for this platform."""
    from ..workloads import tiled
    name, cores = wl["layer"], _team(wl, plat)
    step = _first_step(name, wl, tiled.TILED_LAYERS)
    inputs, params = _layer_inputs(name, wl, step)
    r = tiled.run_tiled(name, step, inputs, platform=plat, cores=cores,
                        double_buffer=wl.get("double_buffer", True), l1_budget=wl.get("l1"),
                        tiles=wl.get("tiles"), max_cycles=point.max_cycles, **params)
    if not tiled.within_bound(name, step, inputs, r.outputs, **params):
        raise _wrong(wl, "the output")
    return {**_work(r.cycles, r.macs or None, plat), "team": cores,
            "tiles": " ".join(f"{k}={v}" for k, v in r.plan.tiles.items()), "tile_steps": r.steps,
            "tile_l1_bytes": r.plan.l1_bytes, "compute_cycles": r.compute_cycles, "dma_wait": r.dma_wait_cycles,
            **result_stats(r.result)}


def run_tiled_sequence(wl: dict, plat: Platform, point: Point) -> dict:
    """Tiled layer steps back to back in one program (``pulpsim.workloads.tiled.run_sequence``): ``tensors``
    maps the given tensors' names to shapes (seeded random data), ``steps`` lists tables with ``layer``,
    ``step``, ``ins``, ``outs`` and optionally ``params``."""
    from ..workloads import tiled
    tensors = wl["tensors"]
    if not isinstance(tensors, dict) or not tensors:
        raise ConfigError(f"workload {wl['name']}: tensors must map names to shapes")
    rng = np.random.default_rng(wl.get("seed", 0))
    given = {}
    for nm, shape in tensors.items():
        if not isinstance(shape, list) or not all(isinstance(v, int) and v >= 1 for v in shape):
            raise ConfigError(f"workload {wl['name']}: tensor {nm} needs a shape of positive integers, got {shape!r}")
        given[nm] = rng.standard_normal(shape).astype(np.float32)
    steps = wl["steps"]
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ConfigError(f"workload {wl['name']}: steps must be a list of tables (layer, step, ins, outs)")
    seq = [_seq_step(wl, i, s) for i, s in enumerate(steps)]
    r = tiled.run_sequence(seq, given, platform=plat, cores=_team(wl, plat),
                           double_buffer=wl.get("double_buffer", True), l1_budget=wl.get("l1"),
                           max_cycles=point.max_cycles)
    return {**_work(r.cycles, r.macs or None, plat), "team": r.cores, "compute_cycles": r.compute_cycles,
            "dma_wait": r.dma_wait_cycles, **result_stats(r.result)}


def _seq_step(wl: dict, i: int, s: dict):
    """A :class:`~pulpsim.workloads.tiled.SeqStep` from a step table; an input ``["name", [shape]]`` is a view."""
    from ..workloads import tiled
    if set(s) - {"layer", "step", "ins", "outs", "params"} or not {"layer", "step", "ins", "outs"} <= set(s) \
            or not all(isinstance(s.get(k, {}), dict) for k in ("ins", "outs", "params")):
        raise ConfigError(f"workload {wl['name']}: step {i} needs layer, step, ins and outs (tables), and "
                          f"optionally params")
    ins = {k: (v[0], tuple(v[1])) if isinstance(v, list) and len(v) == 2 and isinstance(v[1], list) else v
           for k, v in s["ins"].items()}
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in s.get("params", {}).items()}
    return tiled.SeqStep(s["layer"], s["step"], ins, dict(s["outs"]), params)


def _path(point: Point, p) -> Path:
    path = Path(str(p))
    return path if path.is_absolute() else Path(point.base_dir) / path


def _program_row(res, plat: Platform) -> dict:
    return {**_work(res.cycles, None, plat), "exit_code": res.exit_code, **result_stats(res)}


class ProgramFailed(PulpsimError):
    """A program ran to its end with a nonzero exit code (its statistics are kept in the row)."""

    def __init__(self, message: str, row: dict):
        super().__init__(message)
        self.row = row


def _check_exit(res, plat: Platform, wl: dict) -> dict:
    row = _program_row(res, plat)
    if res.exit_code != 0:
        raise ProgramFailed(f"workload {wl['name']}: the program exited with code {res.exit_code}", row)
    return row


def run_elf(wl: dict, plat: Platform, point: Point) -> dict:
    """A compiled ELF (``pulpsim run``)."""
    from ..api import run
    return _check_exit(run(_path(point, wl["elf"]), platform=plat, max_cycles=point.max_cycles), plat, wl)


def run_c(wl: dict, plat: Platform, point: Point) -> dict:
    """C or assembly sources, built for this platform's memories (``pulpsim build``), then run."""
    from .. import toolchain
    from ..api import run
    sources = wl["sources"] if isinstance(wl["sources"], list) else [wl["sources"]]
    cflags = wl.get("cflags", [])
    elf = toolchain.build([_path(point, s) for s in sources], opt=wl.get("opt", "-O2"),
                          cflags=tuple(cflags if isinstance(cflags, list) else [cflags]),
                          defines=wl.get("defines"), platform=plat)
    return _check_exit(run(elf, platform=plat, max_cycles=point.max_cycles), plat, wl)


def run_cl_event(wl: dict, plat: Platform, point: Point) -> dict:
    """One continual-learning event (``pulpsim.cl.onchip``): a mini-batch of ``batch`` samples through the
    adaptive stage of MobileNet-V1 (``width``, ``resolution``, ``classes``) after LR layer ``lr_layer``,
    from a seeded He-normal state and random non-negative latents; every sample's forward and backward
    pass, the gradient accumulation and the SGD update, checked against the host unless ``check = false``."""
    from ..cl import model, nn, onchip
    from ..cl.protocol import AdaptiveState
    layers = model.mobilenet_v1(wl.get("width", 0.25), wl.get("resolution", 32), wl.get("classes", 10))
    _, adaptive = model.split(layers, model.check_lr_layer(layers, wl.get("lr_layer", 23)))
    batch = wl.get("batch", 2)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"workload {wl['name']}: batch must be a positive integer, got {batch!r}")
    rng = np.random.default_rng(wl.get("seed", 0))
    params = nn.init_params(adaptive, rng, batchnorm=False)
    x = np.maximum(rng.standard_normal((batch,) + tuple(adaptive[0].in_shape)), 0).astype(np.float32)
    y = rng.integers(0, layers[-1].out_shape[0], batch)
    be = onchip.SimBackend(platform=plat, mode="all", cores=_team(wl, plat), check=wl.get("check", True))
    rec = be.simulate(AdaptiveState(adaptive, params), x, y, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    row = {**_work(rec.cycles, rec.macs or None, plat), "team": rec.cores, "programs": rec.programs,
           "instructions": rec.instructions, "compute_cycles": rec.compute_cycles, "dma_wait": rec.dma_wait_cycles,
           **_stall_columns(rec.stalls), **_unit_columns(rec.banks, rec.fpus), **_dma_columns(rec.dma),
           "energy_uj": float(sum(rec.energy_uj.values())), "l2_size_used": rec.l2_bytes}
    return row


RUNNERS = {"kernel": run_kernel, "tiled": run_tiled_layer, "sequence": run_tiled_sequence, "elf": run_elf,
           "c": run_c, "cl": run_cl_event}


# ------------------------------------------------------------------------------ commands

def _set_args(point: Point) -> list[str]:
    return [a for k, v in point.overrides.items() for a in ("--set", f"{k}={_text(v)}")]


def _text(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def command_for(point: Point, spec_path: "str | None", team: int | None = None) -> str:
    """The ``pulpsim`` command line that reproduces the point: ``pulpsim run`` for an ELF, ``pulpsim kernel``
    for a kernel (``team``: its team size), else ``pulpsim sweep SPEC --point ID`` (which re-runs exactly that
    point)."""
    wl = point.workload
    if wl["kind"] == "elf":
        elf = Path(str(wl["elf"]))
        if not elf.is_absolute():   # relative to the spec: as seen from where the spec was named
            elf = Path(os.path.normpath(Path(spec_path).parent / elf)) if spec_path else _path(point, elf)
        argv = ["pulpsim", "run", str(elf), "--platform", point.platform, *_set_args(point)]
        if point.max_cycles:
            argv += ["--max-cycles", str(point.max_cycles)]
        return shlex.join(argv)
    if wl["kind"] == "kernel" and point.max_cycles is None:     # pulpsim kernel has no cycle limit
        argv = ["pulpsim", "kernel", str(wl["kernel"]), "--shape", *map(str, wl["shape"])]
        for key in ("step", "stride", "window", "variant"):
            if key in wl:
                argv += [f"--{key}", str(wl[key])]
        team = wl.get("cores", team)
        if team is not None:    # the team is the platform's cores (pulpsim kernel's layers default to 8)
            argv += ["--cores", str(team)]
        argv += ["--platform", point.platform, *_set_args(point), "--seed", str(wl.get("seed", 0))]
        return shlex.join(argv)
    return shlex.join(["pulpsim", "sweep", spec_path or "SPEC.toml", "--point", point.id])


# ------------------------------------------------------------------------------ one point

def measure(point: Point) -> dict:
    """The statistics of ``point`` (raises the point's error: a :class:`~pulpsim.errors.PulpsimError`)."""
    plat = get_platform(point.platform, point.overrides)
    return RUNNERS[point.workload["kind"]](point.workload, plat, point)


def run_point(point: Point, spec_path: "str | None" = None) -> dict:
    """Simulate ``point`` and return its row: identity, parameters, statistics, ``status`` (``ok`` or
    ``failed``), ``error`` (the one-line message of a failure), ``command`` and ``wall_s``.  Never raises
    for a failing point."""
    t0 = time.perf_counter()
    row = {"id": point.id, "workload": point.name, "kind": point.workload["kind"], **point.params}
    stats, error, status = {}, "", "ok"
    try:
        stats = measure(point)
    except ProgramFailed as e:
        stats, status, error = e.row, "failed", str(e)
    except PulpsimError as e:
        status, error = "failed", str(e)
    except Exception as e:      # a defect, not the point's fault: still one row, the sweep goes on
        status, error = "failed", f"internal error: {type(e).__name__}: {e}"
    row.update(stats)
    row["status"], row["error"] = status, error
    row["command"] = command_for(point, spec_path, stats.get("team", _platform_cores(point)))
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    return row


def _platform_cores(point: Point) -> int | None:
    try:
        return get_platform(point.platform, point.overrides).cores
    except PulpsimError:
        return None
