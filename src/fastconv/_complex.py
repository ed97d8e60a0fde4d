"""Complex arrays through the real kernels.

A convolution is bilinear in its input and weight, so with ``x = a + ib``
and ``w = c + id`` it splits into real ones.  Gauss's trick needs three:

    k1 = f(a + b, c),  k2 = f(a, d - c),  k3 = f(b, c + d)
    f(x, w) = (k1 - k3) + i (k1 + k2)

A real weight needs one call, the real and imaginary parts stacked as a
batch twice as long; a real input two.  Every method and fast path of the
real operation serves complex arrays this way.
"""

from __future__ import annotations

import numpy as np


def _parts(a):
    return np.ascontiguousarray(a.real), np.ascontiguousarray(a.imag)


def product(bilinear, x, weight):
    """``bilinear(x, weight)`` for complex 5-D ``x`` and ``weight``, where
    ``bilinear`` computes it for real arrays of the matching real dtype."""
    a, b = _parts(x)
    c, d = _parts(weight)
    if not d.any():   # a real weight: one call on the stacked batch
        stacked = bilinear(np.concatenate([a, b]), c)
        real, imag = stacked[:len(a)], stacked[len(a):]
    elif not b.any():
        real, imag = bilinear(a, c), bilinear(a, d)
    else:
        k1, k2, k3 = bilinear(a + b, c), bilinear(a, d - c), bilinear(b, c + d)
        real, imag = k1 - k3, k1 + k2
    out = np.empty(real.shape, dtype=x.dtype)
    out.real, out.imag = real, imag
    return out
