import os

import numpy as np
import pytest
from hypothesis import settings

# hypothesis: bounded examples, no deadline (CI runs on 2 busy cores), and derandomized: every
# run, in CI (.ci/run runs plain ``pytest``, with or without a CI variable) and on a laptop,
# draws the same examples, so a failure is reproducible with the same command and never shows
# only now and then. To explore fresh examples: GDLAB_HYPOTHESIS=explore pytest ... (or
# ``--hypothesis-profile=explore``); a failure there prints its falsifying example and the
# @reproduce_failure blob, and is saved in .hypothesis/ to be replayed by the next run.
settings.register_profile("gdlab", deadline=None, max_examples=40, derandomize=True,
                          print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=40, print_blob=True)
settings.load_profile(os.environ.get("GDLAB_HYPOTHESIS", "gdlab"))


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
