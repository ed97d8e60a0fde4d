"""Every method against the plain NumPy reference over the seeded sweep."""

import numpy as np
import pytest

from sweep import CASES, assert_close
from tables import methods

PARAMS = [
    pytest.param(case, method, id=f"{case.name}-{case.index}-{method}")
    for case in CASES
    for method in methods(case.op)
]


@pytest.mark.parametrize("case, method", PARAMS)
def test_matches_reference(case, method):
    out = case.run(method=method)
    assert out.dtype == case.x.dtype
    assert_close(out, case.reference(), case.x.dtype)


def test_sweep_covers_every_parameter():
    """The generator really exercises each parameter in each dimensionality."""
    for op in ("conv", "conv_transpose"):
        for ndim in (1, 2, 3):
            cases = [c for c in CASES if c.op == op and c.ndim == ndim]
            assert {c.x.dtype for c in cases} == {np.dtype("float32"), np.dtype("float64")}
            assert any(c.bias is None for c in cases) and any(c.bias is not None for c in cases)
            assert any(c.groups > 1 for c in cases)
            assert any(max(c.ref_kwargs["stride"]) > 1 for c in cases)
            assert any(max(c.ref_kwargs["dilation"]) > 1 for c in cases)
            assert any(c.x.shape[0] > 1 for c in cases)
            paddings = [c.kwargs["padding"] for c in cases]
            assert "same" in paddings
            assert any(isinstance(p, int) and p > 0 for p in paddings)
            assert any(isinstance(p, tuple) and isinstance(p[0], tuple)
                       and any(a != b for a, b in p) for p in paddings)
            if op == "conv_transpose":
                assert any(max(c.ref_kwargs["output_padding"]) > 0
                           and c.kwargs["padding"] != "same" for c in cases)
