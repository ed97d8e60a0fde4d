# The transposed convolution as the literal scatter-add of the classic
# explanation: every input value adds value x kernel into the output, one
# kernel-sized patch per input value.  No matrix, no zero insertion, no
# reordering into a gather: the loops are the definition.
#
# 5-D C-contiguous arrays (N, C, D, H, W); 1-D and 2-D callers use size-1
# leading spatial dims.  The Python layer has checked every shape, resolved
# the geometry and chosen the thread count (fastconv._planner).  One thread owns one output plane
# (batch, output channel) and visits the inputs in a fixed order, so the
# results are bit-identical for every thread count.

from cython.parallel cimport prange
from ._fused cimport real
from ._kernel_geometry cimport Geometry, geometry_struct

cdef void _scatter_plane(const real* x, const real* w, real* out,
                         const Geometry* g) noexcept nogil:
    # out[a*s + t*d - p] += x[a] * w[t] in each dim, for every input position
    # a and tap t whose target lies inside the output.  The transposed
    # convolution's input is the conv_out side of the geometry, its output the
    # conv_in side.
    cdef const Py_ssize_t* in_size = g.conv_out
    cdef const Py_ssize_t* out_size = g.conv_in
    cdef const Py_ssize_t* kernel = g.kernel
    cdef Py_ssize_t a0, a1, a2, t0, t1, t2, i0, i1, i2
    cdef real v
    for a0 in range(in_size[0]):
        for a1 in range(in_size[1]):
            for a2 in range(in_size[2]):
                v = x[(a0 * in_size[1] + a1) * in_size[2] + a2]
                for t0 in range(kernel[0]):
                    i0 = a0 * g.stride[0] + t0 * g.dilation[0] - g.pad[0]
                    if i0 < 0 or i0 >= out_size[0]:
                        continue
                    for t1 in range(kernel[1]):
                        i1 = a1 * g.stride[1] + t1 * g.dilation[1] - g.pad[1]
                        if i1 < 0 or i1 >= out_size[1]:
                            continue
                        for t2 in range(kernel[2]):
                            i2 = a2 * g.stride[2] + t2 * g.dilation[2] - g.pad[2]
                            if i2 < 0 or i2 >= out_size[2]:
                                continue
                            out[(i0 * out_size[1] + i1) * out_size[2] + i2] += (
                                v * w[(t0 * kernel[1] + t1) * kernel[2] + t2])


def conv_transpose_scatter(const real[:, :, :, :, ::1] x,
                           const real[:, :, :, :, ::1] weight,
                           real[:, :, :, :, ::1] out, geom, Py_ssize_t groups,
                           int n_threads):
    """out[n, co] += x[n, ci] scattered through weight[ci, co], over co's group

    x (N, C_in, *geom.output_spatial), weight (C_in, C_out/groups, *kernel),
    out (N, C_out, *geom.input_spatial), zero-filled.  All non-empty.
    """
    cdef Geometry g = geometry_struct(geom)
    cdef Py_ssize_t n_batch = out.shape[0], c_out = out.shape[1], c_in = x.shape[1]
    cdef Py_ssize_t cin_g = c_in // groups, cout_g = c_out // groups
    cdef Py_ssize_t x_plane = g.conv_out[0] * g.conv_out[1] * g.conv_out[2]
    cdef Py_ssize_t out_plane = g.conv_in[0] * g.conv_in[1] * g.conv_in[2]
    cdef Py_ssize_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2]
    cdef Py_ssize_t job, n, co, ci, ci0
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &weight[0, 0, 0, 0, 0]
    cdef real* out_ptr = &out[0, 0, 0, 0, 0]
    for job in prange(n_batch * c_out, nogil=True, schedule="static",
                      num_threads=n_threads):
        n = job // c_out
        co = job % c_out
        ci0 = (co // cout_g) * cin_g
        for ci in range(ci0, ci0 + cin_g):
            _scatter_plane(xp + (n * c_in + ci) * x_plane,
                           wp + (ci * cout_g + co % cout_g) * taps,
                           out_ptr + job * out_plane, &g)
