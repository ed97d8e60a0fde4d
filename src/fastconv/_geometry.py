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

import itertools
import math
import operator
from dataclasses import dataclass

import numpy as np

from ._typing import IntOrTuple, Padding

__all__ = [
    "ConvGeometry",
    "conv_geometry",
    "conv_transpose_geometry",
    "conv_output_shape",
    "conv_transpose_output_shape",
]

MAX_SPATIAL_DIMS = 3

#: Largest magnitude of any size or argument: far beyond any array that fits
#: in memory, small enough that no index arithmetic in a kernel overflows.
MAX_INT = 2**40


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

    def phase_size(self):
        """Per dim (3 entries), the size of one stride phase of the part of
        the padded input the output reads: ``ceil(L / s)`` with
        ``L = (O - 1)*s + (k - 1)*d + 1``.  Phase ``a`` holds padded
        positions ``a, a + s, ...``; tap ``t`` reads phase ``t*d % s`` from
        position ``o + t*d // s`` on, which stays below this size."""
        return tuple(
            -(-((o - 1) * s + (k - 1) * d + 1) // s)
            for o, s, k, d in zip(self.output_spatial, self.stride, self.kernel_size,
                                  self.dilation)
        )

    def phase_row(self):
        """The row length with which the phase images of :meth:`phase_size`
        can be stored: ``phase_size()[2]`` less the columns that are zero
        padding at both ends of a row, which consecutive rows can then
        share (the last ones of a row read as the first ones of the next).
        At stride 1 along W that is ``min(pad_before, pad_after, (k-1)*d)``
        columns; a strided W keeps the whole row."""
        width = self.phase_size()[2]
        if self.stride[2] != 1:
            return width
        return width - min(self.pad_before[2], self.pad_after[2],
                           width - self.output_spatial[2])

    def phase_taps(self, row=None):
        """For each kernel tap, in (d, h, w) order, where it reads the stride
        phases of the padded input (see :meth:`phase_size`): the pair
        ``(phase, shift)``, with ``phase`` the flat index of phase
        ``t*d % s`` over the ``s0 x s1 x s2`` phases, ``shift`` the flat
        offset ``t*d // s`` within a phase image of :meth:`phase_size`
        whose rows are ``row`` long (default ``phase_size()[2]``; see
        :meth:`phase_row`).  Output position ``o`` (flat over that phase
        grid) reads the phase position ``o + shift``."""
        size = self.phase_size()
        row = size[2] if row is None else row
        taps = []
        for t in itertools.product(*(range(k) for k in self.kernel_size)):
            e = [ti * d for ti, d in zip(t, self.dilation)]
            phase = ((e[0] % self.stride[0]) * self.stride[1]
                     + e[1] % self.stride[1]) * self.stride[2] + e[2] % self.stride[2]
            shift = ((e[0] // self.stride[0]) * size[1]
                     + e[1] // self.stride[1]) * row + e[2] // self.stride[2]
            taps.append((phase, shift))
        return taps

    def transpose_phases(self):
        """The transposed convolution split by output phase (polyphase), as
        stride-1 convolutions of one zero-padded copy of its input.

        Returns ``(pad, size, row, phases)``.  The padded input is the
        transposed convolution's input (``output_spatial``) with ``pad``
        zeros before it, ``size`` long (3 entries each), its rows stored
        ``row`` apart: ``size[2]`` less the columns that are zero padding at
        both ends of a row, which consecutive rows share (as in
        :meth:`phase_row`).  Each phase is a tuple ``(taps, start,
        count)``: its outputs are the positions ``start + u*stride`` for
        ``u < count`` (per dim), and, flat over a grid of ``size`` with rows
        ``row`` long, output ``u`` is the sum over ``(t, shift)`` in
        ``taps`` of ``w[t] * padded[u + shift]`` (``t`` the flat tap index).
        The taps of an output position are those with ``t*d = o + p`` modulo
        the stride; a phase with no taps is listed with an empty ``taps``
        (its outputs are zero), and phases with no outputs are left out.
        """
        per_dim = []   # per dim: [(start, count, [(tap, offset before pad)])]
        pads = []
        for x_len, k, s, d, p in zip(self.input_spatial, self.kernel_size, self.stride,
                                     self.dilation, self.pad_before):
            residues = []
            for r in range(s):
                u_lo = -((r - p) // s)
                count = (x_len - 1 + p - r) // s + 1 - u_lo
                if count <= 0:
                    continue
                taps = [(t, u_lo - (t * d - r) // s) for t in range(k) if t * d % s == r]
                residues.append((u_lo * s + r - p, count, taps))
            pads.append(max([0] + [-o for _, _, taps in residues for _, o in taps]))
            per_dim.append(residues)
        size = tuple(
            max([1] + [count + o + pad for _, count, taps in residues for _, o in taps])
            for residues, pad in zip(per_dim, pads))
        # columns of zeros at both ends of every row, beyond the widest phase
        row = size[2] - max(0, min(pads[2], size[2] - pads[2] - self.output_spatial[2],
                                   size[2] - max([1] + [c[1] for c in per_dim[2]])))
        phases = []
        for combo in itertools.product(*per_dim):
            taps = [
                ((t0 * self.kernel_size[1] + t1) * self.kernel_size[2] + t2,
                 ((o0 + pads[0]) * size[1] + o1 + pads[1]) * row + o2 + pads[2])
                for (t0, o0), (t1, o1), (t2, o2) in itertools.product(
                    *(taps for _, _, taps in combo))
            ]
            phases.append((taps, tuple(c[0] for c in combo), tuple(c[1] for c in combo)))
        return tuple(pads), size, row, phases

    def tiles_without_overlap(self):
        """Whether the kernel windows tile the transposed convolution's
        output without overlap: per dim, stride == kernel (or a single
        position), no padding, no dilation."""
        return all(
            p0 == 0 and p1 == 0 and (d == 1 or k == 1) and (s == k or o == 1)
            for p0, p1, d, k, s, o in zip(self.pad_before, self.pad_after, self.dilation,
                                          self.kernel_size, self.stride,
                                          self.output_spatial)
        )

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

def _as_int(value, name):
    """``value`` as a Python int; bool and non-integers raise TypeError."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a tuple of ints, got {value!r}"
        ) from None
    if not -MAX_INT <= value <= MAX_INT:
        raise ValueError(f"{name} must be at most 2**40 in magnitude, got {value}")
    return value


def _per_dim(value, ndim, name, minimum):
    """An int or a sequence of ``ndim`` ints, as a tuple of ``ndim`` ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(
                f"{name} must be an int or a tuple of {ndim} ints, got {value!r}"
            )
        values = tuple(_as_int(v, name) for v in value)
    else:
        values = (_as_int(value, name),) * ndim
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be >= {minimum} in every dim, got {value!r}")
    return values


def _padding_pairs(padding, ndim):
    """Explicit padding as one ``(before, after)`` pair per dim."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != ndim:
            raise ValueError(
                f"padding must be an int, a tuple of {ndim} ints or of {ndim} "
                f"(before, after) pairs, 'same' or 'valid', got {padding!r}"
            )
        pairs = []
        for p in padding:
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise ValueError(
                        f"padding pairs must be (before, after), got {padding!r}"
                    )
                pairs.append((_as_int(p[0], "padding"), _as_int(p[1], "padding")))
            else:
                q = _as_int(p, "padding")
                pairs.append((q, q))
    else:
        q = _as_int(padding, "padding")
        pairs = [(q, q)] * ndim
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return pairs


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
    input_spatial = tuple(_as_int(v, "input shape") for v in input_spatial)
    kernel_size = tuple(_as_int(v, "kernel_size") for v in kernel_size)
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
    stride = _per_dim(stride, ndim, "stride", 1)
    dilation = _per_dim(dilation, ndim, "dilation", 1)

    if isinstance(padding, str):
        if padding == "valid":
            pairs = [(0, 0)] * ndim
        elif padding == "same":
            pairs = [_same_padding(*a) for a in zip(input_spatial, kernel_size, stride, dilation)]
        else:
            raise ValueError(f"padding must be 'same', 'valid' or ints, got {padding!r}")
    else:
        pairs = _padding_pairs(padding, ndim)

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
    stride = _per_dim(stride, ndim, "stride", 1)
    dilation = _per_dim(dilation, ndim, "dilation", 1)
    output_padding = _per_dim(output_padding, ndim, "output_padding", 0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than max(stride, dilation) in "
                f"every dim, got output_padding={output_padding}, stride={stride}, "
                f"dilation={dilation}"
            )

    if isinstance(padding, str):
        if padding == "valid":
            pairs = [(0, 0)] * ndim
        elif padding == "same":
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
            raise ValueError(f"padding must be 'same', 'valid' or ints, got {padding!r}")
    else:
        pairs = _padding_pairs(padding, ndim)

    output = []
    for size, k, s, d, (p0, p1), op in zip(
        input_spatial, kernel_size, stride, dilation, pairs, output_padding
    ):
        out = (size - 1) * s - p0 - p1 + d * (k - 1) + 1 + op
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
    return (_as_int(kernel_size, "kernel_size"),) * ndim


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
