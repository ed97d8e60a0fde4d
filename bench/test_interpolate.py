"""Up-sampling workloads: fastconv against torch, cv2.resize and
scipy.ndimage.zoom, one benchmark group per workload.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        python -m pytest bench/test_interpolate.py --benchmark-group-by=group

With --benchmark-disable every contender runs once, on the workload's first
image only, and its result is checked against torch (or fastconv's
two-step form): the CI smoke test.  Targets: interpolate <= 1.0x torch in
every mode; resize_conv2d <= 0.6x (interpolate + conv2d).
"""

import numpy as np
import pytest

import fastconv
from harness import THREADS

try:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
except ImportError:
    torch = None
try:
    import cv2
    cv2.setNumThreads(THREADS)
except ImportError:
    cv2 = None
try:
    import scipy.ndimage as ndimage
except ImportError:
    ndimage = None

# name: (shape, kwargs of interpolate)
INTERPOLATE = {
    f"8x3x256x256 x2 {mode}": ((8, 3, 256, 256), dict(scale_factor=2, mode=mode))
    for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area")
}
INTERPOLATE["8x3x256x256 x2 bilinear antialias"] = (
    (8, 3, 256, 256), dict(scale_factor=2, mode="bilinear", antialias=True))
INTERPOLATE["1x64x128x128 x2 bilinear align_corners"] = (
    (1, 64, 128, 128), dict(scale_factor=2, mode="bilinear", align_corners=True))
INTERPOLATE["1x1x2048x2048 x2 bilinear"] = (
    (1, 1, 2048, 2048), dict(scale_factor=2, mode="bilinear"))
INTERPOLATE["1x8x64x64x64 x2 trilinear"] = (
    (1, 8, 64, 64, 64), dict(scale_factor=2, mode="trilinear"))

# cv2.resize interpolation flags of the modes it has (half-pixel centres)
CV2_MODES = {"nearest": "INTER_NEAREST", "bilinear": "INTER_LINEAR",
             "bicubic": "INTER_CUBIC", "area": "INTER_AREA"}
ZOOM_ORDER = {"nearest-exact": 0, "bilinear": 1, "bicubic": 3}


def _contenders(kwargs, ndim):
    names = ["fastconv", "torch"]
    mode = kwargs["mode"]
    if (ndim == 2 and mode in CV2_MODES and not kwargs.get("align_corners")
            and not kwargs.get("antialias")):
        names.append("cv2.resize")
    if mode in ZOOM_ORDER and not kwargs.get("antialias"):
        names.append("scipy.ndimage.zoom")
    return names


def _call(name, x, kwargs):
    mode = kwargs["mode"]
    if name == "fastconv":
        return lambda: fastconv.interpolate(x, n_threads=THREADS, **kwargs)
    if name == "torch":
        if torch is None:
            pytest.skip("torch is not installed")
        t = torch.from_numpy(x)
        return lambda: F.interpolate(t, **kwargs)
    if name == "cv2.resize":
        if cv2 is None:
            pytest.skip("opencv-python-headless is not installed")
        n, c, h, w = x.shape
        s = kwargs["scale_factor"]
        # cv2 takes channels-last images of at most 512 channels
        hwc = np.ascontiguousarray(x.reshape(n * c, h, w).transpose(1, 2, 0))
        flag = getattr(cv2, CV2_MODES[mode])
        return lambda: cv2.resize(hwc, (w * s, h * s), interpolation=flag)
    if ndimage is None:
        pytest.skip("scipy is not installed")
    zoom = (1, 1) + (kwargs["scale_factor"],) * (x.ndim - 2)
    return lambda: ndimage.zoom(x, zoom, order=ZOOM_ORDER[mode], mode="nearest",
                                grid_mode=True)


def _as_nchw(name, result, x):
    if name == "torch":
        return result.numpy()
    if name == "cv2.resize":
        n, c = x.shape[:2]
        result = result.reshape(result.shape[:2] + (-1,))   # one channel comes back 2-D
        return result.transpose(2, 0, 1).reshape((n, c) + result.shape[:2])
    return result


PARAMS = [pytest.param(workload, name, id=f"{workload}-{name}")
          for workload, (shape, kwargs) in INTERPOLATE.items()
          for name in _contenders(kwargs, len(shape) - 2)]


@pytest.mark.parametrize("workload, contender", PARAMS)
def test_interpolate(benchmark, workload, contender):
    shape, kwargs = INTERPOLATE[workload]
    if not benchmark.enabled:   # smoke test: one image, one channel group
        shape = (1, min(shape[1], 3)) + tuple(min(n, 64) for n in shape[2:])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    benchmark.group = workload
    result = _as_nchw(contender, benchmark(_call(contender, x, kwargs)), x)
    expected = fastconv.interpolate(x.astype(np.float64), **kwargs)
    if contender in ("fastconv", "torch"):
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
    else:   # other libraries' own rules (zoom's cubic is a B-spline): the shape
        assert result.shape == expected.shape


# --------------------------------------------------------------------------
# resize-convolution: phases against interpolate + conv2d
# --------------------------------------------------------------------------

RESIZE_SHAPES = {"4x32x64x64 -> 32, nearest x2, 3x3": ((4, 32, 64, 64), (32, 32, 3, 3))}


@pytest.mark.parametrize("contender", ["resize_conv2d", "interpolate+conv2d", "torch"])
@pytest.mark.parametrize("workload", list(RESIZE_SHAPES))
def test_resize_conv(benchmark, workload, contender):
    x_shape, w_shape = RESIZE_SHAPES[workload]
    if not benchmark.enabled:
        x_shape = (1,) + x_shape[1:]
    rng = np.random.default_rng(1)
    x = rng.random(x_shape, dtype=np.float32)
    w = rng.random(w_shape, dtype=np.float32)
    if contender == "resize_conv2d":
        def call():
            return fastconv.resize_conv2d(x, w, 2, padding=1, n_threads=THREADS)
    elif contender == "interpolate+conv2d":
        def call():
            up = fastconv.interpolate(x, scale_factor=2, n_threads=THREADS)
            return fastconv.conv2d(up, w, padding=1, n_threads=THREADS)
    else:
        if torch is None:
            pytest.skip("torch is not installed")
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)

        def call():
            return F.conv2d(F.interpolate(tx, scale_factor=2), tw, padding=1)
    benchmark.group = "resize_conv " + workload
    result = np.asarray(benchmark(call))
    expected = fastconv.conv2d(fastconv.interpolate(x.astype(np.float64), scale_factor=2),
                               w.astype(np.float64), padding=1)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-3)


# --------------------------------------------------------------------------
# FCN's depthwise transposed convolutions (bilinear_kernel): fastconv vs torch
# --------------------------------------------------------------------------

FCN = {f"fcn C={c} x{f} {side}px": (c, f, side)
       for c in (21, 64) for f, side in ((2, 128), (4, 64), (8, 32))}


@pytest.mark.parametrize("contender", ["fastconv", "torch"])
@pytest.mark.parametrize("workload", list(FCN))
def test_fcn_depthwise_transposed(benchmark, workload, contender):
    channels, factor, side = FCN[workload]
    if not benchmark.enabled:
        side = min(side, 16)
    params = fastconv.bilinear_kernel_params(factor)
    x = np.random.default_rng(2).random((1, channels, side, side), dtype=np.float32)
    w = fastconv.bilinear_kernel(factor, channels).astype(np.float32)
    kwargs = dict(stride=params["stride"], padding=params["padding"], groups=channels)
    if contender == "fastconv":
        def call():
            return fastconv.conv_transpose2d(x, w, n_threads=THREADS, **kwargs)
    else:
        if torch is None:
            pytest.skip("torch is not installed")
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)

        def call():
            return F.conv_transpose2d(tx, tw, **kwargs)
    benchmark.group = workload
    result = np.asarray(benchmark(call))
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = fastconv.interpolate(padded, scale_factor=factor, mode="bilinear")
    expected = expected[..., factor:-factor, factor:-factor]
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
