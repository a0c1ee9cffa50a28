"""``gdlab tour``: each classic claim about gradient descent, tested by an experiment.

:func:`run_tour` runs the experiments in order, one module each, and writes a self-contained
``report.html``, ``report.md`` (with ``figures/``) and ``results.json`` into ``out``. Every
section states the claim, the experiment (data, network, settings, seeds), a figure, the
measured numbers and a verdict that the code computes from those numbers with thresholds
stated in the section (see :mod:`gdlab.lab.tour.common`).

``quick=True`` shrinks data, epochs, seeds and grids so that the whole tour takes a few
minutes at most on two cores; the full tour is meant to finish within 20 minutes.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from gdlab import _checks

__all__ = ["EXPERIMENTS", "run_tour"]

# (module, what it shows), in the order of the report
EXPERIMENTS = (
    ("update_rule", "the update rule"),
    ("learning_rate", "learning rate"),
    ("batching", "batch vs stochastic vs mini-batch"),
    ("minima", "local minima and saddles"),
    ("conditioning", "ill-conditioning"),
    ("optimizers", "optimizers on digits"),
    ("batchnorm", "batch normalization"),
    ("distributed", "distributed"),
)


def run_tour(out, quick: bool = False, progress: bool = True, only=None) -> dict:
    """Run the tour and write the report into the folder ``out``; return the results dict.

    ``progress`` shows a rich progress bar per experiment. ``only`` (a list of module names
    from :data:`EXPERIMENTS`) runs a subset, for development and tests.
    """
    from gdlab.lab.tour.common import Context
    from gdlab.lab.tour.render import write_report

    names = [name for name, _ in EXPERIMENTS]
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise _checks.unknown_names("tour experiment", unknown, names)
        names = [n for n in names if n in only]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
        bar.start()
    ctx = Context(quick, bar)
    sections = []
    t0 = time.perf_counter()
    # one BLAS thread: these networks are small, and on a shared machine a multi-threaded BLAS
    # spins waiting for busy cores, which makes the measured times erratic (scoped: restored
    # on exit)
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=1)
    try:
        for name in names:
            module = importlib.import_module(f"gdlab.lab.tour.{name}")
            start = time.perf_counter()
            section = module.run(ctx)
            section.seconds = time.perf_counter() - start
            sections.append(section)
    finally:
        limits.restore_original_limits()
        if bar is not None:
            bar.stop()
    return write_report(sections, out, quick=quick, seconds=time.perf_counter() - t0)
