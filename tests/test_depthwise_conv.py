"""direct's 'depthwise' path of the convolution (one input channel per
group and fewer than 4 output channels: depthwise layers, one-channel
images):
the path chosen, its results against the NumPy reference over 1-D / 2-D /
3-D geometries, every SIMD version, any thread count and band length."""

import itertools

import numpy as np
import pytest

import fastconv
from fastconv import _api, _planner
from helpers import random_arrays
import reference

#: (x shape, channel multiplier, kernel, stride, dilation, padding per dim)
CASES = [
    ((2, 3, 17), 1, (3,), (1,), (1,), ((1, 1),)),
    ((1, 2, 40), 3, (5,), (2,), (2,), ((0, 3),)),
    ((1, 1, 70), 2, (9,), (3,), (1,), ((4, 4),)),
    ((1, 1, 9), 2, (9,), (3,), (1,), ((4, 4),)),             # under one vector
    ((3, 2, 1, 1), 1, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))),
    ((2, 4, 12, 19), 1, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    ((1, 3, 20, 33), 2, (7, 7), (1, 1), (1, 1), ((3, 3), (3, 3))),
    ((2, 2, 15, 40), 1, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),
    ((1, 2, 16, 31), 1, (4, 5), (2, 3), (1, 2), ((0, 2), (3, 1))),
    ((1, 5, 9, 50), 1, (3, 2), (3, 1), (2, 3), ((2, 0), (0, 0))),
    ((1, 1, 64, 64), 3, (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))),
    ((1, 2, 30, 5), 1, (5, 5), (1, 1), (1, 1), ((6, 6), (6, 6))),   # padding > input
    ((1, 1, 7, 9), 2, (3, 3), (2, 2), (1, 1), ((4, 4), (5, 6))),    # stride 2, wide padding
    ((2, 2, 9, 1), 1, (3, 3), (2, 2), (1, 2), ((1, 1), (3, 2))),    # one column
    ((1, 3, 11, 26), 1, (2, 5), (2, 2), (1, 1), ((0, 1), (2, 1))),  # odd edges of both phases
    ((1, 2, 5, 1), 1, (3, 3), (3, 3), (1, 1), ((1, 1), (7, 0))),    # a phase all padding
    ((1, 1, 6, 5), 1, (2, 2), (1, 1), (3, 1000), ((2, 2), (1000, 1000))),  # wide dilation
    ((1, 2, 6, 7, 20), 1, (3, 3, 3), (1, 1, 1), (1, 1, 1), ((1, 1),) * 3),
    ((2, 1, 9, 8, 21), 2, (2, 3, 4), (2, 1, 3), (1, 2, 1), ((0, 1), (1, 1), (2, 2))),
]


def _call(case, dtype, seed=3):
    shape, m, kernel, stride, dilation, pads = case
    c = shape[1]
    x, w = random_arrays(seed, shape, (c * m, 1) + kernel, dtype=dtype)
    return x, w, dict(stride=stride, dilation=dilation, groups=c, padding=pads)


def _run(x, w, args, **kwargs):
    function = getattr(fastconv, f"conv{x.ndim - 2}d")
    return function(x, w, stride=args["stride"], dilation=args["dilation"],
                    groups=args["groups"], padding=args["padding"], **kwargs)


def _plan(x, w, args, n_threads=2):
    nd = x.ndim - 2
    call = _api.check_call("conv", nd, x, w, None,
                           (args["stride"], args["padding"], args["dilation"]),
                           args["groups"], "direct", n_threads)
    return _planner.method_plan("conv", "direct", call.x.shape, call.weight, call.x.dtype,
                                call.geom, args["groups"], n_threads)


def _expected(x, w, args):
    return reference.conv(x.astype(np.float64), w.astype(np.float64), stride=args["stride"],
                          padding=args["padding"], dilation=args["dilation"],
                          groups=args["groups"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_reference(case, dtype, simd_version):
    x, w, args = _call(case, dtype)
    assert _plan(x, w, args).path == "depthwise"
    out = _run(x, w, args, method="direct")
    expected = _expected(x, w, args)
    assert out.dtype == dtype and out.shape == expected.shape
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES[3:8], ids=str)
def test_threads_and_bands_give_the_same_bits(case, monkeypatch):
    """1, 2 or 3 threads, bands of one row or of the whole output: the
    same bits (every output summed in tap order by one job)."""
    x, w, args = _call(case, np.float32)
    results = []
    for band_bytes, threads in itertools.product([1, 2**12, 2**30], [1, 2, 3]):
        monkeypatch.setitem(_planner.THRESHOLDS, "depthwise_band_bytes", band_bytes)
        assert _plan(x, w, args, threads).path == "depthwise"
        results.append(_run(x, w, args, method="direct", n_threads=threads))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_caller_arrays_unchanged():
    x, w, args = _call(CASES[5], np.float64)
    x0, w0 = x.copy(), w.copy()
    _run(x, w, args, method="direct")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_inf_weight_meets_the_zero_padding_as_the_reference_does():
    """The padding is explicit zeros: an inf weight on it gives NaN, as in
    the reference's padded sum (and the channel-blocked path)."""
    x = np.ones((1, 2, 6, 6))
    w = np.ones((2, 1, 3, 3))
    w[0, 0, 0, 0] = np.inf
    out = fastconv.conv2d(x, w, padding=1, groups=2, method="direct")
    with np.errstate(invalid="ignore"):
        expected = _expected(x, w, dict(stride=(1, 1), padding=((1, 1), (1, 1)),
                                        dilation=(1, 1), groups=2))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert np.isnan(out[0, 0, 0, 0]) and np.isinf(out[0, 0, 5, 5])


def test_huge_stride_runs_the_row_kernel():
    """A stride of the order of 2**31 would give the path a phase per
    stride step (fuzzing found it raising MemoryError): the row kernel
    runs, with the reference's result."""
    x, w = random_arrays(1, (1, 1, 7, 5), (1, 1, 2, 1), dtype=np.float32)
    args = dict(stride=(2**31, 1), dilation=(2, 1), groups=1, padding=((1, 0), (2, 2)))
    assert _plan(x, w, args).path == "rows"
    out = _run(x, w, args, method="direct")
    np.testing.assert_allclose(out, _expected(x, w, args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("x_shape, w_shape, groups, dtype, path", [
    ((1, 4, 8, 8), (4, 1, 3, 3), 4, np.int64, "rows"),       # integers: exact rows
    ((1, 4, 8, 8), (8, 2, 3, 3), 2, np.float32, "channels"),  # two channels per group
    ((1, 2, 8, 8), (8, 1, 3, 3), 2, np.float32, "channels"),  # 4 outputs per group
    ((1, 1, 2, 3), (1, 1, 2, 2), 1, np.float32, "depthwise"),  # under one vector
    ((1, 1, 64, 64), (1, 1, 3, 3), 1, np.float64, "depthwise"),
])
def test_path_chosen(x_shape, w_shape, groups, dtype, path):
    x, w = random_arrays(0, x_shape, w_shape, dtype=dtype)
    args = dict(stride=(1, 1), dilation=(1, 1), groups=groups, padding=((0, 0), (0, 0)))
    assert _plan(x, w, args).path == path
