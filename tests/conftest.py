import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("gdlab", deadline=None, max_examples=40)
settings.load_profile("gdlab")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
