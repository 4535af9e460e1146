"""Continual-learning scenarios: training data cut into an ordered list of experiences, plus a test set.

A :class:`Scenario` holds arrays and index lists only, whatever the data came from:

* :func:`from_arrays` takes any arrays (images or features, labels, an experience id per training sample);
* :func:`nicv2` builds a NICv2-like sequence from per-image object and session ids (the synthetic data of
  :mod:`pulpsim.cl.synthetic`, or any data with that structure);
* :mod:`pulpsim.cl.core50` reads CORe50's official NICv2-391 batch lists into the same structure.

NICv2 ("New Instances and Classes", Lomonaco, Maltoni and Pellegrini, "Rehearsal-free continual learning
over small non-i.i.d. batches", CVPR-W 2020; CORe50's ``NIC_v2_391`` lists): the first experience holds the
first object of every category in the first session (CORe50's batch 0, the same in every run: objects 1,
6, ..., 46 in session 1); every later experience holds one more (object, session) *unit*, either a new
session of an object already seen or the first session of a new object. New objects arrive spread over
the stream (in run 0 of CORe50's lists the 40 other objects first appear between batches 17 and 340 of
390); here at evenly spaced points, so that new classes keep coming until near the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pulpsim.errors import ConfigError


@dataclass(frozen=True, eq=False)
class Scenario:
    """Training data in experiences, and a test set.

    ``x_train`` is ``(N, ...)`` (images: ``(N, H, W, 3)`` uint8, height-width-channel), ``y_train`` is
    ``(N,)`` int64 in ``0 .. n_classes-1``; ``experiences[i]`` is an int64 index array into the training
    arrays, in presentation order; ``x_test``/``y_test`` likewise. ``obj_train``/``session_train`` are
    ``(N,)`` int64 identity columns where the data has them (else ``None``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    experiences: tuple[np.ndarray, ...]
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    obj_train: np.ndarray | None = None
    session_train: np.ndarray | None = None

    def __post_init__(self):
        _check_scenario(self)

    @property
    def n_experiences(self) -> int:
        return len(self.experiences)

    def experience(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of experience ``i`` (0-based)."""
        idx = self.experiences[i]
        return self.x_train[idx], self.y_train[idx]

    def seen(self, i: int) -> np.ndarray:
        """Indices of every training sample of experiences ``0..i`` (the joint-training upper bound)."""
        return np.concatenate(self.experiences[:i + 1])

    def classes_seen(self, i: int) -> np.ndarray:
        """Sorted labels present in experiences ``0..i``."""
        return np.unique(self.y_train[self.seen(i)])

    def test_subset(self, stride: int) -> "Scenario":
        """The same scenario testing on every ``stride``-th test sample (AR1*'s reduced test set keeps
        every 20th CORe50 test image)."""
        if stride < 1:
            raise ConfigError(f"test stride must be >= 1, got {stride}")
        return Scenario(self.name, self.x_train, self.y_train, self.experiences, self.x_test[::stride],
                        self.y_test[::stride], self.n_classes, self.obj_train, self.session_train)


def _check_scenario(s: Scenario) -> None:
    """One-line typed errors for inconsistent arrays."""
    n = len(s.x_train)
    for name in ("y_train", "obj_train", "session_train"):
        v = getattr(s, name)
        if v is not None and np.shape(v) != (n,):
            raise ConfigError(f"scenario {s.name}: {name} has shape {np.shape(v)}, expected ({n},) "
                              "to match x_train")
    if np.shape(s.y_test) != (len(s.x_test),):
        raise ConfigError(f"scenario {s.name}: y_test has shape {np.shape(s.y_test)}, expected "
                          f"({len(s.x_test)},) to match x_test")
    if s.x_train.shape[1:] != s.x_test.shape[1:]:
        raise ConfigError(f"scenario {s.name}: train samples have shape {s.x_train.shape[1:]} but test "
                          f"samples {s.x_test.shape[1:]}")
    for name in ("y_train", "y_test"):
        y = getattr(s, name)
        if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= s.n_classes)):
            raise ConfigError(f"scenario {s.name}: {name} must hold integer labels in 0..{s.n_classes - 1}")
    if not s.experiences or any(len(e) == 0 for e in s.experiences):
        raise ConfigError(f"scenario {s.name}: every experience must hold at least one sample")
    allidx = np.concatenate(s.experiences)
    if allidx.min() < 0 or allidx.max() >= n or len(np.unique(allidx)) != len(allidx):
        raise ConfigError(f"scenario {s.name}: experiences must index distinct training samples "
                          f"in 0..{n - 1}")


def from_arrays(x_train, y_train, experience_ids, x_test, y_test, *, n_classes: int | None = None,
                name: str = "arrays") -> Scenario:
    """A scenario from any arrays: experiences are the distinct values of ``experience_ids`` (one per
    training sample) in increasing order; within an experience samples keep their order. ``n_classes``
    defaults to ``max(label) + 1``."""
    x_train, x_test = np.asarray(x_train), np.asarray(x_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    eid = np.asarray(experience_ids)
    if eid.shape != (len(x_train),):
        raise ConfigError(f"scenario {name}: experience_ids has shape {eid.shape}, expected "
                          f"({len(x_train)},) to match x_train")
    for label, y in (("y_train", y_train), ("y_test", y_test)):
        if y.size and not np.issubdtype(y.dtype, np.integer):
            raise ConfigError(f"scenario {name}: {label} must hold integer labels, got dtype {y.dtype}")
    if n_classes is None:
        n_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    order = np.argsort(eid, kind="stable")
    cuts = np.flatnonzero(np.diff(eid[order])) + 1
    exps = tuple(part.astype(np.int64) for part in np.split(order, cuts)) if len(order) else ()
    return Scenario(name, x_train, y_train.astype(np.int64), exps, x_test, y_test.astype(np.int64),
                    int(n_classes))


def nicv2_order(obj: np.ndarray, session: np.ndarray, category: np.ndarray, *, seed: int = 0,
                units_per_experience: int = 1) -> tuple[np.ndarray, ...]:
    """NICv2-like experiences over training samples described by ``(N,)`` object, session and category
    ids. Returns a tuple of int64 index arrays.

    Experience 0: the first (lowest-numbered) object of each category, in its first session.
    Then the remaining (object, session) units in a seeded random order, ``units_per_experience`` per
    experience, with the first unit of each new object at evenly spaced positions (the middles of
    equal parts of the stream) and every other unit of an object only after that object's first one. Within a unit, samples keep their
    input order (for frames, their time order)."""
    obj, session, category = (np.asarray(a, dtype=np.int64) for a in (obj, session, category))
    if not obj.shape == session.shape == category.shape or obj.ndim != 1:
        raise ConfigError("nicv2: obj, session and category must be 1-D arrays of the same length")
    if units_per_experience < 1:
        raise ConfigError(f"nicv2: units_per_experience must be >= 1, got {units_per_experience}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x4E4943]))
    units = np.unique(np.stack([obj, session], 1), axis=0)                 # sorted (object, session)
    objects = np.unique(units[:, 0])
    cat_of = {int(o): int(category[obj == o][0]) for o in objects}
    sessions_of = {int(o): [int(s) for s in units[units[:, 0] == o, 1]] for o in objects}

    first_objs = [min(int(o) for o in objects if cat_of[int(o)] == c) for c in sorted(set(cat_of.values()))]
    first = [(o, sessions_of[o][0]) for o in first_objs]
    new_objs = [int(o) for o in rng.permutation([o for o in objects if int(o) not in first_objs])]
    pool = [(o, s) for o in first_objs for s in sessions_of[o] if (o, s) not in first]
    rest_of = {o: [(o, s) for s in sessions_of[o]] for o in new_objs}
    for o in new_objs:                                   # which session introduces each new object
        rest_of[o] = [rest_of[o][i] for i in rng.permutation(len(rest_of[o]))]

    total = len(units) - len(first)
    slots = {int((2 * j + 1) * total // (2 * max(len(new_objs), 1))) for j in range(len(new_objs))}
    seq, pending = [], list(new_objs)
    for pos in range(total):
        if pending and (pos in slots or not pool):
            o = pending.pop(0)
            seq.append(rest_of[o][0])
            pool.extend(rest_of[o][1:])
        else:
            seq.append(pool.pop(int(rng.integers(len(pool)))))

    def indices(unit_list):
        return np.concatenate([np.flatnonzero((obj == o) & (session == s)) for o, s in unit_list])

    exps = [indices(first)]
    exps += [indices(seq[i:i + units_per_experience]) for i in range(0, len(seq), units_per_experience)]
    return tuple(e.astype(np.int64) for e in exps)


def to_nchw(x: np.ndarray, mean=None, std=None) -> np.ndarray:
    """``(N, H, W, C)`` uint8 images as ``(N, C, H, W)`` float32 in [0, 1] (the layout of
    :mod:`pulpsim.cl.nn`), then ``(x - mean) / std`` per channel when ``mean``/``std`` (length C) are
    given (AR1* uses ImageNet's 0.485/0.456/0.406 and 0.229/0.224/0.225 on CORe50)."""
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ConfigError(f"to_nchw: expected (N, H, W, C) uint8 images, got {x.dtype}{list(x.shape)}")
    out = x.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    if mean is not None:
        out -= np.asarray(mean, np.float32)[None, :, None, None]
    if std is not None:
        out /= np.asarray(std, np.float32)[None, :, None, None]
    return out
