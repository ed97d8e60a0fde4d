"""The pytest-benchmark side of the benchmarks: skips, checks, records.

The problems, the workload table and the contenders are fastconv's own
(:mod:`fastconv._benchmarks`, shared with ``fastconv bench``); this module
adds what only the benchmarks need: skipping a contender with its reason,
the smoke test's smaller matrix budget, the expected outputs and their
check, and the numbers recorded in pytest-benchmark's JSON.  fastconv,
torch, ONNX Runtime and OpenCV run on THREADS threads (SciPy has one; jax
one per core, which on the benchmark machine is THREADS).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import fastconv
from fastconv import _benchmarks
from fastconv._benchmarks import is_fastconv

#: Threads for every contender.
THREADS = 2


def make_call(name, problem, x, weight, smoke):
    """A no-argument callable computing ``problem`` with contender ``name``.

    Calls ``pytest.skip`` with the reason when the contender does not apply,
    is not installed, or its matrix would not fit (``smoke``: the quick runs'
    smaller budget).
    """
    budget = _benchmarks.memory_budget(_benchmarks.QUICK_MATRIX_BYTES if smoke else None)
    reason = _benchmarks.skip_reason(name, problem, budget)
    if reason:
        pytest.skip(reason)
    return _benchmarks.make_call(name, problem, x, weight, n_threads=THREADS)


def as_array(result, problem):
    """A contender's result as a NumPy array of ``problem.output_shape()``'s
    rank (the single-channel peers return the one image alone)."""
    torch = _benchmarks.torch_module()
    if torch is not None and isinstance(result, torch.Tensor):
        result = result.numpy()
    result = np.asarray(result)
    return result.reshape((1, 1) + result.shape) if result.ndim == problem.dims else result


def reference(problem, x, weight):
    """The expected output: torch when importable, else fastconv's direct method.

    float64 inputs, so that the float32 contenders are all compared with
    something more accurate than themselves.
    """
    x64, w64 = x.astype(np.float64), weight.astype(np.float64)
    arguments = problem.arguments()
    torch = _benchmarks.torch_module()
    if torch is not None:
        torch_function = getattr(torch.nn.functional, problem.function_name)
        return torch_function(torch.from_numpy(x64), torch.from_numpy(w64),
                              **arguments).numpy()
    function = getattr(fastconv, problem.function_name)
    return function(x64, w64, **arguments, method="direct")


def check(result, expected, problem):
    """float32 accuracy: error within 1e-5 x sqrt(terms per output) x scale."""
    output = as_array(result, problem)
    assert output.shape == expected.shape, (output.shape, expected.shape)
    terms = problem.terms()
    scale = max(float(np.max(np.abs(expected))), 1.0)
    error = float(np.max(np.abs(output.astype(np.float64) - expected)))
    assert error <= 1e-5 * math.sqrt(terms) * scale, \
        f"max error {error:.3g}, scale {scale:.3g}"


def record(benchmark, problem, name, **info):
    """GFLOP and, after a timed run, GFLOP/s in ``extra_info``."""
    benchmark.extra_info.update(info)
    benchmark.extra_info.update(
        method=name, fastconv=is_fastconv(name), problem=problem.describe(),
        gflop=problem.flops / 1e9,
    )


def record_rate(benchmark, problem):
    """GFLOP/s of the fastest round in ``extra_info``, after a timed run."""
    if benchmark.enabled and benchmark.stats is not None:
        benchmark.extra_info["gflop_per_s"] = problem.flops / benchmark.stats.stats.min / 1e9


@functools.lru_cache(maxsize=2)
def prepared(problem):
    """(x, weight, expected output) of ``problem``, made once per problem."""
    x, weight = problem.arrays()
    return x, weight, reference(problem, x, weight)
