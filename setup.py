"""The optional C kernels (gdlab.kernels._ckernels); everything else is in pyproject.toml.

The extension is optional: where no C compiler is found, pip still installs gdlab, which then
runs its NumPy code (or numba's kernels, with gdlab[fast]).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# the arithmetic must stay IEEE, operation for operation: no fused multiply-add, no
# reassociation; -fno-math-errno only lets sqrt vectorise (it never changes a result)
UNIX_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fopenmp-simd", "-std=c99"]


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = UNIX_FLAGS
        super().build_extensions()


setup(
    ext_modules=[Extension("gdlab.kernels._ckernels", ["src/gdlab/kernels/_ckernels.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
