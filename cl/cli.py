"""``pulpsim cl run | compare | cost``: continual learning with quantized latent replays from the shell.

``pulpsim cl run`` pretrains (or loads from the cache) the frozen stage, runs the protocol's methods
over the scenario's experiences, with the deployed method's learning events on the simulated cluster
as ``--sim`` selects, checkpoints after every experience, and writes the report
(:mod:`pulpsim.cl.report`). ``compare`` runs the precision and LR-layer sweeps
(:mod:`pulpsim.cl.compare`); ``cost`` the per-event cost of a configuration, or with ``--paper`` of the
published one (:mod:`pulpsim.cl.cost`). User errors are :class:`~pulpsim.errors.PulpsimError`: the
``pulpsim`` command prints them on one line and exits with their status.

This module imports only the standard library at load time: ``pulpsim --help`` stays fast, and
``pulpsim cl`` can pin the BLAS thread pools before numpy's first use (:mod:`pulpsim.blas`).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pulpsim.errors import ConfigError

#: The report's folder when ``--out`` is not given.
DEFAULT_OUT = "cl-out"
#: The checkpoint's file name in the report's folder.
CHECKPOINT = "checkpoint.npz"


# --------------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------------

def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run``, ``compare`` and ``cost``: the network, the LR memory, the platform."""
    p.add_argument("--lr-layer", type=int, default=None, metavar="I",
                   help="latent-replay layer index (a depthwise layer or the pool, 27; default 19)")
    p.add_argument("--lr-bits", default=None, metavar="Q|fp32",
                   help="precision of the stored LRs: fp32 or Q bits, 1..8 (default 8)")
    p.add_argument("--replays", type=_positive, default=None, metavar="M", help="LR memory capacity")
    p.add_argument("--width", type=float, default=None, metavar="A", help="MobileNet-V1 width multiplier")
    p.add_argument("--resolution", type=int, default=None, metavar="R",
                   help="input resolution in pixels, a multiple of 32")
    p.add_argument("--platform", default="vega", help="platform preset or TOML file (default vega)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a platform parameter (e.g. l3.size=33554432 for the LR memory's budget)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the protocol's draws (default 0)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="synthetic", metavar="synthetic|core50:DIR",
                   help="the built-in synthetic scenario (default) or CORe50's NICv2-391 from a folder")
    p.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                   help="methods to run: replay replay-fp32 naive joint (default: all)")
    p.add_argument("--experiences", type=_positive, default=None, metavar="N",
                   help="run only the first N experiences (a quick look)")


def add_parser(sub, parser_class) -> None:
    """Add ``cl`` and its subcommands to the ``pulpsim`` parser's subparsers ``sub``."""
    cl = sub.add_parser("cl", help="continual learning with quantized latent replays (run, compare, cost)")
    clsub = cl.add_subparsers(dest="cl_command", required=True, parser_class=parser_class)

    p = clsub.add_parser("run", help="run latent replay and its baselines, write the report")
    _add_model_options(p)
    _add_run_options(p)
    p.add_argument("--sim", default=None, metavar="MODE",
                   help="learning events on the simulator: all, none, sample:K (K per experience) or "
                        f"sample:K@E (in every E-th experience); default {default_sim()}")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"report folder (default {DEFAULT_OUT})")
    p.add_argument("--resume", action="store_true",
                   help=f"continue the interrupted run whose {CHECKPOINT} is in --out")
    p.set_defaults(func=cmd_run)

    p = clsub.add_parser("compare", help="precision and LR-layer sweeps: accuracy vs LR memory vs cycles")
    _add_model_options(p)
    _add_run_options(p)
    p.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S", help="seeds (default 0 1 2)")
    p.add_argument("--precisions", nargs="+", default=None, metavar="Q|fp32", help="LR precisions to compare")
    p.add_argument("--lr-layers", type=int, nargs="*", default=None, metavar="I",
                   help="LR layers of the LR-layer sweep (default 19 21 23 25 27; none: no LR-layer sweep)")
    p.add_argument("--no-cycles", action="store_true",
                   help="leave out the cycles per learning event (they take a simulation of the adaptive stage)")
    p.add_argument("--out", default=None, metavar="DIR", help="also write the table and JSON to this folder")
    p.set_defaults(func=cmd_compare)

    p = clsub.add_parser("cost", help="cost per learning event; --paper: the published configuration")
    _add_model_options(p)
    p.add_argument("--paper", action="store_true",
                   help="width 1.0, 128x128, LR layers 19..27, 1500 and 3000 LRs, mini-batch 128, random data")
    p.add_argument("--out", default=None, metavar="DIR", help="also write the tables and JSON to this folder")
    p.set_defaults(func=cmd_cost)


# --------------------------------------------------------------------------------------------
# Optional parts (imported when they exist)
# --------------------------------------------------------------------------------------------

def _optional(module: str):
    """``pulpsim.cl.<module>``, or None when this version does not have it."""
    import importlib
    try:
        return importlib.import_module(f"pulpsim.cl.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"pulpsim.cl.{module}":
            raise
        return None


def default_sim() -> str:
    """The default ``--sim``: one complete learning event per sampled experience (see docs/cl.md)."""
    return DEFAULT_SIM if _optional("onchip") is not None else "none"


#: The default ``--sim``: the first mini-batch of every 20th experience (the first and the last always)
#: on the simulated cluster. A simulated event of the default configuration takes about 70 s of CPU
#: time (docs/cl.md, "What runs where"): on the default data's 21 experiences this simulates two, the
#: first (128 new samples) and the last (new samples and LRs), and keeps the run within 10 minutes.
DEFAULT_SIM = "sample:1@20"


# --------------------------------------------------------------------------------------------
# The run's configuration
# --------------------------------------------------------------------------------------------

@dataclass
class RunPlan:
    """Everything ``pulpsim cl run`` does, validated before any long computation."""

    protocol: object            # ProtocolConfig
    pretrain: object            # PretrainConfig
    platform: object            # Platform
    sim_text: str
    sim_mode: object            # onchip.SimMode, or None for --sim none
    data: str
    experiences: int | None
    out: Path
    resume: bool
    overrides: dict = field(default_factory=dict)

    def config(self) -> dict:
        """The JSON-safe configuration: what a checkpoint must match to be resumed, and the report's
        first section."""
        from dataclasses import asdict
        from .memory import precision_name
        cfg = asdict(self.protocol)
        cfg["precision"] = precision_name(self.protocol.precision)
        cfg["methods"] = list(self.protocol.methods)
        pre = asdict(self.pretrain)
        return {"protocol": cfg, "pretrain": pre, "pretrain_key": self.pretrain.key(), "data": self.data,
                "experiences": self.experiences, "sim": self.sim_text, "platform": self.platform.name,
                "platform_overrides": {k: str(v) for k, v in sorted(self.overrides.items())}}


def synthetic_spec(resolution: int | None):
    """The synthetic data's spec at ``resolution`` (the data set of ``--data synthetic``, and the
    source of the pretraining images for every data set)."""
    from .synthetic import SyntheticSpec
    spec = SyntheticSpec()
    return spec if resolution is None else replace(spec, resolution=resolution)


def pretrain_config(width: float | None, spec):
    """The pretraining configuration for the network's ``width`` and the data ``spec``."""
    from .pretrain import PretrainConfig
    cfg = PretrainConfig(data=spec)
    return cfg if width is None else replace(cfg, width=width)


def _protocol_config(args):
    from .protocol import METHODS, ProtocolConfig
    kw = {"seed": args.seed}
    for opt, name in (("lr_layer", "lr_index"), ("replays", "capacity"), ("lr_bits", "precision")):
        if getattr(args, opt) is not None:
            kw[name] = getattr(args, opt)
    if getattr(args, "methods", None):
        bad = [m for m in args.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"--methods: unknown method {bad[0]!r}; choose among {', '.join(METHODS)}")
        kw["methods"] = tuple(dict.fromkeys(args.methods))
    return ProtocolConfig(**kw)


def _sim_mode(text: str):
    if text == "none":
        return None
    onchip = _optional("onchip")
    if onchip is None:
        raise ConfigError(f"--sim {text}: this version has no simulator backend; use --sim none")
    return onchip.parse_sim(text)


def check_memory_fits(protocol_cfg, layers, platform, n_classes: int) -> dict:
    """The deployed LR memory's bytes (:func:`pulpsim.cl.memory.buffer_bytes`: LRs at the configured
    precision and their labels); a :class:`ConfigError` when they exceed the platform's external
    memory ``l3.size``, which holds the LR memory on the device."""
    from . import memory
    lr = layers[protocol_cfg.lr_index]
    buf = memory.buffer_bytes(protocol_cfg.capacity, lr.out_elems, protocol_cfg.precision, n_classes)
    l3 = getattr(platform, "l3", None)
    if l3 is not None and buf["total"] > l3.size:
        per = memory.lr_bytes(lr.out_elems, protocol_cfg.precision) + memory.label_bytes(n_classes)
        raise ConfigError(f"--replays {protocol_cfg.capacity}: the LR memory needs {buf['total']:,} bytes "
                          f"({per:,} per LR and label, {memory.precision_name(protocol_cfg.precision)} at layer "
                          f"{protocol_cfg.lr_index}) but platform {platform.name!r} has l3.size = {l3.size:,}; "
                          f"at most {l3.size // per} fit")
    return buf


def plan_run(args) -> RunPlan:
    """Validate the options of ``pulpsim cl run`` (or ``compare``) with cheap checks only: nothing is
    trained or loaded."""
    from pulpsim.cli import _parse_sets
    from pulpsim.sim.platform import get_platform
    from . import model
    overrides = _parse_sets(args.set)
    platform = get_platform(args.platform, overrides)
    cfg = _protocol_config(args)
    pre = pretrain_config(args.width, synthetic_spec(args.resolution))
    layers = model.mobilenet_v1(pre.width, pre.resolution, 2)
    model.check_lr_layer(layers, cfg.lr_index)
    check_memory_fits(cfg, layers, platform, 2)
    sim_text = getattr(args, "sim", None) or (default_sim() if args.cl_command == "run" else "none")
    return RunPlan(cfg, pre, platform, sim_text, _sim_mode(sim_text), args.data, args.experiences,
                   Path(getattr(args, "out", None) or DEFAULT_OUT), getattr(args, "resume", False), overrides)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def first_experiences(scen, n: int | None, keep_all: bool = False):
    """The scenario cut to its first ``n`` experiences, with only their training samples (so that
    nothing is computed for the others) unless ``keep_all`` (every seed's scenario of a sweep must hold
    the same images); the test set is kept whole."""
    import numpy as np
    from .scenario import Scenario
    if n is None or n >= scen.n_experiences:
        return scen
    if keep_all:
        return replace(scen, experiences=scen.experiences[:n])
    keep = np.concatenate(scen.experiences[:n])
    bounds = np.cumsum([0] + [len(e) for e in scen.experiences[:n]])
    exps = tuple(np.arange(bounds[i], bounds[i + 1], dtype=np.int64) for i in range(n))

    def sub(a):
        return None if a is None else a[keep]
    return Scenario(scen.name, scen.x_train[keep], scen.y_train[keep], exps, scen.x_test, scen.y_test,
                    scen.n_classes, sub(scen.obj_train), sub(scen.session_train))


def open_scenario(plan: RunPlan, seed: int | None = None, keep_all: bool = False):
    """The run's scenario: ``--data`` at the pretraining's resolution (the synthetic stream ordered by
    ``seed``, default the protocol's), cut to ``--experiences`` (:func:`first_experiences`)."""
    from . import data
    seed = plan.protocol.seed if seed is None else seed
    scen = data.open_data(plan.data, resolution=plan.pretrain.resolution, seed=seed, spec=plan.pretrain.data)
    return first_experiences(scen, plan.experiences, keep_all)


# --------------------------------------------------------------------------------------------
# Progress bars
# --------------------------------------------------------------------------------------------

class Progress:
    """tqdm bars for a run: pretraining steps, the experiences of each method, the epochs of the
    current experience, and the simulated cycles. Bars are drawn only on a terminal (tqdm's
    ``disable=None``); :meth:`line` prints a plain summary line either way."""

    def __init__(self, cfg, pretrain_epochs: int, enabled=None):
        from tqdm import tqdm
        self._tqdm, self._cfg, self._pre_epochs = tqdm, cfg, pretrain_epochs
        self._disable = None if enabled is None else not enabled
        self._method = self._epoch = self._cycles = self._pre = None
        self._name = self._key = None
        self._last_epoch = -1

    def _bar(self, **kw):
        return self._tqdm(disable=self._disable, dynamic_ncols=True, **kw)

    def pretraining(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """The pretraining's hook, after every mini-batch."""
        if self._pre is None:
            self._pre = self._bar(total=steps * self._pre_epochs, desc="pretraining", unit="step")
        self._pre.update(1)
        self._pre.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}", refresh=False)

    def end_pretraining(self) -> None:
        if self._pre is not None:
            self._pre.close()
            self._pre = None

    def experience(self, name: str, i: int, n: int) -> None:
        """The protocol's hook, after experience ``i`` of method ``name``."""
        if name != self._name:
            self.close_method()
            self._method = self._bar(total=n, initial=i, desc=name, unit="exp")
            self._name = name
        self._method.update(1)

    def event(self, ev) -> None:
        """After a learning event: the epoch bar follows ``ev``'s experience and epoch."""
        if ev is None:
            return
        key = (ev.method, ev.experience)
        if key != self._key:
            if self._epoch is not None:
                self._epoch.close()
            first = ev.experience == 0 or ev.method == "joint"
            total = self._cfg.epochs_first if first else self._cfg.epochs_inc
            self._epoch = self._bar(total=total, desc=f"  experience {ev.experience} epoch", unit="ep", leave=False)
            self._key, self._last_epoch = key, -1
        if ev.epoch != self._last_epoch:
            self._epoch.update(ev.epoch - self._last_epoch)
            self._last_epoch = ev.epoch

    def cycles(self, total: int) -> None:
        """The simulator's hook: ``total`` simulated cycles so far."""
        if self._cycles is None:
            self._cycles = self._bar(desc="  simulated cycles", unit="cycle", unit_scale=True, leave=False)
        self._cycles.update(int(total) - self._cycles.n)

    def close_method(self) -> None:
        for bar in (self._epoch, self._method):
            if bar is not None:
                bar.close()
        self._epoch = self._method = None
        self._name = self._key = None

    def close(self) -> None:
        self.close_method()
        if self._cycles is not None:
            self._cycles.close()
            self._cycles = None

    @staticmethod
    def line(text: str) -> None:
        print(text, flush=True)


class ProgressBackend:
    """A training backend that reports every learning event to ``on_event`` after delegating it
    to ``inner`` (the host or the simulator); everything else is ``inner``'s."""

    def __init__(self, inner, on_event):
        self._inner, self._on_event = inner, on_event

    def train_step(self, state, x, y, lr, momentum, weight_decay, event=None):
        loss = self._inner.train_step(state, x, y, lr, momentum, weight_decay, event)
        self._on_event(event)
        return loss

    def __getattr__(self, name):
        return getattr(self._inner, name)


# --------------------------------------------------------------------------------------------
# pulpsim cl run
# --------------------------------------------------------------------------------------------

def _backend(plan: RunPlan, progress: Progress, n_experiences: int):
    """The host, or the simulator for the events ``--sim`` selects (on every core of the platform)."""
    from .protocol import HostBackend
    if plan.sim_mode is None:
        return HostBackend()
    from .onchip import SimBackend
    return SimBackend(platform=plan.platform, mode=plan.sim_mode, cores=plan.platform.cores,
                      progress=progress.cycles, n_experiences=n_experiences)


def _records(backend) -> list:
    """The simulator's records of the learning events so far (none on the host)."""
    return list(getattr(backend, "records", []) or [])


def _record_dict(r) -> dict:
    return r if isinstance(r, dict) else r.to_dict()


def cmd_run(args) -> int:
    from . import checkpoint as ckpt
    from . import model, pretrain, protocol, report

    t0 = time.perf_counter()
    plan = plan_run(args)
    ck_path = plan.out / CHECKPOINT
    if plan.resume:   # fail fast on a corrupt or foreign checkpoint, before pretraining
        ckpt.check_header(ck_path, plan.config())

    timings = {}
    t = time.perf_counter()
    scen = open_scenario(plan)
    layers = model.mobilenet_v1(plan.pretrain.width, plan.pretrain.resolution, scen.n_classes)
    lr_memory = check_memory_fits(plan.protocol, layers, plan.platform, scen.n_classes)
    timings["data"] = time.perf_counter() - t

    progress = Progress(plan.protocol, plan.pretrain.epochs)
    progress.line(f"pulpsim cl run: {scen.name}, {scen.n_experiences} experiences, {scen.n_classes} classes; "
                  f"width {plan.pretrain.width}, {plan.pretrain.resolution}x{plan.pretrain.resolution}, "
                  f"LR layer {plan.protocol.lr_index}, {plan.protocol.capacity} LRs; --sim {plan.sim_text}")
    t = time.perf_counter()
    cached = pretrain.cache_path(plan.pretrain).exists()
    pre = pretrain.pretrained(plan.pretrain, progress=progress.pretraining)
    progress.end_pretraining()
    timings["pretraining"] = time.perf_counter() - t

    init = protocol.initial_state(pre, plan.protocol.lr_index, scen.n_classes)
    digest = ckpt.fingerprint(scen, pre)
    config = plan.config()
    started, extra = {}, {}
    if plan.resume:
        started, extra = ckpt.load(ck_path, config, digest, init)
        done = sum(len(r.accuracy) for r in started.values())
        progress.line(f"resuming from {ck_path}: {done} method-experiences done")
    prior_records = list(extra.get("records", []))

    backend = _backend(plan, progress, scen.n_experiences)
    watched = ProgressBackend(backend, progress.event)

    def on_experience(res):
        started[res.name] = res
        records = prior_records + [_record_dict(r) for r in _records(backend)]
        ckpt.save(ck_path, config, digest, started, {"records": records, "timings": timings})

    def on_progress(name, i, n):
        progress.experience(name, i, n)

    t = time.perf_counter()
    try:
        result = protocol.run(plan.protocol, scen, pre, backend=watched, progress=on_progress,
                              resume=started, on_experience=on_experience)
    finally:
        progress.close()
    timings["protocol"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    records = prior_records + [_record_dict(r) for r in _records(backend)]
    rep = report.RunReport(config=config, result=result, layers=layers, lr_memory=lr_memory,
                           records=records, platform=plan.platform, timings=timings,
                           pretrain={"losses": pre.losses, "train_accuracy": pre.train_accuracy,
                                     "seconds": pre.seconds, "cached": cached},
                           resumed=plan.resume)
    paths = report.write(rep, plan.out)
    print(report.summary(rep))
    progress.line(f"report written to {paths['report']} ({timings['total']:.0f} s)")
    return 0


# --------------------------------------------------------------------------------------------
# pulpsim cl compare / cost
# --------------------------------------------------------------------------------------------

def cmd_compare(args) -> int:
    compare = _optional("compare")
    if compare is None:
        raise ConfigError("pulpsim cl compare: this version has no sweep (pulpsim.cl.compare)")
    from tqdm import tqdm
    from . import model, pretrain
    plan = plan_run(args)
    seeds = tuple(args.seeds) if args.seeds else (0, 1, 2)
    precisions = tuple(args.precisions) if args.precisions else compare.DEFAULT_PRECISIONS
    lr_layers = tuple(args.lr_layers) if args.lr_layers is not None else compare.DEFAULT_LR_LAYERS
    scenarios = {}

    def scenario_for(seed):
        if seed not in scenarios:
            scenarios[seed] = open_scenario(plan, seed, keep_all=True)
        return scenarios[seed]
    first = scenario_for(seeds[0])
    layers = model.mobilenet_v1(plan.pretrain.width, plan.pretrain.resolution, first.n_classes)
    for i in (plan.protocol.lr_index, *lr_layers):
        model.check_lr_layer(layers, i)
    progress = Progress(plan.protocol, plan.pretrain.epochs)
    pre = pretrain.pretrained(plan.pretrain, progress=progress.pretraining)
    progress.end_pretraining()
    bars = {}

    def on_run(done, total, label):
        bar = bars.setdefault("runs", tqdm(total=total, desc="runs", unit="run", disable=None, dynamic_ncols=True))
        bar.update(done - bar.n)
        bar.set_postfix_str(label, refresh=False)

    cost_fn = None
    if not args.no_cycles and _optional("cost") is not None:
        from .cost import EventCycles
        cost_fn = EventCycles(layers, platform=plan.platform, cores=plan.platform.cores)
    try:
        result = compare.run_compare(plan.protocol, scenario_for, pre, seeds=seeds, precisions=precisions,
                                     lr_layers=lr_layers, cost_fn=cost_fn, progress=on_run)
    finally:
        for bar in bars.values():
            bar.close()
    print(result.table())
    if args.out:
        _write_outputs(args.out, "compare", result.table(), result.to_dict())
    return 0


def _write_outputs(folder, name: str, text: str, data: dict) -> None:
    """``NAME.md`` and ``NAME.json`` in ``folder`` (created)."""
    import json
    from .report import json_safe
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text + "\n")
    (out / f"{name}.json").write_text(json.dumps(json_safe(data), indent=1) + "\n")
    print(f"written to {out / (name + '.md')} and {out / (name + '.json')}")


def cost_arguments(args) -> dict:
    """Keyword arguments of :func:`pulpsim.cl.cost.paper_cost` for ``pulpsim cl cost``: with ``--paper``
    the published configuration (width 1.0, 128x128, LR layers 19..27, 1500 and 3000 LRs), without it
    the configuration ``pulpsim cl run`` would use; the options given narrow either."""
    from pulpsim.cli import _parse_sets
    from .pretrain import PretrainConfig
    from .protocol import ProtocolConfig
    kw = {"platform": args.platform, "overrides": _parse_sets(args.set), "seed": args.seed}
    if not args.paper:
        pre, proto = PretrainConfig(), ProtocolConfig()
        kw.update(width=pre.width, resolution=pre.resolution, lr_layers=(proto.lr_index,), sizes=(proto.capacity,),
                  mb_size=proto.mb_size, precision=proto.precision, num_classes=pre.data.n_categories)
    for opt, name, wrap in (("width", "width", None), ("resolution", "resolution", None),
                            ("lr_layer", "lr_layers", tuple), ("replays", "sizes", tuple),
                            ("lr_bits", "precision", None)):
        v = getattr(args, opt)
        if v is not None:
            kw[name] = (v,) if wrap else v
    return kw


def cmd_cost(args) -> int:
    cost = _optional("cost")
    if cost is None:
        raise ConfigError("pulpsim cl cost: this version has no cost model (pulpsim.cl.cost)")
    from tqdm import tqdm
    bar = None

    def progress(done, total, spec):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="simulated steps", unit="step", disable=None, dynamic_ncols=True)
        bar.update(done - bar.n)
    try:
        result = cost.paper_cost(**cost_arguments(args), progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(result.text())
    if args.out:
        _write_outputs(args.out, "cost", result.text(), result.to_dict())
    return 0
