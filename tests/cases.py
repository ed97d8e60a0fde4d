"""Named case builders shared by the tests.

A :class:`Layer` is one call of a convolution or a transposed convolution,
its arguments by name as a user passes them (ints, per-dim tuples or
(before, after) padding pairs), with what a table expects of it; it makes
its arrays, runs fastconv and computes the reference's result::

    Layer("conv", x=(2, 4, 10, 9), w=(6, 2, 3, 2), stride=(2, 2), groups=2)
"""

from dataclasses import dataclass

import numpy as np

from fastconv._geometry import conv_geometry, conv_transpose_geometry
from helpers import random_arrays
from reference import conv, conv_transpose
from tables import FUNCTIONS


def _per_dim(value, nd):
    return (value,) * nd if isinstance(value, int) else tuple(value)


def _shown(value):
    return "x".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


@dataclass(frozen=True)
class Layer:
    """One call: ``op`` ('conv' or 'conv_transpose'), the shapes of x and of
    the weight, the geometry arguments, and ``expect``, what the table
    states of the call (a kernel path, a method, True or False); ``dtype``
    where the table fixes one."""

    op: str
    x: tuple
    w: tuple
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    output_padding: object = 0
    groups: int = 1
    dtype: object = None
    expect: object = None

    @property
    def nd(self):
        """Spatial dims."""
        return len(self.x) - 2

    def __str__(self):
        """The test id: the operation, the shapes and the arguments that are
        not their defaults, then what is expected."""
        parts = [f"{self.op}{self.nd}d", f"x{_shown(self.x)}", f"w{_shown(self.w)}"]
        for name, short, default in (("stride", "s", 1), ("padding", "p", 0),
                                     ("dilation", "d", 1), ("output_padding", "op", 0),
                                     ("groups", "g", 1)):
            value = getattr(self, name)
            if value != default:
                parts.append(f"{short}{value}".replace(" ", ""))
        if self.dtype is not None:
            parts.append(np.dtype(self.dtype).name)
        if self.expect is not None:
            parts.append(str(self.expect))
        return "-".join(parts)

    def kwargs(self):
        """The keyword arguments as the table gives them to fastconv."""
        kw = dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                  groups=self.groups)
        if self.op == "conv_transpose":
            kw["output_padding"] = self.output_padding
        return kw

    def reference_kwargs(self):
        """The same arguments for the reference: per dim, padding as pairs."""
        nd = self.nd
        padding = (((self.padding, self.padding),) * nd if isinstance(self.padding, int)
                   else tuple(tuple(p) for p in self.padding))
        kw = dict(stride=_per_dim(self.stride, nd), padding=padding,
                  dilation=_per_dim(self.dilation, nd), groups=self.groups)
        if self.op == "conv_transpose":
            kw["output_padding"] = _per_dim(self.output_padding, nd)
        return kw

    def geometry(self):
        """The call's ConvGeometry."""
        if self.op == "conv":
            return conv_geometry(self.x[2:], self.w[2:], self.stride, self.padding,
                                 self.dilation)
        return conv_transpose_geometry(self.x[2:], self.w[2:], self.stride, self.padding,
                                       self.output_padding, self.dilation)

    def arrays(self, seed, dtype=None):
        """Standard normal x and weight of the call's shapes (``seed``: a seed
        or a Generator), in ``dtype`` or the table's."""
        return random_arrays(seed, self.x, self.w, dtype=dtype or self.dtype or np.float64)

    def run(self, x, w, **extra):
        """fastconv's result: the call's function on ``x`` and ``w``, with
        ``extra`` keyword arguments (a method, n_threads)."""
        return FUNCTIONS[self.op, self.nd](x, w, **self.kwargs(), **extra)

    def expected(self, x, w):
        """The reference's result, in float64."""
        reference = conv if self.op == "conv" else conv_transpose
        return reference(x.astype(np.float64), w.astype(np.float64),
                         **self.reference_kwargs())
