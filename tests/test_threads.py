"""Threads: every method gives bit-identical results for any thread count,
calls from several Python threads at once are correct, and the OpenMP
thread-count controls (OMP_NUM_THREADS, threadpoolctl) are respected.

The cases are big enough (over 2**16 multiply-adds) for the direct kernels
to start their OpenMP team.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
from helpers import python_env
from sweep import Case, assert_close
from tables import methods


def make_case(index, op, n, c_in, c_out, size, kernel, stride=1, pad=0, dilation=1,
              groups=1, dtype=np.float32, output_padding=0):
    """A case with explicit, symmetric geometry (one int per argument)."""
    rng = np.random.default_rng(9000 + index)
    ndim = len(size)
    x = rng.standard_normal((n, c_in) + size).astype(dtype)
    if op == "conv":
        w_shape = (c_out, c_in // groups) + (kernel,) * ndim
    else:
        w_shape = (c_in, c_out // groups) + (kernel,) * ndim
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    kwargs = dict(stride=stride, padding=pad, dilation=dilation, groups=groups)
    ref_kwargs = dict(stride=(stride,) * ndim, padding=((pad, pad),) * ndim,
                      dilation=(dilation,) * ndim)
    if op == "conv_transpose":
        kwargs["output_padding"] = output_padding
        ref_kwargs["output_padding"] = (output_padding,) * ndim
    return Case(index, op, ndim, x, weight, bias, kwargs, ref_kwargs, groups)


CASES = [
    make_case(0, "conv", 2, 3, 4, (16, 40), 3, pad=1),
    make_case(1, "conv", 1, 6, 6, (30, 33), 5, pad=4, dilation=2, groups=6,
              dtype=np.float64),
    make_case(2, "conv", 2, 2, 3, (41, 65), 3, stride=2, pad=1),
    make_case(3, "conv", 3, 4, 4, (300,), 5, pad=2),
    make_case(4, "conv", 1, 2, 3, (6, 10, 30), 3, pad=1, dtype=np.float64),
    make_case(5, "conv_transpose", 2, 4, 3, (12, 20), 4, stride=2, pad=1),
    make_case(6, "conv_transpose", 1, 2, 2, (48, 48), 3, pad=1, dtype=np.float64),
    make_case(7, "conv_transpose", 2, 4, 4, (20, 24), 3, stride=2, pad=1, groups=2,
              output_padding=1),
    make_case(8, "conv_transpose", 2, 3, 4, (300,), 5, stride=3, pad=2),
    make_case(9, "conv_transpose", 1, 2, 2, (5, 8, 20), 3, stride=1, dilation=2),
]


PARAMS = [pytest.param(case, method, id=f"{case.name}-{case.index}-{method}")
          for case in CASES for method in methods(case.op)]


@pytest.mark.parametrize("case, method", PARAMS)
def test_bit_identical_for_any_thread_count(case, method):
    outs = [case.run(method=method, n_threads=n) for n in (1, 2, 3)]
    assert_close(outs[0], case.reference(), case.x.dtype)
    for out in outs[1:]:
        assert out.tobytes() == outs[0].tobytes()


def test_concurrent_calls_from_python_threads():
    """The kernels release the GIL; concurrent calls must not interfere."""
    jobs = [(case, method) for case in CASES for method in methods(case.op)] * 3
    expected = {case.index: case.reference() for case in CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda job: job[0].run(method=job[1], n_threads=2), jobs))
    for (case, method), out in zip(jobs, outs):
        assert_close(out, expected[case.index], case.x.dtype)


def _needs_openmp():
    if not fastconv._openmp.openmp_enabled():
        pytest.skip("fastconv was built without OpenMP")


def test_threadpool_limits_respected():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    _needs_openmp()
    case = CASES[0]
    before = fastconv._openmp.max_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastconv._openmp.max_threads() == 1
    assert fastconv._openmp.max_threads() == before


@pytest.mark.parametrize("value", [1, 3])
def test_omp_num_threads_respected(value):
    _needs_openmp()
    env = python_env(OMP_NUM_THREADS=str(value))
    result = subprocess.run(
        [sys.executable, "-c", "import fastconv._openmp as o; print(o.max_threads())"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert int(result.stdout) == value


def _import_fastconv_and_report(extra_env):
    """In a fresh interpreter with ``extra_env`` set (a value of None
    removes the variable): the spin variables after ``import fastconv``."""
    env = python_env(**extra_env)
    code = ("import os, fastconv; "
            "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'), "
            "os.environ.get('OPENBLAS_THREAD_TIMEOUT'))")
    result = subprocess.run([sys.executable, "-c", code], env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout.split()


@pytest.mark.parametrize("extra_env, expected", [
    # fastconv's short spins are set only while its OpenMP runtime and
    # SciPy's BLAS load
    ({"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None},
     ["None", "None", "None"]),
    # a user's setting is left as it is
    ({"GOMP_SPINCOUNT": "123", "OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None},
     ["123", "None", "None"]),
    ({"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": "active", "OPENBLAS_THREAD_TIMEOUT": None},
     ["None", "active", "None"]),
    ({"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": "25"},
     ["None", "None", "25"]),
])
def test_import_leaves_the_environment_as_it_was(extra_env, expected):
    """``import fastconv`` shortens its own OpenMP threads' spin and SciPy's
    BLAS threads' (see fastconv/__init__.py) without leaving GOMP_SPINCOUNT
    or OPENBLAS_THREAD_TIMEOUT set for libraries loaded later, and keeps a
    spin setting the user made."""
    assert _import_fastconv_and_report(extra_env) == expected
