"""Padding modes: what a convolution reads beyond its input's borders.

With ``padding_mode='zeros'`` the padding is zeros and the kernels skip it.
Any other mode is a linear map ``P`` from the input (size ``L`` per dim) to
the padded input (``p0 + L + p1``): padded position ``j`` holds input
position ``source(j)``.  The moded convolution is the zero-padding-free
convolution of ``P @ x``; its transposed convolution is defined as the true
adjoint, ``P.T`` after the transposed convolution into the padded size:
every value that lands on the padding is added back onto the input position
it was read from (circular: wrap-around overlap-add; reflect, symmetric,
replicate: the border folded back).

Per dim, with ``i = j - p0`` (NumPy's ``np.pad`` modes in brackets):

=========== ======================== ==========================
mode        ``source(i)``, ``i < 0``  ``i >= L``
=========== ======================== ==========================
reflect     ``-i`` [reflect]          ``2(L - 1) - i``
symmetric   ``-i - 1`` [symmetric]    ``2L - 1 - i``
replicate   ``0`` [edge]              ``L - 1``
circular    ``i mod L`` [wrap]        ``i mod L``
=========== ======================== ==========================
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._geometry import ConvGeometry

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")

#: Largest padding each mode takes, as a function of the input size L (as
#: PyTorch: reflect below L, circular up to L; symmetric up to L).
_MAX_PAD = {"reflect": lambda n: n - 1, "symmetric": lambda n: n,
            "circular": lambda n: n, "replicate": lambda n: None}


def check_mode(name, mode, geom):
    """Raise ValueError for an unknown mode or a padding it cannot fill."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{name}: padding_mode must be one of {MODES}, got {mode!r}")
    if mode == "zeros":
        return
    for size, p0, p1 in zip(geom.spatial(geom.input_spatial), geom.spatial(geom.pad_before),
                            geom.spatial(geom.pad_after)):
        limit = _MAX_PAD[mode](size)
        if limit is not None and max(p0, p1) > limit:
            raise ValueError(
                f"{name}: padding_mode={mode!r} needs padding "
                f"{'below' if mode == 'reflect' else 'at most'} the input size in "
                f"every dim (input {geom.spatial(geom.input_spatial)}, padding "
                f"{list(zip(geom.spatial(geom.pad_before), geom.spatial(geom.pad_after)))})")


def source(mode, size, before, after):
    """Per padded position, the input position it holds (see the module
    docstring), for one dim."""
    i = np.arange(-before, size + after)
    if mode == "reflect":
        return np.where(i < 0, -i, np.where(i >= size, 2 * (size - 1) - i, i))
    if mode == "symmetric":
        return np.where(i < 0, -i - 1, np.where(i >= size, 2 * size - 1 - i, i))
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    return np.mod(i, size)


def border_map(geom, mode, size):
    """The border map of the stride-phase-split copy (``_phase_rows.pxd``)
    of a convolution's input padded by ``mode``: per dim, for each padded
    position ``j < size * stride`` (``size`` the phase grid's, 3 ints), the
    input position it holds, :func:`source`, or -1 for the positions past
    the padding (never read into an output), the dims' maps one after the
    other (d, h, w), intp."""
    maps = []
    for n, p0, p1, s, m in zip(geom.input_spatial, geom.pad_before, geom.pad_after,
                               geom.stride, size):
        index = np.full(m * s, -1, dtype=np.intp)
        held = source(mode, n, p0, p1)[:m * s]
        index[:len(held)] = held
        maps.append(index)
    return np.concatenate(maps)


def padded_geometry(geom: ConvGeometry) -> ConvGeometry:
    """The same convolution on the padded input, with no padding of its own
    (for a transposed convolution, with the output_padding that lands on
    the padded size)."""
    padded = tuple(p0 + n + p1 for p0, n, p1 in zip(geom.pad_before, geom.input_spatial,
                                                    geom.pad_after))
    inner = dataclasses.replace(geom, input_spatial=padded, pad_before=(0, 0, 0),
                                pad_after=(0, 0, 0), output_padding=(0, 0, 0))
    return dataclasses.replace(inner, output_padding=inner.landing_output_padding())


def _sources(geom, mode):
    return [source(mode, n, p0, p1) for n, p0, p1 in zip(
        geom.input_spatial, geom.pad_before, geom.pad_after)]


def pad(x, geom, mode):
    """``P @ x``: x (N, C, *geom.input_spatial), 5-D, padded by ``mode``."""
    for axis, index in enumerate(_sources(geom, mode), start=2):
        if len(index) != x.shape[axis] or (index != np.arange(len(index))).any():
            x = np.take(x, index, axis=axis)
    return np.ascontiguousarray(x)


def fold(y, geom, mode):
    """``P.T @ y``: y (N, C, *padded), every padded position added onto the
    input position it was read from; returns (N, C, *geom.input_spatial)."""
    for axis, (index, size, before) in enumerate(
            zip(_sources(geom, mode), geom.input_spatial, geom.pad_before), start=2):
        if len(index) == size:
            continue
        moved = np.moveaxis(y, axis, 0)
        out = moved[before:before + size].copy()
        for j in np.flatnonzero((np.arange(len(index)) < before)
                                | (np.arange(len(index)) >= before + size)):
            out[index[j]] += moved[j]
        y = np.moveaxis(out, 0, axis)
    return np.ascontiguousarray(y)


def matrix(geom, mode, channels):
    """``P`` as a scipy.sparse matrix over (channels, *input_spatial)."""
    from scipy import sparse
    result = sparse.identity(channels, format="csr", dtype=np.int64)
    for index, size in zip(_sources(geom, mode), geom.input_spatial):
        one_hot = sparse.csr_array((np.ones(len(index), dtype=np.int64),
                                    (np.arange(len(index)), index)),
                                   shape=(len(index), size))
        result = sparse.kron(result, one_hot, format="csr")
    return result
