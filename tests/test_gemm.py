"""The "gemm" method: its GEMM-only fast paths, its tiling and its threads.

The sweep (test_sweep.py) already runs gemm over 600 random cases; these
tests cover what random small cases rarely or never reach: the shapes that
skip im2col / col2im, a workspace cut into many tiles, and right results
for one and two BLAS threads.
"""

import math

import numpy as np
import pytest

import fastconv
from fastconv import _gemm, _planner
from cases import Layer
from helpers import phases_read, random_arrays
from sweep import assert_close
from tables import FLOAT_DTYPES as DTYPES


def _as5d(a):
    """(N, C, *spatial) -> (N, C, D, H, W), a view (what the planner takes)."""
    return a.reshape(a.shape[:2] + (1,) * (5 - a.ndim) + a.shape[2:])


# --------------------------------------------------------------------------
# fast paths: each Layer expects the path (the plan's) its geometry must
# select
# --------------------------------------------------------------------------

CONV_FAST = [
    # 1x1 kernel: the input is its own column matrix
    Layer("conv", x=(3, 8, 5, 7), w=(6, 8, 1, 1), expect="pointwise"),
    Layer("conv", x=(2, 6, 3, 4, 5), w=(9, 2, 1, 1, 1), groups=3, expect="pointwise"),
    Layer("conv", x=(2, 4, 11), w=(4, 4, 1), dilation=3,
          expect="pointwise"),  # dilation moot at k=1
    # kernel covering the whole input: one GEMM for the whole batch
    Layer("conv", x=(5, 6, 4, 4), w=(10, 3, 4, 4), groups=2, expect="whole_input"),
    Layer("conv", x=(4, 3, 7), w=(5, 3, 7), stride=2, expect="whole_input"),
    Layer("conv", x=(3, 2, 2, 3, 2), w=(4, 2, 2, 3, 2), expect="whole_input"),
]

CONV_T_FAST = [
    Layer("conv_transpose", x=(3, 8, 5, 7), w=(8, 6, 1, 1), expect="pointwise"),
    Layer("conv_transpose", x=(2, 6, 3, 4, 5), w=(6, 3, 1, 1, 1),
          groups=2, expect="pointwise"),
    # 1x1 input, e.g. DCGAN's first layer: one GEMM, the output is its result
    Layer("conv_transpose", x=(6, 10, 1, 1), w=(10, 7, 4, 4), expect="whole_input"),
    Layer("conv_transpose", x=(4, 6, 1, 1), w=(6, 2, 3, 2), groups=3, expect="whole_input"),
    Layer("conv_transpose", x=(5, 4, 1), w=(4, 3, 5), stride=3, expect="whole_input"),
    Layer("conv_transpose", x=(2, 3, 1, 1, 1), w=(3, 4, 2, 3, 2), expect="whole_input"),
    # kernel == stride, no padding: GEMM then a permutation into the output
    Layer("conv_transpose", x=(2, 6, 5, 7), w=(6, 4, 2, 2), stride=2, expect="place"),
    Layer("conv_transpose", x=(3, 4, 4, 3), w=(4, 3, 3, 3),
          stride=3, output_padding=2, groups=2, expect="place"),  # zero tail
    Layer("conv_transpose", x=(2, 3, 9), w=(3, 5, 4),
          stride=4, output_padding=1, expect="place"),
    Layer("conv_transpose", x=(2, 4, 3, 2, 3), w=(4, 2, 2, 2, 2),
          stride=2, groups=2, expect="place"),
    Layer("conv_transpose", x=(2, 3, 6, 6), w=(3, 5, 1, 1), dilation=2, output_padding=1,
          expect="place"),  # k=1, d>1
]


def _path(op, x, w, geom, groups):
    """The kernel path the planner gives method='gemm' for this call
    ('whole_input', 'pointwise', 'shifted', 'im2col'; transposed:
    'whole_input', 'pointwise', 'col2im', 'place')."""
    return _planner.method_plan(op, "gemm", _as5d(x).shape, _as5d(w), x.dtype, geom,
                                groups, 1).path


def _check_fast_path(layer, dtype, seed):
    """The layer's plan takes the path it expects, and gemm is right."""
    x, w = layer.arrays(seed, dtype)
    assert _path(layer.op, x, w, layer.geometry(), layer.groups) == layer.expect
    out = layer.run(x, w, method="gemm")
    assert out.dtype == dtype
    assert_close(out, layer.expected(x, w), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", CONV_FAST, ids=str)
def test_conv_fast_paths(layer, dtype):
    _check_fast_path(layer, dtype, seed=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", CONV_T_FAST, ids=str)
def test_conv_transpose_fast_paths(layer, dtype):
    _check_fast_path(layer, dtype, seed=2)


def test_dcgan_first_layer_is_one_gemm():
    """N x 100 x 1 x 1 -> 512 x 4 x 4: out.reshape(N, -1) == x.reshape(N, -1) @ W."""
    rng = np.random.default_rng(3)
    x, w = random_arrays(rng, (8, 100, 1, 1), (100, 512, 4, 4), dtype=np.float64)
    out = fastconv.conv_transpose2d(x, w, method="gemm")
    assert out.shape == (8, 512, 4, 4)
    np.testing.assert_allclose(out.reshape(8, -1), x.reshape(8, 100) @ w.reshape(100, -1),
                               rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# tiling
# --------------------------------------------------------------------------

TILED = [
    Layer("conv", x=(5, 4, 9, 11), w=(6, 2, 3, 3), padding=1, groups=2),
    Layer("conv", x=(3, 3, 5, 6, 7), w=(4, 3, 2, 3, 2), stride=2, padding=1),
    Layer("conv", x=(4, 2, 40), w=(3, 2, 5), stride=3, padding=2, dilation=2),
    Layer("conv_transpose", x=(5, 4, 7, 9), w=(4, 3, 4, 4),
          stride=2, padding=1, output_padding=1, groups=2),
    Layer("conv_transpose", x=(3, 2, 4, 3, 5), w=(2, 3, 3, 2, 3),
          stride=2, padding=1, dilation=2, output_padding=1),
    Layer("conv_transpose", x=(4, 3, 25), w=(3, 2, 5),
          stride=3, padding=2, output_padding=2),
    Layer("conv_transpose", x=(5, 3, 6, 7), w=(3, 2, 2, 2),
          stride=2, output_padding=1),  # non-overlapping
]


def _run_tiled(case, dtype, **extra):
    x, w = case.arrays(4, dtype)
    return case.run(x, w, method="gemm", **extra), case.expected(x, w)


def _column_rows(case):
    """Workspace values per output position and sample: the columns, and for
    a transposed convolution the copy of x that batches a tile's samples."""
    taps = int(np.prod(case.w[2:]))
    if case.op == "conv":
        return case.x[1] * taps
    return case.w[1] * case.groups * taps + case.x[1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TILED, ids=str)
@pytest.mark.parametrize("tile", ["positions", "samples"])
def test_tiled_workspace(case, tile, dtype, monkeypatch):
    """A workspace far smaller than the problem: several tiles, same result."""
    rows = _column_rows(case)
    itemsize = np.dtype(dtype).itemsize
    n_batch, n_pos = case.x[0], _positions(case)
    if tile == "positions":
        # a few positions per tile: tiles start and end inside output rows
        budget = rows * 5
    else:
        # two samples per tile, the last tile shorter
        budget = rows * n_pos * 2
    monkeypatch.setitem(_planner.THRESHOLDS, "gemm_workspace_bytes", budget * itemsize)
    tile_n, tile_p = _planner.gemm_tiles(n_batch, rows, n_pos, itemsize)
    assert (tile_n, tile_p) == ((1, 5) if tile == "positions" else (2, n_pos))
    # and the call is planned with those tiles
    assert _tiled_plan(case, dtype).tile == (tile_n, tile_p)
    out, expected = _run_tiled(case, dtype)
    assert_close(out, expected, dtype)


def _positions(case):
    return int(np.prod(case.geometry().output_spatial))


def _tiled_plan(case, dtype):
    """The plan of method='gemm' for the case (broadcast arrays: nothing
    allocated)."""
    x = np.broadcast_to(np.zeros((), dtype=dtype), case.x)
    w = np.broadcast_to(np.zeros((), dtype=dtype), case.w)
    return _planner.method_plan(case.op, "gemm", _as5d(x).shape, _as5d(w), x.dtype,
                                case.geometry(), case.groups, 1)


def test_one_column_is_always_allowed(monkeypatch):
    monkeypatch.setitem(_planner.THRESHOLDS, "gemm_workspace_bytes", 1)
    assert _planner.gemm_tiles(3, 20, 7, 8) == (1, 1)
    out, expected = _run_tiled(TILED[0], np.float64)
    assert_close(out, expected, np.float64)


# --------------------------------------------------------------------------
# the im2col-free path: per-tap GEMMs on shifted views of the padded input
# --------------------------------------------------------------------------

SHIFTED = [
    Layer("conv", x=(3, 4, 9, 11), w=(5, 4, 3, 3),
          stride=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1)),
    Layer("conv", x=(2, 4, 10, 9), w=(6, 2, 3, 2),
          stride=(2, 2), padding=((1, 0), (0, 2)), dilation=(2, 1), groups=2),
    Layer("conv", x=(3, 3, 11, 10), w=(4, 3, 3, 3),
          stride=(3, 2), padding=((2, 1), (0, 0)), dilation=(1, 2)),
    Layer("conv", x=(2, 2, 7, 8), w=(3, 2, 2, 4),
          stride=(3, 3), padding=((0, 2), (3, 1)), dilation=(2, 2)),
    # kernel = input
    Layer("conv", x=(2, 6, 5, 5), w=(6, 2, 5, 5),
          stride=(1, 1), padding=((1, 0), (0, 2)), dilation=(1, 1), groups=3),
    Layer("conv", x=(4, 3, 23), w=(5, 3, 4), stride=(2,), padding=((3, 1),), dilation=(2,)),
    Layer("conv", x=(2, 4, 17), w=(4, 1, 3),
          stride=(3,), padding=((0, 0),), dilation=(1,), groups=4),   # depthwise
    Layer("conv", x=(2, 3, 6, 7, 5), w=(4, 3, 3, 2, 3),
          stride=(1, 2, 1), padding=((1, 0), (1, 1), (0, 2)), dilation=(1, 1, 2)),
    Layer("conv", x=(2, 4, 7, 6, 8), w=(4, 2, 2, 3, 3),
          stride=(2, 3, 2), padding=((0, 1), (2, 0), (1, 1)), dilation=(2, 1, 1), groups=2),
]


@pytest.fixture
def shifted_calls(spy):
    """The calls that reach the im2col-free kernel, which still runs."""
    return spy(_gemm, "conv_shifted")


def _run_shifted(case, dtype):
    x, w = case.arrays(6, dtype)
    return case.run(x, w, method="gemm"), case.expected(x, w)


def _phase_grid(geom):
    """Positions of one phase image: per dim ceil(L / s) with
    L = (O - 1)*s + (k - 1)*d + 1, the padded extent the output reads."""
    return math.prod(-(-((o - 1) * s + (k - 1) * d + 1) // s)
                     for o, s, k, d in zip(geom.output_spatial, geom.stride,
                                           geom.kernel_size, geom.dilation))


def _shifted_values_per_sample(case):
    """One sample's workspace on the im2col-free path: a phase image per
    input channel for each phase the taps read, and the wide output.
    (Recomputed from that definition: the workspace used to hold all
    prod(stride) phases; it now holds only the phases some tap reads.)"""
    geom = case.geometry()
    return (phases_read(geom) * case.x[1] + case.w[0]) * _phase_grid(geom)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SHIFTED, ids=str)
@pytest.mark.parametrize("samples_per_tile", [1, 2, None])
def test_shifted_path(case, samples_per_tile, dtype, monkeypatch, shifted_calls):
    """Strides 1-3, dilations 1-2, asymmetric padding, groups, 1-D to 3-D,
    with the batch in tiles of one or two samples (the last shorter) or
    all in one."""
    monkeypatch.setitem(_planner.THRESHOLDS, "shifted_min_channels", 1)
    monkeypatch.setitem(_planner.THRESHOLDS, "shifted_max_widening", float("inf"))
    values = _shifted_values_per_sample(case)
    itemsize = np.dtype(dtype).itemsize
    if samples_per_tile is not None:
        monkeypatch.setitem(_planner.THRESHOLDS, "gemm_workspace_bytes",
                            samples_per_tile * values * itemsize)
    n_batch = case.x[0]
    tile_n = _planner.gemm_tiles(n_batch, values, 1, itemsize)[0]
    assert tile_n == (samples_per_tile or n_batch)
    out, expected = _run_shifted(case, dtype)
    assert shifted_calls, "the im2col-free path was not taken"
    # the kernel got the tile and a workspace of tile_n samples' phases read
    # by the taps and wide output (conv_shifted(x, w, out, workspace, geom,
    # groups, tile_n, ...))
    assert shifted_calls[0][6] == tile_n
    assert shifted_calls[0][3].size == tile_n * values
    assert out.dtype == dtype
    assert_close(out, expected, dtype)


@pytest.mark.parametrize("cin_per_group, widening, fits, expected", [
    (8, 1.4, True, True), (7, 1.0, True, False), (64, 1.41, True, False),
    (64, 1.0, False, False)])
def test_shifted_rule(cin_per_group, widening, fits, expected):
    """im2col-free for >= 8 input channels per group, at most 1.4 times the
    output's columns computed, and one sample's phases and wide output in
    the workspace (else im2col, which can cut a sample into tiles of
    positions)."""
    values = _planner.THRESHOLDS["gemm_workspace_bytes"] // 4 + (0 if fits else 1)
    assert _planner.shifted_usable_for(cin_per_group, widening, values * 4) == expected


@pytest.mark.parametrize("x_shape, w_shape, stride, expected", [
    ((2, 64, 56, 56), (64, 64, 3, 3), 1, True),     # 58*58 / 56*56 = 1.07
    ((2, 64, 56, 56), (128, 64, 3, 3), 2, True),    # 29*29 / 28*28 = 1.07
    ((2, 512, 8, 8), (512, 512, 3, 3), 1, False),   # 10*10 / 8*8 = 1.56
    ((2, 4, 56, 56), (32, 4, 3, 3), 1, False),      # 4 input channels
])
def test_shifted_rule_on_workloads(x_shape, w_shape, stride, expected, shifted_calls):
    x = np.zeros(x_shape, dtype=np.float32)
    w = np.zeros(w_shape, dtype=np.float32)
    fastconv.conv2d(x, w, stride=stride, padding=1, method="gemm")
    assert bool(shifted_calls) == expected


def test_shifted_and_im2col_agree_at_the_workspace_limit(monkeypatch, shifted_calls):
    """A sample that just does not fit goes to im2col: same result."""
    case = SHIFTED[1]
    values = _shifted_values_per_sample(case)
    monkeypatch.setitem(_planner.THRESHOLDS, "shifted_min_channels", 1)
    monkeypatch.setitem(_planner.THRESHOLDS, "shifted_max_widening", float("inf"))
    monkeypatch.setitem(_planner.THRESHOLDS, "gemm_workspace_bytes", values * 8)
    shifted, expected = _run_shifted(case, np.float64)
    assert len(shifted_calls) == 1
    monkeypatch.setitem(_planner.THRESHOLDS, "gemm_workspace_bytes", values * 8 - 1)
    im2col, _ = _run_shifted(case, np.float64)
    assert len(shifted_calls) == 1
    assert_close(shifted, expected, np.float64)
    assert_close(im2col, expected, np.float64)


# --------------------------------------------------------------------------
# threads, dtypes, inputs
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TILED, ids=str)
@pytest.mark.parametrize("tiny_workspace", [False, True])
def test_blas_thread_count_keeps_results_right(case, tiny_workspace, dtype, monkeypatch):
    """gemm's threads are BLAS's (n_threads does not apply): one and two BLAS
    threads both give the reference's result."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if tiny_workspace:
        monkeypatch.setitem(_planner.THRESHOLDS, "gemm_workspace_bytes",
                            _column_rows(case) * 7 * 8)
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            out, expected = _run_tiled(case, dtype)
        assert_close(out, expected, dtype)


@pytest.mark.parametrize("fn, w_shape", [(fastconv.conv2d, (3, 2, 2, 2)),
                                         (fastconv.conv_transpose2d, (2, 3, 2, 2))])
def test_integer_input_is_refused(fn, w_shape):
    x = np.ones((1, 2, 4, 4), dtype=np.int32)
    w = np.ones(w_shape, dtype=np.int64)
    with pytest.raises(TypeError, match="method='gemm'.*float32 or float64"):
        fn(x, w, method="gemm")
    # 'auto' never picks gemm for integers, and computes them exactly
    assert fn(x, w).dtype == np.int64


@pytest.mark.parametrize("fn, w_shape", [(fastconv.conv2d, (4, 3, 3, 3)),
                                         (fastconv.conv_transpose2d, (3, 4, 3, 3))])
def test_inputs_untouched_and_read_only_accepted(fn, w_shape):
    rng = np.random.default_rng(5)
    x, w = random_arrays(rng, (2, 3, 6, 5), w_shape, dtype=np.float32)
    x_copy, w_copy = x.copy(), w.copy()
    x.flags.writeable = False
    w.flags.writeable = False
    out = fn(x, w, stride=2, padding=1, method="gemm")
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(out, fn(x_copy, w_copy, stride=2, padding=1,
                                          method="gemm"))


AUTO_RULE = [
    # few output channels per group, or integers: the direct row kernel
    Layer("conv", x=(1, 8, 6, 6), w=(3, 8, 3, 3), dtype=np.float64, expect="direct"),
    # depthwise
    Layer("conv", x=(1, 8, 6, 6), w=(8, 1, 3, 3), groups=8,
          dtype=np.float32, expect="direct"),
    Layer("conv", x=(1, 3, 6, 6), w=(64, 3, 3, 3), dtype=np.int64, expect="direct"),
    Layer("conv_transpose", x=(1, 3, 6, 6), w=(3, 16, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv_transpose", x=(1, 64, 6, 6), w=(64, 3, 4, 4), stride=2, padding=1,
          dtype=np.int64, expect="direct"),
    # the channel-blocked kernel
    # resnet
    Layer("conv", x=(2, 64, 56, 56), w=(64, 64, 3, 3), padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv", x=(16, 8, 28, 28), w=(8, 8, 3, 3), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv", x=(2, 256, 14, 14), w=(256, 256, 3, 3), padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv", x=(2, 128, 28, 28), w=(128, 128, 3, 3), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv", x=(2, 256, 28, 28), w=(256, 256, 3, 3), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    # 1x1 s2
    Layer("conv", x=(2, 64, 56, 56), w=(64, 64, 1, 1), stride=2,
          dtype=np.float32, expect="direct"),
    Layer("conv_transpose", x=(2, 256, 16, 16), w=(256, 128, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    # grid 1.56x
    Layer("conv", x=(2, 64, 8, 8), w=(64, 64, 3, 3), padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv_transpose", x=(2, 128, 16, 16), w=(128, 64, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv_transpose", x=(8, 8, 16, 16), w=(8, 8, 3, 3), padding=1,
          dtype=np.float32, expect="direct"),
    # gemm where the channel-blocked kernel does not apply or measured slower
    # < 2**20 mult-adds
    Layer("conv", x=(1, 8, 6, 6), w=(4, 8, 3, 3), padding=1,
          dtype=np.float32, expect="gemm"),
    # < 2**20 mult-adds too
    Layer("conv_transpose", x=(2, 8, 16, 16), w=(8, 8, 3, 3), padding=1,
          dtype=np.float32, expect="gemm"),
    # grid 6.25x
    Layer("conv", x=(1, 3, 5, 5), w=(4, 3, 4, 4), dtype=np.float32, expect="gemm"),
    # one tap
    Layer("conv", x=(2, 64, 56, 56), w=(64, 64, 1, 1), dtype=np.float32, expect="gemm"),
    Layer("conv_transpose", x=(2, 512, 8, 8), w=(512, 256, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="gemm"),
    # k = s
    Layer("conv_transpose", x=(2, 128, 64, 64), w=(128, 64, 2, 2), stride=2,
          dtype=np.float32, expect="gemm"),
    Layer("conv_transpose", x=(2, 128, 32, 32), w=(128, 3, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="gemm"),
    Layer("conv_transpose", x=(1, 8, 6, 6), w=(8, 1, 4, 4), stride=2, padding=1, groups=2,
          dtype=np.float32, expect="gemm"),
    # few input channels x taps (< 19) on small outputs (<= 1024 positions)
    Layer("conv", x=(16, 2, 14, 14), w=(64, 2, 3, 3), padding=1,
          dtype=np.float32, expect="gemm"),
    Layer("conv", x=(16, 1, 56, 56), w=(32, 1, 3, 3), stride=2, padding=1,
          dtype=np.float32, expect="gemm"),
    Layer("conv", x=(16, 2, 56, 56), w=(64, 2, 3, 3), padding=1,   # 3136 positions
          dtype=np.float32, expect="direct"),
    Layer("conv", x=(16, 3, 14, 14), w=(64, 3, 3, 3), padding=1,   # 27 terms
          dtype=np.float32, expect="direct"),
    # >= 256 input channels on tiny inputs (<= 16 positions)
    Layer("conv_transpose", x=(16, 256, 4, 4), w=(256, 128, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="gemm"),
    Layer("conv_transpose", x=(16, 128, 4, 4), w=(128, 64, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
    Layer("conv_transpose", x=(16, 256, 6, 6), w=(256, 128, 4, 4), stride=2, padding=1,
          dtype=np.float32, expect="direct"),
]


@pytest.mark.parametrize("layer", AUTO_RULE, ids=str)
def test_auto_rule(layer):
    """The rule of _planner.auto_rule's docstring: for floats, the direct method's
    channel-blocked kernel where it applies to at least 2**20 multiply-adds,
    for a convolution unless 1x1 with stride 1, for a transposed
    convolution with at most 256 input channels per group whose windows do
    not tile the output -- except convolutions of fewer than 19 input
    channels x taps on at most 1024 output positions per image, and
    transposed convolutions of 256 input channels on at most 16 input
    positions per image; else gemm when
    weight.shape[0] // groups >= 4; the direct kernel otherwise."""
    x = np.zeros(layer.x, dtype=layer.dtype)[:, :, None]
    w = np.zeros(layer.w, dtype=layer.dtype)[:, :, None]
    assert (_planner.auto_rule(layer.op, x.shape, w, x.dtype, layer.geometry(), layer.groups)
            == layer.expect)
