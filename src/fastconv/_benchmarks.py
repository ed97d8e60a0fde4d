"""The benchmark problems and contenders, shared by ``fastconv bench`` and bench/.

A *problem* is one float32 2-D convolution or transposed convolution.  A
*contender* is one way to compute it: every method registered in fastconv
(read from the registry when asked, so new methods join by themselves),
``torch.nn.functional`` when torch is importable, and
``scipy.signal.correlate2d`` for single-channel, unit-stride 2-D
convolutions with no padding or 'same' padding.

This module knows what to run and whether it fits; the timing is the
caller's: pytest-benchmark's in bench/, :func:`best_time` in the command.
torch is imported when first needed, so importing this module costs
nothing for a command that never benchmarks.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _api, _methods
from ._geometry import conv_output_shape, conv_transpose_output_shape
from ._matrix import DENSE_LIMIT

CONV = _methods.CONV
CONV_TRANSPOSE = _methods.CONV_TRANSPOSE

#: Contenders other than fastconv's methods.
TORCH = "torch"
SCIPY = "scipy.correlate2d"

#: Methods that build the convolution as a matrix, and so are run only
#: where that matrix fits (see :func:`skip_reason`).
DENSE, SPARSE = "dense", "sparse"

#: Bytes per stored nonzero while a sparse matrix is built: a value and two
#: int64 indices (COO), the largest form the construction goes through.
SPARSE_BYTES_PER_NONZERO = 4 + 8 + 8
#: Matrix budget of the quick runs (``fastconv bench``, the bench/ smoke
#: test): building bigger matrices is for the timed bench/ runs.
QUICK_MATRIX_BYTES = 256 << 20


@dataclass(frozen=True)
class Problem:
    """One float32 2-D (transposed) convolution of square images and kernels.

    Attributes
    ----------
    operation : {'conv', 'conv_transpose'}
    batch : int
        Images per call, N.
    c_in, c_out : int
        Input and output channels.
    input_side : int
        The input images are ``input_side`` x ``input_side``.
    kernel_side : int
        The kernel is ``kernel_side`` x ``kernel_side``.
    stride, padding, output_padding : int
        As for :func:`fastconv.conv2d` / :func:`fastconv.conv_transpose2d`.
    """

    operation: str
    batch: int
    c_in: int
    c_out: int
    input_side: int
    kernel_side: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0

    @property
    def output_side(self) -> int:
        """Side of the square output images."""
        if self.operation == CONV:
            return conv_output_shape((self.input_side,), self.kernel_side, self.stride,
                                     self.padding)[0]
        return conv_transpose_output_shape((self.input_side,), self.kernel_side,
                                           self.stride, self.padding, self.output_padding)[0]

    @property
    def flops(self) -> int:
        """2 x multiply-adds, padding taps included (as usually quoted)."""
        return 2 * self.batch * self.matrix_nonzeros()

    @property
    def function_name(self) -> str:
        """``'conv2d'`` or ``'conv_transpose2d'``."""
        return "conv2d" if self.operation == CONV else "conv_transpose2d"

    def describe(self) -> str:
        """One line, e.g. ``'conv N=16 64->64 56x56 k3 s1 p1'``."""
        return (f"{self.operation} N={self.batch} {self.c_in}->{self.c_out} "
                f"{self.input_side}x{self.input_side} k{self.kernel_side} s{self.stride} "
                f"p{self.padding}")

    def arguments(self) -> dict[str, int]:
        """The geometry arguments of the call that differ from their defaults."""
        given = dict(stride=self.stride, padding=self.padding)
        if self.operation == CONV_TRANSPOSE:
            given["output_padding"] = self.output_padding
        defaults = dict(stride=1, padding=0, output_padding=0)
        return {name: value for name, value in given.items() if value != defaults[name]}

    def with_batch(self, batch: int) -> Problem:
        """The same problem with ``batch`` images."""
        return replace(self, batch=batch)

    def arrays(self, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Random float32 inputs in PyTorch layouts.

        Returns
        -------
        x : numpy.ndarray, shape (batch, c_in, input_side, input_side)
        weight : numpy.ndarray, shape (c_out, c_in, k, k) for a convolution,
            (c_in, c_out, k, k) for a transposed convolution
        """
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.batch, self.c_in, self.input_side, self.input_side),
                                dtype=np.float32)
        if self.operation == CONV:
            weight_shape = (self.c_out, self.c_in, self.kernel_side, self.kernel_side)
        else:
            weight_shape = (self.c_in, self.c_out, self.kernel_side, self.kernel_side)
        return x, rng.standard_normal(weight_shape, dtype=np.float32)

    def matrix_shape(self) -> tuple[int, int]:
        """(rows, cols) of the convolution matrix of one sample.

        For a transposed convolution, of the convolution it is the adjoint of.
        """
        if self.operation == CONV:
            return (self.c_out * self.output_side ** 2, self.c_in * self.input_side ** 2)
        return (self.c_in * self.input_side ** 2, self.c_out * self.output_side ** 2)

    def matrix_nonzeros(self) -> int:
        """Nonzeros of that matrix, padding taps included: rows x reach."""
        reach = self.c_in if self.operation == CONV else self.c_out
        return self.matrix_shape()[0] * reach * self.kernel_side ** 2


#: The issue's workloads, name: (problem, target for fastconv time / torch time).
WORKLOADS = {
    "classic": (Problem(CONV, 1, 1, 1, 4, 3), 1.0),
    "image-k3": (Problem(CONV, 1, 1, 1, 512, 3), 0.2),
    "image-k7": (Problem(CONV, 1, 1, 1, 512, 7), 0.5),
    "resnet": (Problem(CONV, 16, 64, 64, 56, 3, padding=1), 1.3),
    "down": (Problem(CONV, 16, 64, 128, 56, 3, stride=2, padding=1), 1.3),
    "dcgan-1": (Problem(CONV_TRANSPOSE, 64, 100, 512, 1, 4), 0.8),
    "dcgan-3": (Problem(CONV_TRANSPOSE, 16, 256, 128, 16, 4, stride=2, padding=1), 1.2),
    "dcgan-4": (Problem(CONV_TRANSPOSE, 16, 128, 3, 32, 4, stride=2, padding=1), 0.8),
    "unet-up": (Problem(CONV_TRANSPOSE, 4, 128, 64, 64, 2, stride=2), 0.8),
}


def ladder_problem(operation: str, side: int) -> Problem:
    """The one-image, one-channel, 3x3-kernel problem with a ``side`` x ``side`` output.

    A convolution with padding 1 of a ``side`` x ``side`` input, or a
    transposed convolution (stride 2, padding 1, output_padding 1) up-sampling
    a ``side // 2`` x ``side // 2`` input; ``side`` even.
    """
    if operation == CONV:
        return Problem(CONV, 1, 1, 1, side, 3, padding=1)
    return Problem(CONV_TRANSPOSE, 1, 1, 1, side // 2, 3, stride=2, padding=1,
                   output_padding=1)


@functools.cache
def torch_module() -> Any:
    """The torch module, or None where it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def contenders(operation: str) -> list[str]:
    """Names of everything that computes ``operation``: fastconv methods first."""
    names = list(_methods.method_names(operation))
    if torch_module() is not None:
        names.append(TORCH)
    if operation == CONV:
        names.append(SCIPY)
    return names


def is_fastconv(name: str) -> bool:
    """Whether contender ``name`` is a fastconv method."""
    return name not in (TORCH, SCIPY)


def memory_budget(cap: int | None = None) -> int:
    """Bytes a matrix method may use: a quarter of the free memory, at most ``cap``."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        free = 4 << 30
    return free // 4 if cap is None else min(free // 4, cap)


def _scipy_mode(problem: Problem) -> str | None:
    """correlate2d's mode computing ``problem``: 'valid', 'same', or None for neither."""
    if not (problem.operation == CONV and problem.batch == problem.c_in == problem.c_out == 1
            and problem.stride == 1):
        return None
    if problem.padding == 0:
        return "valid"
    if problem.kernel_side % 2 == 1 and problem.padding == problem.kernel_side // 2:
        return "same"
    return None


def _matrix_need(name: str, problem: Problem) -> tuple[int, str] | None:
    """(bytes, description) of the matrix method ``name`` builds; None for others.

    Dense: rows x cols float32 values.  Sparse: one nonzero per (output,
    input channel of its group, tap), at SPARSE_BYTES_PER_NONZERO while built.
    """
    rows, cols = problem.matrix_shape()
    if name == DENSE:
        return rows * cols * 4, f"dense matrix {rows} x {cols} float32"
    if name == SPARSE:
        nonzeros = problem.matrix_nonzeros()
        return (nonzeros * SPARSE_BYTES_PER_NONZERO,
                f"sparse matrix {rows} x {cols} with {nonzeros} nonzeros")
    return None


def skip_reason(name: str, problem: Problem, budget: int) -> str | None:
    """Why contender ``name`` cannot run ``problem`` here, or None.

    SciPy's correlate2d takes only the problems of :func:`_scipy_mode`; the
    dense and sparse methods only those whose matrix fits in ``budget``
    bytes (dense also within fastconv's own limit, ``DENSE_LIMIT``).
    """
    if name == SCIPY and _scipy_mode(problem) is None:
        return ("scipy.signal.correlate2d: single-channel, unit-stride 2-D convolution "
                "with no padding or 'same' padding only")
    need = _matrix_need(name, problem)
    if need is None:
        return None
    need_bytes, matrix = need
    if name == DENSE:
        budget = min(budget, DENSE_LIMIT)
    if need_bytes > budget:
        return (f"{matrix} needs {need_bytes / 2**30:.2f} GiB, over the budget of "
                f"{budget / 2**30:.2f} GiB")
    return None


def make_call(name: str, problem: Problem, x: NDArray[Any], weight: NDArray[Any],
              n_threads: int) -> Callable[[], Any]:
    """A no-argument callable computing ``problem`` with contender ``name``.

    Parameters
    ----------
    name : str
        A contender of ``problem.operation`` that :func:`skip_reason` lets run.
    problem : Problem
    x, weight : numpy.ndarray
        As made by :meth:`Problem.arrays`.
    n_threads : int
        Threads of fastconv and torch (correlate2d has one).

    Returns
    -------
    callable
        Returns the result: a NumPy array, or a torch tensor.  torch gets
        tensors sharing the arrays' memory, made here, outside the call: its
        time is its own call, as a torch user sees it.
    """
    arguments = problem.arguments()
    if name == TORCH:
        torch = torch_module()
        torch.set_num_threads(n_threads)
        x_tensor, weight_tensor = torch.from_numpy(x), torch.from_numpy(weight)
        torch_function = getattr(torch.nn.functional, problem.function_name)
        return lambda: torch_function(x_tensor, weight_tensor, **arguments)
    if name == SCIPY:
        import scipy.signal
        image, kernel, mode = x[0, 0], weight[0, 0], _scipy_mode(problem)
        return lambda: scipy.signal.correlate2d(image, kernel, mode=mode)
    function = getattr(_api, problem.function_name)
    return lambda: function(x, weight, **arguments, method=name, n_threads=n_threads)


def best_time(call: Callable[[], Any], seconds: float) -> float:
    """Best time of one ``call()`` over at least 3 calls and about ``seconds`` in all."""
    start = time.perf_counter()
    call()
    best = time.perf_counter() - start
    for _ in range(min(max(int(seconds / max(best, 1e-7)), 2), 200)):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
