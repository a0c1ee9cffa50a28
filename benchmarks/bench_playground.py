"""What the playground costs the training: optimizer steps per second of one configuration
trained (a) by a bare Trainer, (b) with the playground's history recorder
(``gdlab.playground.experiment.train``), (c) as a server run in its own thread with the
control callback and the snapshots for the page, while another thread asks for the decision
boundary 20 times a second, as the event stream does. One BLAS thread,
median of ``--repeats``.

    python benchmarks/bench_playground.py [--repeats 5] [--steps 5000]

The page is throttled, never the training: (c) should stay close to (b); (b) against (a) is the
price of measuring the whole training and validation sets every ``record_every`` steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("gdlab") is None and os.path.join(ROOT, "src") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "src"))

CONFIGS = {
    "spirals 16-16 tanh, adam, batch 16": {"dataset": "spirals", "layers": [16, 16]},
    "circles 8-8 tanh, sgd, batch 1": {"dataset": "circles", "optimizer": "sgd", "lr": 0.1,
                                       "batch_size": 1},
    "moons 32-32-32 relu + batchnorm, full batch": {
        "dataset": "moons", "layers": [32, 32, 32], "activation": "relu", "batchnorm": True,
        "batch_size": "full", "n_samples": 1000},
}


def bare(config):
    from gdlab.playground.experiment import build_experiment

    experiment = build_experiment(config)
    trainer, data = experiment.trainer, experiment.data
    trainer.callbacks = []  # the recorder off: the Trainer alone
    start = time.perf_counter()
    trainer.fit(data.X, data.y, validation_data=data.validation_data)
    return time.perf_counter() - start


def recorded(config):
    from gdlab.playground.experiment import train

    start = time.perf_counter()
    train(config)
    return time.perf_counter() - start


def served(config):
    from gdlab.playground.runs import Run

    run = Run(config, paused=True).start()
    drawing = threading.Event()

    def draw():
        while not drawing.is_set():
            run.boundary(compact=True)
            time.sleep(0.05)

    painter = threading.Thread(target=draw)
    painter.start()
    start = time.perf_counter()
    run.control.resume()
    run.join()
    elapsed = time.perf_counter() - start
    drawing.set()
    painter.join()
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args(argv)
    import numpy  # noqa: F401 - BLAS must be loaded for threadpoolctl to limit it
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    print(f"{'configuration':46s} {'bare':>12s} {'recorded':>12s} {'served':>12s}  steps/s")
    for name, config in CONFIGS.items():
        config = {**config, "max_steps": args.steps}
        rates = []
        for job in (bare, recorded, served):
            times = [job(config) for _ in range(args.repeats)]
            rates.append(args.steps / statistics.median(times))
        print(f"{name:46s} " + " ".join(f"{r:12,.0f}" for r in rates))


if __name__ == "__main__":
    main()
