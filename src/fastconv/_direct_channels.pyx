# The direct method's channel-blocked kernel: convolutions and transposed
# convolutions with many channels.  No policy here: fastconv._planner
# decides when it runs and computes every table it reads.
#
# Both run as "passes": a pass is a stride-1 correlation of a padded (zeros,
# or a padding mode's border read through a map), stride-phase-split copy
# of one sample's input (_phase_rows.pxd) with a list
# of taps, each tap an offset into that copy.  Flat over the copy's grid,
# output position q of the pass is
#     wide[co, q] = sum over ci, t of w[co, ci, t] * copy[ci, q + off[t]]
# which the kernel of _direct_simd.h computes for blocks of output channels
# and positions, then the valid positions of wide are written to the output
# at out_start + u * out_step per dim.  A convolution is one pass per sample
# over its stride phases; a transposed convolution one pass per output
# phase (fastconv._phases.transpose_phases), its copy padded but not split.
# Samples are cut into windows of rows so that the copy and wide stay small.

from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from ._fused cimport floating
from ._kernel_geometry cimport Geometry, geometry_struct
from ._phase_rows cimport split_phase_rows


cdef extern from "_direct_simd.h" nogil:
    int FASTCONV_HAVE_SIMD
    int fastconv_simd_select(const char* name)
    void fastconv_simd_init()
    int FASTCONV_CHANNELS
    int FASTCONV_CHANNEL_SLACK
    Py_ssize_t fastconv_simd_floats
    void fastconv_channels_float(float* y, Py_ssize_t ldy, Py_ssize_t n_pos,
                                 Py_ssize_t n_co, const float* x, Py_ssize_t ldx,
                                 Py_ssize_t n_ci, const Py_ssize_t* off,
                                 Py_ssize_t n_taps, const float* w) noexcept
    void fastconv_channels_double(double* y, Py_ssize_t ldy, Py_ssize_t n_pos,
                                  Py_ssize_t n_co, const double* x, Py_ssize_t ldx,
                                  Py_ssize_t n_ci, const Py_ssize_t* off,
                                  Py_ssize_t n_taps, const double* w) noexcept
    Py_ssize_t fastconv_weight_terms
    int FASTCONV_WEIGHT_MAX_TERMS
    void fastconv_weight_float(float* dw, Py_ssize_t ld_dw, const float* g, Py_ssize_t ldg,
                               Py_ssize_t n_pos, const float* x, const Py_ssize_t* off,
                               Py_ssize_t n_seg, Py_ssize_t seg_g, Py_ssize_t seg_x,
                               Py_ssize_t skip_c, Py_ssize_t skip_j) noexcept
    void fastconv_weight_double(double* dw, Py_ssize_t ld_dw, const double* g,
                                Py_ssize_t ldg, Py_ssize_t n_pos, const double* x,
                                const Py_ssize_t* off, Py_ssize_t n_seg, Py_ssize_t seg_g,
                                Py_ssize_t seg_x, Py_ssize_t skip_c,
                                Py_ssize_t skip_j) noexcept

fastconv_simd_init()

#: Whether the build has the vectorised kernel (GCC / Clang vectors).
HAVE_SIMD = bool(FASTCONV_HAVE_SIMD)
#: Output channels per register block: the fewest output channels per
#: group the kernel takes.
CHANNEL_BLOCK = FASTCONV_CHANNELS
#: Positions of slack the kernel needs after each of its buffers.
CHANNEL_SLACK = FASTCONV_CHANNEL_SLACK
#: (input channel, tap) pairs per weight-gradient tile, at most: the fewest
#: pairs per group its kernel takes.
WEIGHT_MAX_TERMS = FASTCONV_WEIGHT_MAX_TERMS


def simd_floats():
    """Positions per vector of the kernel in use (float32; float64 takes
    half): the kernel computes whole vectors."""
    return fastconv_simd_floats


def use_simd(version):
    """Switch this module's vectorised kernel to ``version``; called by
    fastconv._direct.use_simd, which checks the name."""
    fastconv_simd_select(version.encode())


ctypedef struct Part:
    # One output phase of a pass: its taps (phase and shift of tap t at
    # index tap_at + t of the pass's lists), its weights (C_out, C_in/groups,
    # n_taps) from w_at on, and its outputs: out_count per dim, landing at
    # out_start + u * out_step.
    Py_ssize_t n_taps, tap_at, w_at
    const Py_ssize_t* out_start
    const Py_ssize_t* out_count


ctypedef struct Pass:
    Geometry split              # the copy: conv_in, stride, pad of the split
    Py_ssize_t size[3]          # its phase grid
    Py_ssize_t row              # its rows' stored length (<= size[2])
    Py_ssize_t n_phases         # stride phases in the copy
    const Py_ssize_t* residues  # (n_phases, 3): the phase of each
    Py_ssize_t out_step[3]
    Py_ssize_t out_size[3]      # the output's spatial size
    Py_ssize_t n_parts
    const Part* parts
    const Py_ssize_t* phase     # per tap: its phase, shift in the phase grid
    const Py_ssize_t* shift
    Py_ssize_t n_rows           # rows of the phase grid holding outputs
    Py_ssize_t extra            # rows of the copy read past a window's last
    const Py_ssize_t* source    # the copy's border map, NULL: zero padding
    bint by_row                 # compute each row's outputs, not whole rows


cdef inline void _channels(floating* y, Py_ssize_t ldy, Py_ssize_t n_pos,
                           Py_ssize_t n_co, const floating* x, Py_ssize_t ldx,
                           Py_ssize_t n_ci, const Py_ssize_t* off, Py_ssize_t n_taps,
                           const floating* w) noexcept nogil:
    if floating is float:
        fastconv_channels_float(y, ldy, n_pos, n_co, x, ldx, n_ci, off, n_taps, w)
    else:
        fastconv_channels_double(y, ldy, n_pos, n_co, x, ldx, n_ci, off, n_taps, w)


cdef void _run_window(const floating* x, floating* out, const floating* w,
                      const Pass* ps, Py_ssize_t c_in, Py_ssize_t c_out,
                      Py_ssize_t groups, Py_ssize_t r0, Py_ssize_t rw,
                      floating* buf, Py_ssize_t window_rows,
                      const Py_ssize_t* off) noexcept nogil:
    # Rows [r0, r0 + rw) of the pass over one sample, on the calling thread:
    # x (C_in, prod(split.conv_in)), out (C_out, prod(out_size)), w every
    # part's weights; buf holds the window's copy and every part's wide
    # output, off one offset per tap.
    cdef const Geometry* g = &ps.split
    cdef Py_ssize_t x_plane = g.conv_in[0] * g.conv_in[1] * g.conv_in[2]
    cdef Py_ssize_t o_plane = ps.out_size[0] * ps.out_size[1] * ps.out_size[2]
    cdef Py_ssize_t PH = ps.size[1], PW = ps.row
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t ldp = (window_rows + ps.extra) * PW + FASTCONV_CHANNEL_SLACK
    cdef Py_ssize_t ldw = window_rows * PW + FASTCONV_CHANNEL_SLACK
    cdef Py_ssize_t r_hi = min(r0 + rw + ps.extra, ps.size[0] * PH)
    cdef floating* wide = buf + ps.n_phases * c_in * ldp
    cdef Py_ssize_t i, a, c, grp, co, r, u0, u1, u2, o_row
    cdef const Part* part
    cdef floating* dst
    cdef floating* o_line
    cdef const floating* w_line
    # the copy: each phase of each input channel, its rows [r0, r_hi)
    for i in range(ps.n_phases * c_in):
        a = i // c_in
        c = i % c_in
        dst = buf + i * ldp
        split_phase_rows(x + c * x_plane, dst, g, ps.size, PW, ps.residues[3 * a],
                         ps.residues[3 * a + 1], ps.residues[3 * a + 2], r0, r_hi,
                         ps.source)
        memset(dst + (r_hi - r0) * PW, 0, (ldp - (r_hi - r0) * PW) * sizeof(floating))
    # each part's wide output, then its valid positions into out; by_row:
    # the first out_count[2] positions of each row only (the rest of a row
    # is recomputed, or overwritten by the next row's, as whole vectors)
    for i in range(ps.n_parts):
        part = &ps.parts[i]
        for grp in range(groups):
            if ps.by_row:
                for r in range(rw):
                    _channels(wide + (i * c_out + grp * cout_g) * ldw + r * PW, ldw,
                              part.out_count[2], cout_g,
                              buf + grp * cin_g * ldp + r * PW, ldp, cin_g,
                              off + part.tap_at, part.n_taps,
                              w + part.w_at + grp * cout_g * cin_g * part.n_taps)
            else:
                _channels(wide + (i * c_out + grp * cout_g) * ldw, ldw, rw * PW, cout_g,
                          buf + grp * cin_g * ldp, ldp, cin_g, off + part.tap_at,
                          part.n_taps, w + part.w_at + grp * cout_g * cin_g * part.n_taps)
        for co in range(c_out):
            for r in range(r0, r0 + rw):
                u0 = r // PH
                u1 = r % PH
                if u0 >= part.out_count[0] or u1 >= part.out_count[1]:
                    continue
                o_row = ((part.out_start[0] + u0 * ps.out_step[0]) * ps.out_size[1]
                         + part.out_start[1] + u1 * ps.out_step[1]) * ps.out_size[2]
                o_line = out + co * o_plane + o_row + part.out_start[2]
                w_line = wide + (i * c_out + co) * ldw + (r - r0) * PW
                if ps.out_step[2] == 1:
                    memcpy(o_line, w_line, part.out_count[2] * sizeof(floating))
                else:
                    for u2 in range(part.out_count[2]):
                        o_line[u2 * ps.out_step[2]] = w_line[u2]


cdef void _set3(Py_ssize_t* dst, values) except *:
    cdef int i
    for i in range(3):
        dst[i] = values[i]


def channels_pass(const floating[:, :, ::1] x, const floating[::1] weights,
                  floating[:, :, ::1] out, floating[:, ::1] workspace,
                  Py_ssize_t groups, split_x_size, split_stride, split_pad,
                  const Py_ssize_t[:, ::1] residues, size, Py_ssize_t row, out_size, out_step,
                  const Py_ssize_t[::1] part_tap_begin,
                  const Py_ssize_t[:, ::1] part_start,
                  const Py_ssize_t[:, ::1] part_count,
                  const Py_ssize_t[::1] tap_phase, const Py_ssize_t[::1] tap_shift,
                  Py_ssize_t window_rows, Py_ssize_t extra_rows,
                  const Py_ssize_t[::1] source=None, bint by_row=False):
    """Run one pass over every sample (see the notes above).

    x (N, C_in, X), out (N, C_out, O) with X, O flat spatial sizes; weights
    every part's (C_out, C_in/groups, its taps) one after the other.  The
    copy is x with spatial size ``split_x_size`` padded by ``split_pad``
    and split by ``split_stride`` into the phases of ``residues``
    (n_phases, 3), each of grid ``size`` with rows stored ``row`` apart.
    Part i's taps are entries part_tap_begin[i]:part_tap_begin[i + 1] of
    tap_phase / tap_shift; its outputs part_start[i] + u * out_step for u <
    part_count[i] per dim of the output's spatial size ``out_size``.  Jobs are (sample, window of window_rows rows)
    pairs, each on one thread with its own row of ``workspace``, which
    holds the window's copy (and the extra_rows it reads past its end) and
    every part's wide output; workspace.shape[0] threads run.  The copy's
    padding is zeros, or with ``source`` (fastconv._borders.border_map of
    the split and ``size``) what a padding mode reads there, from x itself.
    With ``by_row``, each row's first part_count[i][2] positions are
    computed, row by row, instead of whole rows of the window at once.
    """
    cdef Pass ps
    cdef Py_ssize_t n_parts = part_start.shape[0]
    cdef Part* part_list = <Part*> malloc(n_parts * sizeof(Part))
    cdef Py_ssize_t c_in = x.shape[1], c_out = out.shape[1], n, i, windows, job, r0
    cdef Py_ssize_t ldp = (window_rows + extra_rows) * row + FASTCONV_CHANNEL_SLACK
    cdef Py_ssize_t weights_per_tap = c_out * (c_in // groups)
    cdef Py_ssize_t[::1] off = np.empty(tap_shift.shape[0], dtype=np.intp)
    cdef int n_threads = workspace.shape[0]
    if part_list == NULL:
        raise MemoryError()
    try:
        memset(&ps, 0, sizeof(Pass))
        _set3(ps.split.conv_in, split_x_size)
        _set3(ps.split.stride, split_stride)
        _set3(ps.split.pad, split_pad)
        _set3(ps.size, size)
        ps.row = row
        _set3(ps.out_step, out_step)
        _set3(ps.out_size, out_size)
        ps.n_phases = residues.shape[0]
        ps.residues = &residues[0, 0]
        ps.n_parts = n_parts
        ps.n_rows = 0
        for i in range(n_parts):
            part_list[i].tap_at = part_tap_begin[i]
            part_list[i].n_taps = part_tap_begin[i + 1] - part_tap_begin[i]
            part_list[i].w_at = part_tap_begin[i] * weights_per_tap
            part_list[i].out_start = &part_start[i, 0]
            part_list[i].out_count = &part_count[i, 0]
            ps.n_rows = max(ps.n_rows, (part_count[i, 0] - 1) * ps.size[1]
                            + part_count[i, 1])
        ps.parts = part_list
        ps.extra = extra_rows
        if source is not None:
            ps.source = &source[0]
        ps.by_row = by_row
        windows = (ps.n_rows + window_rows - 1) // window_rows
        for i in range(tap_shift.shape[0]):
            off[i] = tap_phase[i] * c_in * ldp + tap_shift[i]
        with nogil:
            for job in prange(x.shape[0] * windows, schedule="dynamic",
                              num_threads=n_threads):
                n = job // windows
                r0 = job % windows * window_rows
                _run_window(&x[n, 0, 0], &out[n, 0, 0], &weights[0], &ps, c_in, c_out,
                            groups, r0, min(window_rows, ps.n_rows - r0),
                            &workspace[threadid(), 0], window_rows, &off[0])
    finally:
        free(part_list)


# --------------------------------------------------------------------------
# the weight gradient: the pass above transposed
# --------------------------------------------------------------------------
#
# A convolution's weight gradient on the same copy: per sample, with the
# output gradient laid out on the copy's grid (zeros where the grid holds
# no output: wide[co, q]),
#     dw[co, ci, t] += sum over q of wide[co, q] * copy[ci, q + off[t]]
# in tiles of FASTCONV_CHANNELS output channels x fastconv_weight_terms
# (input channel, tap) pairs, each tile's sums in registers
# (_direct_simd.h).  The tiles of a sample are shared out between threads,
# each tile computed by one thread, the samples added in order: the result
# does not depend on the thread count.


cdef inline void _weight_tile(floating* dw, Py_ssize_t ld_dw, const floating* g,
                              Py_ssize_t ldg, Py_ssize_t n_pos, const floating* x,
                              const Py_ssize_t* off, Py_ssize_t n_seg, Py_ssize_t seg_g,
                              Py_ssize_t seg_x, Py_ssize_t skip_c,
                              Py_ssize_t skip_j) noexcept nogil:
    if floating is float:
        fastconv_weight_float(dw, ld_dw, g, ldg, n_pos, x, off, n_seg, seg_g, seg_x,
                              skip_c, skip_j)
    else:
        fastconv_weight_double(dw, ld_dw, g, ldg, n_pos, x, off, n_seg, seg_g, seg_x,
                               skip_c, skip_j)


def weight_pass(const floating[:, :, ::1] x, const floating[:, :, ::1] grad,
                floating[:, :, ::1] dw, floating[:, ::1] copy, floating[:, ::1] wide,
                geom, Py_ssize_t groups, const Py_ssize_t[:, ::1] residues, size,
                Py_ssize_t row, const Py_ssize_t[::1] tap_phase,
                const Py_ssize_t[::1] tap_shift, Py_ssize_t block, bint per_sample,
                int n_threads):
    """Add the weight gradient of the convolution ``geom`` to ``dw``.

    x (N, C_in, X) its input, grad (N, C_out, O) its output gradient (X, O
    flat spatial sizes); dw (N or 1, C_out, C_in/groups * taps), the pairs
    (ci, t) ci-major, one per sample with ``per_sample``.  The copy is x
    padded and split into the phases ``residues`` (n_phases, 3) of grid
    ``size``, rows stored ``row`` apart; tap t reads phase tap_phase[t]
    from tap_shift[t] on (fastconv._phases.conv_phases).  Samples go
    ``block`` at a time (1 with ``per_sample``): ``copy`` holds their
    copies (block x n_phases x C_in rows of at least the grid plus
    FASTCONV_CHANNEL_SLACK), ``wide`` their output gradients on the grid
    (block x C_out rows of at least the last output's flat position plus
    a vector), both zeros on entry; ``wide`` None: the grid's flat
    positions are grad's and O a multiple of 16, so grad is read in place.
    Each tile sums a block's samples in registers; the blocks are added to
    ``dw`` in order.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], c_out = grad.shape[1]
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t taps = tap_shift.shape[0], pairs = cin_g * taps
    cdef Py_ssize_t n_phases = residues.shape[0], ldx = copy.shape[1]
    cdef Py_ssize_t o_plane = grad.shape[2]
    cdef Py_ssize_t OH = g.conv_out[1], OW = g.conv_out[2]
    cdef Py_ssize_t grid_rows = size[0] * size[1], PH = size[1]
    cdef Py_ssize_t n_pos = ((g.conv_out[0] - 1) * PH + OH - 1) * row + OW
    cdef Py_ssize_t NC = FASTCONV_CHANNELS, NT = fastconv_weight_terms
    cdef Py_ssize_t n_cb = (cout_g + NC - 1) // NC, n_jb = (pairs + NT - 1) // NT
    cdef Py_ssize_t n_tiles = groups * n_cb * n_jb, n_copies = n_phases * c_in
    cdef bint in_place = wide is None
    cdef Py_ssize_t ldg = o_plane if in_place else wide.shape[1]
    cdef Py_ssize_t seg_g = c_out * ldg, jobs = n_copies + (0 if in_place else c_out)
    cdef Py_ssize_t[::1] off = np.empty(pairs, dtype=np.intp)
    cdef Py_ssize_t[::1] size_ = np.array(size, dtype=np.intp)
    cdef Py_ssize_t blk, n0, nb, i, b, k, a, c, r, tile, grp, cb, jb, c0, j0, ci, t
    cdef const floating* g_block
    cdef floating* dw_n
    if per_sample:
        block = 1
    if (cout_g < NC or pairs < NT or block < 1
            or ldx < grid_rows * row + FASTCONV_CHANNEL_SLACK
            or copy.shape[0] < block * n_copies
            or (in_place and o_plane % 16)
            or (not in_place and (ldg < n_pos + fastconv_simd_floats
                                  or wide.shape[0] < block * c_out))):
        raise ValueError("weight_pass: too few channels or pairs, or buffers too small")
    for ci in range(cin_g):
        for t in range(taps):
            off[ci * taps + t] = (tap_phase[t] * c_in + ci) * ldx + tap_shift[t]
    with nogil:
        for blk in range((n_batch + block - 1) // block):
            n0 = blk * block
            nb = min(block, n_batch - n0)
            dw_n = &dw[n0 if per_sample else 0, 0, 0]
            # each sample's copy, then its output gradient's rows on the grid
            for i in prange(nb * jobs, schedule="static", num_threads=n_threads):
                b = i // jobs
                k = i % jobs
                if k < n_copies:
                    a = k // c_in
                    c = k % c_in
                    split_phase_rows(&x[n0 + b, c, 0], &copy[b * n_copies + k, 0], &g,
                                     &size_[0], row, residues[a, 0], residues[a, 1],
                                     residues[a, 2], 0, grid_rows, NULL)
                else:
                    c = k - n_copies
                    for r in range(g.conv_out[0] * OH):
                        memcpy(&wide[b * c_out + c, 0] + (r // OH * PH + r % OH) * row,
                               &grad[n0 + b, c, 0] + r * OW, OW * sizeof(floating))
            g_block = &grad[n0, 0, 0] if in_place else &wide[0, 0]
            for tile in prange(n_tiles, schedule="static", num_threads=n_threads):
                grp = tile // (n_cb * n_jb)
                cb = tile // n_jb % n_cb
                jb = tile % n_jb
                c0 = min(cb * NC, cout_g - NC)
                j0 = min(jb * NT, pairs - NT)
                _weight_tile(dw_n + (grp * cout_g + c0) * pairs + j0, pairs,
                             g_block + (grp * cout_g + c0) * ldg, ldg, n_pos,
                             &copy[grp * cin_g, 0], &off[j0], nb, seg_g,
                             n_copies * ldx, cb * NC - c0, jb * NT - j0)
