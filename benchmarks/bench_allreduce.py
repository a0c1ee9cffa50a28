"""Time per data-parallel step: compute (forward + loss + backward on the rank's shard, the
optimizer update) against the ONE allreduce of the flat gradient buffer, for 1 and 2 ranks.

The benchmark MLP 784-256-128-10 (ReLU, 235,146 parameters), a global batch of 128, float32,
Adam. Each rank does exactly what gdlab's training loop does per step (its shard of the
global batch, the gradient scaled by its share, one in-place ``Allreduce`` of gradient + 3
scalars, the update). Reported per step, median over the steps, in milliseconds:

- compute: forward, loss, backward and the optimizer step on this rank;
- allreduce: the ``Allreduce`` call as training sees it (includes waiting for the slower rank);
- pure allreduce: the same call right after a barrier (the communication alone);
- the ring cost model's prediction for the same bytes (see docs/distributed.md).

    python benchmarks/bench_allreduce.py [--ranks 1 2] [--steps 300] [--no-wait-settings]

It starts itself under the mpiexec next to the Python interpreter for every rank count > 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def run_rank(steps: int, batch: int, warmup: int = 20, threads: int = 1) -> dict:
    """The timed loop inside one rank; returns the medians (rank 0's view).

    ``threads``: the BLAS threads of a lone process (ranks get theirs from MPIComm)."""
    from gdlab.distributed import get_communicator
    from gdlab.nn.losses import CrossEntropyLoss
    from gdlab.nn.sequential import mlp
    from gdlab.optim import Adam

    comm = get_communicator()
    if comm.size > 1:
        threads = comm.threads
    else:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    net = mlp(784, [256, 128], 10, dtype="float32", seed=0)
    loss = CrossEntropyLoss()
    opt = Adam([net.flat_parameters], lr=1e-3)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * 8, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=batch * 8)
    n = net.n_parameters
    buf = np.zeros(n + 3, dtype=np.float32)
    flat_g = net.flat_gradients
    times = {"compute": [], "allreduce": [], "pure": []}
    for step in range(warmup + steps):
        s = (step % 8) * batch
        lidx = comm.shard(np.arange(s, s + batch))
        share = lidx.shape[0] / batch
        t0 = time.perf_counter()
        out = net.forward(X[lidx], training=True)
        value, g = loss.compute(out, y[lidx], None, True)
        net.backward(g, input_grad=False)
        np.multiply(flat_g, share, out=buf[:n])
        buf[n] = value * share
        t1 = time.perf_counter()
        comm.allreduce_(buf)
        t2 = time.perf_counter()
        np.copyto(flat_g, buf[:n])
        opt.step([flat_g])
        t3 = time.perf_counter()
        comm.barrier()
        t4 = time.perf_counter()
        comm.allreduce_(buf)
        t5 = time.perf_counter()
        if step >= warmup:
            times["compute"].append((t1 - t0) + (t3 - t2))
            times["allreduce"].append(t2 - t1)
            times["pure"].append(t5 - t4)
    result = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    result.update(ranks=comm.size, threads=threads, params=n, bytes=buf.nbytes)
    return result


def ring_model_ms(nbytes: int, ranks: int, bandwidth: float, latency: float) -> float:
    """Ring allreduce: 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency, in ms."""
    if ranks == 1:
        return 0.0
    return 1e3 * (2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--no-wait-settings", action="store_true",
                    help="do not set gdlab's MPICH waiting settings (busy polling as is)")
    ap.add_argument("--rank-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rank_json:  # inside mpiexec
        result = run_rank(args.steps, args.batch)
        if int(os.environ.get("PMI_RANK", "0")) == 0:
            print("RESULT " + json.dumps(result), flush=True)
        return

    from gdlab.distributed.launch import MPICH_WAIT_SETTINGS, mpiexec_command

    env = dict(os.environ)
    if not args.no_wait_settings:
        for key, value in MPICH_WAIT_SETTINGS.items():
            env.setdefault(key, value)
    print(f"MLP 784-256-128-10, global batch {args.batch}, float32, Adam; median of "
          f"{args.steps} steps, ms per step; {os.cpu_count()} cores; MPICH waiting settings "
          f"{'off' if args.no_wait_settings else 'on'}")
    header = (f"{'ranks':>5} {'threads':>7} {'compute':>9} {'allreduce':>10} {'pure AR':>8} "
              f"{'AR share':>9} {'model AR':>9}")
    print(header)
    print("-" * len(header))
    script = [os.path.abspath(__file__), "--rank-json", "--steps", str(args.steps),
              "--batch", str(args.batch)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    runs = []
    for ranks in args.ranks:
        # one process with one thread (a rank's budget) and with all the cores
        runs += [(1, 1), (1, cores)] if ranks == 1 and cores > 1 else [(ranks, 1)]
    for ranks, threads in runs:
        if ranks == 1:
            result = run_rank(args.steps, args.batch, threads=threads)
        else:
            command = mpiexec_command(ranks, script)
            command[command.index("-m"):command.index("-m") + 2] = []  # a script, not a module
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            line = next(li for li in out.stdout.splitlines() if li.startswith("RESULT "))
            result = json.loads(line[len("RESULT "):])
        total = result["compute"] + result["allreduce"]
        # shared-memory transport on one machine: ~5 GB/s effective, ~1 us per message
        model = ring_model_ms(result["bytes"], ranks, 5e9, 1e-6)
        print(f"{ranks:>5} {result['threads']:>7} {result['compute']:>9.3f} "
              f"{result['allreduce']:>10.3f} {result['pure']:>8.3f} "
              f"{100 * result['allreduce'] / total:>8.1f}% {model:>9.3f}")
    print(f"gradient buffer: {result['params']} parameters + 3 scalars = {result['bytes']} bytes")


if __name__ == "__main__":
    sys.exit(main())
