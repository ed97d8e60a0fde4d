"""Argument checks shared by every public function.

Everything a caller can get wrong is checked here, in Python, before any
compiled code runs; each error names the function, the argument and the fix.
The shape arithmetic itself is :mod:`fastconv._geometry`'s.
"""

from __future__ import annotations

import operator

import numpy as np

from . import _openmp

CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"
#: The weight gradient of a convolution (fastconv.grad).
CONV_WEIGHT = "conv_weight"

#: Largest magnitude of any size or argument: far beyond any array that fits
#: in memory, small enough that no index arithmetic in a kernel overflows.
MAX_INT = 2**40

#: Most threads a call may ask for (each costs OpenMP a system thread).
MAX_THREADS = 1024

#: Names of the spatial dims, of the kernel's dims and of the output's, per
#: number of spatial dims.
SPATIAL_NAMES = {1: ("L", "kL", "L_out"), 2: ("H, W", "kH, kW", "H_out, W_out"),
                 3: ("D, H, W", "kD, kH, kW", "D_out, H_out, W_out")}

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))
# computed as pairs of float32 / float64 (fastconv._complex)
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


def as_int(value, name):
    """``value`` as a Python int; bool and non-integers raise TypeError."""
    if type(value) is int and -MAX_INT <= value <= MAX_INT:
        return value
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


def per_dim(value, ndim, name, minimum):
    """An int, a one-entry sequence (broadcast, as PyTorch does) or a
    sequence of ``ndim`` ints, as a tuple of ``ndim`` ints."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            value = value[0]
        elif len(value) != ndim:
            raise ValueError(
                f"{name} must be an int or a tuple of {ndim} ints, got {value!r}"
            )
    if isinstance(value, (tuple, list)):
        values = tuple(as_int(v, name) for v in value)
    else:
        values = (as_int(value, name),) * ndim
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be >= {minimum} in every dim, got {value!r}")
    return values


def padding_mode(padding):
    """'same' or 'valid' for a string in any case; ValueError otherwise."""
    mode = padding.lower()
    if mode not in ("same", "valid"):
        raise ValueError(f"padding must be 'same', 'valid' or ints, got {padding!r}")
    return mode


def padding_pairs(padding, ndim):
    """Explicit padding as one ``(before, after)`` pair per dim."""
    if isinstance(padding, (tuple, list)):
        if len(padding) == 1 and ndim > 1 and not isinstance(padding[0], (tuple, list)):
            padding = padding[0]   # one entry: every dim, as PyTorch does
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
                pairs.append((as_int(p[0], "padding"), as_int(p[1], "padding")))
            else:
                q = as_int(p, "padding")
                pairs.append((q, q))
    else:
        q = as_int(padding, "padding")
        pairs = [(q, q)] * ndim
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return pairs


def dtypes(arrays):
    """(compute dtype, result dtype) for the named arrays.

    float32 / float64 natively; bool and integers exactly in int64; float16
    computed in float32 and returned as float16.
    """
    for name, a in arrays.items():
        if a.dtype.kind not in "biufc":
            raise TypeError(
                f"{name} has dtype {a.dtype}; fastconv supports bool, integer, "
                f"floating-point and complex arrays"
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
    if common in _NATIVE or common in _COMPLEX:
        return common, common
    given = ", ".join(f"{name}: {a.dtype}" for name, a in arrays.items())
    raise TypeError(f"dtype {common} is not supported; cast to float64 or complex128 "
                    f"({given})")


def call_dtypes(x, weight, bias):
    """(compute, result) dtypes of a call, the common case first."""
    if bias is None and x.dtype is weight.dtype and x.dtype in _NATIVE:
        return x.dtype, x.dtype
    arrays = {"x": x, "weight": weight}
    if bias is not None:
        arrays["bias"] = bias
    return dtypes(arrays)


def resolve_threads(n_threads):
    """The thread count of a call: ``n_threads``, or OpenMP's default, both
    within 1 to :data:`MAX_THREADS`."""
    if n_threads is None:
        value = _openmp.max_threads()
        return value if 1 <= value <= MAX_THREADS else min(max(value, 1), MAX_THREADS)
    value = as_int(n_threads, "n_threads")
    if not 1 <= value <= MAX_THREADS:
        raise ValueError(f"n_threads must be between 1 and {MAX_THREADS}, got {n_threads!r}")
    return value


def weight_layout(op, ndim):
    """The weight layout of ``op`` in words, e.g. ``(C_out, C_in/groups, kH, kW)``."""
    kernel = SPATIAL_NAMES[ndim][1]
    if op == CONV:
        return f"(C_out, C_in/groups, {kernel})"
    return f"(C_in, C_out/groups, {kernel})"


def _channels_last_hints(op, x_shape, weight_shape, expected_c_in):
    """Fixes to suggest when the shapes look channels-last."""
    ndim = len(weight_shape) - 2
    hints = []
    if len(x_shape) == ndim + 2 and x_shape[-1] == expected_c_in != x_shape[1]:
        order = (0, ndim + 1) + tuple(range(1, ndim + 1))
        hints.append(f"x looks channels-last (N, {SPATIAL_NAMES[ndim][0]}, C); "
                     f"use x.transpose{order}")
    # Keras keeps kernels as (*kernel, C_in, C_out) (transposed: C_out, C_in)
    keras_in = weight_shape[-2] if op == CONV else weight_shape[-1]
    if keras_in == x_shape[1] and weight_shape[1] != keras_in:
        order = (ndim + 1, ndim) + tuple(range(ndim))
        hints.append(f"weight looks like a Keras kernel ({SPATIAL_NAMES[ndim][1]}, "
                     f"{'C_in, C_out' if op == CONV else 'C_out, C_in'}); "
                     f"use weight.transpose{order}")
    return hints


def check_channels(op, name, x_shape, weight_shape, groups):
    """Check ``groups`` and the kernel against the input channels of
    ``x_shape`` (batched, ``(N, C_in, *spatial)``).

    ``weight_shape`` is in the layout of ``op``.  Returns ``(groups, c_out)``.
    """
    if type(groups) is not int:  # exact ints skip the general check
        groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"{name}: groups must be >= 1, got {groups}")
    c_in = x_shape[1]
    if op == CONV:
        c_out, w_in = weight_shape[0], weight_shape[1] * groups
        if c_out % groups:
            raise ValueError(
                f"{name}: groups={groups} must divide the output channels "
                f"(weight.shape[0] = {c_out})"
            )
    else:
        w_in, c_out = weight_shape[0], weight_shape[1] * groups
    if c_in != w_in:
        ndim = len(weight_shape) - 2
        expects = ("weight.shape[1] * groups" if op == CONV else "weight.shape[0]")
        hints = _channels_last_hints(op, x_shape, weight_shape, w_in)
        raise ValueError(
            f"{name}: x has {c_in} input channels but weight of shape "
            f"{tuple(weight_shape)} with groups={groups} expects {w_in} "
            f"({expects}); the layouts are x (N, C_in, {SPATIAL_NAMES[ndim][0]}) and "
            f"weight {weight_layout(op, ndim)}"
            + "".join(f"; {h}" for h in hints)
        )
    if c_in % groups:
        raise ValueError(f"{name}: groups={groups} must divide the input channels ({c_in})")
    if 0 in weight_shape[2:]:
        raise ValueError(f"{name}: kernel size must be >= 1, got weight shape "
                         f"{tuple(weight_shape)}")
    return groups, c_out


def check_exact_range(name, x, weight, bias, terms):
    """Raise OverflowError when an integer result could leave int64.

    ``terms`` is how many products one output sums (input channels per
    group x taps); ``max|x| * max|w| * terms + max|bias| < 2**63``
    guarantees every sum and partial sum is exact in int64.
    """
    if not x.size or not weight.size:
        return
    bound = _max_abs(x) * _max_abs(weight) * terms
    if bias is not None and bias.size:
        bound += _max_abs(bias)
    if bound >= 2**63:
        raise OverflowError(
            f"{name}: integer inputs are computed exactly in int64, but "
            f"max|x| * max|weight| * terms = {_max_abs(x)} * {_max_abs(weight)} * "
            f"{terms} can reach 2**63; cast x and weight to float64 (inexact) or "
            f"use smaller values"
        )


def check_array_size(name, what, shape, itemsize):
    """Raise ValueError when an array of ``shape`` cannot be represented
    (2**63 bytes or more), naming the arguments that set its size."""
    size = itemsize
    for n in shape:
        size *= n
    if size >= 2**63:
        raise ValueError(
            f"{name}: the {what} would have shape {tuple(shape)}, {size} bytes, more "
            f"than any array can hold; check the batch, stride, padding, dilation "
            f"and output_padding"
        )


def _max_abs(a):
    """max |a| as a Python int (|int64 min| included), 0 for an empty array."""
    return max(abs(int(a.max())), abs(int(a.min())))
