"""The method registry: one name -> one function, per operation.

A method computes one operation on arrays the public layer has already
checked and normalised:

    method(x, weight, geom, groups, n_threads) -> out

``x`` and ``weight`` are 5-D, C-contiguous, non-empty and of one compute
dtype (float32, float64 or int64); ``geom`` is the
:class:`~fastconv._geometry.ConvGeometry` of the convolution (for a
transposed convolution, of its adjoint).  ``out`` is a new 5-D array of the
same dtype, without bias.  A floating-point-only method is registered with
``integers=False`` and the public functions refuse integer input for it
before it runs.  Modules add methods with :func:`register`; the public
functions look them up with :func:`get_method`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import math

import numpy as np
from numpy.typing import NDArray

from . import _direct, _scatter
from ._geometry import ConvGeometry

CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"

#: ``method(x, weight, geom, groups, n_threads) -> out``
Method = Callable[[NDArray[Any], NDArray[Any], ConvGeometry, int, int], NDArray[Any]]

_REGISTRY: dict[str, dict[str, Method]] = {CONV: {}, CONV_TRANSPOSE: {}}
_FLOAT_ONLY: dict[str, set[str]] = {CONV: set(), CONV_TRANSPOSE: set()}


def register(op, name, *, integers=True):
    """Decorator: register ``fn`` as method ``name`` of operation ``op``.

    ``integers=False`` marks a floating-point-only method: the public
    functions refuse integer and bool input for it with a TypeError.
    """
    def decorator(fn):
        _REGISTRY[op][name] = fn
        if not integers:
            _FLOAT_ONLY[op].add(name)
        return fn
    return decorator


def supports_integers(op, name):
    """Whether method ``name`` of ``op`` computes integer input (exactly)."""
    return name not in _FLOAT_ONLY[op]


def method_names(op):
    """The valid ``method=`` values for ``op``, 'auto' first."""
    return ("auto",) + tuple(_REGISTRY[op])


#: ``method='auto'`` runs 'gemm' for float inputs when at least this many
#: channels share each column of the column matrix (see :func:`choose_auto`).
GEMM_MIN_SHARED_CHANNELS = 4

#: ``method='auto'`` runs the direct method's channel-blocked kernel for
#: transposed convolutions with at most this many input channels per group
#: (see :func:`choose_auto`).
CHANNELS_MAX_INPUT = 256

#: ... and for calls of at least this many multiply-adds: below, its
#: set-up, about 12 us a call, outweighs what it saves.
CHANNELS_MIN_WORK = 2**20


def choose_auto(op, x, weight, geom, groups):
    """The method ``method='auto'`` runs.

    Rule:

    - integer (and bool) inputs: 'direct', which is exact; 'gemm' is float
      only;
    - float inputs of at least ``CHANNELS_MIN_WORK`` (2**20)
      multiply-adds that the direct method's channel-blocked kernel takes
      (at least 4 output channels and 8 input channels x taps per group, a
      padded grid at most 4 x the output): 'direct', for a convolution
      unless it is 1x1 with stride 1 (one plain GEMM), for a transposed
      convolution when it has at most ``CHANNELS_MAX_INPUT`` (256) input
      channels per group and its kernel windows do not tile the output
      (stride == kernel, no padding, no dilation:
      ``tiles_without_overlap``);
    - other float inputs: 'gemm' when at least ``GEMM_MIN_SHARED_CHANNELS``
      (4) channels share each column of its column matrix, i.e. when
      ``weight.shape[0] // groups >= 4``: output channels per group for a
      convolution, input channels per group for a transposed convolution;
      otherwise the direct kernel.

    Why: the channel-blocked kernel keeps blocks of 4 output channels x 96
    positions (AVX-512, float32) in registers and runs near the CPU's peak
    (about 220 GFLOP/s a core in float32 here), where BLAS must first pack
    its operands; what it does not beat is a convolution that is one plain
    GEMM (1x1, stride 1), a transposed convolution whose col2im is a copy
    (stride == kernel), and transposed convolutions with more input
    channels, whose long sums BLAS blocks better.  Without the
    channel-blocked kernel, gemm pays for rearranging the data once per
    column, then BLAS does the arithmetic several times faster than the
    row kernel, from about 4 channels sharing a column.  Measured with
    ``bench/auto_rule.py`` (2-core AMD EPYC, Zen 5, SciPy's OpenBLAS,
    float32, 2 threads; direct time / gemm time, the middle half of each
    group): 3x3 and 5x5 convolutions of 4 to 256 channels on 14 to 56 pixel
    images 0.35-0.75 (256 -> 256 alone 0.54-0.86); 1x1 convolutions at
    stride 1 1.2-5 (at stride 2 0.6-0.99); 3x3 and 4x4 transposed
    convolutions of 8 to 128 input channels 0.35-0.7, of 256 0.9-1.06, of
    512 1.03-1.14; kernel 2 stride 2 1.0-1.8.  On those measurements this
    rule picks the faster method for 194 of 216 convolutions and 138 of
    168 transposed ones, most misses within 20 %.
    """
    if x.dtype.kind != "f":
        return "direct"
    shared = weight.shape[0] // groups
    if op == CONV and shared < GEMM_MIN_SHARED_CHANNELS:
        return "direct"   # too few output channels for either kernel
    if _takes_channels(op, x, weight, geom, groups):
        return "direct"
    return "gemm" if shared >= GEMM_MIN_SHARED_CHANNELS else "direct"


def _takes_channels(op, x, weight, geom, groups):
    """The channel-blocked part of choose_auto's rule."""
    # multiply-adds: per sample, weight.size x the convolution's output
    # positions (for a transposed convolution, its input positions)
    work = x.shape[0] * weight.size * math.prod(geom.output_spatial)
    if work < CHANNELS_MIN_WORK:
        return False
    if op == CONV:
        pointwise = geom.n_taps == 1 and geom.stride == (1, 1, 1)
        return not pointwise and _direct.takes_channels(x, weight, geom, groups)
    return (x.shape[1] // groups <= CHANNELS_MAX_INPUT
            and not geom.tiles_without_overlap()
            and _direct.takes_transpose_channels(x, weight, geom, groups))


def check_method(op, name):
    """Raise ValueError unless ``name`` is a valid ``method=`` for ``op``."""
    try:
        known = name == "auto" or name in _REGISTRY[op]
    except TypeError:  # unhashable
        known = False
    if not known:
        raise ValueError(
            f"method must be one of {method_names(op)} for {op}, got {name!r}"
        )


def check_dtype(op, name, dtype):
    """Raise TypeError if method ``name`` cannot compute in ``dtype``."""
    if dtype.kind != "f" and not supports_integers(op, name):
        raise TypeError(
            f"method={name!r} computes in float32 or float64 only, but the inputs "
            f"are integer or bool (computed exactly as {dtype}); use another method "
            f"or cast to a float dtype"
        )


def get_method(op, name, x, weight, geom, groups):
    """The function registered as ``name`` for ``op`` (resolving 'auto');
    ``name`` has passed :func:`check_method`."""
    if name == "auto":
        name = choose_auto(op, x, weight, geom, groups)
    return _REGISTRY[op][name]


@register(CONV, "direct")
def conv_direct(x, weight, geom, groups, n_threads):
    """Direct convolution: each output value gathers kernel x input.

    Exact for integers; what 'auto' runs for integers, few channels and
    most float convolutions with many.  Float inputs that
    ``_direct.takes_channels`` accepts (at least 4 output channels and 8
    input channels x taps per group, a padded grid at most 4 x the output)
    take the channel-blocked kernel: blocks of 4 output channels x 96
    positions (AVX-512, float32) summed in registers from a zero-padded,
    stride-phase-split copy of a window of rows of each sample (about
    4 MiB per thread beside the output; more when a single row, with the
    rows the kernel reads past it, does not fit), windows shared out
    between threads.  Other calls need no memory beyond the output and split their
    work over blocks of output rows, so a single one-channel image uses
    every thread.
    """
    if _direct.takes_channels(x, weight, geom, groups):
        return _direct.conv_channels(x, weight, geom, groups, n_threads)
    out = np.zeros((x.shape[0], weight.shape[0]) + geom.output_spatial, dtype=x.dtype)
    _direct.conv_direct(x, weight, out, geom, groups, n_threads)
    return out


def _conv_transpose_output(x, weight, geom, groups):
    return np.zeros((x.shape[0], weight.shape[1] * groups) + geom.input_spatial,
                    dtype=x.dtype)


@register(CONV_TRANSPOSE, "direct")
def conv_transpose_direct(x, weight, geom, groups, n_threads):
    """Direct transposed convolution: each output row gathers the input rows
    that reach it, each scattered along W through its kernel row.

    The same sums as the scatter-add, reordered so that one thread owns each
    output row and the inner loop vectorises; no memory beyond the output,
    exact for integers.  Work is split over output rows.  Float inputs that
    ``_direct.takes_transpose_channels`` accepts (as for the convolution,
    and finite weights) instead run one stride-1 convolution per output
    phase (the outputs one stride apart) on the
    channel-blocked kernel of the convolution, all phases reading one
    zero-padded copy of a window of each sample.
    """
    if _direct.takes_transpose_channels(x, weight, geom, groups):
        return _direct.conv_transpose_channels(x, weight, geom, groups, n_threads)
    out = _conv_transpose_output(x, weight, geom, groups)
    _direct.conv_transpose_direct(x, weight, out, geom, groups, n_threads)
    return out


@register(CONV_TRANSPOSE, "scatter")
def conv_transpose_scatter(x, weight, geom, groups, n_threads):
    """Scatter-add, literally: each input value adds value x kernel into a
    kernel-sized patch of the output.

    The transposed convolution as the classic explanation defines it: no
    matrix, no zero insertion, no reordering; exact for integers.  Work is
    split over (batch, output channel), and the loops are scalar, so
    'direct' is the fast way to the same result.
    """
    out = _conv_transpose_output(x, weight, geom, groups)
    _scatter.conv_transpose_scatter(x, weight, out, geom, groups, n_threads)
    return out
