"""Padding modes and complex numbers against PyTorch, same run.

Groups ``reflect-resnet`` (16 x 64 -> 64, 56 x 56, 3 x 3, reflect padding 1),
``reflect-pix2pix-in`` (1 x 3 -> 64, 256 x 256, 7 x 7, reflect padding 3,
the first layer of pix2pix / CycleGAN generators), ``reflect-pix2pix-res``
(1 x 256 -> 256, 64 x 64, 3 x 3, reflect padding 1, their residual blocks)
and ``complex-resnet`` (the resnet layer in complex64): fastconv against
``torch.nn.ConvNd(padding_mode="reflect")`` and torch's complex conv2d, float32,
2 threads.  With ``--benchmark-disable`` each runs once on one sample and
is checked against torch (or skipped without it).
"""

import numpy as np
import pytest

import fastconv
from harness import THREADS

torch = pytest.importorskip("torch")

LAYERS = {
    # group: (batch, C_in, C_out, side, kernel, padding, dtype)
    "reflect-resnet": (16, 64, 64, 56, 3, 1, np.float32),
    "reflect-pix2pix-in": (1, 3, 64, 256, 7, 3, np.float32),
    "reflect-pix2pix-res": (1, 256, 256, 64, 3, 1, np.float32),
    "complex-resnet": (16, 64, 64, 56, 3, 1, np.complex64),
}


def _arrays(group, smoke):
    n, c_in, c_out, side, k, p, dtype = LAYERS[group]
    rng = np.random.default_rng(0)
    n = 1 if smoke else n
    parts = 2 if dtype == np.complex64 else 1
    x = sum(rng.standard_normal((n, c_in, side, side), dtype=np.float32) * 1j ** i
            for i in range(parts)).astype(dtype)
    w = (sum(rng.standard_normal((c_out, c_in, k, k), dtype=np.float32) * 1j ** i
             for i in range(parts)) / np.sqrt(c_in * k * k)).astype(dtype)
    mode = "zeros" if dtype == np.complex64 else "reflect"
    return x, w, p, mode


def _torch_layer(x, w, p, mode):
    layer = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=p, bias=False,
                            padding_mode=mode, dtype=torch.from_numpy(w).dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
    return layer


@pytest.mark.parametrize("contender", ["fastconv", "torch"])
@pytest.mark.parametrize("group", list(LAYERS))
def test_layer(benchmark, group, contender):
    x, w, p, mode = _arrays(group, smoke=not benchmark.enabled)
    benchmark.group = group
    benchmark.extra_info.update(kind="borders", workload=group, contender=contender)
    torch.set_num_threads(THREADS)
    layer = _torch_layer(x, w, p, mode)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        expected = layer(xt).numpy()
    if contender == "torch":
        with torch.no_grad():
            out = benchmark(lambda: layer(xt)).numpy()
    else:
        out = benchmark(fastconv.conv2d, x, w, padding=p, padding_mode=mode,
                        n_threads=THREADS)
    np.testing.assert_allclose(out, expected, rtol=2e-3, atol=2e-3)
