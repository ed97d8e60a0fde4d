"""Public convolution functions: validate, normalise, plan, run.

Everything a caller can get wrong is checked here (with
:mod:`fastconv._validation`), before any compiled code runs.  The arrays
are then brought to one compute dtype, C order and 5-D (1-D and 2-D as
size-1 leading spatial dims), the geometry is resolved by
:mod:`fastconv._geometry`, :mod:`fastconv._planner` decides once what runs,
and :func:`fastconv._methods.execute` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, SupportsIndex, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _borders, _complex, _geometry, _methods, _planner, _validation
from ._typing import IntOrTuple, Padding
from ._validation import CONV, CONV_TRANSPOSE, SPATIAL_NAMES

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "choose_method",
]

_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------
# one call, checked
# --------------------------------------------------------------------------

# index expressions between the caller's dims and the kernels' 5-D arrays
_TO_5D = {1: (slice(None), slice(None), None, None), 2: (slice(None), slice(None), None)}
_FROM_5D = {1: (slice(None), slice(None), 0, 0), 2: (slice(None), slice(None), 0)}


def to5d(a, ndim):
    """Insert size-1 spatial dims after the two leading axes (a view)."""
    return a if ndim == 3 else a[_TO_5D[ndim]]


def from5d(a, ndim):
    """Drop the size-1 spatial dims :func:`to5d` inserted (a view)."""
    return a if ndim == 3 else a[_FROM_5D[ndim]]


# Resolved geometries by (op, spatial sizes, kernel sizes, arguments): small
# calls spend most of their time resolving the same arguments again.  Only
# arguments made of exact ints and strings are keys, so that an argument
# that merely compares equal to a valid one (1.0 == 1) is still checked.
_GEOMETRY_CACHE: dict[tuple[Any, ...], _geometry.ConvGeometry] = {}
_GEOMETRY_CACHE_SIZE = 512


def _exact(value):
    """Whether ``value`` is an exact int or str, or tuples of them (padding
    pairs included)."""
    kind = type(value)
    return kind is int or kind is str or (kind is tuple and all(map(_exact, value)))


def resolve_geometry(op, input_spatial, kernel_size, geometry_args):
    """The :class:`~fastconv._geometry.ConvGeometry` of a call, cached."""
    key = None
    if all(map(_exact, geometry_args)):
        key = (op, input_spatial, kernel_size) + tuple(geometry_args)
        geom = _GEOMETRY_CACHE.get(key)
        if geom is not None:
            return geom
    if op == CONV:
        geom = _geometry.conv_geometry(input_spatial, kernel_size, *geometry_args)
    else:
        geom = _geometry.conv_transpose_geometry(input_spatial, kernel_size,
                                                 *geometry_args)
    if key is not None:
        if len(_GEOMETRY_CACHE) >= _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = geom
    return geom


#: The public function of each (operation, number of spatial dims).
FUNCTION_NAMES = {(op, ndim): f"{op}{ndim}d"
                  for op in (CONV, CONV_TRANSPOSE) for ndim in (1, 2, 3)}


class Signature(NamedTuple):
    """What the checks of a call conclude from its shapes, dtypes and
    arguments alone (so it is cached by them): the compute and result
    dtypes, the geometry, and the 5-D shapes the kernels see."""

    name: str
    op: str
    ndim: int
    compute: np.dtype[Any]
    result: np.dtype[Any]
    geom: _geometry.ConvGeometry
    groups: int
    x_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    plain: bool
    unbatched: bool


class Call(NamedTuple):
    """One checked call: its :class:`Signature`, the 5-D C-contiguous arrays
    in the compute dtype, and the thread count."""

    signature: Signature
    x: NDArray[Any]
    weight: NDArray[Any]
    bias: NDArray[Any] | None
    n_threads: int

    @property
    def geom(self):
        return self.signature.geom

    @property
    def groups(self):
        return self.signature.groups

    def finish(self, out):
        """``out`` (5-D, compute dtype) with the bias, in the caller's layout
        and dtype."""
        sig = self.signature
        if self.bias is not None:
            out += self.bias.reshape(1, -1, 1, 1, 1)
        if sig.plain:
            out = out[0, 0, 0]
        else:
            out = from5d(out, sig.ndim)
            if sig.unbatched:
                out = out[0]
        return out if sig.result == out.dtype else out.astype(sig.result)


def _layout(name, ndim, x, weight):
    """(x, weight, plain, unbatched): batched with channels, whatever the
    caller's form (batched, unbatched, or the plain 2-D matrix and kernel
    of the classic explanation)."""
    plain = ndim == 2 and x.ndim == 2 and weight.ndim == 2
    if plain:
        return x[None, None], weight[None, None], True, False
    if weight.ndim != ndim + 2:
        if ndim == 2 and weight.ndim == 2:
            raise ValueError(
                f"{name}: a 2-D weight (kH, kW) is a plain-matrix kernel and needs a "
                f"plain 2-D x (H, W), but x has shape {x.shape}; for channels use "
                f"weight of shape (C_out, C_in/groups, kH, kW), e.g. weight[None, None] "
                f"for one input and one output channel"
            )
        raise ValueError(
            f"{name}: weight must be {ndim + 2}-D, got shape {weight.shape}"
        )
    unbatched = x.ndim == ndim + 1
    if x.ndim != ndim + 2 and not unbatched:
        raise ValueError(
            f"{name}: x must be {ndim + 1}-D (unbatched) or {ndim + 2}-D (batched)"
            + (" or 2-D with a 2-D kernel" if ndim == 2 else "")
            + f", got shape {x.shape}"
        )
    return (x[None] if unbatched else x), weight, False, unbatched


def check_signature(op, ndim, x, weight, bias, geometry_args, groups, method, name=None):
    """Every check that depends on shapes, dtypes and arguments alone; errors
    name ``name`` (default: the public function of ``op`` and ``ndim``)."""
    name = name or FUNCTION_NAMES[op, ndim]
    compute, result = _validation.call_dtypes(x, weight, bias)
    x, weight, plain, unbatched = _layout(name, ndim, x, weight)
    groups, c_out = _validation.check_channels(op, name, x.shape, weight.shape, groups)
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"{name}: bias must have shape ({c_out},), got {bias.shape}")
    geom = resolve_geometry(op, x.shape[2:], weight.shape[2:], geometry_args)
    out_spatial = geom.output_spatial if op == CONV else geom.input_spatial
    _validation.check_array_size(name, "output", (x.shape[0], c_out) + out_spatial,
                                 compute.itemsize)
    _methods.check_method(name, op, method, compute)
    return Signature(name, op, ndim, compute, result, geom, groups,
                     to5d(x, ndim).shape, to5d(weight, ndim).shape, plain, unbatched)


# Signatures by call signature: small calls spend most of their time
# checking the same shapes and arguments again.  Only calls whose arguments
# are exact ints and strings are keys (see _exact).
_SIGNATURES: dict[tuple[Any, ...], Signature] = {}
_SIGNATURES_SIZE = 512


def as_kernel_array(a, dtype, shape):
    """``a`` C-contiguous, aligned and in ``dtype`` with the 5-D ``shape``: a
    view when it already is, a copy otherwise (the kernels load whole
    values, so a misaligned buffer is copied too)."""
    flags = a.flags
    if a.dtype is not dtype or not (flags.c_contiguous and flags.aligned):
        a = np.require(a, dtype=dtype, requirements=("C", "A"))
    return a.reshape(shape)


def check_call(op, ndim, x, weight, bias, geometry_args, groups, method, n_threads):
    """Check and normalise one call of a public function into a
    :class:`Call`; ``geometry_args`` are the geometry arguments in the order
    of :func:`~fastconv._geometry.conv_geometry` (or of
    :func:`~fastconv._geometry.conv_transpose_geometry`) after the sizes."""
    x = np.asarray(x)
    weight = np.asarray(weight)
    bias = None if bias is None else np.asarray(bias)
    key = None
    if type(groups) is int and type(method) is str and all(map(_exact, geometry_args)):
        key = (op, ndim, x.shape, x.dtype, weight.shape, weight.dtype,
               None if bias is None else (bias.shape, bias.dtype), geometry_args,
               groups, method)
        sig = _SIGNATURES.get(key)
    if key is None or sig is None:
        sig = check_signature(op, ndim, x, weight, bias, geometry_args, groups, method)
        if key is not None:
            if len(_SIGNATURES) >= _SIGNATURES_SIZE:
                _SIGNATURES.clear()
            _SIGNATURES[key] = sig
    threads = _validation.resolve_threads(n_threads)
    compute = sig.compute
    x = as_kernel_array(x, compute, sig.x_shape)
    weight = as_kernel_array(weight, compute, sig.weight_shape)
    if bias is not None:
        bias = bias.astype(compute, copy=False)
    if compute.kind == "i":
        terms = sig.x_shape[1] // sig.groups * sig.geom.n_taps
        _validation.check_exact_range(sig.name, x, weight, bias, terms)
    return Call(sig, x, weight, bias, threads)


def _run(op, ndim, x, weight, bias, geometry_args, groups, method, n_threads,
         padding_mode="zeros"):
    """Shared body of the six public functions."""
    call = check_call(op, ndim, x, weight, bias, geometry_args, groups, method,
                      n_threads)
    if padding_mode != "zeros":
        _borders.check_mode(call.signature.name, padding_mode, call.geom)

    def run(x, weight):
        return execute(op, call.geom, call.groups, call.n_threads, x, weight, method,
                       padding_mode)

    if call.signature.compute.kind == "c":
        return call.finish(_complex.product(run, call.x, call.weight))
    return call.finish(run(call.x, call.weight))


def execute(op, geom, groups, n_threads, x, weight, method="auto", padding_mode="zeros"):
    """Operation ``op`` of geometry ``geom`` on checked, real 5-D arrays.
    With a padding mode other than zeros: the convolution of the padded
    input, or the transposed convolution into the padded size folded back
    onto the input positions (its adjoint; see _borders).  The planner says
    whether the path reads the border in place; otherwise it runs on a
    padded copy (a padded output, for a transposed convolution)."""
    plan = _planner.plan(op, x, weight, geom, groups, method, n_threads, padding_mode)
    if plan.padding_mode == padding_mode:   # zeros, or the border read in place
        return _methods.execute(plan, x, weight)
    inner = plan.geom
    # samples a few at a time, so that the padded copy (or the transposed
    # convolution's padded output) stays within padded_copy_bytes
    padded = math.prod(inner.input_spatial) * max(x.shape[1], weight.shape[1] * groups)
    step = max(1, _planner.THRESHOLDS["padded_copy_bytes"] // max(1, padded * x.itemsize))
    parts = []
    for start in range(0, max(x.shape[0], 1), step):
        part = x[start:start + step]
        if op == CONV:
            part = _borders.pad(part, geom, padding_mode)
        if len(part) != len(x):
            plan = _planner.plan(op, part, weight, inner, groups, method, n_threads)
        out = _methods.execute(plan, part, weight)
        parts.append(out if op == CONV else _borders.fold(out, geom, padding_mode))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# --------------------------------------------------------------------------
# choosing a method
# --------------------------------------------------------------------------

_BY_NAME = {name: key for key, name in FUNCTION_NAMES.items()}


def choose_method(function: str | Callable[..., Any], x: ArrayLike, weight: ArrayLike,
                  *, measure: bool = False, **kwargs: Any
                  ) -> str | tuple[str, dict[str, float]]:
    """The method ``method='auto'`` runs for a call, or the fastest one.

    In the spirit of :func:`scipy.signal.choose_conv_method`.

    Parameters
    ----------
    function : str or callable
        The public function, or its name: 'conv1d' ... 'conv_transpose3d'.
    x, weight : array_like
        The call's arrays, as for that function.
    measure : bool, default False
        False: return the name the rule of ``method='auto'`` picks (see
        docs/performance.rst).  True: time every method that computes these
        dtypes on these arrays (best of 3 calls each) and return the
        fastest, with the timings.
    **kwargs
        The function's other arguments: bias, stride, padding, dilation,
        groups, output_padding, n_threads.

    Returns
    -------
    str, or (str, dict of str to float) with ``measure=True``
        The method name; with ``measure=True`` also seconds per call for
        every method timed.

    Raises
    ------
    ValueError, TypeError
        For an unknown function, or arguments the function would refuse.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> fastconv.choose_method("conv2d", np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3)))
    'direct'
    >>> name, timings = fastconv.choose_method(
    ...     "conv_transpose2d", np.ones((2, 4, 8, 8)), np.ones((4, 4, 4, 4)),
    ...     stride=2, padding=1, measure=True)
    >>> name in timings and name in fastconv.CONV_TRANSPOSE_METHODS
    True
    """
    key = _BY_NAME.get(getattr(function, "__name__", function))  # type: ignore[arg-type]
    if key is None:
        raise ValueError(f"choose_method: function must be one of {sorted(_BY_NAME)}, "
                         f"got {function!r}")
    op, ndim = key
    known = {"bias", "stride", "padding", "dilation", "groups", "n_threads"}
    if op == CONV_TRANSPOSE:
        known.add("output_padding")
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError(f"choose_method: {FUNCTION_NAMES[key]} takes no argument(s) "
                        f"{sorted(unknown)}")
    geometry_args: tuple[Any, ...] = (kwargs.get("stride", 1), kwargs.get("padding", 0))
    if op == CONV_TRANSPOSE:
        geometry_args += (kwargs.get("output_padding", 0),)
    geometry_args += (kwargs.get("dilation", 1),)
    call = check_call(op, ndim, x, weight, kwargs.get("bias"), geometry_args,
                      kwargs.get("groups", 1), "auto", kwargs.get("n_threads"))
    if not measure:
        return _planner.auto_rule(op, call.x.shape, call.weight, call.x.dtype, call.geom,
                                  call.groups)
    timings = _planner.measure(op, call.x, call.weight, call.geom, call.groups,
                               call.n_threads)
    return min(timings, key=timings.__getitem__), timings


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

_CONV_DOC = """{ndim}-D convolution (cross-correlation, as in PyTorch).

    Parameters
    ----------
    x : array_like, shape (N, C_in, {spatial}) or (C_in, {spatial}){plain_x}
        Input.  Unbatched input gives unbatched output.
    weight : array_like, shape (C_out, C_in / groups, {kernel})
        Kernel{plain_w}.
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
    padding_mode : {{'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}}
        What the padding holds (PyTorch's names; 'symmetric' repeats the
        edge, as NumPy's): see the user guide's "Padding modes".
    method : str, default 'auto'
        One of :data:`fastconv.CONV_METHODS`.
    n_threads : int, optional
        OpenMP threads for the 'direct' kernel (1 to 1024); default
        OpenMP's (``OMP_NUM_THREADS``, ``threadpoolctl`` limits).  'gemm'
        uses BLAS's threads instead.  Results do not depend on it.

    Returns
    -------
    ndarray, shape (N, C_out, {out_spatial}) or (C_out, {out_spatial})
        Batched or unbatched as ``x`` is; :func:`conv2d` also takes a plain
        (H, W) matrix and (kH, kW) kernel and returns a plain (out_H, out_W)
        matrix.  In the common dtype of ``x``, ``weight`` and ``bias``; integer and
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
    weight : array_like, shape (C_in, C_out / groups, {kernel})
        Kernel, in PyTorch's layout for transposed convolution{plain_w}.
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
    padding_mode : {{'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}}
        The adjoint of the convolution with that mode: output values that
        land on the padding are added onto the positions the padding copies.
    method : str, default 'auto'
        One of :data:`fastconv.CONV_TRANSPOSE_METHODS`.
    n_threads : int, optional
        OpenMP threads for the 'direct' and 'scatter' kernels (1 to 1024);
        default OpenMP's.  'gemm' uses BLAS's threads instead.  Results do
        not depend on it.

    Returns
    -------
    ndarray, shape (N, C_out, {out_spatial}) or (C_out, {out_spatial})
        Batched or unbatched as ``x`` is; :func:`conv_transpose2d` also
        takes a plain (H, W) matrix and (kH, kW) kernel and returns a plain
        (out_H, out_W) matrix.  In the common dtype of the inputs (as for
        :func:`conv{ndim}d`).  Each
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


_EXAMPLES = {
    "conv1": """    >>> import numpy as np, fastconv
    >>> fastconv.conv1d(np.arange(5.0)[None, None], np.ones((1, 1, 3)))
    array([[[3., 6., 9.]]])""",
    "conv2": """    A plain (H, W) matrix and a plain (kH, kW) kernel give a plain
    (out_H, out_W) matrix:

    >>> import numpy as np, fastconv
    >>> x = np.arange(16).reshape(4, 4)
    >>> fastconv.conv2d(x, np.ones((3, 3), dtype=int))
    array([[45, 54],
           [81, 90]])

    Batched, channels first:

    >>> fastconv.conv2d(np.ones((8, 3, 32, 32)), np.ones((16, 3, 3, 3)),
    ...                 stride=2, padding=1).shape
    (8, 16, 16, 16)""",
    "conv3": """    >>> import numpy as np, fastconv
    >>> fastconv.conv3d(np.ones((1, 2, 3, 3, 3)), np.ones((4, 2, 2, 2, 2))).shape
    (1, 4, 2, 2, 2)""",
    "conv_transpose1": """    >>> import numpy as np, fastconv
    >>> fastconv.conv_transpose1d(np.array([[[1.0, 2.0]]]), np.ones((1, 1, 3)), stride=2)
    array([[[1., 1., 3., 2., 2.]]])""",
    "conv_transpose2": """    A plain (H, W) matrix and a plain (kH, kW) kernel give a plain
    (out_H, out_W) matrix:

    >>> import numpy as np, fastconv
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
    spatial, kernel, out_spatial = SPATIAL_NAMES[ndim]
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
           groups: SupportsIndex = 1, *, padding_mode: str = "zeros",
           method: str = "auto", n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(CONV, 1, x, weight, bias, (stride, padding, dilation), groups, method,
                n_threads, padding_mode)


@_documented(_CONV_DOC, 2, "conv")
def conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, padding_mode: str = "zeros",
           method: str = "auto", n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(CONV, 2, x, weight, bias, (stride, padding, dilation), groups, method,
                n_threads, padding_mode)


@_documented(_CONV_DOC, 3, "conv")
def conv3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, padding_mode: str = "zeros",
           method: str = "auto", n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(CONV, 3, x, weight, bias, (stride, padding, dilation), groups, method,
                n_threads, padding_mode)


@_documented(_CONV_TRANSPOSE_DOC, 1, "conv_transpose")
def conv_transpose1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, padding_mode: str = "zeros",
                     method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(CONV_TRANSPOSE, 1, x, weight, bias,
                (stride, padding, output_padding, dilation), groups, method, n_threads,
                padding_mode)


@_documented(_CONV_TRANSPOSE_DOC, 2, "conv_transpose")
def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, padding_mode: str = "zeros",
                     method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(CONV_TRANSPOSE, 2, x, weight, bias,
                (stride, padding, output_padding, dilation), groups, method, n_threads,
                padding_mode)


@_documented(_CONV_TRANSPOSE_DOC, 3, "conv_transpose")
def conv_transpose3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, padding_mode: str = "zeros",
                     method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> NDArray[Any]:
    return _run(CONV_TRANSPOSE, 3, x, weight, bias,
                (stride, padding, output_padding, dilation), groups, method, n_threads,
                padding_mode)
