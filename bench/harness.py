"""Shared parts of the benchmarks: problems, contenders, size limits, checks.

A *problem* is one 2-D convolution or transposed convolution in float32.
A *contender* is one way to compute it: every method registered in fastconv
(``fastconv.CONV_METHODS`` / ``fastconv.CONV_TRANSPOSE_METHODS``, read when
the benchmarks are collected, so new methods join by themselves),
``torch.nn.functional`` when torch is importable, and
``scipy.signal.correlate2d`` for single-channel, unpadded, unit-stride 2-D
convolutions.  fastconv and torch run on THREADS threads (correlate2d has
one).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace

import numpy as np
import pytest
import scipy.signal

import fastconv
from fastconv._matrix import DENSE_LIMIT

try:
    import torch
    import torch.nn.functional as torch_functional
except ImportError:  # torch is an optional oracle and contender
    torch = None

#: Threads for every contender (the issue's workloads are timed on 2).
THREADS = 2
if torch is not None:
    torch.set_num_threads(THREADS)

TORCH = "torch"
SCIPY = "scipy.correlate2d"
CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"

#: Methods that build the convolution as a matrix, and the size estimate
#: that decides whether they are run (see :func:`matrix_skip_reason`).
DENSE, SPARSE = "dense", "sparse"

#: Bytes per stored nonzero while a sparse matrix is built: a value and two
#: int64 indices (COO), the largest form the construction goes through.
SPARSE_BYTES_PER_NONZERO = 4 + 8 + 8
#: Matrix budget of the smoke test (--benchmark-disable), which must stay
#: quick: building bigger matrices is for the timed runs.
SMOKE_MATRIX_BYTES = 256 << 20


@dataclass(frozen=True)
class Problem:
    """One float32 2-D (transposed) convolution, square images and kernels."""

    op: str
    n: int
    c_in: int
    c_out: int
    size: int           # input side
    kernel: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0

    @property
    def out_size(self):
        if self.op == CONV:
            return fastconv.conv_output_shape((self.size,), self.kernel, self.stride,
                                              self.padding)[0]
        return fastconv.conv_transpose_output_shape(
            (self.size,), self.kernel, self.stride, self.padding,
            self.output_padding)[0]

    @property
    def flops(self):
        """2 x multiply-adds, padding taps included (as usually quoted)."""
        return 2 * self.n * self.matrix_nonzeros()

    def describe(self):
        return (f"{self.op} N={self.n} {self.c_in}->{self.c_out} "
                f"{self.size}x{self.size} k{self.kernel} s{self.stride} p{self.padding}")

    def with_batch(self, n):
        return replace(self, n=n)

    def arrays(self, seed=0):
        """(x, weight) in float32, PyTorch layouts."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.c_in, self.size, self.size),
                                dtype=np.float32)
        if self.op == CONV:
            w_shape = (self.c_out, self.c_in, self.kernel, self.kernel)
        else:
            w_shape = (self.c_in, self.c_out, self.kernel, self.kernel)
        weight = rng.standard_normal(w_shape, dtype=np.float32)
        return x, weight

    def matrix_shape(self):
        """(rows, cols) of the convolution matrix of one sample.

        For a transposed convolution, of the convolution it is the adjoint of.
        """
        if self.op == CONV:
            return (self.c_out * self.out_size ** 2, self.c_in * self.size ** 2)
        return (self.c_in * self.size ** 2, self.c_out * self.out_size ** 2)

    def matrix_nonzeros(self):
        """Nonzeros of that matrix, padding taps included: rows x reach."""
        reach = self.c_in if self.op == CONV else self.c_out
        return self.matrix_shape()[0] * reach * self.kernel ** 2

def contenders(op):
    """Names of everything that computes ``op``: fastconv methods first."""
    methods = fastconv.CONV_METHODS if op == CONV else fastconv.CONV_TRANSPOSE_METHODS
    names = list(methods)
    if torch is not None:
        names.append(TORCH)
    if op == CONV:
        names.append(SCIPY)
    return names


def is_fastconv(name):
    return name not in (TORCH, SCIPY)


def memory_budget(smoke):
    """Bytes a matrix method may use: a quarter of the free memory, and at
    most SMOKE_MATRIX_BYTES in the smoke test."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        free = 4 << 30
    return min(free // 4, SMOKE_MATRIX_BYTES) if smoke else free // 4


def matrix_skip_reason(name, problem, smoke):
    """Why the dense / sparse method cannot run ``problem`` here, or None.

    Dense: rows x cols float32 values.  Sparse: one nonzero per (output,
    input channel of its group, tap), at SPARSE_BYTES_PER_NONZERO while built.
    """
    rows, cols = problem.matrix_shape()
    if name == DENSE:
        need = rows * cols * 4
        what = f"dense matrix {rows} x {cols} float32"
    elif name == SPARSE:
        nonzeros = problem.matrix_nonzeros()
        need = nonzeros * SPARSE_BYTES_PER_NONZERO
        what = f"sparse matrix {rows} x {cols} with {nonzeros} nonzeros"
    else:
        return None
    budget = memory_budget(smoke)
    if name == DENSE:
        # fastconv refuses a dense matrix above this, whatever the memory
        budget = min(budget, DENSE_LIMIT)
    if need > budget:
        return (f"{what} needs {need / 2**30:.2f} GiB, over the "
                f"{'smoke test' if smoke else 'memory'} budget of "
                f"{budget / 2**30:.2f} GiB")
    return None


def make_call(name, problem, x, weight, smoke):
    """A no-argument callable computing ``problem`` with contender ``name``.

    Calls ``pytest.skip`` with the reason when the contender does not apply
    or its matrix would not fit (``smoke``: the smaller smoke-test budget).
    torch gets tensors sharing the NumPy arrays' memory, made outside the
    timed call: its time is its own call, as a torch user sees it.
    """
    reason = matrix_skip_reason(name, problem, smoke)
    if reason:
        pytest.skip(reason)
    geometry = dict(stride=problem.stride, padding=problem.padding)
    if problem.op == CONV_TRANSPOSE:
        geometry["output_padding"] = problem.output_padding
    if name == TORCH:
        xt, wt = torch.from_numpy(x), torch.from_numpy(weight)
        fn = (torch_functional.conv2d if problem.op == CONV
              else torch_functional.conv_transpose2d)
        return lambda: fn(xt, wt, **geometry)
    if name == SCIPY:
        if not (problem.n == problem.c_in == problem.c_out == 1
                and problem.stride == 1 and problem.padding == 0):
            pytest.skip("scipy.signal.correlate2d: single-channel, unpadded, "
                        "unit-stride 2-D convolution only")
        image, kernel = x[0, 0], weight[0, 0]
        return lambda: scipy.signal.correlate2d(image, kernel, mode="valid")
    fn = fastconv.conv2d if problem.op == CONV else fastconv.conv_transpose2d
    return lambda: fn(x, weight, **geometry, method=name, n_threads=THREADS)


def as_array(result):
    """A contender's result as a 4-D NumPy array."""
    if torch is not None and isinstance(result, torch.Tensor):
        result = result.numpy()
    result = np.asarray(result)
    return result.reshape((1, 1) + result.shape) if result.ndim == 2 else result


def reference(problem, x, weight):
    """The expected output: torch when importable, else fastconv's direct method.

    float64 inputs, so that the float32 contenders are all compared with
    something more accurate than themselves.
    """
    x64, w64 = x.astype(np.float64), weight.astype(np.float64)
    geometry = dict(stride=problem.stride, padding=problem.padding)
    if problem.op == CONV_TRANSPOSE:
        geometry["output_padding"] = problem.output_padding
    if torch is not None:
        fn = (torch_functional.conv2d if problem.op == CONV
              else torch_functional.conv_transpose2d)
        return fn(torch.from_numpy(x64), torch.from_numpy(w64), **geometry).numpy()
    if problem.op == CONV:
        return fastconv.conv2d(x64, w64, **geometry, method="direct")
    return fastconv.conv_transpose2d(x64, w64, **geometry, method="direct")


def check(result, expected, problem):
    """float32 accuracy: error within 1e-5 x sqrt(terms per output) x scale."""
    out = as_array(result)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    terms = (problem.c_in if problem.op == CONV else problem.c_out) * problem.kernel ** 2
    scale = max(float(np.max(np.abs(expected))), 1.0)
    err = float(np.max(np.abs(out.astype(np.float64) - expected)))
    assert err <= 1e-5 * math.sqrt(terms) * scale, f"max error {err:.3g}, scale {scale:.3g}"


def record(benchmark, problem, name, **info):
    """GFLOP and, after a timed run, GFLOP/s in ``extra_info``."""
    benchmark.extra_info.update(info)
    benchmark.extra_info.update(
        method=name, fastconv=is_fastconv(name), problem=problem.describe(),
        gflop=problem.flops / 1e9,
    )


def record_rate(benchmark, problem):
    if benchmark.enabled and benchmark.stats is not None:
        benchmark.extra_info["gflop_per_s"] = problem.flops / benchmark.stats.stats.min / 1e9


@functools.lru_cache(maxsize=2)
def prepared(problem):
    """(x, weight, expected output) of ``problem``, made once per problem."""
    x, weight = problem.arrays()
    return x, weight, reference(problem, x, weight)
