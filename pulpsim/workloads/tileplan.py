"""Tile choice and schedules of the tiled layer executor (``kernels/tiling/tiled.c``).

The host side of tiled execution, without running anything: the schedule format the executor reads
(:class:`Xfer`, :class:`Step`, packed like ``struct ts_step``), the two kinds of tiled problems
(:class:`MatmulProblem` for pointwise and linear steps, :class:`ChannelProblem` for the per-channel
and whole-vector ones), a cost model that ranks the tilings fitting an L1 budget, and the schedule of
the chosen one (:func:`plan_tiles`).  :mod:`pulpsim.tiled` places and runs schedules.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from . import kernel_runner as kr
from . import layers as ly
from ..errors import ConfigError
from ..sim.platform import Platform

__all__ = ["TILED_LAYERS", "Xfer", "Step", "MatmulProblem", "ChannelProblem", "TilePlan", "plan_tiles",
           "rank_tilings", "DMA_MAX_BYTES"]

# Op codes and flags of tiled.c.
(OP_MM, OP_DW_FW, OP_DW_WG, OP_DW_IG, OP_POOL_FW, OP_POOL_BW, OP_RELU_FW, OP_RELU_BW, OP_SGD, OP_SOFTMAX_FW,
 OP_SOFTMAX_BW, OP_BIAS_FW, OP_BIAS_WG, OP_ACC) = range(1, 15)
FIRST, LAST, SYNC = 1, 2, 4
MAX_LOADS, MAX_STORES, NARGS = 4, 2, 18
#: Largest team (per-core scratch of the softmax op).
_MAX_CORES = 16
#: Sync points whose time the executor records (TS_MAX_MARKS of tiled.c): at most this many layer
#: steps in one sequence (a whole training sample of a MobileNet-V1 adaptive stage takes about 70).
_MAX_MARKS = 128
#: Largest DMA transfer in bytes (the 17-bit length field of the MCHAN command word).
DMA_MAX_BYTES = (1 << 17) - 1
TMM_NN, TMM_TN, TMM_NT = 0, 1, 2

#: layer -> steps the executor tiles.
TILED_LAYERS = {
    "pointwise": ("fw", "wg", "ig"),
    "linear": ("fw", "wg", "ig"),
    "depthwise": ("fw", "wg", "ig"),
    "avgpool": ("fw", "bw"),
    "relu": ("fw", "bw"),
    "sgd": ("step",),
    "softmax_ce": ("fw", "bw"),
    "bias": ("fw", "wg"),
    "accumulate": ("step",),
}

# ------------------------------------------------------------------------------ schedule


@dataclass(frozen=True)
class Xfer:
    """One DMA transfer: ``size`` bytes between L2 ``ext`` and L1 ``loc``; 2-D when ``stride``
    is non-zero (rows of ``length`` bytes, ``stride`` bytes apart in L2)."""

    ext: int
    loc: int
    size: int
    stride: int = 0
    length: int = 0


@dataclass
class Step:
    """One step of a schedule (struct ts_step of tiled.c)."""

    op: int
    args: list                  #: the op's arguments; the first ``nptr`` are L1 addresses (None: unused)
    nptr: int
    loads: list[Xfer] = field(default_factory=list)
    stores: list[Xfer] = field(default_factory=list)
    flags: int = FIRST | LAST
    obuf: int = 0

    _FMT = "<5I" + "5I" * (MAX_LOADS + MAX_STORES) + f"{NARGS}i"

    def pack(self) -> bytes:
        def xf(lst, n):
            out = []
            for x in lst + [Xfer(0, 0, 0)] * (n - len(lst)):
                out += [x.ext, x.loc, x.size, x.stride, x.length]
            return out
        args = [0 if a is None else a for a in self.args] + [0] * (NARGS - len(self.args))
        return struct.pack(self._FMT, self.op, self.flags, self.obuf, len(self.loads), len(self.stores),
                           *xf(self.loads, MAX_LOADS), *xf(self.stores, MAX_STORES), *args)


STEP_BYTES = struct.calcsize(Step._FMT)


def _chunk(base: int, cols: int, r0: int, nr: int, c0: int, nc: int, loc: int) -> Xfer:
    """The rectangle rows [r0, r0+nr) x cols [c0, c0+nc) of a row-major float32 matrix with
    ``cols`` columns at L2 ``base``, packed row-major at L1 ``loc``."""
    ext = base + 4 * (r0 * cols + c0)
    if nc == cols or nr == 1:
        return Xfer(ext, loc, 4 * nr * nc)
    return Xfer(ext, loc, 4 * nr * nc, 4 * cols, 4 * nc)


# ------------------------------------------------------------------------------ problems


@dataclass(frozen=True)
class MatmulProblem:
    """``C[M,N] = op(A) @ op(B)``; A stored [M,K] (or [K,M] when ``ta``), B stored [K,N] (or [N,K])."""

    M: int
    N: int
    K: int
    ta: bool = False
    tb: bool = False
    a: str = "A"        #: names of the tensors holding A, B and C
    b: str = "B"
    c: str = "C"

    @property
    def layout(self) -> int:
        return TMM_TN if self.ta else (TMM_NT if self.tb else TMM_NN)


@dataclass(frozen=True)
class ChannelProblem:
    """A per-channel op over ``C`` channels; ``ins``/``outs``: (tensor, floats per channel)."""

    op: int
    C: int
    ins: tuple                  #: ((name, floats per channel, kernel slot), ...) slots 0..3 = in0..in3
    outs: tuple                 #: ((name, floats per channel, kernel slot), ...) slots 0..1 = out0..out1
    H: int = 1
    W: int = 1
    Ho: int = 1
    Wo: int = 1
    stride: int = 1
    fparams: tuple = (0.0, 0.0, 0.0)    #: lr, momentum, weight decay (sgd)
    label: int = 0
    K: int = 1                          #: softmax_ce bw: the mini-batch size the gradient is divided by
    #: A whole-vector op (softmax): one tile of all C, plus outputs of a fixed size ((name, floats, slot), ...)
    #: and per-core scratch floats (tmp0).
    whole: bool = False
    fixed_outs: tuple = ()
    scratch: int = 0


def _problem(name: str, step: str, pl: ly.Plan):
    d = pl.dims
    C, K, H, W = d["C"], d["K"], d["H"], d["W"]
    if name == "pointwise":
        HW = H * W
        return {"fw": MatmulProblem(K, HW, C, a="W", b="x", c="y"),
                "wg": MatmulProblem(K, C, HW, tb=True, a="dy", b="x", c="dW"),
                "ig": MatmulProblem(C, HW, K, ta=True, a="W", b="dy", c="dx")}[step]
    if name == "linear":
        return {"fw": MatmulProblem(K, 1, C, a="W", b="x", c="y"),
                "wg": MatmulProblem(K, C, 1, a="dy", b="x", c="dW"),
                "ig": MatmulProblem(1, C, K, a="dy", b="W", c="dx")}[step]
    if name == "depthwise":
        Ho, Wo, s = d["Ho"], d["Wo"], d["stride"]
        geo = dict(H=H, W=W, Ho=Ho, Wo=Wo, stride=s)
        if step == "fw":
            return ChannelProblem(OP_DW_FW, C, (("x", H * W, 0), ("W", 9, 1)), (("y", Ho * Wo, 0),), **geo)
        if step == "wg":
            return ChannelProblem(OP_DW_WG, C, (("x", H * W, 0), ("dy", Ho * Wo, 2)), (("dW", 9, 0),), **geo)
        return ChannelProblem(OP_DW_IG, C, (("W", 9, 1), ("dy", Ho * Wo, 2)), (("dx", H * W, 0),), **geo)
    if name == "avgpool":
        geo = dict(H=H, W=W, Ho=d["Ho"], Wo=d["Wo"], stride=d["stride"])   # stride: the window (0: global)
        if step == "fw":
            return ChannelProblem(OP_POOL_FW, C, (("x", H * W, 0),), (("y", d["Ho"] * d["Wo"], 0),), **geo)
        return ChannelProblem(OP_POOL_BW, C, (("dy", d["Ho"] * d["Wo"], 2),), (("dx", H * W, 0),), **geo)
    if name == "relu":
        n = d["n"]
        if step == "fw":
            return ChannelProblem(OP_RELU_FW, n, (("x", 1, 0),), (("y", 1, 0),))
        return ChannelProblem(OP_RELU_BW, n, (("x", 1, 0), ("dy", 1, 2)), (("dx", 1, 0),))
    if name == "softmax_ce":
        n = d["n"]
        if step == "fw":
            return ChannelProblem(OP_SOFTMAX_FW, n, (("z", 1, 0),), (("probs", 1, 0),), label=d["label"], whole=True,
                                  fixed_outs=(("loss", 1, 1),), scratch=_MAX_CORES)
        return ChannelProblem(OP_SOFTMAX_BW, n, (("z", 1, 0),), (("dz", 1, 0),), label=d["label"], whole=True,
                              scratch=_MAX_CORES, K=d["K"])
    if name == "bias":      # whole channels of n = H*W values (H carries n; the executor sets K and n)
        n = d["n"]
        if step == "fw":
            return ChannelProblem(OP_BIAS_FW, d["K"], (("y", n, 0), ("b", 1, 1)), (("y", n, 0),), H=n)
        return ChannelProblem(OP_BIAS_WG, d["K"], (("dy", n, 2),), (("db", 1, 0),), H=n)
    if name == "accumulate":
        return ChannelProblem(OP_ACC, d["n"], (("acc", 1, 0), ("g", 1, 1)), (("acc", 1, 0),))
    if name == "sgd":
        fp = pl.fparams
        return ChannelProblem(OP_SGD, d["n"], (("w", 1, 0), ("g", 1, 1), ("v", 1, 3)), (("w", 1, 0), ("v", 1, 1)),
                              fparams=(fp["lr"], fp["momentum"], fp["wd"]))
    raise ConfigError(f"tiled: layer {name!r} is not tiled; tiled layers: {', '.join(TILED_LAYERS)}")


# ------------------------------------------------------------------------------ cost model

#: Rough per-op costs for choosing tiles (cycles); the simulator measures the real ones.
_FORK_CYCLES = 250            # fork, join and the step's bookkeeping on core 0
_DMA_CMD_CYCLES = 40          # core 0 programming one transfer, plus its start latency
_MM_CYCLES_PER_K = 26         # one 4x4 block, one k: 8 loads + 16 fmadd (private FPUs)
_CH_CYCLES = {OP_DW_FW: 80, OP_DW_WG: 80, OP_DW_IG: 80, OP_POOL_FW: 6, OP_POOL_BW: 6,
              OP_RELU_FW: 6, OP_RELU_BW: 6, OP_BIAS_FW: 6, OP_BIAS_WG: 6, OP_ACC: 6}   # per output pixel (dw) or element


def _est(compute: float, dma_in: float, dma_out: float, steps: int, double: bool) -> float:
    if double:
        return dma_in + steps * max(compute + _FORK_CYCLES, dma_in + dma_out) + dma_out
    return steps * (compute + _FORK_CYCLES + dma_in + dma_out)


def _mm_cost(p: MatmulProblem, tm: int, tn: int, tk: int, cores: int, fpu_cycles: float, double: bool) -> float:
    blocks = math.ceil(tm / 4) * math.ceil(tn / 4)
    compute = math.ceil(blocks / cores) * (tk * fpu_cycles + 40)
    whole_k = tk >= p.K       # an operand covering all of its matrix stays in L1 (not reloaded)
    a_in = 0 if whole_k and tm >= p.M else _DMA_CMD_CYCLES + 4 * tm * tk / 8
    b_in = 0 if whole_k and tn >= p.N else _DMA_CMD_CYCLES + 4 * tk * tn / 8
    dma_in = a_in + b_in
    dma_out = (_DMA_CMD_CYCLES + 4 * tm * tn / 8) / math.ceil(p.K / tk)
    steps = math.ceil(p.M / tm) * math.ceil(p.N / tn) * math.ceil(p.K / tk)
    return _est(compute, dma_in, dma_out, steps, double)


def _candidates(D: int) -> list[int]:
    c = {D} | {min(D, 1 << e) for e in range(2, 13)} | {min(D, 4 * math.ceil(D / (4 * n))) for n in range(1, 9)}
    return sorted(v for v in c if v >= 1)


def _mm_l1(tm, tn, tk, double) -> int:
    nb = 2 if double else 1
    return 4 * (nb * (tm * tk + tk * tn) + nb * tm * tn)


def _ch_l1(p: ChannelProblem, tc: int, double: bool) -> int:
    nb = 2 if double else 1
    per = sum(n for _, n, _ in p.ins) + sum(n for _, n, _ in p.outs)
    return 4 * nb * (per * tc + sum(n for _, n, _ in p.fixed_outs)) + 4 * p.scratch


# ------------------------------------------------------------------------------ plans


@dataclass
class TilePlan:
    """A chosen tiling and its schedule (addresses relative to the arenas until placed)."""

    name: str
    step: str
    problem: object
    tiles: dict                 #: matmul: tm tn tk; per channel: tc
    double_buffer: bool
    l1_bytes: int
    steps: list[Step]
    estimate: float             #: cost-model cycles (for choosing; not a measurement)

    def describe(self) -> str:
        t = " ".join(f"{k}={v}" for k, v in self.tiles.items())
        return f"{self.name}/{self.step} {t} {'double' if self.double_buffer else 'single'}-buffered, " \
               f"{len(self.steps)} steps, {self.l1_bytes} B of L1"


def _mm_steps(p: MatmulProblem, tm, tn, tk, double, l2_in: dict, l2_out: dict, l1: int) -> list[Step]:
    nb = 2 if double else 1
    a_sz, b_sz, c_sz = 4 * tm * tk, 4 * tk * tn, 4 * tm * tn
    a_buf = [l1 + i * (a_sz + b_sz) for i in range(nb)]
    b_buf = [a + a_sz for a in a_buf]
    c_buf = [l1 + nb * (a_sz + b_sz) + i * c_sz for i in range(nb)]
    steps, t = [], 0
    held = [dict() for _ in range(nb)]     # per buffer set: the chunk each operand buffer holds
    for i0 in range(0, p.M, tm):
        m = min(tm, p.M - i0)
        for j0 in range(0, p.N, tn):
            n = min(tn, p.N - j0)
            o = t % nb
            for k0 in range(0, p.K, tk):
                k = min(tk, p.K - k0)
                s = len(steps) % nb
                la = (_chunk(l2_in[p.a], p.M, k0, k, i0, m, a_buf[s]) if p.ta
                      else _chunk(l2_in[p.a], p.K, i0, m, k0, k, a_buf[s]))
                lb = (_chunk(l2_in[p.b], p.K, j0, n, k0, k, b_buf[s]) if p.tb
                      else _chunk(l2_in[p.b], p.N, k0, k, j0, n, b_buf[s]))
                flags = (FIRST if k0 == 0 else 0) | (LAST if k0 + k >= p.K else 0)
                stores = [_chunk(l2_out[p.c], p.N, i0, m, j0, n, c_buf[o])] if flags & LAST else []
                # A chunk already in this set's buffer (e.g. the whole of W when tm = M, tk = K) is not reloaded.
                loads = [x for key, x in (("a", la), ("b", lb)) if held[s].get(key) != x]
                held[s].update(a=la, b=lb)
                steps.append(Step(OP_MM, [a_buf[s], b_buf[s], c_buf[o], m, n, k, p.layout, int(k0 > 0)], 3,
                                  loads, stores, flags, o))
            t += 1
    return steps


def _f32_bits(x: float) -> int:
    return struct.unpack("<i", struct.pack("<f", x))[0]


def _ch_steps(p: ChannelProblem, tc, double, l2_in: dict, l2_out: dict, l1: int) -> list[Step]:
    nb = 2 if double else 1
    set_sz = 4 * tc * sum(n for _, n, _ in p.ins)
    out_sz = 4 * (tc * sum(n for _, n, _ in p.outs) + sum(n for _, n, _ in p.fixed_outs))
    scratch = l1 + nb * (set_sz + out_sz) if p.scratch else None
    fbits = [_f32_bits(v) for v in p.fparams]
    steps = []
    for c0 in range(0, p.C, tc):
        c = min(tc, p.C - c0)
        s = o = len(steps) % nb
        ptr = [None] * 6                      # in0..in3, out0, out1 (then tmp0)
        loads, loc = [], l1 + s * set_sz
        for nm, per, slot in p.ins:
            loads.append(Xfer(l2_in[nm] + 4 * c0 * per, loc, 4 * c * per))
            ptr[slot] = loc
            loc += 4 * tc * per
        stores, loc = [], l1 + nb * set_sz + o * out_sz
        for nm, per, slot in p.outs:
            stores.append(Xfer(l2_out[nm] + 4 * c0 * per, loc, 4 * c * per))
            ptr[4 + slot] = loc
            loc += 4 * tc * per
        for nm, size, slot in p.fixed_outs:
            stores.append(Xfer(l2_out[nm], loc, 4 * size))
            ptr[4 + slot] = loc
            loc += 4 * size
        args = ptr + [scratch, c, p.H, p.W, p.Ho, p.Wo, p.stride, p.label] + fbits + [p.K]
        steps.append(Step(p.op, args, 7, loads, stores, FIRST | LAST, o))
    return steps


def _fpu_cycles(plat: Platform, cores: int) -> float:
    shared = plat.fpu.shared
    if shared and cores > shared:
        return max(_MM_CYCLES_PER_K, 16 * cores / shared + 8)
    return _MM_CYCLES_PER_K


def _rank(p, budget: int, double: bool, cores: int, plat: Platform, tiles: dict | None) -> list[tuple]:
    """(tiles, l1 bytes, estimate) of every candidate tiling within the budget (or of the given one),
    cheapest estimate first."""
    key = tuple(sorted(tiles.items())) if tiles else None
    return [(dict(t), need, est) for t, need, est in _rank_cached(p, budget, double, cores, _fpu_cycles(plat, cores), key)]


@functools.lru_cache(maxsize=4096)
def _rank_cached(p, budget: int, double: bool, cores: int, fc: float, tiles: tuple | None) -> tuple:
    """:func:`_rank` of a problem (a frozen, hashable description) under one budget, memoised: a training
    run plans the same shapes once per sample, and a per-channel problem ranks every tile size."""
    tiles = dict(tiles) if tiles else None
    out = []
    if isinstance(p, MatmulProblem):
        if tiles:
            cands = [tuple(min(int(tiles.get(k, d)), d) for k, d in (("tm", p.M), ("tn", p.N), ("tk", p.K)))]
        else:
            cands = [(tm, tn, tk) for tm in _candidates(p.M) for tn in _candidates(p.N) for tk in _candidates(p.K)]
        for tm, tn, tk in cands:
            need = _mm_l1(tm, tn, tk, double)
            if 4 * max(tm * tk, tk * tn, tm * tn) > DMA_MAX_BYTES:
                continue
            if need <= budget:
                out.append(({"tm": tm, "tn": tn, "tk": tk}, need, _mm_cost(p, tm, tn, tk, cores, fc, double)))
    else:
        if p.whole:
            cands = [p.C]       # one tile: the op needs the whole vector
        else:
            cands = [min(int(tiles["tc"]), p.C)] if tiles else sorted({p.C} | set(range(1, p.C + 1)))
        pix = p.Ho * p.Wo if p.op in (OP_DW_FW, OP_DW_WG) else p.H * p.W
        per_in = 4 * sum(n for _, n, _ in p.ins)
        per_out = 4 * sum(n for _, n, _ in p.outs)
        per_max = max([n for _, n, _ in p.ins] + [n for _, n, _ in p.outs])
        for tc in cands:
            need = _ch_l1(p, tc, double)
            if need > budget or 4 * tc * per_max > DMA_MAX_BYTES:
                continue
            compute = math.ceil(tc / cores) * pix * _CH_CYCLES.get(p.op, 10)
            dma_in = len(p.ins) * _DMA_CMD_CYCLES + tc * per_in / 8
            dma_out = len(p.outs) * _DMA_CMD_CYCLES + tc * per_out / 8
            out.append(({"tc": tc}, need, _est(compute, dma_in, dma_out, math.ceil(p.C / tc), double)))
    out.sort(key=lambda r: (r[2], -r[1]))
    return tuple(out)


def _min_l1(p, double: bool) -> int:
    if isinstance(p, MatmulProblem):
        return _mm_l1(1, 1, 1, double)
    return _ch_l1(p, 1, double)


def _shapes_plan(name: str, step: str, inputs: dict, params: dict) -> ly.Plan:
    if name not in TILED_LAYERS:
        raise ConfigError(f"tiled: layer {name!r} is not tiled; tiled layers: {', '.join(TILED_LAYERS)}")
    if step not in TILED_LAYERS[name]:
        raise ConfigError(f"tiled: layer {name!r} has no step {step!r}; expected one of "
                          f"{', '.join(TILED_LAYERS[name])}")
    return ly.plan(name, step, inputs, **params)


def plan_tiles(name: str, step: str, inputs: dict, l1_budget: int, *, double_buffer: bool = True,
               cores: int = 8, platform="vega", tiles: dict | None = None, **params) -> TilePlan:
    """Choose tiles for one step under ``l1_budget`` bytes and make its schedule.

    ``inputs`` maps the step's input names to arrays (only their shapes matter).  ``tiles``
    fixes the tiling: ``{"tm", "tn", "tk"}`` (matmul-shaped steps, any subset) or ``{"tc"}``.
    Raises ConfigError when no tiling fits the budget.  Addresses in the schedule are
    relative: L2 tensors at 0, 1, 2, ... << 28 and the L1 arena at 0 (see :func:`run_tiled`).
    """
    pl = _shapes_plan(name, step, inputs, params)
    prob = _problem(name, step, pl)
    plat = kr._platform(platform)
    l1_budget = _count("l1_budget", l1_budget, 0)
    tiles = _check_tiles(prob, tiles)
    ranked = _rank(prob, l1_budget, double_buffer, cores, plat, tiles)
    if not ranked:
        what = f"the tiles {tiles}" if tiles else f"even the smallest tile ({_min_l1(prob, double_buffer)} bytes)"
        raise ConfigError(f"tiled {name}/{step}: an L1 budget of {l1_budget} bytes is too small for {what}, "
                          f"{'double' if double_buffer else 'single'}-buffered")
    t, need, cost = ranked[0]
    t = dict(t)                 # the ranking is memoised: the plan gets its own copy
    ins, outs = ly.LAYERS[name][step]
    l2_in = {nm: i << 28 for i, nm in enumerate(ins)}
    l2_out = {nm: (len(ins) + j) << 28 for j, nm in enumerate(outs)}
    steps = (_mm_steps(prob, t["tm"], t["tn"], t["tk"], double_buffer, l2_in, l2_out, 0)
             if isinstance(prob, MatmulProblem) else _ch_steps(prob, t["tc"], double_buffer, l2_in, l2_out, 0))
    return TilePlan(name, step, prob, t, double_buffer, need, steps, cost)


def _count(what: str, v, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ConfigError(f"tiled: {what} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _check_tiles(prob, tiles: dict | None) -> dict | None:
    """The fixed tiling, checked: known keys for the problem, positive integers."""
    if tiles is None:
        return None
    keys = ("tm", "tn", "tk") if isinstance(prob, MatmulProblem) else ("tc",)
    if not isinstance(tiles, dict) or not tiles or any(k not in keys for k in tiles):
        raise ConfigError(f"tiled: tiles must be a dict with keys among {', '.join(keys)}, got {tiles!r}")
    return {k: _count(f"tile {k}", v, 1) for k, v in tiles.items()}


def rank_tilings(name: str, step: str, inputs: dict, l1_budget: int, *, double_buffer: bool = True,
                 cores: int = 8, platform="vega", **params) -> list[tuple[dict, int, float]]:
    """Every tiling that fits ``l1_budget`` as (tiles, L1 bytes, cost-model cycles), cheapest first."""
    pl = _shapes_plan(name, step, inputs, params)
    return _rank(_problem(name, step, pl), _count("l1_budget", l1_budget, 0), double_buffer, cores,
                 kr._platform(platform), None)
