"""The planner: one decision per call, handed down as a Plan;
choose_method and the 'measure' policy; the stride-phase tables.

The phase tables are checked against their definitions with plain NumPy:
the convolution rebuilt from a PhaseSplit alone equals the reference.
"""

import itertools

import numpy as np
import pytest

import fastconv
from fastconv import _methods, _phases, _planner
from fastconv._geometry import conv_geometry
from helpers import random_arrays
from reference import conv, conv_transpose


def _planned_methods(spy):
    """Record the Plan of every call that runs."""
    return spy(_methods, "execute", lambda plan, x, weight: plan)


CALLS = [
    # (function, x shape, weight shape, kwargs): small, many-channel,
    # pointwise, integer, transposed with and without tiling windows
    ("conv2d", (1, 1, 16, 16), (1, 1, 3, 3), {}),
    ("conv2d", (8, 32, 28, 28), (32, 32, 3, 3), dict(padding=1)),
    ("conv2d", (4, 64, 14, 14), (64, 64, 1, 1), {}),
    ("conv2d", (2, 16, 20, 20), (32, 16, 3, 3), dict(stride=2, padding=1)),
    ("conv_transpose2d", (8, 32, 16, 16), (32, 16, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose2d", (4, 64, 16, 16), (64, 32, 2, 2), dict(stride=2)),
    ("conv_transpose1d", (2, 3, 50), (3, 2, 5), dict(stride=3)),
    ("conv3d", (2, 8, 8, 8, 8), (8, 8, 3, 3, 3), dict(padding="same")),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("name, x_shape, w_shape, kwargs", CALLS)
def test_choose_method_names_what_auto_runs(name, x_shape, w_shape, kwargs, dtype, spy):
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, x_shape).astype(dtype)
    w = rng.integers(-3, 4, w_shape).astype(dtype)
    chosen = fastconv.choose_method(name, x, w, **kwargs)
    assert chosen == fastconv.choose_method(getattr(fastconv, name), x, w, **kwargs)
    plans = _planned_methods(spy)
    getattr(fastconv, name)(x, w, **kwargs)
    assert [p.method for p in plans] == [chosen]
    if dtype is np.int64:
        assert chosen == "direct"


@pytest.mark.parametrize("name, x_shape, w_shape, kwargs", CALLS[1::2])
def test_choose_method_measure_returns_a_right_method(name, x_shape, w_shape, kwargs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    best, timings = fastconv.choose_method(name, x, w, measure=True, **kwargs)
    op = "conv_transpose" if name.startswith("conv_transpose") else "conv"
    # every method that fits was timed, and the fastest is returned
    assert best == min(timings, key=timings.get)
    assert set(timings) <= set(_methods.method_names(op)[1:])
    assert {"direct", "gemm"} <= set(timings)
    assert all(t > 0 for t in timings.values())
    result = getattr(fastconv, name)(x, w, method=best, **kwargs)
    explicit = {k: v for k, v in kwargs.items()}
    nd = len(x_shape) - 2
    stride = explicit.pop("stride", 1)
    padding = explicit.pop("padding", 0)
    pairs = (conv_geometry(x_shape[2:], w_shape[2:], stride, padding)
             if op == "conv" and isinstance(padding, str) else None)
    if pairs is not None:
        padding = tuple(zip(pairs.spatial(pairs.pad_before), pairs.spatial(pairs.pad_after)))
    else:
        padding = ((padding, padding),) * nd
    reference = (conv if op == "conv" else conv_transpose)(
        x, w, stride=(stride,) * nd, padding=padding)
    np.testing.assert_allclose(result, reference, rtol=1e-10, atol=1e-10)


def test_choose_method_refuses_what_the_function_would():
    x, w = np.ones((1, 2, 8, 8)), np.ones((3, 2, 3, 3))
    with pytest.raises(ValueError, match="choose_method: function must be one of"):
        fastconv.choose_method("conv4d", x, w)
    with pytest.raises(TypeError, match="output_padding"):
        fastconv.choose_method("conv2d", x, w, output_padding=1)
    with pytest.raises(ValueError, match="conv2d: x has 2 input channels"):
        fastconv.choose_method("conv2d", x, np.ones((3, 5, 3, 3)))


def test_measure_policy_measures_once_then_reuses(monkeypatch, spy):
    rng = np.random.default_rng(2)
    x, w = random_arrays(rng, (2, 16, 12, 12), (16, 16, 3, 3), dtype=np.float32)
    measured = []
    measure = _planner.measure

    def counting(*args, **kwargs):
        timings = measure(*args, **kwargs)
        measured.append(timings)
        return timings

    monkeypatch.setattr(_planner, "measure", counting)
    _planner.clear_plans()
    plans = _planned_methods(spy)
    expected = fastconv.conv2d(x, w, method="direct")
    with fastconv.auto_policy("measure"):
        for _ in range(3):
            np.testing.assert_allclose(fastconv.conv2d(x, w), expected, rtol=1e-5,
                                       atol=1e-4)
    assert len(measured) == 1
    fastest = min(measured[0], key=measured[0].get)
    # the three 'auto' calls ran the measured choice (the measuring itself
    # ran every method once per repeat first)
    assert [p.method for p in plans[-3:]] == [fastest] * 3
    # outside the block the rule is back
    assert fastconv.set_auto_policy("rule") == "rule"
    with pytest.raises(ValueError, match="set_auto_policy: policy must be one of"):
        fastconv.set_auto_policy("fastest")
    _planner.clear_plans()


def test_transposed_channel_plan_builds_its_tables_once(spy):
    """One call: the phase tables and the weights' finiteness, once each."""
    phases = spy(_planner, "transpose_phases")
    isfinite = spy(_planner.np, "isfinite")
    plans = _planned_methods(spy)
    rng = np.random.default_rng(3)
    x, w = random_arrays(rng, (8, 32, 16, 16), (32, 16, 4, 4), dtype=np.float32)
    fastconv.conv_transpose2d(x, w, stride=2, padding=1)
    assert [(p.method, p.path) for p in plans] == [("direct", "channels")]
    assert {"phases": len(phases), "isfinite": len(isfinite)} == {"phases": 1, "isfinite": 1}


def test_threads_beyond_the_work_get_no_buffers():
    """A long 1-D signal with few rows: the plan asks for no more threads
    than it has jobs, and the workspace stays within its stated limit."""
    x = np.ones((1, 8, 1, 10**5), np.float32)
    w = np.ones((4, 8, 1, 3), np.float32)
    geom = conv_geometry(x.shape[2:], w.shape[2:])
    plan = _planner.method_plan("conv", "direct", (1, 8, 1, 1) + x.shape[2:],
                                w[:, :, None], x.dtype, geom, 1, 1024)
    assert plan.n_threads <= max(1, plan.windows.jobs if plan.windows else 1)
    if plan.windows:
        workspace = plan.n_threads * plan.windows.per_thread * 4
        assert workspace <= _planner.THRESHOLDS["channels_max_workspace_bytes"]
    out = fastconv.conv2d(x, w, method="direct", n_threads=1024)
    assert (out == 24).all()


# --------------------------------------------------------------------------
# the stride-phase tables, against their definitions
# --------------------------------------------------------------------------

def _random_conv(rng, nd):
    while True:
        size = rng.integers(1, 10, nd)
        kernel = rng.integers(1, 5, nd)
        stride = rng.integers(1, 6, nd)
        dilation = rng.integers(1, 4, nd)
        pads = rng.integers(0, 4, (nd, 2))
        if all(n + p0 + p1 >= d * (k - 1) + 1
               for n, k, d, (p0, p1) in zip(size, kernel, dilation, pads)):
            return (tuple(map(int, size)), tuple(map(int, kernel)),
                    tuple(map(int, stride)), tuple(tuple(map(int, p)) for p in pads),
                    tuple(map(int, dilation)))


@pytest.mark.parametrize("share_columns", [False, True])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_phases_rebuild_the_convolution(nd, share_columns):
    """From the tables alone: phase i of the padded input holds positions
    residues[i] + u * stride; output o (flat over the phase grid, rows
    ``row`` apart) is the sum over taps of w[t] * phase[tap_phase[t]] at
    o + tap_shift[t].  That is the reference convolution; only phases some
    tap reads are split out."""
    rng = np.random.default_rng(10 + nd)
    for _ in range(150):
        size, kernel, stride, pads, dilation = _random_conv(rng, nd)
        geom = conv_geometry(size, kernel, stride, pads, dilation)
        split = _phases.conv_phases(geom, share_columns)
        x = rng.standard_normal(geom.input_spatial)
        w = rng.standard_normal(geom.kernel_size)
        padded = np.pad(x, list(zip(geom.pad_before, geom.pad_after)))
        taps = list(itertools.product(*(range(k) for k in geom.kernel_size)))
        read = {tuple(t * d % s for t, d, s in zip(tap, geom.dilation, geom.stride))
                for tap in taps}
        assert {tuple(r) for r in split.residues} == read
        assert len(split.residues) == len(read)
        images = []
        for residue in split.residues:
            image = np.zeros(split.size)
            part = padded[tuple(slice(r, None, s) for r, s in zip(residue, geom.stride))]
            part = part[tuple(slice(0, n) for n in split.size)]
            image[tuple(slice(0, n) for n in part.shape)] = part
            # stored with rows ``row`` apart: the dropped columns must be
            # padding that the next row's first columns stand in for
            assert not image[..., split.row:].any() or split.row == split.size[2]
            flat = np.concatenate([image[..., :split.row].ravel(),
                                   np.zeros(split.size[2] - split.row + 1)])
            images.append(flat)
        o = np.indices(geom.output_spatial)
        o_flat = (o[0] * split.size[1] + o[1]) * split.row + o[2]
        out = np.zeros(geom.output_spatial)
        for t, tap in enumerate(taps):
            out += w[tap] * images[split.tap_phase[t]][o_flat + split.tap_shift[t]]
        expected = conv(x[None, None], w[None, None], stride=geom.stride,
                        padding=list(zip(geom.pad_before, geom.pad_after)),
                        dilation=geom.dilation)[0, 0]
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [2**31, 2**40])
def test_huge_strides_give_small_tables(stride):
    """The tables grow with the kernel, not with the stride."""
    geom = conv_geometry((3, 3, 3), (3, 3, 3), stride)
    split = _phases.conv_phases(geom)
    assert len(split.residues) == 27 and split.size == (1, 1, 1)
    from fastconv._geometry import conv_transpose_geometry
    transposed = _phases.transpose_phases(
        conv_transpose_geometry((1,), (4096,), 4096, 0, 0, 1))
    assert transposed.n_phases == 4096 and transposed.complete
