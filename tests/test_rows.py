"""Long rows: the vectorised inner kernel and its block sizes.

The sweep's images are small; these cases have output rows of every width
around the vector block sizes (1, 2, 4 and 8 vectors of 4, 8 or 16 values,
for each instruction set's version of the kernel), with padding and
dilation so that each row has border outputs on the scalar path beside its
vectorised run.
"""

import numpy as np
import pytest

from fastconv._methods import supports_integers
from sweep import Case, assert_close
from tables import methods

WIDTHS = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
          255, 256, 257, 300]
DTYPES = [np.float32, np.float64, np.int64]


def make_case(index, op, width, dtype):
    """A 2-D case whose output rows are ``width`` wide, stride 1 along W."""
    rng = np.random.default_rng(7000 + index)
    while True:
        kernel = (int(rng.integers(1, 4)), int(rng.choice([1, 2, 3, 5, 7])))
        dilation = (1, int(rng.integers(1, 3)))
        pad_w = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        span = dilation[1] * (kernel[1] - 1) + 1
        if op == "conv":
            in_w = width - pad_w[0] - pad_w[1] + span - 1
        else:
            in_w = width + pad_w[0] + pad_w[1] - span + 1
        if in_w >= 1:
            break
    pairs = ((1, 0), pad_w)
    groups = int(rng.choice([1, 2]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    if op == "conv":
        shape_w = (c_out, c_in // groups) + kernel
    else:
        shape_w = (c_in, c_out // groups) + kernel
    x = rng.standard_normal((2, c_in, 4, in_w))
    weight = rng.standard_normal(shape_w)
    if np.dtype(dtype).kind == "i":
        x, weight = np.round(4 * x), np.round(4 * weight)
    x, weight = x.astype(dtype), weight.astype(dtype)
    kwargs = dict(stride=1, padding=pairs, dilation=dilation, groups=groups)
    ref_kwargs = dict(stride=(1, 1), padding=pairs, dilation=dilation)
    if op == "conv_transpose":
        ref_kwargs["output_padding"] = (0, 0)
    return Case(index, op, 2, x, weight, None, kwargs, ref_kwargs, groups)


CASES = [make_case(i, op, width, dtype)
         for i, (op, width, dtype) in enumerate(
             (op, width, dtype) for op in ("conv", "conv_transpose")
             for width in WIDTHS for dtype in DTYPES)]


@pytest.mark.parametrize("case, method", [
    pytest.param(case, method, id=f"{case.op}-{case.index}-{case.x.dtype}-{method}")
    for case in CASES for method in methods(case.op)
    if case.x.dtype.kind == "f" or supports_integers(case.op, method)
])
def test_long_rows_match_reference(case, method):
    out = case.run(method=method)
    assert out.dtype == case.x.dtype
    assert_close(out, case.reference(), case.x.dtype)


@pytest.mark.parametrize("case", [c for c in CASES if c.x.dtype.kind == "f"],
                         ids=lambda c: f"{c.op}-{c.index}-{c.x.dtype}")
def test_every_simd_version(case, simd_version):
    """The direct kernels with each instruction set's version, not only the
    one this CPU picks."""
    out = case.run(method="direct")
    assert_close(out, case.reference(), case.x.dtype)


def test_cases_reach_the_widths():
    """The output rows really are as wide as listed, for both operations."""
    for op in ("conv", "conv_transpose"):
        assert {c.reference().shape[-1] for c in CASES if c.op == op} == set(WIDTHS)
