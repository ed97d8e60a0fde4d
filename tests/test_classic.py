"""The classic worked example: a 4x4 integer matrix and a 3x3 kernel."""

import numpy as np

import fastconv
from reference import conv2d_plain, conv_transpose2d_plain
from tables import CLASSIC_INPUT as INPUT, CLASSIC_KERNEL as KERNEL


def test_conv2d_plain_matrix_is_exact():
    out = fastconv.conv2d(INPUT, KERNEL)
    assert out.shape == (2, 2)
    assert out.dtype == np.int64
    # output[0, 0] is the sum of inputs[0:3, 0:3] * kernel, written out
    assert out[0, 0] == (7*3 + 6*3 + 5*3 + 3*4 + 1*2 + 1*4 + 2*3 + 7*1 + 6*2)
    np.testing.assert_array_equal(out, conv2d_plain(INPUT, KERNEL))


def test_conv_transpose2d_plain_matrix_is_exact():
    small = np.array([[1, 2], [3, 4]])
    up = fastconv.conv_transpose2d(small, KERNEL)
    assert up.shape == (4, 4)
    assert up.dtype == np.int64
    # the top-left input value alone reaches the top-left output cell
    assert up[0, 0] == 1 * KERNEL[0, 0]
    # each input value adds value * kernel at its position
    expected = np.zeros((4, 4), dtype=np.int64)
    for r in range(2):
        for c in range(2):
            expected[r:r + 3, c:c + 3] += small[r, c] * KERNEL
    np.testing.assert_array_equal(up, expected)
    np.testing.assert_array_equal(up, conv_transpose2d_plain(small, KERNEL))


def test_random_integer_matrices_are_exact():
    rng = np.random.default_rng(7)
    for _ in range(20):
        m = rng.integers(-50, 50, size=tuple(rng.integers(3, 9, size=2)))
        k = rng.integers(-5, 5, size=tuple(rng.integers(1, 4, size=2)))
        np.testing.assert_array_equal(fastconv.conv2d(m, k), conv2d_plain(m, k))
        np.testing.assert_array_equal(fastconv.conv_transpose2d(m, k),
                                      conv_transpose2d_plain(m, k))


def test_large_integers_stay_exact():
    # values whose products exceed float64's 53-bit mantissa
    m = np.full((4, 4), 3_000_000_007, dtype=np.int64)
    k = np.full((3, 3), 1_000_003, dtype=np.int64)
    expected = 9 * 3_000_000_007 * 1_000_003
    assert fastconv.conv2d(m, k)[0, 0] == expected
