# The depthwise transposed convolution: one input channel per group
# (C_in / groups == 1; any number of output channels per group), as FCN's
# bilinear up-sampling layers use.  Each output gathers only its few terms
# (about (k / s)^ndim), so the kernel is written to store every output of
# a row in vectors, with no zero-fill of the output and no pass over it
# beyond the row being computed.
#
# An output row (n, co, depth, height) reads the source rows that reach it
# through kernel rows (td, th), as the row kernel of _direct.pyx lists them;
# along W it gathers: output j = s*u + phase reads x[(j + p - t*d) / s]
# through the taps t for which s divides j + p - t*d.  A vector of L outputs
# (starting at a multiple of L) has the same taps and relative reads as
# every P-th vector, P = s / gcd(s, L): per pattern and per slot (each
# lane's m-th tap) one permute of a loaded vector of x gives its reads
# (_depthwise_simd.h).  The tables of patterns are built per call (they
# depend on the vector width in use), as are the weights of every (channel,
# kernel row, pattern, slot, lane) and the source rows of every output row;
# the vectors next to the row ends, whose reads leave the source row, are
# masked lane by lane, summed in the same order (source row, then tap).
#
# The separable form (the plan's 'depthwise_separable'): where every
# channel's weights are exactly a[kernel row] x b[tap along W]
# (row_factors), each source row is passed along W through b once per job
# (the same row kernel, one kernel row) and each output row is the sum of
# its source rows' passes times a: about 2 + 2 / s multiply-adds per output
# of FCN's layers instead of 4, and the output written in whole rows.
#
# Work is cut into blocks of output rows of one (sample, channel, depth);
# each value is computed by one thread in an order fixed by the geometry:
# bit-identical results for any thread count.

from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t
from libc.math cimport fabs, fma
from libc.stdlib cimport free, malloc

import math

import numpy as np

cimport numpy as cnp

from ._fused cimport floating
from ._kernel_geometry cimport Geometry, geometry_struct

cnp.import_array()


cdef extern from "_depthwise_simd.h" nogil:
    int FASTCONV_DEPTHWISE_SIMD
    Py_ssize_t fastconv_depthwise_bytes
    int fastconv_depthwise_select(const char* name)
    # float (itemsize 4) or double (8); mask int32 or int64 alike
    void fastconv_depthwise_rows(Py_ssize_t itemsize, void* y, Py_ssize_t n_out,
                                 Py_ssize_t n_x, Py_ssize_t v_lo, Py_ssize_t v_hi,
                                 const void* const* xr, const void* const* wr,
                                 Py_ssize_t n_rows, const int32_t* idx, const void* mask,
                                 const Py_ssize_t* base, const Py_ssize_t* span,
                                 const unsigned char* kind, Py_ssize_t P, Py_ssize_t M,
                                 Py_ssize_t period_step, Py_ssize_t n_y,
                                 Py_ssize_t y_step) noexcept
    void fastconv_depthwise_combine(Py_ssize_t itemsize, void* y, Py_ssize_t n,
                                    const void* const* h, const void* a,
                                    Py_ssize_t n_rows, Py_ssize_t n_y,
                                    Py_ssize_t y_step) noexcept

HAVE_SIMD = bool(FASTCONV_DEPTHWISE_SIMD)


def use_simd(version):
    """Switch the vectorised kernel to ``version``; called by
    fastconv._direct.use_simd, which checks the name."""
    if fastconv_depthwise_select(version.encode()) != 0:
        raise ValueError(f"SIMD version {version!r} is not available here")


def vector_bytes():
    """The vector width of the kernel in use, in bytes (0: no vectors)."""
    return fastconv_depthwise_bytes


cdef enum:
    # Output rows per job: enough to amortise a job's set-up, few enough to
    # balance threads on a few channels.  Any value gives the same results.
    _ROWS_PER_JOB = 16
    # the separable form's: each job passes its first rows' sources again
    _SEPARABLE_ROWS_PER_JOB = 64
    # output rows summed by one call when they read the same source rows
    _SEPARABLE_TOGETHER = 8
    # Output rows computed together by one kernel call when they read the
    # same source rows (the kernel's limit).
    _ROWS_TOGETHER = 4


ctypedef struct Tables:
    # the W patterns (see _depthwise_simd.h) and the call's sizes
    Geometry g
    Py_ssize_t L, P, M, period_step, v_lo, v_hi
    Py_ssize_t c_in, cout_g, c_out, kernel_rows, blocks, n_jobs
    Py_ssize_t together   # at most this many output rows per kernel call
    Py_ssize_t itemsize   # 4: float, 8: double
    bint separable        # weights a[kernel row] x b[tap along W]
    # bytes of one thread's scratch; where its factors and W passes start;
    # values from one pass to the next
    Py_ssize_t scratch_bytes, factors_at, h_at, h_stride
    Py_ssize_t shift      # block b holds rows [b R - shift, (b + 1) R - shift)
    int32_t* tap       # [P][M][L]: the lane's tap in slot m, -1 for none
    int32_t* idx       # [P][M][L]
    Py_ssize_t* base   # [P][M]
    Py_ssize_t* span   # [P][M]
    unsigned char* kind  # [P][M]
    void* mask         # [P][M][L] of int32 (float) or int64 (double)
    # per output row (depth, height) of a plane: its source rows' offsets in
    # an input plane and kernel rows, from row_start[i] to row_start[i + 1]
    Py_ssize_t* row_start
    Py_ssize_t* row_offset
    Py_ssize_t* row_kernel
    Py_ssize_t* row_source   # row_offset / XW: the source row's index
    Py_ssize_t rows_per_job, h_rows


def slots(stride, dilation, kernel):
    """The most taps along W that reach one output: the taps t < kernel
    with t * dilation in one residue class mod stride are every
    stride / gcd(stride, dilation)-th, at most ceil(kernel / that)."""
    return -(-kernel // (stride // math.gcd(stride, dilation)))


cdef int _patterns(Tables* tb, cnp.int32_t[:, :, ::1] tap, cnp.int32_t[:, :, ::1] idx,
                   Py_ssize_t[:, ::1] base, Py_ssize_t[:, ::1] span,
                   unsigned char[:, ::1] kind) except -1:
    # Fill the pattern tables and the interior run [v_lo, v_hi) of vectors
    # whose every read lies in the source row.
    cdef Geometry* g = &tb.g
    cdef Py_ssize_t L = tb.L, P = tb.P, M = tb.M
    cdef Py_ssize_t s = g.stride[2], d = g.dilation[2], p = g.pad[2], KW = g.kernel[2]
    cdef Py_ssize_t XW = g.conv_out[2], OW = g.conv_in[2]
    cdef Py_ssize_t q, l, m, t, j, lo, hi, n_valid, v, off, e
    cdef bint identity, inside
    rel = np.zeros((P, M, L), dtype=np.intp)
    cdef Py_ssize_t[:, :, ::1] r = rel
    tap[...] = -1
    for q in range(P):
        for l in range(L):
            j = q * L + l
            m = 0
            for t in range(KW):
                e = j + p - t * d
                if e % s == 0:   # C's % : zero for exact multiples of either sign
                    tap[q, m, l] = t
                    r[q, m, l] = e // s if e >= 0 else -((-e) // s)
                    m += 1
    for q in range(P):
        for m in range(M):
            n_valid = 0
            lo, hi = 0, 0
            for l in range(L):
                if tap[q, m, l] >= 0:
                    if n_valid == 0 or r[q, m, l] < lo:
                        lo = r[q, m, l]
                    if n_valid == 0 or r[q, m, l] > hi:
                        hi = r[q, m, l]
                    n_valid += 1
            base[q, m] = lo
            span[q, m] = hi - lo + 1
            identity = n_valid == L
            for l in range(L):
                idx[q, m, l] = r[q, m, l] - lo if tap[q, m, l] >= 0 else 0
                identity = identity and idx[q, m, l] == l
            if n_valid == 0:
                kind[q, m] = 0
            elif hi - lo >= L:
                kind[q, m] = 3
            elif identity:
                kind[q, m] = 4
            elif n_valid == L:
                kind[q, m] = 2
            else:
                kind[q, m] = 1
    # interior vectors: every slot's reads [off + base, off + base + span)
    # inside [0, XW)
    tb.v_lo, tb.v_hi = 0, 0
    for v in range(OW // L):
        q = v % P
        off = v // P * tb.period_step
        inside = True
        for m in range(M):
            if kind[q, m] == 0:
                continue
            if off + base[q, m] < 0 or off + base[q, m] + span[q, m] > XW:
                inside = False
        if inside:
            if tb.v_hi == 0:
                tb.v_lo = v
            tb.v_hi = v + 1
        elif tb.v_hi:
            break
    return 0


cdef tuple _source_rows(const Geometry* g):
    # For each output row (depth i, height j) of a plane, the source rows
    # that reach it, (a, b) with a*s + td*d - p == i (likewise in H), in the
    # order (td, th): offsets in an input plane and kernel rows td*KH + th.
    cdef Py_ssize_t OD = g.conv_in[0], OH = g.conv_in[1]
    cdef Py_ssize_t XD = g.conv_out[0], XH = g.conv_out[1], XW = g.conv_out[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1]
    cdef Py_ssize_t i, j, td, th, a, b, n = 0
    start = np.zeros(OD * OH + 1, dtype=np.intp)
    offset = np.empty(OD * OH * KD * KH, dtype=np.intp)
    kernel = np.empty(OD * OH * KD * KH, dtype=np.intp)
    cdef Py_ssize_t[::1] st = start, off = offset, ker = kernel
    for i in range(OD):
        for j in range(OH):
            for td in range(KD):
                a = i + g.pad[0] - td * g.dilation[0]
                if a < 0 or a % g.stride[0] != 0 or a // g.stride[0] >= XD:
                    continue
                for th in range(KH):
                    b = j + g.pad[1] - th * g.dilation[1]
                    if b < 0 or b % g.stride[1] != 0 or b // g.stride[1] >= XH:
                        continue
                    off[n] = (a // g.stride[0] * XH + b // g.stride[1]) * XW
                    ker[n] = td * KH + th
                    n += 1
            st[i * OH + j + 1] = n
    return start, offset, kernel


cdef void _job(char* out, const char* x, const char* wv, const Tables* tb,
               Py_ssize_t job, const void** xr, const void** wr) noexcept nogil:
    # The output rows of one job: (sample, channel, depth) plane, block of
    # rows.
    cdef const Geometry* g = &tb.g
    cdef Py_ssize_t OD = g.conv_in[0], OH = g.conv_in[1], OW = g.conv_in[2]
    cdef Py_ssize_t XD = g.conv_out[0], XH = g.conv_out[1], XW = g.conv_out[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], isz = tb.itemsize
    cdef Py_ssize_t P = tb.P, M = tb.M, PML = tb.P * tb.M * tb.L
    cdef Py_ssize_t od = (job // tb.blocks) % OD
    cdef Py_ssize_t plane = job // (tb.blocks * OD)       # n * c_out + co
    cdef Py_ssize_t co = plane % tb.c_out
    cdef Py_ssize_t xc = plane // tb.c_out * tb.c_in + co // tb.cout_g
    cdef Py_ssize_t oh, oh_end, i, r, n_rows, n_y, k
    cdef const char* xp = x + xc * XD * XH * XW * isz
    cdef const char* wp = wv + co * KD * KH * PML * isz
    oh = job % tb.blocks * tb.rows_per_job - tb.shift
    oh_end = min(OH, oh + tb.rows_per_job)
    oh = max(oh, 0)
    while oh < oh_end:
        i = od * OH + oh
        n_rows = tb.row_start[i + 1] - tb.row_start[i]
        # the next rows (up to _ROWS_TOGETHER) that read the same source
        # rows, in the same order: computed together, sharing the permutes
        n_y = 1
        while n_y < tb.together and oh + n_y < oh_end and _same_rows(tb, i, i + n_y):
            n_y += 1
        for r in range(n_rows):
            xr[r] = xp + tb.row_offset[tb.row_start[i] + r] * isz
        for k in range(n_y):
            for r in range(n_rows):
                wr[k * n_rows + r] = wp + tb.row_kernel[tb.row_start[i + k] + r] * PML * isz
        fastconv_depthwise_rows(isz, out + ((plane * OD + od) * OH + oh) * OW * isz, OW, XW,
                                tb.v_lo, tb.v_hi, xr, wr, n_rows, tb.idx, tb.mask, tb.base,
                                tb.span, tb.kind, P, M, tb.period_step, n_y, OW)
        oh += n_y


cdef void _separable_job(char* out, const char* x, const char* bw, const char* a,
                         const Tables* tb, Py_ssize_t job, char* scratch) noexcept nogil:
    # The rows of one job for weights a[kernel row] x b[tap along W] (one
    # kernel depth, so one source depth plane): each output row the sum of
    # its source rows' W passes through b times a.  The passes are made in
    # source-row order as rows first need them, each once per job, into a
    # ring of h_rows (a power of 2) rows in the thread's scratch: a row
    # reads sources at most (KH - 1) * dH / sH below the highest one read
    # so far.
    cdef const Geometry* g = &tb.g
    cdef Py_ssize_t OD = g.conv_in[0], OH = g.conv_in[1], OW = g.conv_in[2]
    cdef Py_ssize_t XD = g.conv_out[0], XH = g.conv_out[1], XW = g.conv_out[2]
    cdef Py_ssize_t isz = tb.itemsize, h_bytes = tb.h_stride * tb.itemsize
    cdef Py_ssize_t od = (job // tb.blocks) % OD
    cdef Py_ssize_t plane = job // (tb.blocks * OD)       # n * c_out + co
    cdef Py_ssize_t co = plane % tb.c_out
    cdef Py_ssize_t xc = plane // tb.c_out * tb.c_in + co // tb.cout_g
    cdef Py_ssize_t oh, oh_end, i, e, r, k, n, n_y, lo = -1, done, top
    cdef const char* xp = x + xc * XD * XH * XW * isz
    cdef const char* ap = a + co * tb.kernel_rows * isz
    cdef const void** hr = <const void**> scratch        # [kernel_rows]
    cdef const void** one = hr + tb.kernel_rows            # x row, weights
    cdef char* factors = scratch + tb.factors_at  # [_SEPARABLE_TOGETHER][kernel_rows]
    cdef char* h = scratch + tb.h_at                      # [h_rows][h_stride]
    oh = job % tb.blocks * tb.rows_per_job - tb.shift
    oh_end = min(OH, oh + tb.rows_per_job)
    oh = max(oh, 0)
    for e in range(tb.row_start[od * OH + oh], tb.row_start[od * OH + oh_end]):
        if lo < 0 or tb.row_source[e] < lo:
            lo = tb.row_source[e]
    done = lo - 1
    one[1] = bw + co * tb.P * tb.M * tb.L * isz
    while oh < oh_end:
        i = od * OH + oh
        n = tb.row_start[i + 1] - tb.row_start[i]
        # the next rows (up to _SEPARABLE_TOGETHER) that read the same
        # source rows, in the same order: one call
        n_y = 1
        while n_y < _SEPARABLE_TOGETHER and oh + n_y < oh_end and _same_rows(tb, i, i + n_y):
            n_y += 1
        top = -1
        for r in range(n):
            top = max(top, tb.row_source[tb.row_start[i] + r])
        while done < top:
            done += 1
            one[0] = xp + done * XW * isz
            fastconv_depthwise_rows(isz, h + ((done - lo) & (tb.h_rows - 1)) * h_bytes, OW, XW,
                                    tb.v_lo, tb.v_hi, one, one + 1, 1, tb.idx, tb.mask,
                                    tb.base, tb.span, tb.kind, tb.P, tb.M, tb.period_step,
                                    1, OW)
        for r in range(n):
            hr[r] = h + ((tb.row_source[tb.row_start[i] + r] - lo) & (tb.h_rows - 1)) * h_bytes
        for k in range(n_y):
            for r in range(n):
                e = tb.row_start[i + k] + r
                if isz == 4:
                    (<float*> factors)[k * n + r] = (<const float*> ap)[tb.row_kernel[e]]
                else:
                    (<double*> factors)[k * n + r] = (<const double*> ap)[tb.row_kernel[e]]
        fastconv_depthwise_combine(isz, out + ((plane * OD + od) * OH + oh) * OW * isz, OW,
                                   hr, factors, n, n_y, OW)
        oh += n_y


cdef inline bint _same_rows(const Tables* tb, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    # do output rows i and j read the same source rows, in the same order?
    cdef Py_ssize_t n = tb.row_start[i + 1] - tb.row_start[i], r
    if tb.row_start[j + 1] - tb.row_start[j] != n:
        return False
    for r in range(n):
        if tb.row_offset[tb.row_start[i] + r] != tb.row_offset[tb.row_start[j] + r]:
            return False
    return True


cdef void _run_job(char* out, const char* x, const char* wv, const char* a,
                   const Tables* tb, Py_ssize_t job, char* scratch) noexcept nogil:
    if tb.separable:
        _separable_job(out, x, wv, a, tb, job, scratch)
    else:
        _job(out, x, wv, tb, job, <const void**> scratch,
             <const void**> scratch + tb.kernel_rows)


cdef void _run(char* out, const char* x, const char* wv, const char* a, const Tables* tb,
               char* scratch, int n_threads) noexcept nogil:
    cdef Py_ssize_t job
    if n_threads > 1 and tb.n_jobs > 1:
        for job in prange(tb.n_jobs, schedule="dynamic", num_threads=n_threads):
            _run_job(out, x, wv, a, tb, job, scratch + threadid() * tb.scratch_bytes)
    else:
        for job in range(tb.n_jobs):
            _run_job(out, x, wv, a, tb, job, scratch)


cdef inline bint _same_product(floating p, floating q, floating r,
                              floating s) noexcept nogil:
    # p * q == r * s exactly: float products are exact in double; double
    # ones as the rounded product and its error (fma), exact for the
    # magnitudes row_factors lets through
    cdef double u, v
    if floating is float:
        return <double> p * q == <double> r * s
    else:
        u = p * q
        v = r * s
        return u == v and fma(p, q, -u) == fma(r, s, -v)


cdef bint _factor(const floating* w, Py_ssize_t planes, Py_ssize_t rows,
                  Py_ssize_t taps, floating* a, floating* b, bint check) noexcept nogil:
    # per plane c (rows x taps values): a[c], b[c] from the pivot, the
    # largest |w|; with check, whether w[c] == outer(a[c], b[c]) exactly
    # (the loops without early exits, so that they vectorise)
    cdef Py_ssize_t c, r, t, at, n = rows * taps
    cdef const floating* wc
    cdef const floating* pivot_row
    cdef floating pivot, column
    cdef double best
    cdef bint bad = False
    # doubles: products and their errors stay normal and finite
    cdef double top = 3.4028234663852886e38 if floating is float else 2.0**300
    cdef double tiny = 0 if floating is float else 2.0**-300
    for c in range(planes):
        wc = w + c * n
        best = 0
        for t in range(n):
            bad |= not fabs(wc[t]) <= top
            bad |= 0 < fabs(wc[t]) < tiny
            best = max(best, fabs(wc[t]))
        if bad:
            return False
        at = 0
        while at < n - 1 and fabs(wc[at]) != best:
            at += 1
        pivot = wc[at]
        pivot_row = wc + at // taps * taps
        for r in range(rows):
            column = wc[r * taps + at % taps]
            if check:
                for t in range(taps):
                    bad |= not _same_product(wc[r * taps + t], pivot, column, pivot_row[t])
            a[c * rows + r] = column / pivot if best > 0 else 0
        if bad:
            return False
        for t in range(taps):
            b[c * taps + t] = pivot_row[t]
    return True


def row_factors(weight, bint check=True):
    """Factors of weights that are, per plane, exactly a product of a
    kernel-row factor and a W factor (checked exactly): a plane c =
    ci * C_out/groups + j is weight[ci, j] as (kernel rows KD * KH, KW),
    b[c] its row r0 holding its largest |value| (at t0) and a[c, r] =
    weight[.., r, t0] / weight[.., r0, t0] rounded, so that
    weight ~= a[c, r] * b[c, kw] to within a rounding.  None where a plane
    is not such a product or holds a value non-finite (or, float64,
    beyond 2**+-300, where the check's rounding errors would not be exact).
    ``check=False``: the factors of weights known to be such products
    (the planner has checked), without the check.

    weight (C_in, C_out/groups, KD, KH, KW), C-contiguous float32 or
    float64; a and b in its dtype.
    """
    if weight.dtype not in (np.float32, np.float64) or weight.size == 0:
        return None
    cdef Py_ssize_t planes = weight.shape[0] * weight.shape[1], taps = weight.shape[4]
    cdef Py_ssize_t rows = weight.size // (planes * taps)
    w = np.ascontiguousarray(weight)
    a = np.empty((planes, rows), dtype=weight.dtype)
    b = np.empty((planes, taps), dtype=weight.dtype)
    cdef bint ok
    if weight.dtype == np.float32:
        ok = _factor(<const float*> cnp.PyArray_DATA(w), planes, rows, taps,
                     <float*> cnp.PyArray_DATA(a), <float*> cnp.PyArray_DATA(b), check)
    else:
        ok = _factor(<const double*> cnp.PyArray_DATA(w), planes, rows, taps,
                     <double*> cnp.PyArray_DATA(a), <double*> cnp.PyArray_DATA(b), check)
    return (a, b) if ok else None


cdef inline Py_ssize_t _round64(Py_ssize_t n) noexcept nogil:
    # n bytes rounded up to a cache line
    return (n + 63) // 64 * 64


def separable_rows(geom):
    """The W passes the separable form holds per thread (a ring): one
    output row reads sources at most (KH - 1) * dH / sH below the highest
    source an earlier row of its job read, and that highest, and one more
    for the floors; rounded up to a power of 2 (slots by a mask)."""
    s, d, k = geom.stride[1], geom.dilation[1], geom.kernel_size[1]
    return 1 << ((k - 1) * d // s + 1).bit_length()


def conv_transpose_depthwise(x, weight, out, geom, Py_ssize_t groups, int n_threads,
                             bint separable=False):
    """out[n, co] = x[n, co // (C_out / groups)] scattered through weight[co]

    x (N, C_in, *geom.output_spatial) with C_in == groups, weight
    (C_in, C_out/groups, *kernel), out (N, C_out, *geom.input_spatial),
    uninitialised: every value is written.  All non-empty, C-contiguous,
    float32 or float64; a build with vectors (HAVE_SIMD).  ``separable``:
    kernel depth 1 and weights that :func:`row_factors` factors; each
    source row is then passed along W once per job and each output row
    sums those passes (fewer multiply-adds; other rounding); the weights
    are trusted to be such products (the planner's check).
    """
    cdef Tables tb
    cdef Py_ssize_t itemsize = x.dtype.itemsize, kw
    tb.g = geometry_struct(geom)
    tb.itemsize = itemsize
    tb.separable = separable
    tb.L = fastconv_depthwise_bytes // itemsize
    s = tb.g.stride[2]
    gcd = math.gcd(s, tb.L)
    tb.P = s // gcd
    tb.period_step = tb.L // gcd
    tb.M = max(1, slots(s, tb.g.dilation[2], tb.g.kernel[2]))
    tb.c_in, tb.c_out = x.shape[1], out.shape[1]
    tb.cout_g = tb.c_out // groups
    tb.kernel_rows = tb.g.kernel[0] * tb.g.kernel[1]
    tb.together = 1 if separable else _ROWS_TOGETHER
    tap = np.empty((tb.P, tb.M, tb.L), dtype=np.int32)
    idx = np.empty((tb.P, tb.M, tb.L), dtype=np.int32)
    base = np.empty((tb.P, tb.M), dtype=np.intp)
    span = np.empty((tb.P, tb.M), dtype=np.intp)
    kind = np.empty((tb.P, tb.M), dtype=np.uint8)
    _patterns(&tb, tap, idx, base, span, kind)
    masks = np.where(tap >= 0, -1, 0).astype(np.int32 if itemsize == 4 else np.int64)
    # weights per (channel, kernel row, pattern, slot, lane), zero where no
    # tap; separable: the W factors per (channel, pattern, slot, lane) and
    # the kernel-row factors
    kw = tb.g.kernel[2]
    if separable:
        factors = row_factors(weight, check=False)   # the planner checked
        if factors is None or tb.g.kernel[0] != 1:
            raise ValueError("the separable form needs a product of row and W factors "
                             "and kernel depth 1")
        a = np.ascontiguousarray(factors[0], dtype=x.dtype)
        w = factors[1]
    else:
        a = np.zeros(1, dtype=x.dtype)
        w = weight.reshape(tb.c_out * tb.kernel_rows, kw)
    wv = np.where(tap >= 0, w[:, np.maximum(tap, 0)], 0).astype(x.dtype)
    wv = np.ascontiguousarray(wv)
    row_start, row_offset, row_kernel = _source_rows(&tb.g)
    # blocks of rows start where a run of rows reading the same source rows
    # starts (in the first depth plane), so that no run is cut
    tb.shift = 0
    if tb.together > 1:
        for i in range(1, tb.g.conv_in[1]):
            if not (row_start[i + 1] - row_start[i] == row_start[i] - row_start[i - 1]
                    and np.array_equal(row_offset[row_start[i]:row_start[i + 1]],
                                       row_offset[row_start[i - 1]:row_start[i]])):
                tb.shift = (_ROWS_PER_JOB - i % _ROWS_PER_JOB) % _ROWS_PER_JOB
                break
    tb.rows_per_job = _SEPARABLE_ROWS_PER_JOB if separable else _ROWS_PER_JOB
    tb.blocks = (tb.g.conv_in[1] + tb.shift + tb.rows_per_job - 1) // tb.rows_per_job
    tb.n_jobs = out.shape[0] * tb.c_out * tb.g.conv_in[0] * tb.blocks
    tb.row_start = <Py_ssize_t*> cnp.PyArray_DATA(row_start)
    tb.row_offset = <Py_ssize_t*> cnp.PyArray_DATA(row_offset)
    tb.row_kernel = <Py_ssize_t*> cnp.PyArray_DATA(row_kernel)
    row_source = row_offset // tb.g.conv_out[2]
    tb.row_source = <Py_ssize_t*> cnp.PyArray_DATA(row_source)
    tb.h_rows = separable_rows(geom)
    tb.tap = <int32_t*> cnp.PyArray_DATA(tap)
    tb.idx = <int32_t*> cnp.PyArray_DATA(idx)
    tb.base = <Py_ssize_t*> cnp.PyArray_DATA(base)
    tb.span = <Py_ssize_t*> cnp.PyArray_DATA(span)
    tb.kind = <unsigned char*> cnp.PyArray_DATA(kind)
    tb.mask = cnp.PyArray_DATA(masks)
    # per thread, in 64-byte units: the row pointers (general: the source
    # rows' and (_ROWS_TOGETHER rows of) weights'; separable: the passes'
    # and two more), separable: the factors of the rows of one call and the
    # W passes
    tb.factors_at = _round64((2 + _ROWS_TOGETHER) * tb.kernel_rows * sizeof(void*))
    tb.h_at = tb.factors_at + _round64(_SEPARABLE_TOGETHER * tb.kernel_rows * itemsize)
    tb.h_stride = _round64(tb.g.conv_in[2] * itemsize) // itemsize
    tb.scratch_bytes = tb.h_at + (tb.h_rows * tb.h_stride * itemsize
                                  if separable else 0)
    cdef char* scratch = <char*> malloc(n_threads * tb.scratch_bytes + 64)
    if scratch == NULL:
        raise MemoryError()
    cdef char* aligned = scratch + (-<size_t> scratch) % 64
    cdef char* op = <char*> cnp.PyArray_DATA(out)
    cdef const char* xp = <const char*> cnp.PyArray_DATA(x)
    cdef const char* wvp = <const char*> cnp.PyArray_DATA(wv)
    cdef const char* ap = <const char*> cnp.PyArray_DATA(a)
    with nogil:
        _run(op, xp, wvp, ap, &tb, aligned, n_threads)
        free(scratch)
