"""Build the compiled kernels.

Compiler directives are set once here for every module.  Set
``FASTCONV_DEBUG=1`` at build time to turn bounds checking, wraparound and
initialised-memory checks back on.  Set ``FASTCONV_SANITIZE=1`` to build
with AddressSanitizer and UndefinedBehaviorSanitizer (GCC / Clang; see
``tools/sanitize.sh`` and docs/testing.rst for running the tests on it).

OpenMP is used when the compiler accepts it and skipped otherwise (the
kernels then run on one thread); a wheel build under cibuildwheel
(``CIBUILDWHEEL=1``) fails instead, so no wheel ships without it.

- GCC / Clang on Linux: ``-fopenmp``.
- MSVC: ``/openmp`` (the runtime is vcomp140.dll).
- Apple Clang: ``-Xpreprocessor -fopenmp`` and ``-lomp``; Apple ships no
  libomp, so point ``FASTCONV_OPENMP_PREFIX`` at a directory holding
  ``include/omp.h`` and ``lib/libomp.dylib`` (Homebrew:
  ``FASTCONV_OPENMP_PREFIX=$(brew --prefix libomp)``; wheels:
  ``tools/build_libomp_macos.sh``).

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
SANITIZE = os.environ.get("FASTCONV_SANITIZE", "0") not in ("", "0")
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,  # the Python layer guarantees stride, dilation >= 1
    "nonecheck": False,
    "autotestdict": False,  # no __test__ dict: pytest collects doctests from .py files
}

MODULES = ["_depthwise", "_direct", "_direct_channels", "_gemm", "_openmp", "_resample", "_scatter"]

NUMPY_MACROS = [
    ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
    # Built against NumPy 2, the extensions run on any NumPy at least this
    # old; it must match the oldest numpy in pyproject.toml's dependencies.
    ("NPY_TARGET_VERSION", "NPY_1_25_API_VERSION"),
]


def _openmp_candidates(compiler):
    """Ways to get OpenMP from this compiler, as Extension keyword arguments."""
    if compiler.compiler_type == "msvc":
        return [dict(extra_compile_args=["/openmp"])]
    if sys.platform == "darwin":
        prefix = os.environ.get("FASTCONV_OPENMP_PREFIX")
        dirs = {}
        if prefix:
            lib = str(Path(prefix, "lib"))
            dirs = dict(include_dirs=[str(Path(prefix, "include"))], library_dirs=[lib],
                        extra_link_args=[f"-Wl,-rpath,{lib}"])
        return [dict(extra_compile_args=["-Xpreprocessor", "-fopenmp"],
                     libraries=["omp"], **dirs)]
    return [dict(extra_compile_args=["-fopenmp"], extra_link_args=["-fopenmp"])]


def _openmp_options(compiler):
    """The first candidate that compiles and links a test program, or {}."""
    source = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    for options in _openmp_candidates(compiler):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp, "check_openmp.c")
            src.write_text(source)
            try:
                objects = compiler.compile(
                    [str(src)], output_dir=tmp,
                    include_dirs=options.get("include_dirs", []),
                    extra_postargs=options.get("extra_compile_args", []))
                compiler.link_executable(
                    objects, "check_openmp", output_dir=tmp,
                    libraries=options.get("libraries", []),
                    library_dirs=options.get("library_dirs", []),
                    extra_postargs=options.get("extra_link_args", []))
            except Exception:
                continue
        return options
    return {}


class BuildExt(build_ext):
    def build_extensions(self):
        openmp = _openmp_options(self.compiler)
        if not openmp:
            if os.environ.get("CIBUILDWHEEL") == "1":
                raise RuntimeError("fastconv: no OpenMP found; a wheel must not ship without it")
            print("fastconv: the compiler has no OpenMP; kernels will run on one thread")
        opt = [] if self.compiler.compiler_type == "msvc" else ["-O3"]
        if SANITIZE:
            if self.compiler.compiler_type == "msvc":
                raise RuntimeError("fastconv: FASTCONV_SANITIZE=1 needs GCC or Clang")
            # Python's CFLAGS hold -fwrapv, which defines signed overflow
            # and so hides it from UBSan: turn it back off
            opt = ["-O1", "-fno-wrapv"] + SANITIZE_FLAGS
        for ext in self.extensions:
            ext.extra_compile_args += opt
            if SANITIZE:
                ext.extra_link_args += SANITIZE_FLAGS
            for key, values in openmp.items():
                getattr(ext, key).extend(values)
        super().build_extensions()


extensions = [
    Extension(
        f"fastconv.{name}",
        [f"src/fastconv/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=NUMPY_MACROS,
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExt},
)
