"""register_dataset: a non-image dataset registered by name works like a built-in one."""
from __future__ import annotations

import pytest
import torch

from workbench.tasks import TensorDataset, dataset_names, load_dataset, register_dataset
from workbench.tasks.data import datasets


def _points(root, *, seed, limit):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 2, generator=g)
    y = (x[:, 0] > 0).long()
    n = limit or 40
    return TensorDataset("test_points", x[:n], y[:n], x[40:], y[40:], n_outputs=2,
                         default_objective="cross_entropy")


@pytest.fixture(autouse=True)
def registered():
    register_dataset("test-points", _points)
    yield
    datasets._FACTORIES.pop("test_points")
    datasets._NO_ROOT_GENERIC.discard("test_points")


def test_a_registered_dataset_loads_by_name_with_seed_and_limit():
    assert "test_points" in dataset_names()
    a, b = load_dataset("test_points", seed=3), load_dataset("Test-Points", seed=3)
    assert torch.equal(a.x_train, b.x_train) and a.input_shape == (2,)
    assert len(load_dataset("test_points", limit=10).x_train) == 10


def test_registering_a_name_twice_or_a_builtin_name_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("test_points", _points)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("digits", _points)
