"""Convolution and transposed convolution of dask arrays, block by block.

The six functions take the arguments of their in-memory namesakes, with
``x`` a dask array (chunked along any axis) and ``weight`` and ``bias``
NumPy arrays, and return a lazy dask array with known chunks.  Nothing is
computed and no block is read when they are called; every argument is
checked then, as the in-memory functions check it.

Each output block is one call of the in-memory function on exactly the
input it reads, with explicit ``(before, after)`` padding pairs (and, for a
transposed convolution, output_padding) that make its result exactly that
block of the in-memory result.  All sizes come from
:mod:`fastconv._geometry`'s :class:`~fastconv._geometry.ConvGeometry` of the
whole call.

Per spatial dim, with stride ``s``, dilation ``d``, kernel ``k`` and the
whole call's padding ``(p0, p1)``, an input chunk ``[b0, b1)`` gives:

- convolution: the output block ``[b0 // s, b1 // s)`` (the chunk's start
  moved down onto the stride grid: a rechunk to stride-aligned starts, done
  by the tasks that gather the halo).  Its windows read the inputs
  ``[o0*s - p0, (o1 - 1)*s - p0 + d*(k - 1) + 1)``: the aligned chunk and
  ``d*(k - 1) + 1 - s`` positions of halo, ``p0`` of them before it and
  the rest after (none when the stride skips inputs);
- transposed convolution (the gather form): the output block
  ``[b0*s, b1*s)``, which reads the inputs from
  ``ceil((b0*s + p0 - d*(k - 1)) / s)`` to ``floor((b1*s + p0 - 1) / s)``:
  with no padding, its chunk and ``floor(d*(k - 1) / s)`` inputs before
  it, so that no overlap-add crosses blocks.

Output blocks are clipped to the output and empty ones dropped.  Input
positions outside the array are the whole call's zero padding, given to the
blocks at the array's edges only.  Batch chunks map to batch chunks.
Channels: a chunk of whole groups maps to the output channels of those
groups; input chunks that split a group give partial sums, added by a tree
reduction (``_SPLIT_EVERY`` at a time) into its output channels; output
channels are split further when an output block would exceed dask's
``array.chunk-size``.  docs/scale_out.rst explains the choices with figures.
"""

from __future__ import annotations

import bisect
import functools
import math
import operator
from collections.abc import Callable
from itertools import accumulate, product
from typing import Any, NamedTuple, SupportsIndex

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from dask.utils import parse_bytes
from numpy.typing import ArrayLike

from . import _api, _planner, _validation
from ._typing import IntOrTuple, Padding
from ._validation import CONV, CONV_TRANSPOSE, SPATIAL_NAMES

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
]

#: How many partial sums one task of the channel reduction adds.
_SPLIT_EVERY = 4


# --------------------------------------------------------------------------
# checking a call
# --------------------------------------------------------------------------

def _named(name, message):
    """``message`` naming ``fastconv.dask.<name>`` at its start."""
    prefix = f"{name}: "
    if message.startswith(prefix):
        message = message[len(prefix):]
    return f"fastconv.dask.{name}: {message}"


def _check(op, ndim, x, weight, bias, geometry_args, groups, method, n_threads):
    """(x as a dask array, weight, bias, Signature), every argument checked
    by the in-memory checks on a stand-in for ``x`` with its shape and dtype
    (no memory, no block read)."""
    name = _api.FUNCTION_NAMES[op, ndim]
    try:
        for arg, value in (("weight", weight), ("bias", bias)):
            if isinstance(value, da.Array):
                raise TypeError(f"{arg} must be a NumPy array, not a dask array "
                                f"(pass {arg}.compute())")
        if not isinstance(x, da.Array):
            x = da.asarray(x)
        if any(math.isnan(c) for chunks in x.chunks for c in chunks):
            raise ValueError("x has unknown chunk sizes; call x.compute_chunk_sizes() "
                             "first")
        weight = np.asarray(weight)
        bias = None if bias is None else np.asarray(bias)
        # uint64 values above 2**63 are refused by each block, as in memory:
        # the stand-in holds no values
        stand_in_dtype = np.dtype(np.int64) if x.dtype == np.uint64 else x.dtype
        stand_in = np.broadcast_to(np.zeros((), dtype=stand_in_dtype), x.shape)
        signature = _api.check_signature(op, ndim, stand_in, weight, bias,
                                          geometry_args, groups, method)
        _validation.resolve_threads(n_threads)
    except (TypeError, ValueError) as error:
        raise type(error)(_named(name, str(error))) from None
    return x, weight, bias, signature


# --------------------------------------------------------------------------
# spatial blocks
# --------------------------------------------------------------------------

class AxisBlock(NamedTuple):
    """One output block along one spatial axis: the outputs
    ``[out_start, out_stop)`` come from the inputs ``[in_start, in_stop)``
    with the ``padding`` pair (and ``output_padding``) of its call."""

    out_start: int
    out_stop: int
    in_start: int
    in_stop: int
    padding: tuple[int, int]
    output_padding: int = 0


def _bounds(chunks):
    """Chunk boundaries ``0, c0, c0 + c1, ..., size``."""
    return list(accumulate(chunks, initial=0))


def _output_bounds(candidates, size):
    """Sorted distinct block boundaries within ``[0, size]``, both ends
    included: an empty block is merged away."""
    return sorted({0, size} | {min(max(c, 0), size) for c in candidates})


def conv_axis_blocks(chunks, size, out_size, kernel, stride, dilation, before):
    """The output blocks of a convolution along one axis whose input is cut
    into ``chunks``; see the module docstring for the rule."""
    span = dilation * (kernel - 1) + 1
    inner = _bounds(chunks)[1:-1]
    edges = _output_bounds([b // stride for b in inner], out_size)
    blocks = []
    for o0, o1 in zip(edges[:-1], edges[1:]):
        lo = o0 * stride - before
        hi = (o1 - 1) * stride - before + span
        start, stop = min(max(lo, 0), size), max(min(hi, size), 0)
        if stop <= start:   # windows in the padding only
            start = stop = min(start, stop)
            padding = (hi - lo, 0)
        else:
            padding = (start - lo, hi - stop)
        blocks.append(AxisBlock(o0, o1, start, stop, padding))
    return blocks


def conv_transpose_axis_blocks(chunks, out_size, kernel, stride, dilation, before):
    """The output blocks (gather form) of a transposed convolution along one
    axis whose input is cut into ``chunks``; see the module docstring."""
    size = sum(chunks)
    reach = dilation * (kernel - 1)
    inner = _bounds(chunks)[1:-1]
    edges = _output_bounds([b * stride for b in inner], out_size)
    blocks = []
    for p0, p1 in zip(edges[:-1], edges[1:]):
        q0, q1 = p0 + before, p1 + before   # padded positions [q0, q1)
        # first input reaching q0 (the one starting at or before q0 when
        # q0 lies in a gap that no input reaches)
        start = min(-((reach - q0) // stride), q0 // stride, size - 1)
        start = max(start, 0)
        stop = max(min((q1 - 1) // stride + 1, size), start + 1)
        natural_start, natural_stop = start * stride, (stop - 1) * stride + reach + 1
        padding = (q0 - natural_start, max(natural_stop - q1, 0))
        blocks.append(AxisBlock(p0, p1, start, stop, padding,
                                max(q1 - natural_stop, 0)))
    return blocks


def _pieces(bounds, start, stop):
    """``(chunk index, slice within the chunk)`` of each chunk that the
    positions ``[start, stop)`` touch; one empty slice when there are none."""
    first = min(max(bisect.bisect_right(bounds, start) - 1, 0), len(bounds) - 2)
    if stop <= start:
        return [(first, slice(0, 0))]
    pieces = []
    for index in range(first, len(bounds) - 1):
        lo, hi = bounds[index], bounds[index + 1]
        if lo >= stop:
            break
        if hi > start:
            pieces.append((index, slice(max(start, lo) - lo, min(stop, hi) - lo)))
    return pieces


# --------------------------------------------------------------------------
# channels
# --------------------------------------------------------------------------

class Contribution(NamedTuple):
    """The part of one output channel block that one input channel chunk
    gives: its input channels ``channels`` (within chunk ``chunk``), the
    weight slice and the groups of the call."""

    chunk: int
    channels: slice
    weight: tuple[slice, slice]
    groups: int


class ChannelBlock(NamedTuple):
    """Output channels ``[start, stop)`` and the contributions they sum."""

    start: int
    stop: int
    contributions: tuple[Contribution, ...]


def _weight_slice(op, in_start, in_stop, out_start, out_stop, group, whole,
                  in_per_group, out_per_group):
    """The weight of the input channels ``[in_start, in_stop)`` and output
    channels ``[out_start, out_stop)``: whole groups, or part of ``group``."""
    if whole:  # the calls keep groups; the weight's first axis selects
        first = (slice(out_start, out_stop) if op == CONV
                 else slice(in_start, in_stop))
        return first, slice(None)
    ins = slice(in_start - group * in_per_group, in_stop - group * in_per_group)
    outs = slice(out_start - group * out_per_group, out_stop - group * out_per_group)
    if op == CONV:
        return slice(out_start, out_stop), ins
    return slice(in_start, in_stop), outs


def _even_split(start, stop, most):
    """``[start, stop)`` in the fewest near-equal parts of at most ``most``."""
    parts = -(-(stop - start) // most)
    return [start + (stop - start) * i // parts for i in range(parts + 1)]


def channel_blocks(op, in_chunks, groups, in_per_group, out_per_group, most):
    """The output channel blocks of a call whose input channels are cut into
    ``in_chunks``, each block of at most ``most`` channels when the groups
    allow."""
    bounds = _bounds(in_chunks)
    whole_runs, partial = [], {}
    for chunk, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        position = lo
        while position < hi:
            group = position // in_per_group
            if position % in_per_group == 0 and hi - position >= in_per_group:
                count = (hi - position) // in_per_group
                whole_runs.append((chunk, lo, group, group + count))
                position += count * in_per_group
            else:
                end = min(hi, (group + 1) * in_per_group)
                partial.setdefault(group, []).append((chunk, lo, position, end))
                position = end

    blocks = []
    groups_per_block = most // out_per_group
    for chunk, lo, g0, g1 in whole_runs:
        if groups_per_block:   # blocks of whole groups
            edges = _even_split(g0, g1, groups_per_block)
            for h0, h1 in zip(edges[:-1], edges[1:]):
                c0, c1 = h0 * in_per_group, h1 * in_per_group
                a, b = h0 * out_per_group, h1 * out_per_group
                weight = _weight_slice(op, c0, c1, a, b, h0, True,
                                       in_per_group, out_per_group)
                blocks.append(ChannelBlock(a, b, (Contribution(
                    chunk, slice(c0 - lo, c1 - lo), weight, h1 - h0),)))
            continue
        for group in range(g0, g1):   # part of one group's output channels
            c0, c1 = group * in_per_group, (group + 1) * in_per_group
            edges = _even_split(group * out_per_group, (group + 1) * out_per_group, most)
            for a, b in zip(edges[:-1], edges[1:]):
                weight = _weight_slice(op, c0, c1, a, b, group, False,
                                       in_per_group, out_per_group)
                blocks.append(ChannelBlock(a, b, (Contribution(
                    chunk, slice(c0 - lo, c1 - lo), weight, 1),)))
    for group, parts in partial.items():   # partial sums over chunks
        edges = _even_split(group * out_per_group, (group + 1) * out_per_group, most)
        for a, b in zip(edges[:-1], edges[1:]):
            blocks.append(ChannelBlock(a, b, tuple(
                Contribution(chunk, slice(c0 - lo, c1 - lo),
                             _weight_slice(op, c0, c1, a, b, group, False,
                                           in_per_group, out_per_group), 1)
                for chunk, lo, c0, c1 in parts)))
    return sorted(blocks)


# --------------------------------------------------------------------------
# what each task runs
# --------------------------------------------------------------------------

def _assemble(pieces, depth):
    """One array of the nested lists of blocks (a view for one block)."""
    inner = pieces
    for _ in range(depth):
        if len(inner) != 1:
            return np.block(pieces)
        inner = inner[0]
    return inner


def _block(pieces, weight, bias, *, function, depth, weight_index, bias_index,
           compute, result, check_terms, name, kwargs):
    """The in-memory call of one block (or one partial sum) of the result;
    ``compute`` is the dtype to compute float16 in, ``result`` the dtype of
    a finished block (None for a partial sum)."""
    x = _assemble(pieces, depth)
    if check_terms:   # the whole call's bound on exact integer sums
        _validation.check_exact_range(name, x, weight, bias, check_terms)
    if compute is not None:
        x = x.astype(compute)
    weight = weight[weight_index]
    bias = None if bias is None or bias_index is None else bias[bias_index]
    out = function(x, weight, bias, **kwargs)
    return out if result is None else out.astype(result, copy=False)


def _add(parts):
    """The sum of partial results, in their order."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _add_finish(parts, bias, *, bias_index, ndim, result):
    """The last step of the channel reduction: sum, bias, result dtype."""
    total = _add(parts)
    if bias is not None:
        total += bias[bias_index].astype(total.dtype).reshape((1, -1) + (1,) * ndim)
    return total.astype(result, copy=False)


# --------------------------------------------------------------------------
# the graph
# --------------------------------------------------------------------------

def _out_channel_limit(n_batch, spatial_blocks, itemsize):
    """Most output channels per block so that a block stays within dask's
    ``array.chunk-size`` (at least one)."""
    per_channel = n_batch * itemsize * math.prod(
        max(b.out_stop - b.out_start for b in blocks) for blocks in spatial_blocks)
    limit = parse_bytes(dask.config.get("array.chunk-size"))
    return max(1, limit // max(per_channel, 1))


def _output_blocks(op, geom, chunks, weight_shape, groups, itemsize):
    """(spatial blocks per axis, channel blocks, input channels per group):
    how the output is cut, from the input's chunks and the geometry."""
    kernel, stride, dilation = (geom.spatial(v) for v in
                                (geom.kernel_size, geom.stride, geom.dilation))
    before = geom.spatial(geom.pad_before)
    if op == CONV:
        spatial_blocks = [
            conv_axis_blocks(*args) for args in zip(
                chunks[2:], geom.spatial(geom.input_spatial),
                geom.spatial(geom.output_spatial), kernel, stride, dilation, before)]
        c_in_group, c_out_group = weight_shape[1], weight_shape[0] // groups
    else:
        spatial_blocks = [
            conv_transpose_axis_blocks(*args) for args in zip(
                chunks[2:], geom.spatial(geom.input_spatial), kernel, stride,
                dilation, before)]
        c_in_group, c_out_group = weight_shape[0] // groups, weight_shape[1]
    most = _out_channel_limit(max(chunks[0]), spatial_blocks, itemsize)
    channels = channel_blocks(op, chunks[1], groups, c_in_group, c_out_group, most)
    return spatial_blocks, channels, c_in_group


class _InputPieces:
    """The keys of the parts of input chunks that output blocks read: a
    chunk itself when a block reads it whole, else one getitem task per
    distinct slice, shared by the blocks that read it."""

    def __init__(self, x, dsk, out_name, ndim):
        self.x, self.dsk, self.out_name, self.ndim = x, dsk, out_name, ndim
        self.slices: dict[Any, Any] = {}

    def key(self, index, channel_slice, spatial):
        """The key of one input chunk's part (the chunk itself when whole)."""
        x = self.x
        key = (x.name,) + index
        full = (channel_slice == slice(0, x.chunks[1][index[1]])
                and all(s == slice(0, x.chunks[2 + i][index[2 + i]])
                        for i, s in enumerate(spatial)))
        if full:
            return key
        where = (slice(None), channel_slice) + tuple(spatial)
        cached = (key, channel_slice.start, channel_slice.stop,
                  tuple((s.start, s.stop) for s in spatial))
        if cached not in self.slices:
            part = (f"{self.out_name}-halo", len(self.slices))
            self.dsk[part] = (operator.getitem, key, where)
            self.slices[cached] = part
        return self.slices[cached]

    def nested(self, batch, contribution, per_axis):
        """The nested lists of piece keys of one block's input."""
        def build(axis, prefix):
            if axis == self.ndim:
                index = (batch, contribution.chunk) + tuple(i for i, _ in prefix)
                return self.key(index, contribution.channels, [s for _, s in prefix])
            return [build(axis + 1, prefix + [p]) for p in per_axis[axis]]
        return build(0, [])


def _sum_tree(dsk, parts, out_name, out_key):
    """Add tasks summing ``parts`` _SPLIT_EVERY at a time into ``dsk`` until
    at most _SPLIT_EVERY are left; returns those keys."""
    level = 0
    while len(parts) > _SPLIT_EVERY:
        level += 1
        groups_of_parts = [parts[i:i + _SPLIT_EVERY]
                           for i in range(0, len(parts), _SPLIT_EVERY)]
        parts = []
        for number, group_keys in enumerate(groups_of_parts):
            key = (f"{out_name}-sum{level}", number) + out_key[1:]
            dsk[key] = (_add, group_keys)
            parts.append(key)
    return parts


def _lazy(op, ndim, x, weight, bias, geometry_args, groups, method, n_threads):
    """Shared body of the six functions."""
    x, weight, bias, sig = _check(op, ndim, x, weight, bias, geometry_args, groups,
                                  method, n_threads)
    name = sig.name
    if sig.plain:
        x, weight = x[None, None], weight[None, None]
    elif sig.unbatched:
        x = x[None]
    geom = sig.geom
    if method == "auto":   # decided once, for the whole call, so blocks agree
        method = _planner.auto_rule(
            op, sig.x_shape, _api.as_kernel_array(weight, sig.compute, sig.weight_shape),
            sig.compute, geom, sig.groups)
    groups = sig.groups
    compute = None
    if sig.result != sig.compute:   # float16: partial sums in float32
        compute = sig.compute
        weight = weight.astype(compute)
        bias = None if bias is None else bias.astype(compute)

    stride, dilation = geom.spatial(geom.stride), geom.spatial(geom.dilation)
    spatial_chunks = x.chunks[2:]
    spatial_blocks, channels, c_in_group = _output_blocks(op, geom, x.chunks, weight.shape,
                                                          groups, sig.result.itemsize)

    function = getattr(_api, name)
    arguments = dict(stride=stride, dilation=dilation, method=method, n_threads=n_threads)
    check_terms = 0
    if sig.compute.kind != "f":
        check_terms = c_in_group * geom.n_taps
    token = tokenize(op, ndim, x, weight, bias, geometry_args, groups, method, n_threads,
                     dask.config.get("array.chunk-size"))
    out_name = f"fastconv-{name}-{token}"
    weight_key, bias_key = f"{out_name}-weight", f"{out_name}-bias"
    dsk: dict[Any, Any] = {weight_key: weight}
    if bias is not None:
        dsk[bias_key] = bias
    pieces = _InputPieces(x, dsk, out_name, ndim)

    for spatial_index in product(*(range(len(b)) for b in spatial_blocks)):
        blocks = [spatial_blocks[axis][i] for axis, i in enumerate(spatial_index)]
        per_axis = [_pieces(_bounds(spatial_chunks[axis]), b.in_start, b.in_stop)
                    for axis, b in enumerate(blocks)]
        kwargs = dict(arguments, padding=tuple(b.padding for b in blocks))
        if op == CONV_TRANSPOSE:
            kwargs["output_padding"] = tuple(b.output_padding for b in blocks)
        for batch in range(len(x.chunks[0])):
            for channel_index, block in enumerate(channels):
                out_key = (out_name, batch, channel_index) + spatial_index
                single = len(block.contributions) == 1
                parts = []
                for number, contribution in enumerate(block.contributions):
                    task = functools.partial(
                        _block, function=function, depth=ndim,
                        weight_index=contribution.weight,
                        bias_index=slice(block.start, block.stop) if single else None,
                        compute=compute, result=sig.result if single else None,
                        check_terms=check_terms, name=name,
                        kwargs=dict(kwargs, groups=contribution.groups))
                    key = out_key if single else (f"{out_name}-part", number) + out_key[1:]
                    dsk[key] = (task, pieces.nested(batch, contribution, per_axis), weight_key,
                                bias_key if bias is not None else None)
                    parts.append(key)
                if not single:
                    finish = functools.partial(
                        _add_finish, bias_index=slice(block.start, block.stop),
                        ndim=ndim, result=sig.result)
                    dsk[out_key] = (finish, _sum_tree(dsk, parts, out_name, out_key),
                                    bias_key if bias is not None else None)

    out_chunks = (x.chunks[0], tuple(b.stop - b.start for b in channels)) + tuple(
        tuple(b.out_stop - b.out_start for b in blocks) for blocks in spatial_blocks)
    graph = HighLevelGraph.from_collections(out_name, dsk, dependencies=[x])
    out = da.Array(graph, out_name, out_chunks,
                   meta=np.empty((0,) * (ndim + 2), dtype=sig.result))
    if sig.plain:
        return out[0, 0]
    return out[0] if sig.unbatched else out


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

_DOC = """{ndim}-D {what} of a dask array, lazily: :func:`fastconv.{name}` block by block.

    Takes the arguments of :func:`fastconv.{name}`, every one checked now
    (``ValueError`` / ``TypeError`` naming this function and the argument);
    nothing is computed until the result is.

    Parameters
    ----------
    x : dask array, shape (N, C_in, {spatial}) or (C_in, {spatial}){plain}
        Input, chunked along any axes (a NumPy array is taken as one chunk).
    weight : array_like, shape {weight_shape}
        Kernel, a NumPy array (put into the graph once).
    bias : array_like, shape (C_out,), optional
    {arguments}
    method : str, default 'auto'
        Passed to every block; 'auto' is decided once, by
        :func:`fastconv.choose_method`'s rule on the whole call's shapes.
    n_threads : int, optional
        Passed to every block.

    Returns
    -------
    dask array, shape (N, C_out, {out_spatial})
        Equal to :func:`fastconv.{name}` of the computed ``x``: bitwise for
        integers and when the input channels are one chunk, to rounding when
        input-channel chunks give partial sums.  Batch chunks are ``x``'s;
        spatial chunks follow ``x``'s (docs/scale_out.rst).

    Raises
    ------
    ValueError, TypeError
        Now, for arguments :func:`fastconv.{name}` would refuse, and for a
        dask ``weight`` or ``bias`` or unknown chunk sizes; OverflowError
        when computing, for integers whose sums could leave int64.

    Examples
    --------
{examples}
    """

_CONV_ARGUMENTS = """stride, padding, dilation, groups
        As for :func:`fastconv.{name}`; the padding is applied once, at the
        array's edges."""

_CONV_TRANSPOSE_ARGUMENTS = """stride, padding, output_padding, groups, dilation
        As for :func:`fastconv.{name}`; padding, output_padding and 'same'
        act once, at the array's edges."""

_EXAMPLES = {
    "conv1d": """    >>> import dask.array as da, numpy as np, fastconv.dask
    >>> x = da.arange(10.0, chunks=4)[None, None]
    >>> y = fastconv.dask.conv1d(x, np.ones((1, 1, 3)), stride=2, padding=1)
    >>> y.chunks[-1], y.compute()
    ((2, 2, 1), array([[[ 1.,  6., 12., 18., 24.]]]))""",
    "conv2d": """    >>> import dask.array as da, numpy as np, fastconv, fastconv.dask
    >>> x = da.random.default_rng(0).random((2, 3, 64, 64), chunks=(1, 3, 16, 16))
    >>> w = np.ones((8, 3, 3, 3))
    >>> y = fastconv.dask.conv2d(x, w, padding="same")
    >>> y.shape, y.chunksize
    ((2, 8, 64, 64), (1, 8, 16, 16))
    >>> np.array_equal(y.compute(), fastconv.conv2d(x.compute(), w, padding="same"))
    True""",
    "conv3d": """    >>> import dask.array as da, numpy as np, fastconv.dask
    >>> x = da.ones((1, 2, 8, 8, 8), chunks=4)
    >>> fastconv.dask.conv3d(x, np.ones((4, 2, 2, 2, 2)), stride=2).shape
    (1, 4, 4, 4, 4)""",
    "conv_transpose1d": """    >>> import dask.array as da, numpy as np, fastconv.dask
    >>> x = da.from_array(np.array([[[1.0, 2.0, 3.0]]]), chunks=1)
    >>> fastconv.dask.conv_transpose1d(x, np.ones((1, 1, 3)), stride=2).compute()
    array([[[1., 1., 3., 2., 5., 3., 3.]]])""",
    "conv_transpose2d": """    >>> import dask.array as da, numpy as np, fastconv, fastconv.dask
    >>> x = da.arange(64).reshape(1, 1, 8, 8).rechunk(4)
    >>> k = np.arange(16).reshape(1, 1, 4, 4)
    >>> y = fastconv.dask.conv_transpose2d(x, k, stride=2, padding=1)
    >>> y.chunks[2:]
    ((8, 8), (8, 8))
    >>> np.array_equal(y.compute(),
    ...                fastconv.conv_transpose2d(x.compute(), k, stride=2, padding=1))
    True""",
    "conv_transpose3d": """    >>> import dask.array as da, numpy as np, fastconv.dask
    >>> x = da.ones((2, 4, 4, 4), chunks=2)
    >>> fastconv.dask.conv_transpose3d(x, np.ones((2, 3, 2, 2, 2)), stride=2).shape
    (3, 8, 8, 8)""",
}


def _documented(op: str, ndim: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    name = _api.FUNCTION_NAMES[op, ndim]
    spatial, kernel, out_spatial = SPATIAL_NAMES[ndim]
    arguments = _CONV_ARGUMENTS if op == CONV else _CONV_TRANSPOSE_ARGUMENTS
    doc = _DOC.format(
        ndim=ndim, name=name, spatial=spatial, out_spatial=out_spatial,
        what="convolution" if op == CONV else "transposed convolution",
        plain=" or (H, W)" if ndim == 2 else "",
        weight_shape=(f"({'C_out, C_in' if op == CONV else 'C_in, C_out'} / groups, "
                      f"{kernel})" + (" or (kH, kW)" if ndim == 2 else "")),
        arguments=arguments.format(name=name), examples=_EXAMPLES[name])

    def decorate(fn):
        fn.__doc__ = doc
        return fn
    return decorate


@_documented(CONV, 1)
def conv1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, method: str = "auto",
           n_threads: SupportsIndex | None = None) -> da.Array:
    return _lazy(CONV, 1, x, weight, bias, (stride, padding, dilation), groups, method,
                 n_threads)


@_documented(CONV, 2)
def conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, method: str = "auto",
           n_threads: SupportsIndex | None = None) -> da.Array:
    return _lazy(CONV, 2, x, weight, bias, (stride, padding, dilation), groups, method,
                 n_threads)


@_documented(CONV, 3)
def conv3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
           stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
           groups: SupportsIndex = 1, *, method: str = "auto",
           n_threads: SupportsIndex | None = None) -> da.Array:
    return _lazy(CONV, 3, x, weight, bias, (stride, padding, dilation), groups, method,
                 n_threads)


@_documented(CONV_TRANSPOSE, 1)
def conv_transpose1d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> da.Array:
    return _lazy(CONV_TRANSPOSE, 1, x, weight, bias,
                 (stride, padding, output_padding, dilation), groups, method, n_threads)


@_documented(CONV_TRANSPOSE, 2)
def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> da.Array:
    return _lazy(CONV_TRANSPOSE, 2, x, weight, bias,
                 (stride, padding, output_padding, dilation), groups, method, n_threads)


@_documented(CONV_TRANSPOSE, 3)
def conv_transpose3d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0,
                     output_padding: IntOrTuple = 0, groups: SupportsIndex = 1,
                     dilation: IntOrTuple = 1, *, method: str = "auto",
                     n_threads: SupportsIndex | None = None) -> da.Array:
    return _lazy(CONV_TRANSPOSE, 3, x, weight, bias,
                 (stride, padding, output_padding, dilation), groups, method, n_threads)
