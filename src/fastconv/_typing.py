"""Type aliases for the public signatures.

Integers are anything with ``__index__`` (``int``, NumPy integers), as the
arguments are read with :func:`operator.index`.
"""

from __future__ import annotations

from typing import Literal, SupportsIndex, TypeAlias

#: An int for every spatial dim, or one per dim: stride, dilation,
#: output_padding, kernel and input sizes.
IntOrTuple: TypeAlias = SupportsIndex | tuple[SupportsIndex, ...] | list[SupportsIndex]

_PerDimPadding: TypeAlias = SupportsIndex | tuple[SupportsIndex, SupportsIndex]

#: An int, one int or one (before, after) pair per dim, 'same' or 'valid'.
Padding: TypeAlias = (
    SupportsIndex
    | tuple[_PerDimPadding, ...]
    | list[_PerDimPadding]
    | Literal["same", "valid"]
)
