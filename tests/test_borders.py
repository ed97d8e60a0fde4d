"""Padding modes: the convolution against PyTorch's padding_mode and NumPy's
np.pad, the transposed convolution as its adjoint for every mode, method
and dimension count, and the moded convolution matrix."""

import numpy as np
import pytest

import fastconv
from reference import conv

try:
    import torch
except ImportError:   # the NumPy checks below still run
    torch = None

MODES = ("reflect", "replicate", "circular", "symmetric")
NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap",
            "symmetric": "symmetric"}


def _random_layer(rng, nd, mode, same_both_sides=False):
    """(x, weight, kwargs, explicit pairs) of a random layer whose padding
    the mode can fill."""
    while True:
        size = tuple(int(v) for v in rng.integers(2, 8, nd))
        kernel = tuple(int(v) for v in rng.integers(1, 4, nd))
        stride = tuple(int(v) for v in rng.integers(1, 3, nd))
        dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
        limit = [n - 1 if mode == "reflect" else n for n in size]
        pairs = tuple((int(rng.integers(0, m + 1)), int(rng.integers(0, m + 1)))
                      for m in limit)
        if same_both_sides:   # what PyTorch's modules take
            pairs = tuple((p0, p0) for p0, _ in pairs)
        if all(n + p0 + p1 >= d * (k - 1) + 1
               for n, k, d, (p0, p1) in zip(size, kernel, dilation, pairs)):
            break
    groups = int(rng.choice([1, 2]))
    x = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((2 * groups, 2) + kernel)
    kwargs = dict(stride=stride, padding=pairs, dilation=dilation, groups=groups)
    return x, w, kwargs, pairs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_convolution_is_np_pad_then_valid(mode, nd):
    """Against the plain reference on the input padded by np.pad."""
    rng = np.random.default_rng(10 * nd + MODES.index(mode))
    fn = getattr(fastconv, f"conv{nd}d")
    for _ in range(25):
        x, w, kwargs, pairs = _random_layer(rng, nd, mode)
        padded = np.pad(x, ((0, 0), (0, 0)) + pairs, mode=NP_MODES[mode])
        expected = conv(padded, w, stride=kwargs["stride"], dilation=kwargs["dilation"],
                        groups=kwargs["groups"])
        np.testing.assert_allclose(fn(x, w, padding_mode=mode, **kwargs), expected,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_convolution_matches_torch(mode, nd):
    rng = np.random.default_rng(40 + nd)
    layer = getattr(torch.nn, f"Conv{nd}d")
    fn = getattr(fastconv, f"conv{nd}d")
    for _ in range(15):
        x, w, kwargs, pairs = _random_layer(rng, nd, mode, same_both_sides=True)
        module = layer(w.shape[1] * kwargs["groups"], w.shape[0], w.shape[2:],
                       stride=kwargs["stride"], padding=tuple(p for p, _ in pairs),
                       dilation=kwargs["dilation"], groups=kwargs["groups"], bias=False,
                       padding_mode=mode, dtype=torch.float64)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w))
            expected = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(fn(x, w, padding_mode=mode, **kwargs), expected,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ("zeros",) + MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_transposed_convolution_is_the_adjoint(mode, nd):
    """<conv(x), y> == <x, conv_transpose(y)> for every method, and the
    moded convolution matrix: C @ x is the convolution, C.T @ y the
    transposed convolution."""
    rng = np.random.default_rng(70 + nd)
    conv_fn = getattr(fastconv, f"conv{nd}d")
    transpose_fn = getattr(fastconv, f"conv_transpose{nd}d")
    for _ in range(6):
        x, w, kwargs, pairs = _random_layer(rng, nd, mode if mode != "zeros" else "circular")
        y = conv_fn(x, w, padding_mode=mode, **kwargs)
        g = rng.standard_normal(y.shape)
        geom = fastconv._geometry.conv_geometry(x.shape[2:], w.shape[2:],
                                                kwargs["stride"], pairs, kwargs["dilation"])
        output_padding = geom.spatial(geom.landing_output_padding())
        for method in fastconv.CONV_TRANSPOSE_METHODS:
            back = transpose_fn(g, w, output_padding=output_padding, padding_mode=mode,
                                method=method, **kwargs)
            assert back.shape == x.shape
            np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, back), rtol=1e-10)
        C = fastconv.convolution_matrix(w, x.shape[1:], padding_mode=mode, **kwargs)
        np.testing.assert_allclose(C @ x[0].ravel(), y[0].ravel(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(C.T @ g[0].ravel(), back[0].ravel(), rtol=1e-10,
                                   atol=1e-10)
        for method in fastconv.CONV_METHODS:
            np.testing.assert_allclose(conv_fn(x, w, padding_mode=mode, method=method,
                                               **kwargs), y, rtol=1e-10, atol=1e-10)


def test_circular_transposed_wraps_around():
    """One value next to the border: its kernel patch wraps to the far side."""
    y = np.zeros((1, 1, 4))
    y[0, 0, 0] = 1.0
    out = fastconv.conv_transpose1d(y, np.array([[[1.0, 2.0, 3.0]]]), padding=1,
                                    padding_mode="circular")
    # padded positions -1, 0, 1 receive 1, 2, 3; position -1 wraps to 3
    np.testing.assert_array_equal(out[0, 0], [2.0, 3.0, 0.0, 1.0])


def test_integers_stay_exact():
    x = np.arange(1, 11).reshape(1, 1, 10) * 3
    w = np.array([[[1, -2, 5]]])
    out = fastconv.conv1d(x, w, padding=2, padding_mode="reflect")
    assert out.dtype == np.int64
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2)), mode="reflect")
    assert np.array_equal(out, fastconv.conv1d(padded, w))


@pytest.mark.parametrize("mode, padding", [("reflect", 4), ("circular", 5),
                                           ("symmetric", 5)])
def test_padding_the_mode_cannot_fill_is_refused(mode, padding):
    with pytest.raises(ValueError, match=f"conv1d: padding_mode='{mode}' needs padding"):
        fastconv.conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 3)), padding=padding,
                        padding_mode=mode)
    # replicate fills any padding
    out = fastconv.conv1d(np.arange(4.0)[None, None], np.ones((1, 1, 1)), padding=6,
                          padding_mode="replicate")
    np.testing.assert_array_equal(out[0, 0], [0] * 7 + [1, 2] + [3] * 7)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="conv2d: padding_mode must be one of"):
        fastconv.conv2d(np.ones((4, 4)), np.ones((3, 3)), padding=1, padding_mode="mirror")
    with pytest.raises(ValueError, match="convolution_matrix: padding_mode"):
        fastconv.convolution_matrix(np.ones((3, 3)), (4, 4), padding_mode="wrap")


@pytest.mark.parametrize("mode", MODES)
def test_padded_copy_is_bounded_by_samples(mode, monkeypatch):
    """With a small padded_copy_bytes the samples run a few at a time (the
    padded copy stays bounded); the results are the same."""
    from fastconv import _planner, _borders
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((5, 2, 9, 8)), rng.standard_normal((3, 2, 3, 3))
    whole = fastconv.conv2d(x, w, padding=2, padding_mode=mode)
    back_whole = fastconv.conv_transpose2d(whole, w, padding=2,
                                           padding_mode=mode)
    sizes = []
    pad = _borders.pad

    def recording(part, geom, padding_mode):
        sizes.append(part.shape[0])
        return pad(part, geom, padding_mode)

    monkeypatch.setattr(_borders, "pad", recording)
    monkeypatch.setitem(_planner.THRESHOLDS, "padded_copy_bytes", 2 * 2 * 13 * 12 * 8)
    np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=2, padding_mode=mode), whole)
    assert sizes == [2, 2, 1]
    np.testing.assert_array_equal(
        fastconv.conv_transpose2d(whole, w, padding=2, padding_mode=mode),
        back_whole)


# --------------------------------------------------------------------------
# the paths that read the border in place (no padded copy): the direct
# method's channel-blocked path and gemm's im2col-free one
# --------------------------------------------------------------------------

IN_PLACE = {"direct": "channels", "gemm": "shifted"}

#: (spatial size per dim, kernel, stride, dilation, padding) for 1-D; 2-D
#: and 3-D take the same per dim, with the later dims' sizes shrunk
IN_PLACE_LAYERS = {
    "plain": (9, 3, 1, 1, 1),
    "strided": (10, 3, 2, 1, ((2, 1),)),
    "dilated": (9, 3, 1, 2, ((2, 3),)),
    "stride3-asymmetric": (11, 4, 3, 1, ((3, 0),)),
    "wide-pad": (5, 3, 1, 1, ((4, 3),)),
    "same": (8, 4, 1, 1, "same"),
    "same-strided": (9, 3, 2, 2, "same"),
}


def _force_in_place(monkeypatch):
    """Thresholds that let small layers take both in-place paths."""
    from fastconv import _planner
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_widening", float("inf"))
    monkeypatch.setitem(_planner.THRESHOLDS, "shifted_max_widening", float("inf"))
    monkeypatch.setitem(_planner.THRESHOLDS, "shifted_min_channels", 1)


def _in_place_layer(rng, layer, nd, mode, dtype=np.float64):
    size, kernel, stride, dilation, padding = IN_PLACE_LAYERS[layer]
    sizes = tuple(size - i for i in range(nd))
    if padding != "same":
        padding = padding if isinstance(padding, int) else padding * nd
    x = rng.standard_normal((3, 6) + sizes).astype(dtype)
    w = rng.standard_normal((8, 6) + (kernel,) * nd).astype(dtype)
    kwargs = dict(stride=(stride,) * nd, dilation=(dilation,) * nd, padding=padding)
    try:   # padding the mode cannot fill (the smaller dims of 'wide-pad')
        fastconv._borders.check_mode("", mode, fastconv._geometry.conv_geometry(
            sizes, w.shape[2:], kwargs["stride"], padding, kwargs["dilation"]))
    except ValueError:
        kwargs["padding"] = 1
    return x, w, kwargs


def _explicit_pairs(x, w, kwargs):
    """The (before, after) pairs the call's padding resolves to."""
    nd = x.ndim - 2
    geom = fastconv._geometry.conv_geometry(
        x.shape[2:], w.shape[2:], kwargs["stride"], kwargs["padding"], kwargs["dilation"])
    return tuple(zip(geom.spatial(geom.pad_before), geom.spatial(geom.pad_after)))[-nd:]


@pytest.mark.parametrize("layer", list(IN_PLACE_LAYERS))
@pytest.mark.parametrize("method", list(IN_PLACE))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_border_read_in_place(nd, mode, method, layer, monkeypatch, spy):
    """The channel-blocked and im2col-free paths read the border through the
    border map, with no padded copy, and equal np.pad + a valid convolution
    (and PyTorch, for its modes and paddings)."""
    from fastconv import _borders, _methods
    _force_in_place(monkeypatch)
    rng = np.random.default_rng(nd * 100 + MODES.index(mode) * 10
                                + list(IN_PLACE_LAYERS).index(layer))
    x, w, kwargs = _in_place_layer(rng, layer, nd, mode)
    pairs = _explicit_pairs(x, w, kwargs)
    padded_copies = spy(_borders, "pad")
    plans = spy(_methods, "execute", lambda plan, *arrays: plan)
    out = getattr(fastconv, f"conv{nd}d")(x, w, padding_mode=mode, method=method, **kwargs)
    assert [(p.path, p.padding_mode) for p in plans] == [(IN_PLACE[method], mode)]
    assert padded_copies == []
    padded = np.pad(x, ((0, 0), (0, 0)) + pairs, mode=NP_MODES[mode])
    expected = conv(padded, w, stride=kwargs["stride"], dilation=kwargs["dilation"])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    if torch is not None and mode != "symmetric" and all(p0 == p1 for p0, p1 in pairs):
        module = getattr(torch.nn, f"Conv{nd}d")(
            6, 8, w.shape[2:], stride=kwargs["stride"], padding=tuple(p for p, _ in pairs),
            dilation=kwargs["dilation"], bias=False, padding_mode=mode, dtype=torch.float64)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w))
            np.testing.assert_allclose(out, module(torch.from_numpy(x)).numpy(),
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", list(IN_PLACE))
@pytest.mark.parametrize("mode", MODES)
def test_border_in_place_windows_and_tiles(mode, method, monkeypatch, spy):
    """Windows of one row (the channel-blocked path) and tiles of one
    sample (gemm) read the same border as whole samples; float32 too."""
    from fastconv import _methods, _planner
    plans = spy(_methods, "execute", lambda plan, *arrays: plan)
    _force_in_place(monkeypatch)
    limit = "channels_window_bytes" if method == "direct" else "gemm_workspace_bytes"
    before = _planner.THRESHOLDS[limit]
    rng = np.random.default_rng(5 + MODES.index(mode))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        monkeypatch.setitem(_planner.THRESHOLDS, limit, before)
        x, w, kwargs = _in_place_layer(rng, "strided", 2, mode, dtype)
        padded = np.pad(x, ((0, 0), (0, 0)) + _explicit_pairs(x, w, kwargs),
                        mode=NP_MODES[mode])
        expected = conv(padded.astype(np.float64), w.astype(np.float64),
                        stride=kwargs["stride"], dilation=kwargs["dilation"])
        whole = fastconv.conv2d(x, w, padding_mode=mode, method=method, **kwargs)
        assert whole.dtype == dtype
        np.testing.assert_allclose(whole, expected, rtol=tol, atol=tol)
        assert plans[-1].padding_mode == mode
        assert (plans[-1].windows.rows if method == "direct" else plans[-1].tile[0]) > 1
        phases = plans[-1].phases
        # windows of one row; one sample's phases and wide output
        monkeypatch.setitem(_planner.THRESHOLDS, limit, 1 if method == "direct" else (
            (phases.n_phases * x.shape[1] + w.shape[0]) * int(np.prod(phases.size))
            * x.itemsize))
        pieces = fastconv.conv2d(x, w, padding_mode=mode, method=method, **kwargs)
        assert plans[-1].padding_mode == mode
        if method == "direct":
            assert plans[-1].windows.rows == 1
        else:
            assert plans[-1].tile[0] == 1
        np.testing.assert_allclose(pieces, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_border_in_place_same_for_any_thread_count(nd, mode, monkeypatch, spy):
    """The channel-blocked path, reading the border in place, gives
    bit-identical results on 1, 2 and 3 threads (and so does gemm, whose
    threads are BLAS's)."""
    from fastconv import _methods
    plans = spy(_methods, "execute", lambda plan, *arrays: plan)
    _force_in_place(monkeypatch)
    rng = np.random.default_rng(9 + nd)
    x, w, kwargs = _in_place_layer(rng, "same-strided", nd, mode)
    fn = getattr(fastconv, f"conv{nd}d")
    for method in IN_PLACE:
        runs = [fn(x, w, padding_mode=mode, method=method, n_threads=n, **kwargs)
                for n in (1, 2, 3)]
        for other in runs[1:]:
            np.testing.assert_array_equal(other, runs[0])
    assert {(p.path, p.padding_mode) for p in plans} == {
        (path, mode) for path in IN_PLACE.values()}


def test_other_paths_keep_the_bounded_copy(spy):
    """The row kernel (and every method but the two above) runs on the
    padded copy: the plan is the padded input's, with zero padding."""
    from fastconv import _borders, _methods
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((2, 2, 3, 3))
    padded_copies = spy(_borders, "pad")
    plans = spy(_methods, "execute", lambda plan, *arrays: plan)
    for method in fastconv.CONV_METHODS[1:]:
        fastconv.conv2d(x, w, padding=1, padding_mode="reflect", method=method)
    assert len(padded_copies) == len(fastconv.CONV_METHODS) - 1
    assert all(p.padding_mode == "zeros" and p.geom.pad_before == (0, 0, 0)
               for p in plans)
