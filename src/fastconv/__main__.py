"""``python -m fastconv``: the classic worked example, computed for real."""

import numpy as np

import fastconv


def main():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 9, size=(4, 4))
    kernel = rng.integers(1, 5, size=(3, 3))
    y = fastconv.conv2d(x, kernel)
    print(f"fastconv {fastconv.__version__}: convolution and transposed convolution\n")
    print(f"input {x.shape}:\n{x}\n")
    print(f"kernel {kernel.shape}:\n{kernel}\n")
    print(f"conv2d(input, kernel): 9 input values -> 1 output value {y.shape}:\n{y}\n")
    up = fastconv.conv_transpose2d(y, kernel)
    print("conv_transpose2d(output, kernel): 1 input value -> 9 output values, "
          f"{y.shape} -> {up.shape}:\n{up}")


if __name__ == "__main__":
    main()
