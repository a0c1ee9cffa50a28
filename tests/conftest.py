import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("gdlab", deadline=None, max_examples=40)
settings.load_profile("gdlab")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module", params=["c", "numba"])
def kernel_backend(request):
    """Each build of gdlab's kernels in turn (GDLAB_FAST=c, then numba), for a whole module;
    skipped where that build is not installed (tests/test_fast.py checks the C one is)."""
    from gdlab.kernels import builds

    if builds.build(request.param) is None:
        pytest.skip(f"the {request.param} kernels are not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GDLAB_FAST", request.param)
        yield request.param
