# Direct kernels: the convolution as a gather (each output value sums
# kernel x input), and the transposed convolution as the same scatter-add
# sums as _scatter.pyx, reordered so that each output row gathers its source
# rows and only the last dim (W) scatters.  No matrix, no zero insertion.
#
# Both run on 5-D C-contiguous arrays (N, C, D, H, W); 1-D and 2-D callers
# use size-1 leading spatial dims.  They trust their shapes: the Python
# layer (fastconv._api) has checked every shape, resolved the geometry and
# allocated a zeroed output.
#
# Work is cut into output rows (batch, output channel, depth, height): one
# thread computes one whole row, from the list of (source row, kernel row)
# pairs that reach it, so no two threads write one value, and each value is
# summed in an order fixed by the geometry alone, whatever the thread count:
# results are bit-identical.  Along a row, the outputs whose taps all fall
# inside the source row go to the vectorised kernel of _direct_simd.h when
# the stride along W is 1; the border outputs (padding), strided rows and
# int64 take the scalar loops below.
#
# Float calls with many channels take the channel-blocked kernel instead
# (the end of this file): it reuses each input vector for 4 output channels
# from registers, on a zero-padded copy of the input, and allocates its own
# output.

from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport numpy as cnp

import math

import numpy as np

from ._kernel_geometry cimport Geometry, geometry_struct, valid_range
from ._phases cimport floating, split_phase_rows

cnp.import_array()

ctypedef fused real:
    float
    double
    int64_t


cdef extern from "_direct_simd.h" nogil:
    int FASTCONV_HAVE_SIMD
    const char* fastconv_simd_name
    Py_ssize_t fastconv_simd_floats
    void fastconv_simd_init()
    int fastconv_simd_runs(const char* name)
    int fastconv_simd_select(const char* name)
    void fastconv_rows_float(float* y, Py_ssize_t n_out, const float* x,
                             const Py_ssize_t* x_off, const float* w,
                             const Py_ssize_t* w_off, Py_ssize_t n_rows,
                             Py_ssize_t n_taps, Py_ssize_t tap_step) noexcept
    void fastconv_rows_double(double* y, Py_ssize_t n_out, const double* x,
                              const Py_ssize_t* x_off, const double* w,
                              const Py_ssize_t* w_off, Py_ssize_t n_rows,
                              Py_ssize_t n_taps, Py_ssize_t tap_step) noexcept
    int FASTCONV_CHANNELS
    int FASTCONV_CHANNEL_SLACK
    void fastconv_channels_float(float* y, Py_ssize_t ldy, Py_ssize_t n_pos,
                                 Py_ssize_t n_co, const float* x, Py_ssize_t ldx,
                                 Py_ssize_t n_ci, const Py_ssize_t* off,
                                 Py_ssize_t n_taps, const float* w) noexcept
    void fastconv_channels_double(double* y, Py_ssize_t ldy, Py_ssize_t n_pos,
                                  Py_ssize_t n_co, const double* x, Py_ssize_t ldx,
                                  Py_ssize_t n_ci, const Py_ssize_t* off,
                                  Py_ssize_t n_taps, const double* w) noexcept

fastconv_simd_init()

#: Output channels per register block of the channel-blocked kernel: the
#: fewest output channels per group it takes.
CHANNEL_BLOCK = FASTCONV_CHANNELS
#: Positions of slack the channel-blocked kernel needs after its buffers.
CHANNEL_SLACK = FASTCONV_CHANNEL_SLACK

_SIMD_VERSIONS = ("baseline", "avx2", "avx512")


def simd_version():
    """The version of the vectorised kernel in use: the widest this CPU runs
    ('avx512', 'avx2', 'baseline'), or 'none' without GCC/Clang vectors."""
    return fastconv_simd_name.decode()


def simd_versions():
    """Every version this CPU runs (for tests and benchmarks)."""
    return tuple(v for v in _SIMD_VERSIONS if fastconv_simd_runs(v.encode()))


def use_simd(version):
    """Switch the vectorised kernel to ``version`` (one of simd_versions()).

    For tests and benchmarks only: not safe while kernels run.
    """
    if fastconv_simd_select(version.encode()) != 0:
        raise ValueError(f"SIMD version {version!r} is not available here; "
                         f"choose from {simd_versions()}")

cdef enum:
    # Below this many multiply-adds a call runs on one thread: starting the
    # OpenMP team costs more than it saves.
    _PARALLEL_MIN_WORK = 1 << 16


cdef inline void _axpy_strided(real* y, const real* x, real a, Py_ssize_t n,
                               Py_ssize_t y_step, Py_ssize_t x_step) noexcept nogil:
    # y[o * y_step] += a * x[o * x_step] for o < n; contiguous cases get their
    # own loops so that the compiler vectorises them.
    cdef Py_ssize_t o
    if y_step == 1 and x_step == 1:
        for o in range(n):
            y[o] += a * x[o]
    elif y_step == 1:
        for o in range(n):
            y[o] += a * x[o * x_step]
    elif x_step == 1:
        for o in range(n):
            y[o * y_step] += a * x[o]
    else:
        for o in range(n):
            y[o * y_step] += a * x[o * x_step]


cdef void _row_scalar(real* out, Py_ssize_t begin, Py_ssize_t end, const real* src,
                      const Py_ssize_t* src_off, const real* w,
                      const Py_ssize_t* w_off, Py_ssize_t n_rows,
                      const Geometry* g, bint transpose) noexcept nogil:
    # out[begin:end] += the row's terms landing there, tap by tap (the range
    # of a tap is the same for every row), then row by row.
    #   transpose == 0:  out[o] += w[t] * src[o*s + t*d - p]   (gather)
    #   transpose == 1:  out[o*s + t*d - p] += w[t] * src[o]   (scatter-add)
    cdef Py_ssize_t XW = g.x_size[2], YW = g.y_size[2], KW = g.kernel[2]
    cdef Py_ssize_t s = g.stride[2], r, t, off, lo, hi
    if begin >= end:
        return
    for t in range(KW):
        off = t * g.dilation[2] - g.pad[2]
        if transpose:
            # source positions o whose target o*s + off is in [begin, end)
            valid_range(YW, end - begin, s, off - begin, &lo, &hi)
            if lo == hi:
                continue
            for r in range(n_rows):
                _axpy_strided(out + lo * s + off, src + src_off[r] + lo,
                              w[w_off[r] + t], hi - lo, s, 1)
        else:
            valid_range(YW, XW, s, off, &lo, &hi)
            lo = max(lo, begin)
            hi = min(hi, end)
            if lo >= hi:
                continue
            for r in range(n_rows):
                _axpy_strided(out + lo, src + src_off[r] + lo * s + off,
                              w[w_off[r] + t], hi - lo, 1, s)


cdef inline void _row(real* out, Py_ssize_t n_out, const real* src,
                      Py_ssize_t* src_off, const real* w, const Py_ssize_t* w_off,
                      Py_ssize_t n_rows, const Geometry* g, bint transpose) noexcept nogil:
    # One output row of n_out values, from n_rows (source row, kernel row) pairs.
    cdef Py_ssize_t KW = g.kernel[2], d = g.dilation[2], p = g.pad[2]
    cdef Py_ssize_t n_src = g.y_size[2] if transpose else g.x_size[2]
    cdef Py_ssize_t begin, end, shift, r
    if real is not int64_t:
        # [begin, end): outputs whose every tap reads inside the source row,
        # at source position o + shift + t * (+-d)
        if transpose:
            shift = p
            begin = (KW - 1) * d - p
            end = n_src - p
        else:
            shift = -p
            begin = p
            end = n_src + p - (KW - 1) * d
        begin = min(max(begin, 0), n_out)
        end = min(max(end, begin), n_out)
        if (FASTCONV_HAVE_SIMD and g.stride[2] == 1
                and (end - begin) * <Py_ssize_t> sizeof(real) >= fastconv_simd_floats * 4):
            _row_scalar(out, 0, begin, src, src_off, w, w_off, n_rows, g, transpose)
            _row_scalar(out, end, n_out, src, src_off, w, w_off, n_rows, g, transpose)
            for r in range(n_rows):
                src_off[r] += begin + shift
            if real is float:
                fastconv_rows_float(out + begin, end - begin, src, src_off, w, w_off,
                                    n_rows, KW, -d if transpose else d)
            else:
                fastconv_rows_double(out + begin, end - begin, src, src_off, w, w_off,
                                     n_rows, KW, -d if transpose else d)
            return
    _row_scalar(out, 0, n_out, src, src_off, w, w_off, n_rows, g, transpose)


cdef inline void _tap_range(Py_ssize_t o, Py_ssize_t n_x, Py_ssize_t k,
                            Py_ssize_t s, Py_ssize_t d, Py_ssize_t p,
                            Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    # The taps t in [0, k) with 0 <= o*s + t*d - p < n_x.
    cdef Py_ssize_t base = o * s - p
    lo[0] = 0 if base >= 0 else (d - 1 - base) // d
    if base + (k - 1) * d < n_x:
        hi[0] = k
    else:
        hi[0] = 0 if n_x - 1 - base < 0 else min(k, (n_x - 1 - base) // d + 1)
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef enum:
    # Output rows per job: enough to amortise the index arithmetic of a job
    # over short rows, few enough to balance two threads on one image.  Any
    # value gives the same results.
    _ROWS_PER_JOB = 8


ctypedef struct Plan:
    # One call: its geometry, sizes, and the jobs it is cut into.  out_size
    # is the output's spatial size: the y side of a convolution, the x side
    # of a transposed one.
    Geometry g
    Py_ssize_t out_size[3]
    Py_ssize_t c_in, c_out, cin_g, cout_g
    Py_ssize_t max_rows     # (source row, kernel row) pairs per output row
    Py_ssize_t blocks       # jobs per output plane (n, co, depth)
    Py_ssize_t n_jobs
    bint transpose


cdef Plan _plan(geom, Py_ssize_t n_batch, Py_ssize_t c_in, Py_ssize_t c_out,
                Py_ssize_t groups, bint transpose) except *:
    cdef Plan p
    cdef int i
    p.g = geometry_struct(geom)
    for i in range(3):
        p.out_size[i] = p.g.x_size[i] if transpose else p.g.y_size[i]
    p.c_in, p.c_out = c_in, c_out
    p.cin_g, p.cout_g = c_in // groups, c_out // groups
    p.max_rows = p.cin_g * p.g.kernel[0] * p.g.kernel[1]
    p.blocks = (p.out_size[1] + _ROWS_PER_JOB - 1) // _ROWS_PER_JOB
    p.n_jobs = n_batch * c_out * p.out_size[0] * p.blocks
    p.transpose = transpose
    return p


cdef void _conv_rows(real* yp, const real* xp, const real* wp, const Plan* p,
                     Py_ssize_t job, Py_ssize_t* x_off) noexcept nogil:
    # The output rows of one job of a convolution:
    # y[n, co, od, oh, :] = sum over ci in co's group, valid taps td, th of
    #                        correlate(x[n, ci, od*s + td*d - p, oh*s + th*d - p, :],
    #                                  w[co, ci, td, th, :])
    cdef const Geometry* g = &p.g
    cdef Py_ssize_t XD = g.x_size[0], XH = g.x_size[1], XW = g.x_size[2]
    cdef Py_ssize_t YD = g.y_size[0], YH = g.y_size[1], YW = g.y_size[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t od = (job // p.blocks) % YD
    cdef Py_ssize_t plane = job // (p.blocks * YD)       # n * c_out + co
    cdef Py_ssize_t co = plane % p.c_out
    cdef Py_ssize_t ci0 = plane // p.c_out * p.c_in + co // p.cout_g * p.cin_g
    cdef Py_ssize_t* w_off = x_off + p.max_rows
    cdef Py_ssize_t oh, ci, td, th, tdlo, tdhi, thlo, thhi, r, x_depth, w_depth
    _tap_range(od, XD, KD, g.stride[0], g.dilation[0], g.pad[0], &tdlo, &tdhi)
    for oh in range(job % p.blocks * _ROWS_PER_JOB,
                    min(YH, (job % p.blocks + 1) * _ROWS_PER_JOB)):
        _tap_range(oh, XH, KH, g.stride[1], g.dilation[1], g.pad[1], &thlo, &thhi)
        r = 0
        for ci in range(p.cin_g):
            for td in range(tdlo, tdhi):
                x_depth = ((ci0 + ci) * XD + od * g.stride[0]
                           + td * g.dilation[0] - g.pad[0]) * XH
                w_depth = ((co * p.cin_g + ci) * KD + td) * KH
                for th in range(thlo, thhi):
                    x_off[r] = (x_depth + oh * g.stride[1]
                                + th * g.dilation[1] - g.pad[1]) * XW
                    w_off[r] = (w_depth + th) * KW
                    r += 1
        _row(yp + ((plane * YD + od) * YH + oh) * YW, YW, xp, x_off, wp, w_off,
             r, g, False)


cdef void _conv_transpose_rows(real* op, const real* xp, const real* wp, const Plan* p,
                               Py_ssize_t job, Py_ssize_t* x_off) noexcept nogil:
    # The output rows of one job of a transposed convolution:
    # out[n, co, i, j, :] += scatter of x[n, ci, a, b, :] * w[ci, co, td, th, :]
    # over ci in co's group and the (a, td), (b, th) with a*s + td*d - p == i
    # (and likewise in H): the output row gathers its source rows, then each
    # source value is scattered along W.
    cdef const Geometry* g = &p.g
    cdef Py_ssize_t OD = g.x_size[0], OH = g.x_size[1], OW = g.x_size[2]
    cdef Py_ssize_t XD = g.y_size[0], XH = g.y_size[1], XW = g.y_size[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t i = (job // p.blocks) % OD
    cdef Py_ssize_t plane = job // (p.blocks * OD)       # n * c_out + co
    cdef Py_ssize_t co = plane % p.c_out
    cdef Py_ssize_t ci0 = plane // p.c_out * p.c_in + co // p.cout_g * p.cin_g
    cdef Py_ssize_t* w_off = x_off + p.max_rows
    cdef Py_ssize_t j, ci, td, th, a, b, r, x_depth, w_depth
    for j in range(job % p.blocks * _ROWS_PER_JOB,
                   min(OH, (job % p.blocks + 1) * _ROWS_PER_JOB)):
        r = 0
        for ci in range(ci0, ci0 + p.cin_g):
            for td in range(KD):
                a = i + g.pad[0] - td * g.dilation[0]
                if a < 0 or a % g.stride[0] != 0 or a // g.stride[0] >= XD:
                    continue
                x_depth = (ci * XD + a // g.stride[0]) * XH
                w_depth = (((ci % p.c_in) * p.cout_g + co % p.cout_g) * KD + td) * KH
                for th in range(KH):
                    b = j + g.pad[1] - th * g.dilation[1]
                    if b < 0 or b % g.stride[1] != 0 or b // g.stride[1] >= XH:
                        continue
                    x_off[r] = (x_depth + b // g.stride[1]) * XW
                    w_off[r] = (w_depth + th) * KW
                    r += 1
        _row(op + ((plane * OD + i) * OH + j) * OW, OW, xp, x_off, wp, w_off,
             r, g, True)


cdef void _run(real* out, const real* src, const real* w, const Plan* p,
               Py_ssize_t* scratch, int n_threads) noexcept nogil:
    # Every job, on n_threads threads when the call is big enough to gain.
    cdef Py_ssize_t job, work = (p.n_jobs // p.blocks * p.out_size[1] * p.out_size[2]
                                 * p.max_rows * p.g.kernel[2])
    if n_threads > 1 and p.n_jobs > 1 and work >= _PARALLEL_MIN_WORK:
        for job in prange(p.n_jobs, schedule="dynamic", num_threads=n_threads):
            if p.transpose:
                _conv_transpose_rows(out, src, w, p, job,
                                     scratch + 2 * p.max_rows * threadid())
            else:
                _conv_rows(out, src, w, p, job, scratch + 2 * p.max_rows * threadid())
    else:
        for job in range(p.n_jobs):
            if p.transpose:
                _conv_transpose_rows(out, src, w, p, job, scratch)
            else:
                _conv_rows(out, src, w, p, job, scratch)


cdef inline void* _data(cnp.ndarray a) noexcept:
    return cnp.PyArray_DATA(a)


cdef int _check(cnp.ndarray x, cnp.ndarray weight, cnp.ndarray out) except -1:
    # The shapes are the caller's promise; layout and dtype are cheap to check
    # and a mistake there would read out of bounds.
    cdef int typenum = cnp.PyArray_TYPE(x)
    if not (cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_IS_C_CONTIGUOUS(weight)
            and cnp.PyArray_IS_C_CONTIGUOUS(out)
            and cnp.PyArray_NDIM(x) == 5 and cnp.PyArray_NDIM(weight) == 5
            and cnp.PyArray_NDIM(out) == 5):
        raise ValueError("direct kernels need 5-D C-contiguous arrays")
    if cnp.PyArray_TYPE(weight) != typenum or cnp.PyArray_TYPE(out) != typenum:
        raise TypeError("x, weight and out must share one dtype")
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64 and typenum != cnp.NPY_INT64:
        raise TypeError(f"direct kernels support float32, float64 and int64, got {x.dtype}")
    return typenum


cdef _direct(cnp.ndarray x, cnp.ndarray weight, cnp.ndarray out, geom,
             Py_ssize_t groups, int n_threads, bint transpose):
    cdef int typenum = _check(x, weight, out)
    cdef Plan p = _plan(geom, out.shape[0], x.shape[1], out.shape[1], groups, transpose)
    # (source offset, kernel offset) lists of one output row, per thread
    cdef Py_ssize_t* sp = <Py_ssize_t*> malloc(2 * p.max_rows * n_threads
                                                * sizeof(Py_ssize_t))
    cdef void* op = _data(out)
    cdef void* xp = _data(x)
    cdef void* wp = _data(weight)
    if sp == NULL:
        raise MemoryError()
    with nogil:
        if typenum == cnp.NPY_FLOAT32:
            _run(<float*> op, <const float*> xp, <const float*> wp, &p, sp, n_threads)
        elif typenum == cnp.NPY_FLOAT64:
            _run(<double*> op, <const double*> xp, <const double*> wp, &p, sp, n_threads)
        else:
            _run(<int64_t*> op, <const int64_t*> xp, <const int64_t*> wp, &p, sp,
                 n_threads)
        free(sp)


def conv_direct(x, weight, out, geom, groups, n_threads):
    """out[n, co] = sum over ci in co's group of correlate(x[n, ci], weight[co, ci])

    x (N, C_in, *geom.input_spatial), weight (C_out, C_in/groups, *kernel),
    out (N, C_out, *geom.output_spatial), zero-filled.  All non-empty and
    C-contiguous, of one dtype: float32, float64 or int64.
    """
    _direct(x, weight, out, geom, groups, n_threads, False)


def conv_transpose_direct(x, weight, out, geom, groups, n_threads):
    """out[n, co] = sum of x[n, ci] scattered through weight[ci, co] over co's group

    x (N, C_in, *geom.output_spatial), weight (C_in, C_out/groups, *kernel),
    out (N, C_out, *geom.input_spatial), zero-filled.  All non-empty and
    C-contiguous, of one dtype: float32, float64 or int64.
    """
    _direct(x, weight, out, geom, groups, n_threads, True)


# --------------------------------------------------------------------------
# the channel-blocked kernel: convolutions and transposed convolutions with
# many channels
# --------------------------------------------------------------------------
#
# Both run as "passes": a pass is a stride-1 correlation of a zero-padded,
# stride-phase-split copy of one sample's input (_phases.pxd) with a list
# of taps, each tap an offset into that copy.  Flat over the copy's grid,
# output position q of the pass is
#     wide[co, q] = sum over ci, t of w[co, ci, t] * copy[ci, q + off[t]]
# which the kernel of _direct_simd.h computes for blocks of output channels
# and positions, then the valid positions of wide are written to the output
# at out_start + u * out_step per dim.  A convolution is one pass per sample
# over its stride phases; a transposed convolution one pass per output
# phase (ConvGeometry.transpose_phases), its copy padded but not split.
# Samples are cut into windows of rows so that the copy and wide stay small.

ctypedef struct Part:
    # One output phase of a pass: its taps (phase and shift of tap t at
    # index tap_at + t of the pass's lists), its weights (C_out, C_in/groups,
    # n_taps) from w_at on, and its outputs: out_count per dim, landing at
    # out_start + u * out_step.
    Py_ssize_t n_taps, tap_at, w_at
    Py_ssize_t out_start[3]
    Py_ssize_t out_count[3]


ctypedef struct Pass:
    Geometry split              # the copy: x_size, stride, pad of the split
    Py_ssize_t size[3]          # its phase grid
    Py_ssize_t row              # its rows' stored length (<= size[2])
    Py_ssize_t n_phases         # stride phases in the copy
    Py_ssize_t out_step[3]
    Py_ssize_t out_size[3]      # the output's spatial size
    Py_ssize_t n_parts
    const Part* parts
    const Py_ssize_t* phase     # per tap: its phase, shift in the phase grid
    const Py_ssize_t* shift
    Py_ssize_t n_rows           # rows of the phase grid holding outputs
    Py_ssize_t extra            # rows of the copy read past a window's last


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
    # x (C_in, prod(split.x_size)), out (C_out, prod(out_size)), w every
    # part's weights; buf holds the window's copy and every part's wide
    # output, off one offset per tap.
    cdef const Geometry* g = &ps.split
    cdef Py_ssize_t x_plane = g.x_size[0] * g.x_size[1] * g.x_size[2]
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
        split_phase_rows(x + c * x_plane, dst, g, ps.size, PW,
                         a // (g.stride[1] * g.stride[2]),
                         a // g.stride[2] % g.stride[1], a % g.stride[2], r0, r_hi)
        memset(dst + (r_hi - r0) * PW, 0, (ldp - (r_hi - r0) * PW) * sizeof(floating))
    # each part's wide output, then its valid positions into out
    for i in range(ps.n_parts):
        part = &ps.parts[i]
        for grp in range(groups):
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


def _channels_pass(const floating[:, :, ::1] x, const floating[::1] weights,
                   floating[:, :, ::1] out, Py_ssize_t groups, int n_threads,
                   split, size, Py_ssize_t row, out_step,
                   const Py_ssize_t[:, ::1] parts,
                   const Py_ssize_t[::1] tap_phase, const Py_ssize_t[::1] tap_shift,
                   Py_ssize_t rows):
    """Run one pass over every sample (see the notes above).

    x (N, C_in, X), out (N, C_out, O) with X, O flat spatial sizes;
    ``split`` = (x_size, stride, pad) of the copy, ``size`` its phase grid,
    ``row`` the stored length of its rows, ``out_step`` the output step
    per dim; one row of ``parts`` per part:
    n_taps, tap_at, w_at, out_start (3), out_count (3), out_size (3, the
    output's spatial size); windows of ``rows`` rows (see _window_rows).
    Jobs are (sample, window) pairs, each on one thread with its own copy
    and wide output.
    """
    cdef Pass ps
    cdef Part* part_list = <Part*> malloc(parts.shape[0] * sizeof(Part))
    cdef Py_ssize_t c_in = x.shape[1], c_out = out.shape[1], n, i, k, max_shift = 0
    cdef Py_ssize_t copy_values, windows, ldp, per_thread, job, r0
    cdef floating[::1] buf
    cdef Py_ssize_t[::1] off = np.empty(tap_shift.shape[0], dtype=np.intp)
    if part_list == NULL:
        raise MemoryError()
    try:
        memset(&ps, 0, sizeof(Pass))
        _set3(ps.split.x_size, split[0])
        _set3(ps.split.stride, split[1])
        _set3(ps.split.pad, split[2])
        _set3(ps.size, size)
        ps.row = row
        _set3(ps.out_step, out_step)
        _set3(ps.out_size, parts[0, 9:12])
        ps.n_phases = ps.split.stride[0] * ps.split.stride[1] * ps.split.stride[2]
        ps.n_parts = parts.shape[0]
        ps.n_rows = 0
        for i in range(ps.n_parts):
            part_list[i].n_taps = parts[i, 0]
            part_list[i].tap_at = parts[i, 1]
            part_list[i].w_at = parts[i, 2]
            for k in range(3):
                part_list[i].out_start[k] = parts[i, 3 + k]
                part_list[i].out_count[k] = parts[i, 6 + k]
            ps.n_rows = max(ps.n_rows, (parts[i, 6] - 1) * ps.size[1] + parts[i, 7])
        for i in range(tap_shift.shape[0]):
            max_shift = max(max_shift, tap_shift[i])
        ps.parts = part_list
        ps.phase = &tap_phase[0]
        ps.shift = &tap_shift[0]
        ps.extra = _extra_rows(max_shift, row)
        copy_values = ps.n_phases * c_in
        windows = (ps.n_rows + rows - 1) // rows
        ldp = (rows + ps.extra) * row + FASTCONV_CHANNEL_SLACK
        per_thread = copy_values * ldp + ps.n_parts * c_out * (
            rows * row + FASTCONV_CHANNEL_SLACK)
        buf = np.empty(per_thread * n_threads, dtype=x.base.dtype)
        for i in range(tap_shift.shape[0]):
            off[i] = tap_phase[i] * c_in * ldp + tap_shift[i]
        with nogil:
            for job in prange(x.shape[0] * windows, schedule="dynamic",
                              num_threads=n_threads):
                n = job // windows
                r0 = job % windows * rows
                _run_window(&x[n, 0, 0], &out[n, 0, 0], &weights[0], &ps, c_in, c_out,
                            groups, r0, min(rows, ps.n_rows - r0),
                            &buf[threadid() * per_thread], rows, &off[0])
    finally:
        free(part_list)


#: Largest size in bytes of one window of the channel-blocked kernel (its
#: copy of the input and wide output); larger samples are cut into windows
#: of rows.  Private: the tests shrink it to force windows.
CHANNEL_WORKSPACE_BYTES = 4 * 2**20

#: Jobs (windows of samples) per thread, at least: samples are cut into
#: more windows when there are few of them, so that threads finish together.
CHANNEL_JOBS_PER_THREAD = 4

#: Input channels x taps per group from which a float convolution with at
#: least CHANNEL_BLOCK output channels per group takes the channel-blocked
#: kernel (see takes_channels).
CHANNEL_MIN_TERMS = 8

#: Largest ratio of wide-output positions to output positions for which
#: the channel-blocked kernel is taken: the padding columns it computes and
#: drops.
CHANNEL_MAX_WIDENING = 4.0


def takes_channels(x, weight, geom, groups):
    """Whether conv_channels runs this convolution: float, a vectorised
    kernel exists, at least CHANNEL_BLOCK output channels and
    CHANNEL_MIN_TERMS input channels x taps per group, and the wide output
    is at most CHANNEL_MAX_WIDENING x the output."""
    if weight.shape[0] // groups < FASTCONV_CHANNELS:   # the common few-channel case, first
        return False
    return (_channels_apply(x, weight.shape[0] // groups, weight.shape[1] * geom.n_taps)
            and math.prod(geom.phase_size()) <= CHANNEL_MAX_WIDENING
            * math.prod(geom.output_spatial))


def takes_transpose_channels(x, weight, geom, groups):
    """Whether conv_transpose_channels runs this transposed convolution:
    as takes_channels, with the taps of one output phase (taps / stride,
    rounded down) and the wide outputs of the phases that have taps; and
    finite weights: the phases read zero padding, where an inf or NaN weight
    would add NaN (inf * 0) that the scatter-add definition never adds."""
    if weight.shape[1] < FASTCONV_CHANNELS:   # the common few-channel case, first
        return False
    if not _channels_apply(x, weight.shape[1],
                           x.shape[1] // groups * geom.n_taps // math.prod(geom.stride)):
        return False
    _, size, row, phases = geom.transpose_phases()
    wide = sum(((count[0] - 1) * size[1] + count[1]) * row
               for taps, _, count in phases if taps)
    return (wide <= CHANNEL_MAX_WIDENING * math.prod(geom.input_spatial)
            and bool(np.isfinite(weight).all()))


def _channels_apply(x, cout_per_group, terms):
    return (cout_per_group >= FASTCONV_CHANNELS and terms >= CHANNEL_MIN_TERMS
            and x.dtype.kind == "f" and FASTCONV_HAVE_SIMD)


def _flat(a):
    """(N, C, D, H, W) -> (N, C, D*H*W), a view."""
    return a.reshape(a.shape[0], a.shape[1], -1)


cdef inline Py_ssize_t _extra_rows(Py_ssize_t max_shift, Py_ssize_t row) noexcept nogil:
    # rows of the copy that a window reads past its last row
    return max_shift // row + 1


def _window_rows(n_batch, parts, shifts, size, row, copy_channels, wide_channels,
                 itemsize, n_threads):
    """Rows per window of _channels_pass: the copy (``copy_channels`` rows
    of the window and the extra rows read past it) and the wide outputs
    (``wide_channels`` rows) within CHANNEL_WORKSPACE_BYTES, at least one;
    and at least CHANNEL_JOBS_PER_THREAD windows per thread in all."""
    n_rows = max((count[0] - 1) * size[1] + count[1] for count in parts[:, 6:9])
    extra = _extra_rows(int(shifts.max()), row)
    rows = ((CHANNEL_WORKSPACE_BYTES // (row * itemsize) - copy_channels * extra)
            // (copy_channels + wide_channels))
    windows = -(-CHANNEL_JOBS_PER_THREAD * n_threads // n_batch)
    return min(max(rows, 1), -(-n_rows // windows))


def _part_rows(parts, out_size, weights_per_tap):
    """The parts table of _channels_pass from (n_taps, start, count) per
    part, their weights one after the other."""
    rows, tap_at = [], 0
    for n_taps, start, count in parts:
        rows.append([n_taps, tap_at, tap_at * weights_per_tap, *start, *count, *out_size])
        tap_at += n_taps
    return np.array(rows, dtype=np.intp)


def conv_channels(x, weight, geom, groups, n_threads):
    """The channel-blocked convolution, for calls that takes_channels
    accepts: x (N, C_in, *geom.input_spatial), weight (C_out, C_in/groups,
    *kernel), C-contiguous, float32 or float64.  Returns out
    (N, C_out, *geom.output_spatial).

    One pass with one part: the copy is the padded input split into its
    stride phases, which each tap reads at its phase and shift
    (ConvGeometry.phase_taps).
    """
    out = np.empty((x.shape[0], weight.shape[0]) + geom.output_spatial, dtype=x.dtype)
    row = geom.phase_row()
    taps = np.array(geom.phase_taps(row), dtype=np.intp).reshape(-1, 2)
    parts = _part_rows([(geom.n_taps, (0, 0, 0), geom.output_spatial)],
                       geom.output_spatial, weight.shape[0] * weight.shape[1])
    size = geom.phase_size()
    rows = _window_rows(x.shape[0], parts, taps[:, 1], size, row,
                        math.prod(geom.stride) * x.shape[1], out.shape[1], x.itemsize,
                        n_threads)
    _channels_pass(_flat(x), weight.ravel(), _flat(out), groups, n_threads,
                   (geom.input_spatial, geom.stride, geom.pad_before), size, row,
                   (1, 1, 1),
                   parts, np.ascontiguousarray(taps[:, 0]),
                   np.ascontiguousarray(taps[:, 1]), rows)
    return out


def conv_transpose_channels(x, weight, geom, groups, n_threads):
    """The channel-blocked transposed convolution, for calls that
    takes_transpose_channels accepts: x (N, C_in, *geom.output_spatial),
    weight (C_in, C_out/groups, *kernel), C-contiguous, float32 or float64.
    Returns out (N, C_out, *geom.input_spatial).

    One pass with a part per output phase (ConvGeometry.transpose_phases):
    the copy is the zero-padded input, not split.
    """
    c_in, cout_g = weight.shape[:2]
    pad, size, row, phases = geom.transpose_phases()
    with_taps = [phase for phase in phases if phase[0]]
    shape = (x.shape[0], cout_g * groups) + geom.input_spatial
    # phases without taps are zeros
    out = (np.empty if len(with_taps) == len(phases) else np.zeros)(shape, dtype=x.dtype)
    if not with_taps:
        return out
    # per phase: weight[ci, co, t] as (C_out, C_in/groups, its taps)
    w = weight.reshape(groups, c_in // groups, cout_g, -1)
    weights = np.concatenate([w[..., [t for t, _ in taps]].transpose(0, 2, 1, 3).ravel()
                              for taps, _, _ in with_taps])
    parts = _part_rows([(len(taps), start, count) for taps, start, count in with_taps],
                       geom.input_spatial, c_in // groups * cout_g * groups)
    shifts = np.array([shift for taps, _, _ in with_taps for _, shift in taps],
                      dtype=np.intp)
    rows = _window_rows(x.shape[0], parts, shifts, size, row, x.shape[1],
                        len(with_taps) * out.shape[1], x.itemsize, n_threads)
    _channels_pass(_flat(x), weights, _flat(out), groups, n_threads,
                   (geom.output_spatial, (1, 1, 1), pad), size, row, geom.stride, parts,
                   np.zeros_like(shifts), shifts, rows)
    return out
