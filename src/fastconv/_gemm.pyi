# Stub for the compiled module _gemm.pyx (see its comments for the layouts).
import numpy as np
from numpy.typing import NDArray

from ._geometry import ConvGeometry

_F = NDArray[np.floating]
_Ints = NDArray[np.intp]

def conv_im2col(x: _F, weight: _F, out: _F, workspace: _F, geom: ConvGeometry,
                 groups: int, tile_n: int, tile_p: int) -> None: ...
def conv_shifted(x: _F, weight: _F, out: _F, workspace: _F, geom: ConvGeometry,
                  groups: int, tile_n: int, phase_size: tuple[int, ...],
                  residues: _Ints, tap_phase: _Ints, tap_shift: _Ints,
                  source: _Ints | None = None) -> None: ...
def conv_transpose_col2im(x: _F, weight: _F, out: _F, workspace: _F,
                           geom: ConvGeometry, groups: int, tile_n: int, tile_p: int,
                           non_overlapping: bool) -> None: ...
def pointwise(x: _F, weight: _F, out: _F, groups: int, transpose: bool) -> None: ...
def whole_input(x: _F, weight: _F, out: _F, groups: int, transpose: bool) -> None: ...
def conv_weight_im2col(x: _F, grad: _F, dw: _F, workspace: _F, geom: ConvGeometry,
                       groups: int, tile_p: int, per_sample: bool) -> None: ...
def conv_weight_rows(x: _F, grad: _F, dw: _F, workspace: _F, geom: ConvGeometry,
                     groups: int, tile_n: int, phase_size: tuple[int, ...],
                     block_residue: _Ints, row_key: _Ints, row_shift: _Ints,
                     per_sample: bool) -> None: ...
def weight_whole_input(x: _F, grad: _F, dw: _F, groups: int, per_sample: bool) -> None: ...
