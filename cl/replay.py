"""The latent-replay (LR) memory: bit-packed storage of LRs at a chosen precision, and the AR1*
buffer-update rule.

An LR is the uint8 output of the int8 frozen stage, ``real = scale * code`` with the stage's
static LR scale.  The memory stores it as

* **UINT8**: the code itself;
* **UINT-Q, Q < 8**: the code reduced to its top Q bits with rounding, half up, saturating::

      c = min((code + 2**(7-Q)) >> (8-Q), 2**Q - 1)        # replayed as c * 2**(8-Q) * scale

  The range and the scale stay those of the frozen stage (no per-LR scale to store); the
  reduction is an add and a shift on the device, and the replayed value is the nearest point of
  the coarser grid (at most half a step, ``2**(7-Q)`` codes, away) except above its top point
  ``256 - 2**(8-Q)``, where it saturates.  Rescaling the range to ``2**Q - 1`` steps would reach
  255 exactly but cost a multiply and a divide per value for the same step size;
* **FP32**: the real value as float32 (given a float LR, e.g. from a float frozen stage, it is
  kept as is; given uint8 codes, it is ``code * scale``, which holds the same information as UINT8).

Values below 8 bits are packed into a little-endian bit stream, one LR at a time: value ``i``
occupies bits ``i*Q .. i*Q + Q - 1`` (least significant first), and bit ``b`` of the stream is bit
``b % 8`` of byte ``b // 8``, so one LR of ``E`` values takes exactly ``ceil(E * Q / 8)`` bytes.
"""

from __future__ import annotations

import numpy as np

from pulpsim.cl.memory import FP32, buffer_bytes, label_bytes, lr_bytes, parse_precision
from pulpsim.errors import ConfigError


# --------------------------------------------------------------------------------------------
# Codes and bit packing
# --------------------------------------------------------------------------------------------

def reduce_codes(codes, q: int) -> np.ndarray:
    """uint8 codes (0..255) -> Q-bit codes (0..2**Q-1), rounding half up and saturating."""
    u = np.asarray(codes, dtype=np.uint16)
    if q == 8:
        return u.astype(np.uint8)
    c = (u + (1 << (7 - q))) >> (8 - q)
    return np.minimum(c, (1 << q) - 1).astype(np.uint8)


def expand_codes(codes, q: int) -> np.ndarray:
    """Q-bit codes -> the uint8 codes they stand for: ``c << (8 - Q)``."""
    return (np.asarray(codes, dtype=np.uint8) << np.uint8(8 - q)).astype(np.uint8)


def pack_bits(codes, q: int) -> np.ndarray:
    """Pack the last axis of Q-bit ``codes[..., E]`` into ``uint8[..., ceil(E*Q/8)]`` (layout in
    the module docstring)."""
    codes = np.asarray(codes, dtype=np.uint8)
    if q == 8:
        return codes.copy()
    bitplanes = (codes[..., None] >> np.arange(q, dtype=np.uint8)) & np.uint8(1)   # [..., E, Q], LSB first
    stream = bitplanes.reshape(*codes.shape[:-1], codes.shape[-1] * q)
    return np.packbits(stream, axis=-1, bitorder="little")


def unpack_bits(packed, q: int, elems: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``uint8[..., ceil(E*Q/8)]`` -> Q-bit codes ``uint8[..., E]``."""
    packed = np.asarray(packed, dtype=np.uint8)
    if q == 8:
        return packed[..., :elems].copy()
    stream = np.unpackbits(packed, axis=-1, count=elems * q, bitorder="little")
    bitplanes = stream.reshape(*packed.shape[:-1], elems, q)
    weights = (np.uint8(1) << np.arange(q, dtype=np.uint8))
    return (bitplanes * weights).sum(axis=-1, dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# The memory
# --------------------------------------------------------------------------------------------

class LatentReplayMemory:
    """``capacity`` slots of LRs of shape ``lr_shape`` (C, H, W) at ``precision`` ("fp32" or Q
    bits, 1..8), with their labels.  ``scale`` is the real value of one uint8 LR code.

    Slots ``0..size-1`` are filled.  LRs are encoded on the way in (:meth:`write`,
    :meth:`update`) and decoded to float32 on the way out (:meth:`get`).
    """

    def __init__(self, capacity: int, lr_shape, precision, scale: float, num_classes: int = 256):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ConfigError(f"LR memory capacity must be a positive integer, got {capacity!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ConfigError(f"LR scale must be finite and > 0, got {scale!r}")
        self.capacity = int(capacity)
        self.lr_shape = tuple(int(v) for v in lr_shape)
        self.elems = int(np.prod(self.lr_shape))
        self.precision = parse_precision(precision)
        self.scale = float(scale)
        self.num_classes = int(num_classes)
        self.size = 0
        if self.precision == FP32:
            self._data = np.zeros((self.capacity, self.elems), dtype=np.float32)
        else:
            self._data = np.zeros((self.capacity, lr_bytes(self.elems, self.precision)), dtype=np.uint8)
        self._labels = np.zeros(self.capacity, dtype=np.uint8 if label_bytes(self.num_classes) == 1 else np.uint16)

    # ---- encoding -------------------------------------------------------------------------

    def to_codes(self, lrs) -> np.ndarray:
        """uint8 codes ``[n, E]`` of a batch of LRs: uint8 input is taken as codes, float input is
        quantized with the memory's scale, ``clip(rint(x / scale), 0, 255)``."""
        a = np.asarray(lrs)
        a = a.reshape(a.shape[0], -1)
        if a.dtype == np.uint8:
            return a
        return np.clip(np.rint(a.astype(np.float64) / self.scale), 0, 255).astype(np.uint8)

    def encode(self, lrs) -> np.ndarray:
        """The stored rows of a batch of LRs ``[n, C, H, W]`` (uint8 codes or floats)."""
        a = np.asarray(lrs)
        if a.shape[1:] != self.lr_shape:
            raise ValueError(f"LR shape {a.shape[1:]} does not match the memory's {self.lr_shape}")
        if self.precision == FP32:
            if a.dtype == np.uint8:
                return a.reshape(len(a), -1).astype(np.float32) * np.float32(self.scale)
            return a.reshape(len(a), -1).astype(np.float32)
        return pack_bits(reduce_codes(self.to_codes(a), self.precision), self.precision)

    def decode(self, rows) -> np.ndarray:
        """float32 LRs ``[n, C, H, W]`` of stored rows."""
        if self.precision == FP32:
            flat = np.asarray(rows, dtype=np.float32)
        else:
            codes = expand_codes(unpack_bits(rows, self.precision, self.elems), self.precision)
            flat = codes.astype(np.float32) * np.float32(self.scale)
        return flat.reshape(len(flat), *self.lr_shape)

    # ---- slots ----------------------------------------------------------------------------

    def write(self, slots, lrs, labels) -> None:
        """Store LRs and labels into ``slots`` (indices below ``capacity``); the filled count grows
        to cover the highest slot written."""
        slots = np.asarray(slots, dtype=np.int64)
        labels = np.asarray(labels)
        if len(slots) != len(lrs) or len(labels) != len(lrs):
            raise ValueError("slots, LRs and labels differ in length")
        if len(slots) == 0:
            return
        if slots.min() < 0 or slots.max() >= self.capacity:
            raise IndexError(f"slot outside 0..{self.capacity - 1}")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"label outside 0..{self.num_classes - 1}")
        self._data[slots] = self.encode(lrs)
        self._labels[slots] = labels
        self.size = max(self.size, int(slots.max()) + 1)

    def get(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """``(float32 LRs [n, C, H, W], int64 labels [n])`` of filled slots ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise IndexError(f"slot outside the {self.size} filled ones")
        return self.decode(self._data[idx]), self._labels[idx].astype(np.int64)

    def __len__(self) -> int:
        return self.size

    # ---- AR1* update ----------------------------------------------------------------------

    def update(self, lrs, labels, experience: int, rng: np.random.Generator) -> np.ndarray:
        """Add the LRs of experience ``experience`` (0-based) by the AR1* rule and return the slots
        written.

        ``h = min(capacity // (experience + 1), n)`` of the ``n`` given LRs are drawn uniformly
        without replacement (``rng.choice(n, h, replace=False)``); they go first into empty slots,
        in order, then over ``rng.choice(filled, rest, replace=False)`` of the slots filled
        before this call.  When the first experience has at least ``capacity`` samples (the
        published setting) this is exactly AR1*: the first fills the memory, each later one
        overwrites ``h`` random slots, so every experience keeps an equal share on average.
        """
        lrs = np.asarray(lrs)
        n = len(lrs)
        if len(labels) != n:
            raise ValueError("LRs and labels differ in length")
        if experience < 0:
            raise ValueError(f"experience index must be >= 0, got {experience}")
        h = min(self.capacity // (experience + 1), n)
        chosen = rng.choice(n, h, replace=False)
        filled = self.size
        n_free = min(self.capacity - filled, h)
        slots = np.arange(filled, filled + n_free, dtype=np.int64)
        if h > n_free:
            slots = np.concatenate([slots, rng.choice(filled, h - n_free, replace=False).astype(np.int64)])
        self.write(slots, lrs[chosen], np.asarray(labels)[chosen])
        return slots

    # ---- accounting and state -------------------------------------------------------------

    def nbytes(self) -> dict:
        """``{"lrs", "labels", "total"}``: bytes of the whole memory (all ``capacity`` slots) as
        allocated, which equals :func:`pulpsim.cl.memory.buffer_bytes`."""
        return {"lrs": self._data.nbytes, "labels": self._labels.nbytes,
                "total": self._data.nbytes + self._labels.nbytes}

    def expected_nbytes(self) -> dict:
        """The byte accounting of :mod:`pulpsim.cl.memory` for this memory."""
        return buffer_bytes(self.capacity, self.elems, self.precision, self.num_classes)

    def state(self) -> dict:
        """Everything needed to rebuild the memory (numpy arrays and plain values), for checkpoints."""
        return {"capacity": self.capacity, "lr_shape": self.lr_shape, "precision": self.precision,
                "scale": self.scale, "num_classes": self.num_classes, "size": self.size,
                "data": self._data.copy(), "labels": self._labels.copy()}

    @classmethod
    def from_state(cls, state: dict) -> "LatentReplayMemory":
        """Rebuild a memory saved by :meth:`state`."""
        mem = cls(int(state["capacity"]), tuple(state["lr_shape"]), state["precision"], float(state["scale"]),
                  int(state["num_classes"]))
        data, labels = np.asarray(state["data"]), np.asarray(state["labels"])
        if data.shape != mem._data.shape or data.dtype != mem._data.dtype or labels.shape != mem._labels.shape:
            raise ValueError("LR memory state does not match its configuration")
        mem._data[...] = data
        mem._labels[...] = labels
        mem.size = int(state["size"])
        return mem
