"""Stride phases: the tables the im2col-free kernels read.

With stride ``s``, phase ``a`` of a zero-padded signal holds its positions
``a, a + s, a + 2s, ...``.  Split that way, every kernel tap of a strided
convolution reads a contiguous run of one phase, and a transposed
convolution falls apart into one stride-1 convolution per output phase
(polyphase).  This module computes, once per call and in time linear in the
kernel, which phases are needed and where each tap reads; the compiled
kernels (``_direct_channels``, ``_gemm``) read these tables and do not
repeat the formulas.

Per dim, with stride ``s``, dilation ``d`` and kernel tap ``t``, a
convolution's tap reads phase ``t*d % s`` from position ``o + t*d // s`` on
(``o`` the output position).  Only the phases some tap reads are split out:
at most ``min(k, s)`` per dim, however large the stride.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._geometry import ConvGeometry

__all__ = ["Phase", "PhaseSplit", "RowSplit", "TransposePhases", "phase_size",
           "conv_phases", "row_split", "transpose_phases"]

_Ints = NDArray[np.intp]


def phase_size(geom: ConvGeometry) -> tuple[int, int, int]:
    """Per dim, the size of one phase of the part of the padded input that
    the convolution reads: ``ceil(L / s)`` with ``L = (O - 1)*s + (k - 1)*d
    + 1``; tap ``t`` reads from ``o + t*d // s`` on, which stays below it."""
    return tuple(
        -(-((o - 1) * s + (k - 1) * d + 1) // s)
        for o, s, k, d in zip(geom.output_spatial, geom.stride, geom.kernel_size,
                              geom.dilation)
    )


def shared_row(geom: ConvGeometry, width: int) -> int:
    """The length with which rows ``width`` long can be stored when the
    columns that are zero padding at both ends of a row are shared by
    consecutive rows (the last ones of a row read as the first ones of the
    next).  At stride 1 along W that is ``min(pad_before, pad_after,
    width - output)`` columns; a strided W keeps the whole row."""
    if geom.stride[2] != 1:
        return width
    return width - min(geom.pad_before[2], geom.pad_after[2],
                       width - geom.output_spatial[2])


def _flat(per_dim, sizes):
    """Flat indices over ``sizes`` (3) of every combination, in C order, of
    the per-dim index arrays."""
    i0, i1, i2 = np.ix_(*per_dim)
    return ((i0 * sizes[1] + i1) * sizes[2] + i2).ravel()


@dataclass(frozen=True)
class PhaseSplit:
    """A convolution's padded input split into the stride phases its taps
    read.

    Attributes
    ----------
    size : tuple of 3 ints
        Size of one phase image (:func:`phase_size`).
    row : int
        Stored length of its rows, at most ``size[2]`` (:func:`shared_row`
        when rows share their padding columns).
    residues : ndarray of intp, shape (n_phases, 3)
        The phases split out: phase ``i`` holds the padded positions
        ``residues[i] + u * stride`` per dim.
    tap_phase, tap_shift : ndarray of intp, shape (n_taps,)
        Per kernel tap, in (d, h, w) order: the phase it reads (a row of
        ``residues``) and its offset, flat over the phase grid with rows
        ``row`` long.  Output position ``o`` (flat over that grid) reads
        phase position ``o + tap_shift``.
    """

    size: tuple[int, int, int]
    row: int
    residues: _Ints
    tap_phase: _Ints
    tap_shift: _Ints

    @property
    def n_phases(self) -> int:
        return len(self.residues)


def conv_phases(geom: ConvGeometry, share_columns: bool = True) -> PhaseSplit:
    """The :class:`PhaseSplit` of a convolution, in time linear in the
    kernel."""
    size = phase_size(geom)
    row = shared_row(geom, size[2]) if share_columns else size[2]
    residues, phase_of_tap, shifts = [], [], []
    for k, s, d in zip(geom.kernel_size, geom.stride, geom.dilation):
        reach = np.arange(k, dtype=np.intp) * d
        used, index = np.unique(reach % s, return_inverse=True)
        residues.append(used)
        phase_of_tap.append(index.ravel())
        shifts.append(reach // s)
    grid = np.stack(np.meshgrid(*residues, indexing="ij"), axis=-1).reshape(-1, 3)
    return PhaseSplit(
        size=size, row=row, residues=np.ascontiguousarray(grid, dtype=np.intp),
        tap_phase=_flat(phase_of_tap, [len(r) for r in residues]).astype(np.intp),
        tap_shift=_flat(shifts, (size[0], size[1], row)).astype(np.intp),
    )


@dataclass(frozen=True)
class RowSplit:
    """A convolution's padded input as the weight gradient's kernel-row path
    reads it: one block per W tap and (D, H) phase, so that all W taps of
    one kernel row are one GEMM.

    Block ``(key, tw)`` holds the phase of residues ``(r0, r1)`` (the D and
    H phase ``key``) already shifted by W tap ``tw``: position ``(pd, ph,
    pw)`` is the padded input at ``(pd*s0 + r0, ph*s1 + r1, pw*s2 + tw*d2)``
    (``tw*d2`` is not reduced modulo the stride, so the shift is built in).
    Kernel row ``(td, th)`` then reads, for every ``tw`` at once, the blocks
    of its key from ``row_shift`` on (flat over the phase grid, rows
    ``size[2]`` long).

    Attributes
    ----------
    size : tuple of 3 ints
        Size of one phase image (:func:`phase_size`).
    block_residue : ndarray of intp, shape (n_keys * KW, 3)
        Per block, key-major: the residues it is split with (the third one
        ``tw * d2``).
    row_key, row_shift : ndarray of intp, shape (KD * KH,)
        Per kernel row, in (d, h) order: its key and its flat offset.
    """

    size: tuple[int, int, int]
    block_residue: _Ints
    row_key: _Ints
    row_shift: _Ints

    @property
    def n_keys(self) -> int:
        return int(self.row_key.max()) + 1


def row_split(geom: ConvGeometry) -> RowSplit:
    """The :class:`RowSplit` of a convolution, in time linear in the
    kernel."""
    size = phase_size(geom)
    used, index, shifts = [], [], []
    for k, s, d in zip(geom.kernel_size[:2], geom.stride[:2], geom.dilation[:2]):
        reach = np.arange(k, dtype=np.intp) * d
        residues, inverse = np.unique(reach % s, return_inverse=True)
        used.append(residues)
        index.append(inverse.ravel())
        shifts.append(reach // s)
    keys = np.stack(np.meshgrid(*used, indexing="ij"), axis=-1).reshape(-1, 2)
    reach_w = np.arange(geom.kernel_size[2], dtype=np.intp) * geom.dilation[2]
    blocks = np.concatenate([np.repeat(keys, len(reach_w), axis=0),
                             np.tile(reach_w, len(keys))[:, None]], axis=1)
    row_key = (index[0][:, None] * len(used[1]) + index[1][None, :]).ravel()
    row_shift = ((shifts[0][:, None] * size[1] + shifts[1][None, :]) * size[2]).ravel()
    return RowSplit(size=size, block_residue=np.ascontiguousarray(blocks, dtype=np.intp),
                    row_key=row_key.astype(np.intp), row_shift=row_shift.astype(np.intp))


class Phase(NamedTuple):
    """One output phase of a transposed convolution (see
    :class:`TransposePhases`): its outputs are ``start + u * stride`` for
    ``u < length`` per dim, and output ``u`` (flat over the padded grid) is
    the sum over ``taps`` and ``shifts`` of ``w[tap] * padded[u + shift]``."""

    taps: _Ints
    shifts: _Ints
    start: tuple[int, ...]
    length: tuple[int, ...]


@dataclass(frozen=True)
class TransposePhases:
    """A transposed convolution split by output phase (polyphase), as
    stride-1 convolutions of one zero-padded copy of its input.

    The padded input is the transposed convolution's input (the geometry's
    ``output_spatial``) with ``pad`` zeros before it, ``size`` long per dim,
    its rows stored ``row`` apart (``size[2]`` less the padding columns that
    consecutive rows share).  The taps of an output position ``o`` are those
    with ``t*d = o + pad_before`` modulo the stride.  Only phases with taps
    and outputs are listed; ``complete`` says whether they cover every
    output position (otherwise the others are zero).

    Attributes
    ----------
    pad, size : tuple of 3 ints
    row : int
    start, count : ndarray of intp, shape (n_phases, 3)
        Phase ``i`` covers the outputs ``start[i] + u * stride`` for
        ``u < count[i]`` per dim.
    tap_begin : ndarray of intp, shape (n_phases + 1,)
        Phase ``i``'s taps are entries ``tap_begin[i]:tap_begin[i + 1]`` of
        the two arrays below.
    tap_index, tap_shift : ndarray of intp, shape (n_taps,)
        Flat kernel tap index and its offset in the padded grid.
    complete : bool
    """

    pad: tuple[int, int, int]
    size: tuple[int, int, int]
    row: int
    start: _Ints
    count: _Ints
    tap_begin: _Ints
    tap_index: _Ints
    tap_shift: _Ints
    complete: bool

    @property
    def n_phases(self) -> int:
        return len(self.start)

    def __iter__(self):
        for i in range(self.n_phases):
            taps = slice(self.tap_begin[i], self.tap_begin[i + 1])
            yield Phase(self.tap_index[taps], self.tap_shift[taps],
                        tuple(int(v) for v in self.start[i]),
                        tuple(int(v) for v in self.count[i]))

    def wide_positions(self) -> int:
        """Positions the stride-1 convolutions compute in all (each phase's
        outputs with the columns between its rows)."""
        count = self.count
        return int((((count[:, 0] - 1) * self.size[1] + count[:, 1]) * self.row).sum())


def _transpose_dim(length, k, s, d, p):
    """One dim of :func:`transpose_phases`: for the output phases with taps
    and outputs, their (start, count), and per tap its phase (-1: none) and
    its offset into the unpadded input."""
    reach = np.arange(k, dtype=np.intp) * d
    residue = reach % s
    used, index = np.unique(residue, return_inverse=True)
    first = -((used - p) // s)                         # first input index u
    count = (length - 1 + p - used) // s + 1 - first
    keep = count > 0
    renumber = np.where(keep, np.cumsum(keep) - 1, -1)
    offset = first[index] - (reach - residue) // s
    return ((first * s + used - p)[keep], count[keep], renumber[index.ravel()],
            offset, int(keep.sum()) == min(s, length))


def transpose_phases(geom: ConvGeometry) -> TransposePhases:
    """The :class:`TransposePhases` of the transposed convolution of
    ``geom``, in time linear in the kernel."""
    dims = [_transpose_dim(*args) for args in zip(
        geom.input_spatial, geom.kernel_size, geom.stride, geom.dilation,
        geom.pad_before)]
    pad, size = [], []
    for _, count, phase, offset, _ in dims:
        live = phase >= 0
        pad.append(max(0, int((-offset[live]).max(initial=0))))
        size.append(max(1, int((count[phase[live]] + offset[live] + pad[-1])
                               .max(initial=1))))
    # padding columns at both ends of every row, beyond the widest phase
    widest = -(-geom.input_spatial[2] // geom.stride[2])
    row = size[2] - max(0, min(pad[2], size[2] - pad[2] - geom.output_spatial[2],
                               size[2] - widest))
    n_kept = [len(start) for start, *_ in dims]
    has0, has1, has2 = (d[2] >= 0 for d in dims)   # taps that reach an output
    live = (has0[:, None, None] & has1[None, :, None] & has2[None, None, :]).ravel()
    tap_index = np.arange(geom.n_taps, dtype=np.intp)[live]
    shift = _flat([d[3] + q for d, q in zip(dims, pad)], (size[0], size[1], row))[live]
    phase = _flat([d[2] for d in dims], n_kept)[live]
    order = np.argsort(phase, kind="stable")
    ids, first_tap = np.unique(phase[order], return_index=True)
    digits = (np.stack(np.unravel_index(ids, n_kept), axis=-1) if len(ids)
              else np.zeros((0, 3), dtype=np.intp))
    start = np.stack([dims[i][0][digits[:, i]] for i in range(3)], axis=-1)
    count = np.stack([dims[i][1][digits[:, i]] for i in range(3)], axis=-1)
    return TransposePhases(
        pad=tuple(pad), size=tuple(size), row=row,  # type: ignore[arg-type]
        start=start.astype(np.intp).reshape(-1, 3),
        count=count.astype(np.intp).reshape(-1, 3),
        tap_begin=np.append(first_tap, len(order)).astype(np.intp),
        tap_index=tap_index[order], tap_shift=shift[order].astype(np.intp),
        complete=all(d[4] for d in dims),
    )
