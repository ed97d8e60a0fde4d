"""Bad input raises a clear ValueError / TypeError naming the argument and
its value, before any compiled code runs."""

import re

import numpy as np
import pytest

import fastconv

X2 = np.zeros((2, 4, 8, 8))
W2 = np.zeros((6, 4, 3, 3))      # conv weight (C_out, C_in, kH, kW)
WT2 = np.zeros((4, 6, 3, 3))     # transposed weight (C_in, C_out, kH, kW)

CONV_CASES = [
    # (kwargs overriding the call, error type, words the message must hold)
    (dict(x=np.zeros((2, 5, 8, 8))), ValueError, ["5 input channels", "(6, 4, 3, 3)"]),
    (dict(groups=3), ValueError, ["groups=3"]),
    (dict(weight=np.zeros((6, 2, 3, 3)), groups=2, x=np.zeros((2, 4, 8, 8))), None, []),
    (dict(weight=np.zeros((5, 2, 3, 3)), groups=2), ValueError, ["groups=2", "5"]),
    (dict(groups=0), ValueError, ["groups", "0"]),
    (dict(stride=0), ValueError, ["stride", "0"]),
    (dict(stride=(1, -1)), ValueError, ["stride", "(1, -1)"]),
    (dict(dilation=0), ValueError, ["dilation", "0"]),
    (dict(padding=-1), ValueError, ["padding", "-1"]),
    (dict(padding=((0, 1), (-1, 0))), ValueError, ["padding"]),
    (dict(padding="full"), ValueError, ["padding", "'full'"]),
    (dict(stride=(1, 1, 1)), ValueError, ["stride", "(1, 1, 1)"]),
    (dict(padding=(1, 1, 1)), ValueError, ["padding", "(1, 1, 1)"]),
    (dict(padding=((1, 1, 1), (0, 0))), ValueError, ["padding"]),
    (dict(dilation=(2,)), None, []),   # one entry: every dim, as in PyTorch
    (dict(stride=1.5), TypeError, ["stride", "1.5"]),
    (dict(x=np.zeros((2, 4, 2, 8))), ValueError, ["kernel", "larger than the padded input"]),
    (dict(dilation=4), ValueError, ["kernel", "dilation"]),
    (dict(weight=np.zeros((6, 4, 0, 3))), ValueError, ["kernel size", "(6, 4, 0, 3)"]),
    (dict(x=np.zeros((2, 4, 8, 8, 1))), ValueError, ["x must be", "(2, 4, 8, 8, 1)"]),
    (dict(x=np.zeros(8)), ValueError, ["x must be"]),
    (dict(weight=np.zeros((6, 4, 3))), ValueError, ["weight must be 4-D", "(6, 4, 3)"]),
    (dict(bias=np.zeros(5)), ValueError, ["bias", "(6,)", "(5,)"]),
    (dict(bias=np.zeros((6, 1))), ValueError, ["bias", "(6, 1)"]),
    (dict(method="fft"), ValueError, ["method", "'fft'", "direct"]),
    (dict(n_threads=0), ValueError, ["n_threads", "0"]),
    (dict(n_threads=100_000), ValueError, ["n_threads", "100000"]),
    (dict(n_threads=True), TypeError, ["n_threads", "True"]),
    (dict(stride=True), TypeError, ["stride", "True"]),
    (dict(padding=(True, 0)), TypeError, ["padding", "True"]),
    (dict(groups=np.bool_(True)), TypeError, ["groups", "True"]),
    (dict(stride=2**63), ValueError, ["stride", str(2**63)]),
    (dict(padding=2**62), ValueError, ["padding", str(2**62)]),
    (dict(x=X2.astype(np.complex128)), TypeError, ["complex128"]),
    (dict(weight=W2.astype(object)), TypeError, ["object"]),
    (dict(x=np.full((2, 4, 8, 8), "a")), TypeError, ["<U1"]),
    (dict(bias=np.zeros(6, dtype=np.complex64)), TypeError, ["bias", "complex64"]),
]

CONV_TRANSPOSE_CASES = [
    (dict(x=np.zeros((2, 5, 8, 8))), ValueError, ["5 input channels"]),
    (dict(groups=3), ValueError, ["groups=3"]),
    (dict(groups=4), None, []),  # divides C_in = 4: C_out = 4 * 6
    (dict(output_padding=1), ValueError, ["output_padding", "(1, 1)", "stride"]),
    (dict(output_padding=2, stride=2), ValueError, ["output_padding", "(2, 2)"]),
    (dict(output_padding=1, stride=2), None, []),
    (dict(output_padding=1, dilation=2), None, []),
    (dict(output_padding=(1, 0, 0), stride=2), ValueError, ["output_padding"]),
    (dict(output_padding=1, stride=2, padding="same"), ValueError, ["output_padding", "same"]),
    (dict(padding=10), ValueError, ["output would be empty", "padding 10"]),
    (dict(padding="valid"), None, []),
    (dict(padding="half"), ValueError, ["padding", "'half'"]),
    (dict(stride=0), ValueError, ["stride", "0"]),
    (dict(bias=np.zeros(4)), ValueError, ["bias", "(6,)"]),
    (dict(weight=np.zeros((4, 6, 3, 0))), ValueError, ["kernel size"]),
    (dict(method="gather"), ValueError, ["method", "'gather'", "scatter"]),
    (dict(x=X2.astype(np.complex64)), TypeError, ["complex64"]),
]


def _call(fn, defaults, overrides):
    args = dict(defaults)
    args.update(overrides)
    return fn(**args)


@pytest.mark.parametrize("overrides, error, words", CONV_CASES,
                         ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d_bad_input(overrides, error, words):
    defaults = dict(x=X2, weight=W2)
    if error is None:  # a near-miss that is valid: it must run
        assert _call(fastconv.conv2d, defaults, overrides).ndim == 4
        return
    with pytest.raises(error) as info:
        _call(fastconv.conv2d, defaults, overrides)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("overrides, error, words", CONV_TRANSPOSE_CASES,
                         ids=[str(i) for i in range(len(CONV_TRANSPOSE_CASES))])
def test_conv_transpose2d_bad_input(overrides, error, words):
    defaults = dict(x=X2, weight=WT2)
    if error is None:
        assert _call(fastconv.conv_transpose2d, defaults, overrides).ndim == 4
        return
    with pytest.raises(error) as info:
        _call(fastconv.conv_transpose2d, defaults, overrides)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("fn, weight", [
    (fastconv.conv1d, np.zeros((2, 3, 3))),
    (fastconv.conv3d, np.zeros((2, 3, 3, 3, 3))),
    (fastconv.conv_transpose1d, np.zeros((3, 2, 3))),
    (fastconv.conv_transpose3d, np.zeros((3, 2, 3, 3, 3))),
])
def test_wrong_ndim_in_1d_and_3d(fn, weight):
    with pytest.raises(ValueError, match=re.escape("x must be")):
        fn(np.zeros((1, 3, 5, 5, 5, 5)), weight)
    # a 2-D "plain matrix" call is only a conv2d / conv_transpose2d form
    with pytest.raises(ValueError):
        fn(np.zeros((5, 5)), np.zeros((3, 3)))


def test_plain_matrix_needs_plain_kernel():
    with pytest.raises(ValueError, match="or 2-D with a 2-D kernel"):
        fastconv.conv2d(np.zeros((4, 4)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="kernel"):
        fastconv.conv2d(np.zeros((2, 2)), np.zeros((3, 3)))


def test_shape_helpers_raise_like_the_functions():
    with pytest.raises(ValueError, match="stride"):
        fastconv.conv_output_shape((8, 8), 3, stride=0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        fastconv.conv_output_shape((2, 2), 3)
    with pytest.raises(ValueError, match="output_padding"):
        fastconv.conv_transpose_output_shape((4, 4), 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="kernel"):
        fastconv.conv_output_shape((8, 8), (3, 3, 3))
    with pytest.raises(ValueError, match="1 to 3 spatial dims"):
        fastconv.conv_output_shape((10, 10, 10, 10), 3)
    with pytest.raises(ValueError, match="1 to 3 spatial dims"):
        fastconv.conv_transpose_output_shape((10, 10, 10, 10), 3)
    with pytest.raises(ValueError, match="1 to 3 spatial dims"):
        fastconv.conv_output_shape((), 3)


# --------------------------------------------------------------------------
# errors that point to the fix
# --------------------------------------------------------------------------

def test_channel_mismatch_names_the_layouts():
    with pytest.raises(ValueError) as info:
        fastconv.conv2d(np.zeros((2, 5, 8, 8)), W2)
    message = str(info.value)
    assert "conv2d:" in message
    assert "x (N, C_in, H, W)" in message and "(C_out, C_in/groups, kH, kW)" in message
    with pytest.raises(ValueError) as info:
        fastconv.conv_transpose3d(np.zeros((2, 5, 4, 4, 4)), np.zeros((4, 6, 3, 3, 3)))
    message = str(info.value)
    assert "conv_transpose3d:" in message
    assert "x (N, C_in, D, H, W)" in message and "(C_in, C_out/groups, kD, kH, kW)" in message


def test_channels_last_input_is_named_with_its_fix():
    nhwc = np.random.default_rng(0).standard_normal((2, 8, 8, 4))
    with pytest.raises(ValueError) as info:
        fastconv.conv2d(nhwc, W2 + 1)
    message = str(info.value)
    assert "channels-last" in message and "x.transpose(0, 3, 1, 2)" in message
    # the suggested fix runs and is the convolution of the NCHW image
    fixed = fastconv.conv2d(nhwc.transpose(0, 3, 1, 2), W2 + 1)
    assert fixed.shape == (2, 6, 6, 6)


@pytest.mark.parametrize("fn, weight, x_channels", [
    (fastconv.conv2d, np.ones((3, 3, 4, 6)), 4),             # Keras Conv2D: kH, kW, C_in, C_out
    (fastconv.conv_transpose2d, np.ones((3, 3, 6, 4)), 4),   # Conv2DTranspose: kH, kW, C_out, C_in
    (fastconv.conv3d, np.ones((3, 3, 3, 4, 6)), 4),   # (1-D Keras kernels are valid
    # PyTorch layouts: (k, C_in, C_out) reads as C_out=k, C_in, kernel C_out)
])
def test_keras_kernel_is_named_with_its_fix(fn, weight, x_channels):
    ndim = weight.ndim - 2
    x = np.ones((2, x_channels) + (8,) * ndim)
    with pytest.raises(ValueError) as info:
        fn(x, weight)
    message = str(info.value)
    order = (ndim + 1, ndim) + tuple(range(ndim))
    assert "Keras" in message and f"weight.transpose{order}" in message, message
    assert fn(x, weight.transpose(order)).shape[:2] == (2, 6)


def test_plain_kernel_with_channels_input_explains_the_rule():
    with pytest.raises(ValueError) as info:
        fastconv.conv2d(np.zeros((1, 1, 8, 8)), np.zeros((3, 3)))
    message = str(info.value)
    assert "conv2d:" in message and "plain" in message and "weight[None, None]" in message


@pytest.mark.parametrize("spelling", ["SAME", "Same", "VALID", "Valid"])
def test_padding_modes_in_any_case(spelling):
    x = np.random.default_rng(1).standard_normal((1, 4, 7, 9))
    expected = fastconv.conv2d(x, W2, stride=2, padding=spelling.lower())
    assert np.array_equal(fastconv.conv2d(x, W2, stride=2, padding=spelling), expected)
    xt = np.random.default_rng(2).standard_normal((1, 4, 5, 5))
    assert np.array_equal(
        fastconv.conv_transpose2d(xt, WT2 + 1, stride=2, padding=spelling),
        fastconv.conv_transpose2d(xt, WT2 + 1, stride=2, padding=spelling.lower()))


@pytest.mark.parametrize("name, value", [("stride", 2), ("padding", 1), ("dilation", 2)])
def test_one_entry_tuple_is_every_dim(name, value):
    """As in PyTorch: stride=(2,) means 2 in every spatial dim."""
    rng = np.random.default_rng(3)
    x2, x3 = rng.standard_normal((1, 2, 9, 9)), rng.standard_normal((1, 2, 9, 9, 9))
    w2, w3 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((3, 2, 3, 3, 3))
    assert np.array_equal(fastconv.conv2d(x2, w2, **{name: (value,)}),
                          fastconv.conv2d(x2, w2, **{name: value}))
    assert np.array_equal(fastconv.conv3d(x3, w3, **{name: [value]}),
                          fastconv.conv3d(x3, w3, **{name: value}))
    assert np.array_equal(fastconv.conv_transpose2d(x2, w2.swapaxes(0, 1), **{name: (value,)}),
                          fastconv.conv_transpose2d(x2, w2.swapaxes(0, 1), **{name: value}))


def test_integer_overflow_is_refused_not_wrapped():
    """int64 is exact only while max|x| * max|w| * terms stays below 2**63."""
    with pytest.raises(OverflowError, match=r"conv1d: .*2\*\*63.*float64"):
        fastconv.conv1d(np.full((1, 1, 2), 2**62), np.full((1, 1, 2), 2))
    with pytest.raises(OverflowError, match="conv_transpose2d"):
        fastconv.conv_transpose2d(np.full((3, 3), 2**40), np.full((3, 3), -2**20))
    # just under the bound the result is exact: 3 * 2**60 * 2 terms
    out = fastconv.conv1d(np.full((1, 1, 2), 2**60), np.full((1, 1, 2), 3))
    assert out.dtype == np.int64 and int(out[0, 0, 0]) == 2 * 3 * 2**60
    # the bias counts too
    with pytest.raises(OverflowError):
        fastconv.conv1d(np.full((1, 1, 2), 2**60), np.full((1, 1, 2), 3),
                        bias=np.array([2**62]))


def test_default_threads_stay_within_the_limit(monkeypatch):
    """OMP_NUM_THREADS above 1024 is clamped, not passed on to the kernels."""
    from fastconv import _openmp, _validation
    monkeypatch.setattr(_openmp, "max_threads", lambda: 5000)
    assert _validation.resolve_threads(None) == _validation.MAX_THREADS
    out = fastconv.conv2d(np.ones((1, 8, 1, 1000), np.float32),
                          np.ones((4, 8, 1, 3), np.float32), method="direct")
    assert (out == 24).all()
