"""Exact byte accounting of a continual-learning configuration: latent replays (LRs), their
labels and the weights of both stages.

Units: bytes, and MB = 10**6 bytes (the unit of the LR memory table of Ravaglia et al., where
3000 UINT8 LRs of conv5_6/dw, 512x4x4, take 24.6 MB).  Storage layouts counted here:

* an LR: FP32, 4 bytes a value; UINT-Q (Q = 1..8), its ``E`` values bit-packed into
  ``ceil(E * Q / 8)`` bytes (each LR packed on its own, so that a slot can be overwritten alone);
* a label: 1 byte (uint8) for up to 256 classes, else 2 (uint16);
* the int8 frozen stage: 1 byte a weight; per output channel an int32 bias, an int32
  requantization multiplier and a 1-byte shift; the pool one multiplier and one shift;
* the FP32 adaptive stage: 4 bytes a weight and a bias per convolution output channel (BatchNorm
  folded; the classifier has no bias); SGD's momentum as much again.
"""

from __future__ import annotations

from pulpsim.cl.model import CONV_KINDS, check_lr_layer, split
from pulpsim.errors import ConfigError

FP32 = "fp32"
MB = 10 ** 6
#: LR layers of the published memory table (the deep end of the network).
TABLE_LR_LAYERS = (13, 15, 17, 19, 21, 23, 25, 27)


def parse_precision(value) -> str | int:
    """``"fp32"`` or the number of bits Q (1..8) of a UINT-Q LR, from ``"fp32"``, ``8``, ``"7"``
    or ``"uint7"`` (case-insensitive).  Anything else is a :class:`ConfigError`."""
    text = str(value).strip().lower()
    if text in ("fp32", "float32"):
        return FP32
    if text.startswith("uint"):
        text = text[4:]
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 8:
        raise ConfigError(f"LR precision {value!r} out of range: fp32, or Q bits from 8 down to 1")
    return int(text)


def precision_name(precision) -> str:
    """``"FP32"`` or ``"UINT<Q>"``."""
    p = parse_precision(precision)
    return "FP32" if p == FP32 else f"UINT{p}"


def bits(precision) -> int:
    """Bits of one stored LR value."""
    p = parse_precision(precision)
    return 32 if p == FP32 else p


def lr_bytes(elems: int, precision) -> int:
    """Bytes of one stored LR of ``elems`` values: ``ceil(elems * bits / 8)``."""
    return -(-elems * bits(precision) // 8)


def label_bytes(num_classes: int) -> int:
    """Bytes of one stored label: 1 up to 256 classes, 2 up to 65536."""
    if num_classes <= 256:
        return 1
    if num_classes <= 65536:
        return 2
    raise ConfigError(f"at most 65536 classes, got {num_classes}")


def buffer_bytes(capacity: int, elems: int, precision, num_classes: int) -> dict:
    """``{"lrs", "labels", "total"}`` bytes of an LR memory of ``capacity`` slots."""
    lrs = capacity * lr_bytes(elems, precision)
    labels = capacity * label_bytes(num_classes)
    return {"lrs": lrs, "labels": labels, "total": lrs + labels}


def frozen_weight_bytes(frozen) -> int:
    """Bytes of the int8 frozen stage (weights, biases and requantization parameters)."""
    total = 0
    for l in frozen:
        if l.kind in CONV_KINDS:
            total += l.params + l.out_shape[0] * (4 + 4 + 1)
        elif l.kind == "pool":
            total += 4 + 1
        else:
            raise ConfigError(f"layer {l.index} ({l.kind}) cannot be in the frozen stage")
    return total


def adaptive_weight_bytes(adaptive) -> int:
    """Bytes of the FP32 adaptive stage's weights and biases."""
    return sum(4 * (l.params + (l.out_shape[0] if l.kind in CONV_KINDS else 0)) for l in adaptive)


def configuration_bytes(layers, lr_index: int, capacity: int, precision) -> dict:
    """Every byte of a configuration: LRs, labels, frozen and adaptive weights, momentum, total."""
    frozen, adaptive = split(layers, lr_index)
    buf = buffer_bytes(capacity, layers[lr_index].out_elems, precision, layers[-1].out_shape[0])
    out = {"lrs": buf["lrs"], "labels": buf["labels"], "frozen_weights": frozen_weight_bytes(frozen),
           "adaptive_weights": adaptive_weight_bytes(adaptive), "momentum": adaptive_weight_bytes(adaptive)}
    out["total"] = sum(out.values())
    return out


def memory_table(layers, lr_indices=TABLE_LR_LAYERS, sizes=(1500, 3000), precisions=(FP32, 8, 7)) -> list[dict]:
    """One row per LR layer: ``index``, ``name``, ``shape``, ``bytes_per_lr`` {precision name: bytes}
    and ``mb`` {(size, precision name): LR memory in MB, labels excluded} (the published table's
    columns)."""
    rows = []
    names = [precision_name(p) for p in precisions]
    for i in lr_indices:
        l = layers[check_lr_layer(layers, i)]
        per = {n: lr_bytes(l.out_elems, p) for n, p in zip(names, precisions)}
        rows.append({"index": i, "name": l.name, "shape": l.out_shape, "bytes_per_lr": per,
                     "mb": {(s, n): s * per[n] / MB for s in sizes for n in names}})
    return rows


def format_memory_table(rows) -> str:
    """The rows of :func:`memory_table` as a Markdown table, MB to one decimal."""
    names = list(rows[0]["bytes_per_lr"])
    sizes = sorted({s for s, _ in rows[0]["mb"]})
    head = ["LR idx", "LR layer", "LR shape", "bytes/LR " + " / ".join(names)]
    head += [f"{s} LRs: " + " / ".join(names) + " (MB)" for s in sizes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        shape = "x".join(str(v) for v in r["shape"]) if r["shape"][1:] != (1, 1) else str(r["shape"][0])
        cells = [str(r["index"]), r["name"], shape, " / ".join(f"{r['bytes_per_lr'][n]:,}" for n in names)]
        cells += [" / ".join(f"{r['mb'][(s, n)]:.1f}" for n in names) for s in sizes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
