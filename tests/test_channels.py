"""The direct method's channel-blocked path (_direct.conv_channels).

A convolution with at least CHANNEL_BLOCK (4) output channels per group
runs a kernel that computes blocks of 4 output channels x a few vectors of
positions from a zero-padded, stride-phase-split copy of each sample, cut
into windows of rows.  The sweep's random cases rarely reach it (it needs
>= 4 output channels per group and, by default, >= 8 input channels x taps
per group), so these tests force it and check it against the reference:
every register-block remainder (4 to 7 output channels per group, more
than 8 input channels per group, i.e. several input-channel chunks),
outputs shorter than one vector block, every SIMD version, windows of one
row to the whole sample, thread counts, the inputs a user passes, NaN and
inf, and the rule that chooses the path.
"""

import math

import numpy as np
import pytest

import fastconv
from fastconv import _direct
from fastconv._geometry import conv_geometry
from reference import conv
from sweep import assert_close

DTYPES = [np.float32, np.float64]
CONV = {1: fastconv.conv1d, 2: fastconv.conv2d, 3: fastconv.conv3d}

# (id, nd, x shape, weight shape, stride, padding pairs, dilation, groups)
CASES = [
    # 1-D
    ("1d-out3-shorter-than-a-block", 1, (2, 3, 5), (5, 3, 3), (1,), ((0, 0),), (1,), 1),
    ("1d-s2-d2-cout6", 1, (2, 4, 23), (6, 4, 4), (2,), ((3, 1),), (2,), 1),
    ("1d-s3-cout7", 1, (3, 2, 40), (7, 2, 5), (3,), ((0, 2),), (1,), 1),
    ("1d-cin1-k9-cout5-g2", 1, (2, 2, 30), (10, 1, 9), (1,), ((4, 4),), (1,), 2),
    ("1d-450-positions", 1, (1, 3, 450), (4, 3, 3), (1,), ((1, 1),), (1,), 1),
    # 2-D
    ("2d-cout4", 2, (2, 3, 7, 6), (4, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("2d-cout8", 2, (2, 8, 9, 11), (8, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("2d-s2-d2-cout5-g2", 2, (2, 4, 10, 9), (10, 2, 3, 2), (2, 2), ((1, 0), (0, 2)),
     (2, 1), 2),
    ("2d-cout6-cin12", 2, (1, 12, 8, 9), (6, 12, 3, 3), (1, 1), ((1, 1), (1, 1)),
     (1, 1), 1),
    ("2d-s3-d2-cout7-cin9-g2", 2, (2, 18, 11, 10), (14, 9, 3, 3), (3, 2),
     ((2, 1), (0, 0)), (1, 2), 2),
    ("2d-cout4-cin17", 2, (1, 17, 6, 7), (4, 17, 2, 2), (1, 1), ((0, 1), (1, 0)),
     (1, 1), 1),
    ("2d-cout34", 2, (1, 3, 12, 13), (34, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("2d-cout36-cin10", 2, (1, 10, 9, 9), (36, 10, 3, 3), (1, 1), ((1, 1), (1, 1)),
     (1, 1), 1),
    ("2d-cin1-k5-cout5-g3", 2, (2, 3, 12, 12), (15, 1, 5, 5), (1, 1), ((2, 2), (2, 2)),
     (1, 1), 3),
    ("2d-kernel-is-input-cout4-g3", 2, (2, 6, 5, 5), (12, 2, 5, 5), (1, 1),
     ((0, 0), (0, 0)), (1, 1), 3),
    ("2d-d2-cout9", 2, (1, 5, 17, 23), (9, 5, 3, 3), (1, 1), ((0, 2), (1, 1)), (2, 1), 1),
    ("2d-s2-cout12", 2, (2, 6, 15, 14), (12, 6, 3, 3), (2, 2), ((1, 1), (1, 1)),
     (1, 1), 1),
    # 3-D
    ("3d-s2-d2-cout4", 3, (2, 3, 6, 7, 5), (4, 3, 3, 2, 3), (1, 2, 1),
     ((1, 0), (1, 1), (0, 2)), (1, 1, 2), 1),
    ("3d-s3-d2-cout5-g2", 3, (2, 4, 7, 6, 8), (10, 2, 2, 3, 3), (2, 3, 2),
     ((0, 1), (2, 0), (1, 1)), (2, 1, 1), 2),
    ("3d-cout6-cin9", 3, (1, 9, 5, 6, 7), (6, 9, 3, 3, 3), (1, 1, 1),
     ((1, 1), (1, 1), (1, 1)), (1, 1, 1), 1),
    ("3d-cin1-k3-cout4-g2", 3, (1, 2, 6, 6, 6), (8, 1, 3, 3, 3), (1, 1, 1),
     ((1, 1), (1, 1), (1, 1)), (1, 1, 1), 2),
]
CASE = {c[0]: c for c in CASES}


@pytest.fixture
def channel_calls(monkeypatch):
    """The calls that reach the channel-blocked kernel, which still runs."""
    calls = []
    kernel = _direct._channels_pass
    monkeypatch.setattr(_direct, "_channels_pass",
                        lambda *args: calls.append(args) or kernel(*args))
    return calls


@pytest.fixture
def forced(monkeypatch):
    """Every float convolution with >= 4 output channels per group takes the
    channel-blocked path, however few input channels x taps it has and
    however much wider than the output its phase grid is."""
    monkeypatch.setattr(_direct, "CHANNEL_MIN_TERMS", 1)
    monkeypatch.setattr(_direct, "CHANNEL_MAX_WIDENING", float("inf"))


@pytest.fixture(params=_direct.simd_versions())
def simd_version(request):
    """Each version of the vectorised kernel this CPU runs, in turn."""
    before = _direct.simd_version()
    _direct.use_simd(request.param)
    request.addfinalizer(lambda: _direct.use_simd(before))
    return request.param


def _arrays(case, dtype, seed=11):
    _, _, x_shape, w_shape, *_ = case
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype),
            rng.standard_normal(w_shape).astype(dtype))


def _run(case, x, w, **extra):
    _, nd, _, _, stride, padding, dilation, groups = case
    return CONV[nd](x, w, stride=stride, padding=padding, dilation=dilation,
                    groups=groups, method="direct", **extra)


def _reference(case, x, w):
    _, nd, _, _, stride, padding, dilation, groups = case
    return conv(x.astype(np.float64), w.astype(np.float64), stride=stride,
                padding=padding, dilation=dilation, groups=groups)


def _window_bytes(case, rows, itemsize):
    """The workspace in which windows of ``rows`` rows just fit: per row of
    the phase grid, one row of every phase of every input channel and one
    wide-output row per output channel, plus the phase rows the taps read
    past a window's end."""
    _, _, x_shape, w_shape, stride, padding, dilation, _ = case
    geom = conv_geometry(x_shape[2:], w_shape[2:], stride, padding, dilation)
    width = geom.phase_size()[2]
    extra = max(shift for _, shift in geom.phase_taps()) // width + 1
    phase_rows = math.prod(stride) * x_shape[1]
    return width * itemsize * (rows * (phase_rows + w_shape[0]) + phase_rows * extra)


def _n_rows(case):
    """Rows of the phase grid that hold outputs: (OD - 1) * PH + OH."""
    _, _, x_shape, w_shape, stride, padding, dilation, _ = case
    geom = conv_geometry(x_shape[2:], w_shape[2:], stride, padding, dilation)
    return (geom.output_spatial[0] - 1) * geom.phase_size()[1] + geom.output_spatial[1]


# --------------------------------------------------------------------------
# results against the reference
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_reference(case, dtype, simd_version, forced, channel_calls):
    """1-D to 3-D, strides 1-3, dilations 1-2, asymmetric padding, groups;
    4 to 9, 12, 34 and 36 output channels per group (register blocks of 4
    with a remainder moved back, and jobs of 16+ channels); 1 to 17 input
    channels per group (one or several input-channel chunks of 8); outputs
    shorter than one vector block and not a multiple of any block; with
    each SIMD version: the reference's values, in the input's dtype."""
    x, w = _arrays(case, dtype)
    out = _run(case, x, w)
    assert len(channel_calls) == 1, "the channel-blocked path was not taken"
    assert out.dtype == dtype
    assert_close(out, _reference(case, x, w), dtype)


# --------------------------------------------------------------------------
# windows and threads: the summation order is fixed, so bit-identical
# --------------------------------------------------------------------------

# 2-D and 3-D only: a 1-D sample is one row
WINDOW_CASES = ["2d-d2-cout9", "2d-s2-cout12", "2d-cout34", "2d-cin1-k5-cout5-g3",
                "3d-s3-d2-cout5-g2", "3d-s2-d2-cout4"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", WINDOW_CASES)
def test_windows_bit_identical(name, dtype, monkeypatch, forced, channel_calls):
    """A sample cut into windows of 1 row, 3 rows (the last one shorter
    unless 3 divides the rows; in 3-D, windows across depth slices), one
    row fewer than the sample (a byte short of the whole) and exactly the
    whole sample gives the reference's values, bit-identical for every
    window size."""
    case = CASE[name]
    itemsize = np.dtype(dtype).itemsize
    n_rows = _n_rows(case)
    assert n_rows > 3
    x, w = _arrays(case, dtype)
    outs = []
    # one thread, one job per thread: the windows are the workspace's alone
    monkeypatch.setattr(_direct, "CHANNEL_JOBS_PER_THREAD", 1)
    for budget, rows in [(1, 1), (_window_bytes(case, 3, itemsize), 3),
                         (_window_bytes(case, n_rows, itemsize) - 1, n_rows - 1),
                         (_window_bytes(case, n_rows, itemsize), n_rows)]:
        monkeypatch.setattr(_direct, "CHANNEL_WORKSPACE_BYTES", budget)
        outs.append(_run(case, x, w, n_threads=1))
        assert channel_calls[-1][-1] == rows, "window rows"
    assert len(channel_calls) == 4
    assert_close(outs[0], _reference(case, x, w), dtype)
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["1d-450-positions", "2d-cout34", "2d-s2-cout12",
                                  "3d-s3-d2-cout5-g2"])
def test_threads_bit_identical(name, dtype, monkeypatch, forced, channel_calls):
    """n_threads 1, 2 and 3, with the whole sample in one window and in
    windows of 3 rows, give the reference's values, bit-identical: each job
    (a window of a sample) is computed whole by one thread, and the window
    sizes, which change with the thread count, do not change the sums."""
    case = CASE[name]
    x, w = _arrays(case, dtype)
    expected = _reference(case, x, w)
    first = None
    for budget in (_direct.CHANNEL_WORKSPACE_BYTES,
                   _window_bytes(case, 3, np.dtype(dtype).itemsize)):
        monkeypatch.setattr(_direct, "CHANNEL_WORKSPACE_BYTES", budget)
        for n_threads in (1, 2, 3):
            out = _run(case, x, w, n_threads=n_threads)
            assert channel_calls[-1][4] == n_threads
            if first is None:
                first = out
                assert_close(out, expected, dtype)
            assert out.tobytes() == first.tobytes()
    assert len(channel_calls) == 6


# --------------------------------------------------------------------------
# the arrays a user passes
# --------------------------------------------------------------------------

def _layouts(x, w):
    """(x, w) read-only, Fortran-ordered and strided, same values."""
    x_ro, w_ro = x.copy(), w.copy()
    x_ro.flags.writeable = False
    w_ro.flags.writeable = False
    x_big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    x_big[..., ::2] = x
    w_big = np.zeros((2 * w.shape[0],) + w.shape[1:], dtype=w.dtype)
    w_big[::2] = w
    return {"read-only": (x_ro, w_ro),
            "fortran": (np.asfortranarray(x), np.asfortranarray(w)),
            "strided": (x_big[..., ::2], w_big[::2])}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["read-only", "fortran", "strided"])
def test_inputs_untouched_any_layout(layout, dtype, channel_calls):
    """Read-only, Fortran-ordered and strided inputs give the same result
    as C-contiguous ones, bias included, in the input's dtype, and no input
    is modified.  Default thresholds: the shape takes the path by itself."""
    case = ("2d", 2, (2, 8, 12, 10), (12, 8, 3, 3), (2, 1), ((1, 1), (1, 2)),
            (1, 1), 1)
    x, w = _arrays(case, dtype)
    b = np.arange(12, dtype=dtype)
    expected = _reference(case, x, w) + b[:, None, None]
    xs, ws = _layouts(x, w)[layout]
    x_copy, w_copy = xs.copy(), ws.copy()
    out = CONV[2](xs, ws, b, stride=(2, 1), padding=((1, 1), (1, 2)),
                  method="direct")
    assert len(channel_calls) == 1
    assert out.dtype == dtype
    np.testing.assert_array_equal(xs, x_copy)
    np.testing.assert_array_equal(ws, w_copy)
    assert_close(out, expected, dtype)
    contiguous = CONV[2](x, w, b, stride=(2, 1), padding=((1, 1), (1, 2)),
                         method="direct")
    assert np.array_equal(out, contiguous)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["2d-s2-d2-cout5-g2", "2d-d2-cout9", "3d-s2-d2-cout4",
                                  "1d-s3-cout7"])
def test_nan_and_inf_propagate_like_reference(name, dtype, simd_version, forced,
                                              channel_calls):
    """+inf in the last column and -inf in the first column of the input
    (beside the padding columns the kernel computes and crops), NaN inside:
    NaN and +-inf land on exactly the outputs where the reference has them,
    the finite outputs keep the reference's values."""
    case = CASE[name]
    x, w = _arrays(case, dtype)
    x[0, 0, ..., -1] = np.inf
    x[-1, -1, ..., 0] = -np.inf
    x[0, x.shape[1] // 2, ..., x.shape[-1] // 2] = np.nan
    with np.errstate(invalid="ignore"):
        out = _run(case, x, w)
        expected = _reference(case, x, w)
    assert len(channel_calls) == 1
    assert np.isnan(expected).any() and np.isinf(expected).any()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    assert finite.any()
    assert_close(np.where(finite, out, 0), np.where(finite, expected, 0), dtype)


# --------------------------------------------------------------------------
# the rule
# --------------------------------------------------------------------------

def _takes(x_shape, w_shape, dtype=np.float32, groups=1, stride=1, padding=1):
    """takes_channels for these shapes, without allocating the input."""
    nd = len(x_shape) - 2
    x = np.broadcast_to(np.zeros((), dtype=dtype), x_shape)
    w = np.broadcast_to(np.zeros((), dtype=dtype), w_shape)
    geom = conv_geometry(x_shape[2:], w_shape[2:], (stride,) * nd, padding, (1,) * nd)
    return _direct.takes_channels(x, w, geom, groups)


@pytest.mark.parametrize("x_shape, w_shape, dtype, groups, stride, padding, expected", [
    # ResNet's 3x3 layers: 58*58 / 56*56 = 1.07, 29*29 / 28*28 = 1.07
    ((16, 64, 56, 56), (64, 64, 3, 3), np.float32, 1, 1, 1, True),
    ((16, 64, 56, 56), (128, 64, 3, 3), np.float32, 1, 2, 1, True),
    ((16, 64, 56, 56), (64, 64, 3, 3), np.float64, 1, 1, 1, True),
    # integers stay on the exact row kernel
    ((16, 64, 56, 56), (64, 64, 3, 3), np.int64, 1, 1, 1, False),
    # output channels per group: 3 no, 4 yes
    ((2, 8, 16, 16), (3, 8, 3, 3), np.float32, 1, 1, 1, False),
    ((2, 16, 16, 16), (12, 4, 3, 3), np.float32, 4, 1, 1, False),
    ((2, 16, 16, 16), (16, 4, 3, 3), np.float32, 4, 1, 1, True),
    # widening: 10*10 / 8*8 = 1.56 > 1.5; 1-D 15 / 10 = 1.5 exactly, 14 / 9 = 1.56
    ((2, 512, 8, 8), (512, 512, 3, 3), np.float32, 1, 1, 1, False),
    ((2, 2, 15), (4, 2, 6), np.float32, 1, 1, 0, True),
    ((2, 2, 14), (4, 2, 6), np.float32, 1, 1, 0, False),
    # input channels x taps per group: 8 yes, 7 no
    ((2, 8, 16, 16), (8, 8, 1, 1), np.float32, 1, 1, 0, True),
    ((2, 7, 16, 16), (8, 7, 1, 1), np.float32, 1, 1, 0, False),
    ((2, 1, 16, 16), (8, 1, 1, 1), np.float32, 1, 1, 0, False),
    ((2, 2, 16, 16), (8, 2, 2, 2), np.float32, 1, 1, 0, True),    # 2 x 4 taps
    ((2, 8, 56, 56), (32, 1, 3, 3), np.float32, 8, 1, 1, True),   # 1 x 9 taps
    ((2, 8, 56, 56), (32, 1, 2, 2), np.float32, 8, 1, 1, False),  # 1 x 4 taps
    ((2, 1, 64), (4, 1, 8), np.float32, 1, 1, 0, True),           # 1 x 8 taps
    ((2, 1, 64), (4, 1, 7), np.float32, 1, 1, 0, False),          # 1 x 7 taps
])
def test_rule(x_shape, w_shape, dtype, groups, stride, padding, expected):
    """takes_channels: float input, >= 4 output channels and >= 8 input
    channels x taps per group, phase grid at most 1.5 x the output."""
    assert (_direct.CHANNEL_BLOCK, _direct.CHANNEL_MIN_TERMS,
            _direct.CHANNEL_MAX_WIDENING) == (4, 8, 1.5)
    assert _takes(x_shape, w_shape, dtype, groups, stride, padding) == expected


@pytest.mark.parametrize("dtype, w_shape, groups, expected", [
    (np.float32, (8, 8, 3, 3), 1, True),
    (np.float64, (8, 4, 3, 3), 2, True),     # 4 output channels per group
    (np.int64, (8, 8, 3, 3), 1, False),
    (np.float32, (3, 8, 3, 3), 1, False),
    (np.float32, (6, 4, 3, 3), 2, False),    # 3 output channels per group
])
def test_conv_direct_follows_the_rule(dtype, w_shape, groups, expected, channel_calls):
    """conv2d(method='direct') runs the channel-blocked kernel exactly when
    takes_channels accepts the call, and is right either way."""
    rng = np.random.default_rng(4)
    x = rng.integers(-5, 6, size=(2, 8, 12, 12)).astype(dtype)
    w = rng.integers(-5, 6, size=w_shape).astype(dtype)
    out = fastconv.conv2d(x, w, padding=1, groups=groups, method="direct")
    assert bool(channel_calls) == expected
    assert out.dtype == dtype
    # small integers: every sum is exact in each dtype
    np.testing.assert_array_equal(
        out, conv(x.astype(np.float64), w.astype(np.float64),
                  padding=((1, 1), (1, 1)), groups=groups))
