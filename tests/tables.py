"""Tables shared by the tests: the public functions by operation and
dimension count, the methods of each operation, the float dtypes every
method takes, and the classic worked example (a 4x4 integer matrix and a
3x3 kernel)."""

import numpy as np

import fastconv

# (operation, spatial dims) -> the public function
FUNCTIONS = {
    ("conv", 1): fastconv.conv1d, ("conv", 2): fastconv.conv2d,
    ("conv", 3): fastconv.conv3d,
    ("conv_transpose", 1): fastconv.conv_transpose1d,
    ("conv_transpose", 2): fastconv.conv_transpose2d,
    ("conv_transpose", 3): fastconv.conv_transpose3d,
}

FLOAT_DTYPES = [np.float32, np.float64]


def methods(op):
    """The method names of an operation ('conv' or 'conv_transpose'), 'auto'
    included."""
    return fastconv.CONV_METHODS if op == "conv" else fastconv.CONV_TRANSPOSE_METHODS


CLASSIC_INPUT = np.array([[7, 6, 5, 3],
                          [3, 1, 1, 1],
                          [2, 7, 6, 8],
                          [5, 5, 8, 6]])
CLASSIC_KERNEL = np.array([[3, 3, 3],
                           [4, 2, 4],
                           [3, 1, 2]])
