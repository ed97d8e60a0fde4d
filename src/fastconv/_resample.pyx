# Separable resampling kernels of fastconv.interpolate.
#
# Each spatial axis is resampled by a table: output index i of the axis is
#     out[i] = sum_{k < count[i]} weight[i, k] * in[index[i, k]]
# (nearest: one tap of weight 1; linear: 2 taps; cubic: 4; antialiased and
# area: a variable number).  The tables are built in Python
# (fastconv._interpolate) in PyTorch's arithmetic; these kernels
# trust them: every index in range, 1 <= count[i] <= taps, indices
# non-decreasing in i and in k.
#
# The sums run in the order PyTorch's CPU kernels use: the last axis
# first, then the one before, each tap in turn, so that float64 results
# agree to rounding.  Every output element is computed by one thread in a
# fixed order: results do not depend on the thread count.

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from ._fused cimport floating


cdef inline void _resample_line(const floating* src, floating* dst,
                                const int64_t* index, const floating* weight,
                                const int64_t* count, int64_t taps,
                                int64_t n_out) noexcept nogil:
    """One contiguous line along its own axis: dst[i] from src[index[i, :]]."""
    cdef int64_t i, k, t
    cdef floating acc
    if taps == 1:
        for i in range(n_out):
            dst[i] = src[index[i]]
    elif taps == 2:
        for i in range(n_out):
            t = 2 * i
            if count[i] == 2:
                dst[i] = src[index[t]] * weight[t] + src[index[t + 1]] * weight[t + 1]
            else:
                dst[i] = src[index[t]] * weight[t]
    else:
        for i in range(n_out):
            t = taps * i
            acc = src[index[t]] * weight[t]
            for k in range(1, count[i]):
                acc = acc + src[index[t + k]] * weight[t + k]
            dst[i] = acc


cdef inline void _combine_rows(const floating* rows, int64_t row_length,
                               int64_t first_row, floating* dst,
                               const int64_t* index, const floating* weight,
                               int64_t n_taps) noexcept nogil:
    """dst[:] = sum_k weight[k] * rows[index[k] - first_row, :], k in order."""
    cdef int64_t j, k
    cdef const floating* row = rows + (index[0] - first_row) * row_length
    cdef floating w = weight[0]
    if n_taps == 1 and w == 1:
        memcpy(dst, row, row_length * sizeof(floating))
        return
    for j in range(row_length):
        dst[j] = row[j] * w
    for k in range(1, n_taps):
        row = rows + (index[k] - first_row) * row_length
        w = weight[k]
        for j in range(row_length):
            dst[j] = dst[j] + row[j] * w


def resample_2d(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                const int64_t[:, ::1] index_h, const floating[:, ::1] weight_h,
                const int64_t[::1] count_h,
                const int64_t[:, ::1] index_w, const floating[:, ::1] weight_w,
                const int64_t[::1] count_w,
                int64_t block, int64_t buffer_rows, int n_threads):
    """out[p] = resample of x[p] along W (by index_w ...) then along H.

    x: (P, H_in, W_in), out: (P, H_out, W_out).  The work is split into
    blocks of ``block`` output rows of one plane; a block resamples the
    input rows it reads along W into a per-thread buffer of
    ``buffer_rows`` rows (at least the row span any block reads), then
    combines them along H.  With one tap along H each output row is
    resampled straight from its input row.
    """
    cdef int64_t n_planes = x.shape[0], w_in = x.shape[2]
    cdef int64_t h_in = x.shape[1]
    cdef int64_t h_out = out.shape[1], w_out = out.shape[2]
    cdef int64_t taps_h = index_h.shape[1], taps_w = index_w.shape[1]
    cdef int64_t n_blocks = (h_out + block - 1) // block
    cdef int64_t job, p, r0, r1, lo, hi, r, i
    cdef floating* buffer
    if n_planes == 0 or h_out == 0 or w_out == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        buffer = NULL
        if taps_h > 1:
            buffer = <floating*>malloc(buffer_rows * w_out * sizeof(floating))
        for job in prange(n_planes * n_blocks, schedule="static"):
            p = job // n_blocks
            r0 = (job % n_blocks) * block
            r1 = r0 + block
            if r1 > h_out:
                r1 = h_out
            if taps_h == 1:
                for i in range(r0, r1):
                    _resample_line(&x[p, index_h[i, 0], 0], &out[p, i, 0],
                                   &index_w[0, 0], &weight_w[0, 0], &count_w[0],
                                   taps_w, w_out)
                continue
            lo = index_h[r0, 0]
            hi = index_h[r1 - 1, count_h[r1 - 1] - 1]
            for r in range(lo, hi + 1):
                _resample_line(&x[p, r, 0], buffer + (r - lo) * w_out,
                               &index_w[0, 0], &weight_w[0, 0], &count_w[0],
                               taps_w, w_out)
            for i in range(r0, r1):
                _combine_rows(buffer, w_out, lo, &out[p, i, 0], &index_h[i, 0],
                              &weight_h[i, 0], count_h[i])
        free(buffer)


def resample_rows(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                  const int64_t[:, ::1] index, const floating[:, ::1] weight,
                  const int64_t[::1] count, int n_threads):
    """out[p, i, :] = sum_k weight[i, k] * x[p, index[i, k], :].

    x: (P, L_in, M), out: (P, L_out, M): the middle axis resampled, whole
    contiguous rows of M at a time.
    """
    cdef int64_t n_planes = x.shape[0], l_in = x.shape[1], m = x.shape[2]
    cdef int64_t l_out = out.shape[1]
    cdef int64_t job, p, i
    if n_planes == 0 or l_out == 0 or m == 0:
        return
    with nogil:
        for job in prange(n_planes * l_out, schedule="static",
                          num_threads=n_threads):
            p = job // l_out
            i = job % l_out
            _combine_rows(&x[p, 0, 0], m, 0, &out[p, i, 0], &index[i, 0],
                          &weight[i, 0], count[i])
