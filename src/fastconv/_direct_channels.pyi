# Stub for the compiled module _direct_channels.pyx (see its comments).
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

_Float = TypeVar("_Float", np.float32, np.float64)
_Ints = NDArray[np.intp]

HAVE_SIMD: bool
CHANNEL_BLOCK: int
CHANNEL_SLACK: int
WEIGHT_MAX_TERMS: int

def simd_floats() -> int: ...
def use_simd(version: str) -> None: ...
def channels_pass(
    x: NDArray[_Float],
    weights: NDArray[_Float],
    out: NDArray[_Float],
    workspace: NDArray[_Float],
    groups: int,
    split_x_size: tuple[int, ...],
    split_stride: tuple[int, ...],
    split_pad: tuple[int, ...],
    residues: _Ints,
    size: tuple[int, ...],
    row: int,
    out_size: tuple[int, ...],
    out_step: tuple[int, ...],
    part_tap_begin: _Ints,
    part_start: _Ints,
    part_count: _Ints,
    tap_phase: _Ints,
    tap_shift: _Ints,
    window_rows: int,
    extra_rows: int,
    source: _Ints | None = None,
    by_row: bool = False,
) -> None: ...
def weight_pass(
    x: NDArray[_Float],
    grad: NDArray[_Float],
    dw: NDArray[_Float],
    copy: NDArray[_Float],
    wide: NDArray[_Float] | None,
    geom: object,
    groups: int,
    residues: _Ints,
    size: tuple[int, ...],
    row: int,
    tap_phase: _Ints,
    tap_shift: _Ints,
    block: int,
    per_sample: bool,
    n_threads: int,
) -> None: ...
