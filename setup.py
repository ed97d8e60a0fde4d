"""Build the compiled kernels.

Compiler directives are set once here for every module.  Set
``FASTCONV_DEBUG=1`` at build time to turn bounds checking, wraparound and
initialised-memory checks back on.  OpenMP is used when the compiler accepts
``-fopenmp`` and skipped otherwise (the kernels then run on one thread).
No machine-specific flags: wheels must run on any x86-64 / arm64 CPU.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTCONV_DEBUG", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,  # the Python layer guarantees stride, dilation >= 1
    "nonecheck": False,
}

MODULES = ["_direct", "_gemm", "_openmp"]


def _openmp_flags(compiler):
    """(compile, link) flags for OpenMP, or ([], []) if the compiler lacks it."""
    if sys.platform == "win32":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    source = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    for cflags, ldflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp, "check_openmp.c")
            src.write_text(source)
            try:
                objects = compiler.compile([str(src)], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objects, "check_openmp", output_dir=tmp,
                                         extra_postargs=ldflags)
            except Exception:
                continue
        return cflags, ldflags
    return [], []


class BuildExt(build_ext):
    def build_extensions(self):
        cflags, ldflags = _openmp_flags(self.compiler)
        if not cflags:
            print("fastconv: the compiler has no OpenMP; kernels will run on one thread")
        opt = [] if self.compiler.compiler_type == "msvc" else ["-O3"]
        for ext in self.extensions:
            ext.extra_compile_args += opt + cflags
            ext.extra_link_args += ldflags
        super().build_extensions()


extensions = [
    Extension(
        f"fastconv.{name}",
        [f"src/fastconv/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExt},
)
