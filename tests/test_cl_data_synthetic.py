"""The generated CORe50-like data: determinism, structure, nuisance control, non-triviality."""

from __future__ import annotations

import numpy as np
import pytest

from pulpsim.cl import synthetic
from pulpsim.errors import ConfigError

SMALL = synthetic.SyntheticSpec(n_categories=3, objects_per_category=2, n_sessions=4, test_sessions=(2,),
                                frames=3, resolution=16, seed=7)


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, b = synthetic.generate(SMALL), synthetic.generate(SMALL)
    assert a.x.tobytes() == b.x.tobytes()
    for col in ("category", "obj", "session", "frame"):
        assert np.array_equal(getattr(a, col), getattr(b, col))
    c = synthetic.generate(synthetic.SyntheticSpec(**{**SMALL.__dict__, "seed": 8}))
    assert a.x.shape == c.x.shape and a.x.tobytes() != c.x.tobytes()


def test_bytes_do_not_depend_on_chunking_or_on_the_other_objects():
    """Each (object, session) draws from its own stream: rendering in other chunks, or generating fewer
    categories and sessions, gives the same images for the objects both contain."""
    whole = synthetic.generate(SMALL)
    assert whole.x.tobytes() == synthetic.generate(SMALL, chunk=1).x.tobytes()
    fewer = synthetic.generate(synthetic.SyntheticSpec(**{**SMALL.__dict__, "n_categories": 2,
                                                          "n_sessions": 3, "test_sessions": (2,)}))
    keep = (whole.category < 2) & (whole.session < 3)
    assert np.array_equal(whole.x[keep], fewer.x)


def test_structure_matches_core50_layout():
    d = synthetic.generate(SMALL)
    n = SMALL.n_sessions * SMALL.n_objects * SMALL.frames
    assert d.x.shape == (n, 16, 16, 3) and d.x.dtype == np.uint8
    assert all(getattr(d, c).dtype == np.int64 and getattr(d, c).shape == (n,)
               for c in ("category", "obj", "session", "frame"))
    assert np.array_equal(d.category, d.obj // SMALL.objects_per_category)
    # session-major, then object, then frame (the order of CORe50's paths.pkl)
    key = (d.session * SMALL.n_objects + d.obj) * SMALL.frames + d.frame
    assert np.array_equal(key, np.arange(n))
    assert SMALL.train_sessions == (0, 1, 3)


def test_nuisance_zero_gives_plain_grey_background():
    """At strength 0 there is no clutter, hand, lighting change or noise: the corners (outside every
    object, whose extent is bounded by its outline) are mid-grey, round(0.5 * 255) = 128."""
    spec = synthetic.SyntheticSpec(**{**SMALL.__dict__, "nuisance": 0.0, "resolution": 32})
    x = synthetic.generate(spec).x
    assert np.all(x[:, 0, 0] == 128) and np.all(x[:, -1, -1] == 128)
    noisy = synthetic.generate(synthetic.SyntheticSpec(**{**SMALL.__dict__, "resolution": 32})).x
    assert len(np.unique(noisy[:, 0, 0, 0])) > 5


def test_objects_differ_from_background_and_frames_move():
    spec = synthetic.SyntheticSpec(**{**SMALL.__dict__, "nuisance": 0.0, "resolution": 32})
    d = synthetic.generate(spec)
    centre = d.x[:, 12:20, 12:20].astype(int)
    assert np.mean(np.abs(centre - 128) > 8) > 0.5          # the object covers the centre
    one = d.x[(d.obj == 0) & (d.session == 0)].astype(int)
    assert np.abs(one[0] - one[-1]).mean() > 3             # pose changes within a session


def test_pretraining_categories_are_disjoint():
    pre = synthetic.pretraining_images(SMALL, n_categories=4, objects_per_category=2, n_sessions=3)
    assert pre.x.shape == (4 * 2 * 3 * SMALL.frames, 16, 16, 3)
    assert pre.spec.id_base == synthetic.PRETRAIN_ID_BASE and pre.spec.test_sessions == ()
    cl = synthetic.generate(SMALL)
    # the first pretraining category is not the first continual-learning one under another label
    assert not np.array_equal(pre.x[:SMALL.frames], cl.x[:SMALL.frames])


@pytest.mark.parametrize("bad", [{"resolution": 4}, {"test_sessions": (4,)}, {"frames": 0},
                                 {"test_sessions": (0, 1, 2, 3)}, {"nuisance": -1.0}])
def test_bad_spec_is_a_typed_error(bad):
    with pytest.raises(ConfigError, match="synthetic data"):
        synthetic.SyntheticSpec(**{**SMALL.__dict__, **bad})


def _ncm_accuracy(spec) -> float:
    """Nearest class mean on raw pixels, trained on the training sessions, tested on the test sessions."""
    sc = synthetic.scenario(spec)
    xtr = sc.x_train.reshape(len(sc.x_train), -1).astype(np.float32)
    xte = sc.x_test.reshape(len(sc.x_test), -1).astype(np.float32)
    means = np.stack([xtr[sc.y_train == c].mean(0) for c in range(sc.n_classes)])
    d = (xte ** 2).sum(1)[:, None] - 2 * xte @ means.T + (means ** 2).sum(1)[None]
    return float((d.argmin(1) == sc.y_test).mean())


def test_default_scenario_is_learnable_but_not_trivial():
    """Nearest class mean on raw pixels is well above chance (the classes are learnable), far from
    perfect, and clearly worse than without the session nuisances (they matter)."""
    spec = synthetic.SyntheticSpec(frames=6)                        # the default, fewer frames
    acc = _ncm_accuracy(spec)
    assert 2.0 / spec.n_categories < acc < 0.75, acc
    assert _ncm_accuracy(synthetic.SyntheticSpec(frames=6, nuisance=0.0)) > acc + 0.05
