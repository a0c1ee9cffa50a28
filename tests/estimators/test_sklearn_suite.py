"""scikit-learn's own tests of its MLP, run on GDClassifier and GDRegressor.

The test copies ``sklearn/neural_network/tests/test_mlp.py`` from the installed wheel at test
time, swaps its import for ``from gdlab import GDClassifier as MLPClassifier, GDRegressor as
MLPRegressor`` (the one-line switch the README promises), supplies the ``global_random_seed``
fixture that scikit-learn's conftest gives it, and runs it in a pytest of its own. Every test
must pass but ``test_gradient``, which calls MLPClassifier's private ``_loss_grad_lbfgs``
(gdlab's gradients live in gdlab.nn, checked by finite differences in tests/nn/). The two
tests that read scikit-learn's private ``_optimizer.learning_rate`` read gdlab's public
``learning_rate_`` instead.
"""

import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import gdlab

SWAP = ("from sklearn.neural_network import MLPClassifier, MLPRegressor",
        "from gdlab import GDClassifier as MLPClassifier, GDRegressor as MLPRegressor")
#: scikit-learn's private attribute, and gdlab's public one that holds the same number
PRIVATE = ("._optimizer.learning_rate", ".learning_rate_")
NOT_RUN = ("test_gradient",)
READ_THE_RATE = ("test_learning_rate_warmstart", "test_adaptive_learning_rate")

CONFTEST = '''import pytest


@pytest.fixture(params=[42])
def global_random_seed(request):
    """scikit-learn's conftest: SKLEARN_TESTS_GLOBAL_RANDOM_SEED, 42 unless set."""
    return request.param
'''
PYTEST_INI = "[pytest]\nfilterwarnings =\n    error::RuntimeWarning:gdlab.*\n"


def _outcomes(report):
    """{test name: "passed" | "failed" | "skipped"} from a JUnit XML report."""
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = ("failed" if kinds & {"failure", "error"} else
                   "skipped" if "skipped" in kinds else "passed")
        outcomes[case.get("name")] = outcome
    return outcomes


@pytest.mark.slow
def test_sklearn_mlp_test_suite_passes_on_gdlab(tmp_path):
    spec = importlib.util.find_spec("sklearn.neural_network.tests.test_mlp")
    if spec is None:
        pytest.skip("this scikit-learn is installed without its tests")
    source = Path(spec.origin).read_text()
    assert source.count(SWAP[0]) == 1, "scikit-learn's test_mlp.py imports the MLPs otherwise"
    expected = set(re.findall(r"^def (test_\w+)", source, re.MULTILINE)) - set(NOT_RUN)
    (tmp_path / "test_mlp_on_gdlab.py").write_text(source.replace(*SWAP).replace(*PRIVATE))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    report = tmp_path / "report.xml"
    src = str(Path(gdlab.__file__).resolve().parents[1])  # this gdlab, in the child too
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])]))
    deselect = [f"--deselect=test_mlp_on_gdlab.py::{name}" for name in NOT_RUN]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         "test_mlp_on_gdlab.py", *deselect],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    outcomes = _outcomes(report)
    names = {name.split("[")[0] for name in outcomes}
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert not failed, f"{failed}\n{run.stdout[-6000:]}"
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert names == expected  # every test of the file ran, test_gradient aside
    assert "test_fit" in names and set(READ_THE_RATE) <= names
