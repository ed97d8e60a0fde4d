"""One figure comparing ways to up-sample an image x2, with their
checkerboard scores (matplotlib, imported when called)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _api, _interpolate, _upsample

__all__ = ["test_image", "upsampling_figure", "upsampling_results"]


def test_image(size: int = 32) -> NDArray[np.float64]:
    """A generated grey test image: a smooth gradient, a disc and a
    diagonal stripe pattern, values in [0, 1].

    Parameters
    ----------
    size : int, default 32

    Returns
    -------
    ndarray, shape (size, size)

    Examples
    --------
    >>> from fastconv._upsample_figure import test_image
    >>> test_image(16).shape
    (16, 16)
    """
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    disc = ((x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.06).astype(float)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (x + y) * size / 8)
    image = 0.4 * (x + y) / 2 + 0.4 * disc + 0.2 * stripes * (x > 0.6)
    return image / image.max()


def upsampling_results(image: NDArray[Any] | None = None,
                       seed: int = 0) -> dict[str, tuple[NDArray[np.float64], float]]:
    """Each method's x2 up-sampling of ``image`` and the checkerboard score
    of its operator (response to a constant input, see
    :func:`fastconv.checkerboard_score`).

    Parameters
    ----------
    image : array_like, shape (H, W), optional
        Default :func:`test_image`.
    seed : int, default 0
        For the random weights.

    Returns
    -------
    dict of str to (ndarray of shape (2H, 2W), float)

    Examples
    --------
    >>> from fastconv._upsample_figure import upsampling_results
    >>> results = upsampling_results()
    >>> results["nearest"][1], results["transposed k3/s2, bilinear"][1] > 0
    (0.0, True)
    """
    image = np.asarray(test_image() if image is None else image, dtype=np.float64)
    rng = np.random.default_rng(seed)

    def transposed(k, weight):
        return lambda x: _api.conv_transpose2d(x, weight, stride=2, padding=(k - 2 + 1) // 2,
                                               output_padding=k % 2)

    def bilinear_init(k):
        tent = 1 - np.abs(np.arange(k) - (k - 1) / 2) / (k / 2)
        return (np.multiply.outer(tent, tent) / (np.multiply.outer(tent, tent).sum() / 4)
                )[None, None]

    random3 = np.abs(rng.normal(size=(1, 1, 3, 3)))
    random4 = np.abs(rng.normal(size=(1, 1, 4, 4)))
    resize_w = np.abs(rng.normal(size=(1, 1, 3, 3)))
    resize_w /= resize_w.sum()
    shuffle_w = _upsample.icnr((4, 1, 3, 3), 2, rng=rng)
    shuffle_w = np.abs(shuffle_w) / np.abs(shuffle_w[0]).sum()
    operators = {
        "nearest": lambda x: _interpolate.interpolate(x, scale_factor=2),
        "bilinear": lambda x: _interpolate.interpolate(x, scale_factor=2, mode="bilinear"),
        "bicubic": lambda x: _interpolate.interpolate(x, scale_factor=2, mode="bicubic"),
        "transposed k3/s2, random": transposed(3, random3 / random3.sum() * 4),
        "transposed k3/s2, bilinear": transposed(3, bilinear_init(3)),
        "transposed k4/s2, random": transposed(4, random4 / random4.sum() * 4),
        "transposed k4/s2, bilinear": transposed(4, _upsample.bilinear_kernel(2)),
        "resize-conv (nearest, 3x3)": lambda x: _upsample.resize_conv2d(
            x, resize_w, 2, padding=1),
        "pixel shuffle, ICNR": lambda x: _upsample.pixel_shuffle(
            _api.conv2d(x, shuffle_w, padding=1), 2),
    }
    results = {}
    for name, op in operators.items():
        up = np.asarray(op(image[None, None]))[0, 0]
        score = _upsample.checkerboard_score(op, (1, 1, 16, 16))
        results[name] = (up, round(score, 12))
    return results


def upsampling_figure(image: NDArray[Any] | None = None, seed: int = 0) -> Any:
    """The x2 up-samplings of :func:`upsampling_results` side by side, each
    titled with its checkerboard score.

    Parameters
    ----------
    image : array_like, shape (H, W), optional
        Default :func:`test_image`.
    seed : int, default 0

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from fastconv._upsample_figure import upsampling_figure
    >>> len(upsampling_figure().axes)
    10
    """
    import matplotlib.pyplot as plt

    results = upsampling_results(image, seed)
    source = np.asarray(test_image() if image is None else image)
    fig, axes = plt.subplots(2, 5, figsize=(15, 7.4), layout="constrained")
    panels = [("input", (source, None))] + list(results.items())
    for ax, (name, (up, score)) in zip(axes.ravel(), panels):
        ax.imshow(up, cmap="gray", interpolation="nearest")
        ax.set_title(name if score is None else f"{name}\nscore {score:.3f}", fontsize=9)
        ax.set_axis_off()
    fig.suptitle("x2 up-sampling; score = peak-to-peak / mean of the response to a "
                 "constant input")
    return fig
