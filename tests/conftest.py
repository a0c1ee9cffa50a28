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


@pytest.fixture(scope="module", params=[("c", 1), ("c", 2), ("numba", 1), ("numba", 2)],
                ids=["c-1thread", "c-2threads", "numba-1thread", "numba-2threads"])
def kernel_backend(request):
    """Each build of gdlab's kernels in turn (GDLAB_FAST=c, then numba), each at 1 and at 2
    threads (threadpoolctl's setting, which the BLAS and the kernels follow), for a whole
    module; yields the build's name. Skipped where that build is not installed
    (tests/kernels/test_kernels.py checks that the C one is where a compiler is)."""
    from threadpoolctl import threadpool_limits

    from gdlab.kernels import builds

    name, threads = request.param
    if builds.build(name) is None:
        pytest.skip(f"the {name} kernels are not installed")
    with pytest.MonkeyPatch.context() as patch, threadpool_limits(limits=threads):
        patch.setenv("GDLAB_FAST", name)
        yield name
