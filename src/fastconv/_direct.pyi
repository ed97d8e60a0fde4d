# Stub for the compiled module _direct.pyx (see its comments for the layouts).
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ._geometry import ConvGeometry

# the fused type ``real``: x, weight and out share one of these dtypes
_Real = TypeVar("_Real", np.float32, np.float64, np.int64)

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

# the channel-blocked kernel (float only)
_Float = TypeVar("_Float", np.float32, np.float64)

CHANNEL_BLOCK: int
CHANNEL_SLACK: int
CHANNEL_WORKSPACE_BYTES: int
CHANNEL_JOBS_PER_THREAD: int
CHANNEL_MIN_TERMS: int
CHANNEL_MAX_WIDENING: float

def takes_channels(
    x: NDArray[np.generic], weight: NDArray[np.generic], geom: ConvGeometry, groups: int
) -> bool: ...
def takes_transpose_channels(
    x: NDArray[np.generic], weight: NDArray[np.generic], geom: ConvGeometry, groups: int
) -> bool: ...
def conv_channels(
    x: NDArray[_Float],
    weight: NDArray[_Float],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
) -> NDArray[_Float]: ...
def conv_transpose_channels(
    x: NDArray[_Float],
    weight: NDArray[_Float],
    geom: ConvGeometry,
    groups: int,
    n_threads: int,
) -> NDArray[_Float]: ...
