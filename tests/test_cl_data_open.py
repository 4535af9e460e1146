"""The --data option names a scenario."""

from __future__ import annotations

import numpy as np
import pytest

from pulpsim.cl import data, synthetic
from pulpsim.errors import ConfigError, DataError


def test_synthetic_is_the_default_at_the_given_resolution_and_the_seed_orders_it():
    sc = data.open_data(resolution=16, seed=3, test_stride=4)
    ref = synthetic.scenario(synthetic.SyntheticSpec(resolution=16), order_seed=3, units_per_experience=20)
    assert sc.n_classes == 10 and sc.x_train.shape[1:] == (16, 16, 3)
    assert np.array_equal(sc.x_train, ref.x_train) and np.array_equal(sc.x_test, ref.x_test[::4])
    assert len(sc.experiences) == 21 and all(np.array_equal(a, b) for a, b in zip(sc.experiences, ref.experiences))
    # another seed: the same images (and so the same pretraining), another order
    other = data.open_data(resolution=16, seed=4)
    assert np.array_equal(other.x_train, sc.x_train) and np.array_equal(other.x_test, ref.x_test)
    assert not all(np.array_equal(a, b) for a, b in zip(other.experiences, sc.experiences))
    assert data.open_data(resolution=16, seed=3, labels="object").n_classes == 50


@pytest.mark.parametrize("option", ["imagenet", "core50", "synthetic:x", ""])
def test_unknown_option_is_a_typed_error(option):
    with pytest.raises(ConfigError, match="expected 'synthetic' or 'core50:DIR'"):
        data.open_data(option)


def test_core50_folder_is_read_or_named(tmp_path):
    with pytest.raises(DataError, match="neither core50_imgs.npz"):
        data.open_data(f"core50:{tmp_path}")
