"""Starting N ranks on this machine through ``mpiexec``: what ``gdlab train --workers N`` does.

The ``mpiexec`` used is the one installed next to the Python interpreter (``pip install
'gdlab[mpi]'`` puts MPICH's there), never whatever comes first on PATH: a launcher from
another MPI library than mpi4py's would start N independent one-process jobs. Each rank
checks the size of its communicator (:func:`gdlab.distributed.get_communicator`), so such a
mismatch is an error, not N copies of the same run.

On a cluster, start the same program yourself under ``mpiexec -n N`` or ``srun``; it detects
the launcher and runs distributed without ``--workers`` (see docs/distributed.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gdlab.distributed.mpi import launcher_size

# MPICH spins while a rank waits inside a collective. With more ranks x threads than cores
# (a shared laptop, a busy node) the spinning rank takes cycles from the one computing, so the
# ranks we start give the processor up when a wait goes on: CH4_PROGRESS_THROTTLE sleeps 1 us
# after a run of empty polls, POLLS_BEFORE_YIELD calls sched_yield more often. Neither changes
# any result; a value the user already set is kept. See benchmarks/bench_allreduce.py.
MPICH_WAIT_SETTINGS = {
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
    "MPIR_CVAR_POLLS_BEFORE_YIELD": "100",
}


def find_mpiexec() -> str:
    """The ``mpiexec`` next to ``sys.executable``; FileNotFoundError saying how to get one."""
    bindir = Path(sys.executable).parent  # not resolved: a virtualenv's bin/ holds mpiexec
    for name in ("mpiexec", "mpiexec.hydra", "mpirun"):
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        f"no mpiexec next to the Python interpreter in '{bindir}': install the MPI extra "
        "(pip install 'gdlab[mpi]', which brings mpi4py and MPICH), or on a cluster start "
        "the ranks yourself with the site's mpiexec or srun")


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def under_launcher() -> bool:
    """True in a process started by an MPI launcher with more than one rank."""
    return launcher_size() > 1


def mpiexec_command(workers: int, args, *, mpiexec: str | None = None,
                    module: str = "gdlab") -> list[str]:
    """The command that runs ``python -m <module> <args>`` as ``workers`` ranks on this machine."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    mpiexec = mpiexec or find_mpiexec()
    # fork on localhost: this machine only, even inside a Slurm allocation
    return [mpiexec, "-launcher", "fork", "-hosts", "localhost", "-n", str(workers),
            sys.executable, "-m", module, *args]


def launch(args, workers: int, *, mpiexec: str | None = None, env=None,
           module: str = "gdlab") -> int:
    """Run ``python -m <module> <args>`` as ``workers`` MPI ranks here; return the exit code.

    ``args`` is the command line to repeat in every rank (for ``gdlab train`` it keeps
    ``--workers N``: each rank checks it runs among N). Ctrl-C reaches the ranks directly
    (same terminal); this process then waits for mpiexec and returns its code.
    """
    command = mpiexec_command(workers, list(args), mpiexec=mpiexec, module=module)
    cores = _usable_cores()
    if workers > cores:
        print(f"gdlab: warning: {workers} ranks on {cores} cores; MPI ranks poll while they "
              "wait, so oversubscribed ranks slow each other down by orders of magnitude",
              file=sys.stderr)
    environment = dict(os.environ if env is None else env)
    for key, value in MPICH_WAIT_SETTINGS.items():
        environment.setdefault(key, value)
    process = subprocess.Popen(command, env=environment)
    # SIGTERM to this process (a batch system, `kill`) goes to mpiexec, which passes it to the
    # ranks; they stop at the same step and write a checkpoint. Dying alone would orphan them.
    forwarded = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            forwarded[sig] = signal.signal(sig, lambda signum, frame: process.send_signal(signum))
        except ValueError:  # not the main thread
            pass
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue  # Ctrl-C reached mpiexec too; it passes it on to the ranks
    finally:
        for sig, old in forwarded.items():
            signal.signal(sig, old)
