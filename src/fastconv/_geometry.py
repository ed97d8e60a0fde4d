"""Shape arithmetic for convolution and transposed convolution.

Every formula for output sizes, padding resolution ('same' / 'valid') and
output_padding lives here, and every method, the convolution matrix and the
public shape helpers read from it.

One :class:`ConvGeometry` describes one *convolution* ``C``: it maps a signal
of spatial size ``input_spatial`` to one of size ``output_spatial``.  The
transposed convolution is ``C.T``: it maps ``output_spatial`` back to
``input_spatial``.  So a transposed convolution is described by the geometry
of the convolution it is the adjoint of, with the roles of the two sizes
swapped, and every kernel reads the same numbers whichever way it runs.

Per spatial dim, with input size ``L``, kernel ``k``, stride ``s``,
dilation ``d`` and padding ``(p0, p1)``, a convolution output position
``o`` reads the input positions ``o*s + t*d - p0`` for taps ``t < k``::

    O = floor((L + p0 + p1 - d*(k - 1) - 1) / s) + 1          (convolution)
    L = (O - 1)*s - p0 - p1 + d*(k - 1) + 1 + output_padding   (transposed)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._typing import IntOrTuple, Padding
from ._validation import MAX_INT, as_int, padding_mode, padding_pairs, per_dim

__all__ = [
    "ConvGeometry",
    "conv_geometry",
    "conv_transpose_geometry",
    "conv_output_shape",
    "conv_transpose_output_shape",
]

MAX_SPATIAL_DIMS = 3


@dataclass(frozen=True)
class ConvGeometry:
    """The geometry of one convolution ``C``, always in three spatial dims.

    1-D and 2-D problems are stored with leading size-1 dims (size 1, kernel
    1, stride 1, dilation 1, no padding), which every kernel handles at no
    extra cost.  ``ndim`` remembers how many dims the caller used.

    Attributes
    ----------
    ndim : int
        Number of spatial dims the caller used (1, 2 or 3).
    input_spatial, output_spatial : tuple of 3 ints
        Spatial sizes of the convolution's input and output.  For a
        transposed convolution these are its output and input.
    kernel_size, stride, dilation : tuple of 3 ints
    pad_before, pad_after : tuple of 3 ints
        Zero padding of the convolution's input, before and after.
    output_padding : tuple of 3 ints
        Only for a transposed convolution: the extra size added on the
        after-side of its output (zero for a convolution).
    """

    ndim: int
    input_spatial: tuple
    output_spatial: tuple
    kernel_size: tuple
    stride: tuple
    dilation: tuple
    pad_before: tuple
    pad_after: tuple
    output_padding: tuple = (0, 0, 0)

    def __hash__(self):
        # cached: a geometry is a key of the plan cache on every call
        try:
            return self.__dict__["_hash"]
        except KeyError:
            value = hash((self.input_spatial, self.output_spatial, self.kernel_size,
                          self.stride, self.dilation, self.pad_before, self.pad_after,
                          self.output_padding, self.ndim))
            object.__setattr__(self, "_hash", value)
            return value

    @property
    def n_taps(self):
        """Number of kernel taps per channel pair, ``prod(kernel_size)``."""
        return math.prod(self.kernel_size)

    def spatial(self, sizes):
        """The caller's spatial dims of a 3-entry tuple."""
        return tuple(sizes[MAX_SPATIAL_DIMS - self.ndim:])

    def landing_output_padding(self):
        """The output_padding with which the transposed convolution of a
        signal of size ``output_spatial`` lands exactly on ``input_spatial``:
        ``L - ((O - 1)*s - p0 - p1 + d*(k - 1) + 1)`` per dim (3 entries),
        always smaller than the stride."""
        return tuple(
            L - ((O - 1) * s - p0 - p1 + d * (k - 1) + 1)
            for L, O, s, p0, p1, d, k in zip(
                self.input_spatial, self.output_spatial, self.stride,
                self.pad_before, self.pad_after, self.dilation, self.kernel_size)
        )

    def weight_gradient_geometry(self):
        """The convolution that gives the weight gradient: the input
        correlated with the output gradient as its kernel, stride and
        dilation swapped.  Per dim, ``dw[t] = sum_o g[o] * x[o*s + t*d - p0]``
        is output ``t`` of that convolution; its output has at least
        ``kernel_size`` entries, of which the first are the gradient."""
        return conv_geometry(self.input_spatial, self.output_spatial, self.dilation,
                             list(zip(self.pad_before, self.pad_after)), self.stride)

    def zero_insertion_padding(self):
        """Per dim, the ``(before, after)`` zero padding that turns the
        transposed convolution into a stride-1 convolution of the
        zero-inserted input with the flipped kernel:
        ``(d*(k - 1) - p0, d*(k - 1) - p1 + output_padding)``.  Negative
        values mean cropping."""
        return tuple(
            (d * (k - 1) - p0, d * (k - 1) - p1 + op)
            for d, k, p0, p1, op in zip(self.dilation, self.kernel_size,
                                        self.pad_before, self.pad_after,
                                        self.output_padding)
        )


# --------------------------------------------------------------------------
# argument normalisation
# --------------------------------------------------------------------------

def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's 'same': output = ceil(size / stride), odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _to3(values, fill):
    return (fill,) * (MAX_SPATIAL_DIMS - len(values)) + tuple(values)


def _check_spatial(input_spatial, kernel_size, ndim):
    if not 1 <= ndim <= MAX_SPATIAL_DIMS:
        raise ValueError(
            f"fastconv handles 1 to {MAX_SPATIAL_DIMS} spatial dims, got kernel_size "
            f"{tuple(kernel_size)} with {ndim}"
        )
    input_spatial = tuple(as_int(v, "input shape") for v in input_spatial)
    kernel_size = tuple(as_int(v, "kernel_size") for v in kernel_size)
    if len(input_spatial) != ndim or len(kernel_size) != ndim:
        raise ValueError(
            f"input shape {input_spatial} and kernel_size {kernel_size} "
            f"must both have {ndim} spatial dims"
        )
    if any(v < 0 for v in input_spatial):
        raise ValueError(f"input shape must be >= 0, got {input_spatial}")
    if any(v < 1 for v in kernel_size):
        raise ValueError(f"kernel size must be >= 1 in every dim, got {kernel_size}")
    return input_spatial, kernel_size


# --------------------------------------------------------------------------
# geometry builders
# --------------------------------------------------------------------------

def zero_inserted_size(size, stride):
    """Size of an axis of ``size`` values with ``stride - 1`` zeros inserted
    between neighbours: ``(size - 1)*stride + 1`` (0 stays 0)."""
    return (size - 1) * stride + 1 if size else 0


def _as_geometry(conv_input, conv_output, kernel_size, stride, dilation, pairs,
                 output_padding):
    """The :class:`ConvGeometry` of checked per-dim values, padded to 3 dims."""
    return ConvGeometry(
        ndim=len(kernel_size),
        input_spatial=_to3(conv_input, 1),
        output_spatial=_to3(conv_output, 1),
        kernel_size=_to3(kernel_size, 1),
        stride=_to3(stride, 1),
        dilation=_to3(dilation, 1),
        pad_before=_to3([p[0] for p in pairs], 0),
        pad_after=_to3([p[1] for p in pairs], 0),
        output_padding=_to3(output_padding, 0),
    )


def conv_geometry(input_spatial, kernel_size, stride=1, padding=0, dilation=1):
    """Resolve the arguments of a convolution into a :class:`ConvGeometry`.

    Raises ``ValueError`` naming the argument for every invalid value,
    including a kernel larger than the padded input.
    """
    ndim = len(kernel_size)
    input_spatial, kernel_size = _check_spatial(input_spatial, kernel_size, ndim)
    stride = per_dim(stride, ndim, "stride", 1)
    dilation = per_dim(dilation, ndim, "dilation", 1)

    if isinstance(padding, str):
        if padding_mode(padding) == "valid":
            pairs = [(0, 0)] * ndim
        else:
            pairs = [_same_padding(*a) for a in zip(input_spatial, kernel_size, stride, dilation)]
    else:
        pairs = padding_pairs(padding, ndim)

    output = []
    for size, k, s, d, (p0, p1) in zip(input_spatial, kernel_size, stride, dilation, pairs):
        span = d * (k - 1) + 1
        if size + p0 + p1 < span:
            raise ValueError(
                f"kernel (size {kernel_size}, dilation {dilation}) is larger than "
                f"the padded input (input {input_spatial}, padding {padding!r})"
            )
        output.append((size + p0 + p1 - span) // s + 1)

    return _as_geometry(input_spatial, output, kernel_size, stride, dilation, pairs, ())


def conv_transpose_geometry(input_spatial, kernel_size, stride=1, padding=0,
                            output_padding=0, dilation=1):
    """Resolve a transposed convolution into the geometry of its adjoint.

    ``input_spatial`` is the transposed convolution's input, which becomes
    ``output_spatial`` of the returned geometry.  ``padding='same'`` makes
    the output ``input * stride`` (Keras's rule): the padding and
    output_padding are those of the adjoint of the 'same' convolution of
    that size, so ``output_padding`` must then be 0.
    """
    ndim = len(kernel_size)
    input_spatial, kernel_size = _check_spatial(input_spatial, kernel_size, ndim)
    stride = per_dim(stride, ndim, "stride", 1)
    dilation = per_dim(dilation, ndim, "dilation", 1)
    output_padding = per_dim(output_padding, ndim, "output_padding", 0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than max(stride, dilation) in "
                f"every dim, got output_padding={output_padding}, stride={stride}, "
                f"dilation={dilation}"
            )

    if isinstance(padding, str):
        if padding_mode(padding) == "valid":
            pairs = [(0, 0)] * ndim
        else:
            if any(output_padding):
                raise ValueError(
                    f"output_padding must be 0 with padding='same', got {output_padding}"
                )
            pairs, output_padding = [], []
            for size, k, s, d in zip(input_spatial, kernel_size, stride, dilation):
                p0, p1 = _same_padding(size * s, k, s, d)
                pairs.append((p0, p1))
                # what makes the adjoint's size exactly size * s
                output_padding.append(s + p0 + p1 - d * (k - 1) - 1)
            output_padding = tuple(output_padding)
    else:
        pairs = padding_pairs(padding, ndim)

    output = []
    for size, k, s, d, (p0, p1), op in zip(
        input_spatial, kernel_size, stride, dilation, pairs, output_padding
    ):
        out = (size - 1) * s - p0 - p1 + d * (k - 1) + 1 + op
        if out > MAX_INT:
            raise ValueError(
                f"transposed convolution output size {out} exceeds 2**40 (input "
                f"{input_spatial}, kernel {kernel_size}, stride {stride}, dilation "
                f"{dilation}): use a smaller stride or dilation"
            )
        if out < 1:
            raise ValueError(
                f"transposed convolution output would be empty or negative "
                f"(input {input_spatial}, kernel {kernel_size}, stride {stride}, "
                f"padding {padding!r}, dilation {dilation}, "
                f"output_padding {output_padding})"
            )
        output.append(out)

    # the adjoint convolution reads the transposed output and writes its input
    return _as_geometry(output, input_spatial, kernel_size, stride, dilation, pairs,
                        output_padding)


# --------------------------------------------------------------------------
# public shape helpers
# --------------------------------------------------------------------------

def _spatial_tuple(input_spatial):
    if isinstance(input_spatial, (tuple, list)):
        return tuple(input_spatial)
    return (input_spatial,)


def _kernel_tuple(kernel_size, ndim):
    if isinstance(kernel_size, (tuple, list)):
        return tuple(kernel_size)
    return (as_int(kernel_size, "kernel_size"),) * ndim


def conv_output_shape(input_spatial: IntOrTuple, kernel_size: IntOrTuple,
                      stride: IntOrTuple = 1, padding: Padding = 0,
                      dilation: IntOrTuple = 1) -> tuple[int, ...]:
    """Spatial output shape of a convolution.

    Parameters
    ----------
    input_spatial : int or tuple of ints
        Spatial input shape, e.g. ``(H, W)``; an int for 1-D.
    kernel_size : int or tuple of ints
        Kernel shape; an int is used for every spatial dim.
    stride, padding, dilation
        As for :func:`fastconv.conv2d`.

    Returns
    -------
    tuple of ints
        The spatial output shape, ``floor((L + p0 + p1 - d*(k-1) - 1)/s) + 1``
        per dim.

    Examples
    --------
    >>> from fastconv import conv_output_shape
    >>> conv_output_shape((4, 4), 3)
    (2, 2)
    >>> conv_output_shape((5, 7), 3, stride=2, padding="same")
    (3, 4)
    """
    spatial = _spatial_tuple(input_spatial)
    geom = conv_geometry(spatial, _kernel_tuple(kernel_size, len(spatial)),
                         stride, padding, dilation)
    return geom.spatial(geom.output_spatial)


def conv_transpose_output_shape(input_spatial: IntOrTuple, kernel_size: IntOrTuple,
                                stride: IntOrTuple = 1, padding: Padding = 0,
                                output_padding: IntOrTuple = 0,
                                dilation: IntOrTuple = 1) -> tuple[int, ...]:
    """Spatial output shape of a transposed convolution.

    Parameters
    ----------
    input_spatial : int or tuple of ints
        Spatial input shape, e.g. ``(H, W)``; an int for 1-D.
    kernel_size : int or tuple of ints
        Kernel shape; an int is used for every spatial dim.
    stride, padding, output_padding, dilation
        As for :func:`fastconv.conv_transpose2d`.

    Returns
    -------
    tuple of ints
        ``(L - 1)*s - p0 - p1 + d*(k - 1) + 1 + output_padding`` per dim
        (``L * s`` with ``padding='same'``).

    Examples
    --------
    >>> from fastconv import conv_transpose_output_shape
    >>> conv_transpose_output_shape((2, 2), 3)
    (4, 4)
    >>> conv_transpose_output_shape((16, 16), 4, stride=2, padding=1)
    (32, 32)
    """
    spatial = _spatial_tuple(input_spatial)
    geom = conv_transpose_geometry(spatial, _kernel_tuple(kernel_size, len(spatial)),
                                   stride, padding, output_padding, dilation)
    return geom.spatial(geom.input_spatial)
