"""zero_insert, and the transposed convolution by zero insertion at its edges.

The sweep (test_sweep.py) runs method='zero_insertion' over every case; here
are the shapes and values of zero_insert against a plain loop, and the
geometries where the padding becomes a crop.
"""

import itertools
import math
import tracemalloc

import numpy as np
import pytest

import fastconv
from fastconv import _methods
from reference import conv2d_plain, conv_transpose


def zero_insert_plain(x, stride):
    """Loop over the spatial positions (the last len(stride) axes)."""
    m = len(stride)
    lead, spatial = x.shape[:x.ndim - m], x.shape[x.ndim - m:]
    out = np.zeros(lead + tuple(max(n * s - s + 1, 0) for n, s in zip(spatial, stride)),
                   dtype=x.dtype)
    for index in itertools.product(*(range(n) for n in spatial)):
        out[(Ellipsis,) + tuple(i * s for i, s in zip(index, stride))] = x[(Ellipsis,) + index]
    return out


@pytest.mark.parametrize("seed", range(24))
def test_matches_plain_loop(seed):
    rng = np.random.default_rng(seed)
    ndim = 1 + seed % 3
    spatial = tuple(int(n) for n in rng.integers(0 if seed % 7 == 0 else 1, 6, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    dtype = (np.float64, np.float32, np.int64, np.bool_)[seed % 4]
    x = (rng.standard_normal((2, 3) + spatial) * 5).astype(dtype)
    expected = zero_insert_plain(x, stride)
    as_int = stride[0] if len(set(stride)) == 1 else stride
    for given in (stride, as_int):
        out = fastconv.zero_insert(x, given)
        assert out.dtype == x.dtype
        assert out.shape == expected.shape
        np.testing.assert_array_equal(out, expected)


def test_plain_matrix_and_shapes():
    m = np.array([[1, 2], [3, 4]])
    for stride in ((2, 2), 2):
        np.testing.assert_array_equal(fastconv.zero_insert(m, stride),
                                      [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    np.testing.assert_array_equal(fastconv.zero_insert(m, (3,)),
                                  [[1, 0, 0, 2], [3, 0, 0, 4]])
    assert fastconv.zero_insert(np.ones((8, 3, 5, 5)), 2).shape == (8, 3, 9, 9)
    assert fastconv.zero_insert(np.ones((1, 1, 4, 1, 0)), (2, 3, 4)).shape == (1, 1, 7, 1, 0)


@pytest.mark.parametrize("shape, stride", [((4, 5), 3), ((1, 6), 2), ((3, 1), 4), ((0, 3), 2)])
def test_int_stride_on_a_plain_matrix_inserts_along_both_axes(shape, stride):
    """A 2-D x is one (H, W) image, as in conv2d's plain-matrix form."""
    m = np.arange(1, math.prod(shape) + 1).reshape(shape)
    np.testing.assert_array_equal(fastconv.zero_insert(m, stride),
                                  zero_insert_plain(m, (stride, stride)))


def test_plain_matrix_zero_insertion_is_the_transposed_convolution():
    """The textbook picture in the plain-matrix form: zero-insert, pad by
    k - 1, convolve with the flipped kernel, against the reference scatter."""
    rng = np.random.default_rng(2)
    m, kernel = rng.integers(-5, 6, (3, 4)), rng.integers(-5, 6, (3, 2))
    padded = np.pad(fastconv.zero_insert(m, 2), [(2, 2), (1, 1)])
    expected = conv_transpose(m[None, None], kernel[None, None], stride=(2, 2))[0, 0]
    np.testing.assert_array_equal(conv2d_plain(padded, kernel[::-1, ::-1]), expected)
    np.testing.assert_array_equal(fastconv.conv_transpose2d(m, kernel, stride=2), expected)


def test_a_result_too_large_is_a_value_error_with_its_size():
    # 2 * 2**40 + 1 float64 values: 16 TiB, which no allocation gets
    with pytest.raises(ValueError, match=r"zero_insert: stride=1099511627776 makes a result "
                                         r"of shape \(1, 1, 2199023255553\), 17592186044424 "
                                         r"bytes \(16,384 GiB\).*smaller stride"):
        fastconv.zero_insert(np.ones((1, 1, 3)), 2**40)
    # and past 2**63 bytes, which NumPy cannot even ask for
    with pytest.raises(ValueError, match=r"zero_insert: stride=\(1099511627776, 1, "
                                         r"1099511627776\).*2199023255553\)"):
        fastconv.zero_insert(np.ones((3, 2, 3)), (2**40, 1, 2**40))


def test_new_array_and_input_untouched():
    x = np.arange(12.0).reshape(1, 2, 6)
    before = x.copy()
    out = fastconv.zero_insert(x, 1)
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)
    fastconv.zero_insert(x, 3)
    np.testing.assert_array_equal(x, before)


def test_bad_stride():
    with pytest.raises(ValueError, match="stride"):
        fastconv.zero_insert(np.ones((1, 1, 4)), 0)
    with pytest.raises(ValueError, match="stride"):
        fastconv.zero_insert(np.ones((1, 1, 4)), (2, 2, 2, 2))
    for x in (np.ones(4), np.ones(())):
        with pytest.raises(ValueError, match=r"zero_insert: an int stride .* 2-D x.*stride=\(2,\)"):
            fastconv.zero_insert(x, 2)
    with pytest.raises(TypeError, match="stride"):
        fastconv.zero_insert(np.ones((1, 1, 4)), 1.5)


# (size, kernel, stride, dilation, padding pair, output_padding): the padding
# exceeds dilation*(k - 1), so the zero-inserted input is cropped on one side
# or both, and in the last two down to nothing (an all-zero output)
CROPPED = [
    (5, 3, 2, 1, (3, 1), 1),
    (6, 2, 2, 1, (3, 3), 1),
    (5, 3, 2, 1, (1, 4), 0),
    (6, 2, 3, 1, (2, 2), 2),
    (4, 3, 1, 2, (6, 1), 1),
    (3, 2, 1, 3, (4, 0), 2),
    (1, 2, 1, 3, (5, 0), 2),
    (2, 1, 3, 1, (4, 0), 2),
]


@pytest.mark.parametrize("size, k, s, d, pair, op", CROPPED)
def test_crop_where_padding_exceeds_the_kernel(size, k, s, d, pair, op):
    rng = np.random.default_rng(size * 100 + k * 10 + s)
    x = rng.integers(-5, 6, (2, 4, size))
    weight = rng.integers(-5, 6, (4, 3, k))
    expected = conv_transpose(x, weight, stride=(s,), padding=[pair], output_padding=(op,),
                              dilation=(d,), groups=2)
    out = fastconv.conv_transpose1d(x, weight, stride=s, padding=(pair,), output_padding=op,
                                    dilation=d, groups=2, method="zero_insertion")
    np.testing.assert_array_equal(out, expected)


def test_all_zero_output_when_nothing_reaches_it():
    out = fastconv.conv_transpose1d(np.ones((1, 1, 1)), np.ones((1, 1, 2)), padding=((5, 0),),
                                    output_padding=2, dilation=3, method="zero_insertion")
    np.testing.assert_array_equal(out, np.zeros((1, 1, 1)))


def test_zero_insertion_in_2d_and_3d_with_crops():
    rng = np.random.default_rng(5)
    for nd, pairs in ((2, [(3, 0), (0, 3)]), (3, [(2, 2), (3, 1), (0, 0)])):
        x = rng.standard_normal((1, 2) + (4,) * nd)
        weight = rng.standard_normal((2, 3) + (2,) * nd)
        stride, op = (2,) * nd, (1,) * nd
        expected = conv_transpose(x, weight, stride=stride, padding=pairs, output_padding=op)
        fn = getattr(fastconv, f"conv_transpose{nd}d")
        out = fn(x, weight, stride=stride, padding=tuple(pairs), output_padding=op,
                 method="zero_insertion")
        np.testing.assert_allclose(out, expected, atol=1e-12)


def conv_transpose1d_scatter(x, weight, stride, pad_before, out_size, dilation=1):
    """Scatter with Python ints for the positions, one group: for sizes
    where the reference's full, uncropped output would not fit."""
    out = np.zeros((x.shape[0], weight.shape[1], out_size), dtype=np.result_type(x, weight))
    for i, t in itertools.product(range(x.shape[2]), range(weight.shape[2])):
        j = i * stride + t * dilation - pad_before
        if 0 <= j < out_size:
            out[:, :, j] += x[:, :, i] @ weight[:, :, t]
    return out


# (size, kernel, stride, dilation, padding pair, output_padding): strides,
# paddings and dilations of up to 2**40 with outputs of a few values; the
# zero-inserted input would have up to 2**41 values, 16 TiB in float64
HUGE = [
    (3, 2, 2**40, 1, (2**40 - 1, 2**40 - 1), 0),
    (3, 3, 2**40, 1, (2**40 - 1, 2**40 - 1), 0),
    (3, 3, 2**40, 1, (2**40 - 2, 2**40 - 2), 5),
    (2, 2, 2**40, 2**40, (2**40 - 1, 2**40 - 1), 0),   # dilation beyond the output too
    (2, 2, 2**40, 2**40 - 3, (2**40 - 4, 2**40 - 4), 1),
    (3, 2, 1, 2**40, (2**40, 0), 0),                  # a crop of 2**40, then padding
]


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
@pytest.mark.parametrize("size, k, s, d, pair, op", HUGE)
def test_huge_stride_and_padding_build_only_what_is_read(size, k, s, d, pair, op, dtype):
    """Zero insertion gives the scatter's small output, exactly, as every
    other method does, and allocates about as much as the output."""
    rng = np.random.default_rng(size * 10 + k)
    x = rng.integers(-9, 10, (2, 3, size)).astype(dtype)
    weight = rng.integers(-9, 10, (3, 2, k)).astype(dtype)
    out_size = (size - 1) * s - sum(pair) + d * (k - 1) + 1 + op
    assert out_size <= 20
    expected = conv_transpose1d_scatter(x, weight, s, pair[0], out_size, d)
    assert np.count_nonzero(expected) >= 4
    args = dict(stride=s, padding=(pair,), output_padding=op, dilation=d)
    tracemalloc.start()
    try:
        out = fastconv.conv_transpose1d(x, weight, **args, method="zero_insertion")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == dtype and peak < 64 * 1024
    for method in fastconv.CONV_TRANSPOSE_METHODS:
        if dtype == np.int64 and not _methods.supports_integers("conv_transpose", method):
            continue
        result = fastconv.conv_transpose1d(x, weight, **args, method=method)
        if method == "fft" and dtype != np.int64:
            # a transform's rounding: within its documented bound, not exact
            np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12, err_msg=method)
        else:
            np.testing.assert_array_equal(result, expected, err_msg=method)


@pytest.mark.parametrize("seed", range(40))
def test_dilation_beyond_the_output_and_large_paddings(seed):
    """Small random geometries where the dilation exceeds the output size
    (the runs the taps read are laid side by side) or the padding crops
    most of the zero-inserted input, against the reference."""
    rng = np.random.default_rng(300 + seed)
    nd = 1 + seed % 3
    while True:
        size = [int(n) for n in rng.integers(1, 4, nd)]
        k = [int(n) for n in rng.integers(1, 4, nd)]
        s = [int(n) for n in rng.integers(1, 5, nd)]
        d = [int(n) for n in rng.integers(1, 9, nd)]
        pairs = [tuple(int(v) for v in rng.integers(0, 12, 2)) for _ in range(nd)]
        op = [int(rng.integers(0, max(a, b))) for a, b in zip(s, d)]
        out = [(n - 1) * st - p0 - p1 + dl * (kk - 1) + 1 + o
               for n, kk, st, dl, (p0, p1), o in zip(size, k, s, d, pairs, op)]
        if min(out) >= 1:
            break
    groups = 1 + seed % 2
    x = rng.integers(-9, 10, (2, 2 * groups) + tuple(size))
    weight = rng.integers(-9, 10, (2 * groups, 2) + tuple(k))
    expected = conv_transpose(x, weight, stride=tuple(s), padding=pairs,
                              output_padding=tuple(op), dilation=tuple(d), groups=groups)
    fn = getattr(fastconv, f"conv_transpose{nd}d")
    got = fn(x, weight, stride=s, padding=tuple(pairs), output_padding=op, dilation=d,
             groups=groups, method="zero_insertion")
    np.testing.assert_array_equal(got, expected)
