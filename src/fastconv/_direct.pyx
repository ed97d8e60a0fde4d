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
# (_direct_channels.pyx).  The vectorised kernels of both modules switch
# together: see use_simd.

from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport numpy as cnp

from . import _depthwise, _direct_channels

from ._fused cimport floating, real
from ._kernel_geometry cimport Geometry, geometry_struct, valid_range

cnp.import_array()


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
    int FASTCONV_BAND_ROWS
    void fastconv_bands_float(float* y, Py_ssize_t ld, Py_ssize_t n_rows, const float* x,
                              const Py_ssize_t* off, const Py_ssize_t* cnt, Py_ssize_t n_cls,
                              const float* w) noexcept
    void fastconv_bands_double(double* y, Py_ssize_t ld, Py_ssize_t n_rows, const double* x,
                               const Py_ssize_t* off, const Py_ssize_t* cnt,
                               Py_ssize_t n_cls, const double* w) noexcept

fastconv_simd_init()
_depthwise.use_simd(fastconv_simd_name.decode())

_SIMD_VERSIONS = ("baseline", "avx2", "avx512")
#: Output rows the depthwise path's band kernel computes at a time.
BAND_ROWS = FASTCONV_BAND_ROWS


def simd_version():
    """The version of the vectorised kernel in use: the widest this CPU runs
    ('avx512', 'avx2', 'baseline'), or 'none' without GCC/Clang vectors."""
    return fastconv_simd_name.decode()


def simd_versions():
    """Every version this CPU runs (for tests and benchmarks)."""
    return tuple(v for v in _SIMD_VERSIONS if fastconv_simd_runs(v.encode()))


def use_simd(version):
    """Switch the vectorised kernels (rows, channel-blocked, depthwise) to
    ``version`` (one of simd_versions()).

    For tests and benchmarks only: not safe while kernels run.
    """
    if fastconv_simd_select(version.encode()) != 0:
        raise ValueError(f"SIMD version {version!r} is not available here; "
                         f"choose from {simd_versions()}")
    _direct_channels.use_simd(version)
    _depthwise.use_simd(version)


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
    cdef Py_ssize_t XW = g.conv_in[2], YW = g.conv_out[2], KW = g.kernel[2]
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


cdef void _row_strided_scatter(real* out, Py_ssize_t n_out, const real* src,
                               const Py_ssize_t* src_off, const real* w,
                               const Py_ssize_t* w_off, Py_ssize_t n_rows,
                               const Geometry* g, real* phases) noexcept nogil:
    # out[i*s + t*d - p] += w[t] * src[i] along a row, for a stride s > 1:
    # phase a of the output (positions a, a + s, ...) is accumulated
    # contiguously in phases[a * n_u:], where tap t adds src into phase
    # (t*d - p) mod s from position floor((t*d - p) / s) on, so the inner
    # loop is a unit-stride axpy; the phases are interleaved into out at the
    # end.  Each output is summed in the order t, then row, as the plain
    # scatter does, so the values are the same.
    cdef Py_ssize_t s = g.stride[2], n_src = g.conv_out[2]
    cdef Py_ssize_t n_u = (n_out + s - 1) // s
    cdef Py_ssize_t n_phases = min(s, n_out)   # phases from n_out on are empty
    cdef Py_ssize_t t, r, off, a, q, lo, hi, u
    cdef real* phase
    memset(phases, 0, n_phases * n_u * sizeof(real))
    for t in range(g.kernel[2]):
        off = t * g.dilation[2] - g.pad[2]
        valid_range(n_src, n_out, s, off, &lo, &hi)
        if lo == hi:
            continue
        a = off % s
        if a < 0:
            a += s
        q = (off - a) // s
        for r in range(n_rows):
            _axpy_strided(phases + a * n_u + lo + q, src + src_off[r] + lo,
                          w[w_off[r] + t], hi - lo, 1, 1)
    for a in range(n_phases):
        phase = phases + a * n_u
        for u in range((n_out - a + s - 1) // s):
            out[u * s + a] = phase[u]


cdef inline void _row(real* out, Py_ssize_t n_out, const real* src,
                      Py_ssize_t* src_off, const real* w, const Py_ssize_t* w_off,
                      Py_ssize_t n_rows, const Geometry* g, bint transpose,
                      real* phases) noexcept nogil:
    # One output row of n_out values, from n_rows (source row, kernel row)
    # pairs; phases: room for n_out + min(stride, n_out) values (strided
    # scatter only).
    cdef Py_ssize_t KW = g.kernel[2], d = g.dilation[2], p = g.pad[2]
    cdef Py_ssize_t n_src = g.conv_out[2] if transpose else g.conv_in[2]
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
    if transpose and g.stride[2] > 1:
        _row_strided_scatter(out, n_out, src, src_off, w, w_off, n_rows, g, phases)
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


ctypedef struct RowJobs:
    # One call: its geometry, sizes, and the jobs it is cut into.  out_size
    # is the output's spatial size: conv_out for a convolution, conv_in
    # for a transposed one.
    Geometry g
    Py_ssize_t out_size[3]
    Py_ssize_t c_in, c_out, cin_g, cout_g
    Py_ssize_t max_rows     # (source row, kernel row) pairs per output row
    Py_ssize_t scratch_len  # scratch per thread, in Py_ssize_t
    Py_ssize_t blocks       # jobs per output plane (n, co, depth)
    Py_ssize_t n_jobs
    bint transpose


cdef RowJobs _row_jobs(geom, Py_ssize_t n_batch, Py_ssize_t c_in, Py_ssize_t c_out,
                Py_ssize_t groups, bint transpose) except *:
    cdef RowJobs p
    cdef int i
    p.g = geometry_struct(geom)
    for i in range(3):
        p.out_size[i] = p.g.conv_in[i] if transpose else p.g.conv_out[i]
    p.c_in, p.c_out = c_in, c_out
    p.cin_g, p.cout_g = c_in // groups, c_out // groups
    p.max_rows = p.cin_g * p.g.kernel[0] * p.g.kernel[1]
    p.scratch_len = 2 * p.max_rows
    if transpose and p.g.stride[2] > 1:
        p.scratch_len += p.out_size[2] + min(p.g.stride[2], p.out_size[2])
    p.blocks = (p.out_size[1] + _ROWS_PER_JOB - 1) // _ROWS_PER_JOB
    p.n_jobs = n_batch * c_out * p.out_size[0] * p.blocks
    p.transpose = transpose
    return p


cdef void _conv_rows(real* yp, const real* xp, const real* wp, const RowJobs* p,
                     Py_ssize_t job, Py_ssize_t* x_off) noexcept nogil:
    # The output rows of one job of a convolution:
    # y[n, co, od, oh, :] = sum over ci in co's group, valid taps td, th of
    #                        correlate(x[n, ci, od*s + td*d - p, oh*s + th*d - p, :],
    #                                  w[co, ci, td, th, :])
    cdef const Geometry* g = &p.g
    cdef Py_ssize_t XD = g.conv_in[0], XH = g.conv_in[1], XW = g.conv_in[2]
    cdef Py_ssize_t YD = g.conv_out[0], YH = g.conv_out[1], YW = g.conv_out[2]
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
             r, g, False, NULL)


cdef void _conv_transpose_rows(real* out_ptr, const real* xp, const real* wp,
                               const RowJobs* p, Py_ssize_t job,
                               Py_ssize_t* x_off) noexcept nogil:
    # The output rows of one job of a transposed convolution:
    # out[n, co, i, j, :] += scatter of x[n, ci, a, b, :] * w[ci, co, td, th, :]
    # over ci in co's group and the (a, td), (b, th) with a*s + td*d - p == i
    # (and likewise in H): the output row gathers its source rows, then each
    # source value is scattered along W.
    cdef const Geometry* g = &p.g
    cdef Py_ssize_t OD = g.conv_in[0], OH = g.conv_in[1], OW = g.conv_in[2]
    cdef Py_ssize_t XD = g.conv_out[0], XH = g.conv_out[1], XW = g.conv_out[2]
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
        # the phase buffer follows the row's offset lists in the scratch
        _row(out_ptr + ((plane * OD + i) * OH + j) * OW, OW, xp, x_off, wp, w_off,
             r, g, True, <real*> (x_off + 2 * p.max_rows))


cdef void _run(real* out, const real* src, const real* w, const RowJobs* p,
               Py_ssize_t* scratch, int n_threads) noexcept nogil:
    # Every job, on n_threads threads (the planner gives small calls one).
    cdef Py_ssize_t job
    if n_threads > 1 and p.n_jobs > 1:
        for job in prange(p.n_jobs, schedule="dynamic", num_threads=n_threads):
            if p.transpose:
                _conv_transpose_rows(out, src, w, p, job,
                                     scratch + p.scratch_len * threadid())
            else:
                _conv_rows(out, src, w, p, job, scratch + p.scratch_len * threadid())
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
    cdef RowJobs p = _row_jobs(geom, out.shape[0], x.shape[1], out.shape[1], groups, transpose)
    # per thread: the (source offset, kernel offset) lists of one output row,
    # and for a strided transposed row its phases (n_out + min(stride, n_out)
    # values, each at most the size of a Py_ssize_t)
    cdef Py_ssize_t* sp = <Py_ssize_t*> malloc(p.scratch_len * n_threads
                                                * sizeof(Py_ssize_t))
    cdef void* out_ptr = _data(out)
    cdef void* xp = _data(x)
    cdef void* wp = _data(weight)
    if sp == NULL:
        raise MemoryError()
    with nogil:
        if typenum == cnp.NPY_FLOAT32:
            _run(<float*> out_ptr, <const float*> xp, <const float*> wp, &p, sp, n_threads)
        elif typenum == cnp.NPY_FLOAT64:
            _run(<double*> out_ptr, <const double*> xp, <const double*> wp, &p, sp, n_threads)
        else:
            _run(<int64_t*> out_ptr, <const int64_t*> xp, <const int64_t*> wp, &p, sp,
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
# path 'depthwise': one input channel per group (depthwise layers, one-channel
# images), floats
# --------------------------------------------------------------------------
#
# Each job is (sample, input channel, band of output rows).  It copies the
# input rows its band reads into a zero-padded, stride-phase-split grid (per
# dim, phase a holds the padded input at u*s + a; every phase has the grid
# size G = Y + (K-1)*d // s), so that tap t of output o reads phase
# (t*d) % s at o + (t*d) // s: a fixed offset per tap.  Over the band's
# grid positions q (whole grid rows, G[2] wide) the vectorised rows kernel
# of _direct_simd.h sums, per output channel of the group,
#     wide[q] = sum over taps t of w[t] * grid[off[t] + q]
# in tap order, and the band's valid positions are copied to the output.

cdef void _deinterleave2(floating* d0, floating* d1, const floating* src,
                         Py_ssize_t n) noexcept nogil:
    # d0[u] = src[2u], d1[u] = src[2u + 1], u < n: one pass over src (the
    # compiler vectorises it)
    cdef Py_ssize_t u
    for u in range(n):
        d0[u] = src[2 * u]
        d1[u] = src[2 * u + 1]


cdef void _depthwise_copy(const floating* x, floating* buf, const Geometry* g,
                          const Py_ssize_t* grid, Py_ssize_t phase_len,
                          Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    # Grid rows [r0, r1) of every phase of one input channel x (its padded,
    # split input; zero outside x), phase a at buf + a * phase_len.  The
    # phases along W of one source row are written from one read of it.
    cdef Py_ssize_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2]
    cdef Py_ssize_t X0 = g.conv_in[0], X1 = g.conv_in[1], X2 = g.conv_in[2]
    cdef Py_ssize_t G1 = grid[1], G2 = grid[2]
    cdef Py_ssize_t b, a0, a1, a2, r, i0, i1, u_lo, u_hi, u, both_lo, both_hi, lo1, hi1
    cdef floating* dst
    cdef const floating* row
    for b in range(s0 * s1):          # the phases along D and H
        a0 = b // s1
        a1 = b % s1
        for r in range(r0, r1):
            i0 = r // G1 * s0 + a0 - g.pad[0]
            i1 = r % G1 * s1 + a1 - g.pad[1]
            dst = buf + b * s2 * phase_len + (r - r0) * G2
            if r >= grid[0] * G1 or i0 < 0 or i0 >= X0 or i1 < 0 or i1 >= X1:
                for a2 in range(s2):
                    memset(dst + a2 * phase_len, 0, G2 * sizeof(floating))
                continue
            row = x + (i0 * X1 + i1) * X2 - g.pad[2]     # row[j]: padded position j
            both_lo, both_hi = 0, G2
            for a2 in range(s2):
                # the grid positions u whose input u*s2 + a2 - p lies in [0, X2)
                valid_range(G2, X2, s2, a2 - g.pad[2], &u_lo, &u_hi)
                u_lo = min(u_lo, G2)
                u_hi = min(max(u_hi, u_lo), G2)
                memset(dst + a2 * phase_len, 0, u_lo * sizeof(floating))
                memset(dst + a2 * phase_len + u_hi, 0, (G2 - u_hi) * sizeof(floating))
                if s2 == 1:
                    memcpy(dst + u_lo, row + u_lo, (u_hi - u_lo) * sizeof(floating))
                elif s2 != 2:
                    for u in range(u_lo, u_hi):
                        dst[a2 * phase_len + u] = row[u * s2 + a2]
                else:
                    both_lo = max(both_lo, u_lo)
                    both_hi = min(both_hi, u_hi)
                    if a2 == 1:
                        # the positions only one phase reads, then both at once
                        valid_range(G2, X2, 2, -g.pad[2], &u_lo, &u_hi)
                        valid_range(G2, X2, 2, 1 - g.pad[2], &lo1, &hi1)
                        u_lo = min(u_lo, G2)
                        u_hi = min(max(u_hi, u_lo), G2)
                        lo1 = min(lo1, G2)
                        hi1 = min(max(hi1, lo1), G2)
                        for u in range(u_lo, min(both_lo, u_hi)):
                            dst[u] = row[2 * u]
                        for u in range(max(both_hi, u_lo), u_hi):
                            dst[u] = row[2 * u]
                        for u in range(lo1, min(both_lo, hi1)):
                            dst[phase_len + u] = row[2 * u + 1]
                        for u in range(max(both_hi, lo1), hi1):
                            dst[phase_len + u] = row[2 * u + 1]
                        if both_lo < both_hi:
                            _deinterleave2(dst + both_lo, dst + phase_len + both_lo,
                                           row + 2 * both_lo, both_hi - both_lo)


ctypedef struct DepthwiseCall:
    # one call's constants: its geometry, grid and bands; the taps as
    # classes (those reading one phase at one column offset from
    # consecutive rows: cls_off[c] into the copy, cls_cnt[c] rows) and each
    # output channel's weights in that order (taps values each)
    Geometry g
    Py_ssize_t grid[3]
    Py_ssize_t extra, phase_len, c_in, m, bands, band_rows, n_rows, n_cls
    const Py_ssize_t* cls_off
    const Py_ssize_t* cls_cnt
    const void* w_table


cdef void _depthwise_job(const floating* x, floating* out, const floating* w_table,
                         const DepthwiseCall* p, Py_ssize_t r0, Py_ssize_t r1,
                         floating* buf) noexcept nogil:
    # Output rows [r0, r1) (rows of the grid, r = o0 * G1 + o1) of the m
    # output channels of one input channel x, out at the first of them,
    # w_table theirs; the phases phase_len apart in buf, then the wide rows.
    cdef const Geometry* g = &p.g
    cdef Py_ssize_t G1 = p.grid[1], G2 = p.grid[2]
    cdef Py_ssize_t Y0 = g.conv_out[0], Y1 = g.conv_out[1], Y2 = g.conv_out[2]
    cdef Py_ssize_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2]
    cdef Py_ssize_t filled = (r1 - r0 + p.extra) * G2
    cdef Py_ssize_t n_phases = g.stride[0] * g.stride[1] * g.stride[2], co, r, o0, o1, a
    cdef floating* wide = buf + n_phases * p.phase_len
    # what the band kernel reads past the band's rows: the rows up to a
    # whole block of FASTCONV_BAND_ROWS and two vectors (zeros)
    cdef Py_ssize_t past = ((r1 - r0 + FASTCONV_BAND_ROWS - 1) // FASTCONV_BAND_ROWS
                            * FASTCONV_BAND_ROWS - (r1 - r0)) * G2 + 2 * (
                                fastconv_simd_floats * 4 // sizeof(floating))
    _depthwise_copy(x, buf, g, p.grid, p.phase_len, r0, r1 + p.extra)
    for a in range(n_phases):
        memset(buf + a * p.phase_len + filled, 0, past * sizeof(floating))
    for co in range(p.m):
        if floating is float:
            fastconv_bands_float(wide, G2, r1 - r0, buf, p.cls_off, p.cls_cnt, p.n_cls,
                                 w_table + co * taps)
        else:
            fastconv_bands_double(wide, G2, r1 - r0, buf, p.cls_off, p.cls_cnt, p.n_cls,
                                  w_table + co * taps)
        for r in range(r0, r1):
            o0 = r // G1
            o1 = r % G1
            if o1 < Y1 and o0 < Y0:
                memcpy(out + co * Y0 * Y1 * Y2 + (o0 * Y1 + o1) * Y2,
                       wide + (r - r0) * G2, Y2 * sizeof(floating))


cdef void _depthwise_at(const floating* x, floating* out, const DepthwiseCall* p,
                        Py_ssize_t job, floating* buf) noexcept nogil:
    # job (sample, input channel, band), whole arrays x, out
    cdef const Geometry* g = &p.g
    cdef Py_ssize_t band = job % p.bands, c = job // p.bands % p.c_in
    cdef Py_ssize_t n = job // (p.bands * p.c_in), r0 = band * p.band_rows
    cdef Py_ssize_t x_plane = g.conv_in[0] * g.conv_in[1] * g.conv_in[2]
    cdef Py_ssize_t y_plane = g.conv_out[0] * g.conv_out[1] * g.conv_out[2]
    cdef Py_ssize_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2]
    _depthwise_job(x + (n * p.c_in + c) * x_plane, out + (n * p.c_in + c) * p.m * y_plane,
                   <const floating*> p.w_table + c * p.m * taps, p, r0,
                   min(r0 + p.band_rows, p.n_rows), buf)


cdef Py_ssize_t _depthwise_grid(const Geometry* g, Py_ssize_t* grid) noexcept nogil:
    # grid[i] = Y + (K-1)*d // s per dim; returns the grid rows a band reads
    # past its end: the largest tap row offset + 1
    cdef int i
    for i in range(3):
        grid[i] = g.conv_out[i] + (g.kernel[i] - 1) * g.dilation[i] // g.stride[i]
    return ((g.kernel[0] - 1) * g.dilation[0] // g.stride[0] * grid[1]
            + (g.kernel[1] - 1) * g.dilation[1] // g.stride[1] + 1)


cdef Py_ssize_t _depthwise_workspace(const Geometry* g, Py_ssize_t band_rows,
                                     Py_ssize_t lanes, Py_ssize_t* phase_len) noexcept nogil:
    # one thread's values: each phase's rows of a band and (zeros) the rows
    # and vectors the band kernel reads past them; then the wide rows and
    # the band kernel's slack
    cdef Py_ssize_t grid[3]
    cdef Py_ssize_t extra = _depthwise_grid(g, grid)
    phase_len[0] = (band_rows + extra + FASTCONV_BAND_ROWS) * grid[2] + 2 * lanes
    return (g.stride[0] * g.stride[1] * g.stride[2] * phase_len[0]
            + (band_rows + FASTCONV_BAND_ROWS) * grid[2] + 2 * lanes)


def depthwise_grid(geom):
    """(grid size per dim, grid rows a band reads past its end) of the
    depthwise path: G = Y + (K-1)*d // s, and the largest tap row offset
    (in grid rows) + 1."""
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t grid[3]
    cdef Py_ssize_t extra = _depthwise_grid(&g, grid)
    return (grid[0], grid[1], grid[2]), extra


def depthwise_workspace(geom, Py_ssize_t band_rows, Py_ssize_t itemsize):
    """Values of one thread's workspace for bands of ``band_rows`` rows:
    each phase's rows, the wide output, and the rows and vectors the band
    kernel reads and writes past them."""
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t phase_len
    return _depthwise_workspace(&g, band_rows, fastconv_simd_floats * 4 // itemsize,
                                &phase_len)


def conv_depthwise(const floating[:, :, :, :, ::1] x, const floating[:, :, :, :, ::1] weight,
                   floating[:, :, :, :, ::1] out, geom, Py_ssize_t band_rows, int n_threads):
    """out[n, co] = correlate(x[n, co // m], weight[co, 0]), m = C_out / C_in

    x (N, C_in, *geom.input_spatial), weight (C_out, 1, *kernel), out (N,
    C_out, *geom.output_spatial), C-contiguous; every output written.  Jobs are
    (sample, input channel, band of ``band_rows`` grid rows), each on one
    thread with its own workspace (:func:`depthwise_workspace` values).
    """
    cdef Geometry g = geometry_struct(geom)
    cdef DepthwiseCall call
    cdef Py_ssize_t t0, t1, t2, a1, tap, job, co, at, phase
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], c_out = out.shape[1]
    cdef Py_ssize_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2]
    cdef Py_ssize_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2]
    cdef Py_ssize_t d0 = g.dilation[0], d1 = g.dilation[1], d2 = g.dilation[2]
    cdef Py_ssize_t lanes = fastconv_simd_floats * 4 // sizeof(floating)
    # the taps of one H-phase are consecutive rows of it when d1 divides s1
    cdef bint rows_together = s1 % d1 == 0
    cdef bint first
    cdef Py_ssize_t per_thread
    call.g = g
    call.extra = _depthwise_grid(&g, call.grid)
    per_thread = _depthwise_workspace(&g, band_rows, lanes, &call.phase_len)
    call.c_in, call.m, call.band_rows = c_in, c_out // c_in, band_rows
    call.n_rows = (g.conv_out[0] - 1) * call.grid[1] + g.conv_out[1]
    call.bands = (call.n_rows + band_rows - 1) // band_rows
    n_threads = max(1, min(n_threads, n_batch * c_in * call.bands))
    cdef Py_ssize_t* cls = <Py_ssize_t*> malloc(3 * taps * sizeof(Py_ssize_t))
    cdef floating* w_table = <floating*> malloc(c_out * taps * sizeof(floating))
    cdef floating* ws = <floating*> malloc(n_threads * per_thread * sizeof(floating))
    try:
        if cls == NULL or w_table == NULL or ws == NULL:
            raise MemoryError()
        # tap (t0, t1, t2) reads phase (t*d) % s at grid offset (t*d) // s
        # (the copy laid out for a full band in every job, so the offsets
        # are the same for all); the taps of one depth, column and H-phase
        # read consecutive rows (d1 dividing s1): one class, its weights in
        # row order; w_table[co * taps + at] is the weight of entry at
        call.n_cls = 0
        at = 0
        for t0 in range(g.kernel[0]):
            for t2 in range(g.kernel[2]):
                for a1 in range(s1):
                    first = True
                    for t1 in range(g.kernel[1]):
                        if (t1 * d1) % s1 != a1:
                            continue
                        if first or not rows_together:
                            phase = ((t0 * d0) % s0 * s1 + a1) * s2 + (t2 * d2) % s2
                            cls[call.n_cls] = (phase * call.phase_len
                                               + ((t0 * d0 // s0) * call.grid[1]
                                                  + t1 * d1 // s1) * call.grid[2]
                                               + t2 * d2 // s2)
                            cls[taps + call.n_cls] = 0
                            call.n_cls += 1
                            first = False
                        cls[taps + call.n_cls - 1] += 1
                        tap = (t0 * g.kernel[1] + t1) * g.kernel[2] + t2
                        for co in range(c_out):
                            w_table[co * taps + at] = (&weight[co, 0, 0, 0, 0])[tap]
                        at += 1
        call.cls_off, call.cls_cnt, call.w_table = cls, cls + taps, w_table
        with nogil:
            if n_threads == 1:      # no parallel region: a tiny call's cost
                for job in range(n_batch * c_in * call.bands):
                    _depthwise_at(&x[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], &call, job, ws)
            else:
                for job in prange(n_batch * c_in * call.bands, schedule="static",
                                  num_threads=n_threads):
                    _depthwise_at(&x[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0], &call, job,
                                  ws + threadid() * per_thread)
    finally:
        free(cls)
        free(w_table)
        free(ws)
