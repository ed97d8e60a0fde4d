"""Deconvolution: undo a blur by least squares on the convolution operator.

A synthetic image is blurred by ``conv2d`` with a 5x5 Gaussian kernel
(padding='same', so the blurred image has the image's size).  The blur is a
linear map ``A``; :func:`fastconv.conv_operator` gives it as a
``scipy.sparse.linalg.LinearOperator`` whose products run ``conv2d`` and its
adjoint ``conv_transpose2d`` (the matrix itself is never built), and
``scipy.sparse.linalg.lsqr`` finds the image ``x`` minimising
``|A x - blurred|``.

Run:  python examples/deconvolution.py
"""

import time

import numpy as np
from scipy.sparse.linalg import lsqr

import fastconv


def synthetic_image(size):
    """A disc, a square and a smooth texture on a grey background."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = 0.2 + 0.5 * ((x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.05)
    image[int(0.6 * size):int(0.85 * size), int(0.55 * size):int(0.9 * size)] += 0.3
    return image + 0.1 * np.sin(12 * x) * np.cos(9 * y)


def gaussian_kernel(size, sigma):
    t = np.arange(size) - size // 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def relative_error(estimate, truth):
    return np.linalg.norm(estimate - truth) / np.linalg.norm(truth)


def main(size=96, iterations=300):
    """Blur, deblur, print and return the relative errors (before, after)."""
    image = synthetic_image(size)
    kernel = gaussian_kernel(5, sigma=0.8)
    blurred = fastconv.conv2d(image, kernel, padding="same")

    blur = fastconv.conv_operator(kernel, image.shape, padding="same")
    start = time.perf_counter()
    solution, _, n_iterations = lsqr(blur, blurred.ravel(), atol=1e-12, btol=1e-12,
                                     iter_lim=iterations)[:3]
    elapsed = time.perf_counter() - start
    recovered = solution.reshape(image.shape)

    before = relative_error(blurred, image)
    after = relative_error(recovered, image)
    print(f"image {image.shape}, 5x5 Gaussian blur (sigma 0.8), padding='same'")
    print(f"blurred:   relative error {before:.2e}")
    print(f"recovered: relative error {after:.2e}  "
          f"(lsqr on conv_operator, {n_iterations} iterations, {elapsed:.2f} s)")
    return before, after


if __name__ == "__main__":
    main()
