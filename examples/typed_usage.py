"""
fastconv in statically typed code
=================================

CI runs mypy over this file, against the source tree (``python -m mypy``)
and against the installed wheel (``tools/check_wheel.sh``), so it shows that
the annotations and stubs ship and describe the library.  It also runs:
``python examples/typed_usage.py``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import fastconv


def upsample(images: NDArray[np.float32], kernel: NDArray[np.float32]) -> NDArray[np.float32]:
    """Learnable 2x up-sampling of (N, C_in, H, W) images: (N, C_out, 2H, 2W)."""
    out = fastconv.conv_transpose2d(images, kernel, stride=2, padding=1)
    return out.astype(np.float32, copy=False)


def rejected_calls(x: NDArray[np.float64], weight: NDArray[np.float64]) -> list[str]:
    """Calls that mypy flags and fastconv refuses at run time.

    Each ``type: ignore`` must be needed: mypy runs with
    ``warn_unused_ignores``, so a call the annotations accepted would fail
    the check.
    """
    errors = []
    try:
        fastconv.conv1d(x, weight, padding="full")  # type: ignore[arg-type]
    except ValueError as error:
        errors.append(str(error))
    try:
        fastconv.conv1d(x, weight, stride=1.5)  # type: ignore[arg-type]
    except TypeError as error:
        errors.append(str(error))
    return errors


def main() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 16, 16), dtype=np.float32)
    kernel = rng.random((3, 8, 4, 4), dtype=np.float32)  # (C_in, C_out, kH, kW)

    up = upsample(images, kernel)
    expected: tuple[int, ...] = fastconv.conv_transpose_output_shape(
        (16, 16), 4, stride=2, padding=1)
    assert up.shape == (2, 8) + expected

    # the same kernel read as a convolution's (C_out, C_in, kH, kW) maps
    # back down; per-dim arguments, NumPy integers and 'same' are all typed
    features = fastconv.conv2d(up, kernel, stride=(2, 2), padding="same",
                               groups=np.int64(1), n_threads=2)
    methods: tuple[str, ...] = fastconv.CONV_METHODS
    print(f"fastconv {fastconv.__version__}: up-sampled {images.shape} -> {up.shape}, "
          f"convolved back to {features.shape}; conv methods {methods}")
    for message in rejected_calls(np.ones((1, 1, 8)), np.ones((1, 1, 3))):
        print("refused:", message)


if __name__ == "__main__":
    main()
