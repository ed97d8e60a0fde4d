"""
Learning a 2x up-sampling kernel
================================

A transposed convolution with stride 2 doubles an image's size: each input
pixel adds a copy of the kernel, scaled by its value, into the output, two
pixels apart.  Bilinear and nearest-neighbour up-sampling are such kernels
(``[1, 3, 3, 1] / 4`` and ``[1, 1]`` in each direction); here a 6x6 kernel
and a bias are *learned* from pairs of images: synthetic images (smooth
power-law textures with sharp-edged discs and bars, made in code), and the
same images down-sampled by 2x2 averaging.

The model is ``conv_transpose2d(low, kernel, bias, stride=2, padding=...)``,
the loss the mean squared error against the original; its gradients come
from :func:`fastconv.grad.conv_transpose2d_backward` (the input's border is
replicated first, so that the zero padding of the convolution does not
darken the edges), and Adam, written out in NumPy, takes the steps.  On
held-out images the learned kernel beats bilinear and nearest up-sampling.

Run::

    python examples/learn_upsampling.py                 # about 3 s
    python examples/learn_upsampling.py --small         # a second (or FASTCONV_EXAMPLE_SMALL=1)
    python examples/learn_upsampling.py --figure out.png  # save the figure (matplotlib)
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastconv
from fastconv import grad

Array = NDArray[np.float64]

SMALL = "--small" in sys.argv or bool(os.environ.get("FASTCONV_EXAMPLE_SMALL"))
#: images per set, their side, Adam steps
N_IMAGES, SIDE, STEPS = (8, 24, 150) if SMALL else (32, 64, 300)
KERNEL, STRIDE, PADDING = 6, 2, 2      # output side = 2 x input side
EDGE = 2                               # input pixels replicated at each border


# %%
# Images and their down-sampled versions
# --------------------------------------

def synthetic_images(n: int, side: int, seed: int) -> Array:
    """``n`` images (n, 1, side, side) in about [0, 1]: a power-law texture
    (amplitude ~ 1 / frequency^1.5) plus two discs and a bar with sharp edges."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(side)[:, None]
    fx = np.fft.rfftfreq(side)[None, :]
    amplitude = 1 / np.maximum(np.hypot(fy, fx), 1 / side) ** 1.5
    y, x = np.mgrid[0:side, 0:side] / side
    images = np.empty((n, 1, side, side))
    for image in images:
        spectrum = amplitude * (rng.standard_normal(amplitude.shape)
                                + 1j * rng.standard_normal(amplitude.shape))
        texture = np.fft.irfft2(spectrum, s=(side, side))
        texture = (texture - texture.min()) / np.ptp(texture)
        shapes = np.zeros((side, side))
        for _ in range(2):
            cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.08, 0.2)]
            shapes += rng.uniform(-0.5, 0.5) * ((y - cy) ** 2 + (x - cx) ** 2 < r ** 2)
        top, left = rng.integers(0, side // 2, 2)
        shapes[top:top + side // 3, left:left + side // 8] += rng.uniform(-0.5, 0.5)
        image[0] = 0.6 * texture + shapes
    return images


def downsample(images: Array) -> Array:
    """2x2 averaging: (n, 1, 2h, 2w) -> (n, 1, h, w)."""
    n, c, h, w = images.shape
    return images.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


# %%
# Bilinear and nearest up-sampling, for comparison
# ------------------------------------------------

def bilinear_matrix(size: int) -> Array:
    """(2 size, size): 2x linear interpolation, pixel centres aligned
    (``align_corners=False``), the border pixel repeated."""
    source = np.clip((np.arange(2 * size) + 0.5) / 2 - 0.5, 0, size - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, size - 1)
    weight = source - low
    matrix = np.zeros((2 * size, size))
    np.add.at(matrix, (np.arange(2 * size), low), 1 - weight)
    np.add.at(matrix, (np.arange(2 * size), high), weight)
    return matrix


def bilinear(low: Array) -> Array:
    rows, cols = bilinear_matrix(low.shape[-2]), bilinear_matrix(low.shape[-1])
    return np.einsum("ij,ncjk,lk->ncil", rows, low, cols)


def nearest(low: Array) -> Array:
    return low.repeat(2, axis=-2).repeat(2, axis=-1)


# %%
# The model and its gradients
# ---------------------------

def replicate_border(low: Array) -> Array:
    return np.pad(low, ((0, 0), (0, 0), (EDGE, EDGE), (EDGE, EDGE)), mode="edge")


#: the replicated border's share of the output is cropped by the padding
CROP = PADDING + STRIDE * EDGE


def upsample(low: Array, kernel: Array, bias: Array) -> Array:
    return fastconv.conv_transpose2d(replicate_border(low), kernel, bias, stride=STRIDE,
                                     padding=CROP)


def mse(estimate: Array, truth: Array) -> float:
    return float(np.mean((estimate - truth) ** 2))


def loss_and_gradients(low: Array, high: Array, kernel: Array,
                       bias: Array) -> tuple[float, Array, Array]:
    """The mean squared error and its gradients with respect to the kernel and
    the bias: d loss / d output = 2 (output - high) / size, taken back
    through the transposed convolution by fastconv.grad."""
    x = replicate_border(low)
    out = fastconv.conv_transpose2d(x, kernel, bias, stride=STRIDE, padding=CROP)
    residual = out - high
    grad_output = 2 * residual / residual.size
    gradients = grad.conv_transpose2d_backward(x, kernel, grad_output, stride=STRIDE,
                                               padding=CROP, need=("weight", "bias"))
    assert gradients.weight is not None and gradients.bias is not None
    return float(np.mean(residual ** 2)), gradients.weight, gradients.bias


def adam(params: list[Array], gradients: list[Array], state: dict[str, Any],
         lr: float = 0.05, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8) -> None:
    """One Adam step, in place."""
    state["t"] = t = state.get("t", 0) + 1
    moments = state.setdefault("moments", [(np.zeros_like(p), np.zeros_like(p))
                                           for p in params])
    for p, g, (m, v) in zip(params, gradients, moments):
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)


def train(low: Array, high: Array, steps: int = STEPS,
          report: int = 25) -> tuple[Array, Array, list[float]]:
    """Learn a (1, 1, KERNEL, KERNEL) kernel and a bias from zeros; the loss
    of every step."""
    kernel = np.zeros((1, 1, KERNEL, KERNEL))
    bias = np.zeros(1)
    state: dict[str, Any] = {}
    losses = []
    for step in range(steps):
        loss, d_kernel, d_bias = loss_and_gradients(low, high, kernel, bias)
        losses.append(loss)
        if step % report == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss:.6f}")
        adam([kernel, bias], [d_kernel, d_bias], state)
    return kernel, bias, losses


# %%
# Learn, then compare on held-out images
# --------------------------------------

start = time.perf_counter()
train_high = synthetic_images(N_IMAGES, SIDE, seed=0)
test_high = synthetic_images(N_IMAGES, SIDE, seed=1)
train_low, test_low = downsample(train_high), downsample(test_high)

kernel, bias, losses = train(train_low, train_high)

errors = {
    "nearest": mse(nearest(test_low), test_high),
    "bilinear": mse(bilinear(test_low), test_high),
    "learned": mse(upsample(test_low, kernel, bias), test_high),
}
print(f"\nmean squared error on {N_IMAGES} held-out {SIDE}x{SIDE} images:")
for name, error in errors.items():
    print(f"  {name:9s} {error:.6f}")
print(f"learned / bilinear: {errors['learned'] / errors['bilinear']:.3f}")
print("learned kernel (x100):")
print(np.array2string(100 * kernel[0, 0], precision=1, suppress_small=True))
print(f"({time.perf_counter() - start:.1f} s)")

# %%
# The learned kernel and its overlap map
# --------------------------------------
# A 6x6 kernel with stride 2 overlaps evenly (6 is a multiple of 2): every
# output pixel gets 3x3 taps, so there is no checkerboard from the
# geometry alone (:func:`fastconv.plot.plot_overlap`).  Each of the four
# stride phases of the learned kernel sums to about 1, as bilinear's do.

figure_path = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--figure=")),
                   sys.argv[sys.argv.index("--figure") + 1]
                   if "--figure" in sys.argv[:-1] else None)
if importlib.util.find_spec("matplotlib") is not None:
    import matplotlib
    if figure_path:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fastconv.plot import plot_overlap

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6),
                             gridspec_kw=dict(width_ratios=[1.2, 1, 1, 2.2]))
    axes[0].semilogy(losses, label="learned (training)")
    for name, style in (("nearest", ":"), ("bilinear", "--")):
        axes[0].axhline(errors[name], linestyle=style, color="grey",
                        label=f"{name} (held out)")
    axes[0].set(title="loss (MSE)", xlabel="Adam step",
                ylim=(0.5 * min(losses), 20 * errors["nearest"]))
    axes[0].legend(fontsize="small")
    image = axes[1].imshow(kernel[0, 0], cmap="RdBu_r",
                           vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
    fig.colorbar(image, ax=axes[1])
    axes[1].set_title("learned 6x6 kernel")
    plot_overlap(KERNEL, STRIDE, ax=axes[2])
    crop = slice(SIDE // 4, 3 * SIDE // 4)
    axes[3].imshow(np.hstack([test_high[0, 0, crop, crop],
                              bilinear(test_low)[0, 0, crop, crop],
                              upsample(test_low, kernel, bias)[0, 0, crop, crop]]),
                   cmap="gray")
    axes[3].set(title="original | bilinear | learned", xticks=[], yticks=[])
    fig.tight_layout()
    if figure_path:
        fig.savefig(figure_path, dpi=80)
        print(f"figure saved to {figure_path}")
