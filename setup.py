"""The optional C kernels (gdlab.kernels._ckernels); everything else is in pyproject.toml.

The extension is optional: where no C compiler is found, pip still installs gdlab, which then
runs its NumPy code (or numba's kernels, with gdlab[fast]). Where the compiler takes OpenMP
(``-fopenmp`` and a libgomp/libomp to link), the kernels run on several threads; where it does
not, they are built single-threaded, with the same results.

``GDLAB_OPENMP=0`` builds without OpenMP even where it is found; ``GDLAB_CFLAGS`` adds flags
(tools/sanitize_kernels.py builds with ``-fsanitize=address,undefined`` this way).
"""

import os
import shlex
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# the arithmetic must stay IEEE, operation for operation: no fused multiply-add, no
# reassociation; -fno-math-errno only lets sqrt vectorise (it never changes a result)
UNIX_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fopenmp-simd", "-std=gnu99"]
OPENMP = ["-fopenmp"]
PROBE = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"


def openmp_works(compiler) -> bool:
    """Whether this compiler compiles and links an OpenMP program."""
    if os.environ.get("GDLAB_OPENMP", "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(PROBE)
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=OPENMP)
            compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=OPENMP)
        except Exception:  # noqa: BLE001 - any failure means: build without OpenMP
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            flags = UNIX_FLAGS + shlex.split(os.environ.get("GDLAB_CFLAGS", ""))
            omp = OPENMP if openmp_works(self.compiler) else []
            if not omp:
                print("gdlab: the C compiler does not take OpenMP; the kernels are built "
                      "single-threaded")
            for ext in self.extensions:
                ext.extra_compile_args = flags + omp
                ext.extra_link_args = omp + [f for f in flags if f.startswith("-fsanitize")]
        super().build_extensions()


setup(
    ext_modules=[Extension("gdlab.kernels._ckernels", ["src/gdlab/kernels/_ckernels.c"],
                           depends=["src/gdlab/kernels/_ckernels_loops.h"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
