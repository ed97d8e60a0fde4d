"""
Deblurring, and why noise needs regularisation
==============================================

A blur is a convolution, so it is a linear map ``A``: undoing it is a least
squares problem, ``min |A x - blurred|``.  :func:`fastconv.conv_operator`
gives ``A`` as a ``scipy.sparse.linalg.LinearOperator`` whose products run
``conv2d`` and its adjoint ``conv_transpose2d`` (the matrix is never
built), and ``scipy.sparse.linalg.lsqr`` solves it.

Without noise, plain ``lsqr`` recovers the image.  With a little noise it
does not: the blur almost erases fine detail, so inverting it multiplies
the noise in that detail.  Damping (``lsqr(damp=...)``, Tikhonov
regularisation: ``min |A x - b|² + damp² |x|²``) trades a little blur for
far less noise.

Run:  python examples/deconvolution.py
"""

import time

import numpy as np
from scipy.sparse.linalg import lsqr

import fastconv


def synthetic_image(size):
    """A scene drawn in code (nothing downloaded): sky, sun, hills, a house."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = 0.75 - 0.35 * y                                     # sky, lighter at the top
    image[(x - 0.75) ** 2 + (y - 0.2) ** 2 < 0.01] = 1.0        # sun
    hills = 0.62 + 0.08 * np.sin(7 * x) + 0.04 * np.cos(17 * x)
    image[y > hills] = 0.35 + 0.1 * np.sin(40 * x[y > hills] + 25 * y[y > hills])  # fields
    house = (x > 0.2) & (x < 0.42) & (y > 0.5) & (y < 0.72)
    image[house] = 0.9
    image[(x > 0.28) & (x < 0.34) & (y > 0.6) & (y < 0.72)] = 0.1  # door
    roof = (y > 0.38) & (y <= 0.5) & (np.abs(x - 0.31) < (y - 0.38) * 1.1)
    image[roof] = 0.15
    return image


def gaussian_kernel(size, sigma):
    t = np.arange(size) - size // 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def relative_error(estimate, truth):
    return np.linalg.norm(estimate - truth) / np.linalg.norm(truth)


def deblur(blur, observed, iterations, damp=0.0):
    """The lsqr solution of ``blur x = observed`` as an image, and its iteration count."""
    solution, _, n_iterations = lsqr(blur, observed.ravel(), damp=damp, atol=1e-12,
                                     btol=1e-12, iter_lim=iterations)[:3]
    return solution.reshape(observed.shape), n_iterations


def main(size=96, iterations=300):
    """Blur, deblur, print and return the relative errors (before, after)."""
    image = synthetic_image(size)
    kernel = gaussian_kernel(5, sigma=0.8)
    blurred = fastconv.conv2d(image, kernel, padding="same")

    blur = fastconv.conv_operator(kernel, image.shape, padding="same")
    start = time.perf_counter()
    recovered, n_iterations = deblur(blur, blurred, iterations)
    elapsed = time.perf_counter() - start

    before = relative_error(blurred, image)
    after = relative_error(recovered, image)
    print(f"image {image.shape}, 5x5 Gaussian blur (sigma 0.8), padding='same'")
    print(f"blurred:   relative error {before:.2e}")
    print(f"recovered: relative error {after:.2e}  "
          f"(lsqr on conv_operator, {n_iterations} iterations, {elapsed:.2f} s)")
    return before, after


def with_noise(size=96, noise=0.01, damp=0.1, iterations=300, seed=0):
    """The same blur plus Gaussian noise, deblurred plainly and damped.

    Returns the images (truth, noisy blurred, plain lsqr, damped lsqr) and
    prints their relative errors.
    """
    image = synthetic_image(size)
    kernel = gaussian_kernel(7, sigma=1.5)
    blur = fastconv.conv_operator(kernel, image.shape, padding="same")
    rng = np.random.default_rng(seed)
    noisy = (fastconv.conv2d(image, kernel, padding="same")
             + noise * rng.standard_normal(image.shape))
    plain, plain_iterations = deblur(blur, noisy, iterations)
    damped, damped_iterations = deblur(blur, noisy, iterations, damp=damp)
    print(f"\n7x7 Gaussian blur (sigma 1.5) plus noise of standard deviation {noise}")
    print(f"noisy blurred:           relative error {relative_error(noisy, image):.3f}")
    print(f"plain lsqr ({plain_iterations} its):   relative error "
          f"{relative_error(plain, image):.3f}  <- the noise, amplified")
    print(f"lsqr damp={damp} ({damped_iterations} its): relative error "
          f"{relative_error(damped, image):.3f}")
    return image, noisy, plain, damped


if __name__ == "__main__":
    import matplotlib.pyplot as plt

    main()


    # now with noise: plain least squares fits the noise, damping does not.
    images = with_noise()
    titles = ["truth", "blurred + noise", "plain lsqr", "lsqr, damp=0.1"]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), layout="constrained")
    for ax, picture, title in zip(axes, images, titles):
        ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{title}\nrelative error {relative_error(picture, images[0]):.2f}")
        ax.set_axis_off()
    plt.show()
