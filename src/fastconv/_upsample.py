"""Learnable and fixed up-sampling around the convolutions.

pixel_shuffle / pixel_unshuffle (sub-pixel convolution) with ICNR
initialisation, the bilinear weights of FCN's transposed convolutions,
resize-convolution computed by phases, and the overlap of transposed
convolution kernels that makes checkerboard artifacts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _api, _geometry, _interpolate, _validation

__all__ = [
    "pixel_shuffle", "pixel_unshuffle", "icnr",
    "bilinear_kernel", "bilinear_kernel_params",
    "resize_conv1d", "resize_conv2d", "resize_conv3d",
    "overlap_map", "checkerboard_score",
]


# --------------------------------------------------------------------------
# sub-pixel convolution
# --------------------------------------------------------------------------

def _factor(value, name, function):
    value = _validation.as_int(value, name)
    if value < 1:
        raise ValueError(f"{function}: {name} must be >= 1, got {value}")
    return value


def pixel_shuffle(x: ArrayLike, upscale_factor: int) -> NDArray[Any]:
    """Rearrange channels into space, as ``torch.nn.functional.pixel_shuffle``.

    ``out[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w]``.

    Parameters
    ----------
    x : array_like, shape ``(*, C * r**2, H, W)``
        Any number of leading dims.
    upscale_factor : int
        r >= 1.

    Returns
    -------
    ndarray, shape ``(*, C, H * r, W * r)``
        x's values, rearranged (a copy, in x's dtype).

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.pixel_shuffle(np.arange(4).reshape(4, 1, 1), 2)
    array([[[0, 1],
            [2, 3]]])
    """
    x = np.asarray(x)
    r = _factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    if x.ndim < 3:
        raise ValueError(f"pixel_shuffle: x must have at least 3 dims (*, C, H, W), "
                         f"got shape {x.shape}")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: the channel dim ({c}) must be divisible by "
                         f"upscale_factor**2 = {r * r}")
    k = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(x: ArrayLike, downscale_factor: int) -> NDArray[Any]:
    """Rearrange space into channels: the inverse of :func:`pixel_shuffle`,
    as ``torch.nn.functional.pixel_unshuffle``.

    Parameters
    ----------
    x : array_like, shape ``(*, C, H * r, W * r)``
    downscale_factor : int
        r >= 1; must divide H and W.

    Returns
    -------
    ndarray, shape ``(*, C * r**2, H, W)``

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.arange(16).reshape(1, 4, 4)
    >>> y = fastconv.pixel_unshuffle(x, 2)
    >>> y.shape, np.array_equal(fastconv.pixel_shuffle(y, 2), x)
    ((4, 2, 2), True)
    """
    x = np.asarray(x)
    r = _factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    if x.ndim < 3:
        raise ValueError(f"pixel_unshuffle: x must have at least 3 dims (*, C, H, W), "
                         f"got shape {x.shape}")
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height ({h}) and width ({w}) must be "
                         f"divisible by downscale_factor = {r}")
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def icnr(weight_shape: Sequence[int], scale: int,
         init: Callable[[tuple[int, ...], np.random.Generator], ArrayLike] | None = None,
         rng: np.random.Generator | int | None = None) -> NDArray[np.float64]:
    """ICNR initialisation of a convolution followed by pixel shuffle
    (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution").

    A sub-kernel of shape (C_out / scale**d, C_in, *k) is drawn and each of
    its output channels repeated scale**d times in a row: output channels
    ``c*scale**d ... (c+1)*scale**d - 1``, which :func:`pixel_shuffle`
    places on the scale x scale sub-pixels of channel c, get the same
    kernel, so that at initialisation conv + pixel_shuffle equals conv
    followed by nearest up-sampling: no checkerboard.

    Parameters
    ----------
    weight_shape : sequence of int
        The convolution weight's shape (C_out, C_in / groups, *kernel),
        d = len(weight_shape) - 2 >= 1; C_out divisible by scale**d.
    scale : int
        The pixel-shuffle factor.
    init : callable, optional
        ``init(shape, rng)`` returns the sub-kernel; default He (Kaiming)
        normal, std = sqrt(2 / fan_in), fan_in = C_in / groups * prod(kernel).
    rng : numpy.random.Generator or int, optional
        Random source or seed.

    Returns
    -------
    ndarray, shape weight_shape
        float64.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> w = fastconv.icnr((12, 3, 3, 3), 2, rng=0)
    >>> bool(np.all(w[0:4] == w[0])) and bool(np.all(w[4:8] == w[4]))
    True
    """
    shape = tuple(_validation.as_int(n, "weight_shape") for n in weight_shape)
    r = _factor(scale, "scale", "icnr")
    if len(shape) < 3 or min(shape) < 1:
        raise ValueError(f"icnr: weight_shape must be (C_out, C_in, *kernel) with "
                         f"sizes >= 1, got {shape}")
    group = r ** (len(shape) - 2)
    if shape[0] % group:
        raise ValueError(f"icnr: C_out = {shape[0]} must be divisible by "
                         f"scale**{len(shape) - 2} = {group}")
    generator = np.random.default_rng(rng)
    sub_shape = (shape[0] // group,) + shape[1:]
    if init is None:
        fan_in = math.prod(shape[1:])
        sub = generator.normal(0.0, math.sqrt(2.0 / fan_in), sub_shape)
    else:
        sub = np.asarray(init(sub_shape, generator), dtype=np.float64)
        if sub.shape != sub_shape:
            raise ValueError(f"icnr: init returned shape {sub.shape}, expected {sub_shape}")
    return np.repeat(sub, group, axis=0)


# --------------------------------------------------------------------------
# FCN's bilinear transposed convolution
# --------------------------------------------------------------------------

def bilinear_kernel_params(factor: int) -> dict[str, int]:
    """kernel_size, stride and padding of the transposed convolution that
    up-samples by ``factor`` with :func:`bilinear_kernel` (Caffe's
    BilinearFiller): kernel 2f - f mod 2, stride f, padding ceil((f - 1) / 2).

    The output size is then exactly input size x f.

    Parameters
    ----------
    factor : int
        f >= 1.

    Returns
    -------
    dict
        ``{'kernel_size': k, 'stride': f, 'padding': p}``.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.bilinear_kernel_params(2)
    {'kernel_size': 4, 'stride': 2, 'padding': 1}
    """
    f = _factor(factor, "factor", "bilinear_kernel_params")
    return {"kernel_size": 2 * f - f % 2, "stride": f, "padding": -(-(f - 1) // 2)}


def bilinear_kernel(factor: int, channels: int = 1, ndim: int = 2) -> NDArray[np.float64]:
    """The weight of the grouped transposed convolution that up-samples by
    ``factor`` bilinearly (FCN's ``upsample_filt``, Caffe's BilinearFiller).

    Use it with ``groups=channels`` and :func:`bilinear_kernel_params`.

    How it differs from ``interpolate(mode='bilinear')`` (align_corners
    False, same factor): inside, not at all; at the ``factor // 2`` outer
    output samples of each side the transposed convolution reads zeros
    beyond the edge, where interpolate repeats the edge sample, so its
    border darkens towards zero (for f = 2 the first sample is 0.75 x[0],
    not x[0]).  Exactly: the transposed convolution of x equals
    interpolate of x zero-padded by one sample on every side, cropped by f
    samples on every side.

    Parameters
    ----------
    factor : int
        f >= 1.
    channels : int, default 1
        C: one identical kernel per channel.
    ndim : int, default 2
        Spatial dims (1, 2 or 3); the kernel is the outer product of the
        1-D tent ``1 - |i - centre| / ceil(k / 2)``.

    Returns
    -------
    ndarray, shape (C, 1, k, ..., k)
        float64, in the layout of transposed-convolution weights
        (C_in, C_out / groups, *kernel) with groups = C.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.bilinear_kernel(2, ndim=1)
    array([[[0.25, 0.75, 0.75, 0.25]]])
    >>> x = np.ones((1, 3, 4, 4))
    >>> up = fastconv.conv_transpose2d(x, fastconv.bilinear_kernel(2, 3), groups=3,
    ...                                stride=2, padding=1)
    >>> up.shape, float(up[0, 0, 4, 4]), float(up[0, 0, 0, 0])
    ((1, 3, 8, 8), 1.0, 0.5625)
    """
    f = _factor(factor, "factor", "bilinear_kernel")
    channels = _factor(channels, "channels", "bilinear_kernel")
    ndim = _validation.as_int(ndim, "ndim")
    if not 1 <= ndim <= 3:
        raise ValueError(f"bilinear_kernel: ndim must be 1, 2 or 3, got {ndim}")
    size = 2 * f - f % 2
    half = (size + 1) // 2
    centre = half - 1 if size % 2 == 1 else half - 0.5
    tent = 1 - np.abs(np.arange(size) - centre) / half
    kernel = tent
    for _ in range(ndim - 1):
        kernel = np.multiply.outer(kernel, tent)
    return np.broadcast_to(kernel, (channels, 1) + kernel.shape).copy()


# --------------------------------------------------------------------------
# resize-convolution
# --------------------------------------------------------------------------

_CONV = {1: _api.conv1d, 2: _api.conv2d, 3: _api.conv3d}
_CONV_TRANSPOSE = {1: _api.conv_transpose1d, 2: _api.conv_transpose2d,
                   3: _api.conv_transpose3d}


def _tap_sums(scale, kernel, dtype):
    """The (kernel + scale - 1, kernel) matrix A of one dim with which
    nearest up-sampling by ``scale`` then a kernel-``kernel`` convolution is
    the transposed convolution of stride ``scale`` with the kernel
    ``A @ k``: input sample i reaches output o through the taps t with
    ``(o + t - p0) // scale == i``, whose sum is
    ``W[j] = sum of k[t] for K - 1 - j <= t <= K + s - 2 - j``, at
    ``j = o - scale*i + (K - 1 - p0)``."""
    j = np.arange(kernel + scale - 1)[:, None]
    t = np.arange(kernel)[None, :]
    return ((kernel - 1 - j <= t) & (t <= kernel + scale - 2 - j)).astype(dtype)


def _as_transposed(weight, factors, groups, dtype):
    """The transposed convolution's weight (C_in, C_out/groups, *(K + s - 1))
    of nearest up-sampling by ``factors`` then the convolution ``weight``."""
    ndim = len(factors)
    summed = weight.astype(dtype, copy=False)
    for d, s in enumerate(factors):
        a = _tap_sums(s, summed.shape[2 + d], dtype)
        summed = np.moveaxis(np.tensordot(a, summed, axes=([1], [2 + d])), 0, 2 + d)
    c_out, cin_g = summed.shape[:2]
    per_group = summed.reshape((groups, c_out // groups, cin_g) + summed.shape[2:])
    return np.ascontiguousarray(per_group.swapaxes(1, 2)).reshape(
        (groups * cin_g, c_out // groups) + summed.shape[2:])


def _phase_groups(scale, kernel, pad_before, dtype):
    """For each output phase of one dim: (offset of the first input sample,
    matrix G (K_phase, kernel) summing the taps that read the same input
    sample): nearest up-sampling by ``scale`` then a kernel-``kernel``
    convolution with ``pad_before`` reads x[m + floor((phase + k -
    pad_before) / scale)] at output scale*m + phase."""
    phases = []
    for phase in range(scale):
        offsets = (phase + np.arange(kernel) - pad_before) // scale
        first = int(offsets.min())
        groups = np.zeros((int(offsets.max()) - first + 1, kernel), dtype=dtype)
        groups[offsets - first, np.arange(kernel)] = 1
        phases.append((first, groups))
    return phases


def _integer_factors(scale_factor, ndim):
    """scale_factor as one int >= 1 per dim, or None when it is not that."""
    given = scale_factor if isinstance(scale_factor, (tuple, list)) else [scale_factor] * ndim
    if len(given) != ndim or not all(
            isinstance(s, (int, float, np.integer, np.floating)) and not isinstance(s, bool)
            and math.isfinite(s) and s >= 1 and float(s) == int(s) for s in given):
        return None
    return tuple(int(s) for s in given)


def _resize_conv(ndim, x, weight, scale_factor, mode, bias, padding, groups, n_threads):
    name = f"resize_conv{ndim}d"
    x = np.asarray(x)
    weight = np.asarray(weight)
    if x.ndim not in (ndim + 1, ndim + 2) or weight.ndim != ndim + 2:
        raise ValueError(f"{name}: x must be (N, C_in, *spatial) or (C_in, *spatial) and "
                         f"weight (C_out, C_in/groups, *kernel) with {ndim} spatial "
                         f"dims, got shapes {x.shape} and {weight.shape}")
    unbatched = x.ndim == ndim + 1
    xb = x[None] if unbatched else x
    align = None if mode in ("nearest", "nearest-exact", "area") else False
    factors = _integer_factors(scale_factor, ndim) if mode == "nearest" else None
    if factors is not None:
        # the phase path holds when PyTorch's nearest table is exactly m // s
        dtype = np.float64 if xb.dtype == np.float64 else np.float32
        for n, s in zip(xb.shape[2:], factors):
            table = _interpolate.resample_table(dtype, "nearest", n, n * s, scale=float(s))
            if not np.array_equal(table.source[:, 0], np.arange(n * s) // s):
                factors = None
                break
    if factors is None:
        up = _interpolate.interpolate(xb, scale_factor=scale_factor, mode=mode,
                                      align_corners=align, n_threads=n_threads)
        out = _CONV[ndim](up, weight, bias, 1, padding, 1, groups, n_threads=n_threads)
        return out[0] if unbatched else out
    up_spatial = tuple(n * s for n, s in zip(xb.shape[2:], factors))
    geom = _geometry.conv_geometry(up_spatial, weight.shape[2:], 1, padding, 1)
    before, after = geom.pad_before[-ndim:], geom.pad_after[-ndim:]
    out_spatial = geom.output_spatial[-ndim:]
    if weight.dtype.kind == "f":
        kernel_dtype = weight.dtype
    elif weight.dtype.kind in "biu":
        kernel_dtype = np.dtype(np.int64)   # exact sums, as the convolutions' own
    else:
        kernel_dtype = np.dtype(np.float64)  # let the convolution name the dtype
    kernel_size = weight.shape[2:]
    if all(p0 <= k - 1 and p1 <= k - 1
           for p0, p1, k in zip(before, after, kernel_size)) and weight.dtype.kind != "c":
        # one transposed convolution of stride s with the taps that read the
        # same input sample summed: (K + s - 1)**d multiply-adds per s**d
        # outputs, every output phase in one call (the polyphase kernels)
        pairs = tuple((k - 1 - p0, k - 1 - p1)
                      for p0, p1, k in zip(before, after, kernel_size))
        out = _CONV_TRANSPOSE[ndim](
            xb, _as_transposed(weight, factors, groups, kernel_dtype), bias, factors,
            pairs, 0, groups, n_threads=n_threads)
        return out[0] if unbatched else out
    per_dim = [_phase_groups(s, k, p, kernel_dtype)
               for s, k, p in zip(factors, kernel_size, before)]
    out = None
    for phase in np.ndindex(*factors):
        counts = [-(-(t - f) // s) for t, f, s in zip(out_spatial, phase, factors)]
        if min(counts) <= 0:
            continue
        kernel = weight.astype(kernel_dtype, copy=False) if weight.dtype.kind != "c" else weight
        pads = []
        view = xb
        for d, (f, (first, groups_d)) in enumerate(
                (f, per_dim[d][f]) for d, f in enumerate(phase)):
            kernel = np.moveaxis(np.tensordot(groups_d, kernel, axes=([1], [2 + d])), 0, 2 + d)
            n = view.shape[2 + d]
            start = max(first, 0)
            view = view[(slice(None),) * (2 + d) + (slice(start, None),)]
            last = counts[d] - 1 + first + groups_d.shape[0] - 1   # last x index read
            pads.append((max(-first, 0), max(last - (n - 1), 0)))
        y = _CONV[ndim](view, kernel, bias, 1, tuple(pads), 1, groups, n_threads=n_threads)
        y = y[(Ellipsis,) + tuple(slice(0, c) for c in counts)]
        if out is None:
            out = np.empty(y.shape[:2] + tuple(out_spatial), dtype=y.dtype)
        out[(Ellipsis,) + tuple(slice(f, None, s) for f, s in zip(phase, factors))] = y
    return out[0] if unbatched else out


_RESIZE_DOC = """Resize-convolution: ``conv{ndim}d(interpolate(x, scale_factor, mode),
    weight, bias, padding=padding, groups=groups)``.

    Odena et al.'s alternative to the transposed convolution.  For
    ``mode='nearest'`` with integer factors s it never builds the
    up-sampled image: output sample s*m + phase of a dim reads input
    samples m + floor((phase + k - pad) / s), so each of the s**{ndim}
    output phases is a stride-1 convolution of the low-resolution input
    with a kernel whose taps reading the same input sample are summed (a
    3-wide kernel after x2 becomes two 2-wide ones, four 2x2 kernels in
    2-D).  Together those are one transposed convolution of stride s with
    a (k + s - 1)-wide kernel, run in one call by
    :func:`fastconv.conv_transpose{ndim}d` (padding up to k - 1; larger
    padding runs the phases one by one).  Other modes (and non-integer
    factors) run the two steps.

    Parameters
    ----------
    x : array_like, shape (N, C_in, {spatial}) or (C_in, {spatial})
    weight : array_like, shape (C_out, C_in / groups, {kernel})
    scale_factor : float or tuple of {ndim} floats
        As for :func:`fastconv.interpolate`.
    mode : str, default 'nearest'
        Any mode of :func:`fastconv.interpolate` that fits {ndim}-D input.
    bias : array_like, shape (C_out,), optional
    padding : int, tuple, pairs, 'same' or 'valid', default 0
        Of the convolution, on the up-sampled grid.
    groups : int, default 1
    n_threads : int, optional

    Returns
    -------
    ndarray, shape (N, C_out, {out_spatial})
        The convolution's output on the up-sampled grid.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.random.default_rng(0).random({x_shape})
    >>> w = np.random.default_rng(1).random({w_shape})
    >>> y = fastconv.resize_conv{ndim}d(x, w, 2, padding=1)
    >>> two_step = fastconv.conv{ndim}d(fastconv.interpolate(x, scale_factor=2), w, padding=1)
    >>> y.shape == two_step.shape and bool(np.allclose(y, two_step))
    True
    """

_SHAPES = {1: ("L", "kL", "L_out", (1, 2, 5), (3, 2, 3)),
           2: ("H, W", "kH, kW", "H_out, W_out", (1, 2, 5, 5), (3, 2, 3, 3)),
           3: ("D, H, W", "kD, kH, kW", "D_out, H_out, W_out", (1, 2, 3, 4, 4),
               (3, 2, 3, 3, 3))}


def _make_resize_conv(ndim):
    def resize_conv(x: ArrayLike, weight: ArrayLike,
                    scale_factor: float | Sequence[float], mode: str = "nearest",
                    bias: ArrayLike | None = None, padding: Any = 0, groups: int = 1,
                    *, n_threads: int | None = None) -> NDArray[Any]:
        return _resize_conv(ndim, x, weight, scale_factor, mode, bias, padding, groups,
                            n_threads)
    spatial, kernel, out_spatial, x_shape, w_shape = _SHAPES[ndim]
    resize_conv.__name__ = resize_conv.__qualname__ = f"resize_conv{ndim}d"
    resize_conv.__doc__ = _RESIZE_DOC.format(ndim=ndim, spatial=spatial, kernel=kernel,
                                             out_spatial=out_spatial, x_shape=x_shape,
                                             w_shape=w_shape)
    return resize_conv


resize_conv1d = _make_resize_conv(1)
resize_conv2d = _make_resize_conv(2)
resize_conv3d = _make_resize_conv(3)


# --------------------------------------------------------------------------
# overlap and checkerboard
# --------------------------------------------------------------------------

def overlap_map(kernel_size: int | Sequence[int], stride: int | Sequence[int],
                input_size: int | Sequence[int] | None = None,
                padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                ndim: int | None = None) -> NDArray[np.int64]:
    """How many kernel taps of a transposed convolution reach each output
    position (Odena et al., "Deconvolution and checkerboard artifacts").

    The count is the response of the transposed convolution with an all-ones
    kernel to an all-ones input; uneven counts (kernel size not divisible by
    the stride) are the checkerboard.  Any number of dims: the count is the
    product of one count per dim.

    Parameters
    ----------
    kernel_size, stride : int or sequence of int
    input_size : int or sequence of int, optional
        Input samples per dim; default enough for the pattern to repeat
        inside: ceil(kernel / stride) + 3.
    padding, dilation : int or sequence of int
        As for :func:`fastconv.conv_transpose2d` (symmetric padding).
    ndim : int, optional
        Number of dims; default the length of the longest sequence
        argument, or 2.

    Returns
    -------
    ndarray of int64, shape (L_out, ...)
        One entry per output position: L_out = (L - 1) * stride - 2 *
        padding + dilation * (kernel - 1) + 1.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.overlap_map(3, 2, input_size=3, ndim=1)
    array([1, 1, 2, 1, 2, 1, 1])
    >>> fastconv.overlap_map(4, 2, input_size=3, ndim=1)
    array([1, 1, 2, 2, 2, 2, 1, 1])
    >>> fastconv.overlap_map((3, 4), 2, input_size=3).shape
    (7, 8)
    """
    args = {"kernel_size": kernel_size, "stride": stride, "padding": padding,
            "dilation": dilation, "input_size": input_size}
    if ndim is None:
        ndim = max([len(v) for v in args.values() if isinstance(v, (tuple, list))] + [2])
    ndim = _validation.as_int(ndim, "ndim")
    if ndim < 1:
        raise ValueError(f"overlap_map: ndim must be >= 1, got {ndim}")
    k = _validation.per_dim(kernel_size, ndim, "kernel_size", 1)
    s = _validation.per_dim(stride, ndim, "stride", 1)
    p = _validation.per_dim(padding, ndim, "padding", 0)
    d = _validation.per_dim(dilation, ndim, "dilation", 1)
    if input_size is None:
        n = tuple(-(-(di * (ki - 1) + 1) // si) + 3 for ki, si, di in zip(k, s, d))
    else:
        n = _validation.per_dim(input_size, ndim, "input_size", 1)
    counts = []
    for ni, ki, si, pi, di in zip(n, k, s, p, d):
        length = (ni - 1) * si + di * (ki - 1) + 1
        if length - 2 * pi < 1:
            raise ValueError(f"overlap_map: padding {pi} leaves no output "
                             f"(full output {length})")
        full = np.zeros(length, dtype=np.int64)
        positions = (np.arange(ni)[:, None] * si + np.arange(ki) * di).ravel()
        np.add.at(full, positions, 1)
        counts.append(full[pi:length - pi])
    out = counts[0]
    for c in counts[1:]:
        out = np.multiply.outer(out, c)
    return out


def checkerboard_score(operator: Callable[[NDArray[np.float64]], ArrayLike] | ArrayLike,
                       input_shape: Sequence[int] = (1, 1, 16, 16),
                       border: int | None = None) -> float:
    """Peak-to-peak of an up-sampling operator's response to a constant
    input, relative to its mean: 0 for a flat response, larger for a
    stronger checkerboard.

    Parameters
    ----------
    operator : callable or array_like
        A function of one array (the constant input, all ones, of
        ``input_shape``), or its response already computed, e.g. an
        :func:`overlap_map`.
    input_shape : sequence of int, default (1, 1, 16, 16)
        Shape of the constant input (N, C, *spatial) handed to a callable
        ``operator``.
    border : int, optional
        Samples dropped on every side of every spatial dim before
        measuring (the borders of a transposed convolution are not part of
        its periodic pattern); default a quarter of the smallest spatial
        size.

    Returns
    -------
    float
        (max - min) / mean of the response's inside.

    Examples
    --------
    >>> import fastconv
    >>> round(fastconv.checkerboard_score(fastconv.overlap_map(3, 2, input_size=8)), 3)
    1.24
    >>> fastconv.checkerboard_score(fastconv.overlap_map(4, 2, input_size=8))
    0.0
    """
    if callable(operator):
        response = np.asarray(operator(np.ones(tuple(input_shape))), dtype=np.float64)
        spatial_axes = tuple(range(2, response.ndim)) if response.ndim > 2 else (0, 1)
    else:
        response = np.asarray(operator, dtype=np.float64)
        spatial_axes = tuple(range(response.ndim))
    if border is None:
        border = min(response.shape[a] for a in spatial_axes) // 4
    index = [slice(None)] * response.ndim
    for a in spatial_axes:
        if response.shape[a] <= 2 * border:
            raise ValueError(f"checkerboard_score: border {border} leaves nothing of "
                             f"a response of shape {response.shape}")
        index[a] = slice(border, response.shape[a] - border)
    inside = response[tuple(index)]
    mean = float(inside.mean())
    if mean == 0:
        raise ValueError("checkerboard_score: the response's mean is 0")
    return float((inside.max() - inside.min()) / abs(mean))
