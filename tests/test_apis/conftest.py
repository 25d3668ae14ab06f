"""Fixtures of the tool tests."""
import pytest

from mmseg_semeda.datasets import make_shapes_dataset


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    return make_shapes_dataset(str(tmp_path_factory.mktemp('shapes')),
                               num_train=8, num_val=2, size=64, seed=0)
