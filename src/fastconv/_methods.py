"""The method registry: one name -> one function, per operation.

A method computes one operation on arrays the public layer has already
checked and normalised:

    method(x, weight, geom, groups, n_threads) -> out

``x`` and ``weight`` are 5-D, C-contiguous, non-empty and of one compute
dtype (float32, float64 or int64); ``geom`` is the
:class:`~fastconv._geometry.ConvGeometry` of the convolution (for a
transposed convolution, of its adjoint).  ``out`` is a new 5-D array of the
same dtype, without bias.  A method that cannot handle the dtype raises
``TypeError``.  Modules add methods with :func:`register`; the public
functions look them up with :func:`get_method`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _direct, _scatter
from ._geometry import ConvGeometry

CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"

#: ``method(x, weight, geom, groups, n_threads) -> out``
Method = Callable[[NDArray[Any], NDArray[Any], ConvGeometry, int, int], NDArray[Any]]

_REGISTRY: dict[str, dict[str, Method]] = {CONV: {}, CONV_TRANSPOSE: {}}


def register(op, name):
    """Decorator: register ``fn`` as method ``name`` of operation ``op``."""
    def decorator(fn):
        _REGISTRY[op][name] = fn
        return fn
    return decorator


def method_names(op):
    """The valid ``method=`` values for ``op``, 'auto' first."""
    return ("auto",) + tuple(_REGISTRY[op])


def choose_auto(op, x, weight, geom, groups):
    """The method ``method='auto'`` runs.

    Rule: the direct kernel.
    """
    return "direct"


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


def get_method(op, name, x, weight, geom, groups):
    """The function registered as ``name`` for ``op`` (resolving 'auto');
    ``name`` has passed :func:`check_method`."""
    if name == "auto":
        name = choose_auto(op, x, weight, geom, groups)
    return _REGISTRY[op][name]


@register(CONV, "direct")
def conv_direct(x, weight, geom, groups, n_threads):
    """Direct convolution: each output value gathers kernel x input.

    Needs no memory beyond the output and is exact for integers; the
    default.  Work is split over (batch, output channel), so a single image
    with one output channel runs on one thread.
    """
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
    exact for integers.  Work is split over output rows.
    """
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
