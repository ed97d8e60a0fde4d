"""fastconv.interpolate: torch.nn.functional.interpolate on NumPy arrays.

The arguments are checked here, PyTorch's way; each spatial axis then gets
one resampling *table* (for every output index: the input indices it reads
and their weights), built in PyTorch's own arithmetic (float32 index
arithmetic for float32 input, float64 for float64, with PyTorch's casts),
so that the numbers agree to rounding.  The compiled kernels of
:mod:`fastconv._resample` apply the tables axis by axis (separably).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _resample, _validation

__all__ = ["interpolate", "INTERPOLATE_MODES"]

NAME = "interpolate"

#: Modes of :func:`interpolate`, with the number of spatial dims each
#: requires (None: 1, 2 or 3).
INTERPOLATE_MODES: dict[str, int | None] = {
    "nearest": None, "nearest-exact": None, "area": None,
    "linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3,
}
_ALIGNING = ("linear", "bilinear", "bicubic", "trilinear")
_NEAREST = ("nearest", "nearest-exact")

#: Output rows per work item of the 2-D kernel, at most.
_BLOCK_ROWS = 64
#: Bytes of the per-thread buffer of W-resampled rows worth aiming below.
_BUFFER_BYTES = 1 << 19


class Table(NamedTuple):
    """How one axis is resampled: output i reads ``source[i, :length[i]]``
    with ``weight[i, :length[i]]``."""

    source: NDArray[np.int64]
    weight: NDArray[Any]
    length: NDArray[np.int64]

    @property
    def is_identity(self):
        n = self.source.shape[0]
        return (self.source.shape[1] == 1 and np.array_equal(self.source[:, 0], np.arange(n))
                and bool(np.all(self.weight == 1)))


# --------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------

def _is_sequence(value):
    return isinstance(value, (tuple, list))


def _spatial_ndim(x_ndim, mode, size, scale_factor):
    """(spatial dims, unbatched).

    PyTorch's reading (N, C, *spatial) wherever PyTorch takes the input;
    (C, *spatial) where it cannot: a linear or cubic mode given one dim
    fewer than it needs, or 2-D input (C, L).
    """
    implied = INTERPOLATE_MODES[mode]
    if implied is None:
        if x_ndim == 2:
            return 1, True
        if not 3 <= x_ndim <= 5:
            raise ValueError(
                f"{NAME}: x must be 2-D (C, L) or 3-D, 4-D or 5-D (N, C, *spatial) for "
                f"mode {mode!r}, got {x_ndim}-D")
        return x_ndim - 2, False
    if x_ndim == implied + 2:
        return implied, False
    if x_ndim == implied + 1:
        return implied, True
    raise ValueError(
        f"{NAME}: got {x_ndim}-D input, but mode {mode!r} needs {implied}-D spatial "
        f"input: {implied + 2}-D (N, C, *spatial) or {implied + 1}-D (C, *spatial)")


def _per_dim(value, ndim, spatial, what, name, letter):
    """``value`` as one entry per spatial dim; PyTorch's error for a sequence
    of another length."""
    if not _is_sequence(value):
        return (value,) * ndim
    if len(value) != ndim:
        raise ValueError(
            f"{NAME}: input and {what} must have the same number of spatial dimensions, "
            f"but got input with spatial dimensions of {list(spatial)} and {name} "
            f"{list(value)}; give x as (N, C, d1, ..., dK) and {name} as "
            f"({letter}1, ..., {letter}K)")
    return tuple(value)


def _output_size(spatial, ndim, size, scale_factor, recompute_scale_factor, mode):
    """(output sizes, scale factors handed to the kernels or None per dim),
    by the rules of torch.nn.functional.interpolate."""
    if size is not None and scale_factor is not None:
        raise ValueError(f"{NAME}: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError(f"{NAME}: either size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{NAME}: recompute_scale_factor is not meaningful with "
                             f"an explicit size")
        out = tuple(_validation.as_int(s, "size")
                    for s in _per_dim(size, ndim, spatial, "output", "size", "o"))
        scales = (None,) * ndim
    else:
        factors = _per_dim(scale_factor, ndim, spatial, "scale_factor", "scale_factor", "s")
        scales = tuple(_as_float(s) for s in factors)
        if not all(math.isfinite(s) for s in scales):
            raise ValueError(f"{NAME}: scale_factor must be finite, got {scale_factor!r}")
        out = tuple(math.floor(float(n * s)) for n, s in zip(spatial, scales))
        if recompute_scale_factor or mode == "area":
            scales = (None,) * ndim
    smallest = 0 if mode == "area" else 1   # adaptive pooling allows empty output
    if min(spatial) < 1 or min(out) < smallest:
        raise ValueError(
            f"{NAME}: input and output sizes should be greater than 0, but got input "
            f"{tuple(spatial)} and output {tuple(out)}")
    return out, scales


def _as_float(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{NAME}: scale_factor must be a float or a tuple of floats, "
                        f"got {value!r}")
    return float(value)


def _dtypes(x, mode):
    """(opmath dtype of the tables, compute dtype or None for an exact gather)."""
    if x.dtype in (np.float32, np.float64):
        return x.dtype.type, x.dtype
    if x.dtype == np.float16:
        return np.float32, np.dtype(np.float32)
    if x.dtype.kind in "biu" and mode in _NEAREST:
        return np.float32, None   # PyTorch's nearest indexes uint8 in float32
    if x.dtype.kind in "biu":
        raise TypeError(
            f"{NAME}: mode {mode!r} needs floating-point input, got {x.dtype} (only the "
            f"nearest modes copy integers exactly); cast x to float32 or float64")
    raise TypeError(f"{NAME}: x has dtype {x.dtype}; interpolate supports real "
                    f"floating-point arrays (and integers for the nearest modes)")


# --------------------------------------------------------------------------
# tables, in PyTorch's arithmetic (aten/src/ATen/native/UpSample.h and
# cpu/UpSampleKernel.cpp): `ft` is PyTorch's opmath type of the input
# --------------------------------------------------------------------------

def _scale(ft, n_in, n_out, align_corners, scale):
    """area_pixel_compute_scale."""
    if align_corners:
        return ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
    if scale is not None and scale > 0:
        return ft(1.0 / scale)
    return ft(n_in) / ft(n_out)


def _source_index(ft, scale, n_out, align_corners, cubic):
    """area_pixel_compute_source_index for every output index."""
    i = np.arange(n_out, dtype=ft)
    if align_corners:
        return scale * i
    src = scale * (i + ft(0.5)) - ft(0.5)
    return src if cubic else np.maximum(src, ft(0))


def _floorf(values):
    """C's floorf: the argument is rounded to float32 first."""
    return np.floor(np.asarray(values).astype(np.float32)).astype(np.int64)


def _guard(ft, src, n_in):
    """guard_index_and_lambda: (index, lambda)."""
    index = np.minimum(_floorf(src), n_in - 1)
    lam = np.minimum(np.maximum(src - index.astype(ft), ft(0)), ft(1))
    return index, lam


def _table(index, weight):
    index = np.ascontiguousarray(index, dtype=np.int64)
    count = np.full(index.shape[0], index.shape[1], dtype=np.int64)
    return Table(index, np.ascontiguousarray(weight), count)


def _nearest_table(ft, n_in, n_out, scale, exact):
    s = _scale(ft, n_in, n_out, False, scale)
    if exact:
        src = _source_index(ft, s, n_out, False, False)
        index = _floorf(src.astype(np.float64) + 0.5)
    else:
        index = _floorf(_source_index(ft, s, n_out, True, False))
    index = np.minimum(index, n_in - 1)
    return _table(index[:, None], np.ones((n_out, 1), dtype=ft))


def _linear_table(ft, n_in, n_out, align_corners, scale):
    if n_in == n_out:
        i = np.arange(n_out)
        return _table(np.stack([i, i], 1),
                      np.stack([np.ones(n_out, ft), np.zeros(n_out, ft)], 1))
    s = _scale(ft, n_in, n_out, align_corners, scale)
    index0, lam1 = _guard(ft, _source_index(ft, s, n_out, align_corners, False), n_in)
    index1 = index0 + (index0 < n_in - 1)
    return _table(np.stack([index0, index1], 1), np.stack([ft(1) - lam1, lam1], 1))


def _cubic1(ft, x, a):
    return ((a + ft(2)) * x - (a + ft(3))) * x * x + ft(1)


def _cubic2(ft, x, a):
    return ((a * x - ft(5) * a) * x + ft(8) * a) * x - ft(4) * a


def _cubic_table(ft, n_in, n_out, align_corners, scale):
    s = _scale(ft, n_in, n_out, align_corners, scale)
    index, t = _guard(ft, _source_index(ft, s, n_out, align_corners, True), n_in)
    a = ft(-0.75)
    x2 = ft(1) - t
    weight = np.stack([_cubic2(ft, t + ft(1), a), _cubic1(ft, t, a),
                       _cubic1(ft, x2, a), _cubic2(ft, x2 + ft(1), a)], 1)
    taps = np.clip(index[:, None] + np.arange(-1, 3), 0, n_in - 1)
    return _table(taps, weight)


def _filter(ft, mode, x):
    x = np.abs(x)
    if mode == "linear":
        return np.where(x < 1, ft(1) - x, ft(0)).astype(ft)
    a = ft(-0.5)   # Keys' cubic, as PIL (and PyTorch) antialias with
    return np.where(x < 1, _cubic1(ft, x, a),
                    np.where(x < 2, _cubic2(ft, x, a), ft(0))).astype(ft)


def _antialias_table(ft, n_in, n_out, align_corners, scale, mode):
    """_compute_indices_min_size_weights_aa: PIL's bounds and weights."""
    interp_size = 2 if mode == "linear" else 4
    s = _scale(ft, n_in, n_out, align_corners, scale)
    support = ft((interp_size * 0.5) * float(s) if s >= 1 else interp_size * 0.5)
    taps = int(math.ceil(float(support))) * 2 + 1
    i = np.arange(n_out, dtype=np.float64)
    center = (float(s) * (i + 0.5)).astype(ft)
    invscale = ft(1.0 / float(s)) if s >= 1 else ft(1)
    c64 = center.astype(np.float64)
    xmin = np.maximum(np.trunc(c64 - float(support) + 0.5).astype(np.int64), 0)
    xsize = np.minimum(np.trunc(c64 + float(support) + 0.5).astype(np.int64), n_in) - xmin
    xsize = np.clip(xsize, 0, taps)
    weight = np.zeros((n_out, taps), dtype=ft)
    total = np.zeros(n_out, dtype=ft)
    for j in range(taps):
        arg = (((j + xmin).astype(ft) - center).astype(np.float64) + 0.5) * float(invscale)
        w = np.where(j < xsize, _filter(ft, mode, arg.astype(ft)), ft(0))
        weight[:, j] = w
        total = (total + w).astype(ft)
    nonzero = total != 0
    weight[nonzero] = weight[nonzero] / total[nonzero, None]
    count = np.maximum(xsize, 1)
    index = np.minimum(xmin[:, None] + np.arange(taps), n_in - 1)
    index = np.maximum.accumulate(np.minimum(index, (xmin + count - 1)[:, None]), axis=1)
    return Table(np.ascontiguousarray(index), np.ascontiguousarray(weight), count)


def _area_table(ft, n_in, n_out):
    """adaptive_avg_pool's windows [floor(i*in/out), ceil((i+1)*in/out))."""
    i = np.arange(n_out)
    start = i * n_in // n_out
    end = ((i + 1) * n_in + n_out - 1) // n_out
    count = end - start
    taps = int(count.max())
    index = np.minimum(start[:, None] + np.arange(taps), (end - 1)[:, None])
    weight = np.where(np.arange(taps) < count[:, None], ft(1) / count[:, None].astype(ft),
                      ft(0)).astype(ft)
    return Table(np.ascontiguousarray(index), np.ascontiguousarray(weight), count)


def resample_table(dtype, mode, n_in, n_out, align_corners=False, scale=None,
                   antialias=False):
    """The :class:`Table` of one axis: ``n_in`` to ``n_out`` samples.

    ``dtype`` is the opmath dtype (float32 or float64); ``mode`` one of
    :data:`INTERPOLATE_MODES` (the 1-D name of the linear and cubic modes
    works too); ``scale`` the scale factor handed to the kernel, or None.
    """
    ft = np.dtype(dtype).type
    kind = {"bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    if kind in _NEAREST:
        return _nearest_table(ft, n_in, n_out, scale, kind == "nearest-exact")
    if kind == "area":
        return _area_table(ft, n_in, n_out)
    if antialias:
        return _antialias_table(ft, n_in, n_out, align_corners, scale, kind)
    if kind == "linear":
        return _linear_table(ft, n_in, n_out, align_corners, scale)
    return _cubic_table(ft, n_in, n_out, align_corners, scale)


# --------------------------------------------------------------------------
# running the tables
# --------------------------------------------------------------------------

def _identity_table(n, ft):
    return _table(np.arange(n)[:, None], np.ones((n, 1), dtype=ft))


def _blocks(table_h, n_planes, w_out, itemsize, n_threads):
    """(output rows per work item, buffer rows) of :func:`resample_2d`."""
    h_out = table_h.source.shape[0]
    block = min(h_out, _BLOCK_ROWS)
    while block > 1 and n_planes * -(-h_out // block) < 4 * n_threads:
        block //= 2
    while True:
        starts = np.arange(0, h_out, block)
        ends = np.minimum(starts + block, h_out) - 1
        last = table_h.source[ends, table_h.length[ends] - 1]
        rows = int((last - table_h.source[starts, 0]).max()) + 1
        if block <= 4 or rows * w_out * itemsize <= _BUFFER_BYTES:
            return block, rows
        block //= 2


def _resample_2d(x, table_h, table_w, n_threads):
    """x (P, H, W) resampled along W, then H."""
    n_planes = x.shape[0]
    out = np.empty((n_planes, table_h.source.shape[0], table_w.source.shape[0]), x.dtype)
    block, rows = _blocks(table_h, n_planes, out.shape[2], x.itemsize, n_threads)
    _resample.resample_2d(x, out, table_h.source, table_h.weight, table_h.length,
                          table_w.source, table_w.weight, table_w.length,
                          block, rows, n_threads)
    return out


def apply_tables(x, tables, n_threads):
    """x (P, *spatial), C-contiguous float32/float64, resampled by one
    :class:`Table` per spatial dim (the last dim first)."""
    ft = x.dtype.type
    tables = [Table(t.source, t.weight.astype(ft, copy=False), t.length) for t in tables]
    n_planes = x.shape[0]
    if len(tables) == 1:
        rows = x.reshape(1, n_planes, x.shape[1])
        out = _resample_2d(rows, _identity_table(n_planes, ft), tables[0], n_threads)
        return out.reshape(n_planes, -1)
    if len(tables) == 2:
        return _resample_2d(x, tables[0], tables[1], n_threads)
    table_d, table_h, table_w = tables
    d_in = x.shape[1]
    planes = _resample_2d(x.reshape((n_planes * d_in,) + x.shape[2:]), table_h, table_w,
                          n_threads)
    if table_d.source.shape[0] == d_in and table_d.is_identity:
        return planes.reshape((n_planes, d_in) + planes.shape[1:])
    planes = planes.reshape(n_planes, d_in, -1)
    out = np.empty((n_planes, table_d.source.shape[0], planes.shape[2]), x.dtype)
    _resample.resample_rows(planes, out, table_d.source, table_d.weight, table_d.length,
                            n_threads)
    return out.reshape(n_planes, out.shape[1], table_h.source.shape[0],
                       table_w.source.shape[0])


def interpolate(x: ArrayLike, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False,
                *, n_threads: int | None = None) -> NDArray[Any]:
    """Resize by interpolation, as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial) or (C, *spatial)
        One to three spatial dims.  Input PyTorch accepts is read as PyTorch
        reads it, (N, C, *spatial).  Unbatched input (C, *spatial) is
        recognised where PyTorch would refuse it: a mode with fixed dims
        ('linear' 1, 'bilinear' / 'bicubic' 2, 'trilinear' 3) given one dim
        fewer, or 2-D input (C, L).  With the nearest and area modes give an
        unbatched image a leading axis (``x[None]``).
    size : int or tuple of ints, optional
        Output spatial size.  Exactly one of ``size`` and ``scale_factor``.
    scale_factor : float or tuple of floats, optional
        Output size = floor(input size * scale_factor).  Unless
        ``recompute_scale_factor`` is true, the interpolation uses
        1 / scale_factor as the step between output samples (as PyTorch
        does), not input size / output size.
    mode : str, default 'nearest'
        'nearest' (PyTorch's legacy rule: index floor(i * step), OpenCV's
        INTER_NEAREST), 'nearest-exact' (floor((i + 0.5) * step), as PIL and
        scipy.ndimage), 'linear' (1-D), 'bilinear' (2-D), 'bicubic' (2-D,
        Keys' cubic with A = -0.75), 'trilinear' (3-D), 'area' (adaptive
        average pooling).
    align_corners : bool, optional
        Linear and cubic modes only (default False): True maps the corner
        samples of input and output onto each other.
    recompute_scale_factor : bool, optional
        With ``scale_factor``: True interpolates with step input size /
        output size, as if ``size`` had been given.
    antialias : bool, default False
        'bilinear' and 'bicubic' only: when down-sampling, widen the filter
        by the scale (PIL's method; bicubic then uses A = -0.5).
    n_threads : int, optional
        OpenMP threads (1 to 1024), default OpenMP's.  Results do not
        depend on it.

    Returns
    -------
    ndarray, shape (N, C, *output_size) or (C, *output_size)
        In x's dtype.  float32 and float64 are computed in their own
        precision, float16 in float32; integer and bool input is accepted by
        the nearest modes only (copied exactly).

    Raises
    ------
    ValueError
        Where PyTorch raises: both or neither of size and scale_factor,
        align_corners with a nearest mode or 'area', antialias outside
        bilinear / bicubic, a size or scale_factor of the wrong length,
        recompute_scale_factor with size, an empty output, a mode that
        does not fit the input's dims, an unknown mode.
    TypeError
        For integer input with an interpolating mode, or unsupported dtypes.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.array([[[0.0, 1.0, 2.0]]])            # (N=1, C=1, L=3)
    >>> fastconv.interpolate(x, scale_factor=2)
    array([[[0., 0., 1., 1., 2., 2.]]])
    >>> fastconv.interpolate(x, size=5, mode="linear", align_corners=True)
    array([[[0. , 0.5, 1. , 1.5, 2. ]]])
    >>> fastconv.interpolate(np.ones((3, 4, 4)), scale_factor=0.5, mode="bilinear",
    ...                      antialias=True).shape        # unbatched (C, H, W)
    (3, 2, 2)
    """
    x = np.asarray(x)
    if mode not in INTERPOLATE_MODES:
        raise ValueError(f"{NAME}: mode must be one of {sorted(INTERPOLATE_MODES)}, "
                         f"got {mode!r}")
    if mode in _ALIGNING:
        align = bool(align_corners) if align_corners is not None else False
    elif align_corners is not None:
        raise ValueError(f"{NAME}: align_corners option can only be set with the "
                         f"interpolating modes: linear | bilinear | bicubic | trilinear")
    else:
        align = False
    ndim, unbatched = _spatial_ndim(x.ndim, mode, size, scale_factor)
    if antialias and not (mode in ("bilinear", "bicubic") and ndim == 2):
        raise ValueError(f"{NAME}: anti-alias option is restricted to bilinear and "
                         f"bicubic modes and requires a 2-D spatial input")
    threads = _validation.resolve_threads(n_threads)
    batched = x[None] if unbatched else x
    spatial = batched.shape[2:]
    out_spatial, scales = _output_size(spatial, ndim, size, scale_factor,
                                       recompute_scale_factor, mode)
    ft, compute = _dtypes(x, mode)
    _validation.check_array_size(NAME, "output", batched.shape[:2] + out_spatial,
                                 x.itemsize)
    if batched.size == 0 or 0 in out_spatial:
        out = np.zeros(batched.shape[:2] + out_spatial, dtype=x.dtype)
        return out[0] if unbatched else out
    tables = [resample_table(ft, mode, n, m, align, s, antialias)
              for n, m, s in zip(spatial, out_spatial, scales)]
    if compute is None:   # integers and bool, nearest: an exact gather
        out = batched[(Ellipsis,) + np.ix_(*[t.source[:, 0] for t in tables])]
    else:
        planes = np.ascontiguousarray(batched, dtype=compute).reshape((-1,) + spatial)
        out = apply_tables(planes, tables, threads)
        out = out.reshape(batched.shape[:2] + out_spatial).astype(x.dtype, copy=False)
    return out[0] if unbatched else out
