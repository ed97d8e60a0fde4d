"""Gradients of convolution and transposed convolution.

With PyTorch's names and argument order where PyTorch has them
(``torch.nn.grad.conv2d_input`` / ``conv2d_weight``), and the same pair for
the transposed convolution, which PyTorch lacks:

- ``conv{1,2,3}d_input(input_size, weight, grad_output, ...)``: the
  gradient with respect to the input.  The input gradient of a convolution
  is the transposed convolution of its output gradient, and vice versa:
  each runs the other operation's planned kernels.
- ``conv{1,2,3}d_weight(input, weight_size, grad_output, ...)``: the
  gradient with respect to the weight, ``per_sample=True`` for one per
  sample without a loop over samples.
- ``conv_transpose{1,2,3}d_input`` / ``conv_transpose{1,2,3}d_weight``.
- ``conv_bias(grad_output)``: the bias gradient.
- ``conv{1,2,3}d_backward`` / ``conv_transpose{1,2,3}d_backward``: the
  gradients asked for, in one call.

Every padding form, dilation, groups, output_padding, unbatched and
plain-matrix inputs are taken as the forward functions take them; integers
are exact (int64), as in the forward pass.  As matrices, with the
convolution ``y = C @ x``: ``conv_input(g) = C.T @ g``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, SupportsIndex, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _api, _complex, _methods, _planner, _validation
from ._typing import IntOrTuple, Padding
from ._validation import CONV, CONV_TRANSPOSE, CONV_WEIGHT, SPATIAL_NAMES

__all__ = [
    "conv1d_input", "conv2d_input", "conv3d_input",
    "conv1d_weight", "conv2d_weight", "conv3d_weight",
    "conv_transpose1d_input", "conv_transpose2d_input", "conv_transpose3d_input",
    "conv_transpose1d_weight", "conv_transpose2d_weight", "conv_transpose3d_weight",
    "conv_bias",
    "conv1d_backward", "conv2d_backward", "conv3d_backward",
    "conv_transpose1d_backward", "conv_transpose2d_backward",
    "conv_transpose3d_backward",
    "Gradients",
]


_F = TypeVar("_F", bound=Callable[..., Any])


class Gradients(NamedTuple):
    """The gradients a ``*_backward`` call returns; None where not asked."""

    input: NDArray[Any] | None
    weight: NDArray[Any] | None
    bias: NDArray[Any] | None


# --------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------

def _as_shape(name, what, size):
    if isinstance(size, np.ndarray) or not isinstance(size, (tuple, list)):
        raise TypeError(f"{name}: {what} must be a tuple of ints (a shape, such as "
                        f"x.shape), got {type(size).__name__}")
    return tuple(_validation.as_int(v, what) for v in size)


def _input_shape(name, op, ndim, input_size, weight, grad_output, groups):
    """``input_size`` as the full shape the forward call's x had: given in
    full, unbatched, plain (H, W), or as its spatial sizes alone (batch and
    channels then come from ``grad_output`` and ``weight``)."""
    size = _as_shape(name, "input_size", input_size)
    plain = ndim == 2 and weight.ndim == 2
    if plain or len(size) in (ndim + 1, ndim + 2):
        return size
    if len(size) != ndim:
        raise ValueError(
            f"{name}: input_size must be (N, C_in, {SPATIAL_NAMES[ndim][0]}), "
            f"(C_in, {SPATIAL_NAMES[ndim][0]}) or ({SPATIAL_NAMES[ndim][0]}), got {size}")
    if type(groups) is not int:
        groups = _validation.as_int(groups, "groups")
    c_in = weight.shape[1] * groups if op == CONV else weight.shape[0]
    if grad_output.ndim == ndim + 1:
        return (c_in,) + size
    return (grad_output.shape[0], c_in) + size


def _forward_output_shape(sig):
    """The shape, in the caller's layout, of the forward call's output."""
    geom = sig.geom
    if sig.op == CONV:
        channels, spatial = sig.weight_shape[0], geom.output_spatial
    else:
        channels, spatial = sig.weight_shape[1] * sig.groups, geom.input_spatial
    spatial = geom.spatial(spatial)
    if sig.plain:
        return spatial
    return ((channels,) if sig.unbatched else (sig.x_shape[0], channels)) + spatial


def _output_gradient(name, sig, grad_output, compute):
    """``grad_output`` checked against the forward output's shape, as a 5-D
    C-contiguous array in the compute dtype."""
    expected = _forward_output_shape(sig)
    if grad_output.shape != expected:
        forward = _api.FUNCTION_NAMES[sig.op, sig.ndim]
        raise ValueError(
            f"{name}: grad_output must have the shape of {forward}'s output, "
            f"{expected}, got {grad_output.shape}")
    geom = sig.geom
    if sig.op == CONV:
        shape = (sig.x_shape[0], sig.weight_shape[0]) + geom.output_spatial
    else:
        shape = (sig.x_shape[0], sig.weight_shape[1] * sig.groups) + geom.input_spatial
    return _api.as_kernel_array(grad_output, compute, shape)


def _size_like(shape, dtype):
    """A read-only array of ``shape`` that takes no memory, for the checks
    that need an array of the forward call's shape."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


# --------------------------------------------------------------------------
# the gradients
# --------------------------------------------------------------------------

def _input_gradient(op, ndim, input_size, weight, grad_output, geometry_args, groups,
                    method, n_threads, name=None):
    """Gradient with respect to the forward call's input; ``name``, the
    function called, in the error messages."""
    name = name or f"{op}{ndim}d_input"
    weight, grad_output = np.asarray(weight), np.asarray(grad_output)
    compute, result = _validation.dtypes({"weight": weight, "grad_output": grad_output})
    shape = _input_shape(name, op, ndim, input_size, weight, grad_output, groups)
    sig = _api.check_signature(op, ndim, _size_like(shape, compute), weight, None,
                               geometry_args, groups, "auto", name=name)
    # the input gradient of a convolution is the transposed convolution of its
    # output gradient, and vice versa, on the same geometry
    other = CONV_TRANSPOSE if op == CONV else CONV
    _methods.check_method(name, other, method, compute)
    grad = _output_gradient(name, sig, grad_output, compute)
    w = _api.as_kernel_array(weight, compute, sig.weight_shape)
    if compute.kind == "i":
        per_output = sig.weight_shape[0] // sig.groups if op == CONV else sig.weight_shape[1]
        _validation.check_exact_range(name, grad, w, None, per_output * sig.geom.n_taps)
    threads = _validation.resolve_threads(n_threads)

    def run(g, kernel):
        return _api.execute(other, sig.geom, sig.groups, threads, g, kernel, method)

    # complex: the gradient with respect to the conjugate input, as PyTorch
    # defines it, is the adjoint's: the weight conjugated
    out = (_complex.product(run, grad, w.conj()) if compute.kind == "c"
           else run(grad, w))
    return _api.Call(sig._replace(result=result), grad, w, None, threads).finish(out)


def _weight_shape(name, ndim, weight_size, x):
    size = _as_shape(name, "weight_size", weight_size)
    if len(size) == ndim + 2 or (ndim == 2 and len(size) == 2 and x.ndim == 2):
        return size
    raise ValueError(
        f"{name}: weight_size must be the weight's whole shape, ({ndim + 2} ints"
        + (", or (kH, kW) with a plain 2-D input" if ndim == 2 else "")
        + f"), got {size}")


def _weight_gradient(op, ndim, x, weight_size, grad_output, geometry_args, groups,
                     method, n_threads, per_sample, name=None):
    """Gradient with respect to the forward call's weight; ``name``, the
    function called, in the error messages."""
    name = name or f"{op}{ndim}d_weight"
    x, grad_output = np.asarray(x), np.asarray(grad_output)
    compute, result = _validation.dtypes({"input": x, "grad_output": grad_output})
    shape = _weight_shape(name, ndim, weight_size, x)
    sig = _api.check_signature(op, ndim, x, _size_like(shape, compute), None,
                               geometry_args, groups, "auto", name=name)
    if per_sample and (sig.plain or sig.unbatched):
        raise ValueError(f"{name}: per_sample=True needs a batched input (N, C_in, ...)")
    _methods.check_method(name, CONV_WEIGHT, method, compute)
    grad = _output_gradient(name, sig, grad_output, compute)
    x5 = _api.as_kernel_array(x, compute, sig.x_shape)
    # a convolution's weight gradient reads its input and output gradient; a
    # transposed convolution's is that of its adjoint, whose input is the
    # output gradient and whose output gradient is the input
    conv_in, conv_grad = (x5, grad) if op == CONV else (grad, x5)
    if compute.kind == "i":
        terms = conv_grad.shape[0] * int(np.prod(conv_grad.shape[2:]))
        _validation.check_exact_range(name, conv_in, conv_grad, None, terms)
    threads = _validation.resolve_threads(n_threads)

    def run(a, b):
        plan = _planner.weight_gradient_plan(a, b, sig.geom, sig.groups, method, threads,
                                             per_sample)
        return _methods.execute(plan, a, b)

    if compute.kind == "c":   # as PyTorch: with respect to the conjugate weight
        dw = (_complex.product(run, conv_in.conj(), conv_grad) if op == CONV
              else _complex.product(run, conv_in, conv_grad.conj()))
    else:
        dw = run(conv_in, conv_grad)
    out = dw.reshape(((sig.x_shape[0],) if per_sample else ()) + shape)
    return out if out.dtype == result else out.astype(result)


def conv_bias(grad_output: ArrayLike, *, unbatched: bool = False) -> NDArray[Any]:
    """Gradient with respect to the bias: ``grad_output`` summed over every
    axis but the channel axis.

    Parameters
    ----------
    grad_output : array_like, shape (N, C_out, *spatial), or (C_out, *spatial) with ``unbatched``
        Gradient of the forward output (convolution or transposed convolution).
    unbatched : bool, default False
        Whether the forward call was unbatched (channels first).

    Returns
    -------
    ndarray, shape (C_out,)
        int64 for integer input (exact), else the input's float dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import grad
    >>> grad.conv_bias(np.ones((2, 3, 4, 4)))
    array([32., 32., 32.])
    """
    g = np.asarray(grad_output)
    compute, result = _validation.dtypes({"grad_output": g})
    axis = 0 if unbatched else 1
    if g.ndim < axis + 1:
        raise ValueError(f"conv_bias: grad_output must have a channel axis, got shape "
                         f"{g.shape}")
    axes = tuple(i for i in range(g.ndim) if i != axis)
    out = g.sum(axis=axes, dtype=compute)
    return out if out.dtype == result else out.astype(result)


def _backward(op, ndim, x, weight, grad_output, geometry_args, groups, need, method,
              n_threads):
    """The gradients in ``need`` of one forward call."""
    name = f"{op}{ndim}d_backward"
    unknown = set(need) - {"input", "weight", "bias"}
    if unknown or isinstance(need, str):
        raise ValueError(f"{name}: need must hold 'input', 'weight' and/or 'bias', "
                         f"got {need!r}")
    x, weight = np.asarray(x), np.asarray(weight)
    grad_x = grad_w = grad_b = None
    if "input" in need:
        grad_x = _input_gradient(op, ndim, x.shape, weight, grad_output, geometry_args,
                                 groups, method, n_threads, name)
    if "weight" in need:
        grad_w = _weight_gradient(op, ndim, x, weight.shape, grad_output, geometry_args,
                                  groups, "auto" if method not in ("direct", "gemm")
                                  else method, n_threads, False, name)
    if "bias" in need:
        if x.ndim == ndim:   # the plain matrix: one channel
            grad_b = conv_bias(np.asarray(grad_output)[None], unbatched=True)
        else:
            grad_b = conv_bias(grad_output, unbatched=x.ndim == ndim + 1)
    return Gradients(grad_x, grad_w, grad_b)


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

_INPUT_DOC = """Gradient of :func:`fastconv.{forward}` with respect to its input.

    Parameters
    ----------
    input_size : tuple of ints
        The forward input's shape: (N, C_in, {spatial}), unbatched
        (C_in, {spatial}), or its spatial sizes ({spatial}) alone, batch and
        channels then taken from ``grad_output`` and ``weight``.
    weight : array_like, shape {weight_shape}
        The forward call's weight.
    grad_output : array_like, shape of the forward output
        Gradient of the loss with respect to the forward output.
    {args}
    method : str, default 'auto'
        A method of :func:`fastconv.{other}`, which computes this gradient.
    n_threads : int, optional
        As for the forward functions.

    Returns
    -------
    ndarray, shape ``input_size``
        ``{other}`` of ``grad_output`` (the adjoint): the gradient with
        respect to the input, in the common dtype (int64 exact for integers).

    Raises
    ------
    ValueError
        When ``grad_output`` does not have the forward output's shape (the
        message gives it), or for arguments the forward function refuses.

    Examples
    --------
{example}
    """

_WEIGHT_DOC = """Gradient of :func:`fastconv.{forward}` with respect to its weight.

    Parameters
    ----------
    input : array_like, shape (N, C_in, {spatial}) or unbatched
        The forward call's input.
    weight_size : tuple of ints
        The weight's shape, {weight_shape}.
    grad_output : array_like, shape of the forward output
        Gradient of the loss with respect to the forward output.
    {args}
    method : {{'auto', 'gemm', 'direct'}}
        'gemm': columns x GEMM (float only); 'direct': for floats with
        enough channels a channel-blocked kernel, otherwise the row kernel,
        exact for integers; 'auto': 'direct' for integers and for the
        float calls its channel-blocked kernel runs faster, else 'gemm'.
    n_threads : int, optional
        Threads of the 'direct' kernels; results do not depend on it.
    per_sample : bool, default False
        One gradient per sample, shape (N, *weight_size), from the same
        pass (their sum is the default result).

    Returns
    -------
    ndarray, shape ``weight_size`` or (N, *weight_size)
        In the common dtype of ``input`` and ``grad_output`` (int64 exact
        for integers).

    Raises
    ------
    ValueError
        When ``grad_output`` does not have the forward output's shape, or
        for arguments the forward function refuses.

    Examples
    --------
{example}
    """

_BACKWARD_DOC = """All gradients of :func:`fastconv.{forward}` asked for, in one call
    (as ATen's ``convolution_backward``).

    Parameters
    ----------
    x : array_like
        The forward call's input.
    weight : array_like, shape {weight_shape}
    grad_output : array_like, shape of the forward output
    {args}
    need : tuple of str, default ('input', 'weight', 'bias')
        Which gradients to compute.
    method : str, default 'auto'
        The method of the input gradient (see ``{name}_input``); the weight
        gradient uses it when it is 'gemm' or 'direct', else 'auto'.
    n_threads : int, optional

    Returns
    -------
    Gradients
        ``(input, weight, bias)``, each None when not in ``need``.

    Examples
    --------
{example}
    """

_CONV_ARGS = """stride, padding, dilation, groups
        As for :func:`fastconv.{forward}`."""
_TRANSPOSE_ARGS = """stride, padding, output_padding, groups, dilation
        As for :func:`fastconv.{forward}`."""

_EXAMPLES = {
    (CONV, "input"): """    >>> import numpy as np
    >>> from fastconv import grad
    >>> g = grad.{forward}_input((1, 1) + (4,) * {nd}, np.ones((1, 1) + (3,) * {nd}),
    ...                     np.ones((1, 1) + (2,) * {nd}))
    >>> g.shape == (1, 1) + (4,) * {nd}, float(g.sum()) == 6.0 ** {nd}
    (True, True)""",
    (CONV_TRANSPOSE, "input"): """    >>> import numpy as np
    >>> from fastconv import grad
    >>> g = grad.{forward}_input((1, 1) + (2,) * {nd}, np.ones((1, 1) + (3,) * {nd}),
    ...                           np.ones((1, 1) + (4,) * {nd}))
    >>> g.shape == (1, 1) + (2,) * {nd}, float(g.max()) == 3.0 ** {nd}
    (True, True)""",
    (CONV, "weight"): """    >>> import numpy as np
    >>> from fastconv import grad
    >>> x = np.ones((2, 3) + (5,) * {nd})
    >>> dw = grad.{forward}_weight(x, (4, 3) + (3,) * {nd}, np.ones((2, 4) + (3,) * {nd}))
    >>> dw.shape == (4, 3) + (3,) * {nd}, float(dw.max()) == 2 * 3.0 ** {nd}
    (True, True)""",
    (CONV_TRANSPOSE, "weight"): """    >>> import numpy as np
    >>> from fastconv import grad
    >>> x = np.ones((2, 3) + (3,) * {nd})
    >>> dw = grad.{forward}_weight(x, (3, 4) + (3,) * {nd}, np.ones((2, 4) + (5,) * {nd}))
    >>> dw.shape == (3, 4) + (3,) * {nd}, float(dw.max()) == 2 * 3.0 ** {nd}
    (True, True)""",
    (CONV, "backward"): """    >>> import numpy as np
    >>> from fastconv import grad
    >>> x, w = np.ones((2, 3) + (5,) * {nd}), np.ones((4, 3) + (3,) * {nd})
    >>> g = grad.{forward}_backward(x, w, np.ones((2, 4) + (3,) * {nd}))
    >>> g.input.shape == x.shape, g.weight.shape == w.shape, g.bias.shape
    (True, True, (4,))""",
    (CONV_TRANSPOSE, "backward"): """    >>> import numpy as np
    >>> from fastconv import grad
    >>> x, w = np.ones((2, 3) + (3,) * {nd}), np.ones((3, 4) + (3,) * {nd})
    >>> g = grad.{forward}_backward(x, w, np.ones((2, 4) + (5,) * {nd}))
    >>> g.input.shape == x.shape, g.weight.shape == w.shape, g.bias.shape
    (True, True, (4,))""",
}


def _documented(template, op, ndim, kind):
    """Give a public gradient function its docstring, name and module."""
    forward = f"{op}{ndim}d"
    other = f"{'conv_transpose' if op == CONV else 'conv'}{ndim}d"
    spatial, kernel, _ = SPATIAL_NAMES[ndim]
    weight_shape = (f"(C_out, C_in/groups, {kernel})" if op == CONV
                    else f"(C_in, C_out/groups, {kernel})")
    args = (_CONV_ARGS if op == CONV else _TRANSPOSE_ARGS).format(forward=forward)
    doc = template.format(forward=forward, other=other, spatial=spatial,
                          weight_shape=weight_shape, args=args, name=forward,
                          example=_EXAMPLES[op, kind].format(nd=ndim, forward=forward))

    def decorate(fn: _F) -> _F:
        fn.__doc__ = doc
        fn.__module__ = __name__
        return fn
    return decorate


Array = NDArray[Any]
Size = Sequence[SupportsIndex]


@_documented(_INPUT_DOC, CONV, 1, "input")
def conv1d_input(input_size: Size, weight: ArrayLike, grad_output: ArrayLike,
                 stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                 groups: SupportsIndex = 1, *, method: str = "auto",
                 n_threads: SupportsIndex | None = None) -> Array:
    return _input_gradient(CONV, 1, input_size, weight, grad_output,
                           (stride, padding, dilation), groups, method, n_threads)


@_documented(_INPUT_DOC, CONV, 2, "input")
def conv2d_input(input_size: Size, weight: ArrayLike, grad_output: ArrayLike,
                 stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                 groups: SupportsIndex = 1, *, method: str = "auto",
                 n_threads: SupportsIndex | None = None) -> Array:
    return _input_gradient(CONV, 2, input_size, weight, grad_output,
                           (stride, padding, dilation), groups, method, n_threads)


@_documented(_INPUT_DOC, CONV, 3, "input")
def conv3d_input(input_size: Size, weight: ArrayLike, grad_output: ArrayLike,
                 stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                 groups: SupportsIndex = 1, *, method: str = "auto",
                 n_threads: SupportsIndex | None = None) -> Array:
    return _input_gradient(CONV, 3, input_size, weight, grad_output,
                           (stride, padding, dilation), groups, method, n_threads)


@_documented(_WEIGHT_DOC, CONV, 1, "weight")
def conv1d_weight(input: ArrayLike, weight_size: Size, grad_output: ArrayLike,
                  stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                  groups: SupportsIndex = 1, *, method: str = "auto",
                  n_threads: SupportsIndex | None = None, per_sample: bool = False) -> Array:
    return _weight_gradient(CONV, 1, input, weight_size, grad_output,
                            (stride, padding, dilation), groups, method, n_threads,
                            per_sample)


@_documented(_WEIGHT_DOC, CONV, 2, "weight")
def conv2d_weight(input: ArrayLike, weight_size: Size, grad_output: ArrayLike,
                  stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                  groups: SupportsIndex = 1, *, method: str = "auto",
                  n_threads: SupportsIndex | None = None, per_sample: bool = False) -> Array:
    return _weight_gradient(CONV, 2, input, weight_size, grad_output,
                            (stride, padding, dilation), groups, method, n_threads,
                            per_sample)


@_documented(_WEIGHT_DOC, CONV, 3, "weight")
def conv3d_weight(input: ArrayLike, weight_size: Size, grad_output: ArrayLike,
                  stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                  groups: SupportsIndex = 1, *, method: str = "auto",
                  n_threads: SupportsIndex | None = None, per_sample: bool = False) -> Array:
    return _weight_gradient(CONV, 3, input, weight_size, grad_output,
                            (stride, padding, dilation), groups, method, n_threads,
                            per_sample)


@_documented(_INPUT_DOC, CONV_TRANSPOSE, 1, "input")
def conv_transpose1d_input(input_size: Size, weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0,
                           output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                           dilation: IntOrTuple = 1, *, method: str = "auto",
                           n_threads: SupportsIndex | None = None) -> Array:
    return _input_gradient(CONV_TRANSPOSE, 1, input_size, weight, grad_output,
                           (stride, padding, output_padding, dilation), groups, method,
                           n_threads)


@_documented(_INPUT_DOC, CONV_TRANSPOSE, 2, "input")
def conv_transpose2d_input(input_size: Size, weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0,
                           output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                           dilation: IntOrTuple = 1, *, method: str = "auto",
                           n_threads: SupportsIndex | None = None) -> Array:
    return _input_gradient(CONV_TRANSPOSE, 2, input_size, weight, grad_output,
                           (stride, padding, output_padding, dilation), groups, method,
                           n_threads)


@_documented(_INPUT_DOC, CONV_TRANSPOSE, 3, "input")
def conv_transpose3d_input(input_size: Size, weight: ArrayLike, grad_output: ArrayLike,
                           stride: IntOrTuple = 1, padding: Padding = 0,
                           output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                           dilation: IntOrTuple = 1, *, method: str = "auto",
                           n_threads: SupportsIndex | None = None) -> Array:
    return _input_gradient(CONV_TRANSPOSE, 3, input_size, weight, grad_output,
                           (stride, padding, output_padding, dilation), groups, method,
                           n_threads)


@_documented(_WEIGHT_DOC, CONV_TRANSPOSE, 1, "weight")
def conv_transpose1d_weight(input: ArrayLike, weight_size: Size, grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0,
                            output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                            dilation: IntOrTuple = 1, *, method: str = "auto",
                            n_threads: SupportsIndex | None = None,
                            per_sample: bool = False) -> Array:
    return _weight_gradient(CONV_TRANSPOSE, 1, input, weight_size, grad_output,
                            (stride, padding, output_padding, dilation), groups, method,
                            n_threads, per_sample)


@_documented(_WEIGHT_DOC, CONV_TRANSPOSE, 2, "weight")
def conv_transpose2d_weight(input: ArrayLike, weight_size: Size, grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0,
                            output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                            dilation: IntOrTuple = 1, *, method: str = "auto",
                            n_threads: SupportsIndex | None = None,
                            per_sample: bool = False) -> Array:
    return _weight_gradient(CONV_TRANSPOSE, 2, input, weight_size, grad_output,
                            (stride, padding, output_padding, dilation), groups, method,
                            n_threads, per_sample)


@_documented(_WEIGHT_DOC, CONV_TRANSPOSE, 3, "weight")
def conv_transpose3d_weight(input: ArrayLike, weight_size: Size, grad_output: ArrayLike,
                            stride: IntOrTuple = 1, padding: Padding = 0,
                            output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                            dilation: IntOrTuple = 1, *, method: str = "auto",
                            n_threads: SupportsIndex | None = None,
                            per_sample: bool = False) -> Array:
    return _weight_gradient(CONV_TRANSPOSE, 3, input, weight_size, grad_output,
                            (stride, padding, output_padding, dilation), groups, method,
                            n_threads, per_sample)


_NEED = ("input", "weight", "bias")


@_documented(_BACKWARD_DOC, CONV, 1, "backward")
def conv1d_backward(x: ArrayLike, weight: ArrayLike, grad_output: ArrayLike,
                    stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                    groups: SupportsIndex = 1, *, need: Sequence[str] = _NEED,
                    method: str = "auto",
                    n_threads: SupportsIndex | None = None) -> Gradients:
    return _backward(CONV, 1, x, weight, grad_output, (stride, padding, dilation), groups,
                     need, method, n_threads)


@_documented(_BACKWARD_DOC, CONV, 2, "backward")
def conv2d_backward(x: ArrayLike, weight: ArrayLike, grad_output: ArrayLike,
                    stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                    groups: SupportsIndex = 1, *, need: Sequence[str] = _NEED,
                    method: str = "auto",
                    n_threads: SupportsIndex | None = None) -> Gradients:
    return _backward(CONV, 2, x, weight, grad_output, (stride, padding, dilation), groups,
                     need, method, n_threads)


@_documented(_BACKWARD_DOC, CONV, 3, "backward")
def conv3d_backward(x: ArrayLike, weight: ArrayLike, grad_output: ArrayLike,
                    stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                    groups: SupportsIndex = 1, *, need: Sequence[str] = _NEED,
                    method: str = "auto",
                    n_threads: SupportsIndex | None = None) -> Gradients:
    return _backward(CONV, 3, x, weight, grad_output, (stride, padding, dilation), groups,
                     need, method, n_threads)


@_documented(_BACKWARD_DOC, CONV_TRANSPOSE, 1, "backward")
def conv_transpose1d_backward(x: ArrayLike, weight: ArrayLike, grad_output: ArrayLike,
                              stride: IntOrTuple = 1, padding: Padding = 0,
                              output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                              dilation: IntOrTuple = 1, *, need: Sequence[str] = _NEED,
                              method: str = "auto",
                              n_threads: SupportsIndex | None = None) -> Gradients:
    return _backward(CONV_TRANSPOSE, 1, x, weight, grad_output,
                     (stride, padding, output_padding, dilation), groups, need, method,
                     n_threads)


@_documented(_BACKWARD_DOC, CONV_TRANSPOSE, 2, "backward")
def conv_transpose2d_backward(x: ArrayLike, weight: ArrayLike, grad_output: ArrayLike,
                              stride: IntOrTuple = 1, padding: Padding = 0,
                              output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                              dilation: IntOrTuple = 1, *, need: Sequence[str] = _NEED,
                              method: str = "auto",
                              n_threads: SupportsIndex | None = None) -> Gradients:
    return _backward(CONV_TRANSPOSE, 2, x, weight, grad_output,
                     (stride, padding, output_padding, dilation), groups, need, method,
                     n_threads)


@_documented(_BACKWARD_DOC, CONV_TRANSPOSE, 3, "backward")
def conv_transpose3d_backward(x: ArrayLike, weight: ArrayLike, grad_output: ArrayLike,
                              stride: IntOrTuple = 1, padding: Padding = 0,
                              output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                              dilation: IntOrTuple = 1, *, need: Sequence[str] = _NEED,
                              method: str = "auto",
                              n_threads: SupportsIndex | None = None) -> Gradients:
    return _backward(CONV_TRANSPOSE, 3, x, weight, grad_output,
                     (stride, padding, output_padding, dilation), groups, need, method,
                     n_threads)
