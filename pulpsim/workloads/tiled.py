"""Tiled execution of training layers whose tensors live in L2 (``kernels/tiling/tiled.c``).

::

    import numpy as np
    from pulpsim import tiled

    x = np.random.rand(512, 8, 8).astype(np.float32)
    W = np.random.rand(512, 512).astype(np.float32)
    r = tiled.run_tiled("pointwise", "fw", {"x": x, "W": W}, platform="vega")
    r.outputs["y"], r.cycles, r.mac_per_cycle, r.dma_wait_cycles, r.tiles
    p = tiled.plan_tiles("pointwise", "fw", {"x": x.shape, "W": W.shape}, l1_budget=100_000)

The layer's inputs and outputs stay in L2; a *schedule* (a list of steps) moves tiles
into the TCDM with the cluster DMA, computes on them with all cores and moves the
output tiles back.  The schedule is made here and executed by one generic driver
(``tiled.c``), so the same ELF serves every layer, shape, tiling and buffering mode
of a platform.

Two tilings:

* **matmul-shaped steps** (pointwise and linear fw/wg/ig): ``C[M,N] = op(A) @ op(B)``
  as in :mod:`pulpsim.golden`; output tiles ``tm x tn`` stay in L1 while chunks of ``tk``
  of the reduction stream in (``A`` and ``B`` chunks are rectangles of the stored
  matrices, fetched with 2-D DMA; the transposed operand of the weight and input
  gradients is read in place by the tile kernel ``tmm.c``, with no transpose).
  Accumulating over chunks continues each element's chain, so results equal an
  untiled run bit for bit.
* **per-channel steps** (depthwise fw/wg/ig, avgpool fw/bw, relu fw/bw): tiles of
  ``tc`` whole channels (1-D DMA), computed by the layer kernels of ``kernels/layers/``.

Double-buffered: the loads of step i+1 are in flight while step i computes, and the
output stores while later steps compute.  Single-buffered: load, compute, store in
turn.  Tile sizes are chosen under an L1 budget (default: all the TCDM the driver
leaves free) by a cost model of compute and DMA time (:func:`plan_tiles`), or given.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import kernel_runner as kr
from . import layers as ly
from .. import toolchain
from ..errors import ConfigError, GuestError
from ..sim.elf import load_elf
from ..sim.machine import Machine
from ..sim.platform import Platform
from ..sim.result import Result, collect
# The planning API is re-exported: pulpsim.tiled is the one module users need.
from .tileplan import (SYNC, TILED_LAYERS, _MAX_MARKS, _count, _shapes_plan, Step, TilePlan, Xfer, plan_tiles,
                       rank_tilings)

__all__ = ["TILED_LAYERS", "Xfer", "Step", "TilePlan", "TiledLayerResult", "plan_tiles", "rank_tilings",
           "build_executor", "run_tiled", "SeqStep", "SequenceLayer", "SequenceResult", "run_sequence",
           "l1_arena", "within_bound"]

#: Per-core stack of the executor (no printf on its path).
_STACK = 0x400
#: Guard between the L1 arena and the stacks' lowest byte (bytes).
_ARENA_ALIGN = 16


# ------------------------------------------------------------------------------ build and run


def tiled_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "kernels" / "tiling"


def _layout(plat: Platform) -> toolchain.Layout:
    return dataclasses.replace(toolchain.layout_for(plat), stack_size_per_core=_STACK)


def _source_stamp() -> tuple:
    """(path, mtime) of every file the executor is built from: a change to any of them rebuilds it."""
    dirs = (tiled_dir(), ly.layer_dir(), kr.kernel_dir(), toolchain.runtime_dir())
    return tuple((str(f), f.stat().st_mtime_ns) for d in dirs for f in sorted(d.rglob("*")) if f.is_file())


@functools.lru_cache(maxsize=32)
def _built_executor(layout: toolchain.Layout, stamp: tuple, cache: Path) -> Path:
    del stamp, cache   # part of the key only
    md, ld = kr.kernel_dir(), ly.layer_dir()
    return toolchain.build([tiled_dir() / "tiled.c", tiled_dir() / "tmm.c", tiled_dir() / "tmm_asm.S",
                            *ly.layer_sources(), md / "matmul.c", md / "mm_asm.S"], opt=kr.OPT, cflags=kr.CONTRACT_FLAGS,
                           include_dirs=[tiled_dir(), ld, md], layout=layout, pmsis=True)


def build_executor(platform="vega") -> Path:
    """Build (or fetch from the cache) the tiled executor ELF for a platform's memory layout. The path is
    remembered per layout while no source file changes (a training run starts the executor per sample)."""
    plat = kr._platform(platform)
    key = (_layout(plat), _source_stamp(), toolchain.cache_dir())
    path = _built_executor(*key)
    if path.is_file():
        return path
    _built_executor.cache_clear()        # the build cache was emptied meanwhile
    return _built_executor(*key)


def l1_arena(platform="vega") -> tuple[int, int]:
    """(base, bytes) of the TCDM the executor leaves for tiles on a platform."""
    plat = kr._platform(platform)
    syms = load_elf(build_executor(plat)).symbols
    lo = (syms["__l1_heap_start"] + _ARENA_ALIGN - 1) // _ARENA_ALIGN * _ARENA_ALIGN
    return lo, syms["__l1_heap_end"] - lo


@dataclass
class TiledLayerResult:
    """Outcome of :func:`run_tiled`."""

    outputs: dict[str, np.ndarray]
    plan: TilePlan
    cycles: int                 #: core 0: the whole schedule, first load to last store
    compute_cycles: int         #: core 0: inside the steps' forks
    dma_wait_cycles: int        #: core 0: inside DMA waits
    macs: int
    bank_conflicts: int
    dma_delayed_beats: int
    platform: str
    cores: int
    result: Result | None = field(default=None, repr=False)

    @property
    def tiles(self) -> dict:
        return self.plan.tiles

    @property
    def steps(self) -> int:
        return len(self.plan.steps)

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0


def _relocate(steps: list[Step], l2: dict[int, int], l1: int) -> list[Step]:
    """The schedule with absolute addresses: relative L2 address ``i << 28 | offset`` -> tensor i's base
    plus offset, relative L1 address -> arena base ``l1`` plus it."""
    def ext(a):
        return l2[a >> 28] + (a & 0x0FFF_FFFF)

    out = []
    for s in steps:
        loads = [dataclasses.replace(x, ext=ext(x.ext), loc=x.loc + l1) for x in s.loads]
        stores = [dataclasses.replace(x, ext=ext(x.ext), loc=x.loc + l1) for x in s.stores]
        args = [None if a is None else a + l1 for a in s.args[:s.nptr]] + list(s.args[s.nptr:])
        out.append(dataclasses.replace(s, loads=loads, stores=stores, args=args))
    return out


def _executor(plat: Platform, max_cycles) -> tuple[Machine, dict, int, int]:
    """A machine with the executor loaded: (machine, symbols, L1 arena base, arena bytes)."""
    machine = Machine(plat, max_cycles=max_cycles)
    path = build_executor(plat)
    syms = machine.load_elf(path).symbols
    l1_base = (syms["__l1_heap_start"] + _ARENA_ALIGN - 1) // _ARENA_ALIGN * _ARENA_ALIGN
    return machine, syms, l1_base, syms["__l1_heap_end"] - l1_base


def _budget(l1_budget, arena: int, what: str, plat: Platform) -> int:
    budget = arena if l1_budget is None else _count("l1_budget", l1_budget, 0)
    if budget > arena:
        raise ConfigError(f"tiled {what}: L1 budget {budget} exceeds the {arena} bytes the executor leaves "
                          f"free on platform {plat.name!r}")
    return budget


@dataclass
class _Executed:
    outputs: dict               #: tensor name -> array read back from L2
    total: int
    compute: int
    dma_wait: int
    marks: list                 #: cycles at each TS_SYNC step
    result: Result


def _execute(machine: Machine, syms: dict, plat: Platform, cores: int, double: bool, l1_base: int,
             layers: list[tuple[TilePlan, dict, dict]], tensors: dict, out_shapes: dict, what: str) -> _Executed:
    """Place the tensors and the schedule of ``layers`` in L2, run the executor, and read back the tensors
    named in ``out_shapes``.  Each layer is (plan, its inputs' and its outputs' local -> global names); an
    output named like a given tensor is written in place."""
    addr = (syms["__l2_heap_start"] + 63) // 64 * 64
    base = addr
    where = {}
    for nm, n in [(nm, a.size) for nm, a in tensors.items()] + \
                 [(nm, max(1, int(np.prod(sh)))) for nm, sh in out_shapes.items() if nm not in tensors]:
        where[nm] = addr
        addr = (addr + 4 * n + 63) // 64 * 64
    steps = []
    for tp, ins, outs in layers:
        lin, lout = ly.LAYERS[tp.name][tp.step]
        index = {i: where[ins[nm]] for i, nm in enumerate(lin)}
        index.update({len(lin) + j: where[outs[nm]] for j, nm in enumerate(lout)})
        steps += _relocate(tp.steps, index, l1_base)
    sched_addr = addr
    blob = b"".join(st.pack() for st in steps)
    if sched_addr + len(blob) > syms["__l2_heap_end"]:
        raise ConfigError(f"tiled {what}: the tensors and the schedule need {sched_addr + len(blob) - base} bytes "
                          f"of L2 but platform {plat.name!r} leaves {syms['__l2_heap_end'] - base} "
                          f"(raise l2.size: --set l2.size=BYTES, or get_platform(..., l2__size=BYTES))")
    for nm, a in tensors.items():
        machine.write_bytes(where[nm], a.tobytes())
    machine.write_bytes(sched_addr, blob)
    machine.write_bytes(syms["ts_sched"], struct.pack("<4I", len(steps), int(bool(double)), cores, sched_addr))
    code = machine.run(stdout=False)
    res = collect(machine, code)
    if code != 0:
        raise GuestError(f"tiled {what} executor exited with code {code}: {res.stdout.strip()}")
    total, compute, wait, nsteps, nmarks = struct.unpack("<5I", machine.read_bytes(syms["ts_stats"], 20))
    if nsteps != len(steps):
        raise GuestError(f"tiled {what}: the executor ran {nsteps} of {len(steps)} steps")
    nm_ = min(nmarks, _MAX_MARKS)
    marks = list(struct.unpack(f"<{nm_}I", machine.read_bytes(syms["ts_stats"] + 20, 4 * nm_))) if nm_ else []
    outputs = {nm: kr.read_floats(machine, where[nm], sh) if sh else np.float32(kr.read_floats(machine, where[nm], sh)[0])
               for nm, sh in out_shapes.items()}
    return _Executed(outputs, total, compute, wait, marks, res)


def run_tiled(name: str, step: str, inputs: dict, platform="vega", cores: int | None = 8, *,
              double_buffer: bool = True, l1_budget: int | None = None, tiles: dict | None = None,
              max_cycles: int | None = None, **params) -> TiledLayerResult:
    """Run one step of a layer tile by tile, with its tensors in L2.

    ``l1_budget`` (bytes) defaults to the whole arena the executor leaves in the TCDM;
    ``tiles`` fixes the tiling (see :func:`plan_tiles`); ``params`` as :func:`pulpsim.layers.run_layer`.
    """
    plat = kr._platform(platform)
    cores = ly._cores(cores, plat)
    pl = _shapes_plan(name, step, inputs, params)
    machine, syms, l1_base, arena = _executor(plat, max_cycles)
    budget = _budget(l1_budget, arena, f"{name}/{step}", plat)
    tp = plan_tiles(name, step, inputs, budget, double_buffer=double_buffer, cores=cores, platform=plat,
                    tiles=tiles, **params)
    ins, outs = ly.LAYERS[name][step]
    tensors = {nm: np.ascontiguousarray(np.asarray(inputs[nm], dtype=np.float32)) for nm in ins}
    out_shapes = {oname: shape for oname, shape in pl.outs.values()}
    ex = _execute(machine, syms, plat, cores, double_buffer, l1_base,
                  [(tp, {nm: nm for nm in ins}, {nm: nm for nm in outs})], tensors, out_shapes, f"{name}/{step}")
    res = ex.result
    return TiledLayerResult(outputs=ex.outputs, plan=tp, cycles=ex.total, compute_cycles=ex.compute,
                            dma_wait_cycles=ex.dma_wait, macs=pl.macs,
                            bank_conflicts=sum(b["conflicts"] for b in res.banks),
                            dma_delayed_beats=int(res.dma.get("delayed_beats", 0)), platform=plat.name,
                            cores=cores, result=res)


@dataclass
class SeqStep:
    """One layer step of a sequence: ``ins`` and ``outs`` map the step's tensor names
    (:data:`pulpsim.layers.LAYERS`) to names of the sequence's tensors."""

    layer: str
    step: str
    ins: dict
    outs: dict
    params: dict = field(default_factory=dict)
    tiles: dict | None = None


@dataclass
class SequenceLayer:
    """Per-step outcome inside :class:`SequenceResult`."""

    layer: str
    step: str
    plan: TilePlan
    cycles: int                 #: from this step's first DMA (after earlier outputs reached L2) to the next one's
    macs: int

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0


@dataclass
class SequenceResult:
    """Outcome of :func:`run_sequence`."""

    tensors: dict               #: every tensor the sequence produced, read back from L2
    layers: list                #: SequenceLayer per step, in order
    cycles: int                 #: core 0: the whole sequence
    compute_cycles: int
    dma_wait_cycles: int
    bank_conflicts: int
    platform: str
    cores: int
    result: Result | None = field(default=None, repr=False)

    @property
    def macs(self) -> int:
        return sum(lay.macs for lay in self.layers)


def run_sequence(seq, tensors: dict, platform="vega", cores: int | None = 8, *, double_buffer: bool = True,
                 l1_budget: int | None = None, max_cycles: int | None = None) -> SequenceResult:
    """Run several tiled layer steps back to back in one program, their tensors in L2.

    ``seq`` is a list of :class:`SeqStep` (or tuples ``(layer, step, ins, outs[, params[, tiles]])``);
    an input is a tensor name, or ``(name, shape)`` to read it in another shape of the same size
    (e.g. a pooled ``(C, 1, 1)`` map as the ``(C,)`` input of a linear layer).
    ``tensors`` holds the sequence's given tensors by name.  A step may read the given tensors and
    those of earlier steps; each name is produced once.  Steps are tiled independently (each under
    the whole budget); the executor drains the stores of one step before the next one's loads
    (a sync point, where core 0 also takes the time for the per-step cycles).  Double buffering
    works within each step.
    """
    plat = kr._platform(platform)
    cores = ly._cores(cores, plat)
    if not isinstance(tensors, dict):
        raise ConfigError("tiled sequence: tensors must be a dict of name -> array")
    try:
        steps = [st if isinstance(st, SeqStep) else SeqStep(*st) for st in seq]
    except TypeError as e:
        raise ConfigError(f"tiled sequence: each step is (layer, step, ins, outs[, params[, tiles]]): {e}") from None
    if not steps or len(steps) > _MAX_MARKS:
        raise ConfigError(f"tiled sequence: between 1 and {_MAX_MARKS} steps, got {len(steps)}")
    given = {nm: np.ascontiguousarray(np.asarray(a, dtype=np.float32)) for nm, a in tensors.items()}
    shapes = {nm: a.shape for nm, a in given.items()}
    machine, syms, l1_base, arena = _executor(plat, max_cycles)
    budget = _budget(l1_budget, arena, "sequence", plat)
    layers, produced, plans = [], {}, []
    for k, st in enumerate(steps):
        what = f"sequence step {k} ({st.layer}/{st.step})"
        if st.layer not in TILED_LAYERS or st.step not in TILED_LAYERS.get(st.layer, ()):
            raise ConfigError(f"tiled {what}: not a tiled layer step; tiled: "
                              + ", ".join(f"{n}/{'|'.join(v)}" for n, v in TILED_LAYERS.items()))
        ins, outs = ly.LAYERS[st.layer][st.step]
        if not isinstance(st.ins, dict) or set(st.ins) != set(ins) or not isinstance(st.outs, dict) \
                or set(st.outs) != set(outs):
            raise ConfigError(f"tiled {what}: ins must map {', '.join(ins)} and outs {', '.join(outs)} "
                              f"to tensor names")
        names, local_inputs = {}, {}
        for local, ref in st.ins.items():
            nm, shape = ((ref, None) if isinstance(ref, str) else
                         tuple(ref) if isinstance(ref, (tuple, list)) and len(ref) == 2 else (None, None))
            if nm not in shapes:
                raise ConfigError(f"tiled {what}: input {local} = {ref!r} is neither given nor produced earlier "
                                  f"(a name, or (name, shape) to view it in another shape)")
            a = given[nm] if nm in given else np.zeros(shapes[nm], np.float32)
            if shape is not None:
                if int(np.prod(shape)) != a.size:
                    raise ConfigError(f"tiled {what}: {nm!r} has {a.size} elements, not a {tuple(shape)} view")
                a = a.reshape(shape)
            names[local], local_inputs[local] = nm, a
        pl = _shapes_plan(st.layer, st.step, local_inputs, dict(st.params))
        tp = plan_tiles(st.layer, st.step, local_inputs, budget, double_buffer=double_buffer, cores=cores,
                        platform=plat, tiles=st.tiles, **st.params)
        tp.steps[0].flags |= SYNC
        for local, nm in st.outs.items():
            if nm in shapes:
                raise ConfigError(f"tiled {what}: output {local} = {nm!r} is already a tensor of the sequence")
            shapes[nm] = produced[nm] = next(sh for o, sh in pl.outs.values() if o == local)
        layers.append((tp, names, dict(st.outs)))
        plans.append((st, tp, pl.macs))
    ex = _execute(machine, syms, plat, cores, double_buffer, l1_base, layers, given, produced, "sequence")
    marks = ex.marks + [ex.total]
    per = [SequenceLayer(st.layer, st.step, tp, (marks[i + 1] - marks[i]) if i + 1 < len(marks) else 0, macs)
           for i, (st, tp, macs) in enumerate(plans)]
    res = ex.result
    return SequenceResult(tensors=ex.outputs, layers=per, cycles=ex.total, compute_cycles=ex.compute,
                          dma_wait_cycles=ex.dma_wait, bank_conflicts=sum(b["conflicts"] for b in res.banks),
                          platform=plat.name, cores=cores, result=res)


def reduction_length(name: str, step: str, pl: ly.Plan) -> int:
    """Terms summed per output element of a step (the length of its accumulation chain)."""
    d = pl.dims
    HW, HoWo = d["H"] * d["W"], d["Ho"] * d["Wo"]
    return {("pointwise", "fw"): d["C"], ("pointwise", "wg"): HW, ("pointwise", "ig"): d["K"],
            ("linear", "fw"): d["C"], ("linear", "wg"): 1, ("linear", "ig"): d["K"],
            ("depthwise", "fw"): 9, ("depthwise", "wg"): HoWo, ("depthwise", "ig"): 9,
            ("avgpool", "fw"): HW if d["stride"] == 0 else d["stride"] ** 2,
            ("bias", "wg"): d["n"]}.get((name, step), 1)


def within_bound(name: str, step: str, inputs: dict, outputs: dict, **params) -> bool:
    """Whether ``outputs`` match :func:`pulpsim.layers.golden` within the float32 error bound of a chain of
    L roundings: ``|out - ref| <= (L + 2) * eps32 * ref(|inputs|)`` (ref on absolute values bounds the
    magnitudes summed)."""
    pl = ly.plan(name, step, inputs, **params)
    ref = ly.golden(name, step, inputs, **params)
    if name in ("sgd", "accumulate"):   # every operation rounded as in the reference: exact
        return all(np.array_equal(np.asarray(outputs[k], np.float32).reshape(np.shape(r)), r) for k, r in ref.items())
    eps = np.finfo(np.float32).eps
    if name == "softmax_ce":    # n exponentials and a sum of n terms; the loss also carries log(sum) and z
        z = np.asarray(inputs["z"], np.float64)
        n = z.size
        fw_params = {k: v for k, v in params.items() if k != "batch"}
        p = ly.golden(name, "fw", inputs, **fw_params)["probs"].astype(np.float64) / params.get("batch", 1)
        for k, r in ref.items():
            out = np.asarray(outputs[k], np.float64)
            if k == "loss":
                bound = (n + 8) * eps * (abs(float(r)) + np.abs(z - z.max()).max() + 1.0)
            else:
                bound = (n + 8) * eps * p + np.finfo(np.float32).tiny
            if not np.all(np.abs(out - np.asarray(r, np.float64)) <= bound):
                return False
        return True
    mag = ly.golden(name, step, {k: np.abs(np.asarray(v, np.float32)) for k, v in inputs.items()}, **params)
    L = reduction_length(name, step, pl)
    for k, r in ref.items():
        out = np.asarray(outputs[k], np.float64).reshape(np.shape(r))
        bound = (L + 2) * eps * np.abs(np.asarray(mag[k], np.float64)) + np.finfo(np.float32).tiny
        if not np.all(np.abs(out - np.asarray(r, np.float64)) <= bound):
            return False
    return True
