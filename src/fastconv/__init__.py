"""fastconv: convolution and transposed convolution on NumPy arrays.

The public functions follow ``torch.nn.functional`` (argument names, order,
layouts and output sizes) and run compiled Cython kernels.  A transposed
convolution is the adjoint of the convolution with the same arguments: if a
convolution is ``y = C @ x``, the transposed convolution is ``C.T @ y``.
"""

import contextlib as _contextlib
import os as _os


@_contextlib.contextmanager
def _loading_with(variable, value, unless=()):
    """Set an environment variable for the ``with`` block (a library that
    loads in it reads it once) and put it back as it was after; a setting
    of the user's, of ``variable`` or of any name in ``unless``, is kept."""
    names = {variable, *unless}
    set_here = not names & set(_os.environ)
    if set_here:
        _os.environ[variable] = value
    try:
        yield
    finally:
        if set_here:
            del _os.environ[variable]


# fastconv's OpenMP threads spin for a shorter while than GNU OpenMP's
# default once out of work, then sleep: they share the cores with SciPy's
# BLAS threads (the "gemm" method), which spin too, and a spinning thread of
# either kind holds the core the other needs (docs/threads.rst has the
# measurements behind the value).  The OpenMP runtime reads the variable
# once, when it loads, which is here, with the first compiled module.  Other
# OpenMP runtimes ignore the variable.
with _loading_with("GOMP_SPINCOUNT", "30000", unless=("OMP_WAIT_POLICY",)):
    from . import _openmp  # noqa: F401  (loads the OpenMP runtime)

# The same for SciPy's OpenBLAS, whose idle threads otherwise spin for about
# 2**28 cycles (a tenth of a second) after each call, holding a core that
# the next direct call's OpenMP threads need: a backward pass runs both (the
# input gradient on the direct kernel, the weight gradient on BLAS).  2**20
# cycles is about GNU OpenMP's 30000 spins above.  OpenBLAS reads the
# variable when it loads, here unless SciPy's BLAS is loaded already (then
# it has no effect).
import numpy as _np  # noqa: E402,F401  (NumPy's own BLAS loads without it)

with _loading_with("OPENBLAS_THREAD_TIMEOUT", "20"):
    import scipy.linalg.cython_blas  # noqa: E402,F401  (loads SciPy's BLAS)

from ._version import __version__  # noqa: E402
from ._geometry import conv_output_shape, conv_transpose_output_shape  # noqa: E402
from ._api import (  # noqa: E402
    choose_method,
    conv1d, conv2d, conv3d,
    conv_transpose1d, conv_transpose2d, conv_transpose3d,
)
from . import _methods, grad, plot  # noqa: E402
# these register their methods, so they come before the lists below
from ._matrix import convolution_matrix, conv_operator  # noqa: E402
from ._zero_insertion import zero_insert  # noqa: E402
from . import _fft  # noqa: E402, F401
from ._planner import auto_policy, set_auto_policy  # noqa: E402

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
    "choose_method", "set_auto_policy", "auto_policy",
    "CONV_METHODS", "CONV_TRANSPOSE_METHODS",
    "interpolate", "pixel_shuffle", "pixel_unshuffle", "icnr",
    "bilinear_kernel", "bilinear_kernel_params",
    "resize_conv1d", "resize_conv2d", "resize_conv3d",
    "overlap_map", "checkerboard_score", "upsampling_figure",
]
from ._interpolate import interpolate  # noqa: E402
from ._upsample import (  # noqa: E402
    pixel_shuffle, pixel_unshuffle, icnr, bilinear_kernel, bilinear_kernel_params,
    resize_conv1d, resize_conv2d, resize_conv3d, overlap_map, checkerboard_score,
)
from ._upsample_figure import upsampling_figure  # noqa: E402
