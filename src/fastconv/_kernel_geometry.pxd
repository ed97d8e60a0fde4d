# A ConvGeometry (fastconv._geometry) as a C struct, for kernels that run
# without the GIL, and the one index formula they share: a convolution output
# position o reads the input position o*stride + tap*dilation - pad.

ctypedef struct Geometry:
    # sizes of the convolution's input and output (for a transposed
    # convolution: its output and input)
    Py_ssize_t conv_in[3]
    Py_ssize_t conv_out[3]
    Py_ssize_t kernel[3]
    Py_ssize_t stride[3]
    Py_ssize_t dilation[3]
    Py_ssize_t pad[3]


cdef inline Geometry geometry_struct(geom) except *:
    cdef Geometry g
    cdef tuple conv_in = geom.input_spatial, conv_out = geom.output_spatial
    cdef tuple kernel = geom.kernel_size, stride = geom.stride
    cdef tuple dilation = geom.dilation, pad = geom.pad_before
    cdef int i
    for i in range(3):
        g.conv_in[i] = conv_in[i]
        g.conv_out[i] = conv_out[i]
        g.kernel[i] = kernel[i]
        g.stride[i] = stride[i]
        g.dilation[i] = dilation[i]
        g.pad[i] = pad[i]
    return g


cdef inline void valid_range(Py_ssize_t n_y, Py_ssize_t n_x, Py_ssize_t stride,
                             Py_ssize_t offset, Py_ssize_t* lo,
                             Py_ssize_t* hi) noexcept nogil:
    # The y positions o in [0, n_y) whose x position o*stride + offset lies in
    # [0, n_x), offset = tap*dilation - pad: taps that would read (or write)
    # padding are skipped.
    lo[0] = 0 if offset >= 0 else (stride - 1 - offset) // stride
    if n_x - 1 - offset < 0:
        hi[0] = 0
    else:
        hi[0] = min(n_y, (n_x - 1 - offset) // stride + 1)
    if hi[0] < lo[0]:
        hi[0] = lo[0]
