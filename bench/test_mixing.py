"""A direct call right after a gemm call, against the same call alone.

After a call, SciPy's OpenBLAS keeps its worker threads spinning for a
while, and GNU OpenMP its own (fastconv shortens OpenMP's spin at import;
see ``fastconv/__init__.py``): a spinning thread holds a core that the other
method's threads need.  One group, ``mixing``, with the two cases side by
side; the gemm call is the untimed setup of each round.  A 16 x 16 -> 16
3x3 convolution of 28 x 28 images: about 0.2 ms on 2 cores.
"""

import numpy as np
import pytest

import fastconv

THREADS = 2


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((16, 16, 28, 28), dtype=np.float32),
            rng.standard_normal((16, 16, 3, 3), dtype=np.float32))


def _call(arrays, method):
    x, w = arrays
    return lambda: fastconv.conv2d(x, w, padding=1, method=method, n_threads=THREADS)


def _check(out, arrays):
    x, w = arrays
    expected = fastconv.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_direct_alone(benchmark, arrays):
    benchmark.group = "mixing"
    benchmark.extra_info.update(kind="mixing", case="direct alone")
    _check(benchmark(_call(arrays, "direct")), arrays)


def test_direct_after_gemm(benchmark, arrays):
    benchmark.group = "mixing"
    benchmark.extra_info.update(kind="mixing", case="direct right after gemm")
    gemm = _call(arrays, "gemm")

    def setup():
        gemm()   # untimed: leaves BLAS's threads spinning

    out = benchmark.pedantic(_call(arrays, "direct"), setup=setup, rounds=50)
    _check(out, arrays)
