"""Transposed convolution by zero insertion, the textbook construction.

Insert ``stride - 1`` zeros between the input values, pad the result with
``dilation*(k - 1) - padding`` zeros before and the matching amount plus
output_padding after (cropping where that is negative), and run an ordinary
stride-1 convolution with the kernel flipped in every spatial dim and its
input / output channel axes swapped within each group.  It does
``stride**ndim`` times the work of the scatter-add, most of it on zeros; it
is here because it is the explanation, and as an independent check.

The method builds only the positions of that zero-inserted, padded input
which the convolution reads (see :func:`_read_window`): a stride or a
padding of 2**40 costs no more memory than the output.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _geometry, _methods, _planner, _validation
from ._typing import IntOrTuple

__all__ = ["zero_insert"]


def zero_insert(x: ArrayLike, stride: IntOrTuple) -> NDArray[Any]:
    """Insert ``stride - 1`` zeros between neighbouring values along spatial axes.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial), (H, W) or any shape
        Input; any dtype.
    stride : int or tuple of ints
        An int zero-inserts along every axis of ``x`` after the first two
        (batch and channels), and along both axes of a 2-D ``x``, a plain
        (H, W) matrix as :func:`fastconv.conv2d` takes it with a plain
        kernel.  A tuple of ``m`` ints zero-inserts along the last ``m``
        axes, one stride each, e.g. ``stride=(2,)`` along the last axis
        only.  Every stride must be >= 1; 1 leaves the axis as is.

    Returns
    -------
    ndarray, shape (..., *((L - 1)*stride + 1 for each zero-inserted size L))
        A new array of the dtype of ``x`` with ``x`` at every ``stride``-th
        position and zeros between (an empty axis stays empty).

    Raises
    ------
    ValueError
        If a stride is below 1, if the tuple is longer than ``x.ndim``, if
        an int stride is given for an ``x`` of fewer than 2 axes, or if the
        result is too large to allocate.
    TypeError
        If a stride is not an int.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import zero_insert
    >>> zero_insert(np.array([[1, 2], [3, 4]]), 2)
    array([[1, 0, 2],
           [0, 0, 0],
           [3, 0, 4]])
    >>> zero_insert(np.array([[1, 2], [3, 4]]), (3,))
    array([[1, 0, 0, 2],
           [3, 0, 0, 4]])
    >>> zero_insert(np.ones((8, 3, 5, 5)), 2).shape
    (8, 3, 9, 9)
    """
    x = np.asarray(x)
    if isinstance(stride, (tuple, list)):
        n_spatial = len(stride)
        if n_spatial > x.ndim:
            raise ValueError(
                f"zero_insert: stride has {n_spatial} entries but x has only {x.ndim} "
                f"axes (shape {x.shape})"
            )
    elif x.ndim == 2:
        n_spatial = 2   # the plain matrix
    else:
        n_spatial = x.ndim - 2
        if n_spatial < 1:
            raise ValueError(
                f"zero_insert: an int stride zero-inserts along the axes after (N, C), "
                f"or both axes of a 2-D x, but x has shape {x.shape}; pass a tuple of "
                f"one stride per axis to zero-insert along, e.g. stride=(2,) for a 1-D x"
            )
    strides = _validation.per_dim(stride, n_spatial, "stride", 1)
    lead, spatial = x.shape[:x.ndim - n_spatial], x.shape[x.ndim - n_spatial:]
    # L values leave L - 1 gaps of stride - 1 zeros
    shape = lead + tuple(_geometry.zero_inserted_size(L, s) for L, s in zip(spatial, strides))
    out = None
    nbytes = math.prod(shape) * x.dtype.itemsize
    if max(shape + (nbytes,)) <= np.iinfo(np.intp).max:
        try:
            out = np.zeros(shape, dtype=x.dtype)
        except MemoryError:
            pass
    if out is None:
        raise ValueError(
            f"zero_insert: stride={stride!r} makes a result of shape {shape}, "
            f"{nbytes} bytes ({nbytes / 2**30:,.0f} GiB), which cannot be allocated; "
            f"use a smaller stride"
        )
    out[(slice(None),) * len(lead) + tuple(slice(None, None, s) for s in strides)] = x
    return out


def _read_window(geom):
    """Per spatial dim, what the stride-1 convolution of the zero-inserted,
    padded input reads, as ``(size, dilation, read, source)``: it runs on a
    window of ``size`` positions with ``dilation``, whose positions ``read``
    hold the input values ``source`` and every other one a zero.

    Output ``o`` reads position ``o + t*d`` of the padded axis, which starts
    ``before`` positions ahead of the first input value (a negative
    ``before`` is a crop).  With ``d`` at most the output size ``O`` the
    positions read are the window of ``O + d*(k - 1)`` starting there; with
    ``d`` beyond it, the ``k`` runs of ``O`` positions that the taps read
    are laid side by side, ``O`` apart, and read with dilation ``O``: the
    gaps between them, which nothing reads, are never built.  Either way the
    window is at most ``k*O`` positions, whatever the stride and padding.
    """
    per_dim = []
    for size, out, k, s, d, (before, _) in zip(
            geom.output_spatial, geom.input_spatial, geom.kernel_size, geom.stride,
            geom.dilation, geom.zero_insertion_padding()):
        step = min(d, out)
        window = np.arange(out + step * (k - 1))
        # position in the zero-inserted axis: window // step is the tap's
        # run, moved by the gap dropped before it
        z = window - before + window // step * (d - step)
        hit = (z >= 0) & (z <= (size - 1) * s) & (z % s == 0)
        per_dim.append((window.size, step, np.flatnonzero(hit), z[hit] // s))
    return per_dim


@_methods.register(_methods.CONV_TRANSPOSE, "zero_insertion")
def conv_transpose_zero_insertion(x, weight, plan):
    """Zero-insert, pad / crop, then the direct convolution with the kernel
    flipped and its channel axes swapped within each group.

    Only the part of the zero-inserted, padded input that the convolution
    reads is built, with its zeros: at most kernel x output positions per
    dim, however large the stride or padding.  The inserted zeros and the
    padding are multiplied by the kernel like any value, so an inf or NaN in
    the weight makes NaN (0 * inf) in outputs the other methods leave
    finite.
    """
    geom, groups = plan.geom, plan.groups
    n_batch, c_in = x.shape[:2]
    cout_g = weight.shape[1]
    kernel = weight.shape[2:]
    sizes, dilation, read, source = zip(*_read_window(geom))
    window = np.zeros((n_batch, c_in) + sizes, dtype=x.dtype)
    both = (slice(None), slice(None))
    window[both + np.ix_(*read)] = x[both + np.ix_(*source)]
    inner = _geometry.conv_geometry(sizes, kernel, 1, 0, dilation)

    # (C_in, C_out/g, *k) -> (C_out, C_in/g, *k) group by group, taps reversed
    flipped = weight.reshape((groups, c_in // groups, cout_g) + kernel).swapaxes(1, 2)
    flipped = flipped.reshape((groups * cout_g, c_in // groups) + kernel)
    flipped = np.ascontiguousarray(flipped[:, :, ::-1, ::-1, ::-1])
    inner_plan = _planner.method_plan(_methods.CONV, "direct", window.shape, flipped,
                                      window.dtype, inner, groups, plan.n_threads)
    return _methods.execute(inner_plan, window, flipped)
