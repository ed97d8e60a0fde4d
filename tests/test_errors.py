"""Bad input raises a clear ValueError / TypeError naming the argument and
its value, before any compiled code runs."""

import re

import numpy as np
import pytest

import fastconv

X2 = np.zeros((2, 4, 8, 8))
W2 = np.zeros((6, 4, 3, 3))      # conv weight (C_out, C_in, kH, kW)
WT2 = np.zeros((4, 6, 3, 3))     # transposed weight (C_in, C_out, kH, kW)


def _shown(value):
    """An argument as a test id shows it: an array by its shape (and its
    dtype unless float64)."""
    if isinstance(value, np.ndarray):
        dtype = "" if value.dtype == np.float64 else str(value.dtype)
        return f"{value.shape}{dtype}".replace(" ", "")
    return repr(value).replace(" ", "")


class Call:
    """A valid call with ``overrides`` in its keyword arguments, and what it
    does: ``Call(groups=3).raises(ValueError, "groups=3")`` raises that
    error, its message holding each word given; a Call without ``raises``
    is a near-miss that is valid and must run."""

    def __init__(self, **overrides):
        self.overrides = overrides
        self.error, self.words = None, ()

    def raises(self, error, *words):
        """The call raises ``error`` with each of ``words`` in its message."""
        self.error, self.words = error, words
        return self

    def __str__(self):
        """The test id: the overrides, then the error raised or 'runs'."""
        given = ",".join(f"{name}={_shown(value)}" for name, value in self.overrides.items())
        return f"{given}-{self.error.__name__ if self.error else 'runs'}"

    def check(self, fn, defaults):
        """``fn(**defaults, **overrides)`` raises as stated, or returns a 4-D
        result."""
        args = {**defaults, **self.overrides}
        if self.error is None:
            assert fn(**args).ndim == 4
            return
        with pytest.raises(self.error) as info:
            fn(**args)
        for word in self.words:
            assert word in str(info.value), (word, str(info.value))


CONV_CASES = [
    Call(x=np.zeros((2, 5, 8, 8))).raises(ValueError, "5 input channels", "(6, 4, 3, 3)"),
    Call(groups=3).raises(ValueError, "groups=3"),
    Call(weight=np.zeros((6, 2, 3, 3)), groups=2, x=np.zeros((2, 4, 8, 8))),
    Call(weight=np.zeros((5, 2, 3, 3)), groups=2).raises(ValueError, "groups=2", "5"),
    Call(groups=0).raises(ValueError, "groups", "0"),
    Call(stride=0).raises(ValueError, "stride", "0"),
    Call(stride=(1, -1)).raises(ValueError, "stride", "(1, -1)"),
    Call(dilation=0).raises(ValueError, "dilation", "0"),
    Call(padding=-1).raises(ValueError, "padding", "-1"),
    Call(padding=((0, 1), (-1, 0))).raises(ValueError, "padding"),
    Call(padding="full").raises(ValueError, "padding", "'full'"),
    Call(stride=(1, 1, 1)).raises(ValueError, "stride", "(1, 1, 1)"),
    Call(padding=(1, 1, 1)).raises(ValueError, "padding", "(1, 1, 1)"),
    Call(padding=((1, 1, 1), (0, 0))).raises(ValueError, "padding"),
    Call(dilation=(2,)),   # one entry: every dim, as in PyTorch
    Call(stride=1.5).raises(TypeError, "stride", "1.5"),
    Call(x=np.zeros((2, 4, 2, 8))).raises(
        ValueError, "kernel", "larger than the padded input"),
    Call(dilation=4).raises(ValueError, "kernel", "dilation"),
    Call(weight=np.zeros((6, 4, 0, 3))).raises(ValueError, "kernel size", "(6, 4, 0, 3)"),
    Call(x=np.zeros((2, 4, 8, 8, 1))).raises(ValueError, "x must be", "(2, 4, 8, 8, 1)"),
    Call(x=np.zeros(8)).raises(ValueError, "x must be"),
    Call(weight=np.zeros((6, 4, 3))).raises(ValueError, "weight must be 4-D", "(6, 4, 3)"),
    Call(bias=np.zeros(5)).raises(ValueError, "bias", "(6,)", "(5,)"),
    Call(bias=np.zeros((6, 1))).raises(ValueError, "bias", "(6, 1)"),
    Call(method="fourier").raises(ValueError, "method", "'fourier'", "direct"),
    Call(n_threads=0).raises(ValueError, "n_threads", "0"),
    Call(n_threads=100_000).raises(ValueError, "n_threads", "100000"),
    Call(n_threads=True).raises(TypeError, "n_threads", "True"),
    Call(stride=True).raises(TypeError, "stride", "True"),
    Call(padding=(True, 0)).raises(TypeError, "padding", "True"),
    Call(groups=np.bool_(True)).raises(TypeError, "groups", "True"),
    Call(stride=2**63).raises(ValueError, "stride", str(2**63)),
    Call(padding=2**62).raises(ValueError, "padding", str(2**62)),
    Call(x=X2.astype(np.complex128)),   # complex is computed (tests/test_complex.py)
    Call(x=X2.astype(np.clongdouble)).raises(TypeError, "complex"),
    Call(weight=W2.astype(object)).raises(TypeError, "object"),
    Call(x=np.full((2, 4, 8, 8), "a")).raises(TypeError, "<U1"),
    Call(bias=np.zeros(6, dtype=np.complex64)),
    Call(bias=np.zeros(6, dtype=np.str_)).raises(TypeError, "bias", "<U1"),
]

CONV_TRANSPOSE_CASES = [
    Call(x=np.zeros((2, 5, 8, 8))).raises(ValueError, "5 input channels"),
    Call(groups=3).raises(ValueError, "groups=3"),
    Call(groups=4),   # divides C_in = 4: C_out = 4 * 6
    Call(output_padding=1).raises(ValueError, "output_padding", "(1, 1)", "stride"),
    Call(output_padding=2, stride=2).raises(ValueError, "output_padding", "(2, 2)"),
    Call(output_padding=1, stride=2),
    Call(output_padding=1, dilation=2),
    Call(output_padding=(1, 0, 0), stride=2).raises(ValueError, "output_padding"),
    Call(output_padding=1, stride=2, padding="same").raises(
        ValueError, "output_padding", "same"),
    Call(padding=10).raises(ValueError, "output would be empty", "padding 10"),
    Call(padding="valid"),
    Call(padding="half").raises(ValueError, "padding", "'half'"),
    Call(stride=0).raises(ValueError, "stride", "0"),
    Call(bias=np.zeros(4)).raises(ValueError, "bias", "(6,)"),
    Call(weight=np.zeros((4, 6, 3, 0))).raises(ValueError, "kernel size"),
    Call(method="gather").raises(ValueError, "method", "'gather'", "scatter"),
    Call(x=X2.astype(np.complex64)),
    Call(x=X2.astype(np.clongdouble)).raises(TypeError, "complex"),
]


@pytest.mark.parametrize("call", CONV_CASES, ids=str)
def test_conv2d_bad_input(call):
    call.check(fastconv.conv2d, dict(x=X2, weight=W2))


@pytest.mark.parametrize("call", CONV_TRANSPOSE_CASES, ids=str)
def test_conv_transpose2d_bad_input(call):
    call.check(fastconv.conv_transpose2d, dict(x=X2, weight=WT2))


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
