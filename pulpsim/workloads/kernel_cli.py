"""`pulpsim kernel LAYER ...`: run one training step of a layer kernel on seeded random data and check it.

Shapes (``--shape``) per layer, CHW activations (batch 1):

  linear IN OUT | bias C H W | pointwise C K H W | depthwise C H W | conv2d C K H W
  relu C H W | avgpool C H W | softmax_ce N | sgd N

The check compares with :mod:`pulpsim.golden` under a bound of (reduction length + 8) x eps32 x the golden
step applied to the absolute inputs (+ the smallest normal), which covers any summation order; steps without
a reduction use a reduction length of 1.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

SHAPE_ARGS = {
    "linear": ("IN", "OUT"), "bias": ("C", "H", "W"), "pointwise": ("C", "K", "H", "W"),
    "depthwise": ("C", "H", "W"), "conv2d": ("C", "K", "H", "W"), "relu": ("C", "H", "W"),
    "avgpool": ("C", "H", "W"), "softmax_ce": ("N",), "sgd": ("N",),
}
EPS = float(np.finfo(np.float32).eps)


def checked_dims(name: str, shape: list[int]) -> dict[str, int]:
    """The named shape values of a layer (SHAPE_ARGS), each checked >= 1."""
    names = SHAPE_ARGS[name]
    if len(shape) != len(names):
        raise ConfigError(f"{name}: --shape takes {len(names)} values ({' '.join(names)}), got {len(shape)}")
    dims = dict(zip(names, shape))
    for k, v in dims.items():
        if v < 1:
            raise ConfigError(f"{name}: {k} must be >= 1, got {v}")
    return dims


def random_inputs(name: str, step: str, dims: dict[str, int], stride: int, rng,
                  window: int | None = None) -> tuple[dict, dict, int]:
    """(inputs, params, reduction length) of one step on random data (``window``: avgpool's k, None global)."""
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    g = dims.get
    if name in ("depthwise", "conv2d"):
        C, K, H, W = g("C"), g("K", g("C")), g("H"), g("W")
        Ho, Wo = (H - 1) // stride + 1, (W - 1) // stride + 1
        wshape = (C, 3, 3) if name == "depthwise" else (K, C, 3, 3)
        x, Wt, dy = r(C, H, W), r(*wshape), r(K, Ho, Wo)
        params = {"stride": stride} | ({"in_hw": (H, W)} if step == "ig" else {})
        red = {"fw": 9 * (1 if name == "depthwise" else C), "wg": Ho * Wo,
               "ig": 9 * (1 if name == "depthwise" else K)}[step]
        return ({"fw": {"x": x, "W": Wt}, "wg": {"x": x, "dy": dy}, "ig": {"W": Wt, "dy": dy}}[step], params, red)
    if name == "linear":
        IN, OUT = g("IN"), g("OUT")
        x, Wt, dy = r(IN), r(OUT, IN), r(OUT)
        return ({"fw": {"x": x, "W": Wt}, "wg": {"x": x, "dy": dy}, "ig": {"W": Wt, "dy": dy}}[step], {},
                {"fw": IN, "wg": 1, "ig": OUT}[step])
    if name == "pointwise":
        C, K, H, W = g("C"), g("K"), g("H"), g("W")
        x, Wt, dy = r(C, H, W), r(K, C), r(K, H, W)
        return ({"fw": {"x": x, "W": Wt}, "wg": {"x": x, "dy": dy}, "ig": {"W": Wt, "dy": dy}}[step], {},
                {"fw": C, "wg": H * W, "ig": K}[step])
    if name == "bias":
        C, H, W = g("C"), g("H"), g("W")
        return ({"y": r(C, H, W), "b": r(C)} if step == "fw" else {"dy": r(C, H, W)}), {}, H * W
    if name == "relu":
        C, H, W = g("C"), g("H"), g("W")
        return ({"x": r(C, H, W)} if step == "fw" else {"x": r(C, H, W), "dy": r(C, H, W)}), {}, 1
    if name == "avgpool":
        C, H, W = g("C"), g("H"), g("W")
        k = {} if window is None else {"k": window}
        if window is not None and (window < 1 or window > min(H, W)):
            raise ConfigError(f"avgpool: --window must be between 1 and {min(H, W)}, got {window}")
        if step == "fw":
            return {"x": r(C, H, W)}, k, H * W if window is None else window * window
        dy = r(C, 1, 1) if window is None else r(C, H // window, W // window)
        return {"dy": dy}, {"in_shape": (C, H, W), **k}, 1
    if name == "softmax_ce":
        N = g("N")
        return {"z": r(N)}, {"label": int(rng.integers(0, N))}, N
    N = g("N")  # sgd
    return {"w": r(N), "g": r(N), "v": r(N)}, {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}, 1


def run(name: str, step: str | None, shape: list[int], *, platform: str, cores, stride: int, seed: int,
        window: int | None = None) -> str:
    """Run and check one layer step; returns the report. Raises PulpsimError on a wrong result."""
    res, dims, worst = checked_run(name, step, shape, platform=platform, cores=cores, stride=stride, seed=seed,
                                   window=window)
    lines = [f"kernel {res.name}/{res.step} shape {' '.join(f'{k}={v}' for k, v in dims.items())}"
             + (f" stride {stride}" if name in ("depthwise", "conv2d") else "")
             + (f" window {window}" if name == "avgpool" and window else "")
             + f" platform {res.platform} cores {res.cores} seed {seed}",
             f"cycles        {res.cycles}",
             f"MACs          {res.macs}" + (f"  ({res.mac_per_cycle:.3f} MAC/cycle)" if res.macs else ""),
             f"instructions  {res.instructions} (core 0)",
             f"bank conflicts {res.bank_conflicts}",
             "stalls per core (whole run):"]
    for c, st in enumerate(res.stalls):
        lines.append(f"  core {c}: " + (", ".join(f"{k} {v}" for k, v in sorted(st.items()) if v) or "none"))
    lines.append(f"check         ok (worst error / bound = {worst:.3f})")
    return "\n".join(lines)


def checked_run(name: str, step: str | None, shape: list[int], *, platform: str, cores, stride: int, seed: int,
                window: int | None = None):
    """Run one layer step on seeded random data and check it against the golden model.

    Returns ``(LayerResult, dims, worst error / bound)``; raises PulpsimError on a wrong result.
    """
    from . import layers
    from ..errors import PulpsimError
    if name not in layers.LAYERS:
        raise ConfigError(f"unknown kernel {name!r}; known kernels: matmul, {', '.join(layers.LAYERS)}")
    steps = list(layers.LAYERS[name])
    step = step or steps[0]
    if step not in steps:
        raise ConfigError(f"{name}: unknown step {step!r}; steps: {', '.join(steps)}")
    if stride not in (1, 2):
        raise ConfigError(f"--stride must be 1 or 2, got {stride}")
    dims = checked_dims(name, shape)
    inputs, params, red = random_inputs(name, step, dims, stride, np.random.default_rng(seed), window)
    res = layers.run_layer(name, step, inputs, platform=platform, cores=cores if cores else 8, **params)
    gold = layers.golden(name, step, inputs, **params)
    mags = layers.golden(name, step, {k: np.abs(v) for k, v in inputs.items()}, **params)
    worst = 0.0
    for k, gv in gold.items():
        o = np.asarray(res.outputs[k], np.float64)
        gv = np.asarray(gv, np.float64)
        bound = (red + 8) * EPS * (np.abs(np.asarray(mags[k], np.float64)) + np.abs(gv)) + np.finfo(np.float32).tiny
        if name == "softmax_ce" and k == "loss":
            bound = (red + 8) * EPS * (abs(float(gv)) + np.abs(inputs["z"]).max() + 1.0)
        err = np.abs(o - gv)
        worst = max(worst, float((err / bound).max()))
        if not np.all(err <= bound):
            raise PulpsimError(f"{name}/{step}: output {k} differs from the golden model beyond the bound "
                               f"(max error {float(err.max()):.3g})")
    return res, dims, worst
