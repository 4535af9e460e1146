"""FP32 training layer kernels (``kernels/layers/``) on a simulated cluster.

::

    import numpy as np
    from pulpsim import layers

    x = np.random.rand(4, 6, 6).astype(np.float32)
    W = np.random.rand(8, 4, 3, 3).astype(np.float32)
    r = layers.run_layer("conv2d", "fw", {"x": x, "W": W}, platform="vega", cores=8, stride=2)
    r.outputs["y"]                       # (8, 3, 3) float32, read back from the TCDM
    r.cycles, r.macs, r.mac_per_cycle    # core 0's pi_perf_start..stop region around the step
    layers.golden("conv2d", "fw", {"x": x, "W": W}, stride=2)["y"]   # numpy reference

``LAYERS`` maps each layer to its steps and, per step, the names of its inputs and outputs.
A driver is generated per (layer, step, shapes, parameters, cores, platform layout,
contraction): every tensor is a ``PI_L1`` array of the exact size, ``main`` brackets
``ly_<layer>_<step>(&args)`` (which forks its sub-kernels over ``cores``) with
``pi_perf_start/stop``.  Inputs are written into the loaded image before the run.

Layouts follow :mod:`pulpsim.golden`: CHW activations, linear ``W[out, in]``, pointwise
``W[K, C]``, depthwise ``W[C, 3, 3]``, conv2d ``W[K, C, 3, 3]``; 3x3 convolutions use padding 1
and ``stride`` 1 or 2 (``in_hw=(H, W)`` for input gradients, default ``stride * (Ho, Wo)``).
``macs`` is the multiply-accumulate count of the linear/conv steps and 0 for the others.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import golden as _g
from .. import toolchain
from ..errors import ConfigError, GuestError
from .kernel_runner import (CONTRACT_FLAGS, NO_CONTRACT_FLAGS, OPT, _L1_RESERVE, _STACKS, _platform,
                            kernel_dir as _mm_dir, read_floats, run_driver)
from ..sim.platform import Platform
from ..sim.result import Result

__all__ = ["LAYERS", "LayerResult", "layer_dir", "run_layer", "build_layer", "golden", "plan"]

#: layer -> step -> (input names, output names)
LAYERS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "linear": {"fw": (("x", "W"), ("y",)), "wg": (("x", "dy"), ("dW",)), "ig": (("W", "dy"), ("dx",))},
    "bias": {"fw": (("y", "b"), ("y",)), "wg": (("dy",), ("db",))},
    "pointwise": {"fw": (("x", "W"), ("y",)), "wg": (("x", "dy"), ("dW",)), "ig": (("W", "dy"), ("dx",))},
    "depthwise": {"fw": (("x", "W"), ("y",)), "wg": (("x", "dy"), ("dW",)), "ig": (("W", "dy"), ("dx",))},
    "conv2d": {"fw": (("x", "W"), ("y",)), "wg": (("x", "dy"), ("dW",)), "ig": (("W", "dy"), ("dx",))},
    "relu": {"fw": (("x",), ("y",)), "bw": (("x", "dy"), ("dx",))},
    "avgpool": {"fw": (("x",), ("y",)), "bw": (("dy",), ("dx",))},
    "softmax_ce": {"fw": (("z",), ("probs", "loss")), "bw": (("z",), ("dz",))},
    "sgd": {"step": (("w", "g", "v"), ("w", "v"))},
    "accumulate": {"step": (("acc", "g"), ("acc",))},
}

#: Parameters accepted per layer (and their defaults).
PARAMS = {
    "depthwise": {"stride": 1, "in_hw": None},
    "conv2d": {"stride": 1, "in_hw": None},
    "avgpool": {"in_shape": None, "k": None},
    "softmax_ce": {"label": None, "batch": 1},
    "sgd": {"lr": None, "momentum": 0.0, "weight_decay": 0.0},
}


def layer_dir() -> Path:
    """Directory of the layer kernel sources (layers.h and one .c per layer family)."""
    return Path(__file__).resolve().parents[2] / "kernels" / "layers"


def layer_sources() -> list[Path]:
    return sorted(layer_dir().glob("*.c"))


@dataclass
class Plan:
    """How one step maps to the kernel's ``struct ly_args`` (see kernels/layers/layers.h)."""

    name: str
    step: str
    ins: dict[str, np.ndarray]              #: slot (in0..in3) -> float32 contiguous data
    outs: dict[str, tuple[str, tuple]]      #: slot (out0, out1) -> (output name, shape)
    tmps: dict[str, int]                    #: slot (tmp0, tmp1) -> floats
    dims: dict[str, int]                    #: C H W K Ho Wo stride n label
    fparams: dict[str, float]               #: lr momentum wd
    macs: int = 0

    def nbytes(self) -> int:
        n = sum(a.size for a in self.ins.values()) + sum(int(np.prod(s)) for _, s in self.outs.values())
        return 4 * (n + sum(self.tmps.values()))


@dataclass
class LayerResult:
    """Outcome of :func:`run_layer`."""

    outputs: dict[str, np.ndarray]
    cycles: int                         #: core 0's pi_perf region around the step (forks and joins included)
    macs: int                           #: multiply-accumulates of the step (0 for non-MAC layers)
    stalls: list[dict[str, int]]        #: per core: stall cycles by cause (whole run)
    bank_conflicts: int                 #: TCDM bank conflicts, all banks, whole run
    name: str = ""
    step: str = ""
    platform: str = ""
    cores: int = 0
    instructions: int = 0
    result: Result | None = field(default=None, repr=False)
    elf: Path | None = None

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0


# ------------------------------------------------------------------------------ checks

def _err(name, step, msg):
    return ConfigError(f"layer {name}/{step}: {msg}")


def _arr(x, what, name, step, ndim=None) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001
        raise _err(name, step, f"{what} is not an array: {e}") from None
    if a.dtype.kind not in "fiub":
        raise _err(name, step, f"{what} must be numeric, got dtype {a.dtype}")
    if ndim is not None and a.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise _err(name, step, f"{what} must have {ndim} dimensions, got shape {a.shape}")
    if a.size == 0 or 0 in a.shape:
        raise _err(name, step, f"{what} is empty (shape {a.shape})")
    if a.dtype.kind == "f" and a.dtype.itemsize > 4:
        with np.errstate(over="ignore"):
            c = a.astype(np.float32)
        if not np.array_equal(np.isfinite(c), np.isfinite(a)):
            raise _err(name, step, f"{what} has values out of float32 range")
        a = c
    return np.ascontiguousarray(a, dtype="<f4")


def _int(v, what, name, step, lo=1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise _err(name, step, f"{what} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _out_hw(H, W, s):
    return (H + 2 - 3) // s + 1, (W + 2 - 3) // s + 1


def _same(a, b, what, name, step):
    if a != b:
        raise _err(name, step, f"{what}: {a} != {b}")


def plan(name: str, step: str, inputs: dict, **params) -> Plan:
    """Check the inputs and parameters of a step and map them to the kernel's arguments."""
    if name not in LAYERS:
        raise ConfigError(f"unknown layer {name!r}; expected one of {', '.join(LAYERS)}")
    if step not in LAYERS[name]:
        raise ConfigError(f"layer {name!r} has no step {step!r}; expected one of {', '.join(LAYERS[name])}")
    names_in, _ = LAYERS[name][step]
    if not isinstance(inputs, dict):
        raise _err(name, step, f"inputs must be a dict of {', '.join(names_in)}")
    missing = [k for k in names_in if k not in inputs]
    extra = [k for k in inputs if k not in names_in]
    if missing or extra:
        raise _err(name, step, f"expected inputs {', '.join(names_in)}"
                   + (f"; missing {', '.join(missing)}" if missing else "")
                   + (f"; unexpected {', '.join(extra)}" if extra else ""))
    allowed = PARAMS.get(name, {})
    bad = [k for k in params if k not in allowed]
    if bad:
        raise _err(name, step, f"unknown parameter(s) {', '.join(bad)}"
                   + (f"; accepted: {', '.join(allowed)}" if allowed else ""))
    p = {**allowed, **params}
    dims = dict(C=1, H=1, W=1, K=1, Ho=1, Wo=1, stride=1, n=1, label=0)
    fp = dict(lr=0.0, momentum=0.0, wd=0.0)
    ins, outs, tmps, macs = {}, {}, {}, 0
    A = lambda k, nd=None: _arr(inputs[k], k, name, step, nd)  # noqa: E731

    if name == "linear":
        if step == "fw":
            x, W = A("x", 1), A("W", 2)
            _same(W.shape[1], x.shape[0], "W columns vs x length", name, step)
            ins = {"in0": x, "in1": W}
        elif step == "wg":
            x, dy = A("x", 1), A("dy", 1)
            W = np.empty((dy.shape[0], x.shape[0]))
            ins = {"in0": x, "in2": dy}
        else:
            W, dy = A("W", 2), A("dy", 1)
            _same(W.shape[0], dy.shape[0], "W rows vs dy length", name, step)
            ins = {"in1": W, "in2": dy}
        K, C = W.shape
        dims.update(K=K, C=C)
        outs = {"out0": (LAYERS[name][step][1][0], {"fw": (K,), "wg": (K, C), "ig": (C,)}[step])}
        macs = K * C
    elif name == "bias":
        if step == "fw":
            y, b = A("y", (1, 2, 3)), A("b", 1)
            _same(b.shape[0], y.shape[0], "b length vs y channels", name, step)
            ins = {"in0": y, "in1": b}
            outs = {"out0": ("y", y.shape)}
        else:
            y = A("dy", (1, 2, 3))
            ins = {"in2": y}
            outs = {"out0": ("db", (y.shape[0],))}
        dims.update(K=y.shape[0], n=y.size // y.shape[0])
    elif name == "pointwise":
        if step == "fw":
            x, W = A("x", 3), A("W", 2)
            _same(W.shape[1], x.shape[0], "W columns vs x channels", name, step)
            (C, H, Wd), K = x.shape, W.shape[0]
            ins = {"in0": x, "in1": W}
            outs = {"out0": ("y", (K, H, Wd))}
        elif step == "wg":
            x, dy = A("x", 3), A("dy", 3)
            _same(dy.shape[1:], x.shape[1:], "dy vs x spatial size", name, step)
            (C, H, Wd), K = x.shape, dy.shape[0]
            ins = {"in0": x, "in2": dy}
            outs = {"out0": ("dW", (K, C))}
            tmps = {"tmp0": C * H * Wd}
        else:
            W, dy = A("W", 2), A("dy", 3)
            _same(W.shape[0], dy.shape[0], "W rows vs dy channels", name, step)
            (K, C), (_, H, Wd) = W.shape, dy.shape
            ins = {"in1": W, "in2": dy}
            outs = {"out0": ("dx", (C, H, Wd))}
            tmps = {"tmp0": K * C}
        dims.update(C=C, H=H, W=Wd, K=K)
        macs = K * C * H * Wd
    elif name in ("depthwise", "conv2d"):
        s = p["stride"]
        if isinstance(s, bool) or s not in (1, 2):
            raise _err(name, step, f"stride must be 1 or 2, got {s!r}")
        wshape = 3 if name == "depthwise" else 4
        if step in ("fw", "wg"):
            if p["in_hw"] is not None:
                raise _err(name, step, "in_hw is only for the input gradient (ig)")
            x = A("x", 3)
            C, H, Wd = x.shape
            Ho, Wo = _out_hw(H, Wd, s)
            if step == "fw":
                W = A("W", wshape)
                K = C if name == "depthwise" else W.shape[0]
                exp = (C, 3, 3) if name == "depthwise" else (K, C, 3, 3)
                _same(W.shape, exp, "W shape", name, step)
                ins = {"in0": x, "in1": W}
                outs = {"out0": ("y", (K, Ho, Wo))}
            else:
                dy = A("dy", 3)
                K = dy.shape[0]
                if name == "depthwise":
                    _same(K, C, "dy channels vs x channels", name, step)
                _same(dy.shape[1:], (Ho, Wo), f"dy spatial size vs x at stride {s}", name, step)
                ins = {"in0": x, "in2": dy}
                outs = {"out0": ("dW", (C, 3, 3) if name == "depthwise" else (K, C, 3, 3))}
        else:
            W, dy = A("W", wshape), A("dy", 3)
            K, Ho, Wo = dy.shape
            if name == "depthwise":
                _same(W.shape, (K, 3, 3), "W shape vs dy channels", name, step)
                C = K
            else:
                if W.shape[2:] != (3, 3):
                    raise _err(name, step, f"W must be K x C x 3 x 3, got {W.shape}")
                _same(W.shape[0], K, "W output channels vs dy channels", name, step)
                C = W.shape[1]
            ih = p["in_hw"]
            if ih is None:
                H, Wd = s * Ho, s * Wo
            else:
                try:
                    H, Wd = (_int(v, "in_hw", name, step) for v in ih)
                except TypeError:
                    raise _err(name, step, f"in_hw must be (H, W), got {ih!r}") from None
            _same(_out_hw(H, Wd, s), (Ho, Wo), f"output size of in_hw {(H, Wd)} at stride {s} vs dy", name, step)
            ins = {"in1": W, "in2": dy}
            outs = {"out0": ("dx", (C, H, Wd))}
        dims.update(C=C, H=H, W=Wd, K=K, Ho=Ho, Wo=Wo, stride=s)
        if name == "conv2d":
            tmps = {"fw": {"tmp0": C * 9 * Ho * Wo}, "wg": {"tmp0": C * 9 * Ho * Wo},
                    "ig": {"tmp0": C * 9 * K, "tmp1": C * 9 * Ho * Wo}}[step]
            macs = K * C * 9 * Ho * Wo
        else:
            macs = C * 9 * Ho * Wo
    elif name == "relu":
        x = A("x")
        ins = {"in0": x}
        if step == "bw":
            dy = A("dy")
            _same(dy.shape, x.shape, "dy shape vs x shape", name, step)
            ins["in2"] = dy
        outs = {"out0": (LAYERS[name][step][1][0], x.shape)}
        dims.update(n=x.size)
    elif name == "avgpool":
        k = p["k"]
        if k is not None:
            k = _int(k, "k (window)", name, step)
        if step == "fw":
            if p["in_shape"] is not None:
                raise _err(name, step, "in_shape is only for bw")
            x = A("x", 3)
            C, H, Wd = x.shape
        else:
            ish = p["in_shape"]
            if ish is None or len(ish) != 3:
                raise _err(name, step, f"in_shape=(C, H, W) is required, got {ish!r}")
            C, H, Wd = (_int(v, "in_shape", name, step) for v in ish)
        if k is not None and (k > H or k > Wd):
            raise _err(name, step, f"window k={k} is larger than the input ({H}x{Wd})")
        Ho, Wo = (1, 1) if k is None else (H // k, Wd // k)
        if step == "fw":
            ins = {"in0": x}
            outs = {"out0": ("y", (C, Ho, Wo))}
        else:
            dy = A("dy", (1, 3))
            if dy.shape[0] != C or dy.size != C * Ho * Wo:
                raise _err(name, step, f"dy must be {C} x {Ho} x {Wo} (or {C} for a global pool), got {dy.shape}")
            ins = {"in2": dy}
            outs = {"out0": ("dx", (C, H, Wd))}
        # The kernel's window: stride = k (0: global, one H x W window).
        dims.update(C=C, H=H, W=Wd, Ho=Ho, Wo=Wo, stride=k or 0)
    elif name == "softmax_ce":
        z = A("z", 1)
        n = z.shape[0]
        lab = p["label"]
        if isinstance(lab, bool) or not isinstance(lab, (int, np.integer)) or not 0 <= lab < n:
            raise _err(name, step, f"label must be an integer in 0..{n - 1}, got {lab!r}")
        batch = p["batch"]
        if step == "fw" and batch != 1:
            raise _err(name, step, "batch (the divisor of the mini-batch mean) is only for the gradient (bw)")
        batch = _int(batch, "batch", name, step)
        ins = {"in0": z}
        outs = {"out0": ("probs", (n,)), "out1": ("loss", ())} if step == "fw" else {"out0": ("dz", (n,))}
        tmps = {"tmp0": 8}   # per-core maxima (up to 8 cores; checked against the platform in run_layer)
        dims.update(n=n, label=int(lab), K=batch)
    elif name == "sgd":
        w, g, v = A("w"), A("g"), A("v")
        _same(g.shape, w.shape, "g shape vs w shape", name, step)
        _same(v.shape, w.shape, "v shape vs w shape", name, step)
        if p["lr"] is None:
            raise _err(name, step, "lr is required")
        for k in ("lr", "momentum", "weight_decay"):
            if isinstance(p[k], bool) or not isinstance(p[k], (int, float, np.floating, np.integer)):
                raise _err(name, step, f"{k} must be a number, got {p[k]!r}")
            if not np.isfinite(np.float32(p[k])):
                raise _err(name, step, f"{k} must be finite in float32, got {p[k]!r}")
        ins = {"in0": w, "in1": g, "in3": v}
        outs = {"out0": ("w", w.shape), "out1": ("v", w.shape)}
        dims.update(n=w.size)
        fp = dict(lr=float(np.float32(p["lr"])), momentum=float(np.float32(p["momentum"])),
                  wd=float(np.float32(p["weight_decay"])))
    elif name == "accumulate":
        acc, g = A("acc"), A("g")
        _same(g.shape, acc.shape, "g shape vs acc shape", name, step)
        ins = {"in0": acc, "in1": g}
        outs = {"out0": ("acc", acc.shape)}
        dims.update(n=acc.size)
    return Plan(name, step, ins, outs, tmps, dims, fp, macs)


# ------------------------------------------------------------------------------ golden

def golden(name: str, step: str, inputs: dict, **params) -> dict[str, np.ndarray]:
    """The numpy reference of one step (pulpsim.golden), with the output names of :data:`LAYERS`."""
    pl = plan(name, step, inputs, **params)   # same checks as run_layer
    i = {k: np.asarray(v, np.float32) for k, v in inputs.items()}
    p = {**PARAMS.get(name, {}), **params}
    if name == "linear":
        r = {"fw": lambda: _g.linear_fw(i["x"], i["W"]), "wg": lambda: _g.linear_wg(i["x"], i["dy"]),
             "ig": lambda: _g.linear_ig(i["W"], i["dy"])}[step]()
    elif name == "bias":
        r = _g.bias_add(i["y"], i["b"]) if step == "fw" else _g.bias_grad(i["dy"])
    elif name == "pointwise":
        r = {"fw": lambda: _g.pointwise_fw(i["x"], i["W"]), "wg": lambda: _g.pointwise_wg(i["x"], i["dy"]),
             "ig": lambda: _g.pointwise_ig(i["W"], i["dy"])}[step]()
    elif name in ("depthwise", "conv2d"):
        f = getattr(_g, f"{name}_{step}")
        s = p["stride"]
        if step == "fw":
            r = f(i["x"], i["W"], s)
        elif step == "wg":
            r = f(i["x"], i["dy"], s)
        else:
            r = f(i["W"], i["dy"], s, in_hw=(pl.dims["H"], pl.dims["W"]))
    elif name == "relu":
        r = _g.relu_fw(i["x"]) if step == "fw" else _g.relu_bw(i["x"], i["dy"])
    elif name == "avgpool":
        if step == "fw":
            r = _g.avgpool_fw(i["x"], p["k"])
        else:
            dy = i["dy"].reshape(-1) if p["k"] is None else i["dy"].reshape(pl.outs["out0"][1][0], pl.dims["Ho"],
                                                                              pl.dims["Wo"])
            r = _g.avgpool_bw(dy, p["in_shape"], p["k"])
    elif name == "softmax_ce":
        if step == "fw":
            return {"probs": _g.softmax(i["z"]), "loss": np.float32(_g.cross_entropy(i["z"], p["label"]))}
        dz = _g.softmax_ce_grad(i["z"], p["label"])
        return {"dz": dz / np.float32(p["batch"]) if p["batch"] != 1 else dz}
    elif name == "accumulate":
        return {"acc": i["acc"] + i["g"]}
    else:
        w, v = _g.sgd_momentum(i["w"], i["g"], i["v"], p["lr"], p["momentum"], p["weight_decay"])
        return {"w": w, "v": v}
    return {LAYERS[name][step][1][0]: np.asarray(r, np.float32)}


# ------------------------------------------------------------------------------ build and run

_DRIVER = r"""
#include "pmsis.h"
#include "layers.h"

{DECLS}
PI_L1 struct ly_args args = {{
{INIT}
}};

int main(void)
{{
    pi_perf_stop();
    pi_perf_conf(1 << PI_PERF_CYCLES);
    pi_perf_reset();
    pi_perf_start();
    ly_{NAME}_{STEP}(&args);
    pi_perf_stop();
    return 0;
}}
"""

#: TCDM bytes kept for the driver's struct ly_args (about 84 bytes).
_ARGS_BYTES = 128

_SLOTS = ("in0", "in1", "in2", "in3", "out0", "out1", "tmp0", "tmp1")


def _sizes(pl: Plan) -> dict[str, int]:
    s = {k: a.size for k, a in pl.ins.items()}
    s.update({k: max(1, int(np.prod(shape))) for k, (_, shape) in pl.outs.items()})
    s.update(pl.tmps)
    return s


def _layout(plat: Platform, pl: Plan) -> toolchain.Layout:
    base = toolchain.layout_for(plat)
    nbytes = pl.nbytes() + _ARGS_BYTES
    for stack in _STACKS:
        if nbytes <= plat.tcdm.size - base.num_cores * stack - _L1_RESERVE:
            return dataclasses.replace(base, stack_size_per_core=stack)
    avail = plat.tcdm.size - base.num_cores * _STACKS[-1] - _L1_RESERVE
    raise ConfigError(f"layer {pl.name}/{pl.step}: the tensors and arguments need {nbytes} bytes of TCDM but platform "
                      f"{plat.name!r} has {avail} bytes free ({plat.tcdm.size} minus {base.num_cores} stacks "
                      f"of {_STACKS[-1]} bytes); layers with tensors in L2 run tiled (pulpsim.tiled, `pulpsim tiling`)")


def _cores(cores, plat: Platform) -> int:
    if cores is None:
        return plat.cores
    if isinstance(cores, bool) or not isinstance(cores, (int, np.integer)) or not 1 <= cores <= plat.cores:
        raise ConfigError(f"layer: cores must be an integer between 1 and {plat.cores} "
                          f"(platform {plat.name!r}), got {cores!r}")
    return int(cores)


def _hexf(v: float) -> str:
    return float(v).hex() + "f" if v != 0 else "0.0f"


def build_layer(pl: Plan, platform="vega", cores: int | None = None, *, contract: bool = True) -> Path:
    """Build (or fetch from the cache) the driver ELF of one planned step."""
    plat = _platform(platform)
    cores = _cores(cores, plat)
    layout = _layout(plat, pl)
    sizes = _sizes(pl)
    if "tmp0" in sizes and pl.name == "softmax_ce":
        sizes["tmp0"] = max(sizes["tmp0"], plat.cores)   # per-core maxima
    decls = "\n".join(f"PI_L1 float b_{k}[{n}];" for k, n in sizes.items())
    init = [f"    .{k} = b_{k}," for k in _SLOTS if k in sizes]
    init += [f"    .{k} = {v}," for k, v in pl.dims.items()] + [f"    .cores = {cores},"]
    init += [f"    .{k} = {_hexf(v)}," for k, v in pl.fparams.items()]
    src = _DRIVER.format(DECLS=decls, INIT="\n".join(init), NAME=pl.name, STEP=pl.step)
    md = _mm_dir()
    driver = toolchain.source_file(src, ".c", f"ly_{pl.name}_{pl.step}")
    return toolchain.build([driver, *layer_sources(), md / "matmul.c", md / "mm_asm.S"], opt=OPT,
                           cflags=CONTRACT_FLAGS if contract else NO_CONTRACT_FLAGS,
                           include_dirs=[layer_dir(), md], layout=layout, pmsis=True)


def run_layer(name: str, step: str, inputs: dict, platform="vega", cores: int | None = 8, *,
              contract: bool = True, max_cycles: int | None = None, **params) -> LayerResult:
    """Run one training step of one layer on the simulated cluster.

    ``inputs`` maps the input names of ``LAYERS[name][step]`` to arrays (converted to float32);
    ``params``: ``stride``/``in_hw`` (depthwise, conv2d), ``in_shape`` (avgpool bw) and ``k`` (avgpool
    window and stride; None: global), ``label`` and ``batch``
    (softmax_ce; the gradient is divided by ``batch``, the mini-batch mean), ``lr``/``momentum``/``weight_decay`` (sgd).  ``contract=False`` builds with
    ``-ffp-contract=off`` (bit-exact with a host build of the same C).
    """
    pl = plan(name, step, inputs, **params)
    plat = _platform(platform)
    cores = _cores(cores, plat)
    elf = build_layer(pl, plat, cores, contract=contract)
    machine, syms, res = run_driver(elf, plat, {f"b_{k}": a for k, a in pl.ins.items()},
                                    what=f"layer {name}/{step}", max_cycles=max_cycles)
    outputs = {}
    for k, (oname, shape) in pl.outs.items():
        a = read_floats(machine, syms[f"b_{k}"], shape)
        outputs[oname] = a if shape else np.float32(a[0])
    region = next((r for r in res.regions if r.core == 0), None)
    if region is None:
        raise GuestError(f"layer {name}/{step} driver: no pi_perf region on core 0")
    return LayerResult(outputs=outputs, cycles=region.cycles, macs=pl.macs,
                       stalls=[dict(c.stalls) for c in res.cores],
                       bank_conflicts=sum(b["conflicts"] for b in res.banks), name=name, step=step,
                       platform=plat.name, cores=cores, instructions=region.instructions, result=res, elf=elf)
