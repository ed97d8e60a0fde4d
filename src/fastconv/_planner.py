"""Which method, and which kernel path inside it, a call runs.

Decided once per call and handed down as a :class:`Plan`: the methods read
the plan and run; the compiled kernels read its tables and hold no policy.

Each fast path has one small predicate named for what it tests
(:func:`is_pointwise`, :func:`reads_whole_input`,
:func:`tiles_without_overlap`, :func:`channels_fit`, ...), and every number
measured on a machine is in :data:`THRESHOLDS`, whose sources
docs/performance.rst gives.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from . import _borders, _depthwise, _direct, _direct_channels, _methods
from ._geometry import ConvGeometry
from ._phases import (PhaseSplit, RowSplit, TransposePhases, conv_phases, phase_size,
                      row_split, transpose_phases)
from ._validation import CONV, CONV_WEIGHT

#: Plans by call signature: small calls would spend most of their time
#: planning the same call again.  A plan depends on the arrays' shapes and
#: dtype, the geometry, groups, threads, the policy and, for a float
#: transposed convolution, whether the weights are finite and whether
#: the depthwise kernel factors them, and the padding mode.
_PLANS: dict[tuple[Any, ...], "Plan"] = {}
_PLANS_SIZE = 512


class _Thresholds(dict):
    """A dict that forgets the cached plans when an entry changes."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        _PLANS.clear()

    def __delitem__(self, key):
        super().__delitem__(key)
        _PLANS.clear()


#: Every tuned number of the planner (docs/performance.rst says where each
#: was measured).  Tests change entries with ``monkeypatch.setitem``.
THRESHOLDS: dict[str, Any] = _Thresholds({
    # 'auto': 'gemm' when at least this many channels share each column of
    # its column matrix (weight.shape[0] // groups)
    "gemm_min_shared_channels": 4,
    # 'auto': the channel-blocked direct kernel from this many multiply-adds
    # (below, its set-up outweighs what it saves) ...
    "channels_min_work": 2**20,
    # ... and, for transposed convolutions, up to this many input channels
    # per group (BLAS blocks longer sums better)
    "channels_max_input": 256,
    # 'auto', convolutions: gemm, not the channel-blocked kernel, below this
    # many input channels per group x taps (2 x 3x3 is below) on at most
    # this many output positions per image (too few terms per output)
    "channels_min_input_terms": 19,
    "gemm_max_small_output": 1024,
    # 'auto', transposed convolutions: gemm from this many input channels per
    # group on at most this many input positions per image (too few windows)
    "gemm_min_tiny_input_channels": 256,
    "gemm_max_tiny_input": 16,
    # channel-blocked kernel: at least this many input channels x taps per
    # group (per output phase for a transposed convolution) ...
    "channels_min_terms": 8,
    # ... and at most this many wide-output positions per output position
    "channels_max_widening": 4.0,
    # channel-blocked kernel: the copy and wide output of one thread's
    # window of rows, in bytes; the path is not taken when a window of one
    # row needs more than channels_max_window_bytes
    "channels_window_bytes": 4 * 2**20,
    "channels_max_window_bytes": 16 * 2**20,
    # channel-blocked kernel: all threads' windows together, at most; threads
    # beyond what this (or the work) allows get no buffers
    "channels_max_workspace_bytes": 256 * 2**20,
    # channel-blocked kernel: windows per thread, at least (balance)
    "channels_jobs_per_thread": 4,
    # channel-blocked kernel, convolutions: each row's outputs computed
    # alone, from this many vectors a row, when that saves at least this
    # fraction of the positions of whole rows
    "channels_min_row_vectors": 4,
    "channels_min_row_saving": 0.02,
    # gemm: the column (or phase) workspace of one call, in bytes
    "gemm_workspace_bytes": 8 * 2**20,
    # gemm, convolutions: one GEMM per tap (no im2col) from this many input
    # channels per group, while the wide output is at most this many times
    # the output's columns
    "shifted_min_channels": 8,
    "shifted_max_widening": 1.4,
    # gemm, weight gradients: one GEMM per kernel row on shifted phase
    # blocks (no columns) up to this many input channels per group (and
    # within the two numbers above); columns x GEMM beyond
    "weight_rows_max_channels": 32,
    # weight gradients, 'auto': the channel-blocked kernel (direct method)
    # from this many multiply-adds, where it applies and fits; gemm below
    "weight_channels_min_work": 2**20,
    # ... with at least this many output positions in a block of samples
    # (each tile's sums end in one horizontal sum per block) and, when the
    # input is split into several stride phases, at most this many input
    # channels per group (BLAS runs those faster) ...
    "weight_channels_min_positions": 1024,
    "weight_channels_max_split_channels": 64,
    # ... a block being the samples whose copies (and output gradients on
    # the copy's grid) fit this many bytes, one sample at least
    "weight_block_bytes": 8 * 2**20,
    # row kernels and scatter: one thread below this many multiply-adds
    "parallel_min_work": 2**16,
    # transposed convolutions: the channel-blocked kernel for at most this
    # many output phases (each a separate pass over the window)
    "channels_max_phases": 256,
    # padding modes: samples per call so that the padded copy of the input
    # (the transposed convolution's padded output) stays within this
    "padded_copy_bytes": 64 * 2**20,
    # fft: the workspace of one block (kernel spectra, input window and
    # spectrum, product, inverse transform), in bytes
    "fft_workspace_bytes": 32 * 2**20,
    # fft: points per transform, at most (larger ones leave the cache)
    "fft_block_points": 2**18,
    # fft: the fixed cost of one block, in transform points x log2
    "fft_block_overhead": 2**12,
    # fft: blocks share one transform call while their workspace (windows,
    # spectra, products) stays within this many bytes
    "fft_batch_bytes": 4 * 2**20,
    # fft: the arrays a call reuses block to block (transform inputs and
    # outputs, spectra, windows) kept for the next call, per thread, up to
    # this many bytes: a fresh array faults a page per 4 KiB written, ~40 %
    # of psf-31's time (1.7e3 faults of ~3 us a call)
    "fft_kept_bytes": 16 * 2**20,
    # fft: a batch's transform lines (blocks x samples x channels) a
    # multiple of this many bytes' worth of values (pocketfft's SIMD width,
    # 16 with SSE2, 32 with AVX)
    "fft_vector_bytes": 32,
    # 'auto': fft when fft_point_cost x its transforms' points x log2(points)
    # + fft_mix_cost x its complex multiply-adds < the call's multiply-adds
    # (all in units of one multiply-add of the direct / gemm kernels), from
    # fft_min_work multiply-adds
    "fft_point_cost": 12.0,
    "fft_mix_cost": 40.0,
    "fft_min_work": 2**24,
    # depthwise transposed convolutions: the depthwise kernel while its
    # weight table (kernel rows x W patterns x slots x lanes of 16) has at
    # most this many values per channel
    "depthwise_max_table": 2**14,
    # ... in its separable form (weights a product of kernel-row and W
    # factors) from this many terms per output (kernel rows reaching one
    # output row x taps along W)
    "depthwise_separable_min_terms": 4,
    # direct 'depthwise' (convolution): the phase-split input and the wide
    # output of one band of output rows, in bytes: a quarter of L1, as each
    # band is read once per tap and output channel (2 threads, 8 x C x 56^2
    # 3x3 and 7x7, 8 x 64 x 112^2 3x3 stride 2: 8 KiB 1.3-1.5x faster than
    # 32 KiB, which leaves L1 on the strided layer)
    "depthwise_band_bytes": 8 * 2**10,
})

#: BLAS takes 32-bit sizes and leading dimensions.
BLAS_INT_MAX = 2**31 - 1


class Plan(NamedTuple):
    """One call's decision: what runs, on how many threads, with which tables.

    Attributes
    ----------
    op : str
        'conv' or 'conv_transpose'.
    method : str
        The registered method that runs.
    path : str
        The kernel path inside it: 'rows', 'channels' or (one input
        channel per group) 'depthwise', or (transposed, weights a product
        of kernel-row and W factors) 'depthwise_separable', for 'direct';
        'whole_input', 'pointwise', 'shifted', 'im2col' (convolution) or
        'col2im', 'place' (transposed) for 'gemm', 'whole_input',
        'shifted_rows' or 'im2col' for its weight gradient ('channels' or
        'rows' for the direct one); the method's own name for
        the methods with one path; 'empty' when an array is empty (the
        output is zeros).
    geom : ConvGeometry
    groups : int
    n_threads : int
        OpenMP threads the kernel may use: the caller's count, less what the
        work or the workspace limit cannot use.
    phases : PhaseSplit or TransposePhases or RowSplit or None
        The stride-phase tables of the 'channels', 'shifted' and
        'shifted_rows' paths.
    windows : Windows or None
        'channels': how samples are cut into windows of rows.
    tile : tuple of 2 ints
        'gemm': (samples, positions) per tile of the workspace; direct
        'depthwise' of a convolution: (grid rows per band, 0); the weight
        gradient's 'channels': (samples per block, 0).
    per_sample : bool
        The weight gradient: one per sample instead of their sum.
    padding_mode : str
        What the kernels read on the padding of ``geom``: 'zeros', or a mode
        the planned path reads in place through ``border``
        (:func:`reads_border_in_place`).  A moded call whose path cannot is
        planned on the padded input (``_borders.padded_geometry``) with
        'zeros', and runs on a padded copy of the input.
    border : ndarray of intp or None
        With a mode: the border map of the phase-split copy
        (:func:`fastconv._borders.border_map`).
    """

    op: str
    method: str
    path: str
    geom: ConvGeometry
    groups: int
    n_threads: int
    phases: PhaseSplit | TransposePhases | RowSplit | None = None
    windows: Windows | None = None
    tile: tuple[int, int] = (0, 0)
    per_sample: bool = False
    padding_mode: str = "zeros"
    border: np.ndarray | None = None


# --------------------------------------------------------------------------
# predicates, one per fast path
# --------------------------------------------------------------------------

def is_pointwise(geom):
    """1x1 kernel, stride 1, no padding: the convolution is a plain matrix
    product over channels at every position."""
    return (geom.n_taps == 1 and geom.stride == (1, 1, 1)
            and geom.pad_before == (0, 0, 0)
            and geom.input_spatial == geom.output_spatial)


def reads_whole_input(geom):
    """One output position whose taps read the whole input in order."""
    return (geom.output_spatial == (1, 1, 1)
            and geom.input_spatial == geom.kernel_size
            and geom.pad_before == (0, 0, 0)
            and all(d == 1 or k == 1 for d, k in zip(geom.dilation, geom.kernel_size)))


def tiles_without_overlap(geom):
    """The kernel windows tile the transposed convolution's output without
    overlap: per dim, stride == kernel (or a single position), no padding,
    no dilation."""
    return all(
        p0 == 0 and p1 == 0 and (d == 1 or k == 1) and (s == k or o == 1)
        for p0, p1, d, k, s, o in zip(geom.pad_before, geom.pad_after, geom.dilation,
                                      geom.kernel_size, geom.stride, geom.output_spatial)
    )


def reads_border_in_place(plan):
    """The planned path reads a padding mode's border from the input itself
    (through a border map, in the stride-phase-split copy it makes anyway):
    a convolution on the direct method's channel-blocked path or gemm's
    im2col-free one."""
    return plan.op == CONV and plan.path in ("channels", "shifted")


def multiply_adds(x_shape, weight_shape, geom):
    """Multiply-adds of a call: per sample, weight size x the convolution's
    output positions (for a transposed convolution, its input positions)."""
    return x_shape[0] * math.prod(weight_shape) * math.prod(geom.output_spatial)


def depthwise_usable_for(dtype, cin_per_group, geom):
    """The depthwise kernel applies to a transposed convolution: floats, a
    vectorised build, one input channel per group, and a weight table of at
    most depthwise_max_table values per channel: kernel rows x patterns
    (stride / gcd(stride, 16) along W) x slots (taps reaching one output
    along W) x 16 lanes."""
    if not (dtype.kind == "f" and _depthwise.HAVE_SIMD and cin_per_group == 1):
        return False
    s, d, k = geom.stride[2], geom.dilation[2], geom.kernel_size[2]
    table = (geom.kernel_size[0] * geom.kernel_size[1] * (s // math.gcd(s, 16))
             * _depthwise.slots(s, d, k) * 16)
    return table <= THRESHOLDS["depthwise_max_table"]


def depthwise_separable_for(geom, weight):
    """The depthwise kernel's separable form applies and pays: kernel depth
    1, at least depthwise_separable_min_terms terms per output (kernel rows
    reaching one output row x taps along W) and weights that are, per
    output channel, exactly a product of a kernel-row factor and a W factor
    (:func:`fastconv._depthwise.row_factors`): each source row is passed
    along W once and each output row sums a few of those passes."""
    rows = _depthwise.slots(geom.stride[1], geom.dilation[1], geom.kernel_size[1])
    taps = _depthwise.slots(geom.stride[2], geom.dilation[2], geom.kernel_size[2])
    return (geom.kernel_size[0] == 1
            and rows * taps >= THRESHOLDS["depthwise_separable_min_terms"]
            and _depthwise.row_factors(weight) is not None)


def channels_usable_for(dtype, cout_per_group, terms):
    """The channel-blocked kernel applies: floats, a vectorised build, at
    least one register block of output channels and enough input channels
    x taps to fill it."""
    return (dtype.kind == "f" and _direct_channels.HAVE_SIMD
            and cout_per_group >= _direct_channels.CHANNEL_BLOCK
            and terms >= THRESHOLDS["channels_min_terms"])


def channels_fit(wide_positions, output_positions, bytes_one_row):
    """The channel-blocked kernel computes at most channels_max_widening
    wide-output positions per output position, and a window of one row
    fits channels_max_window_bytes."""
    return (wide_positions <= THRESHOLDS["channels_max_widening"] * output_positions
            and bytes_one_row <= THRESHOLDS["channels_max_window_bytes"])


def shifted_usable_for(cin_per_group, widening, bytes_per_sample):
    """gemm's im2col-free path applies: each tap's GEMM has at least
    shifted_min_channels input channels, computes at most
    shifted_max_widening x the output's columns, and one sample's phases and
    wide output fit the workspace."""
    return (cin_per_group >= THRESHOLDS["shifted_min_channels"]
            and widening <= THRESHOLDS["shifted_max_widening"]
            and bytes_per_sample <= THRESHOLDS["gemm_workspace_bytes"])


def fft_faster(op, x_shape, weight_shape, itemsize, geom, groups):
    """'auto' runs 'fft': a call of at least fft_min_work multiply-adds
    whose modelled FFT cost (fft_point_cost per point x log2 of its
    transforms, fft_mix_cost per complex multiply-add of its channel
    mixing, :func:`fastconv._fft.transform_work`) is below its
    multiply-adds."""
    work = multiply_adds(x_shape, weight_shape, geom)
    if work < THRESHOLDS["fft_min_work"]:
        return False
    from ._fft import transform_work   # _fft reads THRESHOLDS: imported late
    point_logs, mixing = transform_work(op, x_shape, weight_shape, geom, groups, itemsize)
    return (THRESHOLDS["fft_point_cost"] * point_logs
            + THRESHOLDS["fft_mix_cost"] * mixing) < work


# --------------------------------------------------------------------------
# the channel-blocked path's windows
# --------------------------------------------------------------------------

class Windows(NamedTuple):
    """The channel-blocked pass cut into jobs: windows of ``rows`` rows of
    the phase grid, each reading ``extra_rows`` past its end, with
    ``per_thread`` workspace values for each thread; ``jobs`` in all;
    ``by_row``: the kernel computes each row's outputs alone, not whole
    rows (:func:`row_outputs_alone`)."""

    rows: int
    extra_rows: int
    per_thread: int
    jobs: int
    by_row: bool = False


def channel_windows(n_batch, phases, counts, copy_channels, wide_channels, n_threads,
                    itemsize, rows=None):
    """Cut the channel-blocked pass into windows of rows: the copy
    (``copy_channels`` rows of the window and the rows read past it) and
    the wide outputs (``wide_channels`` rows) within channels_window_bytes,
    at least one row; at least channels_jobs_per_thread windows per thread."""
    row = phases.row
    slack = _direct_channels.CHANNEL_SLACK
    n_rows = int(((counts[:, 0] - 1) * phases.size[1] + counts[:, 1]).max())
    extra = int(phases.tap_shift.max()) // row + 1   # rows read past a window
    if rows is None:
        rows = ((THRESHOLDS["channels_window_bytes"] // itemsize
                 - copy_channels * (extra * row + slack) - wide_channels * slack)
                // (row * (copy_channels + wide_channels)))
        windows = -(-THRESHOLDS["channels_jobs_per_thread"] * n_threads // n_batch)
        rows = min(max(rows, 1), -(-n_rows // windows))
    per_thread = (copy_channels * ((rows + extra) * row + slack)
                  + wide_channels * (rows * row + slack))
    return Windows(rows, extra, per_thread, n_batch * -(-n_rows // rows))


def row_outputs_alone(output_width, row, itemsize):
    """The channel-blocked kernel computes the outputs of each row alone
    (whole vectors of them) rather than whole rows, padding columns
    included: from channels_min_row_vectors vectors a row, when that saves
    channels_min_row_saving of the positions at least."""
    per_vector = _direct_channels.simd_floats() * 4 // itemsize
    vectors = -(-output_width // per_vector)
    return (vectors >= THRESHOLDS["channels_min_row_vectors"]
            and vectors * per_vector <= (1 - THRESHOLDS["channels_min_row_saving"]) * row)


def _channel_threads(windows, n_threads, itemsize):
    """Threads given buffers: no more than the jobs, nor than the workspace
    limit allows."""
    budget = THRESHOLDS["channels_max_workspace_bytes"] // (windows.per_thread * itemsize)
    return max(1, min(n_threads, windows.jobs, budget))


def depthwise_conv_band(x_shape, dtype, geom, n_threads):
    """Grid rows per band of a convolution's 'depthwise' path (one input
    channel per group), or 0 where it does not apply: integers, a build
    without vectors, more than channels_max_phases stride phases, or a
    workspace over channels_max_workspace_bytes (strides or dilations of
    the order of the input).  A band's phase-split input and wide output
    stay within depthwise_band_bytes, while it has twice the rows it reads
    past its end at least, and bands are cut further until there are
    channels_jobs_per_thread jobs per thread."""
    phases = math.prod(geom.stride)
    if not (dtype.kind == "f" and _direct_channels.HAVE_SIMD
            and phases <= THRESHOLDS["channels_max_phases"]):
        return 0
    grid, extra = _direct.depthwise_grid(geom)
    n_rows = (geom.output_spatial[0] - 1) * grid[1] + geom.output_spatial[1]
    rows = ((THRESHOLDS["depthwise_band_bytes"] // dtype.itemsize - phases * extra * grid[2])
            // ((phases + 1) * grid[2]))
    planes = x_shape[0] * x_shape[1]
    wanted = -(-THRESHOLDS["channels_jobs_per_thread"] * n_threads // planes)
    # the rows a band reads past its end are copied once per band: at least
    # twice as many rows as those
    rows = min(max(rows, 2 * extra), -(-n_rows // wanted))
    rows = -(-n_rows // -(-n_rows // rows))     # bands of equal rows
    # whole blocks of the band kernel's rows, but for a last, short band
    rows = min(-(-rows // _direct.BAND_ROWS) * _direct.BAND_ROWS, n_rows)
    # one thread's workspace (_direct.depthwise_workspace), in Python ints
    lanes = _direct_channels.simd_floats() * 4 // dtype.itemsize
    values = (phases * ((rows + extra + _direct.BAND_ROWS) * grid[2] + 2 * lanes)
              + (rows + _direct.BAND_ROWS) * grid[2] + 2 * lanes)
    if values * dtype.itemsize * n_threads > THRESHOLDS["channels_max_workspace_bytes"]:
        return 0
    return rows


def _direct_conv_plan(x_shape, weight_shape, dtype, geom, groups, n_threads):
    """'direct' for a convolution: the channel-blocked path when it applies
    and fits, else the depthwise path for one input channel per group (the
    channel-blocked kernel is 10-25% faster from 4 output channels per
    group), else the row kernel."""
    cout_g = weight_shape[0] // groups
    if channels_usable_for(dtype, cout_g, weight_shape[1] * geom.n_taps):
        output = math.prod(geom.output_spatial)
        # Python ints first: the tables are built only when the grid fits
        if channels_fit(math.prod(phase_size(geom)), output, 0):
            phases = conv_phases(geom)
            copy = phases.n_phases * x_shape[1]
            counts = np.array([geom.output_spatial])
            win = channel_windows(x_shape[0], phases, counts, copy, weight_shape[0],
                                  n_threads, dtype.itemsize, rows=1)
            if channels_fit(0, output, win.per_thread * dtype.itemsize):
                win = channel_windows(x_shape[0], phases, counts, copy, weight_shape[0],
                                      n_threads, dtype.itemsize)._replace(
                    by_row=row_outputs_alone(geom.output_spatial[2], phases.row,
                                             dtype.itemsize))
                return Plan(CONV, "direct", "channels", geom, groups,
                            _channel_threads(win, n_threads, dtype.itemsize), phases,
                            win)
    if weight_shape[1] == 1:
        if multiply_adds(x_shape, weight_shape, geom) < THRESHOLDS["parallel_min_work"]:
            n_threads = 1
        band = depthwise_conv_band(x_shape, dtype, geom, n_threads)
        if band:
            return Plan(CONV, "direct", "depthwise", geom, groups, n_threads, tile=(band, 0))
    return _rows_plan(CONV, x_shape, weight_shape, geom, groups, n_threads)


def _direct_transpose_plan(x_shape, weight, dtype, geom, groups, n_threads, finite):
    """'direct' for a transposed convolution: the channel-blocked path, one
    stride-1 pass per output phase, when it applies and fits and the
    weights are finite (the phases read zero padding, where inf * 0 would
    add a NaN the scatter-add never adds); else the depthwise kernel for
    one input channel per group; else the row kernel."""
    c_in, cout_g = weight.shape[:2]
    phases_bound = math.prod(min(s, n) for s, n in zip(geom.stride, geom.input_spatial))
    terms = c_in // groups * geom.n_taps // math.prod(geom.stride)
    if (channels_usable_for(dtype, cout_g, terms) and phases_bound <= THRESHOLDS["channels_max_phases"]
            and math.prod(geom.output_spatial) <= THRESHOLDS["channels_max_widening"]
            * math.prod(geom.input_spatial)):
        phases = transpose_phases(geom)
        if phases.n_phases:
            c_out = cout_g * groups
            win = channel_windows(x_shape[0], phases, phases.count, c_in,
                                  phases.n_phases * c_out, n_threads, dtype.itemsize,
                                  rows=1)
            if (channels_fit(phases.wide_positions(), math.prod(geom.input_spatial),
                             win.per_thread * dtype.itemsize)
                    and (finite if finite is not None else bool(np.isfinite(weight).all()))):
                win = channel_windows(x_shape[0], phases, phases.count, c_in,
                                      phases.n_phases * c_out, n_threads, dtype.itemsize)
                return Plan("conv_transpose", "direct", "channels", geom, groups,
                            _channel_threads(win, n_threads, dtype.itemsize), phases,
                            win)
    if depthwise_usable_for(dtype, c_in // groups, geom):
        path = "depthwise_separable" if depthwise_separable_for(geom, weight) else "depthwise"
        return _rows_plan("conv_transpose", x_shape, weight.shape, geom, groups, n_threads,
                          path=path)
    return _rows_plan("conv_transpose", x_shape, weight.shape, geom, groups, n_threads)


def _rows_plan(op, x_shape, weight_shape, geom, groups, n_threads, method="direct",
               path="rows"):
    """A plan on the row (or scatter) kernel: threads only for calls of
    parallel_min_work, and no more than the output rows."""
    c_out = weight_shape[0] if op == CONV else weight_shape[1] * groups
    out_spatial = geom.output_spatial if op == CONV else geom.input_spatial
    if multiply_adds(x_shape, weight_shape, geom) < THRESHOLDS["parallel_min_work"]:
        n_threads = 1
    rows = x_shape[0] * c_out * out_spatial[0] * (out_spatial[1] if path != "scatter" else 1)
    return Plan(op, method, path, geom, groups, max(1, min(n_threads, rows)))


def gemm_tiles(n_batch, rows, n_pos, itemsize):
    """(samples, positions) per tile for ``rows`` x ``n_pos`` workspace
    values per sample: whole samples while they fit gemm_workspace_bytes,
    else one sample cut along its positions (one column at least)."""
    budget = max(THRESHOLDS["gemm_workspace_bytes"] // itemsize, rows)
    per_sample = rows * n_pos
    if per_sample <= budget:
        return min(n_batch, budget // per_sample), n_pos
    return 1, budget // rows


def _check_blas_sizes(*sizes):
    if max(sizes) > BLAS_INT_MAX:
        raise ValueError(
            f"method='gemm': a matrix dimension ({max(sizes)}) exceeds BLAS's "
            f"32-bit limit {BLAS_INT_MAX}; use method='auto'"
        )


def _gemm_plan(op, x_shape, weight_shape, dtype, geom, groups, n_threads):
    """'gemm': one GEMM when the columns need no rearranging, else the
    im2col-free path or im2col (convolution), col2im or a plain copy
    (transposed)."""
    n_batch, c_in = x_shape[:2]
    c_out = weight_shape[0] if op == CONV else weight_shape[1] * groups
    taps, n_pos = geom.n_taps, math.prod(geom.output_spatial)
    _check_blas_sizes(n_batch, n_pos, c_in * taps, c_out * taps)
    if reads_whole_input(geom):
        return Plan(op, "gemm", "whole_input", geom, groups, n_threads)
    if is_pointwise(geom):
        return Plan(op, "gemm", "pointwise", geom, groups, n_threads)
    if op != CONV:
        # the columns and, for tiles of several samples, the copy of their x
        tile = gemm_tiles(n_batch, c_out * taps + c_in, n_pos, dtype.itemsize)
        path = "place" if tiles_without_overlap(geom) else "col2im"
        return Plan(op, "gemm", path, geom, groups, n_threads, tile=tile)
    grid = math.prod(phase_size(geom))
    # Python ints first (one phase per channel at least): the tables are
    # built only when a sample may fit
    if shifted_usable_for(c_in // groups, grid / n_pos,
                          (c_in + c_out) * grid * dtype.itemsize):
        phases = conv_phases(geom, share_columns=False)
        values = (phases.n_phases * c_in + c_out) * grid
        if shifted_usable_for(c_in // groups, grid / n_pos, values * dtype.itemsize):
            tile = gemm_tiles(n_batch, values, 1, dtype.itemsize)
            _check_blas_sizes(tile[0] * values)
            return Plan(op, "gemm", "shifted", geom, groups, n_threads, phases,
                        tile=tile)
    tile = gemm_tiles(n_batch, c_in * taps, n_pos, dtype.itemsize)
    return Plan(op, "gemm", "im2col", geom, groups, n_threads, tile=tile)


def method_plan(op, method, x_shape, weight, dtype, geom, groups, n_threads,
                finite=None):
    """The :class:`Plan` of ``method`` (not 'auto') for this call;
    ``finite``, whether every weight is finite, is computed when needed and
    not given."""
    if 0 in x_shape or 0 in weight.shape:   # nothing to compute: zeros
        return Plan(op, method, "empty", geom, groups, 1)
    if method == "direct":
        if op == CONV:
            return _direct_conv_plan(x_shape, weight.shape, dtype, geom, groups, n_threads)
        return _direct_transpose_plan(x_shape, weight, dtype, geom, groups, n_threads,
                                      finite)
    if method == "gemm":
        return _gemm_plan(op, x_shape, weight.shape, dtype, geom, groups, n_threads)
    if method == "scatter":
        return _rows_plan(op, x_shape, weight.shape, geom, groups, n_threads,
                          "scatter", "scatter")
    return Plan(op, method, method, geom, groups, n_threads)


# --------------------------------------------------------------------------
# 'auto'
# --------------------------------------------------------------------------

def auto_rule(op, x_shape, weight, dtype, geom, groups):
    """The method ``method='auto'`` runs by rule.

    - integer (and bool) inputs: 'direct', which is exact ('gemm' is float
      only);
    - float inputs that :func:`fft_faster` finds cheaper by FFT: 'fft';
    - float inputs of at least ``channels_min_work`` multiply-adds that the
      direct method's channel-blocked kernel takes: 'direct', for a
      convolution unless it is pointwise (one plain GEMM), for a transposed
      convolution when it has at most ``channels_max_input`` input channels
      per group and its kernel windows do not tile the output; except
      convolutions with few input channels x taps on small outputs and
      transposed convolutions with many input channels on tiny inputs,
      which BLAS runs faster (see ``_rule_plan``);
    - other float inputs: 'gemm' when at least ``gemm_min_shared_channels``
      channels share each column of its column matrix
      (``weight.shape[0] // groups``: output channels per group for a
      convolution, input channels per group for a transposed one);
      otherwise 'direct'.

    Why, and the measurements behind each number: docs/performance.rst.
    """
    return _rule_plan(op, x_shape, weight, dtype, geom, groups, 1, None).method


def _rule_plan(op, x_shape, weight, dtype, geom, groups, n_threads, finite):
    """The plan of :func:`auto_rule`'s choice (built once: the channel-blocked
    plan it considers is the one that runs).

    Two exceptions send calls the channel-blocked kernel takes to gemm:
    convolutions with fewer than ``channels_min_input_terms`` input
    channels per group x taps on at most ``gemm_max_small_output`` output
    positions per image, and transposed convolutions with at least
    ``gemm_min_tiny_input_channels`` input channels per group on at most
    ``gemm_max_tiny_input`` input positions per image (geom describes the
    forward convolution: its output is their input)."""
    if dtype.kind != "f":
        return method_plan(op, "direct", x_shape, weight, dtype, geom, groups, n_threads)
    if fft_faster(op, x_shape, weight.shape, dtype.itemsize, geom, groups):
        return method_plan(op, "fft", x_shape, weight, dtype, geom, groups, n_threads)
    enough = weight.shape[0] // groups >= THRESHOLDS["gemm_min_shared_channels"]
    if op == CONV and not enough:   # too few output channels for either kernel
        return method_plan(op, "direct", x_shape, weight, dtype, geom, groups, n_threads,
                           finite)
    if multiply_adds(x_shape, weight.shape, geom) >= THRESHOLDS["channels_min_work"]:
        c_in = x_shape[1] // groups
        if op == CONV:
            wanted = not is_pointwise(geom) and (
                c_in * geom.n_taps >= THRESHOLDS["channels_min_input_terms"]
                or math.prod(geom.output_spatial) > THRESHOLDS["gemm_max_small_output"])
        else:
            tiny = (c_in >= THRESHOLDS["gemm_min_tiny_input_channels"]
                    and math.prod(geom.output_spatial) <= THRESHOLDS["gemm_max_tiny_input"])
            wanted = (c_in <= THRESHOLDS["channels_max_input"]
                      and not tiles_without_overlap(geom) and not tiny)
        if wanted:
            direct = method_plan(op, "direct", x_shape, weight, dtype, geom, groups,
                                 n_threads, finite)
            if direct.path in ("channels", "depthwise", "depthwise_separable"):
                return direct
    return method_plan(op, "gemm" if enough else "direct", x_shape, weight, dtype, geom,
                       groups, n_threads, finite)


_POLICIES = ("rule", "measure")
_policy = "rule"


def set_auto_policy(policy: str) -> str:
    """Set how ``method='auto'`` chooses, for this process; returns the
    previous policy.

    Parameters
    ----------
    policy : {'rule', 'measure'}
        'rule' (the default) applies :func:`fastconv.choose_method`'s rule.
        'measure' times every applicable method the first time a call
        signature (operation, shapes, dtype, geometry, groups, threads) is
        seen, on that call's arrays, and runs the fastest from then on.

    Returns
    -------
    str
        The policy in force before the call.

    Examples
    --------
    >>> import fastconv
    >>> previous = fastconv.set_auto_policy("measure")
    >>> fastconv.set_auto_policy(previous)
    'measure'
    """
    global _policy
    if policy not in _POLICIES:
        raise ValueError(f"set_auto_policy: policy must be one of {_POLICIES}, got {policy!r}")
    previous, _policy = _policy, policy
    return previous


@contextlib.contextmanager
def auto_policy(policy: str) -> Iterator[None]:
    """Context manager: :func:`set_auto_policy` for the ``with`` block.

    Parameters
    ----------
    policy : {'rule', 'measure'}
        As for :func:`set_auto_policy`.

    Returns
    -------
    context manager
        Restores the previous policy on exit.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> with fastconv.auto_policy("measure"):
    ...     y = fastconv.conv2d(np.ones((1, 8, 16, 16)), np.ones((8, 8, 3, 3)))
    >>> y.shape
    (1, 8, 14, 14)
    """
    previous = set_auto_policy(policy)
    try:
        yield
    finally:
        set_auto_policy(previous)


def clear_plans() -> None:
    """Forget the plans made so far (the 'measure' policy's choices too)."""
    _PLANS.clear()


def applicable_methods(op, dtype):
    """The registered methods that compute ``dtype`` for ``op``."""
    return [name for name in _methods.method_names(op)[1:]
            if dtype.kind == "f" or _methods.supports_integers(op, name)]


def measure(op, x, weight, geom, groups, n_threads, repeats=3):
    """Seconds per call (best of ``repeats``) of every applicable method on
    these 5-D arrays; a method that refuses the call (a size limit) is
    left out."""
    timings = {}
    for name in applicable_methods(op, x.dtype):
        try:
            plan = method_plan(op, name, x.shape, weight, x.dtype, geom, groups, n_threads)
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                _methods.execute(plan, x, weight)
                best = min(best, time.perf_counter() - start)
        except (ValueError, MemoryError):
            continue
        timings[name] = best
    return timings


def plan(op, x, weight, geom, groups, method, n_threads, padding_mode="zeros"):
    """The :class:`Plan` of a call on checked 5-D arrays: ``method``, or for
    'auto' the rule's choice (or the measured one, under the 'measure'
    policy).

    With a padding mode other than zeros, the method and path are chosen as
    for the convolution of the padded input (``_borders.padded_geometry``);
    a path that :func:`reads_border_in_place` then runs on ``geom`` itself,
    with ``padding_mode`` and the border map in the plan.  Any other plan is
    the padded input's, with ``padding_mode`` 'zeros': the caller pads (or,
    for a transposed convolution, folds) around it."""
    finite = None
    if op != CONV and channels_usable_for(x.dtype, weight.shape[1], THRESHOLDS[
            "channels_min_terms"]):
        # the channel-blocked path may apply, and only for finite weights
        finite = bool(np.isfinite(weight).all())
    # the depthwise kernel's separable form, only for weights it factors
    factors = (op != CONV and x.dtype.kind == "f" and weight.shape[0] == groups
               and _depthwise.row_factors(weight) is not None)
    key = (op, method, _policy, x.shape, weight.shape, x.dtype.char, geom, groups,
           n_threads, finite, factors, padding_mode)
    cached = _PLANS.get(key)
    if cached is not None:
        return cached
    if padding_mode == "zeros":
        made = _choose(op, lambda: x, x.shape, x.dtype, weight, geom, groups, method,
                       n_threads, finite)
    else:
        inner = _borders.padded_geometry(geom)
        if op == CONV:
            made = _choose(op, lambda: _borders.pad(x, geom, padding_mode),
                           x.shape[:2] + inner.input_spatial, x.dtype, weight, inner,
                           groups, method, n_threads, finite)
        else:
            made = _choose(op, lambda: x, x.shape, x.dtype, weight, inner, groups, method,
                           n_threads, finite)
        # the padded input has no padding of its own, so its phase tables keep
        # whole rows (no shared padding columns, which a mode's border would
        # not fill) and serve the unpadded input read through the map as is
        if reads_border_in_place(made):
            made = made._replace(geom=geom, padding_mode=padding_mode, border=(
                _borders.border_map(geom, padding_mode, made.phases.size)))
    if len(_PLANS) >= _PLANS_SIZE:
        _PLANS.clear()
    _PLANS[key] = made
    return made


def _choose(op, make_x, x_shape, dtype, weight, geom, groups, method, n_threads, finite):
    """:func:`plan`'s choice for an input of shape ``x_shape``;
    ``make_x()`` gives that input, needed only to measure."""
    if method == "auto" and _policy != "measure":
        return _rule_plan(op, x_shape, weight, dtype, geom, groups, n_threads, finite)
    if method == "auto":
        timings = measure(op, make_x(), weight, geom, groups, n_threads)
        method = min(timings, key=timings.__getitem__)
    return method_plan(op, method, x_shape, weight, dtype, geom, groups, n_threads, finite)


def weight_channels_usable_for(dtype, cout_per_group, pairs):
    """The weight gradient's channel-blocked kernel applies: floats, a
    vectorised build, a register tile of output channels and of (input
    channel, tap) pairs (``pairs`` per group)."""
    return (dtype.kind == "f" and _direct_channels.HAVE_SIMD
            and cout_per_group >= _direct_channels.CHANNEL_BLOCK
            and pairs >= _direct_channels.WEIGHT_MAX_TERMS)


def _weight_channels_plan(x_shape, c_out, dtype, geom, groups, n_threads, per_sample):
    """The weight gradient's channel-blocked plan, or None where the kernel
    does not apply or fit: it reads the forward path's phase split, whose
    grid has at most channels_max_widening positions per output, and one
    sample's copy and output gradient on the grid fit
    channels_max_workspace_bytes.  ``tile[0]``: samples per block, as many
    as fit weight_block_bytes (one with ``per_sample``)."""
    n_batch, c_in = x_shape[:2]
    if not weight_channels_usable_for(dtype, c_out // groups, c_in // groups * geom.n_taps):
        return None
    output, grid = math.prod(geom.output_spatial), math.prod(phase_size(geom))
    if not channels_fit(grid, output, 0):
        return None
    phases = conv_phases(geom)
    sample_bytes = ((phases.n_phases * c_in + c_out) * grid
                    + c_in * _direct_channels.CHANNEL_SLACK) * dtype.itemsize
    if sample_bytes > THRESHOLDS["channels_max_workspace_bytes"]:
        return None
    block = 1 if per_sample else max(1, min(n_batch, THRESHOLDS["weight_block_bytes"]
                                            // sample_bytes))
    # the fewest tiles of any SIMD version: no more threads
    tiles = (groups * -(-c_out // groups // _direct_channels.CHANNEL_BLOCK)
             * -(-c_in // groups * geom.n_taps // _direct_channels.WEIGHT_MAX_TERMS))
    return Plan(CONV_WEIGHT, "direct", "channels", geom, groups,
                max(1, min(n_threads, tiles)), phases, tile=(block, 0),
                per_sample=per_sample)


def weight_gradient_plan(x, grad, geom, groups, method, n_threads, per_sample):
    """The :class:`Plan` of a weight gradient (op 'conv_weight') on 5-D
    arrays: ``x`` the convolution's input, ``grad`` its output gradient
    (made once per call signature, as :func:`plan`'s)."""
    key = (CONV_WEIGHT, method, x.shape, grad.shape, x.dtype.char, geom, groups,
           n_threads, per_sample)
    made = _PLANS.get(key)
    if made is None:
        made = _weight_gradient_plan(x, grad, geom, groups, method, n_threads, per_sample)
        if len(_PLANS) >= _PLANS_SIZE:
            _PLANS.clear()
        _PLANS[key] = made
    return made


def _weight_gradient_plan(x, grad, geom, groups, method, n_threads, per_sample):
    """:func:`weight_gradient_plan`'s choice.  'auto' runs 'direct' for integers (exact) and, for floats, its
    channel-blocked path where it applies to a call of at least
    weight_channels_min_work multiply-adds, with at least
    weight_channels_min_positions output positions per block of samples,
    at most weight_channels_max_split_channels input channels per group
    when the input is split into several stride phases, and whose kernel
    does not read the whole input at one position; 'gemm' otherwise."""
    if not (x.size and grad.size):   # nothing to compute: zeros
        return Plan(CONV_WEIGHT, "gemm" if method == "auto" else method, "empty", geom,
                    groups, 1, per_sample=per_sample)
    if method == "auto" and x.dtype.kind != "f":
        method = "direct"
    if method == "auto" or (method == "direct" and x.dtype.kind == "f"):
        work = x.shape[0] * x.shape[1] // groups * grad.shape[1] * geom.n_taps * math.prod(
            geom.output_spatial)
        channels = (None if method == "auto" and (
            work < THRESHOLDS["weight_channels_min_work"] or reads_whole_input(geom))
            else _weight_channels_plan(x.shape, grad.shape[1], x.dtype, geom, groups,
                                       n_threads, per_sample))
        if channels is not None and (method == "direct" or (
                channels.tile[0] * math.prod(geom.output_spatial)
                >= THRESHOLDS["weight_channels_min_positions"]
                and (channels.phases.n_phases == 1 or x.shape[1] // groups
                     <= THRESHOLDS["weight_channels_max_split_channels"]))):
            return channels
        if method == "auto":
            method = "gemm"
    if method == "gemm":
        taps, n_pos = geom.n_taps, math.prod(geom.output_spatial)
        _check_blas_sizes(grad.shape[1], x.shape[1] * taps, n_pos)
        c_in, c_out, itemsize = x.shape[1], grad.shape[1], x.dtype.itemsize
        if reads_whole_input(geom):   # the samples are the GEMM's inner dimension
            _check_blas_sizes(x.shape[0])
            return Plan(CONV_WEIGHT, "gemm", "whole_input", geom, groups, n_threads,
                        per_sample=per_sample)
        grid = math.prod(phase_size(geom))
        # without columns when each GEMM has enough channels, but not so many
        # that BLAS runs the columns' one wide GEMM per sample faster, and
        # little padding: one GEMM per kernel row (all its W taps) on the
        # input split into shifted phase blocks
        if (c_in // groups <= THRESHOLDS["weight_rows_max_channels"]
                and shifted_usable_for(c_in // groups, grid / n_pos,
                                       (c_in + c_out) * grid * itemsize)):
            rows = row_split(geom)
            values = (len(rows.block_residue) * c_in + c_out) * grid
            if shifted_usable_for(c_in // groups, grid / n_pos, values * itemsize):
                tile = (1, 1) if per_sample else gemm_tiles(x.shape[0], values, 1, itemsize)
                _check_blas_sizes(tile[0] * values)
                return Plan(CONV_WEIGHT, "gemm", "shifted_rows", geom, groups, n_threads,
                            rows, tile=tile, per_sample=per_sample)
        tile = gemm_tiles(1, c_in * taps, n_pos, itemsize)
        return Plan(CONV_WEIGHT, "gemm", "im2col", geom, groups, n_threads, tile=tile,
                    per_sample=per_sample)
    if method == "direct":
        swapped = geom.weight_gradient_geometry()
        work = x.shape[0] * x.shape[1] * math.prod(geom.output_spatial) * grad.shape[1]
        threads = 1 if work < THRESHOLDS["parallel_min_work"] else n_threads
        rows = x.shape[1] * grad.shape[1] * swapped.output_spatial[0] * swapped.output_spatial[1]
        return Plan(CONV_WEIGHT, "direct", "rows", geom, groups,
                    max(1, min(threads, rows)), per_sample=per_sample)
    return Plan(CONV_WEIGHT, method, method, geom, groups, n_threads,
                per_sample=per_sample)
