# Stub for the compiled module _gemm.pyx (see its comments for the layouts).
import numpy as np
from numpy.typing import NDArray

from ._geometry import ConvGeometry

WORKSPACE_BYTES: int
SHIFTED_MIN_CHANNELS: int
SHIFTED_MAX_WIDENING: float

def conv_gemm(
    x: NDArray[np.floating],
    weight: NDArray[np.floating],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
) -> NDArray[np.floating]: ...
def conv_transpose_gemm(
    x: NDArray[np.floating],
    weight: NDArray[np.floating],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
) -> NDArray[np.floating]: ...
