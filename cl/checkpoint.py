"""Checkpoints of a continual-learning run, saved after every experience, and resuming from them.

A run's state between two experiences is, per method, its :class:`~pulpsim.cl.protocol.MethodResult`
(accuracies, losses, learning events and buffer census so far, and the adaptive weights, SGD
momentum, LR memory and slot origins it has reached): every random draw of the protocol comes from
a ``SeedSequence`` keyed by ``(seed, purpose, experience)``, so nothing else carries over from one
experience to the next. The caller may add a JSON-safe ``extra`` dict (the simulator's records of
the learning events so far).

The file is one ``.npz`` archive, read with ``allow_pickle=False``: the arrays, and an entry
``meta`` holding JSON (the run's configuration, a fingerprint of its data and pretrained weights,
the per-method lists, ``extra``). It is written to a temporary file in the same folder, flushed to
disk (``fsync``) and renamed over the old one (``os.replace``, atomic on POSIX), so an interrupted
write leaves the previous checkpoint intact.

A file that cannot be read, was written by another run configuration, or for other data or
weights is a :class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from pulpsim.errors import ConfigError

from . import nn
from .protocol import AdaptiveState, Event, MethodResult
from .replay import LatentReplayMemory

FORMAT = "pulpsim-cl-checkpoint"
VERSION = 1


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: unreadable, corrupt, or written for another run."""


# --------------------------------------------------------------------------------------------
# Fingerprint of what a run learns from
# --------------------------------------------------------------------------------------------

def _hash_arrays(h, arrays) -> None:
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())


def fingerprint(scen, pre) -> str:
    """Hex digest of a scenario's arrays (images, labels, experience order, test set) and of the
    pretrained network's parameters: two runs with the same digest learn from the same bytes."""
    h = hashlib.sha256()
    _hash_arrays(h, (scen.x_train, scen.y_train, scen.x_test, scen.y_test))
    _hash_arrays(h, scen.experiences)
    flat = nn.flatten_params(pre.params)
    for k in sorted(flat):
        h.update(k.encode())
        _hash_arrays(h, (flat[k],))
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _method_meta(res: MethodResult) -> dict:
    meta = res.to_dict()
    meta["memory"] = None
    if res.memory is not None:
        st = res.memory.state()
        meta["memory"] = {k: (list(v) if k == "lr_shape" else v) for k, v in st.items() if k not in ("data", "labels")}
    return meta


def _method_arrays(name: str, res: MethodResult) -> dict:
    arrays = {f"m.{name}.p.{k}": v for k, v in nn.flatten_params(res.state.params).items()}
    arrays.update({f"m.{name}.v.{k}": v for k, v in nn.flatten_params(res.state.velocity).items()})
    if res.memory is not None:
        st = res.memory.state()
        arrays[f"m.{name}.mem.data"] = st["data"]
        arrays[f"m.{name}.mem.labels"] = st["labels"]
        arrays[f"m.{name}.origin"] = res.origin
    return arrays


def atomic_savez(path, arrays: dict) -> None:
    """``numpy.savez`` to ``path`` atomically: a temporary file in the same folder, flushed to disk,
    then renamed over ``path`` (and the folder synced, so that the rename survives a crash)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:   # a platform without directory handles: the rename is still atomic
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save(path, config: dict, digest: str, results: dict, extra: dict | None = None) -> None:
    """Write a checkpoint: the run's ``config`` (JSON-safe), the data/weights ``digest``, the
    :class:`MethodResult` of every method started so far (``{name: result}``) and ``extra``."""
    meta = {"format": FORMAT, "version": VERSION, "config": config, "fingerprint": digest,
            "methods": {name: _method_meta(res) for name, res in results.items()}, "extra": extra or {}}
    arrays = {"meta": np.array(json.dumps(meta))}
    for name, res in results.items():
        arrays.update(_method_arrays(name, res))
    atomic_savez(path, arrays)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _differences(a, b, prefix="") -> list[str]:
    """Dotted keys at which two JSON-like dicts differ."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [prefix or "(value)"]
    out = []
    for k in sorted(set(a) | set(b)):
        out += _differences(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
    return out


def _read(path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except Exception as e:  # zipfile, OSError, ValueError, KeyError, JSON: all mean "not a usable file"
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a pulpsim continual-learning checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {meta.get('version')}, expected {VERSION}")
    return meta, arrays


def _state(name: str, arrays: dict, init: AdaptiveState, path) -> AdaptiveState:
    """The adaptive state of method ``name``, checked against the shapes of ``init``."""
    def group(tag):
        pre = f"m.{name}.{tag}."
        return nn.unflatten_params({k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)})
    params, velocity = group("p"), group("v")
    for i, p in init.params.items():
        for k, v in p.items():
            got = params.get(i, {}).get(k)
            if got is None or got.shape != v.shape or got.dtype != v.dtype:
                raise CheckpointError(f"checkpoint {path}: method {name}: weights {i}.{k} missing or of the wrong shape")
            vel = velocity.get(i, {}).get(k)
            if vel is not None and vel.shape != v.shape:
                raise CheckpointError(f"checkpoint {path}: method {name}: momentum {i}.{k} of the wrong shape")
    return AdaptiveState(init.layers, params, velocity)


def _method(name: str, meta: dict, arrays: dict, init: AdaptiveState, path) -> MethodResult:
    try:
        res = MethodResult(name, list(meta["accuracy"]), list(meta["loss"]),
                           [Event(**e) for e in meta["events"]], float(meta["seconds"]),
                           buffer=[{int(k): int(v) for k, v in b.items()} for b in meta["buffer"]])
        if len(res.loss) != len(res.accuracy):
            raise ValueError("as many losses as accuracies expected")
        if meta["memory"] is not None:
            mem = dict(meta["memory"], data=arrays[f"m.{name}.mem.data"], labels=arrays[f"m.{name}.mem.labels"])
            res.memory = LatentReplayMemory.from_state(mem)
            res.origin = np.array(arrays[f"m.{name}.origin"], np.int64)
            if res.origin.shape != (res.memory.capacity,):
                raise ValueError("slot origins do not match the memory's capacity")
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise CheckpointError(f"checkpoint {path}: method {name} is malformed ({type(e).__name__}: {e})") from None
    res.state = _state(name, arrays, init, path)
    return res


def _check_config(path, meta: dict, config: dict) -> None:
    diff = _differences(meta.get("config"), json.loads(json.dumps(config)))
    if diff:
        raise CheckpointError(f"checkpoint {path} was written for another configuration (differs in: "
                              f"{', '.join(diff[:6])}{', ...' if len(diff) > 6 else ''})")


def _open(path, config: dict) -> tuple[dict, dict]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {path}")
    meta, arrays = _read(path)
    _check_config(path, meta, config)
    return meta, arrays


def check_header(path, config: dict) -> None:
    """Check, before any long computation, that ``path`` is a readable checkpoint written for
    ``config`` (the data and weights are checked by :func:`load`)."""
    _open(path, config)


def load(path, config: dict, digest: str, init: AdaptiveState) -> tuple[dict, dict]:
    """``({name: MethodResult}, extra)`` from the checkpoint at ``path``, which must have been
    written for the same ``config`` and data/weights ``digest``; ``init`` (the initial adaptive
    state) gives the layers and the expected weight shapes. Any problem is a :class:`CheckpointError`."""
    meta, arrays = _open(path, config)
    if meta.get("fingerprint") != digest:
        raise CheckpointError(f"checkpoint {path} was written for other data or other pretrained weights")
    methods = meta.get("methods")
    if not isinstance(methods, dict):
        raise CheckpointError(f"checkpoint {path} is malformed (no method list)")
    results = {name: _method(name, m, arrays, init, path) for name, m in methods.items()}
    return results, meta.get("extra") or {}
