"""The Python call path: cached geometry never skips a check, and the
unbatched and plain-matrix forms come back in the caller's shape."""

import numpy as np
import pytest

import fastconv
from reference import conv, conv_transpose, conv2d_plain, conv_transpose2d_plain
from sweep import assert_close


@pytest.mark.parametrize("good, bad, error", [
    (dict(stride=1), dict(stride=1.0), TypeError),
    (dict(stride=(1, 2)), dict(stride=(1.0, 2)), TypeError),
    (dict(padding=1), dict(padding=np.int64(1)), None),
    (dict(padding=1), dict(padding=True), TypeError),
    (dict(padding="same"), dict(padding="Same"), None),   # any case is accepted
    (dict(dilation=2), dict(dilation=np.float64(2)), TypeError),
    (dict(padding=0), dict(padding=-1), ValueError),
])
def test_cached_geometry_still_validates(good, bad, error):
    x = np.ones((1, 2, 9, 9))
    w = np.ones((3, 2, 3, 3))
    for _ in range(2):   # the second call finds the geometry in the cache
        first = fastconv.conv2d(x, w, **good)
    assert first.shape[:2] == (1, 3)
    if error is None:   # accepted values that compare equal give equal results
        assert np.array_equal(fastconv.conv2d(x, w, **bad),
                              fastconv.conv2d(x, w, padding=1))
    else:
        with pytest.raises(error):
            fastconv.conv2d(x, w, **bad)


def test_unbatched_and_plain_shapes():
    rng = np.random.default_rng(5)
    x1, w1 = rng.standard_normal((2, 11)), rng.standard_normal((3, 2, 4))
    expected = conv(x1[None], w1, padding=((1, 1),))[0]
    assert_close(fastconv.conv1d(x1, w1, padding=1), expected, np.float64)

    x3, w3 = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((2, 3, 2, 2, 3))
    expected = conv_transpose(x3[None], w3, stride=(2, 1, 2))[0]
    assert_close(fastconv.conv_transpose3d(x3, w3, stride=(2, 1, 2)), expected,
                 np.float64)

    m = rng.integers(-5, 5, size=(6, 7))
    k = rng.integers(-5, 5, size=(3, 2))
    out = fastconv.conv2d(m, k)
    assert out.shape == (4, 6)
    assert_close(out, conv2d_plain(m, k), np.int64)
    assert_close(fastconv.conv_transpose2d(m, k), conv_transpose2d_plain(m, k), np.int64)
