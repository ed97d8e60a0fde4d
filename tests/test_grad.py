"""fastconv.grad: every gradient against PyTorch autograd (float64) and the
plain NumPy reference over the seeded sweep, the adjoint identities, finite
differences, exact integers, both weight-gradient methods and per_sample,
every input-gradient method, shape errors and thread determinism.

The sweep (tests/sweep.py) holds 300 configurations of each operation in
1-3 dims: every padding form ('same', 'valid', ints, per-dim tuples,
asymmetric (before, after) pairs), stride, dilation, groups and
output_padding.  torch pads symmetrically only, so its oracle here runs the
layer with no padding on an explicitly padded input (a convolution), or
crops and extends the uncropped output (a transposed convolution): asymmetric
pairs and 'same' with any stride are then checked against torch too.
"""

import itertools
import math

import numpy as np
import pytest

import fastconv
from fastconv import _methods, _planner, grad
from helpers import random_arrays
from reference import conv as ref_conv, conv_transpose as ref_conv_transpose, same_padding
from sweep import CASES, assert_close
from tables import FUNCTIONS, methods

WEIGHT_METHODS = ("gemm", "direct")


def gradient_functions(op, nd):
    """(input gradient, weight gradient, backward) of an operation."""
    return tuple(getattr(grad, f"{op}{nd}d_{kind}")
                 for kind in ("input", "weight", "backward"))


# --------------------------------------------------------------------------
# the sweep in float64, with its output gradient and explicit geometry
# --------------------------------------------------------------------------

def _layer(case):
    """x, weight, a random output gradient (float64) and the explicit
    geometry of a sweep case: stride, (before, after) pairs, dilation, the
    transposed convolution's output_padding."""
    x, w = case.x.astype(np.float64), case.weight.astype(np.float64)
    shape = FUNCTIONS[case.op, case.ndim](x, w, **case.kwargs).shape
    (g,) = random_arrays(1000 + case.index, shape)
    return x, w, g


def _adjoint_pairs(case, out_spatial):
    """A transposed convolution is the adjoint of the convolution of its
    output (size M) with pairs (p0, full - p0 - M); the after side may be
    negative (output_padding past p1): cells cropped."""
    ref = case.ref_kwargs
    in_spatial = case.x.shape[2:]
    pairs = []
    for L, M, k, s, d, (p0, _) in zip(in_spatial, out_spatial, case.weight.shape[2:],
                                      ref["stride"], ref["dilation"], ref["padding"]):
        full = (L - 1) * s + d * (k - 1) + 1
        pairs.append((p0, full - p0 - M))
    return tuple(pairs)


def _pad_or_crop(a, pairs):
    """Zero padding of the spatial axes by (before, after) pairs; a negative
    amount crops."""
    padded = np.pad(a, ((0, 0), (0, 0)) + tuple((max(p0, 0), max(p1, 0))
                                                 for p0, p1 in pairs))
    return padded[(slice(None), slice(None)) + tuple(
        slice(max(-p0, 0), padded.shape[2 + i] - max(-p1, 0))
        for i, (p0, p1) in enumerate(pairs))]


def _reference_weight_gradient(x, g, kernel, stride, pairs, dilation, groups):
    """dW[o, c, t] = sum over samples and output positions of g[n, o, pos] x
    xpadded[n, c, t * d + pos * s], tap by tap, as reference.conv reads."""
    xp = _pad_or_crop(x, pairs)
    c_in, c_out, out = x.shape[1], g.shape[1], g.shape[2:]
    cin_g, cout_g = c_in // groups, c_out // groups
    dw = np.zeros((c_out, cin_g) + tuple(kernel), dtype=np.result_type(x, g))
    for group, tap in itertools.product(range(groups),
                                        itertools.product(*(range(k) for k in kernel))):
        window = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                       for t, d, o, s in zip(tap, dilation, out, stride))
        patch = xp[(slice(None), slice(group * cin_g, (group + 1) * cin_g)) + window]
        gs = g[:, group * cout_g:(group + 1) * cout_g]
        dw[(slice(group * cout_g, (group + 1) * cout_g), slice(None)) + tap] = np.einsum(
            "ncp,nop->oc", patch.reshape(patch.shape[:2] + (-1,)),
            gs.reshape(gs.shape[:2] + (-1,)))
    return dw


def reference_gradients(case, x, w, g):
    """(input, weight) gradients from tests/reference.py's arithmetic: the
    input gradient of a convolution is reference.conv_transpose of ``g``,
    that of a transposed convolution reference.conv of ``g`` on the adjoint
    pairs; the weight gradient the tap loop above."""
    ref = case.ref_kwargs
    stride, dilation, groups = ref["stride"], ref["dilation"], case.groups
    kernel = w.shape[2:]
    if case.op == "conv":
        pairs = ref["padding"]
        # the output_padding that gives the transposed result the input's size
        extra = tuple(L + p0 + p1 - ((o - 1) * s + d * (k - 1) + 1)
                      for L, (p0, p1), o, s, d, k in zip(x.shape[2:], pairs, g.shape[2:],
                                                         stride, dilation, kernel))
        dx = ref_conv_transpose(g, w, stride=stride, padding=pairs, output_padding=extra,
                                dilation=dilation, groups=groups)
        dw = _reference_weight_gradient(x, g, kernel, stride, pairs, dilation, groups)
    else:
        pairs = _adjoint_pairs(case, g.shape[2:])
        dx = ref_conv(_pad_or_crop(g, pairs), w, stride=stride, dilation=dilation,
                      groups=groups)
        dw = _reference_weight_gradient(g, x, kernel, stride, pairs, dilation, groups)
    return dx, dw


def torch_gradients(case, x, w, g):
    """(input, weight, bias) gradients by torch.autograd of the same layer,
    with a bias, in float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    nd, ref = case.ndim, case.ref_kwargs
    X = torch.tensor(x, requires_grad=True)
    W = torch.tensor(w, requires_grad=True)
    B = torch.zeros(g.shape[1], dtype=torch.float64, requires_grad=True)
    if case.op == "conv":
        padded = F.pad(X, [p for pair in reversed(ref["padding"]) for p in pair])
        fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
        y = fn(padded, W, stride=ref["stride"], dilation=ref["dilation"],
               groups=case.groups)
    else:
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        full = fn(X, W, stride=ref["stride"], dilation=ref["dilation"], groups=case.groups)
        # crop p0 before; after: extend by output_padding, crop p1 (F.pad takes
        # negative amounts, last dim first)
        amounts = [(-p0, op - p1) for (p0, p1), op in zip(ref["padding"],
                                                          ref["output_padding"])]
        y = F.pad(full, [a for pair in reversed(amounts) for a in pair])
    y = y + B.reshape((1, -1) + (1,) * nd)
    assert tuple(y.shape) == g.shape
    return tuple(t.numpy() for t in torch.autograd.grad(y, (X, W, B), torch.from_numpy(g)))


def _call_forms(case, x, g):
    """The shapes and arrays as a caller passes them: unbatched for some
    single-sample cases, input_size as the spatial sizes alone for some."""
    if x.shape[0] == 1 and case.index % 4 == 3:
        x, g = x[0], g[0]
    input_size = x.shape[-case.ndim:] if case.index % 3 == 1 else x.shape
    return x, g, input_size


def _check_case(case, x, w, g, expected_dx, expected_dw, expected_db=None, *,
                every_method):
    """fastconv's gradients of a case, in the call forms of _call_forms,
    against expected ones: the input gradient with every method of the other
    operation (or 'auto'), the weight gradient with both methods."""
    input_fn, weight_fn, backward_fn = gradient_functions(case.op, case.ndim)
    xc, gc, input_size = _call_forms(case, x, g)
    other = "conv_transpose" if case.op == "conv" else "conv"
    for method in methods(other) if every_method else ("auto",):
        dx = input_fn(input_size, w, gc, **case.kwargs, method=method)
        assert dx.dtype == np.float64
        assert_close(dx.reshape(x.shape), expected_dx, np.float64)
    for method in WEIGHT_METHODS:
        dw = weight_fn(xc, list(w.shape), gc, **case.kwargs, method=method)
        assert_close(dw, expected_dw, np.float64)
    if expected_db is not None:
        db = grad.conv_bias(gc, unbatched=xc.ndim == case.ndim + 1)
        assert_close(db, expected_db, np.float64)
        both = backward_fn(xc, w, gc, **case.kwargs)
        assert_close(both.input.reshape(x.shape), expected_dx, np.float64)
        assert_close(both.weight, expected_dw, np.float64)
        assert_close(both.bias, expected_db, np.float64)


SWEEP = [pytest.param(case, id=f"{case.name}-{case.index}") for case in CASES]


@pytest.mark.parametrize("case", SWEEP)
def test_matches_torch_autograd(case):
    """Input (every method), weight (both methods), bias gradients and the
    *_backward call against torch.autograd of the same layer."""
    x, w, g = _layer(case)
    dx, dw, db = torch_gradients(case, x, w, g)
    _check_case(case, x, w, g, dx, dw, db, every_method=True)


@pytest.mark.parametrize("case", SWEEP)
def test_matches_reference(case):
    """Without torch: against tests/reference.py's arithmetic."""
    x, w, g = _layer(case)
    dx, dw = reference_gradients(case, x, w, g)
    _check_case(case, x, w, g, dx, dw, g.sum(axis=(0,) + tuple(range(2, g.ndim))),
                every_method=False)


def test_sweep_has_300_configurations_per_operation():
    for op in ("conv", "conv_transpose"):
        assert sum(case.op == op for case in CASES) >= 300
    # _call_forms passes some of them unbatched
    assert sum(case.x.shape[0] == 1 and case.index % 4 == 3 for case in CASES) >= 30


@pytest.mark.parametrize("case", SWEEP)
def test_adjoint_identities(case):
    """<f(x, w), g> = <x, f_input(g)> = <w, f_weight(x, g)>, f the forward
    function: the gradients are the adjoints of the forward map."""
    x, w, g = _layer(case)
    input_fn, weight_fn, _ = gradient_functions(case.op, case.ndim)
    forward = float(np.vdot(FUNCTIONS[case.op, case.ndim](x, w, **case.kwargs), g))
    through_input = float(np.vdot(x, input_fn(x.shape, w, g, **case.kwargs)))
    through_weight = float(np.vdot(w, weight_fn(x, w.shape, g, **case.kwargs)))
    scale = max(np.abs(x).sum() * np.abs(w).sum() * np.abs(g).max(), 1.0)
    assert abs(through_input - forward) <= 1e-12 * scale
    assert abs(through_weight - forward) <= 1e-12 * scale


# --------------------------------------------------------------------------
# plain matrices and unbatched inputs against torch
# --------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, "same"), (2, "valid")])
def test_plain_matrix(op, stride, padding):
    """A 2-D matrix and a 2-D kernel: the gradients of the classic example,
    shapes (H, W), (kH, kW) and a bias of one channel."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    m, k = random_arrays(3, (7, 6), (3, 2))
    forward = fastconv.conv2d if op == "conv" else fastconv.conv_transpose2d
    input_fn, weight_fn, backward_fn = gradient_functions(op, 2)
    (g,) = random_arrays(4, forward(m, k, stride=stride, padding=padding).shape)
    dx = input_fn(m.shape, k, g, stride=stride, padding=padding)
    dw = weight_fn(m, k.shape, g, stride=stride, padding=padding)
    both = backward_fn(m, k, g, stride=stride, padding=padding)
    assert dx.shape == m.shape and dw.shape == k.shape and both.bias.shape == (1,)
    np.testing.assert_array_equal(both.input, dx)
    np.testing.assert_array_equal(both.weight, dw)
    np.testing.assert_allclose(both.bias, [g.sum()], rtol=1e-12)
    # torch: the same layer on a (1, 1, H, W) batch, 'same' as explicit pairs
    X = torch.tensor(m[None, None], requires_grad=True)
    W = torch.tensor(k[None, None], requires_grad=True)
    if op == "conv":
        geom_pairs = _conv_pairs(m.shape, k.shape, stride, padding)
        y = F.conv2d(F.pad(X, [p for pair in reversed(geom_pairs) for p in pair]), W,
                     stride=stride)
    else:
        full = F.conv_transpose2d(X, W, stride=stride)
        crop = [(p0, full.shape[2 + i] - p0 - g.shape[i])
                for i, p0 in enumerate(_transpose_before(m.shape, k.shape, stride, padding))]
        y = F.pad(full, [-a for pair in reversed(crop) for a in pair])
    tdx, tdw = torch.autograd.grad(y, (X, W), torch.from_numpy(g[None, None]))
    assert_close(dx, tdx.numpy()[0, 0], np.float64)
    assert_close(dw, tdw.numpy()[0, 0], np.float64)


def _conv_pairs(size, kernel, stride, padding):
    if padding == "same":
        return [same_padding(L, k, stride, 1) for L, k in zip(size, kernel)]
    p = 0 if padding == "valid" else padding
    return [(p, p)] * len(size)


def _transpose_before(size, kernel, stride, padding):
    if padding == "same":
        return [p0 for p0, _ in _conv_pairs([L * stride for L in size], kernel, stride,
                                            "same")]
    return [0 if padding == "valid" else padding] * len(size)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_unbatched_matches_batched(op, nd):
    """An unbatched call's gradients are the one-sample batch's, without the
    batch axis; the bias gradient too."""
    input_fn, weight_fn, backward_fn = gradient_functions(op, nd)
    kwargs = dict(stride=2, padding=1, groups=2)
    x, w = random_arrays(5, (4,) + (5,) * nd, (4, 2 if op == "conv" else 3) + (3,) * nd)
    (g,) = random_arrays(6, FUNCTIONS[op, nd](x, w, **kwargs).shape)
    single = backward_fn(x, w, g, **kwargs)
    batch = backward_fn(x[None], w, g[None], **kwargs)
    np.testing.assert_allclose(single.input, batch.input[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(single.weight, batch.weight, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(single.bias, batch.bias, rtol=1e-13)
    np.testing.assert_array_equal(input_fn(x.shape[1:], w, g, **kwargs), single.input)


# --------------------------------------------------------------------------
# finite differences, a nonlinear loss through the layer
# --------------------------------------------------------------------------

FD_LAYERS = [
    ("conv", 1, (2, 2, 9), (4, 1, 3), dict(stride=2, padding=((1, 2),), groups=2)),
    ("conv", 2, (1, 3, 6, 5), (2, 3, 2, 3), dict(padding="same", dilation=(2, 1))),
    ("conv", 3, (2, 1, 4, 3, 4), (2, 1, 2, 2, 1), dict(stride=(1, 2, 1), padding=1)),
    ("conv_transpose", 1, (2, 2, 5), (2, 3, 4), dict(stride=3, padding=1,
                                                   output_padding=2)),
    ("conv_transpose", 2, (1, 4, 3, 4), (4, 1, 3, 2), dict(stride=2, padding="same",
                                                        groups=2)),
    ("conv_transpose", 3, (1, 2, 2, 3, 2), (2, 2, 2, 1, 2),
     dict(stride=(2, 1, 1), dilation=(1, 1, 2), padding=((1, 0), (0, 0), (0, 1)))),
]


@pytest.mark.parametrize("op, nd, x_shape, w_shape, kwargs", FD_LAYERS,
                         ids=[f"{op}{nd}d" for op, nd, *_ in FD_LAYERS])
def test_finite_differences(op, nd, x_shape, w_shape, kwargs):
    """loss = sum(tanh(f(x, w) + b)): every element of the input, weight
    and bias gradients against central differences."""
    forward = FUNCTIONS[op, nd]
    x, w = random_arrays(7, x_shape, w_shape)
    c_out = w.shape[0] if op == "conv" else w.shape[1] * kwargs.get("groups", 1)
    (b,) = random_arrays(8, (c_out,))

    def loss(x, w, b):
        return float(np.tanh(forward(x, w, b, **kwargs)).sum())

    y = forward(x, w, b, **kwargs)
    g = 1 - np.tanh(y) ** 2
    analytic = gradient_functions(op, nd)[2](x, w, g, **kwargs)
    eps = 1e-6
    for index, (array, gradient) in enumerate(zip((x, w, b), analytic)):
        numeric = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            args = [x, w, b]
            plus, minus = array.copy(), array.copy()
            plus[i] += eps
            minus[i] -= eps
            args[index] = plus
            up = loss(*args)
            args[index] = minus
            numeric[i] = (up - loss(*args)) / (2 * eps)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------
# integers
# --------------------------------------------------------------------------

INT_CASES = [case for case in CASES if case.index % 10 == 0]


@pytest.mark.parametrize("case", INT_CASES, ids=[f"{c.name}-{c.index}" for c in INT_CASES])
@pytest.mark.parametrize("weight_method", ["auto", "direct"])
def test_integers_exact(case, weight_method):
    """int64 inputs give int64 gradients equal to the float64 ones on small
    integers (exact there), for every input method that takes integers."""
    rng = np.random.default_rng(case.index)
    x = rng.integers(-9, 10, case.x.shape)
    w = rng.integers(-9, 10, case.weight.shape)
    shape = FUNCTIONS[case.op, case.ndim](x, w, **case.kwargs).shape
    g = rng.integers(-9, 10, shape)
    input_fn, weight_fn, _ = gradient_functions(case.op, case.ndim)
    expected_dx = input_fn(x.shape, w.astype(float), g.astype(float), **case.kwargs)
    expected_dw = weight_fn(x.astype(float), w.shape, g.astype(float), **case.kwargs)
    other = "conv_transpose" if case.op == "conv" else "conv"
    for method in methods(other):
        if not _methods.supports_integers(other, method) and method != "auto":
            continue
        dx = input_fn(x.shape, w, g, **case.kwargs, method=method)
        assert dx.dtype == np.int64
        np.testing.assert_array_equal(dx, expected_dx)
    dw = weight_fn(x, w.shape, g, **case.kwargs, method=weight_method)
    assert dw.dtype == np.int64
    np.testing.assert_array_equal(dw, expected_dw)
    db = grad.conv_bias(g)
    assert db.dtype == np.int64
    np.testing.assert_array_equal(db, g.sum(axis=(0,) + tuple(range(2, g.ndim))))


def _python_dot(a, b):
    """sum(a * b) in Python ints."""
    return sum(int(u) * int(v) for u, v in zip(a.ravel(), b.ravel()))


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_integers_beyond_float64(op):
    """Values whose products pass 2**53, where float64 rounds: the int64
    gradients equal the reference's integer arithmetic, and the adjoint
    identities hold exactly in Python ints."""
    rng = np.random.default_rng(9)
    big = 2**27
    x = rng.integers(big - 50, big, (2, 2, 5, 4))
    w = rng.integers(big - 50, big, (2, 2, 2, 2))
    forward = FUNCTIONS[op, 2]
    y = forward(x, w, stride=2, padding=1)
    g = rng.integers(big - 50, big, y.shape)
    input_fn, weight_fn, _ = gradient_functions(op, 2)
    dx = input_fn(x.shape, w, g, stride=2, padding=1)
    dw = weight_fn(x, w.shape, g, stride=2, padding=1, method="direct")
    assert np.abs(dx).max() > 2**53 and np.abs(dw).max() > 2**53
    case = _Explicit(op, 2, x, w, ((2, 2), ((1, 1),) * 2, (1, 1), (0, 0)))
    expected_dx, expected_dw = reference_gradients(case, x, w, g)
    np.testing.assert_array_equal(dx, expected_dx)
    np.testing.assert_array_equal(dw, expected_dw)
    inner = _python_dot(y, g)
    assert _python_dot(x, dx) == inner and _python_dot(w, dw) == inner


class _Explicit:
    """The parts of a sweep case that reference_gradients reads, for a layer
    given by its explicit geometry (stride, pairs, dilation, output_padding)."""

    def __init__(self, op, nd, x, weight, geometry, groups=1):
        self.op, self.ndim, self.x, self.weight, self.groups = op, nd, x, weight, groups
        stride, padding, dilation, output_padding = geometry
        self.ref_kwargs = dict(stride=stride, padding=padding, dilation=dilation,
                               output_padding=output_padding)


# --------------------------------------------------------------------------
# per_sample
# --------------------------------------------------------------------------

PER_SAMPLE_CASES = [case for case in CASES if case.x.shape[0] > 1 and case.index % 3 == 0]


@pytest.mark.parametrize("case", PER_SAMPLE_CASES,
                         ids=[f"{c.name}-{c.index}" for c in PER_SAMPLE_CASES])
@pytest.mark.parametrize("method", WEIGHT_METHODS)
def test_per_sample(case, method):
    """Shape (N, *weight.shape); sample n's gradient is that of the one-sample
    batch x[n:n+1]; their sum is the batched gradient."""
    x, w, g = _layer(case)
    weight_fn = gradient_functions(case.op, case.ndim)[1]
    per = weight_fn(x, w.shape, g, **case.kwargs, method=method, per_sample=True)
    assert per.shape == (x.shape[0],) + w.shape
    for n in range(x.shape[0]):
        assert_close(per[n], weight_fn(x[n:n + 1], w.shape, g[n:n + 1], **case.kwargs,
                                       method=method), np.float64)
    assert_close(per.sum(axis=0), weight_fn(x, w.shape, g, **case.kwargs, method=method),
                 np.float64)


def test_per_sample_matches_torch_per_sample():
    torch = pytest.importorskip("torch")
    x, w = random_arrays(10, (3, 4, 7, 6), (6, 2, 3, 3))
    kwargs = dict(stride=2, padding=1, groups=2)
    (g,) = random_arrays(11, fastconv.conv2d(x, w, **kwargs).shape)
    per = grad.conv2d_weight(x, w.shape, g, **kwargs, per_sample=True)
    for n in range(3):
        expected = torch.nn.grad.conv2d_weight(torch.from_numpy(x[n:n + 1]), w.shape,
                                               torch.from_numpy(g[n:n + 1]), **kwargs)
        assert_close(per[n], expected.numpy(), np.float64)


def test_per_sample_needs_a_batch():
    x, w = random_arrays(12, (2, 5, 5), (3, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d_weight: per_sample=True needs a batched"):
        grad.conv2d_weight(x, w.shape, np.ones((3, 3, 3)), per_sample=True)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

def _x_w_g():
    x, w = random_arrays(13, (2, 4, 6, 6), (3, 4, 3, 3))
    return x, w, np.ones((2, 3, 4, 4))


@pytest.mark.parametrize("call, words", [
    pytest.param(lambda x, w, g: grad.conv2d_input(x.shape, w, g[:1]),
                 ["conv2d_input", "grad_output", "(2, 3, 4, 4)", "(1, 3, 4, 4)"],
                 id="grad_output-batch"),
    pytest.param(lambda x, w, g: grad.conv2d_weight(x, w.shape, g[..., :3]),
                 ["conv2d_weight", "grad_output", "(2, 3, 4, 4)"], id="grad_output-spatial"),
    pytest.param(lambda x, w, g: grad.conv2d_backward(x, w, g[:, :2]),
                 ["conv2d_backward", "(2, 3, 4, 4)"], id="backward-grad_output"),
    pytest.param(lambda x, w, g: grad.conv2d_backward(x, w, g[:, :2], need=("weight",)),
                 ["conv2d_backward", "(2, 3, 4, 4)"], id="backward-weight-grad_output"),
    pytest.param(lambda x, w, g: grad.conv2d_input((2, 4, 7, 7), w, g),
                 ["conv2d_input", "grad_output", "(2, 3, 5, 5)"], id="input_size-spatial"),
    pytest.param(lambda x, w, g: grad.conv2d_input((4, 6, 6, 1, 1, 1), w, g),
                 ["conv2d_input", "input_size must be (N, C_in, H, W)"],
                 id="input_size-length"),
    pytest.param(lambda x, w, g: grad.conv2d_input((2, 5, 6, 6), w, g),
                 ["conv2d_input", "4 (weight.shape[1] * groups)"], id="input_size-channels"),
    pytest.param(lambda x, w, g: grad.conv2d_weight(x, (3, 4, 3), g),
                 ["conv2d_weight", "weight_size must be the weight's whole shape"],
                 id="weight_size-length"),
    pytest.param(lambda x, w, g: grad.conv2d_weight(x, (3, 4, 2, 2), g),
                 ["conv2d_weight", "grad_output", "(2, 3, 5, 5)"], id="weight_size-kernel"),
    pytest.param(lambda x, w, g: grad.conv_transpose2d_input((2, 4, 4, 4), w.swapaxes(0, 1), g),
                 ["conv_transpose2d_input", "(2, 3, 6, 6)"], id="transpose-grad_output"),
    pytest.param(lambda x, w, g: grad.conv_transpose3d_weight(g, (3, 4, 3, 3), x),
                 ["conv_transpose3d_weight", "weight_size"], id="transpose-weight_size"),
    pytest.param(lambda x, w, g: grad.conv2d_backward(x, w, g, need=("inputs",)),
                 ["conv2d_backward", "need"], id="need"),
    pytest.param(lambda x, w, g: grad.conv2d_backward(x, w, g, need="input"),
                 ["conv2d_backward", "need"], id="need-string"),
])
def test_bad_shapes_raise_value_error(call, words):
    with pytest.raises(ValueError) as error:
        call(*_x_w_g())
    for word in words:
        assert word in str(error.value), (word, str(error.value))


def test_sizes_must_be_tuples():
    x, w, g = _x_w_g()
    with pytest.raises(TypeError, match="conv2d_input: input_size must be a tuple"):
        grad.conv2d_input(x, w, g)
    with pytest.raises(TypeError, match="conv2d_weight: weight_size must be a tuple"):
        grad.conv2d_weight(x, 3, g)


def test_weight_method_gemm_refuses_integers():
    x, w, g = _x_w_g()
    with pytest.raises((TypeError, ValueError), match="conv2d_weight"):
        grad.conv2d_weight(x.astype(np.int64), w.shape, g.astype(np.int64), method="gemm")
    with pytest.raises(ValueError, match="conv2d_weight"):
        grad.conv2d_weight(x, w.shape, g, method="sparse")


def test_conv_bias_needs_a_channel_axis():
    with pytest.raises(ValueError, match="conv_bias"):
        grad.conv_bias(np.ones(()), unbatched=True)
    with pytest.raises(ValueError, match="conv_bias"):
        grad.conv_bias(np.ones(3))


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_direct_is_deterministic_across_threads(op, per_sample):
    """'direct' gives bit-identical weight (and input) gradients for any
    thread count, on a problem big enough to run in parallel."""
    x, w = random_arrays(14, (4, 8, 24, 24), (8, 4, 3, 3))
    kwargs = dict(padding=2, dilation=2, groups=2)
    (g,) = random_arrays(15, FUNCTIONS[op, 2](x, w, **kwargs).shape)
    input_fn, weight_fn, _ = gradient_functions(op, 2)
    weights = [weight_fn(x, w.shape, g, **kwargs, method="direct", n_threads=n,
                         per_sample=per_sample) for n in (1, 2, 3)]
    inputs = [input_fn(x.shape, w, g, **kwargs, method="direct", n_threads=n)
              for n in (1, 2, 3)]
    for other in weights[1:]:
        np.testing.assert_array_equal(other, weights[0])
    for other in inputs[1:]:
        np.testing.assert_array_equal(other, inputs[0])
    # the problem does run on 2 threads
    conv_in, conv_grad = (x, g) if op == "conv" else (g, x)
    plan = _planner.weight_gradient_plan(conv_in, conv_grad, _geometry(op, x, w, kwargs),
                                         2, "direct", 2, per_sample)
    assert plan.n_threads == 2


def _geometry(op, x, w, kwargs):
    from fastconv._geometry import conv_geometry, conv_transpose_geometry
    if op == "conv":
        return conv_geometry(x.shape[2:], w.shape[2:], padding=kwargs["padding"],
                             dilation=kwargs["dilation"])
    return conv_transpose_geometry(x.shape[2:], w.shape[2:], padding=kwargs["padding"],
                                   dilation=kwargs["dilation"])


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
def test_weight_gradient_shifted_path_equals_columns(transposed, per_sample, monkeypatch):
    """gemm's two weight-gradient paths (one GEMM per kernel row on the
    phase blocks shifted by each W tap, and columns x GEMM) agree with the
    reference on strided, dilated, grouped, padded geometries, several
    samples per tile or one."""
    from fastconv import _planner
    rng = np.random.default_rng(77 + transposed + 2 * per_sample)
    op = "conv_transpose" if transposed else "conv"
    paths = []
    plan_of = _planner.weight_gradient_plan

    def recording(*args, **kwargs):
        paths.append(plan_of(*args, **kwargs).path)
        return plan_of(*args, **kwargs)

    monkeypatch.setattr(_planner, "weight_gradient_plan", recording)
    for _ in range(12):
        nd = int(rng.integers(1, 4))
        groups = int(rng.choice([1, 2]))
        kernel = tuple(int(k) for k in rng.integers(1, 4, nd))
        stride = tuple(int(s) for s in rng.integers(1, 3, nd))
        dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
        x = rng.standard_normal((3, 2 * groups) + tuple(int(n) for n in rng.integers(6, 9, nd)))
        kwargs = dict(stride=stride, padding=1, dilation=dilation, groups=groups)
        w_shape = ((3 * groups, 2) if not transposed else (2 * groups, 3)) + kernel
        forward = getattr(fastconv, f"{op}{nd}d")
        g = rng.standard_normal(forward(x, np.ones(w_shape), **kwargs).shape)
        weight_grad = getattr(fastconv.grad, f"{op}{nd}d_weight")
        results = {}
        for forced in ("shifted_rows", "im2col"):
            with monkeypatch.context() as m:
                if forced == "shifted_rows":
                    m.setitem(_planner.THRESHOLDS, "shifted_min_channels", 1)
                    m.setitem(_planner.THRESHOLDS, "shifted_max_widening", float("inf"))
                else:
                    m.setitem(_planner.THRESHOLDS, "shifted_min_channels", 10**9)
                results[forced] = weight_grad(x, w_shape, g, method="gemm",
                                              per_sample=per_sample, **kwargs)
            assert paths[-1] == forced
        direct = weight_grad(x, w_shape, g, method="direct", per_sample=per_sample, **kwargs)
        np.testing.assert_allclose(results["shifted_rows"], direct, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(results["im2col"], direct, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("layer", [
    # conv: a kernel covering the whole input, one output position
    ("conv", (5, 4, 3, 4), (6, 2, 3, 4), dict(groups=2)),
    ("conv", (3, 3, 7), (4, 3, 7), {}),
    ("conv", (2, 2, 2, 3, 2), (3, 2, 2, 3, 2), dict(stride=2)),
    # transposed: a 1x1 input (dcgan's first layer), samples x positions one GEMM
    ("conv_transpose", (7, 6, 1, 1), (6, 4, 4, 4), dict(groups=3)),
    ("conv_transpose", (4, 5, 1), (5, 3, 6), dict(stride=3)),
], ids=lambda v: str(v[0]) + str(v[1]) if isinstance(v, tuple) else None)
def test_weight_gradient_whole_input_path(layer, per_sample, dtype, monkeypatch):
    """A weight gradient with one output position (of the convolution it
    reads) is one GEMM per group over the samples (path 'whole_input'),
    equal to the direct method's and, summed, to torch's."""
    op, x_shape, w_shape, kwargs = layer
    rng = np.random.default_rng(len(x_shape) + 10 * per_sample)
    x = rng.standard_normal(x_shape).astype(dtype)
    nd = len(x_shape) - 2
    forward = getattr(fastconv, f"{op}{nd}d")
    g = rng.standard_normal(forward(x, np.ones(w_shape, dtype), **kwargs).shape).astype(dtype)
    paths = _recorded_weight_paths(monkeypatch)
    weight_fn = getattr(grad, f"{op}{nd}d_weight")
    dw = weight_fn(x, w_shape, g, **kwargs, per_sample=per_sample)
    assert paths == ["whole_input"]
    assert dw.dtype == dtype
    assert dw.shape == ((x_shape[0],) if per_sample else ()) + w_shape
    direct = weight_fn(x.astype(np.float64), w_shape, g.astype(np.float64), **kwargs,
                       method="direct", per_sample=per_sample)
    tolerance = {np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(dw, direct, rtol=tolerance, atol=tolerance)
    torch = pytest.importorskip("torch")
    X = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    W = torch.zeros(w_shape, dtype=torch.float64, requires_grad=True)
    y = getattr(torch.nn.functional, f"{op}{nd}d")(X, W, **kwargs)
    (expected,) = torch.autograd.grad(y, W, torch.from_numpy(g.astype(np.float64)))
    summed = dw.sum(axis=0) if per_sample else dw
    np.testing.assert_allclose(summed, expected.numpy(), rtol=tolerance, atol=tolerance)


def _recorded_weight_paths(monkeypatch):
    """The list the paths of the weight-gradient plans made from now on go to."""
    paths = []
    plan_of = _planner.weight_gradient_plan

    def recording(*args, **kwargs):
        made = plan_of(*args, **kwargs)
        paths.append(made.path)
        return made

    monkeypatch.setattr(_planner, "weight_gradient_plan", recording)
    return paths


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer", [
    ("conv", (3, 32, 20, 18), (8, 16, 3, 3), dict(padding=1, groups=2)),
    ("conv", (2, 16, 25, 21), (12, 16, 3, 2), dict(stride=2, dilation=(1, 2))),
    ("conv", (2, 8, 12, 15, 14), (4, 8, 3, 2, 3), dict(padding=(1, 0, 2), stride=(1, 2, 1))),
    ("conv_transpose", (2, 12, 5, 6), (12, 16, 2, 2), dict(stride=2)),
    ("conv_transpose", (2, 24, 8, 7), (24, 8, 4, 4), dict(stride=2, padding=1, groups=2)),
], ids=lambda v: str(v[0]) + str(v[1]) if isinstance(v, tuple) else None)
def test_weight_gradient_shifted_rows_path(layer, dtype, monkeypatch):
    """Layers with 8 or more input channels per group (of the convolution the
    gradient reads) take the kernel-row path under 'auto', and match the
    direct method in float64, per sample too (the channel-blocked path,
    which 'auto' would take for some, turned off)."""
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_work", math.inf)
    op, x_shape, w_shape, kwargs = layer
    rng = np.random.default_rng(len(x_shape))
    nd = len(x_shape) - 2
    x = rng.standard_normal(x_shape).astype(dtype)
    forward = getattr(fastconv, f"{op}{nd}d")
    g = rng.standard_normal(forward(x, np.ones(w_shape, dtype), **kwargs).shape).astype(dtype)
    paths = _recorded_weight_paths(monkeypatch)
    weight_fn = getattr(grad, f"{op}{nd}d_weight")
    dw = weight_fn(x, w_shape, g, **kwargs)
    per = weight_fn(x, w_shape, g, **kwargs, per_sample=True)
    assert paths == ["shifted_rows", "shifted_rows"]
    assert dw.dtype == dtype and per.shape == (x_shape[0],) + w_shape
    tolerance = {np.float32: 1e-4, np.float64: 1e-11}[dtype]
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    np.testing.assert_allclose(dw, weight_fn(x64, w_shape, g64, **kwargs, method="direct"),
                               rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(per, weight_fn(x64, w_shape, g64, **kwargs, method="direct",
                                              per_sample=True), rtol=tolerance, atol=tolerance)


def test_weight_gradient_rows_path_up_to_its_channel_limit(monkeypatch):
    """The kernel-row path runs up to weight_rows_max_channels input channels
    per group, columns x GEMM beyond; both give the direct method's result
    (the channel-blocked path turned off)."""
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_work", math.inf)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 64, 20, 20))
    g = rng.standard_normal((2, 8, 20, 20))
    paths = _recorded_weight_paths(monkeypatch)
    results = []
    for limit in (64, 63):
        monkeypatch.setitem(_planner.THRESHOLDS, "weight_rows_max_channels", limit)
        results.append(grad.conv2d_weight(x, (8, 64, 3, 3), g, padding=1))
    assert paths == ["shifted_rows", "im2col"]
    direct = grad.conv2d_weight(x, (8, 64, 3, 3), g, padding=1, method="direct")
    for dw in results:
        np.testing.assert_allclose(dw, direct, rtol=1e-11, atol=1e-11)


# --------------------------------------------------------------------------
# the weight gradient's channel-blocked path
# --------------------------------------------------------------------------

#: (op, x shape, weight shape, arguments): 1-, 2- and 3-D, strides,
#: dilation, padding, groups, transposed layers; each with at least 4 output
#: channels per group and 6 (input channel, tap) pairs of the convolution
#: the gradient reads.
CHANNEL_LAYERS = [
    ("conv", (3, 8, 19, 17), (8, 8, 3, 3), dict(padding=1)),
    ("conv", (2, 6, 21, 20), (12, 3, 3, 2),
     dict(stride=2, dilation=(1, 2), padding=(2, 1), groups=2)),
    ("conv", (2, 5, 40), (5, 5, 5), dict(stride=3, padding=2)),
    ("conv", (2, 4, 7, 9, 8), (8, 4, 3, 2, 3), dict(padding=(1, 0, 1), stride=(1, 2, 1))),
    ("conv_transpose", (2, 8, 9, 8), (8, 4, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose", (2, 8, 7, 6), (8, 4, 2, 3),
     dict(stride=(2, 1), output_padding=(1, 0), groups=2, dilation=(1, 2))),
    # the output gradient read in place: its positions are the grid's, 16 a plane
    ("conv_transpose", (3, 8, 4, 4), (8, 4, 2, 2), dict(stride=2)),
]
CHANNEL_IDS = [f"{op}{len(x) - 2}d-{i}" for i, (op, x, _, _) in enumerate(CHANNEL_LAYERS)]


def _channel_layer(layer, dtype, seed):
    """x, its output gradient and torch's weight gradient (float64, None
    without torch) of a layer of CHANNEL_LAYERS."""
    op, x_shape, w_shape, kwargs = layer
    nd = len(x_shape) - 2
    (x,) = random_arrays(seed, x_shape)
    y = FUNCTIONS[op, nd](x, np.ones(w_shape), **kwargs)
    (g,) = random_arrays(seed + 1, y.shape)
    expected = None
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        X = torch.from_numpy(x)
        W = torch.zeros(w_shape, dtype=torch.float64, requires_grad=True)
        out = getattr(torch.nn.functional, f"{op}{nd}d")(X, W, **kwargs)
        (dw,) = torch.autograd.grad(out, W, torch.from_numpy(g))
        expected = dw.numpy()
    return x.astype(dtype), g.astype(dtype), expected


def _numpy_weight_gradient(layer, x, g):
    """The weight gradient from _reference_weight_gradient's tap loop, in
    float64: a convolution's reads x on its padding, a transposed
    convolution's reads the output gradient on the adjoint's padding."""
    op, _, w_shape, kwargs = layer
    nd = len(w_shape) - 2

    def per_dim(name, default):
        value = kwargs.get(name, default)
        return (value,) * nd if isinstance(value, int) else tuple(value)

    stride, dilation = per_dim("stride", 1), per_dim("dilation", 1)
    padding, groups = per_dim("padding", 0), kwargs.get("groups", 1)
    x, g = x.astype(np.float64), g.astype(np.float64)
    if op == "conv":
        pairs = tuple((p, p) for p in padding)
        return _reference_weight_gradient(x, g, w_shape[2:], stride, pairs, dilation, groups)
    # the transposed convolution's weight gradient is that of the convolution
    # of its output gradient, whose output is x: pairs (p0, full - p0 - M)
    pairs = tuple((p, (L - 1) * s + d * (k - 1) + 1 - p - M)
                  for p, L, s, d, k, M in zip(padding, x.shape[2:], stride, dilation,
                                              w_shape[2:], g.shape[2:]))
    return _reference_weight_gradient(g, x, w_shape[2:], stride, pairs, dilation, groups)


@pytest.fixture
def channels_always(monkeypatch):
    """'auto' takes the weight gradient's channel-blocked path wherever it
    applies, however small the call."""
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_work", 0)
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_positions", 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer", CHANNEL_LAYERS, ids=CHANNEL_IDS)
def test_weight_gradient_channels_path(layer, dtype, simd_version, channels_always,
                                       monkeypatch):
    """Under 'auto', the channel-blocked path, summed and per sample, with
    every SIMD version: equal to the NumPy tap loop and to torch."""
    op, x_shape, w_shape, kwargs = layer
    x, g, expected = _channel_layer(layer, dtype, 40)
    paths = _recorded_weight_paths(monkeypatch)
    weight_fn = getattr(grad, f"{op}{len(x_shape) - 2}d_weight")
    dw = weight_fn(x, w_shape, g, **kwargs, n_threads=2)
    per = weight_fn(x, w_shape, g, **kwargs, per_sample=True, n_threads=2)
    assert paths == ["channels", "channels"]
    assert dw.dtype == dtype and per.dtype == dtype
    assert dw.shape == w_shape and per.shape == (x_shape[0],) + w_shape
    reference = _numpy_weight_gradient(layer, x, g)
    per_reference = np.stack([_numpy_weight_gradient(layer, x[n:n + 1], g[n:n + 1])
                              for n in range(x_shape[0])])
    tolerance = {np.float32: 1e-4, np.float64: 1e-11}[dtype]
    np.testing.assert_allclose(dw, reference, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(per, per_reference, rtol=tolerance, atol=tolerance)
    if expected is not None:
        np.testing.assert_allclose(dw, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("layer", [CHANNEL_LAYERS[1], CHANNEL_LAYERS[5]],
                         ids=[CHANNEL_IDS[1], CHANNEL_IDS[5]])
def test_weight_gradient_channels_path_same_for_any_thread_count(layer, per_sample,
                                                                 channels_always,
                                                                 monkeypatch):
    """1, 2 and 3 threads give bit-identical channel-blocked results, one
    sample or several summed in registers at a time."""
    op, x_shape, w_shape, kwargs = layer
    x, g, _ = _channel_layer(layer, np.float32, 41)
    weight_fn = getattr(grad, f"{op}{len(x_shape) - 2}d_weight")
    plans = []
    plan_of = _planner.weight_gradient_plan
    monkeypatch.setattr(_planner, "weight_gradient_plan",
                        lambda *a: plans.append(plan_of(*a)) or plans[-1])
    for block_bytes in (1, 2**30):   # a sample at a time, or all together
        monkeypatch.setitem(_planner.THRESHOLDS, "weight_block_bytes", block_bytes)
        results = [weight_fn(x, w_shape, g, **kwargs, n_threads=n, per_sample=per_sample)
                   for n in (1, 2, 3)]
        for other in results[1:]:
            np.testing.assert_array_equal(other, results[0])
    assert [(p.path, p.n_threads) for p in plans] == [("channels", n) for n in (1, 2, 3)] * 2
    assert [p.tile[0] for p in plans] == [1] * 3 + [1 if per_sample else x_shape[0]] * 3


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_weight_gradient_channels_path_non_finite_input(value, channels_always):
    """An inf or NaN in the input, where the channel-blocked grid's positions
    without output read it too, gives the tap loop's result (inf where it
    has inf, NaN where it has NaN): such a call runs on the row kernel."""
    layer = CHANNEL_LAYERS[0]
    x, g, _ = _channel_layer(layer, np.float64, 42)
    x[1, 3, 5, -1] = value   # the last column: read by the grid's padding positions
    dw = grad.conv2d_weight(x, layer[2], g, **layer[3])
    expected = _numpy_weight_gradient(layer, x, g)
    assert not np.isfinite(expected).all()
    np.testing.assert_allclose(dw, expected, rtol=1e-11, atol=1e-11)   # inf, NaN: equal


def test_weight_gradient_auto_takes_channels_path_from_its_thresholds(monkeypatch):
    """'auto': the channel-blocked path for a call of weight_channels_min_work
    multiply-adds with weight_channels_min_positions output positions per
    block of samples and, split into stride phases, at most
    weight_channels_max_split_channels input channels per group; gemm
    otherwise; 'direct' takes it for floats regardless, the exact row
    kernel for integers."""
    paths = _recorded_weight_paths(monkeypatch)
    x, g = random_arrays(43, (2, 16, 32, 32), (2, 16, 32, 32))
    work = 2 * 16 * 16 * 9 * 32 * 32
    grad.conv2d_weight(x, (16, 16, 3, 3), g, padding=1)
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_work", work + 1)
    grad.conv2d_weight(x, (16, 16, 3, 3), g, padding=1)
    grad.conv2d_weight(x, (16, 16, 3, 3), g, padding=1, method="direct")
    grad.conv2d_weight(x.astype(np.int64), (16, 16, 3, 3), g.astype(np.int64), padding=1)
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_work", work)
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_positions", 2 * 32 * 32 + 1)
    grad.conv2d_weight(x, (16, 16, 3, 3), g, padding=1)
    # split into stride phases: up to weight_channels_max_split_channels
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_positions", 0)
    monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_min_work", 0)
    (g2,) = random_arrays(44, (2, 16, 16, 16))
    for limit in (16, 15):
        monkeypatch.setitem(_planner.THRESHOLDS, "weight_channels_max_split_channels", limit)
        grad.conv2d_weight(x, (16, 16, 3, 3), g2, stride=2, padding=1)
    assert paths == ["channels", "shifted_rows", "channels", "rows", "shifted_rows",
                     "channels", "shifted_rows"]


def test_weight_gradient_channels_path_reads_whole_vector_planes_in_place(channels_always,
                                                                          spy):
    """Where the grid's positions are the output gradient's own and its
    planes whole vectors, the channel-blocked pass reads it in place (no
    gridded copy) and still matches the tap loop; elsewhere it copies."""
    from fastconv import _direct_channels
    calls = spy(_direct_channels, "weight_pass", record=lambda *a: a[4] is None)
    for layer in (CHANNEL_LAYERS[-1], CHANNEL_LAYERS[-2]):
        x, g, _ = _channel_layer(layer, np.float64, 44)
        dw = grad.conv_transpose2d_weight(x, layer[2], g, **layer[3])
        np.testing.assert_allclose(dw, _numpy_weight_gradient(layer, x, g), rtol=1e-11,
                                   atol=1e-11)
    assert calls == [True, False]
