"""Build gdlab's C kernels with AddressSanitizer and UndefinedBehaviorSanitizer and run the kernel
tests on them: any out-of-bounds access, use after free, misaligned load or other undefined
behaviour of the C build stops the run with a report.

    python tools/sanitize_kernels.py              # tests/kernels and tests/nn/test_fused.py
    python tools/sanitize_kernels.py -- -x -q     # extra arguments go to pytest

It copies the project into a temporary folder, builds the extension there in place with
``GDLAB_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all ..."`` (setup.py adds
them to the usual flags, OpenMP included), and runs pytest on the C build only (``-k "not
numba"``) with the sanitizer runtimes preloaded (the Python interpreter itself is not built
with them) and ``PYTHONPATH`` pointing at the copy; the tests' subprocesses (the crash probes)
inherit all of it. Leak detection is off: Python's own allocations at exit are not leaks of the
kernels. It needs gcc (or clang) with its sanitizer runtimes (Debian: libasan, libubsan) and
takes about 40 s on 2 cores (the build 7 s, 349 tests); it is not part of CI. Exit code:
pytest's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ("-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g")
TESTS = ["tests/kernels", "tests/nn/test_fused.py"]


def runtime(compiler: str, name: str) -> str:
    """The path of a sanitizer runtime library, as the compiler knows it."""
    out = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True)
    path = out.stdout.strip()
    if out.returncode != 0 or not os.path.isabs(path) or not os.path.exists(path):
        sys.exit(f"sanitize_kernels: {compiler} has no {name} (install libasan and libubsan)")
    return path


def main(argv: list[str]) -> int:
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    preload = ":".join(runtime(compiler, name) for name in ("libasan.so", "libubsan.so"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gdlab-sanitize-") as tmp:
        tree = Path(tmp)
        shutil.copytree(ROOT / "src", tree / "src",
                        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
        for name in ("setup.py", "pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, tree / name)
        build_env = {**os.environ, "GDLAB_CFLAGS": FLAGS}
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=tree,
                       env=build_env, check=True)
        print(f"sanitize_kernels: built with {FLAGS} in {time.perf_counter() - start:.0f} s",
              flush=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(tree / "src"),
            "LD_PRELOAD": preload,
            "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
            "GDLAB_FAST": "c",
        }
        extra = argv[argv.index("--") + 1:] if "--" in argv else []
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k",
               "not numba", "-m", "not slow", *TESTS, *extra]
        code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    print(f"sanitize_kernels: pytest exit code {code}, {time.perf_counter() - start:.0f} s in all")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
