# The padded, stride-phase-split input that the im2col-free paths read
# (the "gemm" method's one GEMM per tap, the direct method's channel-blocked
# kernel): with stride s, phase a of a channel holds its padded positions
# a, a + s, a + 2s, ... so that every kernel tap reads a contiguous run of
# one phase.  Shared here so both compiled modules fill it the same way.
#
# The padding is zeros, or, given a border map (fastconv._borders.border_map),
# what a padding mode reads there: source[j] is the input position padded
# position j holds along d, then h, then w (each dim's map size * stride
# long, -1 for zero), so the border is read from the input itself and no
# padded copy of it is made.

from ._fused cimport floating
from ._kernel_geometry cimport Geometry, valid_range


cdef inline void gather_strided(floating* dst, const floating* src, Py_ssize_t lo,
                                Py_ssize_t hi, Py_ssize_t s) noexcept nogil:
    # dst[o] = src[o * s] for o in [lo, hi)
    cdef Py_ssize_t o
    if s == 1:
        for o in range(lo, hi):
            dst[o] = src[o]
    elif s == 2:
        # a constant stride vectorises; a variable one does not
        for o in range(lo, hi):
            dst[o] = src[2 * o]
    else:
        for o in range(lo, hi):
            dst[o] = src[o * s]


cdef inline void _split_mapped_rows(const floating* x, floating* dst, const Geometry* g,
                                    const Py_ssize_t* size, Py_ssize_t width,
                                    Py_ssize_t a0, Py_ssize_t a1, Py_ssize_t a2,
                                    Py_ssize_t row0, Py_ssize_t row1,
                                    const Py_ssize_t* source) noexcept nogil:
    # split_phase_rows with a border map: a row outside the input is the
    # mapped row (-1: zeros), a column outside the mapped column; the
    # columns inside stay one straight (strided) gather.
    cdef Py_ssize_t XH = g.conv_in[1], XW = g.conv_in[2]
    cdef Py_ssize_t PH = size[1]
    cdef Py_ssize_t r, pw, xd, xh, j, low, hiw, offw = a2 - g.pad[2]
    cdef const Py_ssize_t* map_d = source
    cdef const Py_ssize_t* map_h = map_d + size[0] * g.stride[0]
    cdef const Py_ssize_t* map_w = map_h + size[1] * g.stride[1] + a2
    cdef const floating* x_row
    valid_range(width, XW, g.stride[2], offw, &low, &hiw)
    for r in range(row0, row1):
        xd = map_d[r // PH * g.stride[0] + a0]
        xh = map_h[r % PH * g.stride[1] + a1]
        if xd >= 0 and xh >= 0:
            x_row = x + (xd * XH + xh) * XW
            for pw in range(low):
                j = map_w[pw * g.stride[2]]
                dst[pw] = x_row[j] if j >= 0 else 0
            gather_strided(dst, x_row + offw, low, hiw, g.stride[2])
            for pw in range(hiw, width):
                j = map_w[pw * g.stride[2]]
                dst[pw] = x_row[j] if j >= 0 else 0
        else:
            for pw in range(width):
                dst[pw] = 0
        dst += width


cdef inline void split_phase_rows(const floating* x, floating* dst, const Geometry* g,
                                  const Py_ssize_t* size, Py_ssize_t width,
                                  Py_ssize_t a0, Py_ssize_t a1, Py_ssize_t a2,
                                  Py_ssize_t row0, Py_ssize_t row1,
                                  const Py_ssize_t* source) noexcept nogil:
    # Rows [row0, row1) of phase (a0, a1, a2), of size (size[0], size[1],
    # size[2]), of one channel x, its rows flattened over (pd, ph), written
    # width apart from dst on:
    #   phase[p] = x[p*s + a - pad], 0 where that is padding,
    # or, with a border map source (NULL: zeros), what the map reads there.
    # At stride 1 this is the padded channel alone.  With width < size[2]
    # (zeros only), the last size[2] - width columns of a row, which must be
    # padding, are left to the next row's first ones, also padding (see
    # fastconv._phases.shared_row).
    cdef Py_ssize_t XD = g.conv_in[0], XH = g.conv_in[1], XW = g.conv_in[2]
    cdef Py_ssize_t PH = size[1], PW = size[2]
    cdef Py_ssize_t r, pw, xd, xh, low, hiw, offw = a2 - g.pad[2]
    cdef const floating* x_row
    if source != NULL:
        _split_mapped_rows(x, dst, g, size, width, a0, a1, a2, row0, row1, source)
        return
    valid_range(PW, XW, g.stride[2], offw, &low, &hiw)
    for r in range(row0, row1):
        xd = r // PH * g.stride[0] + a0 - g.pad[0]
        xh = r % PH * g.stride[1] + a1 - g.pad[1]
        if 0 <= xd < XD and 0 <= xh < XH:
            x_row = x + (xd * XH + xh) * XW + offw
            for pw in range(low):
                dst[pw] = 0
            gather_strided(dst, x_row, low, hiw, g.stride[2])
            for pw in range(hiw, width):
                dst[pw] = 0
        else:
            for pw in range(width):
                dst[pw] = 0
        dst += width
