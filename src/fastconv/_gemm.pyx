# The "gemm" method: convolution as im2col + GEMM, transposed convolution as
# GEMM + col2im, with SciPy's BLAS (scipy.linalg.cython_blas).
#
# Per group, with K = C_in/groups * taps and P output positions per sample:
#   convolution   out (C_out/g x P) = weight (C_out/g x K) @ columns (K x P)
#                 per sample, where columns[ci, t, p] = x[ci, p*s + t*d - pad]
#                 (im2col)
#   transposed    columns (C_out/g * taps x P) = weight.T @ x (C_in/g x P),
#                 the samples of a tile side by side in one GEMM, then
#                 out[co, p*s + t*d - pad] += columns[co, t, p] (col2im, the
#                 scatter-add done on columns)
# The columns live in a workspace of bounded size: the batch is cut into
# tiles of whole samples, and a sample whose columns alone exceed the
# workspace into tiles of output positions.  Cases whose columns need no
# rearranging go straight to GEMM: 1x1 kernels, kernels covering the whole
# input; kernels that tile the transposed output without overlap replace
# col2im by a plain copy.
#
# Threads: the GEMMs run on BLAS's own threads (OPENBLAS_NUM_THREADS,
# threadpoolctl's limits), and the im2col / col2im loops on the calling
# thread, so n_threads does not apply here and results do not depend on it.
# Running those loops in OpenMP threads between the BLAS calls was measured
# slower, not faster: after each parallel region GNU OpenMP's idle threads
# busy-wait for about 8 ms, taking the cores the next BLAS call needs
# (OpenBLAS issue #3187).  On a 2-core machine, with 2 OpenMP threads for
# im2col a 16x64x56x56 -> 128 stride-2 3x3 convolution took 28-31 ms, with
# the calling thread alone 8-10 ms.

from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

from ._kernel_geometry cimport Geometry, geometry_struct, valid_range

import math

import numpy as np

from . import _methods

ctypedef fused floating:
    float
    double

#: Size of the column workspace of one call, in bytes (at least one column
#: is always allowed).  Tiles that stay in the last-level cache between
#: im2col and GEMM measured fastest: with 8 MiB, 3x3 convolutions of 64
#: channels (16 x 56x56 and 2 x 224x224 images) took 25-37 % less time than
#: with 64 MiB on a 32 MiB-L3 machine.  Private: the tests shrink it to force
#: tiling.
WORKSPACE_BYTES = 8 * 2**20

# BLAS takes 32-bit sizes and leading dimensions.
_BLAS_INT_MAX = 2**31 - 1


cdef inline void _gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                       Py_ssize_t k, const floating* a, Py_ssize_t lda,
                       const floating* b, Py_ssize_t ldb, floating* c,
                       Py_ssize_t ldc) noexcept nogil:
    # Row-major c (m x n, leading dim ldc) = op(a) (m x k) @ op(b) (k x n),
    # op transposing when trans_*.  BLAS is column-major, where row-major c is
    # c.T = op(b).T @ op(a).T: the same call with a and b swapped, no copy.
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef int m_ = <int> n, n_ = <int> m, k_ = <int> k
    cdef int lda_ = <int> ldb, ldb_ = <int> lda, ldc_ = <int> ldc
    cdef floating one = 1, zero = 0
    if floating is float:
        sgemm(&tb, &ta, &m_, &n_, &k_, &one, <float*> b, &lda_, <float*> a, &ldb_,
              &zero, c, &ldc_)
    else:
        dgemm(&tb, &ta, &m_, &n_, &k_, &one, <double*> b, &lda_, <double*> a, &ldb_,
              &zero, c, &ldc_)


cdef inline void _row_span(Py_ssize_t r, Py_ssize_t row_len, Py_ssize_t p0,
                           Py_ssize_t pt, Py_ssize_t* a, Py_ssize_t* b) noexcept nogil:
    # The part [a, b) of output row r (positions r*row_len + [0, row_len))
    # inside the tile of positions [p0, p0 + pt).
    a[0] = max(p0 - r * row_len, 0)
    b[0] = min(p0 + pt - r * row_len, row_len)


cdef inline Py_ssize_t _clip(Py_ssize_t v, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return min(max(v, a), b)


cdef void _im2col_channel(const floating* x, floating* cols, const Geometry* g,
                          Py_ssize_t p0, Py_ssize_t pt) noexcept nogil:
    # One input channel's block (taps x pt) of the column matrix, for the
    # output positions p in [p0, p0 + pt) (flat over the output's D, H, W):
    #   cols[t, p - p0] = x[o*s + t*d - pad], 0 where that is padding.
    # Positions run row by row (od, oh) along W; a tile may begin and end
    # inside a row.
    cdef Py_ssize_t XD = g.x_size[0], XH = g.x_size[1], XW = g.x_size[2]
    cdef Py_ssize_t YH = g.y_size[1], YW = g.y_size[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2]
    cdef Py_ssize_t r_first = p0 // YW, r_last = (p0 + pt - 1) // YW
    cdef Py_ssize_t td, th, tw, t = 0, offd, offh, offw, low, hiw
    cdef Py_ssize_t r, od, oh, xd, xh, a, b, lo, hi, ow
    cdef floating* col
    cdef const floating* x_row
    for td in range(KD):
        offd = td * g.dilation[0] - g.pad[0]
        for th in range(KH):
            offh = th * g.dilation[1] - g.pad[1]
            for tw in range(KW):
                offw = tw * g.dilation[2] - g.pad[2]
                valid_range(YW, XW, s2, offw, &low, &hiw)
                od = r_first // YH
                oh = r_first - od * YH
                for r in range(r_first, r_last + 1):
                    _row_span(r, YW, p0, pt, &a, &b)
                    col = cols + t * pt + r * YW - p0
                    xd = od * s0 + offd
                    xh = oh * s1 + offh
                    if 0 <= xd < XD and 0 <= xh < XH:
                        lo = _clip(low, a, b)
                        hi = max(_clip(hiw, a, b), lo)
                        x_row = x + (xd * XH + xh) * XW + offw
                    else:
                        lo = hi = b
                        x_row = x
                    for ow in range(a, lo):
                        col[ow] = 0
                    if s2 == 1:
                        for ow in range(lo, hi):
                            col[ow] = x_row[ow]
                    elif s2 == 2:
                        # a constant stride vectorises; a variable one does not
                        for ow in range(lo, hi):
                            col[ow] = x_row[2 * ow]
                    else:
                        for ow in range(lo, hi):
                            col[ow] = x_row[ow * s2]
                    for ow in range(hi, b):
                        col[ow] = 0
                    oh += 1
                    if oh == YH:
                        oh = 0
                        od += 1
                t += 1


cdef inline void _add_strided(floating* x, const floating* col, Py_ssize_t lo,
                              Py_ssize_t hi, Py_ssize_t stride) noexcept nogil:
    # x[o * stride] += col[o] for o in [lo, hi)
    cdef Py_ssize_t o
    if stride == 1:
        for o in range(lo, hi):
            x[o] += col[o]
    else:
        for o in range(lo, hi):
            x[o * stride] += col[o]


cdef inline void _add_pair(floating* x, const floating* col0, const floating* col1,
                           Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    # x[2*o] += col0[o]; x[2*o + 1] += col1[o] for o in [lo, hi): two taps one
    # pixel apart at stride 2 cover every pixel, so the stores are contiguous
    # and the loop vectorises (a stride-2 store alone does not).
    cdef Py_ssize_t o
    for o in range(lo, hi):
        x[2 * o] += col0[o]
        x[2 * o + 1] += col1[o]


cdef inline void _fold_row(floating* x_row, const floating* col0,
                           const floating* col1, Py_ssize_t lo0, Py_ssize_t hi0,
                           Py_ssize_t lo1, Py_ssize_t hi1, bint pair,
                           Py_ssize_t stride) noexcept nogil:
    # x_row[o*stride] += col0[o] for o in [lo0, hi0); with pair (stride 2),
    # also x_row[o*2 + 1] += col1[o] for o in [lo1, hi1), both taps in one
    # pass where both are in range and each alone at the ends.
    cdef Py_ssize_t lo, hi
    if not pair:
        _add_strided(x_row, col0, lo0, hi0, stride)
        return
    lo = max(lo0, lo1)
    hi = max(min(hi0, hi1), lo)
    _add_strided(x_row, col0, lo0, min(lo, hi0), 2)
    _add_strided(x_row + 1, col1, lo1, min(lo, hi1), 2)
    _add_pair(x_row, col0, col1, lo, hi)
    _add_strided(x_row, col0, hi, hi0, 2)
    _add_strided(x_row + 1, col1, hi, hi1, 2)


cdef void _col2im_channel(floating* x, const floating* cols, const Geometry* g,
                          Py_ssize_t p0, Py_ssize_t pt, Py_ssize_t ld) noexcept nogil:
    # The adjoint of _im2col_channel, for one output channel of the
    # transposed convolution (x is its output plane), with rows of cols ld
    # apart:
    #   x[o*s + t*d - pad] += cols[t, p - p0], what falls in padding dropped.
    # Taps run in a fixed order.  Only the rows (od, oh) whose x row exists
    # are visited; at stride 2 along W (dilation 1), taps tw and tw + 1 are
    # added in one pass (_add_pair).
    cdef Py_ssize_t XD = g.x_size[0], XH = g.x_size[1], XW = g.x_size[2]
    cdef Py_ssize_t YD = g.y_size[0], YH = g.y_size[1], YW = g.y_size[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2]
    cdef bint pairs = s2 == 2 and g.dilation[2] == 1
    # the tile's first and last rows, as (od, oh)
    cdef Py_ssize_t r_first = p0 // YW, r_last = (p0 + pt - 1) // YW
    cdef Py_ssize_t od_first = r_first // YH, oh_first = r_first % YH
    cdef Py_ssize_t od_last = r_last // YH, oh_last = r_last % YH
    cdef Py_ssize_t td, th, tw, n_w, offd, offh, offw, lod, hid, loh, hih
    cdef Py_ssize_t low0, hiw0, low1, hiw1, od, oh, oh_lo, oh_hi, r, a, b
    cdef const floating* col
    cdef floating* x_row
    for td in range(KD):
        offd = td * g.dilation[0] - g.pad[0]
        valid_range(YD, XD, s0, offd, &lod, &hid)
        for th in range(KH):
            offh = th * g.dilation[1] - g.pad[1]
            valid_range(YH, XH, s1, offh, &loh, &hih)
            tw = 0
            while tw < KW:
                n_w = 2 if pairs and tw + 1 < KW else 1
                offw = tw * g.dilation[2] - g.pad[2]
                valid_range(YW, XW, s2, offw, &low0, &hiw0)
                valid_range(YW, XW, s2, offw + 1, &low1, &hiw1)
                for od in range(max(lod, od_first), min(hid, od_last + 1)):
                    oh_lo = max(loh, oh_first) if od == od_first else loh
                    oh_hi = min(hih, oh_last + 1) if od == od_last else hih
                    for oh in range(oh_lo, oh_hi):
                        r = od * YH + oh
                        x_row = x + ((od * s0 + offd) * XH + oh * s1 + offh) * XW + offw
                        col = cols + ((td * KH + th) * KW + tw) * ld + r * YW - p0
                        _row_span(r, YW, p0, pt, &a, &b)
                        if a == 0 and b == YW:
                            _fold_row(x_row, col, col + ld, low0, hiw0, low1, hiw1,
                                      n_w == 2, s2)
                        else:
                            _fold_row(x_row, col, col + ld,
                                      _clip(low0, a, b), max(_clip(hiw0, a, b), _clip(low0, a, b)),
                                      _clip(low1, a, b), max(_clip(hiw1, a, b), _clip(low1, a, b)),
                                      n_w == 2, s2)
                tw += n_w


cdef void _place_channel(floating* x, const floating* cols, const Geometry* g,
                         Py_ssize_t p0, Py_ssize_t pt, Py_ssize_t ld) noexcept nogil:
    # col2im when the kernel tiles the output without overlap (stride ==
    # kernel, or a single position, no padding or dilation): every column
    # value has its own output pixel, x[o*k + t] = cols[t, p - p0], so the
    # scatter-add is a permutation.  Rows of x are written left to right.
    cdef Py_ssize_t XH = g.x_size[1], XW = g.x_size[2]
    cdef Py_ssize_t YH = g.y_size[1], YW = g.y_size[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t r_first = p0 // YW, r_last = (p0 + pt - 1) // YW
    cdef Py_ssize_t r, od, oh, a, b, td, th, tw, ow
    cdef const floating* col
    cdef floating* x_row
    od = r_first // YH
    oh = r_first - od * YH
    for r in range(r_first, r_last + 1):
        _row_span(r, YW, p0, pt, &a, &b)
        for td in range(KD):
            for th in range(KH):
                x_row = x + ((od * KD + td) * XH + oh * KH + th) * XW
                col = cols + (td * KH + th) * KW * ld + r * YW - p0
                if KW == 2:
                    for ow in range(a, b):
                        x_row[2 * ow] = col[ow]
                        x_row[2 * ow + 1] = col[ld + ow]
                else:
                    for ow in range(a, b):
                        for tw in range(KW):
                            x_row[ow * KW + tw] = col[tw * ld + ow]
        oh += 1
        if oh == YH:
            oh = 0
            od += 1


def _conv_im2col(const floating[:, :, ::1] x, const floating[:, :, ::1] weight,
                 floating[:, :, ::1] out, floating[::1] workspace, geom,
                 Py_ssize_t groups, Py_ssize_t tile_n, Py_ssize_t tile_p):
    """out[n, co] = weight[co] @ im2col(x[n]) over co's group, tile by tile

    x (N, C_in, X), weight (C_out, C_in/groups, taps), out (N, C_out, P)
    with X, P the flat spatial sizes of ``geom``'s input and output;
    workspace holds tile_n * C_in * taps * tile_p values, tile_p < P only
    when tile_n == 1.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], x_plane = x.shape[2]
    cdef Py_ssize_t c_out = out.shape[1], n_pos = out.shape[2]
    cdef Py_ssize_t cin_g = weight.shape[1], taps = weight.shape[2]
    cdef Py_ssize_t cout_g = c_out // groups, k = cin_g * taps, rows = c_in * taps
    cdef Py_ssize_t n_tiles = (n_batch + tile_n - 1) // tile_n
    cdef Py_ssize_t p_tiles = (n_pos + tile_p - 1) // tile_p
    cdef Py_ssize_t i, j, n0, nt, p0, pt, job, n, grp
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* wp = &weight[0, 0, 0]
    cdef floating* op = &out[0, 0, 0]
    cdef floating* ws = &workspace[0]
    with nogil:
        for i in range(n_tiles):
            n0 = i * tile_n
            nt = min(tile_n, n_batch - n0)
            for j in range(p_tiles):
                p0 = j * tile_p
                pt = min(tile_p, n_pos - p0)
                for job in range(nt * c_in):
                    _im2col_channel(xp + (n0 * c_in + job) * x_plane,
                                    ws + job * taps * pt, &g, p0, pt)
                for n in range(nt):
                    for grp in range(groups):
                        _gemm(False, False, cout_g, pt, k,
                              wp + grp * cout_g * k, k,
                              ws + (n * rows + grp * k) * pt, pt,
                              op + ((n0 + n) * c_out + grp * cout_g) * n_pos + p0, n_pos)


def _conv_transpose_col2im(const floating[:, :, ::1] x,
                           const floating[:, :, ::1] weight,
                           floating[:, :, ::1] out, floating[::1] workspace, geom,
                           Py_ssize_t groups, Py_ssize_t tile_n, Py_ssize_t tile_p,
                           bint non_overlapping):
    """out[n] += col2im(weight.T @ x[n]) per group, tile by tile

    x (N, C_in, P), weight (C_in, C_out/groups, taps), out (N, C_out, X)
    zero-filled, with P, X the flat spatial sizes of ``geom``'s output and
    input; workspace holds tile_n * (C_out * taps + C_in) * tile_p values,
    tile_p < P only when tile_n == 1.  A tile of several samples is one GEMM
    per group: x's samples are first copied side by side, (C_in, tile_n * P),
    so the weight is packed once per tile and BLAS is called fewer times.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], n_pos = x.shape[2]
    cdef Py_ssize_t c_out = out.shape[1], out_plane = out.shape[2]
    cdef Py_ssize_t cout_g = weight.shape[1], taps = weight.shape[2]
    cdef Py_ssize_t cin_g = c_in // groups, m = cout_g * taps
    cdef Py_ssize_t n_tiles = (n_batch + tile_n - 1) // tile_n
    cdef Py_ssize_t p_tiles = (n_pos + tile_p - 1) // tile_p
    cdef Py_ssize_t i, j, n0, nt, p0, pt, ld, ld_x, n, ci, co, grp
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* wp = &weight[0, 0, 0]
    cdef floating* op = &out[0, 0, 0]
    cdef floating* cols = &workspace[0]
    cdef floating* x_tile = cols + tile_n * c_out * taps * tile_p
    cdef const floating* x_src
    with nogil:
        for i in range(n_tiles):
            n0 = i * tile_n
            nt = min(tile_n, n_batch - n0)
            for j in range(p_tiles):
                p0 = j * tile_p
                pt = min(tile_p, n_pos - p0)
                ld = nt * pt  # columns of this tile: (C_out * taps, nt * pt)
                if nt == 1:
                    x_src = xp + n0 * c_in * n_pos + p0
                    ld_x = n_pos
                else:
                    for n in range(nt):
                        for ci in range(c_in):
                            memcpy(x_tile + ci * ld + n * n_pos,
                                   xp + ((n0 + n) * c_in + ci) * n_pos,
                                   n_pos * sizeof(floating))
                    x_src = x_tile
                    ld_x = ld
                for grp in range(groups):
                    _gemm(True, False, m, ld, cin_g,
                          wp + grp * cin_g * m, m,
                          x_src + grp * cin_g * ld_x, ld_x,
                          cols + grp * m * ld, ld)
                for n in range(nt):
                    for co in range(c_out):
                        if non_overlapping:
                            _place_channel(op + ((n0 + n) * c_out + co) * out_plane,
                                           cols + co * taps * ld + n * pt, &g, p0, pt, ld)
                        else:
                            _col2im_channel(op + ((n0 + n) * c_out + co) * out_plane,
                                            cols + co * taps * ld + n * pt, &g, p0, pt, ld)


def _pointwise(const floating[:, :, ::1] x, const floating[:, ::1] weight,
               floating[:, :, ::1] out, Py_ssize_t groups, bint transpose):
    """out[n] = W @ x[n] per group: a 1x1 kernel, whose columns are x itself

    x (N, C_in, P), out (N, C_out, P); weight (C_out, C_in/groups) for a
    convolution, (C_in, C_out/groups) used transposed for a transposed one.
    """
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], n_pos = x.shape[2]
    cdef Py_ssize_t c_out = out.shape[1]
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t lda = cout_g if transpose else cin_g
    cdef Py_ssize_t n, grp
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* wp = &weight[0, 0]
    cdef floating* op = &out[0, 0, 0]
    with nogil:
        for n in range(n_batch):
            for grp in range(groups):
                _gemm(transpose, False, cout_g, n_pos, cin_g,
                      wp + grp * cin_g * cout_g, lda,
                      xp + (n * c_in + grp * cin_g) * n_pos, n_pos,
                      op + (n * c_out + grp * cout_g) * n_pos, n_pos)


def _dense(const floating[:, ::1] x, const floating[:, ::1] weight,
           floating[:, ::1] out, Py_ssize_t groups, bint transpose):
    """out = x @ W per group, the whole batch in one GEMM per group

    For a kernel covering the whole input (one output position): x (N, A),
    out (N, B) with A, B the channels x spatial sizes of input and output;
    weight (C_out, A/groups) used transposed for a convolution,
    (C_in, B/groups) for a transposed convolution.
    """
    cdef Py_ssize_t n_batch = x.shape[0], a = x.shape[1], b = out.shape[1]
    cdef Py_ssize_t a_g = a // groups, b_g = b // groups
    cdef Py_ssize_t ldw = b_g if transpose else a_g
    cdef Py_ssize_t grp
    cdef const floating* xp = &x[0, 0]
    cdef const floating* wp = &weight[0, 0]
    cdef floating* op = &out[0, 0]
    with nogil:
        for grp in range(groups):
            _gemm(False, not transpose, n_batch, b_g, a_g,
                  xp + grp * a_g, a, wp + grp * a_g * b_g, ldw, op + grp * b_g, b)


# --------------------------------------------------------------------------
# the registered methods
# --------------------------------------------------------------------------

def _check_blas_sizes(*sizes):
    if max(sizes) > _BLAS_INT_MAX:
        raise ValueError(
            f"method='gemm': a matrix dimension ({max(sizes)}) exceeds BLAS's "
            f"32-bit limit {_BLAS_INT_MAX}; use method='auto'"
        )


def _is_pointwise(geom):
    """1x1 kernel, stride 1, no padding: columns are the input itself."""
    return (geom.n_taps == 1 and geom.stride == (1, 1, 1)
            and geom.pad_before == (0, 0, 0)
            and geom.input_spatial == geom.output_spatial)


def _is_dense(geom):
    """One output position whose taps read the whole input in order."""
    return (geom.output_spatial == (1, 1, 1)
            and geom.input_spatial == geom.kernel_size
            and geom.pad_before == (0, 0, 0)
            and all(d == 1 or k == 1 for d, k in zip(geom.dilation, geom.kernel_size)))


def _is_non_overlapping(geom):
    """Kernel windows tile the transposed output without overlap: per dim
    stride == kernel (or a single position), no padding, no dilation."""
    return all(
        p0 == 0 and p1 == 0 and (d == 1 or k == 1) and (s == k or o == 1)
        for p0, p1, d, k, s, o in zip(geom.pad_before, geom.pad_after, geom.dilation,
                                      geom.kernel_size, geom.stride, geom.output_spatial)
    )


def _tile_plan(n_batch, rows, n_pos, itemsize):
    """(samples, positions) per tile for ``rows`` x ``n_pos`` columns per
    sample: whole samples while they fit in WORKSPACE_BYTES, else one sample
    cut along its positions."""
    budget = max(WORKSPACE_BYTES // itemsize, rows)
    per_sample = rows * n_pos
    if per_sample <= budget:
        return min(n_batch, budget // per_sample), n_pos
    return 1, budget // rows


def _flat(a):
    """(N, C, D, H, W) -> (N, C, D*H*W), a view."""
    return a.reshape(a.shape[0], a.shape[1], -1)


@_methods.register(_methods.CONV, "gemm", integers=False)
def conv_gemm(x, weight, geom, groups, n_threads):
    """im2col + GEMM: each sample's output is weight @ columns, per group.

    Float only.  Threads are BLAS's; ``n_threads`` does not apply (see the
    module notes).
    """
    n_batch, c_in = x.shape[:2]
    c_out = weight.shape[0]
    taps = geom.n_taps
    n_pos = math.prod(geom.output_spatial)
    _check_blas_sizes(n_batch, n_pos, c_in * taps, c_out)
    out = np.empty((n_batch, c_out) + geom.output_spatial, dtype=x.dtype)
    if _is_dense(geom):
        _dense(x.reshape(n_batch, -1), weight.reshape(c_out, -1),
               out.reshape(n_batch, -1), groups, False)
    elif _is_pointwise(geom):
        _pointwise(_flat(x), weight.reshape(c_out, -1), _flat(out), groups, False)
    else:
        tile_n, tile_p = _tile_plan(n_batch, c_in * taps, n_pos, x.itemsize)
        workspace = np.empty(tile_n * c_in * taps * tile_p, dtype=x.dtype)
        _conv_im2col(_flat(x), _flat(weight), _flat(out), workspace, geom, groups,
                     tile_n, tile_p)
    return out


@_methods.register(_methods.CONV_TRANSPOSE, "gemm", integers=False)
def conv_transpose_gemm(x, weight, geom, groups, n_threads):
    """GEMM + col2im: columns = weight.T @ x per group, then each column
    value is added into the output position it belongs to.

    Float only.  Threads are BLAS's; ``n_threads`` does not apply (see the
    module notes).
    """
    n_batch, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    taps = geom.n_taps
    n_pos = math.prod(geom.output_spatial)
    _check_blas_sizes(n_batch, n_pos, c_in, c_out * taps)
    out = np.zeros((n_batch, c_out) + geom.input_spatial, dtype=x.dtype)
    if _is_dense(geom):
        _dense(x.reshape(n_batch, -1), weight.reshape(c_in, -1),
               out.reshape(n_batch, -1), groups, True)
    elif _is_pointwise(geom):
        _pointwise(_flat(x), weight.reshape(c_in, -1), _flat(out), groups, True)
    else:
        # columns and, for tiles of several samples, the copy of their x
        rows = c_out * taps + c_in
        tile_n, tile_p = _tile_plan(n_batch, rows, n_pos, x.itemsize)
        workspace = np.empty(tile_n * rows * tile_p, dtype=x.dtype)
        _conv_transpose_col2im(_flat(x), _flat(weight), _flat(out), workspace, geom,
                               groups, tile_n, tile_p, _is_non_overlapping(geom))
    return out
