"""The seeded sweep of random configurations shared by the tests.

Each :class:`Case` holds the arrays, the arguments as a user passes them to
fastconv (every accepted form: int, per-dim tuple, (before, after) pairs,
'valid', 'same') and the same geometry made explicit for the reference in
``reference.py``.
"""

from dataclasses import dataclass, field

import numpy as np

from reference import conv, conv_transpose, same_padding
from tables import FUNCTIONS

N_CASES = 600


@dataclass
class Case:
    index: int
    op: str            # "conv" or "conv_transpose"
    ndim: int
    x: np.ndarray
    weight: np.ndarray
    bias: object
    kwargs: dict       # as passed to fastconv
    ref_kwargs: dict   # explicit, for the reference
    groups: int
    sym_padding: bool = field(default=True)  # expressible as PyTorch padding

    @property
    def name(self):
        return f"{self.op}{self.ndim}d"

    def reference(self):
        """The expected output, computed in float64 (int64 for integers)."""
        wide = np.float64 if self.x.dtype.kind == "f" else np.int64
        x, w = self.x.astype(wide), self.weight.astype(wide)
        b = None if self.bias is None else self.bias.astype(wide)
        fn = conv if self.op == "conv" else conv_transpose
        return fn(x, w, b, groups=self.groups, **self.ref_kwargs)

    def run(self, **extra):
        """fastconv's result for the case: its function, arrays and arguments,
        with ``extra`` keyword arguments (a method, n_threads)."""
        return FUNCTIONS[self.op, self.ndim](self.x, self.weight, self.bias, **self.kwargs,
                                              **extra)


def _form(rng, values):
    """An int if all dims agree (sometimes), else a tuple."""
    if len(set(values)) == 1 and rng.random() < 0.5:
        return int(values[0])
    return tuple(int(v) for v in values)


def _padding_form(rng, pairs):
    """Express explicit pairs in one of the accepted forms."""
    if all(p0 == p1 for p0, p1 in pairs):
        choice = rng.integers(3)
        if choice == 0:
            return _form(rng, [p[0] for p in pairs])
        if choice == 1 and all(p == (0, 0) for p in pairs):
            return "valid"
    return tuple((int(p0), int(p1)) for p0, p1 in pairs)


def make_case(index):
    rng = np.random.default_rng(20261126 + index)
    op = ("conv", "conv_transpose")[index % 2]
    ndim = 1 + (index // 2) % 3
    dtype = (np.float64, np.float32)[(index // 6) % 2]
    groups = int(rng.choice([1, 1, 2, 3]))
    cin_g, cout_g = rng.integers(1, 4, size=2)
    n = int(rng.integers(1, 3))
    max_size = {1: 14, 2: 9, 3: 6}[ndim]
    while True:
        kernel = rng.integers(1, 4, size=ndim)
        stride = rng.integers(1, 4, size=ndim)
        dilation = rng.integers(1, 3, size=ndim)
        size = rng.integers(1, max_size + 1, size=ndim)
        same = rng.random() < 0.15
        if same:
            if op == "conv":
                pairs = [same_padding(*a) for a in zip(size, kernel, stride, dilation)]
            else:
                pairs = [same_padding(L * s, k, s, d)
                         for L, k, s, d in zip(size, kernel, stride, dilation)]
        elif rng.random() < 0.3:
            pairs = [tuple(rng.integers(0, 3, size=2)) for _ in range(ndim)]
        elif rng.random() < 0.5:
            pairs = [(p, p) for p in rng.integers(0, 3, size=ndim)]
        else:
            pairs = [(int(rng.integers(0, 3)),) * 2] * ndim
        span = dilation * (kernel - 1) + 1
        if op == "conv":
            if all(L + p0 + p1 >= sp for L, (p0, p1), sp in zip(size, pairs, span)):
                break
        else:
            if same:
                out_pad = [L * s - ((L - 1) * s - p0 - p1 + sp)
                           for L, s, (p0, p1), sp in zip(size, stride, pairs, span)]
            elif rng.random() < 0.5:
                out_pad = [int(rng.integers(0, max(s, d)))
                           for s, d in zip(stride, dilation)]
            else:
                out_pad = [0] * ndim
            if all((L - 1) * s - p0 - p1 + sp + op_ >= 1
                   for L, s, (p0, p1), sp, op_ in zip(size, stride, pairs, span, out_pad)):
                break

    c_in, c_out = groups * int(cin_g), groups * int(cout_g)
    x = rng.standard_normal((n, c_in, *size)).astype(dtype)
    if op == "conv":
        weight = rng.standard_normal((c_out, int(cin_g), *kernel)).astype(dtype)
    else:
        weight = rng.standard_normal((c_in, int(cout_g), *kernel)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if rng.random() < 0.5 else None

    padding = "same" if same else _padding_form(rng, pairs)
    kwargs = dict(stride=_form(rng, stride), padding=padding,
                  dilation=_form(rng, dilation), groups=groups)
    ref_kwargs = dict(stride=tuple(int(s) for s in stride), padding=pairs,
                      dilation=tuple(int(d) for d in dilation))
    if op == "conv_transpose":
        ref_kwargs["output_padding"] = tuple(int(v) for v in out_pad)
        if not same and (any(out_pad) or rng.random() < 0.5):
            kwargs["output_padding"] = _form(rng, out_pad)
    sym = all(p0 == p1 for p0, p1 in pairs)
    return Case(index, op, ndim, x, weight, bias, kwargs, ref_kwargs, groups, sym)


CASES = [make_case(i) for i in range(N_CASES)]


def tolerance(dtype):
    """Allowed max |error| relative to the output's scale."""
    return {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}[np.dtype(dtype)]


def assert_close(actual, expected, dtype):
    """Exact for integers; relative to max(|expected|, 1) for floats."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if np.dtype(dtype).kind in "iub":
        np.testing.assert_array_equal(actual, expected)
        return
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0))
    assert err <= tolerance(dtype) * scale, f"max error {err:.3g}, scale {scale:.3g}"

