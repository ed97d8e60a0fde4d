"""Large kernels: fastconv ('auto' and 'fft') against the FFT convolutions
of SciPy (fftconvolve, oaconvolve), OpenCV (cv2.filter2D, one channel)
and PyTorch, one benchmark group per workload.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python -m pytest \\
        bench/test_fft.py --benchmark-group-by=group --benchmark-columns=min,median,rounds

With ``--benchmark-disable`` every contender runs once on a small stand-in
of each workload (same kernel, smaller input) and is checked against
a float64 reference (SciPy's for one channel, else PyTorch).  A contender runs only where it computes the workload
as it is: SciPy by broadcasting over samples and channels (its kernel
flipped, as it convolves; 'same' for odd kernels), summing over input
channels for a dense workload, not a transposed one; cv2.filter2D for one
image and one channel.  PyTorch's single-channel large-kernel calls take
seconds to minutes: they are timed once.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import fastconv
from fastconv._benchmarks import FFT_WORKLOADS
from fastconv._benchmarks import torch_module

THREADS = 2


WORKLOADS = FFT_WORKLOADS
SAME = dict(padding="same")

CONTENDERS = ["fastconv-auto", "fastconv-fft", "torch", "scipy.fftconvolve",
              "scipy.oaconvolve", "cv2.filter2D"]


def _scipy_call(name, workload, x, weight):
    """SciPy's convolution of the workload, or None where it does not
    express it: x broadcast against the flipped kernel along the spatial
    axes, summed over input channels (dense), depthwise as is."""
    import scipy.signal
    if workload.function.startswith("conv_transpose"):
        return None
    groups = workload.kwargs.get("groups", 1)
    ndim = x.ndim - 2
    axes = tuple(range(-ndim, 0))
    flipped = weight[(Ellipsis,) + (slice(None, None, -1),) * ndim]
    function = getattr(scipy.signal, name.split(".")[1])
    if groups == x.shape[1] and weight.shape[1] == 1:           # depthwise
        kernel = flipped[:, 0][None]
        return lambda: function(x, kernel, mode="same", axes=axes)
    if groups == 1:
        # (N, 1, C_in) against (1, C_out, C_in), summed over C_in; 'full'
        # cropped, as SciPy's 'same' crops to in1's shape, broadcast axes too
        signal, kernel = x[:, None], flipped[None]
        crop = (Ellipsis,) + tuple(slice(k // 2, k // 2 + n)
                                   for k, n in zip(weight.shape[2:], x.shape[2:]))
        return lambda: function(signal, kernel, mode="full", axes=axes)[crop].sum(axis=2)
    return None


def make_call(name, workload, x, weight):
    """A no-argument callable, or None where the contender does not apply."""
    kwargs = workload.kwargs
    if name.startswith("fastconv"):
        function = getattr(fastconv, workload.function)
        method = name.split("-")[1]
        return lambda: function(x, weight, **kwargs, method=method, n_threads=THREADS)
    if name == "torch":
        torch = torch_module()
        if torch is None:
            return None
        torch.set_num_threads(THREADS)
        function = getattr(torch.nn.functional, workload.function)
        xt, wt = torch.from_numpy(x), torch.from_numpy(weight)
        return lambda: function(xt, wt, **kwargs)
    if name.startswith("scipy"):
        return _scipy_call(name, workload, x, weight)
    if name == "cv2.filter2D":
        cv2 = pytest.importorskip("cv2")
        if not (workload.single_channel and x.ndim == 4 and kwargs == SAME):
            return None
        cv2.setNumThreads(THREADS)
        image, kernel = x[0, 0], weight[0, 0]
        return lambda: cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    raise ValueError(name)


@functools.lru_cache(maxsize=1)
def reference(name, smoke):
    """The expected output in float64: SciPy's fftconvolve for one channel
    (PyTorch takes minutes on psf-63), else PyTorch, else fastconv's
    direct method."""
    workload = WORKLOADS[name]
    x, weight = workload.arrays(smoke)
    torch = torch_module()
    x64, w64 = x.astype(np.float64), weight.astype(np.float64)
    if workload.single_channel and workload.kwargs == SAME:
        import scipy.signal
        ndim = x.ndim - 2
        flipped = w64[0, 0][(slice(None, None, -1),) * ndim]
        return scipy.signal.fftconvolve(x64[0, 0], flipped, mode="same")[None, None]
    if torch is not None:
        function = getattr(torch.nn.functional, workload.function)
        return function(torch.from_numpy(x64), torch.from_numpy(w64),
                        **workload.kwargs).numpy()
    return getattr(fastconv, workload.function)(x64, w64, **workload.kwargs,
                                                method="direct")


def check(result, expected, workload):
    """float32: error within 1e-5 x sqrt(terms per output) x scale."""
    result = np.asarray(result.numpy() if hasattr(result, "numpy") else result)
    result = result.reshape(expected.shape)
    groups = workload.kwargs.get("groups", 1)
    w = workload.weight_shape
    terms = (w[1] if workload.function.startswith("conv") and "transpose" not in
             workload.function else w[0] // groups) * math.prod(w[2:])
    scale = max(float(np.abs(expected).max()), 1.0)
    error = float(np.abs(result.astype(np.float64) - expected).max())
    assert error <= 1e-5 * math.sqrt(terms) * scale, f"max error {error:.3g}, scale {scale:.3g}"


@pytest.mark.parametrize("workload, contender", [
    pytest.param(name, contender, id=f"{name}-{contender}")
    for name in WORKLOADS for contender in CONTENDERS])
def test_fft_workload(benchmark, workload, contender):
    spec = WORKLOADS[workload]
    smoke = not benchmark.enabled
    x, weight = spec.arrays(smoke)
    call = make_call(contender, spec, x, weight)
    if call is None:
        pytest.skip(f"{contender} does not compute {workload}")
    benchmark.group = workload
    benchmark.extra_info.update(workload=workload, contender=contender,
                                fastconv=contender.startswith("fastconv"))
    if contender == "torch" and spec.single_channel and not smoke:
        result = benchmark.pedantic(call, rounds=1, iterations=1)   # seconds a call
    else:
        result = benchmark(call)
    check(result, reference(workload, smoke), spec)
