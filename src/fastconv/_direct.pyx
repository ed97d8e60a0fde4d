# Direct kernels: the convolution as a gather (each output value sums
# kernel x input) and the transposed convolution as a scatter-add (each
# input value adds value x kernel into the output).  No matrix, no zero
# insertion.
#
# Both run on 5-D C-contiguous arrays (N, C, D, H, W); 1-D and 2-D callers
# use size-1 leading spatial dims.  They trust their inputs: the Python
# layer (fastconv._api) has checked every shape, resolved the geometry and
# allocated a zeroed output.  Parallel over (batch, output channel): one
# thread owns one output plane, and every output value is accumulated in the
# same order whatever the thread count, so results are bit-identical.

from cython.parallel cimport prange
from libc.stdint cimport int64_t

ctypedef fused real:
    float
    double
    int64_t


ctypedef struct Geometry:
    # sizes of the convolution's input (x side) and output (y side)
    Py_ssize_t x_size[3]
    Py_ssize_t y_size[3]
    Py_ssize_t kernel[3]
    Py_ssize_t stride[3]
    Py_ssize_t dilation[3]
    Py_ssize_t pad[3]


cdef Geometry _geometry(geom):
    cdef Geometry g
    cdef int i
    for i in range(3):
        g.x_size[i] = geom.input_spatial[i]
        g.y_size[i] = geom.output_spatial[i]
        g.kernel[i] = geom.kernel_size[i]
        g.stride[i] = geom.stride[i]
        g.dilation[i] = geom.dilation[i]
        g.pad[i] = geom.pad_before[i]
    return g


cdef inline void _valid_range(Py_ssize_t n_y, Py_ssize_t n_x, Py_ssize_t stride,
                              Py_ssize_t offset, Py_ssize_t* lo,
                              Py_ssize_t* hi) noexcept nogil:
    # The y positions o in [0, n_y) whose x position o*stride + offset lies in
    # [0, n_x): taps that would read (or write) padding are skipped.
    lo[0] = 0 if offset >= 0 else (stride - 1 - offset) // stride
    if n_x - 1 - offset < 0:
        hi[0] = 0
    else:
        hi[0] = min(n_y, (n_x - 1 - offset) // stride + 1)
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef inline void _axpy_strided(real* y, const real* x, real a, Py_ssize_t lo,
                               Py_ssize_t hi, Py_ssize_t y_step,
                               Py_ssize_t x_step) noexcept nogil:
    # y[o * y_step] += a * x[o * x_step] for o in [lo, hi); contiguous cases
    # get their own loops so that the compiler vectorises them.
    cdef Py_ssize_t o
    if y_step == 1 and x_step == 1:
        for o in range(lo, hi):
            y[o] += a * x[o]
    elif y_step == 1:
        for o in range(lo, hi):
            y[o] += a * x[o * x_step]
    elif x_step == 1:
        for o in range(lo, hi):
            y[o * y_step] += a * x[o]
    else:
        for o in range(lo, hi):
            y[o * y_step] += a * x[o * x_step]


cdef void _correlate_plane(const real* x, const real* w, const real* y,
                           const Geometry* g, bint transpose) noexcept nogil:
    # One (input channel, output channel) pair.
    #   transpose == 0:  y[o] += w[t] * x[o*s + t*d - p]   (gather)
    #   transpose == 1:  x[o*s + t*d - p] += w[t] * y[o]   (scatter-add)
    # The written side is cast from const.  Loops run tap by tap so that the
    # innermost loop is a long axpy along W.
    cdef Py_ssize_t XD = g.x_size[0], XH = g.x_size[1], XW = g.x_size[2]
    cdef Py_ssize_t YD = g.y_size[0], YH = g.y_size[1], YW = g.y_size[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t td, th, tw, od, oh, offd, offh, offw
    cdef Py_ssize_t lod, hid, loh, hih, low, hiw
    cdef real wv
    cdef const real* x_row
    cdef real* x_out
    cdef const real* y_row
    cdef real* y_out
    for td in range(KD):
        offd = td * g.dilation[0] - g.pad[0]
        _valid_range(YD, XD, g.stride[0], offd, &lod, &hid)
        for th in range(KH):
            offh = th * g.dilation[1] - g.pad[1]
            _valid_range(YH, XH, g.stride[1], offh, &loh, &hih)
            for tw in range(KW):
                offw = tw * g.dilation[2] - g.pad[2]
                _valid_range(YW, XW, g.stride[2], offw, &low, &hiw)
                if low >= hiw:
                    continue
                wv = w[(td * KH + th) * KW + tw]
                for od in range(lod, hid):
                    for oh in range(loh, hih):
                        if transpose:
                            x_out = <real*> x + ((od * g.stride[0] + offd) * XH
                                                 + oh * g.stride[1] + offh) * XW + offw
                            y_row = y + (od * YH + oh) * YW
                            _axpy_strided(x_out, y_row, wv, low, hiw, g.stride[2], 1)
                        else:
                            x_row = x + ((od * g.stride[0] + offd) * XH
                                         + oh * g.stride[1] + offh) * XW + offw
                            y_out = <real*> y + (od * YH + oh) * YW
                            _axpy_strided(y_out, x_row, wv, low, hiw, 1, g.stride[2])


def conv_direct(const real[:, :, :, :, ::1] x, const real[:, :, :, :, ::1] weight,
                real[:, :, :, :, ::1] out, geom, Py_ssize_t groups, int n_threads):
    """out[n, co] += sum over ci in co's group of correlate(x[n, ci], weight[co, ci])

    x (N, C_in, *geom.input_spatial), weight (C_out, C_in/groups, *kernel),
    out (N, C_out, *geom.output_spatial), zero-filled.  All non-empty.
    """
    cdef Geometry g = _geometry(geom)
    cdef Py_ssize_t n_batch = out.shape[0], c_out = out.shape[1], c_in = x.shape[1]
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t x_plane = x.shape[2] * x.shape[3] * x.shape[4]
    cdef Py_ssize_t y_plane = out.shape[2] * out.shape[3] * out.shape[4]
    cdef Py_ssize_t taps = weight.shape[2] * weight.shape[3] * weight.shape[4]
    cdef Py_ssize_t job, n, co, ci, ci0
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &weight[0, 0, 0, 0, 0]
    cdef real* yp = &out[0, 0, 0, 0, 0]
    for job in prange(n_batch * c_out, nogil=True, schedule="static",
                      num_threads=n_threads):
        n = job // c_out
        co = job % c_out
        ci0 = (co // cout_g) * cin_g
        for ci in range(cin_g):
            _correlate_plane(xp + (n * c_in + ci0 + ci) * x_plane,
                             wp + (co * cin_g + ci) * taps,
                             yp + job * y_plane, &g, False)


def conv_transpose_scatter(const real[:, :, :, :, ::1] x,
                           const real[:, :, :, :, ::1] weight,
                           real[:, :, :, :, ::1] out, geom, Py_ssize_t groups,
                           int n_threads):
    """out[n, co] += scatter-add of x[n, ci] * weight[ci, co] over co's group

    x (N, C_in, *geom.output_spatial), weight (C_in, C_out/groups, *kernel),
    out (N, C_out, *geom.input_spatial), zero-filled.  All non-empty.
    """
    cdef Geometry g = _geometry(geom)
    cdef Py_ssize_t n_batch = out.shape[0], c_out = out.shape[1], c_in = x.shape[1]
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t x_plane = x.shape[2] * x.shape[3] * x.shape[4]
    cdef Py_ssize_t out_plane = out.shape[2] * out.shape[3] * out.shape[4]
    cdef Py_ssize_t taps = weight.shape[2] * weight.shape[3] * weight.shape[4]
    cdef Py_ssize_t job, n, co, ci, ci0
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &weight[0, 0, 0, 0, 0]
    cdef real* op = &out[0, 0, 0, 0, 0]
    for job in prange(n_batch * c_out, nogil=True, schedule="static",
                      num_threads=n_threads):
        n = job // c_out
        co = job % c_out
        ci0 = (co // cout_g) * cin_g
        for ci in range(cin_g):
            # the output plane is the x side of the adjoint convolution
            _correlate_plane(op + job * out_plane,
                             wp + ((ci0 + ci) * cout_g + co % cout_g) * taps,
                             xp + (n * c_in + ci0 + ci) * x_plane, &g, True)
