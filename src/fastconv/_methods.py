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

from . import _direct
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

    Rule: the direct kernel (gather for convolution, scatter-add for
    transposed convolution).
    """
    return "direct" if op == CONV else "scatter"


def get_method(op, name, x, weight, geom, groups):
    """The function registered as ``name`` for ``op`` (resolving 'auto')."""
    if name == "auto":
        name = choose_auto(op, x, weight, geom, groups)
    try:
        return _REGISTRY[op][name]
    except (KeyError, TypeError):
        raise ValueError(
            f"method must be one of {method_names(op)} for {op}, got {name!r}"
        ) from None


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


@register(CONV_TRANSPOSE, "scatter")
def conv_transpose_scatter(x, weight, geom, groups, n_threads):
    """Scatter-add: each input value adds value x kernel into the output.

    The transposed convolution as it is defined, with no zero insertion and
    no memory beyond the output; exact for integers, and the default.  Work
    is split over (batch, output channel), as for the direct convolution.
    """
    out = np.zeros((x.shape[0], weight.shape[1] * groups) + geom.input_spatial,
                   dtype=x.dtype)
    _direct.conv_transpose_scatter(x, weight, out, geom, groups, n_threads)
    return out
