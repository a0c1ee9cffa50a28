"""Benchmark 6: start-up time, measured like hyperfine: the median wall time of many fresh
processes (after warm-up runs, so that the files are in the page cache).

``python -c "import numpy"`` is the baseline; ``python -c "import gdlab"`` must stay within
0.05 s of it and ``gdlab --help`` within 0.15 s. ``import gdlab`` itself resolves its names
lazily and loads nothing heavy; ``import gdlab.training`` (the network, losses, optimizers and
the training loop: NumPy and gdlab's core) is shown beside it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

NAME = "startup"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands():
    py = sys.executable
    exe = shutil.which("gdlab", path=os.path.dirname(py)) or shutil.which("gdlab")
    cli = [exe, "--help"] if exe else [py, "-m", "gdlab", "--help"]
    return {
        "python -c pass": [py, "-c", "pass"],
        "import numpy": [py, "-c", "import numpy"],
        "import gdlab": [py, "-c", "import gdlab"],
        "import gdlab's core": [py, "-c", "import gdlab.training"],
        "gdlab --help": cli,
    }


def wall(cmd, runs, warmup=3):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "src") + os.pathsep + env.get("PYTHONPATH", "")
    for _ in range(warmup):
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


HEAVY = {"sklearn", "scipy", "matplotlib", "rich", "mpi4py", "torch", "numba", "pandas",
         "pyarrow", "onnx", "starlette"}


def imported_by_gdlab(statement="import gdlab"):
    """Top-level heavy packages that ``statement`` loads (besides the standard library and
    NumPy): ``import gdlab``, or the ``gdlab --help`` of :func:`imported_by_help`."""
    code = ("import sys; before = set(sys.modules)\n" + statement + "\n"
            "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
    lines = out.stdout.strip().splitlines()
    return sorted(HEAVY & set(lines[-1].split() if lines else ()))


def imported_by_help():
    """Heavy packages that ``gdlab --help``, ``gdlab train --help`` and ``gdlab predict
    --help`` load (none: pandas, scikit-learn and matplotlib come with a command's run)."""
    statement = ("import contextlib, io\nfrom gdlab.cli import main\n"
                 "for argv in (['--help'], ['train', '--help'], ['predict', '--help']):\n"
                 "    with contextlib.redirect_stdout(io.StringIO()):\n"
                 "        try:\n            main(argv)\n"
                 "        except SystemExit:\n            pass")
    return imported_by_gdlab(statement)


def run(runs=20):
    cmds = commands()
    t = {name: wall(cmd, runs) for name, cmd in cmds.items()}
    return {"seconds": t, "heavy_imports": imported_by_gdlab(),
            "heavy_imports_help": imported_by_help(), "runs": runs,
            "cli": " ".join(os.path.basename(c) for c in cmds["gdlab --help"])}


def summarize(res, threads):
    t = res["seconds"]
    rows = [(f"B6 {name}", f"{sec * 1000:.0f} ms", "median of {} runs".format(res["runs"]))
            for name, sec in t.items()]
    rows.append(("B6 heavy modules loaded by import gdlab", ", ".join(res["heavy_imports"])
                 or "none", "/".join(sorted(HEAVY))))
    rows.append(("B6 heavy modules loaded by gdlab --help (and train/predict --help)",
                 ", ".join(res.get("heavy_imports_help", [])) or "none",
                 "/".join(sorted(HEAVY))))
    d_imp = t["import gdlab"] - t["import numpy"]
    d_cli = t["gdlab --help"] - t["import numpy"]
    checks = [("B6 import gdlab - import numpy", f"{d_imp:+.3f} s", "<= 0.05 s", d_imp <= 0.05),
              ("B6 gdlab --help - import numpy", f"{d_cli:+.3f} s", "<= 0.15 s", d_cli <= 0.15)]
    return rows, checks
