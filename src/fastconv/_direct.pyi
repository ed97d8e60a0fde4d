# Stub for the compiled module _direct.pyx (see its comments for the layouts).
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ._geometry import ConvGeometry

# the fused type ``real``: x, weight and out share one of these dtypes
_Real = TypeVar("_Real", np.float32, np.float64, np.int64)

#: Output rows the depthwise path's band kernel computes at a time.
BAND_ROWS: int

def simd_version() -> str: ...
def simd_versions() -> tuple[str, ...]: ...
def use_simd(version: str) -> None: ...
def conv_direct(
    x: NDArray[_Real],
    weight: NDArray[_Real],
    out: NDArray[_Real],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
) -> None: ...
def conv_transpose_direct(
    x: NDArray[_Real],
    weight: NDArray[_Real],
    out: NDArray[_Real],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
) -> None: ...

# the fused type ``floating``: the depthwise path's dtypes
_Float = TypeVar("_Float", np.float32, np.float64)

def depthwise_grid(geom: ConvGeometry) -> tuple[tuple[int, int, int], int]: ...
def depthwise_workspace(geom: ConvGeometry, band_rows: int, itemsize: int) -> int: ...
def conv_depthwise(
    x: NDArray[_Float],
    weight: NDArray[_Float],
    out: NDArray[_Float],
    geom: ConvGeometry,
    band_rows: int,
    n_threads: int,
) -> None: ...
