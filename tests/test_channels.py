"""The direct method's channel-blocked path (plan path 'channels':
_methods.conv_direct and _methods.conv_transpose_direct on the kernel of
_direct_channels.channels_pass, as _planner plans it).

A convolution with at least CHANNEL_BLOCK (4) output channels per group
runs a kernel that computes blocks of 4 output channels x a few vectors of
positions from a zero-padded, stride-phase-split copy of each sample, cut
into windows of rows.  A transposed convolution with as many output
channels per group runs the same kernel once per output phase
(_phases.transpose_phases) on a zero-padded copy of its input.  The
sweep's random cases rarely reach it (it needs >= 4 output channels per
group and, by default, >= 8 input channels x taps per group), so these
tests force it and check it against the reference: every register-block
remainder (4 to 7 output channels per group), 1 to 20 input channels per
group, outputs shorter than one vector block or one vector past whole
blocks, output phases without taps, every SIMD version, windows of
one row to the whole sample, thread counts, the inputs a user passes, NaN
and inf, the polyphase split itself, and the rules that choose the path.
Each behaviour the two operations share is one test, run for both through
a small class per operation (its cases, its call, its reference and the
workspace of its windows).
"""

import math

import numpy as np
import pytest

import fastconv
from fastconv import _direct_channels, _phases, _planner
from fastconv._geometry import conv_geometry, conv_transpose_geometry
from helpers import phases_read, random_arrays
from reference import conv, conv_transpose
from sweep import assert_close
from tables import FLOAT_DTYPES as DTYPES

# (id, nd, x shape, weight shape, stride, padding pairs, dilation, groups)
CASES = [
    # 1-D
    ("1d-out3-shorter-than-a-block", 1, (2, 3, 5), (5, 3, 3), (1,), ((0, 0),), (1,), 1),
    ("1d-s2-d2-cout6", 1, (2, 4, 23), (6, 4, 4), (2,), ((3, 1),), (2,), 1),
    ("1d-s3-cout7", 1, (3, 2, 40), (7, 2, 5), (3,), ((0, 2),), (1,), 1),
    ("1d-cin1-k9-cout5-g2", 1, (2, 2, 30), (10, 1, 9), (1,), ((4, 4),), (1,), 2),
    ("1d-450-positions", 1, (1, 3, 450), (4, 3, 3), (1,), ((1, 1),), (1,), 1),
    # 2-D
    ("2d-cout4", 2, (2, 3, 7, 6), (4, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("2d-cout8", 2, (2, 8, 9, 11), (8, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("2d-s2-d2-cout5-g2", 2, (2, 4, 10, 9), (10, 2, 3, 2), (2, 2), ((1, 0), (0, 2)),
     (2, 1), 2),
    ("2d-cout6-cin12", 2, (1, 12, 8, 9), (6, 12, 3, 3), (1, 1), ((1, 1), (1, 1)),
     (1, 1), 1),
    ("2d-s3-d2-cout7-cin9-g2", 2, (2, 18, 11, 10), (14, 9, 3, 3), (3, 2),
     ((2, 1), (0, 0)), (1, 2), 2),
    ("2d-cout4-cin17", 2, (1, 17, 6, 7), (4, 17, 2, 2), (1, 1), ((0, 1), (1, 0)),
     (1, 1), 1),
    ("2d-cout34", 2, (1, 3, 12, 13), (34, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("2d-cout36-cin10", 2, (1, 10, 9, 9), (36, 10, 3, 3), (1, 1), ((1, 1), (1, 1)),
     (1, 1), 1),
    ("2d-cin1-k5-cout5-g3", 2, (2, 3, 12, 12), (15, 1, 5, 5), (1, 1), ((2, 2), (2, 2)),
     (1, 1), 3),
    ("2d-kernel-is-input-cout4-g3", 2, (2, 6, 5, 5), (12, 2, 5, 5), (1, 1),
     ((0, 0), (0, 0)), (1, 1), 3),
    ("2d-d2-cout9", 2, (1, 5, 17, 23), (9, 5, 3, 3), (1, 1), ((0, 2), (1, 1)), (2, 1), 1),
    ("2d-s2-cout12", 2, (2, 6, 15, 14), (12, 6, 3, 3), (2, 2), ((1, 1), (1, 1)),
     (1, 1), 1),
    # 3-D
    ("3d-s2-d2-cout4", 3, (2, 3, 6, 7, 5), (4, 3, 3, 2, 3), (1, 2, 1),
     ((1, 0), (1, 1), (0, 2)), (1, 1, 2), 1),
    ("3d-s3-d2-cout5-g2", 3, (2, 4, 7, 6, 8), (10, 2, 2, 3, 3), (2, 3, 2),
     ((0, 1), (2, 0), (1, 1)), (2, 1, 1), 2),
    ("3d-cout6-cin9", 3, (1, 9, 5, 6, 7), (6, 9, 3, 3, 3), (1, 1, 1),
     ((1, 1), (1, 1), (1, 1)), (1, 1, 1), 1),
    ("3d-cin1-k3-cout4-g2", 3, (1, 2, 6, 6, 6), (8, 1, 3, 3, 3), (1, 1, 1),
     ((1, 1), (1, 1), (1, 1)), (1, 1, 1), 2),
]

# (id, nd, x shape, weight shape (C_in, C_out/groups, *kernel), stride,
#  padding pairs, output_padding, dilation, groups)
TCASES = [
    # 1-D
    ("1d-k1-s3-cout4", 1, (2, 5, 7), (5, 4, 1), (3,), ((0, 0),), (0,), (1,), 1),
    ("1d-k2-s3-op2-cout5", 1, (2, 3, 9), (3, 5, 2), (3,), ((1, 0),), (2,), (1,), 1),
    ("1d-k3-s2-d2-p4-cout6", 1, (2, 6, 11), (6, 6, 3), (2,), ((4, 4),), (1,), (2,), 1),
    ("1d-s1-d2-op1-cout7", 1, (1, 2, 13), (2, 7, 4), (1,), ((1, 2),), (1,), (2,), 1),
    ("1d-cin20-cout16", 1, (2, 20, 9), (20, 16, 3), (2,), ((1, 1),), (1,), (1,), 1),
    ("1d-input1-cout4-g2", 1, (1, 6, 1), (6, 4, 3), (2,), ((0, 0),), (0,), (1,), 2),
    ("1d-k2-s3-padding-past-taps", 1, (1, 3, 3), (3, 4, 2), (3,), ((3, 2),), (0,),
     (1,), 1),
    # 2-D
    ("2d-dcgan-k4-s2-p1-cout8", 2, (2, 8, 5, 6), (8, 8, 4, 4), (2, 2),
     ((1, 1), (1, 1)), (0, 0), (1, 1), 1),
    ("2d-unet-k2-s2-cout5", 2, (2, 6, 6, 5), (6, 5, 2, 2), (2, 2), ((0, 0), (0, 0)),
     (0, 0), (1, 1), 1),
    ("2d-k1-s3-op-cout6", 2, (1, 4, 4, 3), (4, 6, 1, 1), (3, 3), ((0, 0), (0, 0)),
     (2, 1), (1, 1), 1),
    ("2d-k2-s3-d2-cout4", 2, (2, 3, 4, 5), (3, 4, 2, 2), (3, 2), ((1, 2), (0, 2)),
     (2, 1), (2, 2), 1),
    ("2d-s2-cout7-cin3-g3", 2, (2, 9, 5, 5), (9, 7, 3, 3), (2, 2), ((1, 2), (0, 1)),
     (1, 0), (1, 1), 3),
    ("2d-cin1-cout16-g4", 2, (1, 4, 6, 6), (4, 16, 3, 3), (1, 1), ((1, 1), (1, 1)),
     (0, 0), (1, 1), 4),
    ("2d-s3-d2-cout20-cin17", 2, (1, 17, 4, 4), (17, 20, 3, 2), (3, 2),
     ((2, 1), (1, 0)), (1, 1), (2, 1), 1),
    ("2d-input-1x1-dcgan", 2, (2, 5, 1, 1), (5, 6, 4, 4), (2, 2), ((1, 1), (1, 1)),
     (0, 0), (1, 1), 1),
    ("2d-input-1x1-k1-s3", 2, (1, 3, 1, 1), (3, 4, 1, 1), (3, 3), ((0, 0), (0, 0)),
     (2, 2), (1, 1), 1),
    ("2d-s2-d2-p4-cout4", 2, (1, 4, 5, 4), (4, 4, 3, 3), (2, 2), ((4, 4), (4, 3)),
     (1, 1), (2, 2), 1),
    ("2d-s1-d2-op1-cout6", 2, (2, 5, 6, 7), (5, 6, 3, 3), (1, 1), ((2, 1), (0, 2)),
     (1, 0), (2, 1), 1),
    ("2d-s2-cout5-cin10-g2", 2, (2, 20, 7, 6), (20, 5, 3, 3), (2, 2), ((1, 1), (1, 1)),
     (1, 1), (1, 1), 2),
    # 3-D
    ("3d-dcgan-cout4", 3, (1, 4, 3, 4, 3), (4, 4, 4, 4, 4), (2, 2, 2), ((1, 1),) * 3,
     (0, 0, 0), (1, 1, 1), 1),
    ("3d-unet-cout5-g2", 3, (2, 6, 3, 3, 2), (6, 5, 2, 2, 2), (2, 2, 2), ((0, 0),) * 3,
     (0, 0, 0), (1, 1, 1), 2),
    ("3d-k2-s3-d2-cout6", 3, (1, 3, 2, 3, 3), (3, 6, 2, 1, 2), (3, 1, 2),
     ((1, 0), (0, 0), (1, 1)), (2, 0, 1), (2, 1, 1), 1),
    ("3d-input-1x1x1-cout7", 3, (1, 2, 1, 1, 1), (2, 7, 3, 3, 3), (1, 2, 3),
     ((1, 0), (0, 0), (1, 1)), (0, 1, 0), (1, 2, 1), 1),
]


def _takes_channels(op_name):
    """Whether the planner puts method='direct' of this operation on the
    channel-blocked path: ``takes(x, weight, geom, groups)`` on 5-D arrays."""
    def takes(x, weight, geom, groups, n_threads=1):
        return _planner.method_plan(op_name, "direct", x.shape, weight, x.dtype, geom,
                                    groups, n_threads).path == "channels"
    return takes


def _window_values(copy_channels, wide_channels, row, extra, rows):
    """One thread's workspace, in values, for windows of ``rows`` rows
    ``row`` long: a copy buffer per copied channel (the window's rows and
    the ``extra`` rows read past it) and a wide-output buffer per wide
    channel, each followed by the kernel's slack
    (_direct_channels.CHANNEL_SLACK positions).  (Recomputed from that
    definition: the old formula had no slack per buffer.)"""
    slack = _direct_channels.CHANNEL_SLACK
    return (copy_channels * ((rows + extra) * row + slack)
            + wide_channels * (rows * row + slack))


class _Operation:
    """One operation on the channel-blocked path, as these tests drive it.

    A case is a row of the operation's table: ``(id, nd, x shape, weight
    shape, *fields, groups)``, with ``fields`` the geometry arguments named
    in ``FIELDS``, in the form both the library and the reference take."""

    def named(self, name):
        """The case of the table with this id."""
        return next(case for case in self.cases if case[0] == name)

    def fields(self, case):
        """The case's geometry arguments by name."""
        return dict(zip(self.FIELDS, case[4:-1]))

    def arguments(self, case):
        """The case's keyword arguments, groups included."""
        return {**self.fields(case), "groups": case[-1]}

    def geometry(self, case):
        """The case's ConvGeometry."""
        _, _, x_shape, w_shape, *_ = case
        return self.make_geometry(x_shape[2:], w_shape[2:], **self.fields(case))

    def run(self, case, x, w, bias=None, **extra):
        """The library's result for the case, method 'direct'."""
        return self.functions[case[1]](x, w, bias, method="direct",
                                       **self.arguments(case), **extra)

    def expected(self, case, x, w):
        """The reference's result for the case, in float64."""
        return self.reference(x.astype(np.float64), w.astype(np.float64),
                              **self.arguments(case))


class _Convolution(_Operation):
    """conv1d/2d/3d: the cases of CASES, the phase grid of the stride-split
    padded sample."""

    name = "conv"
    functions = {1: fastconv.conv1d, 2: fastconv.conv2d, 3: fastconv.conv3d}
    reference = staticmethod(conv)
    make_geometry = staticmethod(conv_geometry)
    takes = staticmethod(_takes_channels("conv"))
    FIELDS = ("stride", "padding", "dilation")
    cases = CASES
    # 8 input and 12 output channels: the path by default
    layout_case = ("2d", 2, (2, 8, 12, 10), (12, 8, 3, 3), (2, 1), ((1, 1), (1, 2)),
                   (1, 1), 1)

    def rule_case(self, w_shape, groups):
        """3 x 3 padding 1 on 8 input channels of 12 x 12."""
        return ("rule", 2, (2, 8, 12, 12), w_shape, (1, 1), ((1, 1), (1, 1)), (1, 1),
                groups)

    def window_bytes(self, case, rows, itemsize):
        """The workspace in which windows of ``rows`` rows just fit: per row of
        the phase grid, one row of every phase the taps read of every input
        channel and one wide-output row per output channel, plus the phase
        rows the taps read past a window's end, and the kernel's slack
        after each buffer.  (Recomputed from that definition: the copy used
        to hold all prod(stride) phases and no slack; it now holds only the
        phases some tap reads, per dim the distinct t*d % s.)"""
        _, _, x_shape, w_shape, *_ = case
        geom = self.geometry(case)
        width = _phases.shared_row(geom, _phases.phase_size(geom)[2])
        extra = int(_phases.conv_phases(geom).tap_shift.max()) // width + 1
        return itemsize * _window_values(phases_read(geom) * x_shape[1], w_shape[0], width,
                                         extra, rows)

    def n_rows(self, case):
        """Rows of the phase grid that hold outputs: (OD - 1) * PH + OH."""
        geom = self.geometry(case)
        return ((geom.output_spatial[0] - 1) * _phases.phase_size(geom)[1]
                + geom.output_spatial[1])


class _Transposed(_Operation):
    """conv_transpose1d/2d/3d: the cases of TCASES, one part per output
    phase with taps (_phases.transpose_phases) on the zero-padded input."""

    name = "transpose"
    functions = {1: fastconv.conv_transpose1d, 2: fastconv.conv_transpose2d,
                 3: fastconv.conv_transpose3d}
    reference = staticmethod(conv_transpose)
    make_geometry = staticmethod(conv_transpose_geometry)
    takes = staticmethod(_takes_channels("conv_transpose"))
    FIELDS = ("stride", "padding", "output_padding", "dilation")
    cases = TCASES
    # k4 s2 p1 with 8 input and 4 output channels: the path by default
    layout_case = ("2d", 2, (2, 8, 6, 5), (8, 4, 4, 4), (2, 2), ((1, 1), (1, 1)),
                   (0, 1), (1, 1), 1)

    def rule_case(self, w_shape, groups):
        """k4 s2 p1 on 8 input channels of 6 x 6."""
        return ("rule", 2, (2, 8, 6, 6), w_shape, (2, 2), ((1, 1), (1, 1)), (0, 0),
                (1, 1), groups)

    def window_bytes(self, case, rows, itemsize):
        """The workspace in which windows of ``rows`` rows just fit: per row of
        the padded input's grid, one row of every input channel and one
        wide-output row per output channel of every phase with taps, plus the
        rows the taps read past a window's end."""
        _, _, x_shape, w_shape, *_, groups = case
        phases = _phases.transpose_phases(self.geometry(case))
        # only the phases with taps are listed
        with_taps = [phase.shifts for phase in phases if len(phase.taps)]
        extra = max(int(shifts.max()) for shifts in with_taps) // phases.row + 1
        wide = len(with_taps) * w_shape[1] * groups
        return itemsize * _window_values(x_shape[1], wide, phases.row, extra, rows)

    def n_rows(self, case):
        """Rows of the padded input's grid that hold outputs of a phase with
        taps: max of (count_D - 1) * size_H + count_H."""
        phases = _phases.transpose_phases(self.geometry(case))
        return max((phase.length[0] - 1) * phases.size[1] + phase.length[1]
                   for phase in phases if len(phase.taps))


CONVOLUTION = _Convolution()
TRANSPOSED = _Transposed()
OPERATIONS = {op.name: op for op in (CONVOLUTION, TRANSPOSED)}


def _op_cases(**names):
    """(operation, case) parameters from the case ids of each operation
    (keyword: the operation's name), with test ids 'conv-<id>' and
    'transpose-<id>'."""
    return [pytest.param(OPERATIONS[op], OPERATIONS[op].named(name), id=f"{op}-{name}")
            for op, op_names in names.items() for name in op_names]


def _ids(value):
    """Test ids: an operation by its name, anything else as pytest names it."""
    return value.name if isinstance(value, _Operation) else None


# positions of channels_pass's arguments the tests read
_WORKSPACE_ARG, _WINDOW_ROWS_ARG = 3, 18


@pytest.fixture
def channel_calls(spy):
    """The calls that reach the channel-blocked kernel
    (_direct_channels.channels_pass), which still runs."""
    return spy(_direct_channels, "channels_pass")


@pytest.fixture
def forced(monkeypatch):
    """Every float convolution or transposed convolution with >= 4 output
    channels per group takes the channel-blocked path, however few input
    channels x taps it has (a transposed convolution counts them per output
    phase, rounded down: possibly 0) and however much wider than the output
    its phase grid is."""
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_min_terms", 0)
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_widening", float("inf"))


def _arrays(case, dtype, seed=11):
    _, _, x_shape, w_shape, *_ = case
    return random_arrays(seed, x_shape, w_shape, dtype=dtype)


# --------------------------------------------------------------------------
# results against the reference
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, case", _op_cases(conv=[c[0] for c in CASES],
                                               transpose=[c[0] for c in TCASES]))
def test_matches_reference(op, case, dtype, simd_version, forced, channel_calls,
                           poisoned_empty):
    """conv1d/2d/3d(method='direct') on the channel-blocked path: 1-D to
    3-D, strides 1-3, dilations 1-2, asymmetric padding, groups; 4 to 9,
    12, 34 and 36 output channels per group (register blocks of 4 with a
    remainder moved back); 1 to 17 input channels per group; outputs
    shorter than one vector block and not a multiple of any block.
    conv_transpose1d/2d/3d(method='direct') on the path: strides 1-3,
    dilations 1-2, padding up to d*(k-1) and past the taps (outputs that
    only padding reaches), output_padding up to max(stride, dilation) - 1
    (trailing outputs no tap reaches), strides larger than the kernel's
    span (k=1 or k=2 with stride 3: output phases without taps, which must
    be zeros), DCGAN's k4 s2 p1 and U-Net's k2 s2, groups with 4 to 7, 16
    and 20 output channels per group and 1 to 20 input channels per group,
    inputs of one position.  Both with each SIMD version and every array
    from np.empty poisoned with NaN: the reference's values, in the input's
    dtype, every output written."""
    x, w = _arrays(case, dtype)
    out = op.run(case, x, w)
    assert len(channel_calls) == 1, "the channel-blocked path was not taken"
    assert out.dtype == dtype
    assert_close(out, op.expected(case, x, w), dtype)


# --------------------------------------------------------------------------
# windows and threads: the summation order is fixed, so bit-identical
# --------------------------------------------------------------------------

# 2-D and 3-D only: a 1-D sample is one row
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, case", _op_cases(
    conv=["2d-d2-cout9", "2d-s2-cout12", "2d-cout34", "2d-cin1-k5-cout5-g3",
          "3d-s3-d2-cout5-g2", "3d-s2-d2-cout4"],
    transpose=["2d-dcgan-k4-s2-p1-cout8", "2d-k2-s3-d2-cout4", "2d-s1-d2-op1-cout6",
               "2d-s2-cout5-cin10-g2", "3d-dcgan-cout4", "3d-unet-cout5-g2"]))
def test_windows_bit_identical(op, case, dtype, monkeypatch, forced, channel_calls):
    """A convolution's sample, or a transposed convolution's padded input
    (with phases of different output counts and phases without taps), cut
    into windows of 1 row, 3 rows (the last one shorter unless 3 divides
    the rows; in 3-D, windows across depth slices), one row fewer than the
    rows holding outputs (a byte short of the whole) and all of them gives
    the reference's values, bit-identical for every window size."""
    itemsize = np.dtype(dtype).itemsize
    n_rows = op.n_rows(case)
    assert n_rows > 3
    x, w = _arrays(case, dtype)
    outs = []
    # one thread, one job per thread: the windows are the workspace's alone
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_jobs_per_thread", 1)
    for budget, rows in [(1, 1), (op.window_bytes(case, 3, itemsize), 3),
                         (op.window_bytes(case, n_rows, itemsize) - 1, n_rows - 1),
                         (op.window_bytes(case, n_rows, itemsize), n_rows)]:
        monkeypatch.setitem(_planner.THRESHOLDS, "channels_window_bytes", budget)
        outs.append(op.run(case, x, w, n_threads=1))
        assert channel_calls[-1][_WINDOW_ROWS_ARG] == rows, "window rows"
        # one thread's workspace: the window's buffers, within the budget
        # unless one row needs more
        workspace = channel_calls[-1][_WORKSPACE_ARG]
        assert workspace.shape[0] == 1
        assert workspace.nbytes == op.window_bytes(case, rows, itemsize)
        assert workspace.nbytes <= max(budget, op.window_bytes(case, 1, itemsize))
    assert len(channel_calls) == 4
    assert_close(outs[0], op.expected(case, x, w), dtype)
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, case", _op_cases(
    conv=["1d-450-positions", "2d-cout34", "2d-s2-cout12", "3d-s3-d2-cout5-g2"],
    transpose=["1d-cin20-cout16", "2d-dcgan-k4-s2-p1-cout8", "2d-k2-s3-d2-cout4",
               "3d-unet-cout5-g2"]))
def test_threads_bit_identical(op, case, dtype, monkeypatch, forced, channel_calls):
    """n_threads 1, 2 and 3, with the default workspace (for a convolution
    the whole sample in one window) and with windows of 3 rows, give the
    reference's values, bit-identical: each job (a window of a sample) is
    computed whole by one thread, and the window sizes, which change with
    the thread count, do not change the sums."""
    x, w = _arrays(case, dtype)
    expected = op.expected(case, x, w)
    n_batch, n_rows = case[2][0], op.n_rows(case)
    first = None
    for budget in (_planner.THRESHOLDS["channels_window_bytes"],
                   op.window_bytes(case, 3, np.dtype(dtype).itemsize)):
        monkeypatch.setitem(_planner.THRESHOLDS, "channels_window_bytes", budget)
        for n_threads in (1, 2, 3):
            out = op.run(case, x, w, n_threads=n_threads)
            # the kernel runs on the threads asked for, one workspace each,
            # less those without a job (a window of a sample): the thread
            # count is the workspace's first dim
            rows = channel_calls[-1][_WINDOW_ROWS_ARG]
            jobs = n_batch * -(-n_rows // rows)
            assert channel_calls[-1][_WORKSPACE_ARG].shape[0] == min(n_threads, jobs)
            if first is None:
                first = out
                assert_close(out, expected, dtype)
            assert out.tobytes() == first.tobytes()
    assert len(channel_calls) == 6


# --------------------------------------------------------------------------
# the arrays a user passes, NaN and inf
# --------------------------------------------------------------------------

def _layouts(x, w):
    """(x, w) read-only, Fortran-ordered and strided, same values."""
    x_ro, w_ro = x.copy(), w.copy()
    x_ro.flags.writeable = False
    w_ro.flags.writeable = False
    x_big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    x_big[..., ::2] = x
    w_big = np.zeros((2 * w.shape[0],) + w.shape[1:], dtype=w.dtype)
    w_big[::2] = w
    return {"read-only": (x_ro, w_ro),
            "fortran": (np.asfortranarray(x), np.asfortranarray(w)),
            "strided": (x_big[..., ::2], w_big[::2])}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["read-only", "fortran", "strided"])
@pytest.mark.parametrize("op", [CONVOLUTION, TRANSPOSED], ids=_ids)
def test_inputs_untouched_any_layout(op, layout, dtype, channel_calls):
    """Read-only, Fortran-ordered and strided inputs give the same result
    as C-contiguous ones, bias included, in the input's dtype, and no input
    is modified.  Default thresholds: each operation's 2-D case
    (a convolution with 12 output channels, a transposed k4 s2 p1 with 8
    input and 4 output channels) takes the path by itself."""
    case = op.layout_case
    x, w = _arrays(case, dtype)
    expected = op.expected(case, x, w)
    b = np.arange(expected.shape[1], dtype=dtype)
    expected = expected + b[:, None, None]
    xs, ws = _layouts(x, w)[layout]
    x_copy, w_copy = xs.copy(), ws.copy()
    out = op.run(case, xs, ws, b)
    assert len(channel_calls) == 1
    assert out.dtype == dtype
    np.testing.assert_array_equal(xs, x_copy)
    np.testing.assert_array_equal(ws, w_copy)
    assert_close(out, expected, dtype)
    contiguous = op.run(case, x, w, b)
    assert np.array_equal(out, contiguous)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, case", _op_cases(
    conv=["2d-s2-d2-cout5-g2", "2d-d2-cout9", "3d-s2-d2-cout4", "1d-s3-cout7"],
    transpose=["1d-k2-s3-op2-cout5", "2d-dcgan-k4-s2-p1-cout8", "2d-k2-s3-d2-cout4",
               "3d-k2-s3-d2-cout6"]))
def test_nan_and_inf_propagate_like_reference(op, case, dtype, simd_version, forced,
                                              channel_calls):
    """+inf in the last column and -inf in the first column of the input
    (beside the padding columns the kernel computes and crops; for a
    transposed convolution, beside the padding the copy adds and the wide
    columns that are cropped), NaN inside: NaN and +-inf land on exactly
    the outputs where the reference has them (never on the zero outputs of
    phases without taps), the finite outputs keep the reference's values."""
    x, w = _arrays(case, dtype)
    x[0, 0, ..., -1] = np.inf
    x[-1, -1, ..., 0] = -np.inf
    x[0, x.shape[1] // 2, ..., x.shape[-1] // 2] = np.nan
    with np.errstate(invalid="ignore"):
        out = op.run(case, x, w)
        expected = op.expected(case, x, w)
    assert len(channel_calls) == 1
    assert np.isnan(expected).any() and np.isinf(expected).any()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    assert finite.any()
    assert_close(np.where(finite, out, 0), np.where(finite, expected, 0), dtype)


# --------------------------------------------------------------------------
# the rule
# --------------------------------------------------------------------------

# (x shape, weight shape, dtype, groups, stride, padding, expected)
CONV_RULE_CASES = [
    # ResNet's 3x3 layers: 58*58 / 56*56 = 1.07, 29*29 / 28*28 = 1.07
    ((16, 64, 56, 56), (64, 64, 3, 3), np.float32, 1, 1, 1, True),
    ((16, 64, 56, 56), (128, 64, 3, 3), np.float32, 1, 2, 1, True),
    ((16, 64, 56, 56), (64, 64, 3, 3), np.float64, 1, 1, 1, True),
    # integers stay on the exact row kernel
    ((16, 64, 56, 56), (64, 64, 3, 3), np.int64, 1, 1, 1, False),
    # output channels per group: 3 no, 4 yes
    ((2, 8, 16, 16), (3, 8, 3, 3), np.float32, 1, 1, 1, False),
    ((2, 16, 16, 16), (12, 4, 3, 3), np.float32, 4, 1, 1, False),
    ((2, 16, 16, 16), (16, 4, 3, 3), np.float32, 4, 1, 1, True),
    # widening: 10*10 / 8*8 = 1.56 > 1.5; 1-D 15 / 10 = 1.5 exactly, 14 / 9 = 1.56
    ((2, 512, 8, 8), (512, 512, 3, 3), np.float32, 1, 1, 1, False),
    ((2, 2, 15), (4, 2, 6), np.float32, 1, 1, 0, True),
    ((2, 2, 14), (4, 2, 6), np.float32, 1, 1, 0, False),
    # input channels x taps per group: 8 yes, 7 no
    ((2, 8, 16, 16), (8, 8, 1, 1), np.float32, 1, 1, 0, True),
    ((2, 7, 16, 16), (8, 7, 1, 1), np.float32, 1, 1, 0, False),
    ((2, 1, 16, 16), (8, 1, 1, 1), np.float32, 1, 1, 0, False),
    ((2, 2, 16, 16), (8, 2, 2, 2), np.float32, 1, 1, 0, True),    # 2 x 4 taps
    ((2, 8, 56, 56), (32, 1, 3, 3), np.float32, 8, 1, 1, True),   # 1 x 9 taps
    ((2, 8, 56, 56), (32, 1, 2, 2), np.float32, 8, 1, 1, False),  # 1 x 4 taps
    ((2, 1, 64), (4, 1, 8), np.float32, 1, 1, 0, True),           # 1 x 8 taps
    ((2, 1, 64), (4, 1, 7), np.float32, 1, 1, 0, False),          # 1 x 7 taps
]
TRANSPOSE_RULE_CASES = [
    # DCGAN: 256 x 16 taps / 4 phases; 4 phases of 16 rows x 18 = 1152
    # wide positions for 32 x 32 = 1024 outputs: 1.125
    ((16, 256, 16, 16), (256, 128, 4, 4), np.float32, 1, 2, 1, True),
    ((16, 256, 16, 16), (256, 128, 4, 4), np.float64, 1, 2, 1, True),
    # integers stay on the exact row kernel
    ((16, 256, 16, 16), (256, 128, 4, 4), np.int64, 1, 2, 1, False),
    # output channels per group: 3 no, 4 yes (4 phases of 8 x 10 for 16 x 16)
    ((2, 16, 8, 8), (16, 3, 4, 4), np.float32, 1, 2, 1, False),
    ((2, 16, 8, 8), (16, 4, 4, 4), np.float32, 1, 2, 1, True),
    ((2, 16, 8, 8), (16, 3, 4, 4), np.float32, 4, 2, 1, False),
    ((2, 16, 8, 8), (16, 4, 4, 4), np.float32, 4, 2, 1, True),
    # input channels x taps of one phase (rounded down): U-Net k2 s2,
    # 8 x 4 / 4 = 8 yes, 7 no (widening 1); k1 s3 1-D, 24 / 3 = 8 yes,
    # 23 / 3 = 7 no (the one phase with taps, 10 wide, for 28)
    ((2, 8, 16, 16), (8, 4, 2, 2), np.float32, 1, 2, 0, True),
    ((2, 7, 16, 16), (7, 4, 2, 2), np.float32, 1, 2, 0, False),
    ((2, 24, 10), (24, 4, 1), np.float32, 1, 3, 0, True),
    ((2, 23, 10), (23, 4, 1), np.float32, 1, 3, 0, False),
    # widening, rows stored with the zero columns they share dropped: 1-D
    # k6 p2 on 3 inputs, pad 3 and 9 wide, 3 shared, one row of 6 for 4
    # outputs = 1.5 exactly; on 2 inputs 5 for 3 = 1.67; 2-D k3 p1 on
    # 2 x 2, 2 rows of 3 for 4 = 1.5; on 1 x 1, 1 row of 2 for 1 = 2
    ((2, 2, 3), (2, 4, 6), np.float32, 1, 1, 2, True),
    ((2, 2, 2), (2, 4, 6), np.float32, 1, 1, 2, False),
    ((2, 512, 2, 2), (512, 256, 3, 3), np.float32, 1, 1, 1, True),
    ((2, 512, 1, 1), (512, 256, 3, 3), np.float32, 1, 1, 1, False),
]


@pytest.mark.parametrize(
    "op, x_shape, w_shape, dtype, groups, stride, padding, expected",
    [(CONVOLUTION, *row) for row in CONV_RULE_CASES]
    + [(TRANSPOSED, *row) for row in TRANSPOSE_RULE_CASES], ids=_ids)
def test_rule(op, x_shape, w_shape, dtype, groups, stride, padding, expected,
              monkeypatch):
    """The planner's 'direct' plan takes path 'channels' for a convolution
    on float input, >= 4 output channels and >= 8 input channels x taps per
    group, phase grid at most channels_max_widening x the output; for a
    transposed convolution on float input, >= 4 output channels per group,
    >= 8 input channels per group x taps / prod(stride) (the taps of one
    output phase), and the wide outputs of the phases with taps at most
    channels_max_widening x the output.  (channels_max_widening is set to
    1.5 here, where the widening cases sit.)  The shapes are broadcast
    views: the input is not allocated."""
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_widening", 1.5)
    nd = len(x_shape) - 2
    x = np.broadcast_to(np.zeros((), dtype=dtype), x_shape)
    w = np.broadcast_to(np.zeros((), dtype=dtype), w_shape)
    geom = op.make_geometry(x_shape[2:], w_shape[2:], stride=(stride,) * nd,
                            padding=padding)
    assert op.takes(x, w, geom, groups) == expected


def test_rule_constants():
    """The thresholds the rule tests and auto_rule's docstring describe:
    blocks of 4 output channels, 8 input channels x taps, a padded grid at
    most 4 x the output (measured: even 2.25 x, 128 channels of 4 x 4 with
    a 3 x 3 kernel, runs 15 x faster than the row kernel)."""
    assert (_direct_channels.CHANNEL_BLOCK, _planner.THRESHOLDS["channels_min_terms"],
            _planner.THRESHOLDS["channels_max_widening"]) == (4, 8, 4.0)


@pytest.mark.parametrize("op", [CONVOLUTION, TRANSPOSED], ids=_ids)
def test_workspace_limits(op, monkeypatch, channel_calls):
    """The limits on the path's memory, on each operation's 2-D case (which
    takes the path by default): a window of one row must fit
    channels_max_window_bytes, else the row kernel runs; all threads'
    buffers together stay within channels_max_workspace_bytes, threads
    beyond it getting none (and the result does not change); a transposed
    convolution takes the path for at most THRESHOLDS["channels_max_phases"] output phases
    (here prod(stride) = 4)."""
    case = op.layout_case
    x, w = _arrays(case, np.float64)
    expected = op.expected(case, x, w)
    x5, w5 = x[:, :, None], w[:, :, None]
    geom = op.geometry(case)
    one_row = op.window_bytes(case, 1, 8)
    default = _planner.THRESHOLDS["channels_max_window_bytes"]
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_window_bytes", one_row)
    assert op.takes(x5, w5, geom, case[-1])
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_window_bytes", one_row - 1)
    assert not op.takes(x5, w5, geom, case[-1])
    out = op.run(case, x, w)
    assert not channel_calls
    assert_close(out, expected, np.float64)
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_window_bytes", default)
    # windows of one row; room for two threads' buffers
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_window_bytes", one_row)
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_workspace_bytes", 2 * one_row)
    single = op.run(case, x, w, n_threads=1)
    out = op.run(case, x, w, n_threads=3)
    assert len(channel_calls) == 2
    assert channel_calls[0][_WORKSPACE_ARG].shape[0] == 1
    assert channel_calls[1][_WORKSPACE_ARG].shape[0] == 2
    assert channel_calls[1][_WORKSPACE_ARG].nbytes <= 2 * one_row
    assert channel_calls[1][_WINDOW_ROWS_ARG] == 1
    assert_close(out, expected, np.float64)
    assert out.tobytes() == single.tobytes()
    if op is TRANSPOSED:
        assert math.prod(geom.stride) == 4
        monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_phases", 4)
        assert op.takes(x5, w5, geom, case[-1])
        monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_phases", 3)
        assert not op.takes(x5, w5, geom, case[-1])


@pytest.mark.parametrize("op, dtype, w_shape, groups, expected", [
    (CONVOLUTION, np.float32, (8, 8, 3, 3), 1, True),
    (CONVOLUTION, np.float64, (8, 4, 3, 3), 2, True),    # 4 output channels per group
    (CONVOLUTION, np.int64, (8, 8, 3, 3), 1, False),
    (CONVOLUTION, np.float32, (3, 8, 3, 3), 1, False),
    (CONVOLUTION, np.float32, (6, 4, 3, 3), 2, False),   # 3 output channels per group
    (TRANSPOSED, np.float32, (8, 4, 4, 4), 1, True),
    (TRANSPOSED, np.float64, (8, 4, 4, 4), 2, True),     # 4 output channels per group
    (TRANSPOSED, np.int64, (8, 4, 4, 4), 1, False),
    (TRANSPOSED, np.float32, (8, 3, 4, 4), 1, False),
    (TRANSPOSED, np.float32, (8, 3, 4, 4), 2, False),    # 3 output channels per group
], ids=_ids)
def test_direct_follows_the_rule(op, dtype, w_shape, groups, expected, channel_calls):
    """conv2d(method='direct'), 3 x 3 padding 1 on 12 x 12, and
    conv_transpose2d(method='direct'), k4 s2 p1 on 6 x 6, run the
    channel-blocked kernel exactly when the planner's 'direct' plan takes
    path 'channels', and are right either way."""
    case = op.rule_case(w_shape, groups)
    rng = np.random.default_rng(4)
    x = rng.integers(-5, 6, size=case[2]).astype(dtype)
    w = rng.integers(-5, 6, size=w_shape).astype(dtype)
    out = op.run(case, x, w)
    assert bool(channel_calls) == expected
    assert op.takes(x[:, :, None], w[:, :, None], op.geometry(case), groups) == expected
    assert out.dtype == dtype
    # small integers: every sum is exact in each dtype
    np.testing.assert_array_equal(out, op.expected(case, x, w))


# --------------------------------------------------------------------------
# transposed convolution: output phases without taps
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_no_phase_with_taps(dtype, forced, poisoned_empty):
    """Kernel 1, stride 3, padding 1 on two input positions: the outputs are
    the full positions 1 and 2, which no tap reaches: no phase with taps is
    listed and the listed ones (none) do not cover the output, so the
    planner leaves the call to the row kernel even with the path forced
    (the channel path has no pass to run), and the output is all zeros (as
    the reference's)."""
    x = np.ones((2, 3, 2), dtype=dtype)
    w = np.ones((3, 4, 1), dtype=dtype)
    geom = conv_transpose_geometry((2,), (1,), 3, 1, 0, 1)
    phases = _phases.transpose_phases(geom)
    assert phases.n_phases == 0 and not phases.complete
    assert not _takes_channels("conv_transpose")(x[..., None, None, :],
                                                 w[..., None, None, :], geom, 1)
    out = fastconv.conv_transpose1d(x, w, stride=3, padding=1, method="direct")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.zeros((2, 4, 2)))
    np.testing.assert_array_equal(out, conv_transpose(x, w, stride=(3,),
                                                      padding=((1, 1),)))


# --------------------------------------------------------------------------
# the polyphase split, without the kernel
# --------------------------------------------------------------------------

def _random_transpose_geometry(rng, nd):
    """(x spatial, kernel, stride, padding pairs, output_padding, dilation) of
    a valid small transposed convolution: padding up to d*(k-1) + 2 (past
    the taps), output_padding below max(stride, dilation)."""
    while True:
        kernel = tuple(int(v) for v in rng.integers(1, 5, nd))
        stride = tuple(int(v) for v in rng.integers(1, 5, nd))
        dilation = tuple(int(v) for v in rng.integers(1, 4, nd))
        size = tuple(int(v) for v in rng.integers(1, 6, nd))
        padding = tuple((int(rng.integers(0, d * (k - 1) + 3)),
                         int(rng.integers(0, d * (k - 1) + 3)))
                        for k, d in zip(kernel, dilation))
        output_padding = tuple(int(rng.integers(0, max(s, d)))
                               for s, d in zip(stride, dilation))
        lengths = [(n - 1) * s - p0 - p1 + d * (k - 1) + 1 + op
                   for n, s, (p0, p1), d, k, op in zip(size, stride, padding, dilation,
                                                       kernel, output_padding)]
        if min(lengths) >= 1:
            return size, kernel, stride, padding, output_padding, dilation


def _has_taps(position, geom):
    """Whether some tap reaches output ``position`` (3 entries) of the
    transposed convolution: per dim, some t < k with t*d equal to
    position + pad_before modulo the stride."""
    return all(any((t * d - (o + p)) % s == 0 for t in range(k))
               for o, p, s, d, k in zip(position, geom.pad_before, geom.stride,
                                        geom.dilation, geom.kernel_size))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_transpose_phases_semantics(nd):
    """_phases.transpose_phases on 200 random small geometries per
    dimension count (strides 1-4, dilations 1-3, kernels 1-4, padding past
    the taps, output_padding): the output built with plain NumPy from its
    description alone (padded = the input placed at ``pad`` in zeros of
    ``size``, cropped where it does not fit; output start + u*stride = sum
    over (t, shift) of w_flat[t] * padded_flat[u_flat + shift]; zero where
    no listed phase reaches) is the reference's; each output position
    belongs to at most one listed phase; the positions no listed phase
    covers are exactly those whose phase has no taps (the reference is 0
    there), and ``complete`` says whether there are none; every listed
    phase has outputs and taps; its taps are exactly those with t*d equal
    to start + pad_before modulo the stride in every dim, and read inside
    the padded grid."""
    rng = np.random.default_rng(100 + nd)
    for _ in range(200):
        args = _random_transpose_geometry(rng, nd)
        size_in, kernel, stride, padding, output_padding, dilation = args
        geom = conv_transpose_geometry(*args)
        phases = _phases.transpose_phases(geom)
        pad, size, row = phases.pad, phases.size, phases.row
        x = rng.standard_normal(geom.output_spatial)
        w = rng.standard_normal(geom.kernel_size)
        assert all(p >= 0 for p in pad)
        padded = np.zeros(size)
        fits = tuple(slice(0, max(0, min(n, s - p)))
                     for n, s, p in zip(x.shape, size, pad))
        padded[tuple(slice(p, p + f.stop) for p, f in zip(pad, fits))] = x[fits]
        # rows stored ``row`` apart: the columns dropped at the end of a row
        # and the ones they stand in for at the start of the next are zeros
        assert 1 <= row <= size[2]
        assert not padded[..., row:].any() and not padded[..., :size[2] - row].any()
        # (the last row's dropped columns read past the end: the kernel's
        # zeroed tail)
        padded_flat = np.concatenate([padded[..., :row].ravel(),
                                      np.zeros(size[2] - row)])
        w_flat = w.ravel()
        out = np.zeros(geom.input_spatial)
        hits = np.zeros(geom.input_spatial, dtype=int)
        listed = list(phases)
        assert len(listed) == phases.n_phases
        for taps, shifts, start, count in listed:
            assert min(count) >= 1, args
            assert len(taps) >= 1 and len(taps) == len(shifts), args
            residues = [(b + p) % s
                        for b, p, s in zip(start, geom.pad_before, geom.stride)]
            expected_taps = [
                i for i, t in enumerate(np.ndindex(*geom.kernel_size))
                if all((ti * d - r) % s == 0
                       for ti, d, r, s in zip(t, geom.dilation, residues, geom.stride))]
            assert sorted(int(t) for t in taps) == expected_taps, args
            u = np.indices(count)
            assert max(phase.length[2] for phase in listed) <= row
            u_flat = (u[0] * size[1] + u[1]) * row + u[2]
            values = np.zeros(count)
            for t, shift in zip(taps, shifts):
                assert shift >= 0 and u_flat.max() + shift < padded_flat.size, args
                values += w_flat[t] * padded_flat[u_flat + shift]
            where = tuple(slice(b, b + c * s, s)
                          for b, c, s in zip(start, count, geom.stride))
            out[where] = values
            hits[where] += 1
        assert (hits <= 1).all(), args
        reached = np.zeros(geom.input_spatial, dtype=bool)
        for position in np.ndindex(*geom.input_spatial):
            reached[position] = _has_taps(position, geom)
        np.testing.assert_array_equal(hits == 1, reached, err_msg=str(args))
        assert phases.complete == bool(reached.all()), args
        expected = conv_transpose(x.reshape((1, 1) + tuple(size_in)),
                                  w.reshape((1, 1) + tuple(kernel)), stride=stride,
                                  padding=padding, output_padding=output_padding,
                                  dilation=dilation).reshape(geom.input_spatial)
        # the outputs no phase covers are the reference's zeros
        assert not expected[~reached].any(), args
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12,
                                   err_msg=str(args))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("stride, padding, width", [
    (1, 1, 32), (1, ((2, 0), (0, 3)), 33), (2, ((1, 2), (1, 1)), 64),
    (2, ((1, 2), (3, 1)), 70), (1, 2, 4)])
def test_rows_computed_alone(dtype, mode, stride, padding, width, simd_version,
                             monkeypatch, spy):
    """Each row's outputs computed alone (Windows.by_row: whole vectors of
    them, not whole rows with their padding columns) give the same bits as
    whole rows, and the reference, on every SIMD version, with windows of
    one row too."""
    from fastconv import _methods
    rng = np.random.default_rng(width + stride)
    x = rng.standard_normal((2, 6, 5, width)).astype(dtype)
    w = rng.standard_normal((8, 6, 3, 3)).astype(dtype)
    kwargs = dict(stride=stride, padding=padding, padding_mode=mode, method="direct")
    plans = spy(_methods, "execute", lambda plan, *arrays: plan)
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_max_widening", float("inf"))
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_min_row_vectors", 10**9)
    whole_rows = fastconv.conv2d(x, w, **kwargs)
    assert plans[-1].path == "channels" and not plans[-1].windows.by_row
    geom = conv_geometry(x.shape[2:], w.shape[2:], (stride,) * 2, padding, (1, 1))
    pairs = tuple(zip(geom.spatial(geom.pad_before), geom.spatial(geom.pad_after)))
    padded = np.pad(x, ((0, 0), (0, 0)) + pairs,
                    mode={"zeros": "constant", "reflect": "reflect", "circular": "wrap"}[mode])
    expected = conv(padded.astype(np.float64), w.astype(np.float64), stride=(stride,) * 2)
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_min_row_vectors", 1)
    monkeypatch.setitem(_planner.THRESHOLDS, "channels_min_row_saving", 0)
    per_vector = _direct_channels.simd_floats() * 4 // x.itemsize
    for budget in (_planner.THRESHOLDS["channels_window_bytes"], 1):
        monkeypatch.setitem(_planner.THRESHOLDS, "channels_window_bytes", budget)
        alone = fastconv.conv2d(x, w, **kwargs)
        plan = plans[-1]
        assert plan.windows.by_row == (
            -(-geom.output_spatial[2] // per_vector) * per_vector <= plan.phases.row)
        # 32 outputs a row, of 33 or more positions: whole vectors on every version
        assert plan.windows.by_row or geom.output_spatial[2] != 32
        np.testing.assert_array_equal(alone, whole_rows)
        assert_close(alone, expected, dtype)
