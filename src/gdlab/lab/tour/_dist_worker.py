"""One rank of the tour's distributed experiment (run under mpiexec by gdlab.lab.tour.distributed).

    python -m gdlab.lab.tour._dist_worker --out FILE --epochs E --batch-size B --hidden H --lr LR

Every rank trains the same network on its shard of each global batch; rank 0 writes one JSON
file: the final parameters, the loss history, the step count, the training time and the time
spent inside the gradient allreduce.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--hidden", type=int, default=64)
    args = p.parse_args(argv)

    from gdlab.data import load_dataset, split, standardize
    from gdlab.distributed import get_communicator
    from gdlab.nn.sequential import mlp
    from gdlab.optim import make_optimizer
    from gdlab.training import Trainer

    comm = get_communicator()
    spent = [0.0, 0]
    allreduce = comm.allreduce_

    def timed_allreduce(array):
        t0 = time.perf_counter()
        allreduce(array)
        spent[0] += time.perf_counter() - t0
        spent[1] += 1

    comm.allreduce_ = timed_allreduce   # this instance only: measure, change nothing
    ds = load_dataset("digits")
    sp = split(ds.X, ds.y, test_size=0.2, task="classification", seed=0)
    _, X, _ = standardize(sp.X_train, sp.X_test, dtype=np.float64)
    y = sp.y_train
    net = mlp(X.shape[1], [args.hidden], 10, activation="relu", dtype="float64", seed=0)
    opt = make_optimizer("sgd", [net.flat_parameters], lr=args.lr)
    trainer = Trainer(net, "cross_entropy", opt, batch_size=args.batch_size, epochs=args.epochs,
                      tol=None, seed=0, comm=comm)
    comm.barrier()
    t0 = time.perf_counter()
    result = trainer.fit(X, y)
    seconds = time.perf_counter() - t0
    params = np.array(net.flat_parameters, dtype=np.float64)
    gathered = comm.allgather(params)
    ranks_spread = float(np.max(np.abs(gathered - gathered[0]))) if comm.size > 1 else 0.0
    if comm.rank == 0:
        with open(args.out, "w") as fh:
            json.dump({"workers": comm.size, "steps": result.steps, "seconds": seconds,
                       "allreduce_seconds": spent[0], "allreduce_calls": spent[1],
                       "loss": trainer.history["loss"], "params": params.tolist(),
                       "ranks_spread": ranks_spread, "n_train": len(y)}, fh)


if __name__ == "__main__":
    main()
