"""The direct method's depthwise path (plan path 'depthwise':
_methods.conv_transpose_direct on _depthwise.conv_transpose_depthwise, as
_planner plans it).

A float transposed convolution with one input channel per group (FCN's
bilinear up-sampling layers: groups == channels) gathers each output's few
terms in vectors: per vector pattern (stride / gcd(stride, lanes)) and slot
(each lane's m-th tap) one permute of a loaded vector of the source row,
the vectors whose reads leave the row masked lane by lane, every output
written once.  These tests check it against the plain NumPy reference over
strides, kernels shorter than, equal to, twice and not a multiple of the
stride, padding, output_padding, dilation, channel multipliers, batch,
1-D / 2-D / 3-D, every SIMD version, thread counts (identical bits), NaN and
inf, and the rule that picks it for FCN's shapes; and against torch where
installed.
"""

import itertools

import numpy as np
import pytest

import fastconv
from fastconv import _planner
from reference import conv_transpose
from sweep import assert_close
from tables import FLOAT_DTYPES as DTYPES

FUNCTIONS = {1: fastconv.conv_transpose1d, 2: fastconv.conv_transpose2d,
             3: fastconv.conv_transpose3d}


def make(nd, channels, multiplier, size, kernel, stride, padding, dilation,
         output_padding, dtype, batch=2, seed=0):
    """x (batch, channels, *size), weight (channels, multiplier, *kernel) and
    the keyword arguments of the call (groups == channels)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels) + (size,) * nd).astype(dtype)
    w = rng.standard_normal((channels, multiplier) + (kernel,) * nd).astype(dtype)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation,
                  output_padding=output_padding, groups=channels)
    return x, w, kwargs


def reference(nd, x, w, kwargs):
    rep = lambda v: (v,) * nd   # noqa: E731
    return conv_transpose(x.astype(np.float64), w.astype(np.float64),
                          stride=rep(kwargs["stride"]),
                          padding=rep((kwargs["padding"], kwargs["padding"])),
                          output_padding=rep(kwargs["output_padding"]),
                          dilation=rep(kwargs["dilation"]), groups=kwargs["groups"])


def plan_path(nd, x, w, kwargs):
    return fastconv.choose_method(f"conv_transpose{nd}d", x, w, **{
        k: v for k, v in kwargs.items() if k != "output_padding"})


def sweep():
    """(stride, kernel, padding, dilation, output_padding): kernels below,
    at, twice and off a multiple of the stride."""
    out = []
    for stride, kernel, padding, dilation in itertools.product(
            (1, 2, 3, 4, 5, 8), (1, 2, 3, 4, 5, 8, 16), (0, 1, 4), (1, 2, 3)):
        if kernel not in (1, 2, stride, 2 * stride, stride + 1, 3):
            continue
        for output_padding in sorted({0, max(stride, dilation) - 1}):
            out.append((stride, kernel, padding, dilation, output_padding))
    return out


SWEEP = sweep()


def _run_case(nd, params, dtype, multiplier=1, size=7, **extra):
    stride, kernel, padding, dilation, output_padding = params
    x, w, kwargs = make(nd, 3, multiplier, size, kernel, stride, padding, dilation,
                        output_padding, dtype)
    full = (size - 1) * stride + dilation * (kernel - 1) + 1 + output_padding
    if full - 2 * padding <= 0:
        pytest.skip("empty output")
    out = FUNCTIONS[nd](x, w, method="direct", **kwargs, **extra)
    assert out.dtype == x.dtype
    assert_close(out, reference(nd, x, w, kwargs), dtype)
    return x, w, kwargs, out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", SWEEP, ids=lambda p: "s{}-k{}-p{}-d{}-op{}".format(*p))
def test_2d_matches_reference(params, dtype):
    _run_case(2, params, dtype, size=9)


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("params", [(2, 4, 1, 1, 0), (3, 5, 2, 2, 1), (4, 8, 2, 1, 3),
                                    (2, 3, 0, 1, 1), (1, 3, 1, 1, 0)],
                         ids=lambda p: "s{}-k{}-p{}-d{}-op{}".format(*p))
def test_1d_3d_match_reference(nd, params):
    _run_case(nd, params, np.float64, size=5 if nd == 3 else 40)


@pytest.mark.parametrize("multiplier", [2, 3, 5])
def test_channel_multiplier(multiplier):
    _run_case(2, (2, 4, 1, 1, 0), np.float32, multiplier=multiplier)


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100])
@pytest.mark.parametrize("params", [(2, 4, 1, 1, 0), (8, 16, 4, 1, 0), (3, 7, 2, 1, 2),
                                    (4, 6, 0, 2, 1)],
                         ids=lambda p: "s{}-k{}-p{}-d{}-op{}".format(*p))
def test_every_width_and_simd_version(params, width, simd_version):
    """Rows shorter than a vector, partial last vectors, border vectors."""
    stride, kernel, padding, dilation, output_padding = params
    for dtype in DTYPES:
        rng = np.random.default_rng(width)
        x = rng.standard_normal((1, 2, 3, width)).astype(dtype)
        w = rng.standard_normal((2, 1, kernel, kernel)).astype(dtype)
        kwargs = dict(stride=stride, padding=padding, dilation=dilation,
                      output_padding=output_padding, groups=2)
        full = (width - 1) * stride + dilation * (kernel - 1) + 1 + output_padding
        if full - 2 * padding <= 0:
            continue
        out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
        ref = conv_transpose(x.astype(np.float64), w.astype(np.float64),
                             stride=(stride,) * 2, padding=((padding, padding),) * 2,
                             output_padding=(output_padding,) * 2,
                             dilation=(dilation,) * 2, groups=2)
        assert_close(out, ref, dtype)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_thread_counts_give_identical_bits(factor):
    params = fastconv.bilinear_kernel_params(factor)
    rng = np.random.default_rng(factor)
    x = rng.random((2, 5, 13, 11), dtype=np.float32)
    w = fastconv.bilinear_kernel(factor, 5).astype(np.float32)
    w = w * rng.random(w.shape, dtype=np.float32)
    kwargs = dict(stride=params["stride"], padding=params["padding"], groups=5)
    outs = [fastconv.conv_transpose2d(x, w, n_threads=n, **kwargs) for n in (1, 2, 3)]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_nan_and_inf_propagate_like_reference():
    """Lanes without a tap (and reads outside the row) add nothing: an inf
    input reaches only the outputs it reaches in the scatter."""
    x, w, kwargs = make(2, 2, 1, 9, 3, 2, 1, 1, 1, np.float64)
    x[0, 0, 4, 4] = np.inf
    x[1, 1, 0, 0] = np.nan
    w[1, 0, 2, 2] = np.inf
    out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
    ref = reference(2, x, w, kwargs)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isinf(out), np.isinf(ref))
    np.testing.assert_allclose(out[finite], ref[finite], rtol=1e-12, atol=1e-12)


def test_input_is_not_modified():
    x, w, kwargs = make(2, 3, 1, 8, 4, 2, 1, 1, 0, np.float32)
    x0, w0 = x.copy(), w.copy()
    fastconv.conv_transpose2d(x, w, **kwargs)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


FCN = [(c, f, side) for c in (21, 64) for f, side in ((2, 128), (4, 64), (8, 32))]


@pytest.mark.parametrize("channels, factor, side", FCN)
def test_planner_picks_depthwise_for_fcn(channels, factor, side):
    params = fastconv.bilinear_kernel_params(factor)
    x = np.zeros((1, channels, side, side), dtype=np.float32)
    w = fastconv.bilinear_kernel(factor, channels).astype(np.float32)
    kwargs = dict(stride=params["stride"], padding=params["padding"], groups=channels)
    assert fastconv.choose_method("conv_transpose2d", x, w, **kwargs) == "direct"
    geom = fastconv._geometry.conv_transpose_geometry(
        (1, side, side), (1,) + w.shape[2:], (1, factor, factor),
        (0, params["padding"], params["padding"]))
    plan = _planner.plan("conv_transpose", x[:, :, None], w[:, :, None], geom, channels,
                         "auto", 2)
    # bilinear kernels are outer(a, a) with a in eighths at most: exactly
    assert (plan.method, plan.path) == ("direct", "depthwise_separable")


def test_path_rules():
    geom = fastconv._geometry.conv_transpose_geometry((1, 8, 8), (1, 4, 4), (1, 2, 2),
                                                      (0, 1, 1))
    f32, i64 = np.dtype(np.float32), np.dtype(np.int64)
    assert _planner.depthwise_usable_for(f32, 1, geom)
    assert not _planner.depthwise_usable_for(f32, 2, geom)     # two inputs per group
    assert not _planner.depthwise_usable_for(i64, 1, geom)     # integers: rows, exact
    x = np.ones((1, 4, 1, 8, 8), dtype=np.int64)
    w = np.ones((4, 1, 1, 4, 4), dtype=np.int64)
    plan = _planner.plan("conv_transpose", x, w, geom, 4, "auto", 1)
    assert plan.path == "rows"


def test_large_tables_fall_back(monkeypatch):
    monkeypatch.setitem(_planner.THRESHOLDS, "depthwise_max_table", 16)
    x, w, kwargs = make(2, 3, 1, 6, 4, 2, 1, 1, 0, np.float32)
    geom = fastconv._geometry.conv_transpose_geometry((1, 6, 6), (1, 4, 4), (1, 2, 2),
                                                      (0, 1, 1))
    plan = _planner.plan("conv_transpose", x[:, :, None], w[:, :, None], geom, 3,
                         "direct", 1)
    assert plan.path == "rows"
    out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
    assert_close(out, reference(2, x, w, kwargs), np.float32)


@pytest.mark.parametrize("params", SWEEP[::7], ids=lambda p: "s{}-k{}-p{}-d{}-op{}".format(*p))
def test_matches_torch(params):
    torch = pytest.importorskip("torch")
    stride, kernel, padding, dilation, output_padding = params
    x, w, kwargs = make(2, 4, 2, 6, kernel, stride, padding, dilation, output_padding,
                        np.float64)
    try:
        expected = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(x), torch.from_numpy(w), **kwargs).numpy()
    except RuntimeError:
        pytest.skip("torch refuses the geometry")
    if expected.size == 0:
        pytest.skip("empty output")
    out = fastconv.conv_transpose2d(x, w, **kwargs)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_every_output_written(poisoned_empty):
    """The output comes from np.empty: poisoned with NaN, none may remain."""
    for params in SWEEP[::5]:
        stride, kernel, padding, dilation, output_padding = params
        x, w, kwargs = make(2, 3, 1, 6, kernel, stride, padding, dilation, output_padding,
                            np.float32)
        if (6 - 1) * stride + dilation * (kernel - 1) + 1 + output_padding <= 2 * padding:
            continue
        out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
        assert not np.isnan(out).any(), params
        assert_close(out, reference(2, x, w, kwargs), np.float32)


# --------------------------------------------------------------------------
# the separable form (plan path 'depthwise_separable'): weights, per output
# channel, a product of a kernel-row factor and a W factor
# --------------------------------------------------------------------------

def make_separable(channels, multiplier, size, kernel, stride, padding, dilation,
                   output_padding, dtype, batch=2, seed=0):
    """As make (2-D), each weight plane outer(a, b) of multiples of 1/8 in
    [-1, 1] (every product exact, some zero)."""
    x, _, kwargs = make(2, channels, multiplier, size, kernel, stride, padding, dilation,
                        output_padding, dtype, batch, seed)
    rng = np.random.default_rng(seed + 1)
    a = rng.integers(-8, 9, (channels, multiplier, kernel, 1)) / 8
    b = rng.integers(-8, 9, (channels, multiplier, 1, kernel)) / 8
    return x, (a * b).astype(dtype), kwargs


@pytest.fixture
def separable_calls(spy):
    """Whether each call of the depthwise kernel ran the separable form."""
    from fastconv import _depthwise
    return spy(_depthwise, "conv_transpose_depthwise",
               record=lambda *args, **kwargs: bool(args[6]) if len(args) > 6 else False)


def _separable_expected(stride, kernel, dilation):
    from fastconv import _depthwise
    return (_depthwise.slots(stride, dilation, kernel) ** 2
            >= _planner.THRESHOLDS["depthwise_separable_min_terms"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", SWEEP, ids=lambda p: "s{}-k{}-p{}-d{}-op{}".format(*p))
def test_separable_matches_reference(params, dtype, separable_calls, poisoned_empty):
    stride, kernel, padding, dilation, output_padding = params
    x, w, kwargs = make_separable(3, 2, 9, kernel, stride, padding, dilation,
                                  output_padding, dtype)
    if (9 - 1) * stride + dilation * (kernel - 1) + 1 + output_padding <= 2 * padding:
        pytest.skip("empty output")
    out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
    assert out.dtype == x.dtype
    assert_close(out, reference(2, x, w, kwargs), dtype)
    assert separable_calls == [_separable_expected(stride, kernel, dilation)]


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100])
@pytest.mark.parametrize("params", [(2, 4, 1, 1, 0), (8, 16, 4, 1, 0), (3, 7, 2, 1, 2),
                                    (4, 6, 0, 2, 1), (1, 3, 1, 1, 0), (2, 3, 0, 3, 1)],
                         ids=lambda p: "s{}-k{}-p{}-d{}-op{}".format(*p))
def test_separable_every_width_and_simd_version(params, width, simd_version,
                                                separable_calls, poisoned_empty):
    """Rows shorter than a vector, partial last vectors, border vectors, in
    the passes along W and in the sums of rows; rows of 40, past a job's
    64 rows, and a stride-2 dilation-3 kernel whose rows read sources out
    of order."""
    stride, kernel, padding, dilation, output_padding = params
    for dtype in DTYPES:
        x, w, kwargs = make_separable(2, 1, 40, kernel, stride, padding, dilation,
                                      output_padding, dtype, batch=1, seed=width)
        x = np.ascontiguousarray(x[..., :width])
        full = (width - 1) * stride + dilation * (kernel - 1) + 1 + output_padding
        if full - 2 * padding <= 0:
            continue
        out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
        assert_close(out, reference(2, x, w, kwargs), dtype)
    assert all(separable_calls) and separable_calls


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_separable_thread_counts_give_identical_bits(factor, separable_calls):
    params = fastconv.bilinear_kernel_params(factor)
    rng = np.random.default_rng(factor)
    x = rng.random((2, 5, 37, 11), dtype=np.float32)
    w = fastconv.bilinear_kernel(factor, 5).astype(np.float32)
    kwargs = dict(stride=params["stride"], padding=params["padding"], groups=5)
    outs = [fastconv.conv_transpose2d(x, w, n_threads=n, **kwargs) for n in (1, 2, 3)]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    assert separable_calls == [True] * 3


def test_separable_nan_and_inf_propagate_like_reference(separable_calls):
    x, w, kwargs = make_separable(2, 1, 9, 4, 2, 1, 1, 1, np.float64)
    x[0, 0, 4, 4] = np.inf
    x[1, 1, 0, 0] = np.nan
    x[1, 0, 8, 3] = -np.inf
    out = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
    ref = reference(2, x, w, kwargs)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(out[finite], ref[finite], rtol=1e-12, atol=1e-12)
    assert separable_calls == [True]


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_factors(dtype):
    from fastconv import _depthwise
    w = fastconv.bilinear_kernel(4, 3).astype(dtype)[:, :, None]   # (3, 1, 1, 8, 8)
    w[1] = 0                                                        # a zero plane
    a, b = _depthwise.row_factors(w)
    assert a.dtype == b.dtype == dtype and a.shape == (3, 8) and b.shape == (3, 8)
    # a is a column over the plane's largest value, rounded
    np.testing.assert_allclose(a[:, :, None] * b[:, None, :], w.reshape(3, 8, 8),
                               rtol=np.finfo(dtype).eps, atol=0)
    assert a[0].max() == 1
    off = w.copy()
    off[2, 0, 0, 3, 5] *= 1 + np.finfo(dtype).eps    # one ulp off: not a product
    assert _depthwise.row_factors(off) is None
    for bad in (np.inf, np.nan):
        off = w.copy()
        off[0, 0, 0, 0, 0] = bad
        assert _depthwise.row_factors(off) is None
    if dtype == np.float64:   # products whose rounding errors would underflow
        assert _depthwise.row_factors(w * 1e-300) is None


def test_planner_separable_rules():
    geom = fastconv._geometry.conv_transpose_geometry((1, 32, 32), (1, 4, 4), (1, 2, 2),
                                                      (0, 1, 1))
    x = np.ones((1, 4, 1, 16, 16), dtype=np.float32)
    w = fastconv.bilinear_kernel(2, 4).astype(np.float32)[:, :, None]

    def path(weight, policy="direct"):
        return _planner.plan("conv_transpose", x, weight, geom, 4, policy, 1).path

    assert path(w) == path(w, "auto") == "depthwise_separable"
    off = w.copy()
    off[3, 0, 0, 1, 2] += 0.5    # same shapes: the plan cache tells them apart
    assert path(off) == "depthwise"
    assert path(w) == "depthwise_separable"
    deep = np.ones((4, 1, 2, 4, 4), dtype=np.float32)    # kernel depth 2
    geom3 = fastconv._geometry.conv_transpose_geometry((2, 32, 32), (2, 4, 4), (1, 2, 2),
                                                       (0, 1, 1))
    assert _planner.plan("conv_transpose", x, deep, geom3, 4, "direct", 1).path == "depthwise"


def test_few_terms_keep_the_gather(monkeypatch):
    """Below depthwise_separable_min_terms terms per output the gather
    kernel runs, with the same results."""
    x, w, kwargs = make_separable(3, 1, 9, 4, 2, 1, 1, 0, np.float32)
    separable = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
    monkeypatch.setitem(_planner.THRESHOLDS, "depthwise_separable_min_terms", 5)
    geom = fastconv._geometry.conv_transpose_geometry((1, 16, 16), (1, 4, 4), (1, 2, 2),
                                                      (0, 1, 1))
    plan = _planner.plan("conv_transpose", x[:, :, None], w[:, :, None], geom, 3, "direct", 1)
    assert plan.path == "depthwise"
    gathered = fastconv.conv_transpose2d(x, w, method="direct", **kwargs)
    assert_close(separable, gathered.astype(np.float64), np.float32)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_bilinear_matches_torch(factor):
    """FCN's layers (factor 3's kernel, in thirds, is not an exact product:
    the gather kernel) against torch."""
    torch = pytest.importorskip("torch")
    params = fastconv.bilinear_kernel_params(factor)
    x = np.random.default_rng(factor).random((2, 6, 12, 10), dtype=np.float32)
    w = fastconv.bilinear_kernel(factor, 6).astype(np.float32)
    kwargs = dict(stride=params["stride"], padding=params["padding"], groups=6)
    expected = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w),
                                                    **kwargs).numpy()
    out = fastconv.conv_transpose2d(x, w, **kwargs)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
