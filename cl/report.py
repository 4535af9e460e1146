"""The report of ``pulpsim cl run``: ``report.md``, PNG plots and ``results.json`` in one folder.

``report.md`` states the configuration, the test accuracy after the experiences of every method
(latent replay at the configured precision, the FP32 reference, naive fine-tuning, joint training),
the memory of the configuration (:func:`pulpsim.cl.memory.configuration_bytes`), the cost of each
learning event that ran on the simulator (the cost model's table, :mod:`pulpsim.cl.cost`), the check
of the simulator's numbers against the host's, and the wall times. ``results.json`` holds every
number (the protocol's :meth:`~pulpsim.cl.protocol.ProtocolResult.to_dict`, the simulator's event
records, the cost model's results). The plots (matplotlib, Agg backend, no display needed):
``accuracy.png`` (accuracy per experience, per method), ``memory.png`` (bytes by part) and, when an
event was simulated, ``cost.png`` (cycles per adaptive layer and training step).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

#: Methods in the order the report shows them, with the label of each.
LABELS = {"replay": "latent replay", "replay-fp32": "latent replay, FP32 reference", "naive": "naive fine-tuning",
          "joint": "joint training (upper bound)"}


@dataclass
class RunReport:
    """What a run produced: ``config`` (:meth:`pulpsim.cl.cli.RunPlan.config`), the protocol's
    ``result``, the network's ``layers``, the deployed LR memory's bytes ``lr_memory``
    (``{"lrs", "labels", "total"}``), the simulator's event ``records`` (objects or their
    ``to_dict()``), the ``platform``, the wall ``timings`` in seconds and the ``pretrain`` summary."""

    config: dict
    result: object
    layers: tuple
    lr_memory: dict
    records: list
    platform: object
    timings: dict
    pretrain: dict
    resumed: bool = False
    costs: list = field(default_factory=list)        # cost model results (dicts), filled by collect_costs
    cost_tables: list = field(default_factory=list)  # their Markdown tables

    def record_dicts(self) -> list:
        return [r if isinstance(r, dict) else r.to_dict() for r in self.records]


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

def _pct(a) -> str:
    return "" if a is None else f"{100 * a:.1f} %"


def shown_experiences(n: int, k: int = 5) -> list[int]:
    """About ``k`` evenly spaced experience indices from 0 to ``n - 1``, both included."""
    if n <= k + 1:
        return list(range(n))
    return sorted({round(j * (n - 1) / k) for j in range(k + 1)})


def _final(acc: list):
    vals = [a for a in acc if a is not None]
    return vals[-1] if vals else None


def accuracy_table(result) -> str:
    """Markdown: one row per method, the accuracy after some experiences and at the end."""
    n = len(result.experience_sizes)
    cols = shown_experiences(n)
    head = ["method"] + [f"exp {i}" for i in cols[:-1]] + [f"exp {cols[-1]} (end)", "wall time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in [m for m in LABELS if m in result.methods]:
        m = result.methods[name]
        cells = [LABELS[name]] + [_pct(m.accuracy[i]) for i in cols[:-1]] + [f"**{_pct(_final(m.accuracy))}**",
                                                                             f"{m.seconds:.1f} s"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_rows(rep: RunReport) -> list[tuple[str, int]]:
    """``(part, bytes)`` of the configuration on the device."""
    from . import memory
    cfg = rep.result.config
    full = memory.configuration_bytes(rep.layers, cfg.lr_index, cfg.capacity, cfg.precision)
    return [("LRs", full["lrs"]), ("labels", full["labels"]), ("int8 frozen stage", full["frozen_weights"]),
            ("FP32 adaptive stage", full["adaptive_weights"]), ("SGD momentum", full["momentum"]),
            ("total", full["total"])]


def _bytes(n: int) -> str:
    return f"{n:,} B ({n / 1e6:.3f} MB)" if n >= 10_000 else f"{n:,} B"


# --------------------------------------------------------------------------------------------
# Simulated learning events
# --------------------------------------------------------------------------------------------

def collect_costs(rep: RunReport) -> None:
    """Fill ``rep.costs`` and ``rep.cost_tables`` with the cost model's :func:`~pulpsim.cl.cost.event_cost`
    of every simulated event (nothing when no event ran on the simulator): its rows as measured, the
    L3 traffic of its replayed LRs at the deployed precision, the frozen stage's int8 forward (exact
    MACs) and the LR dequantization as not measured."""
    from .cli import _optional
    cost = _optional("cost")
    if cost is None or not rep.records:
        return
    from . import memory, model
    cfg = rep.result.config
    frozen, _ = model.split(rep.layers, cfg.lr_index)
    kw = {"lr_bytes_per_sample": memory.lr_bytes(rep.layers[cfg.lr_index].out_elems, cfg.precision),
          "label_bytes": memory.label_bytes(rep.result.n_classes),
          "frozen_macs_per_sample": model.total_macs(frozen), "layers": rep.layers}
    for r in rep.records:
        c = cost.event_cost(r, rep.platform, **kw)
        rep.costs.append(c.to_dict())
        rep.cost_tables.append(c.table())


def cost_summary_table(records: list[dict], costs: list[dict]) -> str:
    """Markdown: one row per simulated event. Cycles, stalls (all cores, every cause), bank conflicts
    and DMA are the simulator's record of the event; MAC/cycle, the L3 traffic (modelled), the time at
    the clock, the energy and the lifetime are the cost model's."""
    head = ["experience", "iteration", "new + replayed", "cycles", "MAC/cycle", "stall cycles", "bank conflicts",
            "DMA busy / wait", "L3 bytes", "time (ms)", "energy (mJ)", "lifetime (h)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r, c in zip(records, costs):
        t, ev = c["totals"], r.get("event") or {}
        busy = (r.get("dma") or {}).get("busy_cycles", 0)
        lines.append("| " + " | ".join([
            str(ev.get("experience", "")), str(ev.get("iteration", "")), f"{r['n_new']} + {r['n_replay']}",
            f"{r['cycles']:,}", f"{t['mac_per_cycle']:.2f}", f"{sum(r['stalls'].values()):,}",
            f"{r['bank_conflicts']:,}", f"{busy:,} / {r['dma_wait_cycles']:,}", f"{c['l3']['bytes']:,}",
            f"{t['time_s'] * 1e3:,.2f}", "n/a" if t["energy_j"] is None else f"{t['energy_j'] * 1e3:,.3f}",
            f"{t['lifetime_h']:,.0f}"]) + " |")
    return "\n".join(lines)


def _numerics(records: list[dict]) -> list[str]:
    """One line per simulated event: the largest ratio of ``|sim - host|`` to its bound."""
    lines = []
    for r in records:
        ev, chk = r.get("event") or {}, r.get("numerics")
        where = f"experience {ev.get('experience', '?')}, iteration {ev.get('iteration', '?')}"
        if not chk:
            lines.append(f"- {where}: not checked")
            continue
        lines.append(f"- {where}: worst |sim - host| / bound = {chk['worst']:.3g} over {len(chk['ratios'])} "
                     f"tensors (gamma = {chk['gamma']:.3g}, chains of {chk['chain']} terms); SGD step bit-exact")
    return lines


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_accuracy(result, path: Path) -> Path:
    """Test accuracy after every experience, one line per method (joint training where retrained)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in [m for m in LABELS if m in result.methods]:
        acc = result.methods[name].accuracy
        xs = [i for i, a in enumerate(acc) if a is not None]
        ys = [100 * acc[i] for i in xs]
        style = {"marker": "o", "linestyle": "--"} if name == "joint" else {"marker": "." if len(xs) < 40 else None}
        ax.plot(xs, ys, label=LABELS[name], **style)
    ax.set_xlabel("experience")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    cfg = result.config
    ax.set_title(f"LR layer {cfg.lr_index}, {cfg.capacity} LRs")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_memory(rows: list[tuple[str, int]], path: Path) -> Path:
    """Bytes of each part of the configuration (horizontal bars, MB)."""
    plt = _pyplot()
    parts = [(k, v) for k, v in rows if k != "total"]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh([k for k, _ in parts][::-1], [v / 1e6 for _, v in parts][::-1], color="tab:blue")
    ax.set_xlabel("MB (10^6 bytes)")
    ax.set_title(f"memory of the configuration: {dict(rows)['total'] / 1e6:.3f} MB")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


#: The plot's groups of training steps, in stacking order.
STEP_GROUPS = ("forward", "loss and its gradient", "input gradient", "weight gradient", "gradient accumulation",
               "SGD update", "other")
_BY_FIRST_WORD = {"sgd": "SGD update", "accumulate": "gradient accumulation", "loss": "loss and its gradient"}
_BY_LAST_WORD = {"fw": "forward", "wg": "weight gradient", "ig": "input gradient", "bw": "input gradient"}


def step_group(step: str) -> str:
    """The group of a row's step name: ``"fw"``, ``"relu fw"`` -> forward; ``"bias wg"`` -> weight
    gradient; ``"relu bw"``, ``"ig"`` -> input gradient; ``"accumulate W"``, ``"sgd b"``, ``"loss bw"``."""
    words = step.split() or [""]
    return _BY_FIRST_WORD.get(words[0]) or _BY_LAST_WORD.get(words[-1], "other")


def cost_breakdown(record: dict) -> dict:
    """``{layer label: {step group: cycles}}`` of one simulated event's rows, layers in order."""
    out: dict = {}
    for row in sorted(record.get("rows", []), key=lambda r: r.get("index", 0)):
        label = f"{row.get('index')} {row.get('kind', '')}".strip()
        group = step_group(str(row.get("step", "")))
        out.setdefault(label, {})
        out[label][group] = out[label].get(group, 0) + int(row.get("cycles", 0))
    return out


def plot_cost(record: dict, path: Path) -> Path | None:
    """Stacked bars: simulated cycles per adaptive layer, split by training step, of one event."""
    table = cost_breakdown(record)
    if not table:
        return None
    plt = _pyplot()
    groups = [g for g in STEP_GROUPS if any(g in v for v in table.values())]
    labels = list(table)
    fig, ax = plt.subplots(figsize=(max(7, 0.6 * len(labels) + 4), 4))
    bottom = [0] * len(labels)
    colors = plt.get_cmap("tab10")
    for k, g in enumerate(groups):
        vals = [table[l].get(g, 0) / 1e6 for l in labels]
        ax.bar(labels, vals, bottom=bottom, label=g, color=colors(k))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xlabel("adaptive layer (index, kind)")
    ax.set_ylabel("cycles (millions)")
    ev = record.get("event") or {}
    ax.set_title(f"one learning event on the simulator, experience {ev.get('experience', '?')}: "
                 f"{record.get('n_new', '?')} new + {record.get('n_replay', '?')} replayed, "
                 f"{sum(int(r.get('cycles', 0)) for r in record.get('rows', [])) / 1e6:,.1f} M cycles", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def _config_lines(rep: RunReport) -> list[str]:
    c, p = rep.config, rep.config["protocol"]
    pre = rep.config["pretrain"]
    lr = rep.layers[p["lr_index"]]
    shape = "x".join(str(v) for v in lr.out_shape)
    res = rep.result
    sizes = res.experience_sizes
    return [
        "| setting | value |", "|---|---|",
        f"| data | `{c['data']}`: {len(sizes)} experiences ({sizes[0]} samples, then {min(sizes[1:], default=0)} "
        f"to {max(sizes[1:], default=0)}), {res.n_classes} classes |",
        f"| network | MobileNet-V1, width {pre['width']}, {pre['data']['resolution']}x{pre['data']['resolution']} |",
        f"| LR layer | {p['lr_index']} ({lr.name}), LR {shape} |",
        f"| LR memory | {p['capacity']} LRs, {p['precision']} |",
        f"| training | mini-batch {p['mb_size']}, epochs {p['epochs_first']} (first) / {p['epochs_inc']}, "
        f"lr {p['lr_first']} / {p['lr_inc']}, momentum {p['momentum']}, weight decay {p['weight_decay']} |",
        f"| seed | {p['seed']} |",
        f"| simulator | `--sim {c['sim']}` on `{c['platform']}`"
        + (f" with {', '.join(f'{k}={v}' for k, v in c['platform_overrides'].items())}" if c["platform_overrides"]
           else "") + " |",
    ]


def _sim_lines(rep: RunReport, records: list[dict]) -> list[str]:
    if not records:
        return ["No learning event ran on the simulator (`--sim none`): every step ran on the host."]
    lines = [f"{len(records)} learning event(s) ran on the simulated cluster (every sample of the mini-batch: "
             "forward, loss gradient, backward, gradient accumulation, SGD update); the weights after them are "
             "the simulator's."]
    if rep.costs:
        lines += ["", "Cost per simulated learning event (`pulpsim.cl.cost.event_cost`; cluster measured, L3 "
                  "transfers of the replayed LRs modelled, the int8 frozen stage not measured and not included):",
                  "", cost_summary_table(records, rep.costs), "",
                  "By layer and step, the first simulated event:", "", rep.cost_tables[0]]
    return lines


def markdown(rep: RunReport) -> str:
    """The text of ``report.md``."""
    res, records = rep.result, rep.record_dicts()
    rows = memory_rows(rep)
    l3 = getattr(rep.platform, "l3", None)
    out = ["# Continual learning with quantized latent replays", "",
           "Written by `pulpsim cl run`" + (" (resumed from a checkpoint)" if rep.resumed else "") + ".", "",
           "## Configuration", "", *_config_lines(rep), "",
           "## Test accuracy", "", accuracy_table(res), ""]
    if "replay" in res.methods and "naive" in res.methods:
        gap = _final(res.methods["replay"].accuracy) - _final(res.methods["naive"].accuracy)
        out += [f"Latent replay ends {100 * abs(gap):.1f} points {'above' if gap >= 0 else 'below'} naive "
                "fine-tuning.", ""]
    out += ["![accuracy per experience](accuracy.png)", "", "## Memory", "",
            "| part | bytes |", "|---|---|", *[f"| {k} | {_bytes(v)} |" for k, v in rows], ""]
    if l3 is not None:
        out += [f"The LR memory ({_bytes(rep.lr_memory['total'])} with labels) is held in L3: "
                f"`l3.size` = {l3.size:,} B.", ""]
    out += ["![memory](memory.png)", "", "## Learning events on the simulator", "", *_sim_lines(rep, records), ""]
    if records:
        out += ["![cycles per layer and step](cost.png)", "", "## Numerics check", "",
                "Each simulated event against the host's numpy path from the same weights and mini-batch: "
                "pre-activations and logits within 2 gamma M, gradients within 6 gamma G (M, G: the same "
                "event on absolute values; gamma = (N + 2) eps32 for chains of N terms), the SGD step bit-exact "
                "(docs/cl.md, \"What runs where\"):", "", *_numerics(records), ""]
    t = rep.timings
    out += ["## Wall time", "", "| part | seconds |", "|---|---|",
            f"| data | {t.get('data', 0):.1f} |",
            f"| pretraining | {t.get('pretraining', 0):.1f}" + (" (from the cache)" if rep.pretrain.get("cached") else "")
            + " |",
            *[f"| {name} | {m.seconds:.1f} |" for name, m in res.methods.items()],
            f"| total | {t.get('total', 0):.1f} |", ""]
    return "\n".join(out)


def results_dict(rep: RunReport) -> dict:
    """Every number of the run, JSON-safe."""
    return {"config": rep.config, "protocol": rep.result.to_dict(), "memory": dict(memory_rows(rep)),
            "lr_memory": rep.lr_memory, "records": rep.record_dicts(), "costs": rep.costs,
            "timings": rep.timings, "pretrain": rep.pretrain, "resumed": rep.resumed}


def json_safe(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if hasattr(o, "item"):    # numpy scalars
        return json_safe(o.item())
    return o


def write(rep: RunReport, out) -> dict:
    """Write ``report.md``, ``results.json`` and the plots into the folder ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    collect_costs(rep)
    paths = {"accuracy": plot_accuracy(rep.result, out / "accuracy.png"),
             "memory": plot_memory(memory_rows(rep), out / "memory.png")}
    records = rep.record_dicts()
    if records:
        paths["cost"] = plot_cost(records[0], out / "cost.png")
    paths["results"] = out / "results.json"
    paths["results"].write_text(json.dumps(json_safe(results_dict(rep)), indent=1) + "\n")
    paths["report"] = out / "report.md"
    paths["report"].write_text(markdown(rep))
    return paths


def summary(rep: RunReport) -> str:
    """A few lines for the terminal: the final accuracy of every method."""
    res = rep.result
    parts = [f"{name} {_pct(_final(m.accuracy))}" for name, m in res.methods.items()]
    return "final test accuracy: " + ", ".join(parts)
