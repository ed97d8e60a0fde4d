"""A LinearOperator product against the same convolution called directly.

``conv_operator`` resolves its geometry once and plans each product, so a
``matvec`` should cost about what a ``conv2d`` call does.  One group,
``operator``: a 32 x 32 image, 3 x 3 kernel, one channel, float64 (the
solvers' dtype); ``rmatvec`` against ``conv_transpose2d`` beside it.
"""

import numpy as np
import pytest

import fastconv

SIDE = 32


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3))
    image = rng.standard_normal((SIDE, SIDE))
    operator = fastconv.conv_operator(kernel, (SIDE, SIDE), padding=1)
    return kernel, image, operator


def _record(benchmark, case):
    benchmark.group = "operator"
    benchmark.extra_info.update(kind="operator", case=case)


def test_conv2d(benchmark, problem):
    kernel, image, _ = problem
    _record(benchmark, "conv2d")
    out = benchmark(fastconv.conv2d, image, kernel, padding=1)
    assert out.shape == (SIDE, SIDE)


def test_matvec(benchmark, problem):
    kernel, image, operator = problem
    _record(benchmark, "matvec")
    vector = image.ravel()
    out = benchmark(operator.matvec, vector)
    np.testing.assert_allclose(out, fastconv.conv2d(image, kernel, padding=1).ravel(),
                               rtol=1e-12, atol=1e-12)


def test_conv_transpose2d(benchmark, problem):
    kernel, image, _ = problem
    _record(benchmark, "conv_transpose2d")
    out = benchmark(fastconv.conv_transpose2d, image, kernel, padding=1)
    assert out.shape == (SIDE, SIDE)


def test_rmatvec(benchmark, problem):
    kernel, image, operator = problem
    _record(benchmark, "rmatvec")
    out = benchmark(operator.rmatvec, image.ravel())
    np.testing.assert_allclose(
        out, fastconv.conv_transpose2d(image, kernel, padding=1).ravel(),
        rtol=1e-12, atol=1e-12)
