# Stub for the compiled module _depthwise.pyx (see its comments).
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ._geometry import ConvGeometry

_Float = TypeVar("_Float", np.float32, np.float64)

HAVE_SIMD: bool

def use_simd(version: str) -> None: ...
def vector_bytes() -> int: ...
def slots(stride: int, dilation: int, kernel: int) -> int: ...
def row_factors(
    weight: NDArray[_Float],
    check: bool = True,
) -> tuple[NDArray[_Float], NDArray[_Float]] | None: ...
def separable_rows(geom: ConvGeometry) -> int: ...
def conv_transpose_depthwise(
    x: NDArray[_Float],
    weight: NDArray[_Float],
    out: NDArray[_Float],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
    separable: bool = False,
) -> None: ...
