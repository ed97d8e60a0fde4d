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

import numpy as np

from . import _direct

CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"

_REGISTRY = {CONV: {}, CONV_TRANSPOSE: {}}


def register(op, name):
    """Decorator: register ``fn`` as method ``name`` of operation ``op``."""
    def decorator(fn):
        _REGISTRY[op][name] = fn
        return fn
    return decorator


def method_names(op):
    """The valid ``method=`` values for ``op``, 'auto' first."""
    return ("auto",) + tuple(_REGISTRY[op])


#: ``method='auto'`` runs 'gemm' for float inputs when at least this many
#: channels share each column of the column matrix (see :func:`choose_auto`).
GEMM_MIN_SHARED_CHANNELS = 4


def choose_auto(op, x, weight, geom, groups):
    """The method ``method='auto'`` runs.

    Rule:

    - integer (and bool) inputs: the direct kernel ('direct' for
      convolution, 'scatter' for transposed convolution), which is exact;
      'gemm' is float only;
    - float inputs: 'gemm' when at least ``GEMM_MIN_SHARED_CHANNELS`` (4)
      channels share each column of its column matrix, i.e. when
      ``weight.shape[0] // groups >= 4``: output channels per group for a
      convolution, input channels per group for a transposed convolution;
      otherwise the direct kernel.

    Why: gemm pays for rearranging the data once per column (im2col reads
    about as much as the direct kernel does for one output channel; col2im
    writes about as much as scatter-add does for one input channel), then
    BLAS does the arithmetic several times faster.  Measured on a 2-core
    AMD EPYC (Zen 5), SciPy's OpenBLAS, float32, one thread, as gemm time /
    direct time: conv2d k3 p1, N=4, 32x32, C_in 1..64: 1.4-2.1 with 1 output
    channel per group, 0.5-0.8 with 4, 0.2-0.3 with 16 (N=1, 128x128:
    0.9-1.7 with 2, 0.5-0.9 with 4); conv_transpose2d k4 s2 p1, same
    sizes: 1.0-2.3 with 1 input channel per group, 0.6-1.2 with 2,
    0.2-0.4 with 4 and above; depthwise conv (groups == channels): 2.0.
    """
    direct = "direct" if op == CONV else "scatter"
    if x.dtype.kind != "f":
        return direct
    shared = weight.shape[0] // groups
    return "gemm" if shared >= GEMM_MIN_SHARED_CHANNELS else direct


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
    """Direct convolution: each output value gathers kernel x input."""
    out = np.zeros((x.shape[0], weight.shape[0]) + geom.output_spatial, dtype=x.dtype)
    _direct.conv_direct(x, weight, out, geom, groups, n_threads)
    return out


@register(CONV_TRANSPOSE, "scatter")
def conv_transpose_scatter(x, weight, geom, groups, n_threads):
    """Scatter-add: each input value adds value x kernel into the output."""
    out = np.zeros((x.shape[0], weight.shape[1] * groups) + geom.input_spatial,
                   dtype=x.dtype)
    _direct.conv_transpose_scatter(x, weight, out, geom, groups, n_threads)
    return out
