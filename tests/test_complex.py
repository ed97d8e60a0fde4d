"""Complex arrays: every method of both operations against four real
convolutions (and PyTorch's complex convolution when installed), the
convolution matrix and operator (whose adjoint is the conjugate transpose,
so lsqr solves complex problems), and the gradients."""

import numpy as np
import pytest
from scipy.sparse.linalg import lsqr

import fastconv
from fastconv import grad

try:
    import torch
except ImportError:
    torch = None


def _complex(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def _four_real(fn, x, w, **kwargs):
    """The complex result from four real calls: (a + ib)(c + id)."""
    a, b, c, d = x.real, x.imag, w.real, w.imag
    return (fn(a, c, **kwargs) - fn(b, d, **kwargs)) + 1j * (fn(a, d, **kwargs)
                                                            + fn(b, c, **kwargs))


CASES = [  # (nd, transposed, x shape, weight shape, kwargs)
    (1, False, (2, 4, 11), (6, 2, 3), dict(stride=2, padding=1, groups=2)),
    (2, False, (2, 3, 8, 9), (4, 3, 3, 2), dict(padding="same", dilation=(1, 2))),
    (3, False, (1, 2, 5, 6, 4), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=1)),
    (1, True, (2, 4, 6), (4, 3, 4), dict(stride=2, padding=1, output_padding=1)),
    (2, True, (2, 4, 5, 4), (4, 2, 3, 3), dict(stride=2, padding=1, groups=2)),
    (3, True, (1, 2, 3, 4, 3), (2, 3, 2, 2, 3), dict(stride=(2, 1, 2))),
]


@pytest.mark.parametrize("dtype, rtol", [(np.complex128, 1e-12), (np.complex64, 1e-5)])
@pytest.mark.parametrize("nd, transposed, x_shape, w_shape, kwargs", CASES)
def test_every_method_is_four_real_convolutions(nd, transposed, x_shape, w_shape, kwargs,
                                                dtype, rtol):
    rng = np.random.default_rng(nd + 3 * transposed)
    x, w = _complex(rng, x_shape, dtype), _complex(rng, w_shape, dtype)
    fn = getattr(fastconv, f"conv{'_transpose' if transposed else ''}{nd}d")
    expected = _four_real(fn, x.astype(np.complex128), w.astype(np.complex128), **kwargs)
    methods = fastconv.CONV_TRANSPOSE_METHODS if transposed else fastconv.CONV_METHODS
    for method in methods:
        out = fn(x, w, method=method, **kwargs)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * 10)
    # complex x real mixes promote as NumPy does, and use the same path
    real_w = w.real.astype(np.float32)
    out = fn(x, real_w, **kwargs)
    assert out.dtype == np.result_type(x.dtype, np.float32)
    np.testing.assert_allclose(out, _four_real(fn, x.astype(np.complex128),
                                               real_w.astype(np.complex128), **kwargs),
                               rtol=rtol, atol=rtol * 10)
    out = fn(x.real.astype(np.int64), w, **kwargs)
    assert out.dtype == np.result_type(np.int64, w.dtype)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("nd, transposed, x_shape, w_shape, kwargs", CASES)
def test_matches_torch_complex(nd, transposed, x_shape, w_shape, kwargs):
    rng = np.random.default_rng(20 + nd)
    x, w = _complex(rng, x_shape), _complex(rng, w_shape)
    name = f"conv{'_transpose' if transposed else ''}{nd}d"
    expected = getattr(torch.nn.functional, name)(torch.from_numpy(x), torch.from_numpy(w),
                                                  **kwargs).numpy()
    np.testing.assert_allclose(getattr(fastconv, name)(x, w, **kwargs), expected,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_operator_is_conjugate_transposed_and_lsqr_solves(mode):
    rng = np.random.default_rng(5)
    w = _complex(rng, (3, 3))
    w[1, 1] += 4   # well conditioned
    x = _complex(rng, (10, 10))
    A = fastconv.conv_operator(w, (10, 10), padding=1, padding_mode=mode)
    C = fastconv.convolution_matrix(w, (10, 10), padding=1, padding_mode=mode)
    assert A.dtype == np.complex128 and C.dtype == np.complex128
    y = A.matvec(x.ravel())
    np.testing.assert_allclose(y, C @ x.ravel(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A.rmatvec(y), C.conj().T @ y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.vdot(A.matvec(x.ravel()), y),
                               np.vdot(x.ravel(), A.rmatvec(y)), rtol=1e-12)
    recovered = lsqr(A, y, atol=1e-13, btol=1e-13)[0]
    np.testing.assert_allclose(recovered, x.ravel(), atol=1e-8)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("nd, transposed, x_shape, w_shape, kwargs", CASES)
def test_gradients_match_torch_autograd(nd, transposed, x_shape, w_shape, kwargs):
    """PyTorch's convention: the gradients with respect to the conjugates."""
    rng = np.random.default_rng(40 + nd)
    x, w = _complex(rng, x_shape), _complex(rng, w_shape)
    name = f"conv{'_transpose' if transposed else ''}{nd}d"
    X = torch.from_numpy(x).requires_grad_()
    W = torch.from_numpy(w).requires_grad_()
    Y = getattr(torch.nn.functional, name)(X, W, **kwargs)
    g = _complex(rng, tuple(Y.shape))
    gx, gw = torch.autograd.grad(Y, (X, W), torch.from_numpy(g))
    result = getattr(grad, f"{name}_backward")(x, w, g, **kwargs)
    np.testing.assert_allclose(result.input, gx.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.weight, gw.numpy(), rtol=1e-12, atol=1e-12)


def test_unsupported_complex_is_refused():
    with pytest.raises(TypeError, match="complex256|clongdouble|not supported"):
        fastconv.conv1d(np.ones((1, 1, 4), dtype=np.clongdouble), np.ones((1, 1, 2)))
