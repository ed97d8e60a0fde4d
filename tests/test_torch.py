"""Cross-check against torch.nn.functional, when torch is installed (an
optional test oracle; fastconv never imports it)."""

import numpy as np
import pytest

import fastconv
from sweep import CASES, assert_close
from tables import methods

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_result(case):
    x = torch.from_numpy(case.x.astype(np.float64))
    w = torch.from_numpy(case.weight.astype(np.float64))
    b = None if case.bias is None else torch.from_numpy(case.bias.astype(np.float64))
    pairs = case.ref_kwargs["padding"]
    stride, dilation = case.ref_kwargs["stride"], case.ref_kwargs["dilation"]
    if case.op == "conv":
        # torch pads symmetrically; asymmetric pairs go through F.pad (last dim first)
        flat = [p for pair in reversed(pairs) for p in pair]
        x = F.pad(x, flat)
        fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[case.ndim]
        out = fn(x, w, b, stride=stride, padding=0, dilation=dilation, groups=case.groups)
    else:
        fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[case.ndim]
        out = fn(x, w, b, stride=stride, padding=tuple(p[0] for p in pairs),
                 output_padding=case.ref_kwargs["output_padding"],
                 groups=case.groups, dilation=dilation)
    return out.numpy()


TORCH_CASES = [c for c in CASES if c.op == "conv" or c.sym_padding]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[f"{c.name}-{c.index}" for c in TORCH_CASES])
def test_every_method_matches_torch(case):
    expected = torch_result(case)
    for method in methods(case.op):
        out = case.run(method=method)
        assert_close(out, expected, case.x.dtype)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_torch_same_padding_agrees_for_stride_one():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 4, 3))
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same",
                        dilation=(1, 2)).numpy()
    assert_close(fastconv.conv2d(x, w, padding="same", dilation=(1, 2)), expected, np.float64)
