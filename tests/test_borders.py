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
