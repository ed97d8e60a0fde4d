# The fused types of every compiled module, declared once.

from libc.stdint cimport int64_t

# the dtypes the BLAS and channel-blocked kernels compute in
ctypedef fused floating:
    float
    double

# the dtypes the row and scatter kernels compute in (int64: exact integers)
ctypedef fused real:
    float
    double
    int64_t
