"""Scenarios: any arrays as experiences, and the NICv2-like order over (object, session) units."""

from __future__ import annotations

import numpy as np
import pytest

from pulpsim.cl import synthetic
from pulpsim.cl.scenario import Scenario, from_arrays, nicv2_order
from pulpsim.errors import ConfigError


def test_from_arrays_groups_by_experience_id_keeping_order():
    x = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    y = np.array([0, 1, 2, 0, 1, 2, 3])
    eid = np.array([5, 1, 5, 1, 9, 1, 5])
    sc = from_arrays(x, y, eid, x[:3], y[:3])
    assert [e.tolist() for e in sc.experiences] == [[1, 3, 5], [0, 2, 6], [4]]
    assert sc.n_classes == 4 and sc.n_experiences == 3
    xe, ye = sc.experience(1)
    assert np.array_equal(xe, x[[0, 2, 6]]) and ye.tolist() == [0, 2, 3]
    assert sc.seen(1).tolist() == [1, 3, 5, 0, 2, 6]
    assert sc.classes_seen(0).tolist() == [0, 1, 2]
    assert sc.test_subset(2).y_test.tolist() == [0, 2]


@pytest.mark.parametrize("args, match", [
    (dict(y_train=np.zeros(3, int)), "y_train has shape"),
    (dict(experience_ids=np.zeros(3, int)), "experience_ids has shape"),
    (dict(y_test=np.zeros(1, int)), "y_test has shape"),
    (dict(x_test=np.zeros((2, 3))), "test samples"),
    (dict(y_train=np.full(4, 0.5)), "integer labels"),
    (dict(y_train=np.array([0, 1, 2, -1])), "integer labels in 0"),
])
def test_from_arrays_rejects_inconsistent_arrays(args, match):
    base = dict(x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]), experience_ids=np.arange(4),
                x_test=np.zeros((2, 2)), y_test=np.array([0, 1]))
    with pytest.raises(ConfigError, match=match):
        from_arrays(**{**base, **args})


def test_scenario_rejects_overlapping_experiences():
    with pytest.raises(ConfigError, match="distinct"):
        Scenario("t", np.zeros((3, 1)), np.zeros(3, np.int64), (np.array([0, 1]), np.array([1, 2])),
                 np.zeros((1, 1)), np.zeros(1, np.int64), 1)


def _layout(n_cat=4, per_cat=3, n_sess=5, frames=2):
    """Per-sample ids of a CORe50-like training set, built by hand (sample order: session, object, frame)."""
    s, o, f = np.meshgrid(np.arange(n_sess), np.arange(n_cat * per_cat), np.arange(frames), indexing="ij")
    o, s = o.ravel(), s.ravel()
    return o, s, o // per_cat


def test_nicv2_first_experience_and_units():
    obj, sess, cat = _layout()
    exps = nicv2_order(obj, sess, cat, seed=3)
    allidx = np.concatenate(exps)
    assert sorted(allidx.tolist()) == list(range(len(obj)))            # a partition of the samples
    first = exps[0]                  # as CORe50's batch 0: first object of each category, first session
    assert np.unique(obj[first]).tolist() == [0, 3, 6, 9] and np.all(sess[first] == 0)
    assert len(first) == 4 * 2
    for e in exps[1:]:                                                   # then one (object, session) each
        assert len(np.unique(obj[e])) == 1 and len(np.unique(sess[e])) == 1 and len(e) == 2
        assert np.all(np.diff(e) > 0)                                    # frames keep their order
    assert len(exps) == 1 + 12 * 5 - 4


def test_nicv2_spreads_new_objects_over_the_stream():
    obj, sess, cat = _layout(n_cat=4, per_cat=5, n_sess=8, frames=1)
    exps = nicv2_order(obj, sess, cat, seed=1)
    seen, first_at = set(obj[exps[0]].tolist()), []
    for i, e in enumerate(exps[1:]):
        o = int(obj[e][0])
        if o not in seen:
            seen.add(o)
            first_at.append(i)
    total, n_new = len(exps) - 1, 16
    assert len(first_at) == n_new
    assert max(np.diff(first_at)) <= -(-total // n_new)                 # evenly spaced
    assert first_at[0] <= total // n_new // 2 + 1                        # from the start
    # until near the end: the last new object still needs room for its 8 sessions after it
    assert first_at[-1] >= total - 8 - total // n_new


def test_nicv2_is_seeded_and_groups_units():
    obj, sess, cat = _layout()
    a, b = nicv2_order(obj, sess, cat, seed=5), nicv2_order(obj, sess, cat, seed=5)
    c = nicv2_order(obj, sess, cat, seed=6)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    g = nicv2_order(obj, sess, cat, seed=5, units_per_experience=3)
    assert np.array_equal(g[0], a[0]) and np.array_equal(g[1], np.concatenate(a[1:4]))
    assert len(g) == 1 + -(-(len(a) - 1) // 3)


def test_synthetic_scenario_splits_sessions_like_core50():
    spec = synthetic.SyntheticSpec(n_categories=3, objects_per_category=2, frames=2, resolution=16)
    sc = synthetic.scenario(spec)
    assert sc.x_train.shape == (8 * 6 * 2, 16, 16, 3) and sc.x_test.shape == (3 * 6 * 2, 16, 16, 3)
    assert set(sc.session_train.tolist()) == {0, 1, 3, 4, 5, 7, 8, 10}
    assert sc.n_classes == 3 and np.array_equal(sc.y_train, sc.obj_train // 2)
    assert sc.n_experiences == 1 + 6 * 8 - 3
    so = synthetic.scenario(spec, labels="object")
    assert so.n_classes == 6 and np.array_equal(so.y_train, so.obj_train)
    with pytest.raises(ConfigError):
        synthetic.scenario(spec, labels="colour")


def test_to_nchw_layout_and_normalisation():
    from pulpsim.cl.scenario import to_nchw
    x = np.zeros((2, 3, 4, 3), np.uint8)
    x[1, 2, 3] = [255, 51, 0]                                      # sample 1, row 2, column 3
    y = to_nchw(x, mean=[0.5, 0.2, 0.0], std=[0.5, 0.1, 1.0])
    assert y.shape == (2, 3, 3, 4) and y.dtype == np.float32
    assert np.allclose(y[1, :, 2, 3], [1.0, 0.0, 0.0]) and np.allclose(y[0, 0], -1.0)
    with pytest.raises(ConfigError, match="uint8"):
        to_nchw(x.astype(np.float32))
