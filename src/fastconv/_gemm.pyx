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
# Convolutions with enough input channels per group skip im2col ("implicit
# GEMM", _conv_shifted): each sample is padded (zeros, or a padding mode's
# border read from the input through a map) and split by stride into
# the phases its taps read once, and each kernel tap's columns are then a
# contiguous run of that image, read in place by one GEMM per tap
# (accumulating, beta = 1) into a wide output that is cropped at the end.
#
# Threads: the GEMMs run on BLAS's own threads (OPENBLAS_NUM_THREADS,
# threadpoolctl's limits), and the im2col / col2im loops on the calling
# thread, so n_threads does not apply here and results do not depend on it:
# OpenMP threads between the BLAS calls would hold the cores BLAS needs
# while they spin (docs/performance.rst).
#
# Kernels only: fastconv._planner chooses the path, the tiles and the
# phase tables; fastconv._methods allocates and calls.

from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

from ._fused cimport floating
from ._kernel_geometry cimport Geometry, geometry_struct, valid_range
from ._phase_rows cimport gather_strided, split_phase_rows



cdef inline void _gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                       Py_ssize_t k, const floating* a, Py_ssize_t lda,
                       const floating* b, Py_ssize_t ldb, floating* c,
                       Py_ssize_t ldc, bint accumulate=False) noexcept nogil:
    # Row-major c (m x n, leading dim ldc) = op(a) (m x k) @ op(b) (k x n),
    # op transposing when trans_*; with accumulate, c += that instead.
    # BLAS is column-major, where row-major c is c.T = op(b).T @ op(a).T:
    # the same call with a and b swapped, no copy.
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef int m_ = <int> n, n_ = <int> m, k_ = <int> k
    cdef int lda_ = <int> ldb, ldb_ = <int> lda, ldc_ = <int> ldc
    cdef floating one = 1
    cdef floating beta = 1 if accumulate else 0
    if floating is float:
        sgemm(&tb, &ta, &m_, &n_, &k_, &one, <float*> b, &lda_, <float*> a, &ldb_,
              &beta, c, &ldc_)
    else:
        dgemm(&tb, &ta, &m_, &n_, &k_, &one, <double*> b, &lda_, <double*> a, &ldb_,
              &beta, c, &ldc_)


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
    cdef Py_ssize_t XD = g.conv_in[0], XH = g.conv_in[1], XW = g.conv_in[2]
    cdef Py_ssize_t YH = g.conv_out[1], YW = g.conv_out[2]
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
                    gather_strided(col, x_row, lo, hi, s2)
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
    cdef Py_ssize_t XD = g.conv_in[0], XH = g.conv_in[1], XW = g.conv_in[2]
    cdef Py_ssize_t YD = g.conv_out[0], YH = g.conv_out[1], YW = g.conv_out[2]
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
    cdef Py_ssize_t XH = g.conv_in[1], XW = g.conv_in[2]
    cdef Py_ssize_t YH = g.conv_out[1], YW = g.conv_out[2]
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


def conv_im2col(const floating[:, :, ::1] x, const floating[:, :, ::1] weight,
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
    cdef floating* out_ptr = &out[0, 0, 0]
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
                              out_ptr + ((n0 + n) * c_out + grp * cout_g) * n_pos + p0, n_pos)


def conv_weight_im2col(const floating[:, :, ::1] x, const floating[:, :, ::1] grad,
                       floating[:, :, ::1] dw, floating[::1] workspace, geom,
                       Py_ssize_t groups, Py_ssize_t tile_p, bint per_sample):
    """dw[co] += grad[n, co] @ im2col(x[n]).T over co's group, sample by
    sample and tile by tile of positions: the weight gradient.

    x (N, C_in, X), grad (N, C_out, P) with X, P the flat spatial sizes of
    ``geom``'s input and output; dw (N, C_out, C_in/groups * taps) with
    per_sample, else (1, C_out, C_in/groups * taps), zero-filled; workspace
    holds C_in * taps * tile_p values.  The sum over positions is BLAS's;
    the samples are added in order.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], x_plane = x.shape[2]
    cdef Py_ssize_t c_out = grad.shape[1], n_pos = grad.shape[2]
    cdef Py_ssize_t k = dw.shape[2], cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t taps = k // cin_g
    cdef Py_ssize_t p_tiles = (n_pos + tile_p - 1) // tile_p
    cdef Py_ssize_t n, j, p0, pt, c, grp
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* gp = &grad[0, 0, 0]
    cdef floating* dw_ptr = &dw[0, 0, 0]
    cdef floating* dw_n
    cdef floating* ws = &workspace[0]
    with nogil:
        for n in range(n_batch):
            dw_n = dw_ptr + (n * c_out * k if per_sample else 0)
            for j in range(p_tiles):
                p0 = j * tile_p
                pt = min(tile_p, n_pos - p0)
                for c in range(c_in):
                    _im2col_channel(xp + (n * c_in + c) * x_plane, ws + c * taps * pt,
                                    &g, p0, pt)
                for grp in range(groups):
                    _gemm(False, True, cout_g, k, pt,
                          gp + (n * c_out + grp * cout_g) * n_pos + p0, n_pos,
                          ws + grp * k * pt, pt,
                          dw_n + grp * cout_g * k, k, True)


def conv_weight_rows(const floating[:, :, ::1] x, const floating[:, :, ::1] grad,
                     floating[:, :, :, ::1] dw, floating[::1] workspace, geom,
                     Py_ssize_t groups, Py_ssize_t tile_n, phase_size,
                     const Py_ssize_t[:, ::1] block_residue,
                     const Py_ssize_t[::1] row_key, const Py_ssize_t[::1] row_shift,
                     bint per_sample):
    """dw[., r] += grad (laid on the phase grid) @ blocks of kernel row r.T
    per group: the weight gradient, one GEMM per kernel row (all its W taps).

    x (N, C_in, X), grad (N, C_out, P); dw (N or 1, KD*KH, C_out,
    KW * C_in/groups) zero-filled, its last axis (tw, ci), one per sample
    with per_sample (then tile_n is 1); block_residue, row_key, row_shift
    from fastconv._phases.row_split.  Each tile of tile_n samples is split
    into the blocks, samples side by side: per key (KW blocks), rows
    (group, tw, ci), each tile_n * F long (F = prod(phase_size)), so a
    kernel row's GEMM reads its KW * C_in/groups rows in place, from its
    row_shift on: KD * KH GEMMs of C_out/groups x KW * C_in/groups per
    group and tile instead of one thin C_out/groups x C_in/groups GEMM per
    tap (fewer calls, each with more work to share out between BLAS's
    threads).  workspace holds
    tile_n * (n_blocks * C_in + C_out) * F values.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t size[3]
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], x_plane = x.shape[2]
    cdef Py_ssize_t c_out = grad.shape[1]
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t n_rows = row_key.shape[0], n_blocks = block_residue.shape[0]
    cdef Py_ssize_t kw = dw.shape[3] // cin_g, n_keys = n_blocks // kw
    cdef Py_ssize_t OD = g.conv_out[0], OH = g.conv_out[1], OW = g.conv_out[2]
    cdef Py_ssize_t i, n0, nt, ld, n_cols, n, c, grp, r, b, od, oh, plane, run, key, tw
    cdef Py_ssize_t n_split_rows
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* gp = &grad[0, 0, 0]
    cdef floating* blocks = &workspace[0]
    cdef floating* wide
    cdef floating* w_plane
    cdef floating* dw_tile
    cdef floating* dst
    for i in range(3):
        size[i] = phase_size[i]
    plane = size[0] * size[1] * size[2]
    n_split_rows = size[0] * size[1]
    run = ((OD - 1) * size[1] + OH - 1) * size[2] + OW
    wide = blocks + tile_n * n_blocks * c_in * plane
    with nogil:
        for i in range((n_batch + tile_n - 1) // tile_n):
            n0 = i * tile_n
            nt = min(tile_n, n_batch - n0)
            ld = nt * plane
            n_cols = (nt - 1) * plane + run
            # block (key, tw): rows (group, tw, ci) of key's part
            for b in range(n_blocks):
                key = b // kw
                tw = b - key * kw
                for c in range(c_in):
                    grp = c // cin_g
                    dst = blocks + (((key * groups + grp) * kw + tw) * cin_g
                                    + c - grp * cin_g) * ld
                    for n in range(nt):
                        split_phase_rows(xp + ((n0 + n) * c_in + c) * x_plane,
                                         dst + n * plane, &g, size, size[2],
                                         block_residue[b, 0], block_residue[b, 1],
                                         block_residue[b, 2], 0, n_split_rows, NULL)
            # the output gradient on the phase grid, zeros where no output is
            for n in range(nt):
                for c in range(c_out):
                    w_plane = wide + c * ld + n * plane
                    memset(w_plane, 0, plane * sizeof(floating))
                    for od in range(OD):
                        for oh in range(OH):
                            memcpy(w_plane + (od * size[1] + oh) * size[2],
                                   gp + (((n0 + n) * c_out + c) * OD + od) * OH * OW
                                   + oh * OW, OW * sizeof(floating))
            dw_tile = &dw[n0 if per_sample else 0, 0, 0, 0]
            for r in range(n_rows):
                for grp in range(groups):
                    _gemm(False, True, cout_g, kw * cin_g, n_cols,
                          wide + grp * cout_g * ld, ld,
                          blocks + (row_key[r] * groups + grp) * kw * cin_g * ld
                          + row_shift[r], ld,
                          dw_tile + (r * c_out + grp * cout_g) * kw * cin_g, kw * cin_g,
                          True)


def weight_whole_input(const floating[:, ::1] x, const floating[:, ::1] grad,
                       floating[:, :, ::1] dw, Py_ssize_t groups, bint per_sample):
    """dw[co] += grad[:, co].T @ x per group: the weight gradient of a
    kernel that covers the whole input (one output position), the samples
    the GEMM's inner dimension (one GEMM per group), or one per sample
    with per_sample.

    x (N, C_in * taps), grad (N, C_out); dw (N or 1, C_out,
    C_in/groups * taps) zero-filled.
    """
    cdef Py_ssize_t n_batch = x.shape[0], a = x.shape[1], c_out = grad.shape[1]
    cdef Py_ssize_t a_g = a // groups, cout_g = c_out // groups
    cdef Py_ssize_t grp, n
    cdef const floating* xp = &x[0, 0]
    cdef const floating* gp = &grad[0, 0]
    cdef floating* dw_ptr = &dw[0, 0, 0]
    with nogil:
        if per_sample:
            for n in range(n_batch):
                for grp in range(groups):
                    _gemm(True, False, cout_g, a_g, 1, gp + n * c_out + grp * cout_g,
                          c_out, xp + n * a + grp * a_g, a,
                          dw_ptr + (n * c_out + grp * cout_g) * a_g, a_g, True)
        else:
            for grp in range(groups):
                _gemm(True, False, cout_g, a_g, n_batch, gp + grp * cout_g, c_out,
                      xp + grp * a_g, a, dw_ptr + grp * cout_g * a_g, a_g, True)


cdef void _split_phases(const floating* x, floating* phases, const Geometry* g,
                        const Py_ssize_t* size, const Py_ssize_t* residues,
                        Py_ssize_t n_phases, Py_ssize_t phase_ld,
                        const Py_ssize_t* source) noexcept nogil:
    # One input channel of one sample, padded (zeros, or the border map
    # source) and split by stride into the n_phases phases of residues
    # (n_phases, 3), each (size[0], size[1], size[2]), phase_ld values apart
    # (see _phase_rows.pxd).
    cdef Py_ssize_t a
    for a in range(n_phases):
        split_phase_rows(x, phases, g, size, size[2], residues[3 * a],
                         residues[3 * a + 1], residues[3 * a + 2], 0, size[0] * size[1],
                         source)
        phases += phase_ld


cdef void _split_tile(const floating* x, floating* phases, const Geometry* g,
                      const Py_ssize_t* size, const Py_ssize_t* residues,
                      Py_ssize_t n_phases, Py_ssize_t c_in, Py_ssize_t x_plane,
                      Py_ssize_t nt, Py_ssize_t plane,
                      const Py_ssize_t* source=NULL) noexcept nogil:
    # nt samples of x (each C_in x x_plane) split into phases
    # (S, C_in, nt * plane), the samples side by side in each row; the
    # padding zeros, or read through the border map source.
    cdef Py_ssize_t n, c, ld = nt * plane
    for n in range(nt):
        for c in range(c_in):
            _split_phases(x + (n * c_in + c) * x_plane, phases + c * ld + n * plane, g,
                          size, residues, n_phases, c_in * ld, source)


def conv_shifted(const floating[:, :, ::1] x, const floating[:, :, ::1] weight,
                  floating[:, :, ::1] out, floating[::1] workspace, geom,
                  Py_ssize_t groups, Py_ssize_t tile_n, phase_size,
                  const Py_ssize_t[:, ::1] residues, const Py_ssize_t[::1] tap_phase,
                  const Py_ssize_t[::1] tap_shift, const Py_ssize_t[::1] source=None):
    """out[n, co] = sum over taps t of weight[t, co] @ shifted phase image

    The im2col-free ("implicit GEMM") convolution: x (N, C_in, X),
    weight (taps, C_out, C_in/groups), out (N, C_out, P), X and P the flat
    spatial sizes of ``geom``'s input and output; phase_size (3 ints) the
    size of one phase image, residues (S, 3) the phases split out, and per
    tap its phase and flat shift (fastconv._phases.conv_phases, rows not
    shared).  Each tile of tile_n samples is split into phases, the samples
    side by side: phases (S, C_in, tile_n * F) with F = prod(phase_size).
    With B = this phase image flattened, output position o (a flat index
    o_d*PH*PW + o_h*PW + o_w over the phase grid) of tap t reads
    B[:, o + shift(t)] in phase phase(t): tap t's columns are a contiguous
    run of B, read in place with leading dimension tile_n * F.  So
        wide (C_out, tile_n * F) += weight[t] @ B_phase(t)[:, shift(t):]
    is one GEMM per tap and group, and the output is wide cropped to the
    output's sizes.  The columns between rows (o_w >= OW, o_h >= OH) and
    between samples are computed and dropped.  workspace holds
    tile_n * (S * C_in + C_out) * F values.  The padding is zeros, or with
    ``source`` (fastconv._borders.border_map of geom and phase_size) what a
    padding mode reads there, from x itself.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t size[3]
    cdef const Py_ssize_t* border = NULL
    cdef Py_ssize_t n_batch = x.shape[0], c_in = x.shape[1], x_plane = x.shape[2]
    cdef Py_ssize_t c_out = out.shape[1], cin_g = weight.shape[2]
    cdef Py_ssize_t cout_g = c_out // groups, n_taps = weight.shape[0]
    cdef Py_ssize_t OD = g.conv_out[0], OH = g.conv_out[1], OW = g.conv_out[2]
    cdef Py_ssize_t n_phases = residues.shape[0]
    cdef Py_ssize_t i, n0, nt, ld, n_cols, n, c, grp, t, od, oh, plane
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* wp = &weight[0, 0, 0]
    cdef floating* out_ptr = &out[0, 0, 0]
    cdef floating* phases = &workspace[0]
    cdef floating* wide
    cdef floating* w_plane
    cdef Py_ssize_t run
    for i in range(3):
        size[i] = phase_size[i]
    if source is not None:
        border = &source[0]
    plane = size[0] * size[1] * size[2]
    # a sample's last needed column, + 1
    run = ((OD - 1) * size[1] + OH - 1) * size[2] + OW
    wide = phases + tile_n * n_phases * c_in * plane
    with nogil:
        for i in range((n_batch + tile_n - 1) // tile_n):
            n0 = i * tile_n
            nt = min(tile_n, n_batch - n0)
            ld = nt * plane
            n_cols = (nt - 1) * plane + run
            _split_tile(xp + n0 * c_in * x_plane, phases, &g, size, &residues[0, 0],
                        n_phases, c_in, x_plane, nt, plane, border)
            for t in range(n_taps):
                for grp in range(groups):
                    _gemm(False, False, cout_g, n_cols, cin_g,
                          wp + (t * c_out + grp * cout_g) * cin_g, cin_g,
                          phases + (tap_phase[t] * c_in + grp * cin_g) * ld
                          + tap_shift[t], ld,
                          wide + grp * cout_g * ld, ld, t > 0)
            for n in range(nt):
                for c in range(c_out):
                    w_plane = wide + c * ld + n * plane
                    for od in range(OD):
                        for oh in range(OH):
                            memcpy(out_ptr + (((n0 + n) * c_out + c) * OD + od) * OH * OW
                                   + oh * OW,
                                   w_plane + (od * size[1] + oh) * size[2],
                                   OW * sizeof(floating))


def conv_transpose_col2im(const floating[:, :, ::1] x,
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
    cdef floating* out_ptr = &out[0, 0, 0]
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
                            _place_channel(out_ptr + ((n0 + n) * c_out + co) * out_plane,
                                           cols + co * taps * ld + n * pt, &g, p0, pt, ld)
                        else:
                            _col2im_channel(out_ptr + ((n0 + n) * c_out + co) * out_plane,
                                            cols + co * taps * ld + n * pt, &g, p0, pt, ld)


def pointwise(const floating[:, :, ::1] x, const floating[:, ::1] weight,
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
    cdef floating* out_ptr = &out[0, 0, 0]
    with nogil:
        for n in range(n_batch):
            for grp in range(groups):
                _gemm(transpose, False, cout_g, n_pos, cin_g,
                      wp + grp * cin_g * cout_g, lda,
                      xp + (n * c_in + grp * cin_g) * n_pos, n_pos,
                      out_ptr + (n * c_out + grp * cout_g) * n_pos, n_pos)


def whole_input(const floating[:, ::1] x, const floating[:, ::1] weight,
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
    cdef floating* out_ptr = &out[0, 0]
    with nogil:
        for grp in range(groups):
            _gemm(False, not transpose, n_batch, b_g, a_g,
                  xp + grp * a_g, a, wp + grp * a_g * b_g, ldw, out_ptr + grp * b_g, b)
