"""method='fft': convolution and transposed convolution through scipy.fft.

Both operations become one *linear convolution* ``z = a * K`` per spatial
dim, read at ``z[start + step*o]`` for the output positions ``o`` (a
position outside ``z`` reads 0):

- convolution: ``a`` is the input, ``K`` the dilated kernel flipped,
  ``start = span - 1 - pad_before``, ``step = stride`` (computed at stride 1
  and subsampled: only the inverse transform pays for the stride);
- transposed convolution: ``a`` is the input with ``stride - 1`` zeros
  between values, ``K`` the dilated kernel (channel axes swapped per group),
  ``start = pad_before``, ``step = 1``; output_padding is the output
  positions past ``z``'s end (zeros) or inside it.

``span = dilation*(kernel - 1) + 1``.  Per block of output positions the
input window that block reads (zero-inserted for a transposed convolution)
is transformed once per sample and input channel (rfftn), the channels are
mixed per frequency (a batched complex matrix product, C_out/groups x
C_in/groups per group), and one inverse transform per sample and output
channel gives the block.  The blocks (overlap-save: each output block reads
its input window with a kernel-sized halo, so nothing is added twice) and
the tiles of samples x output channels come from :func:`fft_layout`: the
block length per dim minimises transform work per output position, and
everything a block holds stays within ``THRESHOLDS['fft_workspace_bytes']``.

Blocks are batched: the windows of a batch of neighbouring blocks are one
strided view of the input (every ``hop`` values; a copy only where they
pass the signal's ends or for a zero insertion), so one rfftn call, one
mixing and one irfftn call serve the batch, within
``THRESHOLDS['fft_batch_bytes']`` (as scipy.signal.oaconvolve transforms
its blocks).  scipy.fft's workers share every transform; each line's
arithmetic does not depend on them: results are bit-identical across
thread counts.

Integer inputs are computed in float64 and rounded, refused unless the
rounding is provably exact (:func:`check_exact`).  Non-finite float inputs
are handed to 'direct': an FFT spreads one inf or NaN over every output;
so are calls no block of which fits the workspace (a dilation or stride of
the order of the workspace).
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from typing import NamedTuple

import numpy as np
import scipy.fft

from . import _geometry, _methods, _planner
from ._validation import CONV, CONV_TRANSPOSE

try:    # pocketfft's own functions, which take out= (scipy.fft's do not)
    from scipy.fft._pocketfft import pypocketfft as _pocketfft
except ImportError:     # pragma: no cover - a SciPy without them
    _pocketfft = None

__all__ = ["fft_layout", "transform_work", "check_exact"]

class Linear(NamedTuple):
    """Per spatial dim (3 entries each): the linear convolution an
    operation becomes, and where its output reads it."""

    signal: tuple     # length of a (zero-inserted for a transposed conv)
    signal_step: tuple  # 1, or the stride of the zero insertion
    span: tuple       # length of K, dilation*(kernel - 1) + 1
    start: tuple      # z index of output position 0
    step: tuple       # z positions between output positions
    n_out: tuple      # output positions


def linear_form(op, geom):
    """The :class:`Linear` form of ``op`` on ``geom`` (module docstring)."""
    span = tuple(d * (k - 1) + 1 for d, k in zip(geom.dilation, geom.kernel_size))
    if op == CONV:
        return Linear(geom.input_spatial, (1, 1, 1), span,
                      tuple(sp - 1 - p for sp, p in zip(span, geom.pad_before)),
                      geom.stride, geom.output_spatial)
    signal = tuple(_geometry.zero_inserted_size(o, s)
                   for o, s in zip(geom.output_spatial, geom.stride))
    return Linear(signal, geom.stride, span, geom.pad_before, (1, 1, 1),
                  geom.input_spatial)


class Layout(NamedTuple):
    """How a call is cut: per dim the transform length and the output
    positions per block; samples and output channels (per group) per tile."""

    linear: Linear
    length: tuple     # FFT length per dim
    per_block: tuple  # output positions per block per dim
    samples: int      # per tile
    channels: int     # output channels per group per tile
    fits: bool        # a block of one sample and channel fits the workspace
    batch: int        # blocks per batch (one transform call), at most

    @property
    def n_blocks(self):
        return math.prod(-(-c // r) for c, r in zip(self.linear.n_out, self.per_block))


def _fast(n):
    return scipy.fft.next_fast_len(max(int(n), 1), real=True)


@functools.lru_cache(maxsize=64)
def _smooth_lengths(low, high):
    """The lengths 2**a 3**b 5**c in [low, high), which pocketfft
    transforms fastest (scipy.fft.next_fast_len's, real=True)."""
    lengths = []
    p2 = 1
    while p2 < high:
        p3 = p2
        while p3 < high:
            p5 = p3
            while p5 < high:
                if p5 >= low:
                    lengths.append(p5)
                p5 *= 5
            p3 *= 3
        p2 *= 2
    return tuple(sorted(lengths))


def _whole_length(lin, dim):
    """The shortest transform computing every output of ``dim`` at once:
    the z positions read and the input reaching them, without wrap-around."""
    full = lin.signal[dim] + lin.span[dim] - 1
    first = lin.start[dim]
    last = first + lin.step[dim] * (lin.n_out[dim] - 1)
    first, last = max(first, 0), min(last, full - 1)
    if first > last:          # every output of the dim reads past z: zeros
        return 1
    i0 = max(first - lin.span[dim] + 1, 0)
    i1 = min(last, lin.signal[dim] - 1)
    return _fast(max(last - i0 + 1, i1 - first + lin.span[dim]))


def _block_choices(lin, dim, overhead):
    """(transform length, outputs per block) candidates of one dim, cheapest
    work per output first: a block of ``R`` outputs at step ``s`` needs
    ``n >= s*(R - 1) + span`` (overlap-save); the whole dim at once is a
    candidate too.  Work counts n*log2(n) per block plus
    ``fft_block_overhead`` (the fixed cost of one block in a batch)."""
    span, step, count = lin.span[dim], lin.step[dim], lin.n_out[dim]
    whole = _whole_length(lin, dim)
    # per number of blocks, the shortest 5-smooth length giving it
    shortest = {}
    for n in _smooth_lengths(span + step, whole):
        blocks = -(-count // min((n - span) // step + 1, count))
        shortest[blocks] = min(shortest.get(blocks, n), n)
    options = {(whole, count)} | {(n, min((n - span) // step + 1, count))
                                  for n in shortest.values()}

    def work(option):
        n, per_block = option
        return (n * math.log2(2 * n) + overhead) * -(-count // per_block)
    return sorted(options, key=lambda o: (work(o), o[0]))


def _bytes(lin, length, c_in, cout_g, groups, samples, channels, itemsize):
    """Workspace of one block: the kernel spectra of a tile of output
    channels, the input window and its spectrum (twice: the transposed copy
    for the product), the product (twice) and its inverse transform."""
    points = math.prod(length)
    freqs = points // length[2] * (length[2] // 2 + 1)
    cin_g = c_in // groups
    complex_values = (groups * channels * cin_g + 2 * samples * c_in
                      + 2 * samples * groups * channels)
    real_values = samples * (c_in + groups * channels) * points
    return 2 * itemsize * complex_values * freqs + itemsize * real_values


def fft_layout(op, x_shape, weight_shape, itemsize, geom, groups):
    """The :class:`Layout` of a call (:func:`_layout`), cached with the
    THRESHOLDS entries it reads."""
    tuned = tuple(_planner.THRESHOLDS[name] for name in _TUNED)
    return _layout(op, x_shape, weight_shape, itemsize, geom, groups, tuned)


_TUNED = ("fft_workspace_bytes", "fft_block_points", "fft_block_overhead", "fft_batch_bytes",
          "fft_vector_bytes")


@functools.lru_cache(maxsize=256)
def _layout(op, x_shape, weight_shape, itemsize, geom, groups, tuned):
    """The :class:`Layout` of a call: the cheapest block length per dim
    (:func:`_block_choices`), shortened, longest dim first, to at most
    fft_block_points points and until one sample x every output channel
    fits fft_workspace_bytes (while blocks stay twice the kernel), else
    until one sample x one output channel per group does; then as many
    output channels and samples per tile as still fit, and as many blocks
    per batch as fit fft_batch_bytes."""
    lin = linear_form(op, geom)
    c_in = x_shape[1]
    cout_g = weight_shape[0] // groups if op == CONV else weight_shape[1]
    budget, max_points, overhead, batch_bytes, vector_bytes = tuned
    choices = [_block_choices(lin, dim, overhead) for dim in range(3)]
    picked = [0, 0, 0]

    def size(samples, channels):
        return _bytes(lin, length(), c_in, cout_g, groups, samples, channels, itemsize)

    def length():
        return tuple(choices[d][picked[d]][0] for d in range(3))

    def shorten(fits, shortest):
        """Shorten the longest dim with a shorter option of at least
        ``shortest`` x its span until ``fits()``."""
        while not fits():
            longer = [d for d in range(3) if any(
                shortest * lin.span[d] <= o[0] < choices[d][picked[d]][0]
                for o in choices[d])]
            if not longer:
                return
            dim = max(longer, key=lambda d: choices[d][picked[d]][0])
            current = choices[dim][picked[dim]][0]
            picked[dim] = next(i for i, o in enumerate(choices[dim])
                               if shortest * lin.span[dim] <= o[0] < current)

    # transforms that stay in cache; every output channel in one tile while
    # blocks stay twice the kernel (each channel tile transforms the input
    # again); then whatever fits
    shorten(lambda: math.prod(length()) <= max_points, 2)
    shorten(lambda: size(1, cout_g) <= budget, 2)
    shorten(lambda: size(1, 1) <= budget, 0)
    channels = cout_g
    while channels > 1 and size(1, channels) > budget:
        channels = -(-channels // 2)
    samples = x_shape[0]
    while samples > 1 and size(samples, channels) > budget:
        samples = -(-samples // 2)
    per_block = tuple(choices[d][picked[d]][1] for d in range(3))
    # blocks batched into one transform call while their windows, spectra
    # and products (the kernel spectra apart) stay within fft_batch_bytes
    per_batch = size(samples, channels) - size(0, channels)
    n_blocks = math.prod(-(-c // r) for c, r in zip(lin.n_out, per_block))
    batch = max(1, min(n_blocks, batch_bytes // max(per_batch, 1)))
    # pocketfft transforms lines a SIMD vector at a time and the rest one by
    # one (3-4 x slower each): a whole number of vectors of lines per batch
    lanes = max(1, vector_bytes // itemsize)
    lanes //= math.gcd(lanes, samples * c_in)
    if lanes <= batch < n_blocks:
        batch -= batch % lanes
    return Layout(lin, length(), per_block, samples, channels, size(1, 1) <= budget, batch)


def transform_work(op, x_shape, weight_shape, geom, groups, itemsize=4):
    """(point-logs, complex multiply-adds) of method 'fft' on a call: the
    forward transforms of the input windows and of the kernels and the
    inverse ones of the outputs, ``points * log2(points)`` each, and the
    channel mixing.  The
    planner's cost model (:func:`fastconv._planner.fft_faster`) weighs them."""
    layout = fft_layout(op, x_shape, weight_shape, itemsize, geom, groups)
    n_batch, c_in = x_shape[:2]
    c_out = weight_shape[0] if op == CONV else weight_shape[1] * groups
    points = math.prod(layout.length)
    blocks = layout.n_blocks
    channel_tiles = -(-(c_out // groups) // layout.channels)
    # the kernel spectra (once a call, pruned: about half a transform each)
    transforms = n_batch * (c_in * channel_tiles + c_out) * blocks + c_out * c_in // groups / 2
    point_logs = transforms * points * math.log2(max(points, 2))
    freqs = points // layout.length[2] * (layout.length[2] // 2 + 1)
    mixing = n_batch * c_out * (c_in // groups) * freqs * blocks
    return point_logs, mixing


# --------------------------------------------------------------------------
# integers
# --------------------------------------------------------------------------

#: float64's unit roundoff
_U = 2.0 ** -53
#: the rounded result is exact while the FFT error bound stays below this
_EXACT_ERROR = 0.25


def check_exact(name, x, weight, layout, groups, op):
    """Raise ValueError unless computing integers ``x``, ``weight`` in
    float64 by FFT and rounding gives the exact result.

    Two conditions.  The exact sums must be integers float64 holds:
    ``max|x| * max|w| * terms < 2**52`` (SciPy's ``choose_conv_method``
    asks the same of ``method='fft'``).  And the FFT's error must stay
    below 1/4: for one channel pair, with ``a`` the input window, ``k`` the
    kernel and ``n`` points per transform, the computed convolution is off
    by at most ``c u log2(n) (|a|_2 |k|_1 + |a|_1 |k|_2)`` in every output
    (forward-transform errors ``c u log2(n) sqrt(n)|a|_2`` times
    ``max|K| <= |k|_1``, back through the 1/sqrt(n)-norm inverse; the same
    with the roles swapped; the inverse transform's own error), ``u`` the
    unit roundoff; C_in/groups pairs add.  Here ``c = 4`` (pocketfft's
    error is ~1 u per level) and the norms are bounded by the maxima.
    """
    peak = float(np.abs(x).max()) * float(np.abs(weight).max())
    taps = math.prod(weight.shape[2:])
    cin_g = x.shape[1] // groups
    terms = cin_g * taps
    if op == CONV_TRANSPOSE:   # each output sums at most C_in/groups x taps products
        terms = cin_g * taps
    if peak * terms >= 2.0 ** 52:
        raise ValueError(
            f"{name}: method='fft' on integers needs max|x| * max|weight| * terms "
            f"< 2**52 to round exactly, got {peak:.3g} * {terms}; use method='direct' "
            f"(exact) or cast to float64")
    points = math.prod(layout.length)
    window = min(points, math.prod(layout.linear.signal))
    error = (4 * _U * math.log2(max(points, 2)) * cin_g * peak
             * (math.sqrt(window) * taps + window * math.sqrt(taps)))
    if error >= _EXACT_ERROR:
        raise ValueError(
            f"{name}: method='fft' on integers cannot guarantee an exact result: its "
            f"float64 error bound {error:.3g} (max|x| * max|weight| = {peak:.3g}, "
            f"{points} points per transform) is not below {_EXACT_ERROR}; use "
            f"method='direct' (exact) or cast to float64")


# --------------------------------------------------------------------------
# the method
# --------------------------------------------------------------------------

def _dilated_kernel(op, weight, geom, groups, dtype):
    """(groups, C_out/groups, C_in/groups, *span): the kernel K of the
    linear convolution, dilated, flipped for a convolution, channel axes
    swapped within each group for a transposed one."""
    kernel = geom.kernel_size
    if op == CONV:
        c_out, cin_g = weight.shape[:2]
        w = weight.reshape((groups, c_out // groups, cin_g) + kernel)[..., ::-1, ::-1, ::-1]
    else:
        c_in, cout_g = weight.shape[:2]
        w = weight.reshape((groups, c_in // groups, cout_g) + kernel).swapaxes(1, 2)
    span = tuple(d * (k - 1) + 1 for d, k in zip(geom.dilation, kernel))
    out = np.zeros(w.shape[:3] + span, dtype=dtype)
    out[(Ellipsis,) + tuple(slice(None, None, d) for d in geom.dilation)] = w
    return out


class DimBlocks(NamedTuple):
    """How one dim's blocks read their input and write their outputs.

    Cut dims (several blocks) read windows of ``length`` signal values
    every ``hop`` values from ``first_window`` on, zeros outside the
    signal; block ``b`` writes outputs ``b*per_block`` on from window
    position ``offset`` every ``step``.  A whole dim (one block) reads the
    part of the signal its outputs reach, ``first_window`` to
    ``first_window + length``, and writes the outputs ``valid`` (the others
    read past z: zeros)."""

    first_window: int
    hop: int
    length: int       # signal values per window
    offset: int       # window position of the block's first output
    step: int
    per_block: int    # outputs per (full) block
    valid: tuple      # outputs written, (first, end)


def dim_blocks(lin, per_block, dim):
    """The :class:`DimBlocks` of ``dim``, or None when no output of it
    reads z (the call's output is zeros)."""
    start, step, span = lin.start[dim], lin.step[dim], lin.span[dim]
    count, per = lin.n_out[dim], per_block[dim]
    if per < count:
        # overlap-save: the window of block b starts span - 1 before the z
        # index of its first output; n >= step*(per - 1) + span
        return DimBlocks(start - (span - 1), step * per, step * (per - 1) + span,
                         span - 1, step, per, (0, count))
    full = lin.signal[dim] + span - 1
    # outputs whose z index lies in [0, full)
    v0 = max(0, -(start // step))
    v1 = min(count, (full - 1 - start) // step + 1)
    if v1 <= v0:
        return None
    first, last = start + step * v0, start + step * (v1 - 1)
    i0 = max(first - span + 1, 0)
    i1 = min(last, lin.signal[dim] - 1)
    return DimBlocks(i0, 0, i1 + 1 - i0, first - i0, step, v1 - v0, (v0, v1))


def _batches(counts, batch):
    """Batches of at most ``batch`` blocks of the block grid ``counts``:
    (first, end) block per dim, a range of the last dims whole, then of
    one dim, single blocks before it."""
    split = 0
    while math.prod(counts[split + 1:]) > batch:
        split += 1
    along = max(1, batch // math.prod(counts[split + 1:]))
    singles = [range(c) for c in counts[:split]]
    for index in itertools.product(*singles):
        for b0 in range(0, counts[split], along):
            yield (tuple((i, i + 1) for i in index)
                   + ((b0, min(b0 + along, counts[split])),)
                   + tuple((0, c) for c in counts[split + 1:]))


def _read_window(x, lin, windows, out=None):
    """x's values under the signal windows ``windows`` (signal indices,
    per dim, within the signal), zero-inserted where the signal is: a view
    for a convolution without ``out``, else written to ``out``."""
    if lin.signal_step == (1, 1, 1):
        view = x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in windows)]
        if out is None:
            return view
        out[...] = view
        return out
    out[...] = 0
    target, source = [], []
    for (a, b), s in zip(windows, lin.signal_step):
        q0 = -(-a // s)                      # first input value in the window
        q1 = (b - 1) // s + 1
        target.append(slice(q0 * s - a, b - a, s))
        source.append(slice(q0, q1))
    out[(slice(None), slice(None)) + tuple(target)] = \
        x[(slice(None), slice(None)) + tuple(source)]
    return out


def _batch_windows(x, lin, dims, batch, scratch):
    """The input windows of a batch of blocks, (samples, B0, B1, B2, C_in,
    *window lengths): a strided view of x's values under the batch (of a
    copy in ``scratch``'s 'slab', with zeros, where the windows pass the
    signal's ends or for a transposed convolution's zero insertion)."""
    ranges = []
    for dim, (b0, b1) in zip(dims, batch):
        first = dim.first_window + dim.hop * b0
        ranges.append((first, first + dim.hop * (b1 - 1 - b0) + dim.length))
    inside = [(min(max(a, 0), n), max(min(b, n), 0)) for (a, b), n in zip(ranges, lin.signal)]
    shape = x.shape[:2] + tuple(b - a for a, b in ranges)
    if all(a == c and b == d for (a, b), (c, d) in zip(ranges, inside)):
        slab = _read_window(x, lin, ranges, None if lin.signal_step == (1, 1, 1)
                            else scratch.take("slab", shape, x.dtype))
    else:
        # zeros only where the slab passes the signal's ends
        slab = scratch.take("slab", shape, x.dtype)
        for d, ((a, b), (c, e)) in enumerate(zip(ranges, inside)):
            before = (slice(None),) * (2 + d)
            slab[before + (slice(0, max(c - a, 0)),)] = 0
            slab[before + (slice(max(e - a, 0), None),)] = 0
        if all(a < b for a, b in inside):
            _read_window(x, lin, inside, slab[(slice(None), slice(None)) + tuple(
                slice(c - a, d - a) for (a, _), (c, d) in zip(ranges, inside))])
    strides = slab.strides
    return np.lib.stride_tricks.as_strided(
        slab, shape=(slab.shape[0],) + tuple(b1 - b0 for b0, b1 in batch)
        + (slab.shape[1],) + tuple(dim.length for dim in dims),
        strides=(strides[0],) + tuple(dim.hop * s for dim, s in zip(dims, strides[2:]))
        + strides[1:], writeable=False)


def _write_blocks(target, z, dims, batch, convert):
    """Write a batch's outputs: ``z`` (samples, B0, B1, B2, groups,
    channels, *length) read at each dim's block offset and step, into
    ``target`` (samples, groups, channels, *outputs), the last block of a
    dim cropped to the outputs."""
    picks = tuple(slice(d.offset, d.offset + d.step * d.per_block, d.step) for d in dims)
    z = z[(Ellipsis,) + picks]
    # (samples, groups, channels, B0, R0, B1, R1, B2, R2)
    z = z.transpose(0, 4, 5, 1, 6, 2, 7, 3, 8)
    pieces = []
    for dim, (b0, b1) in zip(dims, batch):
        o0 = dim.valid[0] + b0 * dim.per_block
        end = min(o0 + (b1 - b0) * dim.per_block, dim.valid[1])
        full = (end - o0) // dim.per_block
        dim_pieces = []
        if full:
            dim_pieces.append((slice(0, full), slice(None), o0, full, dim.per_block))
        if o0 + full * dim.per_block < end:
            dim_pieces.append((slice(full, full + 1), slice(0, end - o0 - full * dim.per_block),
                               o0 + full * dim.per_block, 1, end - o0 - full * dim.per_block))
        pieces.append(dim_pieces)
    for piece in itertools.product(*pieces):
        source = z[(Ellipsis,) + tuple(s for p in piece for s in p[:2])]
        region = target[(Ellipsis,) + tuple(slice(p[2], p[2] + p[3] * p[4]) for p in piece)]
        region = region.reshape(region.shape[:3] + tuple(n for p in piece for n in p[3:]))
        convert(region, source)


def _mixing_kernel(kernel_spectrum, scratch):
    """The kernel spectra (groups, channels, C_in/g, *F) laid out for
    :func:`_mix`: (groups, channels, *F) for one input channel per group,
    else (groups, F, C_in/g, channels), contiguous, one matrix per
    frequency (in ``scratch``'s 'mixing kernel')."""
    g, channels, cin_g = kernel_spectrum.shape[:3]
    if cin_g == 1:
        return kernel_spectrum[:, :, 0]
    laid = kernel_spectrum.reshape(g, channels, cin_g, -1).transpose(0, 3, 2, 1)
    out = scratch.take("mixing kernel", laid.shape, laid.dtype)
    out[...] = laid
    return out


def _mix(spectrum, kernel, groups, scratch):
    """Per frequency and group, (samples, C_in/g) x (C_in/g, channels):
    spectrum (n, C_in, *F) and the :func:`_mixing_kernel` layout ->
    (n, groups * channels, *F), in ``spectrum`` itself for one channel
    pair per group, else in ``scratch``."""
    n, c_in = spectrum.shape[:2]
    freq_shape = spectrum.shape[2:]
    if c_in == groups:          # an elementwise product per channel
        channels = kernel.shape[1]
        a = spectrum.reshape((n, groups, 1) + freq_shape)
        if channels == 1:       # in place
            return np.multiply(a, kernel[None], out=a).reshape(spectrum.shape)
        out = scratch.take("mixed", (n, groups, channels) + freq_shape, spectrum.dtype)
        return np.multiply(a, kernel[None], out=out).reshape((n, groups * channels) + freq_shape)
    channels = kernel.shape[3]
    a = spectrum.reshape(n, groups, c_in // groups, -1).transpose(1, 3, 0, 2)
    product = scratch.take("product", a.shape[:3] + (channels,), spectrum.dtype)
    np.matmul(a, kernel, out=product)                           # (g, F, n, channels)
    out = scratch.take("mixed", (n, groups, channels, product.shape[1]), spectrum.dtype)
    out[...] = product.transpose(2, 0, 3, 1)
    return out.reshape((n, groups * channels) + freq_shape)


class Scratch:
    """Arrays a call reuses from block to block, kept from call to call
    (per thread, up to ``THRESHOLDS['fft_kept_bytes']``): a transform's
    fresh output costs a page fault per 4 KiB it writes, which on this
    workload class cost as much as the transforms themselves."""

    _local = threading.local()

    def __init__(self):
        self.arrays = {}

    @classmethod
    def of_thread(cls):
        scratch = getattr(cls._local, "scratch", None)
        if scratch is None:
            scratch = cls._local.scratch = cls()
        return scratch

    def take(self, name, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` named
        ``name``: a view of the one kept under that name when it is large
        enough, else a new one kept instead."""
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        kept = self.arrays.get(name)
        if kept is None or kept.dtype != dtype or kept.size < size:
            kept = self.arrays[name] = np.empty(size, dtype=dtype)
        return kept[:size].reshape(shape)

    def trim(self):
        """Keep at most ``fft_kept_bytes``, dropping the largest first."""
        limit = _planner.THRESHOLDS["fft_kept_bytes"]
        while sum(a.nbytes for a in self.arrays.values()) > limit:
            del self.arrays[max(self.arrays, key=lambda k: self.arrays[k].nbytes)]


class Transforms:
    """The real transforms of the dims longer than 1 of ``length`` (a size-1
    axis costs a pass), writing into given arrays: the last such axis
    real-to-complex, the others complex-to-complex in place, through
    pocketfft's ``out=`` (what scipy.fft calls underneath); where that
    interface is missing, scipy.fft's functions and a copy.  Unnormalised
    both ways: the caller multiplies the inverse's values by :attr:`scale`
    (1/points in the dtype, as scipy.fft's inverse does), so each output
    is scipy.fft's to the last bit."""

    def __init__(self, length, workers):
        self.length, self.workers = length, workers
        self.axes = tuple(d - 3 for d in range(3) if length[d] > 1) or (-1,)
        self.sizes = tuple(length[d] for d in self.axes)
        self.last, self.others = self.axes[-1], list(self.axes[:-1])
        # pocketfft's factor: 1/points in long double, rounded to the dtype
        self.scale = 1 / np.longdouble(math.prod(self.sizes))

    def spectrum_shape(self, prefix):
        """The spectrum's shape of real arrays ``prefix + length``."""
        shape = list(prefix + self.length)
        shape[self.last] = self.sizes[-1] // 2 + 1
        return tuple(shape)

    def forward(self, a, out):
        """``out`` = the transform of real ``a`` (full lengths)."""
        if _pocketfft is None:
            out[...] = scipy.fft.rfftn(a, axes=self.axes, workers=self.workers)
            return out
        _pocketfft.r2c(a, axes=[self.last], forward=True, inorm=0, out=out,
                       nthreads=self.workers)
        return self._others(out, forward=True)

    def inverse(self, spectrum, out):
        """``out`` = the unnormalised inverse of ``spectrum`` (overwritten)."""
        if _pocketfft is None:
            out[...] = scipy.fft.irfftn(spectrum, s=self.sizes, axes=self.axes,
                                        workers=self.workers, norm="forward")
            return out
        self._others(spectrum, forward=False)
        _pocketfft.c2r(spectrum, axes=[self.last], lastsize=self.sizes[-1], forward=False,
                       inorm=0, out=out, nthreads=self.workers)
        return out

    def _others(self, spectrum, forward):
        """The complex transforms of the axes but the last, in place."""
        if not self.others:
            return spectrum
        if _pocketfft is None:
            spectrum[...] = (scipy.fft.fftn if forward else scipy.fft.ifftn)(
                spectrum, axes=self.others, workers=self.workers,
                norm="backward" if forward else "forward")
            return spectrum
        _pocketfft.c2c(spectrum, axes=self.others, forward=forward, inorm=0, out=spectrum,
                       nthreads=self.workers)
        return spectrum

    def kernel_spectrum(self, kernel, scratch):
        """The transform of the small ``kernel`` (..., *span) zero-padded to
        the lengths, in ``scratch``'s 'kernel spectrum'.  Pruned: the last axis is
        transformed on the kernel's own lines only.  A kernel longer than
        a transform is cut to it (as rfftn's ``s``): the outputs read only
        positions the cut taps do not reach."""
        kernel = kernel[(Ellipsis,) + tuple(slice(0, n) for n in self.length)]
        prefix = kernel.shape[:-3]
        last = kernel.ndim + self.last
        spectrum = scratch.take("kernel spectrum", self.spectrum_shape(prefix),
                                np.result_type(kernel.dtype, np.complex64))
        spectrum[...] = 0
        lines = spectrum[(Ellipsis,) + tuple(
            slice(None) if axis == last else slice(0, kernel.shape[axis])
            for axis in range(len(prefix), kernel.ndim))]
        padded = scratch.take("kernel", kernel.shape[:last] + (self.sizes[-1],)
                              + kernel.shape[last + 1:], kernel.dtype)
        padded[...] = 0
        padded[(Ellipsis,) + tuple(slice(0, k) for k in kernel.shape[last:])] = kernel
        self._last_forward(padded, lines)
        self._others(spectrum, forward=True)
        return spectrum

    def _last_forward(self, a, out):
        if _pocketfft is None:
            out[...] = scipy.fft.rfft(a, axis=self.last, workers=self.workers)
        else:
            _pocketfft.r2c(a, axes=[self.last], forward=True, inorm=0, out=out,
                           nthreads=self.workers)
        return out


def _scaled(scale):
    """Write a block's inverse-transform values times ``scale`` (the
    inverse's normalisation) into the output."""
    def convert(target, source):
        np.multiply(source, scale.astype(source.dtype), out=target, casting="unsafe")
    return convert


def _rounded(scale):
    """As :func:`_scaled`, rounded to the nearest integer."""
    def convert(target, source):
        np.rint(source * scale.astype(source.dtype), out=target, casting="unsafe")
    return convert


def run_fft(op, x, weight, geom, groups, n_threads, out_dtype):
    """The linear-convolution form of ``op`` computed blockwise by FFT in
    the float dtype of ``x`` (the caller converts integers to float64):
    per tile of output channels, batch of blocks and tile of samples, one
    forward transform of the batch's windows, the mixing, one inverse,
    each into arrays of this thread's :class:`Scratch`."""
    dtype = x.dtype
    layout = fft_layout(op, x.shape, weight.shape, dtype.itemsize, geom, groups)
    lin, length = layout.linear, layout.length
    n_batch = x.shape[0]
    dims = [dim_blocks(lin, layout.per_block, d) for d in range(3)]
    kernel = _dilated_kernel(op, weight, geom, groups, dtype)
    cout_g = kernel.shape[1]
    out = np.empty((n_batch, groups * cout_g) + lin.n_out, dtype=out_dtype)
    if any(dim is None for dim in dims):
        out[...] = 0
        return out
    out_by_group = out.reshape((n_batch, groups, cout_g) + lin.n_out)
    for d, dim in enumerate(dims):      # outputs of a whole dim that read past z
        before = (slice(None),) * (3 + d)
        out_by_group[before + (slice(0, dim.valid[0]),)] = 0
        out_by_group[before + (slice(dim.valid[1], None),)] = 0
    transforms = Transforms(length, n_threads)
    convert = (_scaled if out_dtype.kind == "f" else _rounded)(transforms.scale)
    scratch = Scratch.of_thread()
    counts = tuple(-(-(d.valid[1] - d.valid[0]) // d.per_block) for d in dims)
    jobs = [(batch, n0, min(n0 + layout.samples, n_batch))
            for batch in _batches(counts, layout.batch)
            for n0 in range(0, n_batch, layout.samples)]
    try:
        for c0 in range(0, cout_g, layout.channels):
            c1 = min(c0 + layout.channels, cout_g)
            kernel_spectrum = _mixing_kernel(
                transforms.kernel_spectrum(kernel[:, c0:c1], scratch), scratch)
            for batch, n0, n1 in jobs:
                windows = _batch_windows(x[n0:n1], lin, dims, batch, scratch)
                a = scratch.take("windows", windows.shape[:5] + length, dtype)
                _fill(a, windows)
                spectrum = transforms.forward(
                    a, scratch.take("spectrum", transforms.spectrum_shape(a.shape[:5]),
                                    kernel_spectrum.dtype))
                mixed = _mix(spectrum.reshape((-1,) + spectrum.shape[4:]), kernel_spectrum,
                             groups, scratch)
                z = transforms.inverse(mixed, scratch.take(
                    "z", mixed.shape[:2] + length, dtype))
                z = z.reshape(windows.shape[:4] + (groups, c1 - c0) + length)
                _write_blocks(out_by_group[n0:n1, :, c0:c1], z, dims, batch, convert)
    finally:
        scratch.trim()
    return out


def _fill(a, windows):
    """``a`` (full transform lengths) = ``windows``, zeros past their ends."""
    a[(Ellipsis,) + tuple(slice(0, n) for n in windows.shape[-3:])] = windows
    for d, n in enumerate(windows.shape[-3:]):
        if n < a.shape[d - 3]:
            a[(Ellipsis,) + (slice(None),) * d + (slice(n, None),)
              + (slice(None),) * (2 - d)] = 0


def _non_finite(op, x, weight, plan):
    """'direct' on inputs with an inf or NaN, which an FFT would spread to
    every output.  A convolution gets its padding as explicit zeros, so an
    inf weight meets them as in the reference (inf * 0 = NaN)."""
    geom = plan.geom
    if op == CONV and any(geom.pad_before + geom.pad_after):
        widths = ((0, 0), (0, 0)) + tuple(zip(geom.pad_before, geom.pad_after))
        x = np.pad(x, widths)
        geom = _geometry.conv_geometry(x.shape[2:], geom.kernel_size, geom.stride, 0,
                                       geom.dilation)
    return _direct(op, x, weight, plan._replace(geom=geom))


def _finite(a):
    """No inf or NaN in float ``a``: its min and max (NaN propagates) are
    finite; two passes without the boolean copy of np.isfinite."""
    return bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def _direct(op, x, weight, plan):
    direct = _planner.method_plan(op, "direct", x.shape, weight, x.dtype, plan.geom,
                                  plan.groups, plan.n_threads)
    return _methods.execute(direct, x, weight)


def _fft(op, x, weight, plan):
    layout = fft_layout(op, x.shape, weight.shape, 8 if x.dtype.kind != "f"
                        else x.dtype.itemsize, plan.geom, plan.groups)
    if not layout.fits:
        # a dilation or stride so large that no block fits: the kernel's
        # taps read far-apart runs, which 'direct' reads without the gaps
        return _direct(op, x, weight, plan)
    if x.dtype.kind == "f":
        if not (_finite(x) and _finite(weight)):
            return _non_finite(op, x, weight, plan)
        return run_fft(op, x, weight, plan.geom, plan.groups, plan.n_threads, x.dtype)
    name = f"{op}{plan.geom.ndim}d"
    check_exact(name, x, weight, layout, plan.groups, op)
    return run_fft(op, x.astype(np.float64), weight.astype(np.float64), plan.geom,
                   plan.groups, plan.n_threads, x.dtype)


@_methods.register(CONV, "fft")
def conv_fft(x, weight, plan):
    """Convolution by FFT: blocks of the output, each from its input
    window's spectrum, channels mixed per frequency, one inverse transform
    per output channel; computed at stride 1 and subsampled.

    Error grows with log(transform size), not with the number of terms.
    Integers: float64 and rounded when provably exact, else ValueError.
    Non-finite inputs run 'direct'.  Threads: scipy.fft's workers.
    """
    return _fft(CONV, x, weight, plan)


@_methods.register(CONV_TRANSPOSE, "fft")
def conv_transpose_fft(x, weight, plan):
    """Transposed convolution by FFT: the zero-inserted input (built per
    block) convolved with the dilated kernel, the padding cropped and the
    output_padding read past the end; as :func:`conv_fft` otherwise."""
    return _fft(CONV_TRANSPOSE, x, weight, plan)
