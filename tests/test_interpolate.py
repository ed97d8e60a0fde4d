"""interpolate and the up-sampling helpers against PyTorch, against plain
NumPy references, and against their own definitions."""

import math

import numpy as np
import pytest

import fastconv

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the torch comparisons skip; the NumPy references still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

TOL = {np.float64: 1e-12, np.float32: 1e-6}
MODES = ["nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic", "trilinear"]
FIXED = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
SCALES = [0.5, 2, 3, 1.7, 0.3, 2.5, 1 / 3, 0.77, 1.0, 4]


def _config(rng):
    """One random call: (mode, ndim, dtype, shape, keyword arguments)."""
    mode = MODES[rng.integers(len(MODES))]
    ndim = FIXED.get(mode) or int(rng.integers(1, 4))
    dtype = (np.float64, np.float32)[rng.integers(2)]
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4))) + tuple(
        int(n) for n in rng.integers(1, 10 if ndim == 3 else 14, ndim))
    kwargs = {}
    if rng.random() < 0.5:
        size = tuple(int(n) for n in rng.integers(1, 20, ndim))
        kwargs["size"] = size if rng.random() < 0.7 or ndim > 1 else size[0]
    else:
        factors = tuple(float(s) for s in rng.choice(SCALES, ndim))
        kwargs["scale_factor"] = factors if rng.random() < 0.7 else factors[0]
        if rng.random() < 0.5:
            kwargs["recompute_scale_factor"] = bool(rng.random() < 0.5)
    if mode in FIXED:
        kwargs["align_corners"] = bool(rng.random() < 0.5)
    if mode in ("bilinear", "bicubic") and rng.random() < 0.4:
        kwargs["antialias"] = True
    return mode, ndim, dtype, shape, kwargs


def _close(got, want, x, dtype, mode):
    assert got.shape == want.shape and got.dtype == want.dtype
    # relative to the data's scale: the cubic weights sum |w| to about 1.3 per dim
    tol = TOL[dtype] * (2 if mode == "bicubic" and dtype == np.float32 else 1)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * float(np.abs(x).max()))


@needs_torch
def test_matches_torch_random_sweep():
    rng = np.random.default_rng(2024)
    compared, seen = 0, set()
    while compared < 600:
        mode, ndim, dtype, shape, kwargs = _config(rng)
        x = rng.standard_normal(shape).astype(dtype)
        try:
            want = F.interpolate(torch.from_numpy(x), mode=mode, **kwargs).numpy()
        except (ValueError, RuntimeError) as error:
            with pytest.raises(ValueError):
                fastconv.interpolate(x, mode=mode, **kwargs)
            assert "size" in str(error) or "scale" in str(error)
            continue
        if kwargs.get("antialias") and want.shape[-1] == 1:
            # PyTorch's antialiased kernels give every output row the first
            # row's value when the output is one column wide (2.x): skipped
            continue
        _close(fastconv.interpolate(x, mode=mode, **kwargs), want, x, dtype, mode)
        seen.add((mode, ndim, "size" in kwargs, kwargs.get("align_corners"),
                  kwargs.get("recompute_scale_factor"), kwargs.get("antialias", False)))
        compared += 1
    # every mode x dims, size and scale_factor forms, align_corners, antialias
    assert {(m, n) for m, n, *_ in seen} == {(m, n) for m in MODES
                                             for n in ([FIXED[m]] if m in FIXED else [1, 2, 3])}
    assert {s[2] for s in seen} == {True, False} and {s[4] for s in seen} >= {None, True, False}
    assert {(m, a) for m, _, _, a, _, aa in seen if aa} == {
        (m, a) for m in ("bilinear", "bicubic") for a in (True, False)}


@needs_torch
@pytest.mark.parametrize("dtype", [np.float16, np.uint8])
def test_other_dtypes_follow_torch(dtype):
    rng = np.random.default_rng(1)
    x = (rng.random((2, 3, 7, 9)) * 200).astype(dtype)
    for mode in ("nearest", "nearest-exact") + (("bilinear",) if dtype == np.float16 else ()):
        want = F.interpolate(torch.from_numpy(x), scale_factor=1.7, mode=mode).numpy()
        got = fastconv.interpolate(x, scale_factor=1.7, mode=mode)
        assert got.dtype == x.dtype
        np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=2e-3)


def test_integers_need_a_nearest_mode():
    x = np.arange(12).reshape(1, 1, 3, 4)
    assert np.array_equal(fastconv.interpolate(x, scale_factor=2)[0, 0, ::2, ::2], x[0, 0])
    with pytest.raises(TypeError, match="interpolate.*float"):
        fastconv.interpolate(x, scale_factor=2, mode="bilinear")
    with pytest.raises(TypeError):
        fastconv.interpolate(x.astype(complex), scale_factor=2)


# --------------------------------------------------------------------------
# independent plain-NumPy references (no torch needed)
# --------------------------------------------------------------------------

def _reference_1d(x, n_out, mode, align_corners, scale):
    """The last axis of x resampled, from the textbook formulas in float64."""
    n_in = x.shape[-1]
    out = np.empty(x.shape[:-1] + (n_out,))
    step = (n_in / n_out if scale is None else 1 / scale)
    for i in range(n_out):
        if mode == "nearest":
            out[..., i] = x[..., min(int(math.floor(i * step)), n_in - 1)]
        elif mode == "nearest-exact":
            out[..., i] = x[..., min(int(math.floor((i + 0.5) * step)), n_in - 1)]
        else:
            if align_corners:
                src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            else:
                src = max((i + 0.5) * step - 0.5, 0.0)
            i0 = min(int(src), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            lam = src - i0 if n_in != n_out else 0.0
            out[..., i] = (1 - lam) * x[..., i0] + lam * x[..., i1]
    return out


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "bilinear"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_matches_numpy_reference(mode, align_corners):
    if mode.startswith("nearest") and align_corners:
        pytest.skip("align_corners does not apply")
    rng = np.random.default_rng(7)
    ndim = 2 if mode in ("bilinear", "nearest-exact") else 1
    align = align_corners if "linear" in mode else None
    for _ in range(20):
        shape = (2, 2) + tuple(int(n) for n in rng.integers(2, 12, ndim))
        x = rng.standard_normal(shape)
        if rng.random() < 0.5:
            out_size = tuple(int(n) for n in rng.integers(1, 25, ndim))
            got = fastconv.interpolate(x, size=out_size, mode=mode, align_corners=align)
            scales = (None,) * ndim
        else:
            factors = tuple(float(s) for s in rng.choice([0.5, 2.0, 3.0, 1.5, 0.75], ndim))
            got = fastconv.interpolate(x, scale_factor=factors, mode=mode,
                                       align_corners=align)
            out_size = tuple(math.floor(n * s) for n, s in zip(shape[2:], factors))
            scales = factors
        want = x
        for axis in range(ndim - 1, -1, -1):   # the last axis first, as the kernels
            moved = np.moveaxis(want, 2 + axis, -1)
            moved = _reference_1d(moved, out_size[axis], mode.replace("bi", ""),
                                  align_corners, scales[axis])
            want = np.moveaxis(moved, -1, 2 + axis)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_area_is_the_window_mean():
    x = np.random.default_rng(3).standard_normal((1, 2, 7, 5))
    got = fastconv.interpolate(x, size=(3, 2), mode="area")
    for i in range(3):
        for j in range(2):
            rows = slice(i * 7 // 3, -(-(i + 1) * 7 // 3))
            cols = slice(j * 5 // 2, -(-(j + 1) * 5 // 2))
            np.testing.assert_allclose(got[..., i, j], x[..., rows, cols].mean(axis=(-2, -1)))


def test_unbatched_and_thread_counts():
    x = np.random.default_rng(5).standard_normal((3, 17, 23)).astype(np.float32)
    batched = fastconv.interpolate(x[None], scale_factor=1.9, mode="bicubic")
    one = fastconv.interpolate(x, scale_factor=1.9, mode="bicubic", n_threads=1)
    for threads in (2, 3, 7):
        assert np.array_equal(fastconv.interpolate(x, scale_factor=1.9, mode="bicubic",
                                                   n_threads=threads), one)
    assert np.array_equal(one, batched[0])
    volume = np.random.default_rng(6).standard_normal((2, 5, 6, 7))
    a = fastconv.interpolate(volume, scale_factor=(2, 1.5, 0.7), mode="trilinear",
                             n_threads=1)
    assert np.array_equal(a, fastconv.interpolate(volume, scale_factor=(2, 1.5, 0.7),
                                                  mode="trilinear", n_threads=3))


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=4, scale_factor=2), "only one of size or scale_factor"),
    (dict(), "either size or scale_factor"),
    (dict(size=4, align_corners=True), "align_corners option can only be set"),
    (dict(size=4, mode="area", align_corners=False), "align_corners option"),
    (dict(size=(4, 4, 4)), "same number of spatial dimensions"),
    (dict(scale_factor=(2, 2, 2)), "same number of spatial dimensions"),
    (dict(size=4, recompute_scale_factor=True), "not meaningful with an explicit size"),
    (dict(size=4, mode="nearest", antialias=True), "anti-alias"),
    (dict(size=4, mode="linear"), "needs 1-D spatial"),
    (dict(size=4, mode="cubic"), "mode must be one of"),
    (dict(size=0), "greater than 0"),
    (dict(scale_factor=0.01), "greater than 0"),
])
def test_bad_arguments_raise_like_torch(kwargs, message):
    x = np.ones((1, 2, 5, 5))
    with pytest.raises(ValueError, match=message) as info:
        fastconv.interpolate(x, **kwargs)
    assert str(info.value).startswith("interpolate:")
    if torch is not None:
        with pytest.raises((ValueError, RuntimeError, NotImplementedError)):
            F.interpolate(torch.from_numpy(x), **kwargs)


# --------------------------------------------------------------------------
# pixel shuffle, ICNR
# --------------------------------------------------------------------------

def test_pixel_shuffle_definition_and_inverse():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 4, 5))
    y = fastconv.pixel_shuffle(x, 2)
    assert y.shape == (2, 3, 2, 8, 10)
    for c, i, j in np.ndindex(2, 2, 2):
        assert np.array_equal(y[..., c, i::2, j::2], x[..., c * 4 + i * 2 + j, :, :])
    assert np.array_equal(fastconv.pixel_unshuffle(y, 2), x)
    if torch is not None:
        t = torch.from_numpy(x)
        assert np.array_equal(F.pixel_shuffle(t, 2).numpy(), y)
        assert np.array_equal(F.pixel_unshuffle(F.pixel_shuffle(t, 2), 2).numpy(), x)
    with pytest.raises(ValueError, match="pixel_shuffle"):
        fastconv.pixel_shuffle(x, 3)
    with pytest.raises(ValueError, match="pixel_unshuffle"):
        fastconv.pixel_unshuffle(y, 3)


def test_icnr_gives_nearest_upsampling():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 6, 6))
    w = fastconv.icnr((2 * 4, 3, 3, 3), 2, rng=rng)
    shuffled = fastconv.pixel_shuffle(fastconv.conv2d(x, w, padding=1), 2)
    sub = fastconv.conv2d(x, w[::4], padding=1)
    np.testing.assert_allclose(shuffled, fastconv.interpolate(sub, scale_factor=2),
                               rtol=1e-13, atol=1e-13)
    def operator(ones):
        return fastconv.pixel_shuffle(fastconv.conv2d(ones, w, padding=1), 2)[:, :1]
    assert fastconv.checkerboard_score(operator, (1, 3, 12, 12), border=4) == 0.0


# --------------------------------------------------------------------------
# bilinear_kernel, resize-convolution, overlap
# --------------------------------------------------------------------------

def _fcn_upsample_filt(size):
    """FCN's surgery.upsample_filt, as published (shelhamer/fcn.berkeleyvision.org)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    return (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8])
def test_bilinear_kernel_is_fcns_and_differs_from_interpolate_at_the_border(factor):
    params = fastconv.bilinear_kernel_params(factor)
    k = params["kernel_size"]
    w = fastconv.bilinear_kernel(factor, channels=3)
    assert w.shape == (3, 1, k, k)
    np.testing.assert_array_equal(w[1, 0], _fcn_upsample_filt(k))
    x = np.random.default_rng(factor).standard_normal((2, 3, 5, 6))
    up = fastconv.conv_transpose2d(x, w, stride=params["stride"],
                                   padding=params["padding"], groups=3)
    interp = fastconv.interpolate(x, scale_factor=factor, mode="bilinear")
    assert up.shape == interp.shape == (2, 3, 5 * factor, 6 * factor)
    b = factor // 2  # the documented border width
    inside = (Ellipsis, slice(b, up.shape[2] - b), slice(b, up.shape[3] - b))
    np.testing.assert_allclose(up[inside], interp[inside], atol=1e-12)
    if b:
        assert not np.allclose(up[..., 0, :], interp[..., 0, :])
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    exact = fastconv.interpolate(padded, scale_factor=factor, mode="bilinear")
    np.testing.assert_allclose(up, exact[..., factor:-factor, factor:-factor], atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_resize_conv_equals_two_steps(ndim):
    rng = np.random.default_rng(ndim)
    conv = {1: fastconv.conv1d, 2: fastconv.conv2d, 3: fastconv.conv3d}[ndim]
    resize = {1: fastconv.resize_conv1d, 2: fastconv.resize_conv2d,
              3: fastconv.resize_conv3d}[ndim]
    for scale in (2, 3, (3, 2, 1)[:ndim]):
        for k in (1, 2, 3, 4):
            for padding in (0, 1, 2, "same"):
                x = rng.standard_normal((2, 4) + (4,) * ndim).astype(np.float32)
                w = rng.standard_normal((6, 2) + (k,) * ndim).astype(np.float32)
                b = rng.standard_normal(6).astype(np.float32)
                got = resize(x, w, scale, bias=b, padding=padding, groups=2)
                want = conv(fastconv.interpolate(x, scale_factor=scale), w, b,
                            padding=padding, groups=2)
                assert got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((1, 2) + (5,) * ndim)
    w = rng.standard_normal((3, 2) + (3,) * ndim)
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[ndim]
    np.testing.assert_allclose(
        resize(x, w, 1.5, mode=mode, padding=1),
        conv(fastconv.interpolate(x, scale_factor=1.5, mode=mode), w, padding=1))


@pytest.mark.parametrize("k, s, p", [(3, 2, 0), (4, 2, 1), (5, 3, 2), (16, 8, 4)])
def test_overlap_map_counts_taps(k, s, p):
    counts = fastconv.overlap_map(k, s, input_size=(4, 5), padding=p)
    ones = fastconv.conv_transpose2d(np.ones((4, 5), dtype=np.int64),
                                     np.ones((k, k), dtype=np.int64), stride=s, padding=p)
    np.testing.assert_array_equal(counts, ones)
    score = fastconv.checkerboard_score(fastconv.overlap_map(k, s, input_size=12))
    assert (score == 0) == (k % s == 0)
    assert fastconv.overlap_map(3, 2, input_size=2, ndim=4).shape == (5, 5, 5, 5)
