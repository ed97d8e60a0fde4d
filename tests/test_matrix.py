"""The convolution matrix, the convolution LinearOperator and the matrix methods.

Expected values come from tests/reference.py and from matrices written out
here; fastconv's own functions appear only on the side being tested.
"""

import math
import runpy
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from scipy.sparse.linalg import LinearOperator, lsqr

import fastconv
from fastconv import _methods
from reference import conv, conv2d_plain, conv_transpose, conv_transpose2d_plain, same_padding
from sweep import CASES, assert_close

CONV_CASES = [c for c in CASES if c.op == "conv"]
FORMATS = ("csr", "csc", "coo", "dense")
EXAMPLE = Path(__file__).parent.parent / "examples" / "deconvolution.py"


def landing_output_padding(input_spatial, output_spatial, weight, stride, padding, dilation):
    """output_padding that makes the transposed convolution's output input_spatial."""
    return tuple(
        L - ((o - 1) * s - p0 - p1 + d * (k - 1) + 1)
        for L, o, k, s, (p0, p1), d in zip(input_spatial, output_spatial,
                                           weight.shape[2:], stride, padding, dilation)
    )


def as_dense(matrix):
    return matrix if isinstance(matrix, np.ndarray) else matrix.toarray()


# --------------------------------------------------------------------------
# the classic 4x4 / 3x3 example
# --------------------------------------------------------------------------

KERNEL = np.array([[1, 4, 1],
                   [1, 4, 3],
                   [3, 3, 1]])

# row r*2 + c: the kernel laid into the 4x4 input at offset (r, c), flattened
CLASSIC = np.array([
    [1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0, 0],
    [0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0],
    [0, 0, 0, 0, 0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1],
])


def test_classic_matrix_is_written_out_correctly():
    """The literal above is the classic construction."""
    for r in range(2):
        for c in range(2):
            laid = np.zeros((4, 4), dtype=int)
            laid[r:r + 3, c:c + 3] = KERNEL
            np.testing.assert_array_equal(CLASSIC[r * 2 + c], laid.ravel())


@pytest.mark.parametrize("fmt", FORMATS)
def test_classic_4x4_input_3x3_kernel(fmt):
    matrix = fastconv.convolution_matrix(KERNEL, (4, 4), format=fmt)
    if fmt == "dense":
        assert isinstance(matrix, np.ndarray)
    else:
        assert isinstance(matrix, scipy.sparse.sparray) and matrix.format == fmt
        assert matrix.nnz == 36
    assert matrix.shape == (4, 16) and matrix.dtype == np.int64
    np.testing.assert_array_equal(as_dense(matrix), CLASSIC)

    x = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(matrix @ x.ravel(), conv2d_plain(x, KERNEL).ravel())
    y = np.array([[1, -2], [3, 5]])
    np.testing.assert_array_equal(matrix.T @ y.ravel(),
                                  conv_transpose2d_plain(y, KERNEL).ravel())


def test_taps_in_padding_have_no_entry():
    matrix = fastconv.convolution_matrix(np.ones((1, 1, 3)), (1, 4), padding=1)
    expected = np.array([[1, 1, 0, 0],
                         [1, 1, 1, 0],
                         [0, 1, 1, 1],
                         [0, 0, 1, 1]])
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert matrix.nnz == 10


def test_csr_has_sorted_indices_without_duplicates():
    matrix = fastconv.convolution_matrix(np.ones((6, 2, 3, 3)), (4, 7, 9), stride=(2, 1),
                                         padding=((1, 2), (0, 1)), dilation=(1, 2), groups=2)
    assert matrix.has_canonical_format


# --------------------------------------------------------------------------
# the sweep: C @ x is the convolution, C.T @ y the transposed convolution
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c.name}-{c.index}")
def test_matrix_times_x_is_conv(case, fmt):
    x = case.x
    matrix = fastconv.convolution_matrix(case.weight, x.shape[1:], **case.kwargs, format=fmt)
    assert matrix.dtype == x.dtype
    expected = conv(x.astype(np.float64), case.weight.astype(np.float64),
                    groups=case.groups, **case.ref_kwargs)
    out = np.stack([matrix @ sample.ravel() for sample in x])
    assert_close(out.reshape(expected.shape), expected, x.dtype)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c.name}-{c.index}")
def test_matrix_transpose_times_y_is_conv_transpose(case):
    rk = case.ref_kwargs
    out_spatial = conv(case.x, case.weight, groups=case.groups, **rk).shape[2:]
    rng = np.random.default_rng(case.index)
    y = rng.standard_normal((case.x.shape[0], case.weight.shape[0]) + out_spatial)
    output_padding = landing_output_padding(case.x.shape[2:], out_spatial, case.weight,
                                            rk["stride"], rk["padding"], rk["dilation"])
    expected = conv_transpose(y, case.weight.astype(np.float64), groups=case.groups,
                              output_padding=output_padding, **rk)
    assert expected.shape[1:] == case.x.shape[1:]
    matrix = fastconv.convolution_matrix(case.weight.astype(np.float64), case.x.shape[1:],
                                         **case.kwargs)
    out = np.stack([matrix.T @ sample.ravel() for sample in y])
    assert_close(out.reshape(expected.shape), expected, np.float64)


# --------------------------------------------------------------------------
# the adjoint property, every method of both operations
# --------------------------------------------------------------------------

def random_geometry(seed):
    """Random conv arguments, the padding in a random accepted form, plus
    the explicit pairs and the output_padding of the adjoint."""
    rng = np.random.default_rng(1000 + seed)
    ndim = 1 + seed % 3
    groups = int(rng.choice([1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    while True:
        kernel = [int(k) for k in rng.integers(1, 4, ndim)]
        stride = [int(s) for s in rng.integers(1, 4, ndim)]
        dilation = [int(d) for d in rng.integers(1, 3, ndim)]
        size = [int(n) for n in rng.integers(3, {1: 16, 2: 9, 3: 6}[ndim], ndim)]
        form = ("int", "pairs", "same")[seed % 3]
        if form == "same":
            padding = "same"
            pairs = [same_padding(*a) for a in zip(size, kernel, stride, dilation)]
        elif form == "pairs":
            pairs = [tuple(int(p) for p in rng.integers(0, 4, 2)) for _ in range(ndim)]
            padding = tuple(pairs)
        else:
            padding = int(rng.integers(0, 3))
            pairs = [(padding, padding)] * ndim
        if all(n + p0 + p1 >= d * (k - 1) + 1
               for n, (p0, p1), k, d in zip(size, pairs, kernel, dilation)):
            break
    weight = rng.standard_normal((c_out, c_in // groups, *kernel))
    out_spatial = [(n + p0 + p1 - d * (k - 1) - 1) // s + 1
                   for n, (p0, p1), k, s, d in zip(size, pairs, kernel, stride, dilation)]
    output_padding = landing_output_padding(size, out_spatial, weight, stride, pairs, dilation)
    x = rng.standard_normal((2, c_in, *size))
    y = rng.standard_normal((2, c_out, *out_spatial))
    conv_args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    transpose_args = dict(stride=stride, padding=pairs, output_padding=output_padding,
                          dilation=dilation, groups=groups)
    return ndim, x, y, weight, conv_args, transpose_args


@pytest.mark.parametrize("seed", range(36))
def test_adjoint_property(seed):
    """<conv(x), y> == <x, conv_transpose(y)> for every pair of methods."""
    ndim, x, y, weight, conv_args, transpose_args = random_geometry(seed)
    conv_fn = getattr(fastconv, f"conv{ndim}d")
    transpose_fn = getattr(fastconv, f"conv_transpose{ndim}d")
    convs = {m: conv_fn(x, weight, **conv_args, method=m) for m in fastconv.CONV_METHODS}
    transposes = {m: transpose_fn(y, weight, **transpose_args, method=m)
                  for m in fastconv.CONV_TRANSPOSE_METHODS}
    scale = np.linalg.norm(x) * np.linalg.norm(y) * np.abs(weight).sum()
    for conv_method, cx in convs.items():
        assert cx.shape == y.shape, conv_method
        for transpose_method, ty in transposes.items():
            assert ty.shape == x.shape, transpose_method
            assert abs(np.vdot(cx, y) - np.vdot(x, ty)) <= 1e-12 * scale, \
                (conv_method, transpose_method)


# --------------------------------------------------------------------------
# the sparse, dense and zero_insertion methods
# --------------------------------------------------------------------------

def test_methods_are_registered():
    assert {"sparse", "dense"} <= set(fastconv.CONV_METHODS)
    assert {"sparse", "dense", "zero_insertion"} <= set(fastconv.CONV_TRANSPOSE_METHODS)


@pytest.mark.parametrize("seed", range(12))
def test_integer_methods_are_exact(seed):
    """int inputs stay int64 and exact in every method."""
    ndim, x, y, weight, conv_args, transpose_args = random_geometry(seed)
    rng = np.random.default_rng(seed)
    x, y = rng.integers(-9, 10, x.shape), rng.integers(-9, 10, y.shape)
    weight = rng.integers(-9, 10, weight.shape).astype(np.int16)
    rk = dict(stride=tuple(conv_args["stride"]), padding=transpose_args["padding"],
              dilation=tuple(conv_args["dilation"]), groups=conv_args["groups"])
    expected_conv = conv(x, weight.astype(np.int64), **rk)
    expected_transpose = conv_transpose(y, weight.astype(np.int64),
                                        output_padding=transpose_args["output_padding"], **rk)
    conv_fn = getattr(fastconv, f"conv{ndim}d")
    transpose_fn = getattr(fastconv, f"conv_transpose{ndim}d")
    for method in fastconv.CONV_METHODS:
        if not _methods.supports_integers("conv", method):
            with pytest.raises(TypeError, match="int64"):
                conv_fn(x, weight, **conv_args, method=method)
            continue
        out = conv_fn(x, weight, **conv_args, method=method)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, expected_conv)
    for method in fastconv.CONV_TRANSPOSE_METHODS:
        if not _methods.supports_integers("conv_transpose", method):
            with pytest.raises(TypeError, match="int64"):
                transpose_fn(y, weight, **transpose_args, method=method)
            continue
        out = transpose_fn(y, weight, **transpose_args, method=method)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, expected_transpose)


def test_dense_over_one_gib_raises_naming_the_size():
    # (1022*1022) x (1024*1024) float64: about 8 TiB, refused before allocating
    nbytes = 1022 ** 2 * 1024 ** 2 * 8
    with pytest.raises(ValueError, match=rf"{nbytes} bytes"):
        fastconv.convolution_matrix(np.ones((3, 3)), (1024, 1024), format="dense")
    # the methods: (198*198) x (200*200) float32 is 5.84 GiB
    x = np.ones((2, 1, 200, 200), dtype=np.float32)
    w = np.ones((1, 1, 3, 3), dtype=np.float32)
    nbytes = 198 ** 2 * 200 ** 2 * 4
    with pytest.raises(ValueError, match=rf"5\.84 GiB \({nbytes} bytes\)"):
        fastconv.conv2d(x, w, method="dense")
    with pytest.raises(ValueError, match=rf"conv_transpose2d\(method='dense'\).*{nbytes} bytes"):
        fastconv.conv_transpose2d(np.ones((2, 1, 198, 198), dtype=np.float32), w,
                                  method="dense")


def test_sparse_over_the_limit_raises_naming_the_count():
    """A 128 -> 128 channel 3x3 layer on 64x64: 64*64 outputs x 128 x 128 x 9
    taps = 603979776 non-zeros, refused before anything is built (it once
    took more than 8 GiB)."""
    x = np.ones((1, 128, 64, 64), dtype=np.float32)
    w = np.ones((128, 128, 3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"conv2d\(method='sparse'\).* 603979776 non-zeros"
                                         r".* 134217728 .*method='direct'"):
        fastconv.conv2d(x, w, padding=1, method="sparse")
    # the transposed one with the same weight: its adjoint has an output
    # position per input position, 64*64 again
    with pytest.raises(ValueError, match=r"conv_transpose2d\(method='sparse'\)"
                                         r".* 603979776 non-zeros.*method='direct'"):
        fastconv.conv_transpose2d(x, w, stride=2, padding=1, method="sparse")
    for fmt in ("csr", "csc", "coo"):
        with pytest.raises(ValueError, match=r"convolution_matrix: .* 603979776 non-zeros"
                                             r".*conv_operator"):
            fastconv.convolution_matrix(w, (128, 64, 64), padding=1, format=fmt)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "sparse", "transposed"])
def test_sparse_limit_is_the_count_of_entries_taps_in_padding_included(monkeypatch, fmt):
    """5 outputs x C_out 2 x C_in 3 x 3 taps = 90: allowed at a limit of 90,
    refused at 89, whichever way the matrix is asked for."""
    rng = np.random.default_rng(4)
    weight = rng.integers(-5, 6, (2, 3, 3))
    x = rng.integers(-5, 6, (1, 3, 5))
    y = rng.integers(-5, 6, (1, 2, 5))

    def build():
        if fmt == "sparse":
            return fastconv.conv1d(x, weight, padding=1, method="sparse")
        if fmt == "transposed":
            return fastconv.conv_transpose1d(y, weight, padding=1, method="sparse")
        return fastconv.convolution_matrix(weight, (3, 5), padding=1, format=fmt)

    monkeypatch.setattr(fastconv._matrix, "SPARSE_LIMIT", 90)
    out = build()
    if fmt == "sparse":
        np.testing.assert_array_equal(out, conv(x, weight, padding=[(1, 1)]))
    elif fmt == "transposed":
        np.testing.assert_array_equal(out, conv_transpose(y, weight, padding=[(1, 1)]))
    else:
        # the first and last outputs have a tap in padding, which has no entry
        assert out.nnz == 90 - 2 * 2 * 3
    monkeypatch.setattr(fastconv._matrix, "SPARSE_LIMIT", 89)
    with pytest.raises(ValueError, match=r"up to 90 non-zeros \(5 output positions x 2 "
                                         r"output channels x 3 input channels per group "
                                         r"x 3 taps\), more than the limit of 89"):
        build()


def test_csc_index_pointers_count_against_the_limit():
    """One non-zero in 2**30 columns: COO and CSR hold it, CSC would need
    2**30 + 1 column pointers (8 GiB)."""
    args = (np.ones((1, 1, 1)), (1, 2**30))
    for fmt in ("coo", "csr"):
        matrix = fastconv.convolution_matrix(*args, stride=2**30, format=fmt)
        assert matrix.shape == (1, 2**30) and matrix.nnz == 1
        assert matrix.tocoo().col.tolist() == [0]
    with pytest.raises(ValueError, match=r"convolution_matrix: a csc matrix of shape "
                                         r"\(1, 1073741824\) stores 1073741825 index "
                                         r"pointers.*format='coo'"):
        fastconv.convolution_matrix(*args, stride=2**30, format="csc")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_dense_inf_input_is_inf_where_read_and_nan_elsewhere_in_its_sample(op):
    """The dense product multiplies every input by its column, 0 * inf = nan
    where the kernel does not reach: the outputs that read the inf are inf
    (as in the reference), every other output of that sample NaN, both
    output channels; the other sample is untouched (docs/conventions.rst)."""
    rng = np.random.default_rng(8)
    x = rng.random((2, 1, 7)) + 0.5
    x[0, 0, 2] = np.inf
    weight = rng.random((2, 1, 3) if op == "conv" else (1, 2, 3)) + 0.5
    reference = conv if op == "conv" else conv_transpose
    expected = reference(x, weight)
    reads = np.isinf(expected[0])
    assert reads.any() and not reads.all()
    out = getattr(fastconv, f"{op}1d")(x, weight, method="dense")
    assert np.isposinf(out[0][reads]).all() and np.isnan(out[0][~reads]).all()
    np.testing.assert_allclose(out[1], expected[1], rtol=1e-12)
    x[0, 0, 2] = np.nan
    assert np.isnan(getattr(fastconv, f"{op}1d")(x, weight, method="dense")[0]).all()


# --------------------------------------------------------------------------
# arguments and dtypes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, expected", [
    (np.float64, np.float64), (np.float32, np.float32), (np.float16, np.float32),
    (np.int8, np.int64), (np.uint16, np.int64), (np.bool_, np.int64),
])
def test_dtypes(dtype, expected):
    weight = np.array([[[1, 0, 1]], [[1, 1, 0]]], dtype=dtype)
    for fmt in FORMATS:
        matrix = fastconv.convolution_matrix(weight, (1, 5), format=fmt)
        assert matrix.dtype == expected
        np.testing.assert_array_equal(as_dense(matrix)[:3, :], [[1, 0, 1, 0, 0],
                                                                [0, 1, 0, 1, 0],
                                                                [0, 0, 1, 0, 1]])


def test_weight_not_modified_and_not_shared():
    weight = np.arange(9.0).reshape(1, 1, 3, 3)
    before = weight.copy()
    matrix = fastconv.convolution_matrix(weight, (1, 5, 5), format="dense")
    operator = fastconv.conv_operator(weight, (1, 5, 5))
    np.testing.assert_array_equal(weight, before)
    weight[...] = 0
    np.testing.assert_array_equal(operator.rmatvec(np.ones(9)), matrix.T @ np.ones(9))


# (weight shape, input_shape, keyword arguments): each is refused by conv too
BAD = [
    ((4, 3, 3), (3, 5), dict(padding="full")),
    ((4, 3, 3), (3, 5), dict(stride=0)),
    ((4, 3, 3), (3, 5), dict(dilation=(1, 1))),
    ((4, 3, 3), (3, 5), dict(padding=-1)),
    ((4, 3, 6), (3, 5), {}),                      # kernel larger than the input
    ((4, 3, 3), (2, 5), {}),                      # channels do not match
    ((4, 3, 3), (6, 5), dict(groups=4)),          # groups do not divide C_out
    ((4, 3, 3), (6, 5), dict(groups=0)),
    ((4, 3, 3), (3, 5), dict(groups=1.5)),
    ((4, 3, 3), (3, 5, 5), {}),                   # spatial dims do not match
    ((4, 3, 3, 3), (3, 5), {}),
    ((4, 3, 0), (3, 5), {}),                      # empty kernel
]


@pytest.mark.parametrize("weight_shape, input_shape, kwargs", BAD)
def test_refuses_what_conv_refuses(weight_shape, input_shape, kwargs):
    weight = np.ones(weight_shape)
    conv_fn = getattr(fastconv, f"conv{max(weight.ndim - 2, 1)}d")
    with pytest.raises((ValueError, TypeError)) as from_conv:
        conv_fn(np.ones(input_shape), weight, **kwargs)
    for fn in (fastconv.convolution_matrix, fastconv.conv_operator):
        with pytest.raises(from_conv.type):
            fn(weight, input_shape, **kwargs)


def test_refuses_its_own_bad_arguments():
    with pytest.raises(ValueError, match="format"):
        fastconv.convolution_matrix(np.ones((3, 3)), (4, 4), format="bsr")
    with pytest.raises(TypeError, match="input_shape"):
        fastconv.convolution_matrix(np.ones((1, 1, 3)), 5)
    with pytest.raises(TypeError, match="input_shape"):
        fastconv.convolution_matrix(np.ones((1, 1, 3)), (1, 5.0))
    with pytest.raises(ValueError, match="weight must be"):
        fastconv.convolution_matrix(np.ones(3), (5,))
    with pytest.raises(ValueError, match="weight must be"):
        fastconv.convolution_matrix(np.ones((1,) * 6), (1,) * 5)
    with pytest.raises(TypeError, match="complex"):
        fastconv.convolution_matrix(np.ones((3, 3), dtype=np.clongdouble), (4, 4))
    with pytest.raises(ValueError, match="spatial sizes"):
        fastconv.conv_operator(np.ones((1, 1, 3)), (1, 0), padding=2)


def test_arguments_in_the_order_x_kernel_are_explained():
    """The classic notebook passes the input first: say which order it is."""
    x, kernel = np.arange(16).reshape(4, 4), np.ones((3, 3))
    for fn in (fastconv.convolution_matrix, fastconv.conv_operator):
        name = fn.__name__
        for given in (kernel, kernel.tolist()):
            with pytest.raises(TypeError, match=rf"{name}: input_shape must be a tuple of "
                                                rf"ints, got an array of shape \(3, 3\); "
                                                rf".*weight first, then input_shape such "
                                                rf"as x\.shape: {name}\(kernel, x\.shape\)"):
                fn(x, given)
    # the right order works
    assert fastconv.convolution_matrix(kernel, x.shape).shape == (4, 16)


@pytest.mark.parametrize("fn", [fastconv.convolution_matrix, fastconv.conv_operator])
def test_shape_beyond_int64_raises_naming_input_shape(fn):
    """(2**40)**3 columns, and with a 2**40 stride one row: once an
    OverflowError from an index computed past int64."""
    weight = np.ones((1, 1, 1, 1, 1))
    side = 2**40
    for stride in (1, side):
        with pytest.raises(ValueError, match=rf"{fn.__name__}: input_shape \(1, {side}, "
                                             rf"{side}, {side}\) .*{side ** 3}\).*2\*\*63"):
            fn(weight, (1, side, side, side), stride=stride)
    # 2**21 per side is 2**63 columns, one past int64; 2**20 per side fits a
    # vector's index but not its bytes (2**60 float64 values); the rows from
    # a large padding count too
    with pytest.raises(ValueError, match="input_shape"):
        fn(weight, (1, 2**21, 2**21, 2**21))
    with pytest.raises(ValueError, match="input_shape"):
        fn(weight, (1, 2**20, 2**20, 2**20))
    with pytest.raises(ValueError, match=r"input_shape \(1, 1, 1, 1\) with padding=1099511627776"):
        fn(weight, (1, 1, 1, 1), padding=side)


def test_zero_channels_give_an_empty_matrix_and_operator():
    """Zero input or output channels: the matrix and the operator have the
    same, partly empty, shape, and the products are zeros of that shape."""
    for weight_shape, input_shape, groups, shape in [
        ((0, 0, 3, 3), (0, 5, 5), 1, (0, 0)),
        ((0, 0, 3, 3), (0, 5, 5), 2, (0, 0)),
        ((2, 0, 3, 3), (0, 5, 5), 1, (18, 0)),     # no input channel
        ((4, 0, 3), (0, 6), 2, (16, 0)),
        ((0, 2, 3, 3), (2, 5, 5), 1, (0, 50)),     # no output channel
        ((0, 1, 3, 3), (2, 5, 5), 2, (0, 50)),
    ]:
        weight = np.ones(weight_shape)
        matrix = fastconv.convolution_matrix(weight, input_shape, groups=groups)
        operator = fastconv.conv_operator(weight, input_shape, groups=groups)
        assert matrix.shape == operator.shape == shape and matrix.nnz == 0
        rows, cols = shape
        np.testing.assert_array_equal(operator.matvec(np.ones(cols)), np.zeros(rows))
        np.testing.assert_array_equal(operator.rmatvec(np.ones(rows)), np.zeros(cols))
        np.testing.assert_array_equal(operator.matmat(np.ones((cols, 3))),
                                      np.zeros((rows, 3)))
        np.testing.assert_array_equal(operator.rmatmat(np.ones((rows, 3))),
                                      np.zeros((cols, 3)))
        # and a batch of no columns
        assert operator.matmat(np.ones((cols, 0))).shape == (rows, 0)


def test_zero_channels_with_a_huge_input_build_nothing():
    """Without a channel pair there is no pattern to build, however large
    the input: the COO and dense matrices are empty."""
    weight = np.ones((0, 1, 3))
    matrix = fastconv.convolution_matrix(weight, (1, 2**40), format="coo")
    assert matrix.shape == (0, 2**40) and matrix.nnz == 0
    assert fastconv.convolution_matrix(weight, (1, 2**40), format="dense").shape == (0, 2**40)


def test_empty_input_gives_empty_columns():
    matrix = fastconv.convolution_matrix(np.ones((2, 1, 3)), (1, 0), padding=2)
    assert matrix.shape == (4, 0) and matrix.nnz == 0


# --------------------------------------------------------------------------
# the LinearOperator
# --------------------------------------------------------------------------

def test_operator_products_match_the_reference():
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((4, 3, 2, 3))
    input_shape = (6, 7, 9)
    args = dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2))
    operator = fastconv.conv_operator(weight, input_shape, groups=2, **args)
    ref_args = dict(stride=(2, 1), padding=[(1, 0), (2, 1)], dilation=(1, 2), groups=2)
    out_spatial = ((7 + 1 - 2) // 2 + 1, (9 + 3 - 5) // 1 + 1)
    assert isinstance(operator, LinearOperator)
    assert operator.shape == (4 * math.prod(out_spatial), 6 * 7 * 9)
    assert operator.dtype == np.float64

    columns = rng.standard_normal((operator.shape[1], 3))
    expected = conv(columns.T.reshape((3,) + input_shape), weight, **ref_args)
    expected = expected.reshape(3, -1).T
    np.testing.assert_allclose(operator.matvec(columns[:, 0]), expected[:, 0], atol=1e-12)
    np.testing.assert_allclose(operator @ columns, expected, atol=1e-12)
    np.testing.assert_allclose(operator.matmat(columns), expected, atol=1e-12)

    rows = rng.standard_normal((operator.shape[0], 2))
    output_padding = landing_output_padding((7, 9), out_spatial, weight, (2, 1),
                                            [(1, 0), (2, 1)], (1, 2))
    expected = conv_transpose(rows.T.reshape((2, 4) + out_spatial), weight,
                              output_padding=output_padding, **ref_args)
    expected = expected.reshape(2, -1).T
    np.testing.assert_allclose(operator.rmatvec(rows[:, 1]), expected[:, 1], atol=1e-12)
    np.testing.assert_allclose(operator.T @ rows, expected, atol=1e-12)
    np.testing.assert_allclose(operator.rmatmat(rows), expected, atol=1e-12)


@pytest.mark.parametrize("weight_shape, input_shape, stride, padding", [
    ((3, 3), (5, 6), 2, 1), ((2, 1, 3), (1, 8), 2, 1),
    ((2, 2, 2, 2, 2), (2, 3, 4, 3), 2, 1),
    # padding wider than the input: the output lies in the padding, and the
    # transposed convolution must still land on the input size
    ((1, 1, 3), (1, 2), 4, 2), ((1, 1, 2, 3), (1, 3, 2), (3, 4), ((2, 2), (2, 0))),
])
def test_operator_is_the_matrix(weight_shape, input_shape, stride, padding):
    """In every dimensionality, the operator and the matrix agree."""
    rng = np.random.default_rng(3)
    weight = rng.standard_normal(weight_shape)
    operator = fastconv.conv_operator(weight, input_shape, padding=padding, stride=stride)
    matrix = fastconv.convolution_matrix(weight, input_shape, padding=padding,
                                         stride=stride)
    assert operator.shape == matrix.shape
    v = rng.standard_normal((matrix.shape[1], 2))
    u = rng.standard_normal((matrix.shape[0], 2))
    np.testing.assert_allclose(operator @ v, matrix @ v, atol=1e-12)
    np.testing.assert_allclose(operator.T @ u, matrix.T @ u, atol=1e-12)


def test_operator_matmat_runs_one_batch(monkeypatch, spy):
    """matmat runs its columns as one batch, on the geometry the operator
    resolved once: no geometry is built per product."""
    operator = fastconv.conv_operator(np.ones((2, 1, 3, 3)), (1, 6, 6))
    calls = spy(fastconv._methods, "execute", lambda plan, x, weight: x.shape)
    monkeypatch.setattr(fastconv._geometry, "conv_geometry", None)   # must not be called
    operator.matmat(np.ones((36, 5)))
    operator.rmatvec(np.ones(32))
    assert calls == [(5, 1, 1, 6, 6), (1, 2, 1, 4, 4)]


def test_lsqr_recovers_the_input():
    """A 'full' convolution is injective: lsqr finds x back from conv(x).
    A dominant centre tap keeps it well conditioned (about 35 iterations)."""
    rng = np.random.default_rng(11)
    weight = rng.random((3, 3))
    weight[1, 1] += 4
    x = rng.standard_normal((8, 8))
    operator = fastconv.conv_operator(weight, x.shape, padding=2)
    b = conv2d_plain(np.pad(x, 2), weight)
    solution = lsqr(operator, b.ravel(), atol=1e-14, btol=1e-14, iter_lim=200)[0]
    np.testing.assert_allclose(solution.reshape(x.shape), x, atol=1e-8)


def test_deconvolution_example():
    example = runpy.run_path(str(EXAMPLE))
    before, after = example["main"](size=48, iterations=150)
    assert before > 0.05 and after < before / 10
