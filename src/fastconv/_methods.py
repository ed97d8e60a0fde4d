"""The method registry: one name -> one function, per operation.

A method computes one operation on arrays the public layer has already
checked and normalised, following the :class:`~fastconv._planner.Plan`
made for the call:

    method(x, weight, plan) -> out

``x`` and ``weight`` are 5-D, C-contiguous, non-empty and of one compute
dtype (float32, float64 or int64); ``plan.geom`` is the
:class:`~fastconv._geometry.ConvGeometry` of the convolution (for a
transposed convolution, of its adjoint).  ``out`` is a new 5-D array of the
same dtype, without bias.  A floating-point-only method is registered with
``integers=False`` and the public functions refuse integer input for it
before it runs.  This module holds the methods whose kernels are compiled
here ('direct', 'scatter', 'gemm'); ``_matrix`` ('sparse', 'dense') and
``_zero_insertion`` register theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import _depthwise, _direct, _direct_channels, _gemm, _scatter
from ._validation import CONV, CONV_TRANSPOSE, CONV_WEIGHT

if TYPE_CHECKING:
    from ._planner import Plan

__all__ = ["CONV", "CONV_TRANSPOSE", "register", "method_names", "execute"]

#: ``method(x, weight, plan) -> out``
Method = Callable[[NDArray[Any], NDArray[Any], "Plan"], NDArray[Any]]

_REGISTRY: dict[str, dict[str, Method]] = {CONV: {}, CONV_TRANSPOSE: {}, CONV_WEIGHT: {}}
_FLOAT_ONLY: dict[str, set[str]] = {CONV: set(), CONV_TRANSPOSE: set(), CONV_WEIGHT: set()}


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


def get(op, name):
    """The function registered as ``name`` for ``op``."""
    return _REGISTRY[op][name]


def check_method(name, op, method, dtype):
    """Raise unless ``method`` is a valid ``method=`` of ``op`` that
    computes ``dtype``; ``name`` is the public function's."""
    try:
        known = method == "auto" or method in _REGISTRY[op]
    except TypeError:  # unhashable
        known = False
    if not known:
        raise ValueError(
            f"{name}: method must be one of {method_names(op)}, got {method!r}"
        )
    if method != "auto" and dtype.kind in "biu" and not supports_integers(op, method):
        raise TypeError(
            f"{name}: method={method!r} computes in float32 or float64 only, but the "
            f"inputs are integer or bool (computed exactly as {dtype}); use another "
            f"method or cast to a float dtype"
        )


def output_shape(plan, x, weight):
    """(N, C_out, *spatial) of the call's 5-D output; for the weight
    gradient (``weight`` is then the output gradient) the weight's shape,
    with the samples first when ``plan.per_sample``."""
    geom = plan.geom
    if plan.op == CONV:
        return (x.shape[0], weight.shape[0]) + geom.output_spatial
    if plan.op == CONV_TRANSPOSE:
        return (x.shape[0], weight.shape[1] * plan.groups) + geom.input_spatial
    shape = (weight.shape[1], x.shape[1] // plan.groups) + geom.kernel_size
    return (x.shape[0],) + shape if plan.per_sample else shape


def execute(plan, x, weight):
    """Run ``plan`` on checked 5-D arrays; zeros when either is empty."""
    if not (x.size and weight.size):
        return np.zeros(output_shape(plan, x, weight), dtype=x.dtype)
    return _REGISTRY[plan.op][plan.method](x, weight, plan)


# --------------------------------------------------------------------------
# 'direct'
# --------------------------------------------------------------------------

def _flat(a):
    """(N, C, D, H, W) -> (N, C, D*H*W), a view."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _channel_pass(x, weights, out, plan, split, residues, out_step, start, count,
                  tap_begin, tap_phase, border=None):
    """One channel-blocked pass (_direct_channels.channels_pass) as planned:
    the copy is x split as ``split`` (conv_in, stride, pad) into the phases
    of ``residues``, its padding zeros or read through the border map
    ``border``; parts as in channels_pass."""
    phases, windows = plan.phases, plan.windows
    workspace = np.empty((plan.n_threads, windows.per_thread), dtype=x.dtype)
    _direct_channels.channels_pass(
        _flat(x), weights, _flat(out), workspace, plan.groups, *split, residues,
        phases.size, phases.row, out.shape[2:], out_step, tap_begin, start, count,
        tap_phase, phases.tap_shift, windows.rows, windows.extra_rows, border,
        windows.by_row)


@register(CONV, "direct")
def conv_direct(x, weight, plan):
    """Direct convolution: each output value gathers kernel x input.

    Exact for integers.  Path 'channels' (floats with many channels): blocks
    of output channels x positions summed in registers from a padded
    (zeros, or the border of ``plan.padding_mode`` read in place),
    stride-phase-split copy of a window of rows of each sample, windows
    shared out between threads.  Path 'depthwise' (floats, one input
    channel per group): per band of output rows of one channel, a padded,
    stride-phase-split copy of the rows it reads, each tap a fixed offset
    into it, summed a vector of positions at a time.  Path 'rows': no
    memory beyond the output, work split over blocks of output rows, so a
    single one-channel image uses every thread.
    """
    geom = plan.geom
    shape = output_shape(plan, x, weight)
    if plan.path == "depthwise":
        out = np.empty(shape, dtype=x.dtype)
        _direct.conv_depthwise(x, weight, out, geom, plan.tile[0], plan.n_threads)
        return out
    if plan.path == "channels":
        out = np.empty(shape, dtype=x.dtype)
        n_taps = len(plan.phases.tap_phase)
        _channel_pass(x, weight.ravel(), out, plan,
                      (geom.input_spatial, geom.stride, geom.pad_before),
                      plan.phases.residues, (1, 1, 1), np.zeros((1, 3), np.intp),
                      np.array([geom.output_spatial], np.intp),
                      np.array([0, n_taps], np.intp), plan.phases.tap_phase,
                      plan.border)
        return out
    out = np.zeros(shape, dtype=x.dtype)
    _direct.conv_direct(x, weight, out, geom, plan.groups, plan.n_threads)
    return out


@register(CONV_TRANSPOSE, "direct")
def conv_transpose_direct(x, weight, plan):
    """Direct transposed convolution: each output row gathers the input rows
    that reach it, each scattered along W through its kernel row.

    Path 'rows': the same sums as the scatter-add, reordered so that one
    thread owns each output row and the inner loop vectorises; no memory
    beyond the output, exact for integers.  Path 'channels' (floats with
    many channels, finite weights): one stride-1 convolution per output
    phase on the channel-blocked kernel, all reading one zero-padded copy
    of a window of each sample.  Path 'depthwise' (floats, one input channel
    per group): each output row gathers its few terms in vectors and is
    written once; 'depthwise_separable' (weights a product of kernel-row
    and W factors): each output row sums a few source rows' passes along W.
    """
    geom = plan.geom
    shape = output_shape(plan, x, weight)
    if plan.path in ("depthwise", "depthwise_separable"):
        out = np.empty(shape, dtype=x.dtype)
        _depthwise.conv_transpose_depthwise(x, weight, out, geom, plan.groups,
                                            plan.n_threads,
                                            plan.path == "depthwise_separable")
        return out
    if plan.path != "channels":
        out = np.zeros(shape, dtype=x.dtype)
        _direct.conv_transpose_direct(x, weight, out, geom, plan.groups, plan.n_threads)
        return out
    phases, groups = plan.phases, plan.groups
    out = (np.empty if phases.complete else np.zeros)(shape, dtype=x.dtype)
    # per phase: weight[ci, co, its taps] as (C_out, C_in/groups, its taps)
    c_in, cout_g = weight.shape[:2]
    w = weight.reshape(groups, c_in // groups, cout_g, -1)[..., phases.tap_index]
    weights = np.concatenate([
        w[..., begin:end].transpose(0, 2, 1, 3).ravel()
        for begin, end in zip(phases.tap_begin[:-1], phases.tap_begin[1:])])
    # the copy is x padded, not split: one phase
    _channel_pass(x, weights, out, plan, (geom.output_spatial, (1, 1, 1), phases.pad),
                  np.zeros((1, 3), np.intp), geom.stride, phases.start, phases.count,
                  phases.tap_begin, np.zeros_like(phases.tap_shift))
    return out


# --------------------------------------------------------------------------
# 'scatter'
# --------------------------------------------------------------------------

@register(CONV_TRANSPOSE, "scatter")
def conv_transpose_scatter(x, weight, plan):
    """Scatter-add, literally: each input value adds value x kernel into a
    kernel-sized patch of the output.

    The transposed convolution as the classic explanation defines it: no
    matrix, no zero insertion, no reordering; exact for integers.  Work is
    split over (batch, output channel), and the loops are scalar, so
    'direct' is the fast way to the same result.
    """
    out = np.zeros(output_shape(plan, x, weight), dtype=x.dtype)
    _scatter.conv_transpose_scatter(x, weight, out, plan.geom, plan.groups,
                                    plan.n_threads)
    return out


# --------------------------------------------------------------------------
# 'gemm'
# --------------------------------------------------------------------------

_ONE_GEMM = ("whole_input", "pointwise")


def _one_gemm(plan, x, weight, out, transpose):
    """Paths 'whole_input' (one GEMM for the batch) and 'pointwise' (one per
    sample) on the arrays themselves; the weight's first axis is C_out for
    a convolution, C_in for a transposed one (used transposed)."""
    n_batch, rows = x.shape[0], weight.shape[0]
    if plan.path == "whole_input":
        _gemm.whole_input(x.reshape(n_batch, -1), weight.reshape(rows, -1),
                          out.reshape(n_batch, -1), plan.groups, transpose)
    else:
        _gemm.pointwise(_flat(x), weight.reshape(rows, -1), _flat(out), plan.groups,
                        transpose)


@register(CONV, "gemm", integers=False)
def conv_gemm(x, weight, plan):
    """im2col + GEMM: each sample's output is weight @ columns, per group;
    path 'shifted': one GEMM per kernel tap on shifted views of the padded
    (zeros, or the border of ``plan.padding_mode`` read in place),
    stride-phase-split input instead, without columns; 'pointwise' and
    'whole_input': one GEMM on the arrays themselves.

    Float only.  Threads are BLAS's; ``plan.n_threads`` does not apply.
    """
    geom, groups = plan.geom, plan.groups
    c_out = weight.shape[0]
    out = np.empty(output_shape(plan, x, weight), dtype=x.dtype)
    if plan.path in _ONE_GEMM:
        _one_gemm(plan, x, weight, out, False)
    elif plan.path == "shifted":
        phases = plan.phases
        values = (phases.n_phases * x.shape[1] + c_out) * int(np.prod(phases.size))
        workspace = np.empty(plan.tile[0] * values, dtype=x.dtype)
        # weight[t] (C_out, C_in/groups) contiguous for each tap t
        weight_taps = np.ascontiguousarray(_flat(weight).transpose(2, 0, 1))
        _gemm.conv_shifted(_flat(x), weight_taps, _flat(out), workspace, geom, groups,
                            plan.tile[0], phases.size, phases.residues, phases.tap_phase,
                            phases.tap_shift, plan.border)
    else:
        tile_n, tile_p = plan.tile
        workspace = np.empty(tile_n * x.shape[1] * geom.n_taps * tile_p, dtype=x.dtype)
        _gemm.conv_im2col(_flat(x), _flat(weight), _flat(out), workspace, geom, groups,
                           tile_n, tile_p)
    return out


@register(CONV_TRANSPOSE, "gemm", integers=False)
def conv_transpose_gemm(x, weight, plan):
    """GEMM + col2im: columns = weight.T @ x per group, then each column
    value is added into the output position it belongs to (path 'col2im'),
    or copied there when the kernel windows tile the output ('place');
    'pointwise' and 'whole_input': one GEMM.

    Float only.  Threads are BLAS's; ``plan.n_threads`` does not apply.
    """
    geom, groups = plan.geom, plan.groups
    c_in = x.shape[1]
    out = np.zeros(output_shape(plan, x, weight), dtype=x.dtype)
    if plan.path in _ONE_GEMM:
        _one_gemm(plan, x, weight, out, True)
    else:
        tile_n, tile_p = plan.tile
        rows = out.shape[1] * geom.n_taps + c_in
        workspace = np.empty(tile_n * rows * tile_p, dtype=x.dtype)
        _gemm.conv_transpose_col2im(_flat(x), _flat(weight), _flat(out), workspace, geom,
                                     groups, tile_n, tile_p, plan.path == "place")
    return out


# --------------------------------------------------------------------------
# the weight gradient: x (N, C_in, *in) and the output gradient
# grad (N, C_out, *out) of the convolution of plan.geom
# --------------------------------------------------------------------------

@register(CONV_WEIGHT, "gemm", integers=False)
def conv_weight_gemm(x, grad, plan):
    """Columns x GEMM: per sample, ``dw += grad @ im2col(x).T`` per group,
    the columns in tiles of positions (bounded workspace), the samples
    added in order (kept apart with ``per_sample``).  Path 'shifted_rows':
    no columns; x split into stride phases already shifted by each W tap,
    several samples side by side, and one GEMM per kernel row covering all
    its W taps (``C_out/groups x KW * C_in/groups`` per GEMM, which BLAS
    runs better than one thin GEMM per tap).  Path 'whole_input' (a kernel
    covering the input, one output position): one GEMM per group whose
    inner dimension is the samples.

    Float only.  Threads are BLAS's.
    """
    geom, groups = plan.geom, plan.groups
    c_in, c_out, taps = x.shape[1], grad.shape[1], geom.n_taps
    samples = x.shape[0] if plan.per_sample else 1
    if plan.path == "whole_input":
        dw = np.zeros((samples, c_out, c_in // groups * taps), dtype=x.dtype)
        _gemm.weight_whole_input(x.reshape(x.shape[0], -1), grad.reshape(grad.shape[0], -1),
                                 dw, groups, plan.per_sample)
    elif plan.path == "shifted_rows":
        rows, (kd, kh, kw) = plan.phases, geom.kernel_size
        values = (len(rows.block_residue) * c_in + c_out) * int(np.prod(rows.size))
        workspace = np.empty(plan.tile[0] * values, dtype=x.dtype)
        by_row = np.zeros((samples, kd * kh, c_out, kw * (c_in // groups)), dtype=x.dtype)
        _gemm.conv_weight_rows(_flat(x), _flat(grad), by_row, workspace, geom, groups,
                               plan.tile[0], rows.size, rows.block_residue, rows.row_key,
                               rows.row_shift, plan.per_sample)
        # (samples, kd*kh, c_out, kw, cin_g) -> (samples, c_out, cin_g, kd*kh, kw)
        dw = by_row.reshape(samples, kd * kh, c_out, kw, c_in // groups
                            ).transpose(0, 2, 4, 1, 3)
    else:
        dw = np.zeros((samples, c_out, c_in // groups * taps), dtype=x.dtype)
        workspace = np.empty(c_in * taps * plan.tile[1], dtype=x.dtype)
        _gemm.conv_weight_im2col(_flat(x), _flat(grad), dw, workspace, geom, groups,
                                 plan.tile[1], plan.per_sample)
    return np.ascontiguousarray(dw).reshape(output_shape(plan, x, grad))


def _weight_channel_buffers(plan, c_in, grad, dtype):
    """The copy and output-gradient buffers of the weight gradient's
    channel-blocked pass (_direct_channels.weight_pass) for ``plan.tile[0]``
    samples at a time, zero where the pass writes nothing: the copy's
    slack, the output gradient's grid positions without output.  No
    output-gradient buffer (None) when the grid's flat positions are
    grad's and grad's planes whole vectors (multiples of 16 values): grad
    is read in place."""
    phases, block, geom = plan.phases, plan.tile[0], plan.geom
    grid = phases.size[0] * phases.size[1] * phases.row
    copy = np.empty((block * phases.n_phases * c_in,
                     grid + _direct_channels.CHANNEL_SLACK), dtype)
    copy[:, grid:] = 0
    (od, oh, ow), row = geom.output_spatial, phases.row
    if (row, phases.size[1]) == (ow, oh) and grad.shape[2] % 16 == 0:
        return copy, None
    wide = np.empty((block * grad.shape[1], grid + 16), dtype)
    wide[:, grid:] = 0
    on_grid = wide[:, :grid].reshape(-1, phases.size[0], phases.size[1], row)
    on_grid[:, od:] = 0
    on_grid[:, :, oh:] = 0
    on_grid[..., ow:] = 0
    return copy, wide


@register(CONV_WEIGHT, "direct")
def conv_weight_direct(x, grad, plan):
    """The weight gradient as a convolution (the row kernel): the input,
    samples as channels, correlated with the output gradient as its kernel,
    stride and dilation swapped (``ConvGeometry.weight_gradient_geometry``),
    one group at a time; with ``per_sample``, a grouped convolution with one
    group per sample.  Exact for integers; deterministic for any thread
    count.

    Path 'channels' (floats with many channels): the channel-blocked
    kernel transposed, on the forward path's padded, stride-phase-split
    copy of each sample: tiles of output channels x (input channel, tap)
    pairs summed in registers along the sample's positions, the tiles
    shared out between threads, ``plan.tile[0]`` samples summed in
    registers at a time.  A result holding inf or NaN is computed again on
    the row kernel (the grid's positions without output multiply the input
    by zero, which turns an inf there into a NaN the sum does not have).
    """
    geom, groups = plan.geom, plan.groups
    if plan.path == "channels":
        phases = plan.phases
        x3, grad3 = _flat(x), _flat(grad)
        copy, wide = _weight_channel_buffers(plan, x.shape[1], grad3, x.dtype)
        dw = np.zeros((x.shape[0] if plan.per_sample else 1, grad.shape[1],
                       x.shape[1] // groups * geom.n_taps), dtype=x.dtype)
        _direct_channels.weight_pass(x3, grad3, dw, copy, wide, geom, groups,
                                     phases.residues, phases.size, phases.row,
                                     phases.tap_phase, phases.tap_shift, plan.tile[0],
                                     plan.per_sample, plan.n_threads)
        if np.isfinite(dw).all():
            return dw.reshape(output_shape(plan, x, grad))
    n_batch, c_in = x.shape[:2]
    c_out = grad.shape[1]
    cin_g, cout_g = c_in // groups, c_out // groups
    swapped = geom.weight_gradient_geometry()
    crop = (slice(None), slice(None)) + tuple(slice(0, k) for k in geom.kernel_size)
    dw = np.empty(output_shape(plan, x, grad), dtype=x.dtype)
    for group in range(groups):
        samples_as_channels = np.ascontiguousarray(
            x[:, group * cin_g:(group + 1) * cin_g].swapaxes(0, 1))
        g = grad[:, group * cout_g:(group + 1) * cout_g]
        if plan.per_sample:   # kernel (N * cout_g, 1, *out), one group per sample
            kernel, kernel_groups = np.ascontiguousarray(g).reshape(
                (n_batch * cout_g, 1) + g.shape[2:]), n_batch
        else:                 # kernel (cout_g, N, *out)
            kernel, kernel_groups = np.ascontiguousarray(g.swapaxes(0, 1)), 1
        out = np.zeros((cin_g, kernel.shape[0]) + swapped.output_spatial, dtype=x.dtype)
        _direct.conv_direct(samples_as_channels, kernel, out, swapped, kernel_groups,
                            plan.n_threads)
        out = out[crop]       # (cin_g, [N *] cout_g, *kernel)
        channels = slice(group * cout_g, (group + 1) * cout_g)
        if plan.per_sample:
            dw[:, channels] = out.reshape((cin_g, n_batch, cout_g) + geom.kernel_size
                                          ).transpose(1, 2, 0, 3, 4, 5)
        else:
            dw[channels] = out.swapaxes(0, 1)
    return dw
