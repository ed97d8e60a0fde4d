"""fastconv: convolution and transposed convolution on NumPy arrays.

The public functions follow ``torch.nn.functional`` (argument names, order,
layouts and output sizes) and run compiled Cython kernels.  A transposed
convolution is the adjoint of the convolution with the same arguments: if a
convolution is ``y = C @ x``, the transposed convolution is ``C.T @ y``.
"""

from ._version import __version__
from ._geometry import conv_output_shape, conv_transpose_output_shape
from ._api import (
    conv1d, conv2d, conv3d,
    conv_transpose1d, conv_transpose2d, conv_transpose3d,
)
from . import _methods, plot
# these register their methods, so they come before the lists below
from ._matrix import convolution_matrix, conv_operator
from ._zero_insertion import zero_insert
from . import _gemm  # registers method 'gemm'

#: Valid ``method=`` values of the convolution functions.
CONV_METHODS: tuple[str, ...] = _methods.method_names(_methods.CONV)
#: Valid ``method=`` values of the transposed-convolution functions.
CONV_TRANSPOSE_METHODS: tuple[str, ...] = _methods.method_names(_methods.CONV_TRANSPOSE)

__all__ = [
    "__version__",
    "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_output_shape", "conv_transpose_output_shape",
    "convolution_matrix", "conv_operator", "zero_insert",
    "CONV_METHODS", "CONV_TRANSPOSE_METHODS",
]
