"""What a user of a numeric library expects of the arrays going in and out:
dtypes, memory layouts, read-only and byte-swapped arrays, untouched inputs,
empty batches, unbatched input, NaN and inf."""

import numpy as np
import pytest

import fastconv
from reference import conv, conv_transpose
from sweep import assert_close

rng = np.random.default_rng(3)
X = rng.standard_normal((2, 4, 7, 6))
W = rng.standard_normal((4, 2, 3, 2))    # conv, groups=2
WT = rng.standard_normal((4, 3, 3, 2))   # transposed, groups=2 -> 6 out
B4, B6 = rng.standard_normal(4), rng.standard_normal(6)
KW = dict(stride=(2, 1), padding=1, groups=2)


def ref_conv(x, w, b=None):
    return conv(x, w, b, stride=(2, 1), padding=((1, 1), (1, 1)), groups=2)


def ref_conv_transpose(x, w, b=None):
    return conv_transpose(x, w, b, stride=(2, 1), padding=((1, 1), (1, 1)), groups=2)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64,
                                   np.uint32, np.bool_])
def test_integer_and_bool_inputs_are_exact_int64(dtype):
    xi = rng.integers(0, 2 if dtype == np.bool_ else 100, size=X.shape).astype(dtype)
    wi = rng.integers(0, 2 if dtype == np.bool_ else 9, size=W.shape).astype(dtype)
    out = fastconv.conv2d(xi, wi, **KW)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, ref_conv(xi.astype(np.int64), wi.astype(np.int64)))
    wti = rng.integers(0, 2, size=WT.shape).astype(dtype)
    out = fastconv.conv_transpose2d(xi, wti, **KW)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(
        out, ref_conv_transpose(xi.astype(np.int64), wti.astype(np.int64)))


def test_uint64_with_signed_integers_stays_exact_int64():
    # NumPy promotes uint64 with int8 to float64, which would lose the last bits
    x = np.full((1, 1, 4), 2**61 + 1, dtype=np.uint64)
    out = fastconv.conv1d(x, np.ones((1, 1, 2), dtype=np.int8))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.full((1, 1, 3), 2**62 + 2))
    with pytest.raises(ValueError, match="above 2\\*\\*63"):
        fastconv.conv1d(np.full((1, 1, 2), 2**63, dtype=np.uint64), np.ones((1, 1, 1), np.int64))


def test_float16_computed_in_float32_returned_as_float16():
    out = fastconv.conv2d(X.astype(np.float16), W.astype(np.float16), **KW)
    assert out.dtype == np.float16
    expected = ref_conv(X.astype(np.float16).astype(np.float64),
                        W.astype(np.float16).astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=2e-3, atol=2e-2)


@pytest.mark.parametrize("xd, wd, bd, expected", [
    (np.float32, np.float32, None, np.float32),
    (np.float32, np.float64, None, np.float64),
    (np.int32, np.float32, None, np.float64),   # NumPy's promotion
    (np.int8, np.float32, None, np.float32),
    (np.float32, np.float32, np.float64, np.float64),
    (np.int64, np.int64, np.float32, np.float64),
])
def test_result_dtype_is_the_common_dtype(xd, wd, bd, expected):
    b = None if bd is None else B4.astype(bd)
    out = fastconv.conv2d(X.astype(xd), W.astype(wd), b, **KW)
    assert out.dtype == expected
    bt = None if bd is None else B6.astype(bd)
    assert fastconv.conv_transpose2d(X.astype(xd), WT.astype(wd), bt, **KW).dtype == expected


def test_longdouble_is_refused():
    if np.dtype(np.longdouble) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(TypeError, match="cast to float64"):
        fastconv.conv2d(X.astype(np.longdouble), W, **KW)


def _layouts(a):
    yield "fortran", np.asfortranarray(a)
    yield "strided", np.repeat(a, 2, axis=-1)[..., ::2]
    yield "negative-stride", a[..., ::-1].copy()[..., ::-1]
    ro = a.copy()
    ro.flags.writeable = False
    yield "read-only", ro
    yield "big-endian", a.astype(a.dtype.newbyteorder(">"))
    yield "list", a.tolist()


@pytest.mark.parametrize("layout", ["fortran", "strided", "negative-stride", "read-only",
                                    "big-endian", "list"])
def test_any_memory_layout_gives_the_same_result(layout):
    x = dict(_layouts(X))[layout]
    w = dict(_layouts(W))[layout]
    wt = dict(_layouts(WT))[layout]
    assert_close(fastconv.conv2d(x, w, B4, **KW), ref_conv(X, W, B4), np.float64)
    assert_close(fastconv.conv_transpose2d(x, wt, B6, **KW),
                 ref_conv_transpose(X, WT, B6), np.float64)


@pytest.mark.parametrize("method", fastconv.CONV_METHODS)
def test_conv_never_modifies_its_inputs(method):
    x, w, b = X.copy(), W.copy(), B4.copy()
    fastconv.conv2d(x, w, b, **KW, method=method)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(w, W)
    np.testing.assert_array_equal(b, B4)


@pytest.mark.parametrize("method", fastconv.CONV_TRANSPOSE_METHODS)
def test_conv_transpose_never_modifies_its_inputs(method):
    x, w, b = X.copy(), WT.copy(), B6.copy()
    fastconv.conv_transpose2d(x, w, b, **KW, method=method)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(w, WT)
    np.testing.assert_array_equal(b, B6)


def test_output_does_not_alias_inputs():
    x = np.ones((1, 1, 3, 3))
    w = np.ones((1, 1, 1, 1))
    out = fastconv.conv2d(x, w)
    assert not np.shares_memory(out, x) and not np.shares_memory(out, w)


@pytest.mark.parametrize("fn, weight, shape", [
    (fastconv.conv2d, W, (0, 4, 4, 7)),
    (fastconv.conv_transpose2d, WT, (0, 6, 13, 5)),
])
def test_empty_batch_gives_empty_result_of_the_right_shape(fn, weight, shape):
    out = fn(np.zeros((0, 4, 7, 6)), weight, **KW)
    assert out.shape == shape and out.dtype == np.float64


def test_zero_output_channels():
    out = fastconv.conv2d(X, np.zeros((0, 4, 3, 3)))
    assert out.shape == (2, 0, 5, 4)


def test_zero_size_input_with_padding_gives_bias():
    out = fastconv.conv1d(np.zeros((1, 1, 0)), np.ones((1, 1, 1)), np.array([2.0]), padding=1)
    np.testing.assert_array_equal(out, [[[2.0, 2.0]]])


def test_unbatched_input_gives_unbatched_output():
    out = fastconv.conv2d(X[0], W, B4, **KW)
    assert_close(out, ref_conv(X[:1], W, B4)[0], np.float64)
    out = fastconv.conv_transpose2d(X[0], WT, B6, **KW)
    assert_close(out, ref_conv_transpose(X[:1], WT, B6)[0], np.float64)
    assert fastconv.conv1d(np.ones((2, 5)), np.ones((3, 2, 2))).shape == (3, 4)
    assert fastconv.conv_transpose3d(np.ones((2, 3, 3, 3)),
                                     np.ones((2, 1, 2, 2, 2))).shape == (1, 4, 4, 4)


@pytest.mark.parametrize("method", fastconv.CONV_METHODS)
def test_nan_and_inf_propagate_to_the_outputs_that_read_them(method):
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 4, 4] = np.inf
    out = fastconv.conv2d(x, np.ones((1, 1, 3, 3)), method=method)[0, 0]
    if method == "dense":
        # the dense matrix multiplies every input value, by 0 where the
        # kernel does not reach: 0 * nan is nan in every output
        assert np.isnan(out).all()
        return
    assert np.isnan(out[0, 0]) and np.isinf(out[2, 2])
    assert np.isfinite(out[0, 2]) and np.isfinite(out[2, 0])


@pytest.mark.parametrize("method", fastconv.CONV_TRANSPOSE_METHODS)
def test_nan_spreads_over_the_kernel_footprint(method):
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = np.nan
    out = fastconv.conv_transpose2d(x, np.ones((1, 1, 2, 2)), method=method)[0, 0]
    if method == "dense":
        assert np.isnan(out).all()  # as for conv2d: 0 * nan in every output
        return
    assert np.isnan(out[1:3, 1:3]).all()
    assert np.isfinite(out[0]).all() and np.isfinite(out[:, 0]).all()


@pytest.mark.parametrize("c", [1, 8])  # direct's depthwise kernel, and its channel-blocked one
@pytest.mark.parametrize("method", fastconv.CONV_METHODS)
def test_an_inf_weight_differs_between_methods_only_where_it_meets_padding(method, c):
    """The reference (and torch) multiply the zero padding by the weights, so
    an inf weight gives inf * 0 = nan in the outputs whose window puts it on
    padding.  A method either does the same there or skips the padding and
    sums the real inputs only (a finite value); everywhere else every method
    gives the reference's values, infs included (docs/conventions.rst)."""
    x = rng.random((1, c, 6, 5)) + 0.5
    w = rng.random((c, c, 3, 3)) + 0.5
    w[0, 0, 0, 0] = np.inf
    expected = conv(x, w, padding=((1, 1), (1, 1)))
    meets_padding = np.isnan(expected)
    assert meets_padding[0, 0, 0].all() and meets_padding[0, 0, :, 0].all()
    assert meets_padding.sum() == 6 + 5 - 1
    out = fastconv.conv2d(x, w, padding=1, method=method)
    there = out[meets_padding]
    # sparse and dense skip the padding; gemm and direct's float kernels
    # (depthwise for one channel, channel-blocked) do not
    skips_padding = method in ("sparse", "dense")
    assert np.isfinite(there).all() if skips_padding else np.isnan(there).all()
    np.testing.assert_allclose(out[~meets_padding], expected[~meets_padding], rtol=1e-12)
    assert np.isinf(out[~meets_padding]).sum() == np.isinf(expected).sum() > 0


@pytest.mark.parametrize("c", [1, 8])
@pytest.mark.parametrize("method", fastconv.CONV_TRANSPOSE_METHODS)
def test_an_inf_weight_in_a_transposed_convolution(method, c):
    """The scatter-add multiplies weights by real inputs only, so an inf
    weight gives infs and no nan, in every method but zero insertion, which
    also multiplies it by the inserted zeros (nan there)."""
    x = rng.random((1, c, 4, 5)) + 0.5
    w = rng.random((c, c, 3, 3)) + 0.5
    w[0, 0, 0, 0] = np.inf
    expected = conv_transpose(x, w, stride=(2, 2), padding=((1, 1), (1, 1)))
    assert not np.isnan(expected).any() and np.isinf(expected).any()
    out = fastconv.conv_transpose2d(x, w, stride=2, padding=1, method=method)
    if method == "zero_insertion":
        assert np.isnan(out).any()
        real = ~np.isnan(out)
        np.testing.assert_allclose(out[real], expected[real], rtol=1e-12)
        return
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_direct_with_an_inf_weight_matches_the_scatter_add(dtype):
    """An inf weight in a transposed convolution with enough channels for
    the channel-blocked kernel: 'direct' gives the scatter-add's values, in
    which the inf weight multiplies only real inputs (the kernel's phases
    would multiply zero padding by it: inf * 0 = nan), so that kernel is
    not taken for non-finite weights."""
    x = np.ones((1, 8, 4), dtype=dtype)
    w = np.ones((8, 4, 3), dtype=dtype)
    w[0, 0, 0] = np.inf
    out = fastconv.conv_transpose1d(x, w, method="direct")
    np.testing.assert_array_equal(out, fastconv.conv_transpose1d(x, w, method="scatter"))
    expected = conv_transpose(x.astype(np.float64), w.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert not np.isnan(out).any()


def test_shape_helpers_agree_with_the_functions():
    assert fastconv.conv_output_shape((7, 6), (3, 2), stride=(2, 1), padding=1) == (4, 7)
    assert fastconv.conv2d(X, W, **KW).shape[2:] == (4, 7)
    assert fastconv.conv_transpose_output_shape((7, 6), (3, 2), stride=(2, 1),
                                                padding=1) == (13, 5)
    assert fastconv.conv_transpose2d(X, WT, **KW).shape[2:] == (13, 5)
    assert fastconv.conv_output_shape(10, 3, stride=3, padding="same") == (4,)
    assert fastconv.conv_transpose_output_shape(5, 4, stride=3, padding="same") == (15,)


def test_misaligned_arrays_are_copied_before_the_kernels(monkeypatch):
    """Arrays read from a byte buffer at an odd offset (as pickle protocol 5
    hands them between dask workers) reach the kernels aligned: the kernels
    load whole values, and a misaligned load is undefined behaviour."""
    seen = []
    execute = fastconv._methods.execute

    def recording(plan, x, weight):
        seen.append((x.flags.aligned, weight.flags.aligned))
        return execute(plan, x, weight)

    monkeypatch.setattr(fastconv._methods, "execute", recording)
    rng = np.random.default_rng(0)
    x_values, w_values = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))

    def misaligned(a):
        raw = bytearray(a.nbytes + 1)
        out = np.frombuffer(raw, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
        out[...] = a
        assert not out.flags.aligned
        return out

    for method in ("direct", "gemm"):
        result = fastconv.conv2d(misaligned(x_values), misaligned(w_values), padding=1,
                                 method=method)
        np.testing.assert_allclose(result, fastconv.conv2d(x_values, w_values, padding=1),
                                   rtol=1e-12, atol=1e-12)
    back = fastconv.conv_transpose2d(misaligned(x_values[:, :, :4, :4]),
                                     misaligned(w_values.swapaxes(0, 1).copy()), stride=2)
    assert back.shape == (2, 4, 9, 9)
    assert seen and all(x_ok and w_ok for x_ok, w_ok in seen)
