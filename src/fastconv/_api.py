"""Public convolution functions: validate, normalise, dispatch.

Everything a caller can get wrong is checked here, before any compiled code
runs.  The arrays are then brought to one compute dtype, C order and 5-D
(1-D and 2-D as size-1 leading spatial dims), the geometry is resolved by
:mod:`fastconv._geometry`, and the method registered under ``method`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsIndex, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _geometry, _methods, _openmp
from ._typing import IntOrTuple, Padding

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
]

_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------
# normalisation helpers
# --------------------------------------------------------------------------

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def _dtypes(arrays):
    """(compute dtype, result dtype) for the named arrays.

    float32 / float64 natively; bool and integers exactly in int64; float16
    computed in float32 and returned as float16.
    """
    for name, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} has dtype {a.dtype}; fastconv supports bool, integer "
                f"and real floating-point arrays"
            )
    if all(a.dtype.kind in "biu" for a in arrays.values()):
        # exact in int64; NumPy would promote uint64 with signed ints to float
        for name, a in arrays.items():
            if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
                raise ValueError(
                    f"{name} holds uint64 values above 2**63 - 1, which int64 "
                    f"cannot hold exactly (max {a.max()})"
                )
        return np.dtype(np.int64), np.dtype(np.int64)
    common = np.result_type(*arrays.values())
    if common == np.float16:
        return np.dtype(np.float32), common
    if common in _NATIVE:
        return common, common
    given = ", ".join(f"{name}: {a.dtype}" for name, a in arrays.items())
    raise TypeError(f"dtype {common} is not supported; cast to float64 ({given})")


#: Most threads a call may ask for (each costs OpenMP a system thread).
MAX_THREADS = 1024


def _n_threads(n_threads):
    if n_threads is None:
        return _openmp.max_threads()
    value = _geometry._as_int(n_threads, "n_threads")
    if not 1 <= value <= MAX_THREADS:
        raise ValueError(f"n_threads must be between 1 and {MAX_THREADS}, got {n_threads!r}")
    return value


# index expressions between the caller's dims and the kernels' 5-D arrays
_TO_5D = {1: (slice(None), slice(None), None, None), 2: (slice(None), slice(None), None)}
_FROM_5D = {1: (slice(None), slice(None), 0, 0), 2: (slice(None), slice(None), 0)}


def _to5d(a, ndim):
    """Insert size-1 spatial dims after the two leading axes (a view)."""
    return a if ndim == 3 else a[_TO_5D[ndim]]


# Resolved geometries by (op, spatial sizes, kernel sizes, arguments): small
# calls spend most of their time resolving the same arguments again.  Only
# arguments made of exact ints and strings are keys, so that an argument
# that merely compares equal to a valid one (1.0 == 1) is still checked.
_GEOMETRY_CACHE: dict[tuple[Any, ...], _geometry.ConvGeometry] = {}
_GEOMETRY_CACHE_SIZE = 512
_KEY_TYPES = frozenset((int, str))


def _resolve_geometry(op, input_spatial, kernel_size, geometry_args):
    """The :class:`~fastconv._geometry.ConvGeometry` of a call, cached."""
    key = (op, input_spatial, kernel_size) + geometry_args
    for value in geometry_args:
        if type(value) not in _KEY_TYPES and not (
                type(value) is tuple and all(type(v) is int for v in value)):
            key = None
            break
    else:
        geom = _GEOMETRY_CACHE.get(key)
        if geom is not None:
            return geom
    if op == _methods.CONV:
        geom = _geometry.conv_geometry(input_spatial, kernel_size, *geometry_args)
    else:
        geom = _geometry.conv_transpose_geometry(input_spatial, kernel_size,
                                                 *geometry_args)
    if key is not None:
        if len(_GEOMETRY_CACHE) >= _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = geom
    return geom


def _check_channels(op, name, c_in, weight_shape, groups):
    """Check ``groups`` and the kernel against ``c_in`` input channels.

    ``weight_shape`` is in the layout of ``op``.  Returns ``(groups, c_out)``.
    """
    if type(groups) is not int:  # exact ints skip the general check
        groups = _geometry._as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if op == _methods.CONV:
        c_out, w_in = weight_shape[0], weight_shape[1] * groups
        if c_out % groups:
            raise ValueError(
                f"groups={groups} must divide the output channels "
                f"(weight.shape[0] = {c_out})"
            )
    else:
        w_in, c_out = weight_shape[0], weight_shape[1] * groups
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({c_in})")
    if c_in != w_in:
        raise ValueError(
            f"{name}: x has {c_in} input channels but weight of shape "
            f"{weight_shape} with groups={groups} expects {w_in}"
        )
    if 0 in weight_shape[2:]:
        raise ValueError(f"{name}: kernel size must be >= 1, got weight shape {weight_shape}")
    return groups, c_out


_NAMES = {(op, ndim): f"{op}{ndim}d"
          for op in (_methods.CONV, _methods.CONV_TRANSPOSE) for ndim in (1, 2, 3)}


def _run(op, ndim, x, weight, bias, geometry_args, groups, method, n_threads):
    """Shared body of the six public functions.

    ``geometry_args`` holds the geometry arguments in the order of
    :func:`~fastconv._geometry.conv_geometry` (or of
    :func:`~fastconv._geometry.conv_transpose_geometry`) after the sizes.
    """
    name = _NAMES[op, ndim]
    x = np.asarray(x)
    weight = np.asarray(weight)
    if bias is None and x.dtype is weight.dtype and x.dtype in _NATIVE:
        compute = result = x.dtype   # the common case, without the general rules
    else:
        arrays = {"x": x, "weight": weight}
        if bias is not None:
            bias = np.asarray(bias)
            arrays["bias"] = bias
        compute, result = _dtypes(arrays)

    # shapes: batched (N, C, *spatial), unbatched (C, *spatial), or the plain
    # 2-D matrix with a 2-D kernel of the classic explanation
    x_shape = x.shape
    plain = ndim == 2 and x.ndim == 2 and weight.ndim == 2
    if plain:
        x, weight = x[None, None], weight[None, None]
    if weight.ndim != ndim + 2:
        raise ValueError(
            f"{name}: weight must be {ndim + 2}-D, got shape {weight.shape}"
        )
    unbatched = x.ndim == ndim + 1
    if unbatched:
        x = x[None]
    if x.ndim != ndim + 2:
        raise ValueError(
            f"{name}: x must be {ndim + 1}-D (unbatched) or {ndim + 2}-D (batched)"
            + (" or 2-D with a 2-D kernel" if ndim == 2 else "")
            + f", got shape {x_shape}"
        )
    groups, c_out = _check_channels(op, name, x.shape[1], weight.shape, groups)
    kernel_size = weight.shape[2:]
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(
            f"{name}: bias must have shape ({c_out},), got {bias.shape}"
        )

    geom = _resolve_geometry(op, x.shape[2:], kernel_size, geometry_args)
    threads = _n_threads(n_threads)
    if method != "auto":
        _methods.check_method(op, method)
        _methods.check_dtype(op, method, compute)

    x = np.ascontiguousarray(_to5d(x, ndim), dtype=compute)
    weight = np.ascontiguousarray(_to5d(weight, ndim), dtype=compute)
    fn = _methods.get_method(op, method, x, weight, geom, groups)

    out_spatial = geom.output_spatial if op == _methods.CONV else geom.input_spatial
    if x.size and weight.size:
        out = fn(x, weight, geom, groups, threads)
    else:
        out = np.zeros((x.shape[0], c_out) + out_spatial, dtype=compute)
    if bias is not None:
        out += bias.astype(compute, copy=False).reshape(1, -1, 1, 1, 1)

    if plain:
        out = out[0, 0, 0]
    else:
        if ndim != 3:
            out = out[_FROM_5D[ndim]]
        if unbatched:
            out = out[0]
    return out if result is compute else out.astype(result)


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

_CONV_DOC = """{ndim}-D convolution (cross-correlation, as in PyTorch).

    Parameters
    ----------
    x : array_like, shape (N, C_in, {spatial}) or (C_in, {spatial}){plain_x}
        Input.  Unbatched input gives unbatched output.
    weight : array_like, shape (C_out, C_in / groups, {kernel}){plain_w}
        Kernel.
    bias : array_like, shape (C_out,), optional
        Added to every output position of its channel.
    stride : int or tuple of {ndim} ints, default 1
    padding : int, tuple of {ndim} ints, tuple of {ndim} (before, after) pairs, \
'valid' or 'same'
        Zero padding.  'same' gives output = ceil(input / stride)
        (TensorFlow's rule; an odd extra pixel goes after).
    dilation : int or tuple of {ndim} ints, default 1
    groups : int, default 1
        Channels are split into ``groups`` independent convolutions.
    method : str, default 'auto'
        One of :data:`fastconv.CONV_METHODS`.
    n_threads : int, optional
        OpenMP threads for the 'direct' kernel (1 to 1024); default
        OpenMP's (``OMP_NUM_THREADS``, ``threadpoolctl`` limits).  'gemm'
        uses BLAS's threads instead.  Results do not depend on it.

    Returns
    -------
    ndarray, shape (N, C_out, {out_spatial})
        In the common dtype of ``x``, ``weight`` and ``bias``; integer and
        bool inputs are computed exactly and returned as int64, float16 is
        computed in float32.  Each output size is
        ``floor((L + p0 + p1 - dilation*(k - 1) - 1) / stride) + 1``.

    Raises
    ------
    ValueError
        For shapes or arguments that do not fit, naming the argument.
    TypeError
        For complex, object, string or other unsupported dtypes.

    Examples
    --------
{examples}
    """

_CONV_TRANSPOSE_DOC = """{ndim}-D transposed convolution (the adjoint of :func:`conv{ndim}d`).

    Each input value adds value x kernel into the output (scatter-add): the
    transposed convolution is ``C.T`` where ``C`` is the matrix of the
    convolution with the same weight, stride, padding, dilation and groups.

    Parameters
    ----------
    x : array_like, shape (N, C_in, {spatial}) or (C_in, {spatial}){plain_x}
        Input.  Unbatched input gives unbatched output.
    weight : array_like, shape (C_in, C_out / groups, {kernel}){plain_w}
        Kernel, in PyTorch's layout for transposed convolution.
    bias : array_like, shape (C_out,), optional
    stride : int or tuple of {ndim} ints, default 1
    padding : int, tuple of {ndim} ints, tuple of {ndim} (before, after) pairs, \
'valid' or 'same'
        Removed from the output's borders.  'same' gives output =
        input * stride (Keras's rule), the adjoint of the 'same' convolution.
    output_padding : int or tuple of {ndim} ints, default 0
        Extra size on the after-side of the output; must be smaller than
        max(stride, dilation) in every dim.
    groups : int, default 1
    dilation : int or tuple of {ndim} ints, default 1
    method : str, default 'auto'
        One of :data:`fastconv.CONV_TRANSPOSE_METHODS`.
    n_threads : int, optional
        OpenMP threads for the 'direct' and 'scatter' kernels (1 to 1024);
        default OpenMP's.  'gemm' uses BLAS's threads instead.  Results do
        not depend on it.

    Returns
    -------
    ndarray, shape (N, C_out, {out_spatial})
        In the common dtype of the inputs (as for :func:`conv{ndim}d`).  Each
        output size is ``(L - 1)*stride - p0 - p1 + dilation*(k - 1) + 1 +
        output_padding``.

    Raises
    ------
    ValueError
        For shapes or arguments that do not fit, naming the argument.
    TypeError
        For complex, object, string or other unsupported dtypes.

    Examples
    --------
{examples}
    """

_SPATIAL = {1: ("L", "kL", "L_out"), 2: ("H, W", "kH, kW", "H_out, W_out"),
            3: ("D, H, W", "kD, kH, kW", "D_out, H_out, W_out")}

_EXAMPLES = {
    "conv1": """    >>> import numpy as np, fastconv
    >>> fastconv.conv1d(np.arange(5.0)[None, None], np.ones((1, 1, 3)))
    array([[[3., 6., 9.]]])""",
    "conv2": """    >>> import numpy as np, fastconv
    >>> x = np.arange(16).reshape(4, 4)
    >>> fastconv.conv2d(x, np.ones((3, 3), dtype=int))
    array([[45, 54],
           [81, 90]])""",
    "conv3": """    >>> import numpy as np, fastconv
    >>> fastconv.conv3d(np.ones((1, 2, 3, 3, 3)), np.ones((4, 2, 2, 2, 2))).shape
    (1, 4, 2, 2, 2)""",
    "conv_transpose1": """    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose1d(np.array([[[1.0, 2.0]]]), np.ones((1, 1, 3)), stride=2)
    array([[[1., 1., 3., 2., 2.]]])""",
    "conv_transpose2": """    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose2d(np.array([[1, 2], [3, 4]]), np.ones((3, 3), dtype=int))
    array([[ 1,  3,  3,  2],
           [ 4, 10, 10,  6],
           [ 4, 10, 10,  6],
           [ 3,  7,  7,  4]])""",
    "conv_transpose3": """    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose3d(np.ones((2, 4, 4, 4)), np.ones((2, 3, 2, 2, 2)),
    ...                           stride=2).shape
    (3, 8, 8, 8)""",
}


def _documented(template: str, ndim: int, op: str) -> Callable[[_F], _F]:
    """Give a public function its docstring, filled in for ``ndim`` dims."""
    spatial, kernel, out_spatial = _SPATIAL[ndim]
    plain = ndim == 2
    doc = template.format(
        ndim=ndim, spatial=spatial, kernel=kernel, out_spatial=out_spatial,
        plain_x=" or (H, W)" if plain else "",
        plain_w="\n        or (kH, kW) with a 2-D ``x``: a plain matrix in, a plain matrix out"
        if plain else "",
        examples=_EXAMPLES[f"{op}{ndim}"],
    )

    def decorate(fn: _F) -> _F:
        fn.__doc__ = doc
        fn.__module__ = "fastconv"
        return fn
    return decorate


@_documented(_CONV_DOC, 1, "conv")
def conv1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, method: str = "auto",
           n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(_methods.CONV, 1, x, weight, bias,
                (stride, padding, dilation),
                groups, method, n_threads)


@_documented(_CONV_DOC, 2, "conv")
def conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, method: str = "auto",
           n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(_methods.CONV, 2, x, weight, bias,
                (stride, padding, dilation),
                groups, method, n_threads)


@_documented(_CONV_DOC, 3, "conv")
def conv3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, method: str = "auto",
           n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(_methods.CONV, 3, x, weight, bias,
                (stride, padding, dilation),
                groups, method, n_threads)


@_documented(_CONV_TRANSPOSE_DOC, 1, "conv_transpose")
def conv_transpose1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(_methods.CONV_TRANSPOSE, 1, x, weight, bias,
                (stride, padding, output_padding, dilation),
                groups, method, n_threads)


@_documented(_CONV_TRANSPOSE_DOC, 2, "conv_transpose")
def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(_methods.CONV_TRANSPOSE, 2, x, weight, bias,
                (stride, padding, output_padding, dilation),
                groups, method, n_threads)


@_documented(_CONV_TRANSPOSE_DOC, 3, "conv_transpose")
def conv_transpose3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(_methods.CONV_TRANSPOSE, 3, x, weight, bias,
                (stride, padding, output_padding, dilation),
                groups, method, n_threads)
