"""The benchmark problems and contenders, shared by ``fastconv bench`` and bench/.

A *problem* is one float32 1-D, 2-D or 3-D convolution or transposed
convolution.  A *contender* is one way to compute it: every method
registered in fastconv (read from the registry when asked, so new methods
join by themselves), then the peers that are installed:
``torch.nn.functional``, ONNX Runtime (a one-node model), JAX
(``jax.lax.conv_general_dilated`` under ``jax.jit``) and, for
single-channel, unit-stride convolutions with no padding or 'same'
padding, ``scipy.signal.correlate2d``, ``scipy.ndimage.correlate`` and
OpenCV's ``cv2.filter2D``.

This module knows what to run and whether it fits; the timing is the
caller's: pytest-benchmark's in bench/, :func:`best_time` in the command.
A peer is imported when first needed, so importing this module costs
nothing for a command that never benchmarks.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from . import _api, _methods
from ._geometry import conv_output_shape, conv_transpose_output_shape
from ._matrix import DENSE_LIMIT, SPARSE_LIMIT

CONV = _methods.CONV
CONV_TRANSPOSE = _methods.CONV_TRANSPOSE

#: Contenders other than fastconv's methods (the peers).
TORCH = "torch"
SCIPY = "scipy.correlate2d"
ONNXRUNTIME = "onnxruntime"
JAX = "jax"
OPENCV = "cv2.filter2D"
NDIMAGE = "scipy.ndimage"
#: Every peer, in the order they are listed, with the module each needs.
PEERS = {TORCH: "torch", ONNXRUNTIME: "onnxruntime", JAX: "jax", SCIPY: "scipy",
         NDIMAGE: "scipy", OPENCV: "cv2"}
#: Peers that compute only single-channel, unit-stride convolutions with no
#: padding or 'same' padding (see :func:`_same_or_valid`).
SINGLE_CHANNEL_PEERS = (SCIPY, NDIMAGE, OPENCV)

#: Methods that build the convolution as a matrix, and so are run only
#: where that matrix fits (see :func:`skip_reason`).
DENSE, SPARSE = "dense", "sparse"

#: Bytes per stored nonzero while a sparse matrix is built: a value and two
#: int64 indices (COO), the largest form the construction goes through.
SPARSE_BYTES_PER_NONZERO = 4 + 8 + 8
#: Matrix budget of the quick runs (``fastconv bench``, the bench/ smoke
#: test): building bigger matrices is for the timed bench/ runs.
QUICK_MATRIX_BYTES = 256 << 20


@dataclass(frozen=True)
class Problem:
    """One float32 (transposed) convolution of square (cubic) images and kernels.

    Attributes
    ----------
    operation : {'conv', 'conv_transpose'}
    batch : int
        Images per call, N.
    c_in, c_out : int
        Input and output channels.
    input_side : int
        The input is ``input_side`` long on each of its ``dims`` axes.
    kernel_side : int
        The kernel is ``kernel_side`` long on each axis.
    stride, padding, output_padding : int
        As for :func:`fastconv.conv2d` / :func:`fastconv.conv_transpose2d`.
    dims : {1, 2, 3}
        Spatial dimensions: ``conv1d``, ``conv2d`` or ``conv3d``.
    groups : int
        As for :func:`fastconv.conv2d`: ``c_in`` for a depthwise layer.
    """

    operation: str
    batch: int
    c_in: int
    c_out: int
    input_side: int
    kernel_side: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    dims: int = 2
    groups: int = 1

    @property
    def output_side(self) -> int:
        """Length of each spatial axis of the output."""
        if self.operation == CONV:
            return conv_output_shape((self.input_side,), self.kernel_side, self.stride,
                                     self.padding)[0]
        return conv_transpose_output_shape((self.input_side,), self.kernel_side,
                                           self.stride, self.padding, self.output_padding)[0]

    @property
    def flops(self) -> int:
        """2 x multiply-adds, padding taps included (as usually quoted)."""
        return 2 * self.batch * self.matrix_nonzeros()

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of the call, padding taps included."""
        return self.batch * self.matrix_nonzeros()

    @property
    def function_name(self) -> str:
        """``'conv2d'``, ``'conv_transpose1d'``, ... (fastconv's and torch's name)."""
        return f"{'conv' if self.operation == CONV else 'conv_transpose'}{self.dims}d"

    def input_shape(self) -> tuple[int, ...]:
        """(batch, c_in, input_side, ...), ``dims`` spatial axes."""
        return (self.batch, self.c_in) + (self.input_side,) * self.dims

    def weight_shape(self) -> tuple[int, ...]:
        """(c_out, c_in/groups, k, ...) for a convolution, (c_in, c_out/groups,
        k, ...) for a transposed convolution, as PyTorch stores them."""
        channels = ((self.c_out, self.c_in // self.groups) if self.operation == CONV
                    else (self.c_in, self.c_out // self.groups))
        return channels + (self.kernel_side,) * self.dims

    def output_shape(self) -> tuple[int, ...]:
        """(batch, c_out, output_side, ...)."""
        return (self.batch, self.c_out) + (self.output_side,) * self.dims

    def describe(self) -> str:
        """One line, e.g. ``'conv N=16 64->64 56x56 k3 s1 p1'``."""
        return (f"{self.operation} N={self.batch} {self.c_in}->{self.c_out} "
                f"{'x'.join([str(self.input_side)] * self.dims)} k{self.kernel_side} "
                f"s{self.stride} p{self.padding}"
                + (f" g{self.groups}" if self.groups != 1 else ""))

    def arguments(self) -> dict[str, int]:
        """The geometry arguments of the call that differ from their defaults."""
        given = dict(stride=self.stride, padding=self.padding, groups=self.groups)
        if self.operation == CONV_TRANSPOSE:
            given["output_padding"] = self.output_padding
        defaults = dict(stride=1, padding=0, output_padding=0, groups=1)
        return {name: value for name, value in given.items() if value != defaults[name]}

    def with_batch(self, batch: int) -> Problem:
        """The same problem with ``batch`` images."""
        return replace(self, batch=batch)

    def stand_in(self, batch: int, multiply_adds: int) -> Problem:
        """A smaller problem of the same kind, for a quick correctness run.

        At most ``batch`` images, and the input side halved while the call
        needs more than ``multiply_adds`` multiply-adds (and the padded
        input still holds two kernels); channels, kernel, stride and padding
        are kept.
        """
        problem = self.with_batch(min(self.batch, batch))
        while (problem.multiply_adds > multiply_adds
               and problem.input_side // 2 + 2 * self.padding >= 2 * self.kernel_side):
            problem = replace(problem, input_side=problem.input_side // 2)
        return problem

    def arrays(self, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Random float32 inputs in PyTorch layouts.

        Returns
        -------
        x : numpy.ndarray, shape :meth:`input_shape`
        weight : numpy.ndarray, shape :meth:`weight_shape`
        """
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(self.input_shape(), dtype=np.float32)
        return x, rng.standard_normal(self.weight_shape(), dtype=np.float32)

    def matrix_shape(self) -> tuple[int, int]:
        """(rows, cols) of the convolution matrix of one sample.

        For a transposed convolution, of the convolution it is the adjoint of.
        """
        inputs = self.c_in * self.input_side ** self.dims
        outputs = self.c_out * self.output_side ** self.dims
        return (outputs, inputs) if self.operation == CONV else (inputs, outputs)

    def terms(self) -> int:
        """Nonzeros in one row of that matrix: input channels (convolution) or
        output channels (transposed) x taps; the accuracy checks scale with it."""
        reach = self.c_in if self.operation == CONV else self.c_out
        return reach // self.groups * self.kernel_side ** self.dims

    def matrix_nonzeros(self) -> int:
        """Nonzeros of that matrix, padding taps included: rows x terms."""
        return self.matrix_shape()[0] * self.terms()


#: The issue's workloads, name: (problem, target for fastconv time / torch time;
#: 1.0 for the audio and 3-D workloads, which came with no target of their own).
WORKLOADS = {
    "classic": (Problem(CONV, 1, 1, 1, 4, 3), 1.0),
    "image-k3": (Problem(CONV, 1, 1, 1, 512, 3), 0.2),
    "image-k7": (Problem(CONV, 1, 1, 1, 512, 7), 0.5),
    "resnet": (Problem(CONV, 16, 64, 64, 56, 3, padding=1), 1.3),
    "down": (Problem(CONV, 16, 64, 128, 56, 3, stride=2, padding=1), 1.3),
    "dcgan-1": (Problem(CONV_TRANSPOSE, 64, 100, 512, 1, 4), 0.8),
    "dcgan-3": (Problem(CONV_TRANSPOSE, 16, 256, 128, 16, 4, stride=2, padding=1), 1.2),
    "dcgan-4": (Problem(CONV_TRANSPOSE, 16, 128, 3, 32, 4, stride=2, padding=1), 0.8),
    "unet-up": (Problem(CONV_TRANSPOSE, 4, 128, 64, 64, 2, stride=2), 0.8),
    "vocoder-up": (Problem(CONV_TRANSPOSE, 1, 512, 256, 400, 16, stride=8, padding=4,
                           dims=1), 1.0),
    "vocoder-up-late": (Problem(CONV_TRANSPOSE, 1, 128, 64, 12800, 4, stride=2, padding=1,
                                dims=1), 1.0),
    "istft": (Problem(CONV_TRANSPOSE, 1, 514, 1, 500, 512, stride=128, dims=1), 1.0),
    "conv1d-audio": (Problem(CONV, 4, 64, 64, 16000, 3, padding=1, dims=1), 1.0),
    "conv3d": (Problem(CONV, 1, 32, 32, 64, 3, padding=1, dims=3), 1.0),
    "convT3d": (Problem(CONV_TRANSPOSE, 1, 64, 32, 32, 2, stride=2, dims=3), 1.0),
    # depthwise layers (MobileNet's 3x3, stride 1 and 2; ConvNeXt's 7x7)
    "mobilenet-dw": (Problem(CONV, 8, 128, 128, 56, 3, padding=1, groups=128), 1.0),
    "mobilenet-dw-s2": (Problem(CONV, 8, 64, 64, 112, 3, stride=2, padding=1, groups=64),
                        1.0),
    "convnext-dw": (Problem(CONV, 8, 96, 96, 56, 7, padding=3, groups=96), 1.0),
}


def ladder_problem(operation: str, side: int) -> Problem:
    """The one-image, one-channel, 3x3-kernel problem with a ``side`` x ``side`` output.

    A convolution with padding 1 of a ``side`` x ``side`` input, or a
    transposed convolution (stride 2, padding 1, output_padding 1) up-sampling
    a ``side // 2`` x ``side // 2`` input; ``side`` even.
    """
    if operation == CONV:
        return Problem(CONV, 1, 1, 1, side, 3, padding=1)
    return Problem(CONV_TRANSPOSE, 1, 1, 1, side // 2, 3, stride=2, padding=1,
                   output_padding=1)


@functools.cache
def torch_module() -> Any:
    """The torch module, or None where it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def is_installed(peer: str) -> bool:
    """Whether the module peer ``peer`` needs can be imported (without importing it)."""
    return importlib.util.find_spec(PEERS[peer]) is not None


@functools.cache
def jax_module() -> Any:
    """jax, on the CPU: JAX_PLATFORMS is set to 'cpu' before the first import.

    XLA runs on its own pool of one thread per core; the pool is made when
    jax starts, so a call's ``n_threads`` cannot change it.
    """
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    return jax


def contenders(operation: str, installed_only: bool = True) -> list[str]:
    """Names of everything that computes ``operation``: fastconv methods first,
    then the peers (the single-channel ones for convolutions only), those
    installed only unless ``installed_only`` is False."""
    names = list(_methods.method_names(operation))
    for peer in PEERS:
        if ((operation == CONV or peer not in SINGLE_CHANNEL_PEERS)
                and (is_installed(peer) or not installed_only)):
            names.append(peer)
    return names


def is_fastconv(name: str) -> bool:
    """Whether contender ``name`` is a fastconv method."""
    return name not in PEERS


def memory_budget(cap: int | None = None) -> int:
    """Bytes a matrix method may use: a quarter of the free memory, at most ``cap``."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        free = 4 << 30
    return free // 4 if cap is None else min(free // 4, cap)


def _same_or_valid(problem: Problem) -> str | None:
    """'valid', 'same' or None: which of SciPy's modes ``problem`` is, for the
    single-channel peers (one image, one channel, unit stride)."""
    if not (problem.operation == CONV and problem.batch == problem.c_in == problem.c_out == 1
            and problem.stride == 1):
        return None
    if problem.padding == 0:
        return "valid"
    if problem.kernel_side % 2 == 1 and problem.padding == problem.kernel_side // 2:
        return "same"
    return None


def _matrix_need(name: str, problem: Problem) -> tuple[int, str] | None:
    """(bytes, description) of the matrix method ``name`` builds; None for others.

    Dense: rows x cols float32 values.  Sparse: one nonzero per (output,
    input channel of its group, tap), at SPARSE_BYTES_PER_NONZERO while built.
    """
    rows, cols = problem.matrix_shape()
    if name == DENSE:
        return rows * cols * 4, f"dense matrix {rows} x {cols} float32"
    if name == SPARSE:
        nonzeros = problem.matrix_nonzeros()
        return (nonzeros * SPARSE_BYTES_PER_NONZERO,
                f"sparse matrix {rows} x {cols} with {nonzeros} nonzeros")
    return None


def skip_reason(name: str, problem: Problem, budget: int) -> str | None:
    """Why contender ``name`` cannot run ``problem`` here, or None.

    A peer must be installed; the single-channel peers take only the
    problems of :func:`_same_or_valid` (correlate2d and cv2.filter2D only
    2-D ones); the dense and sparse methods only those whose matrix fits in
    ``budget`` bytes and fastconv's own limits (``DENSE_LIMIT`` bytes,
    ``SPARSE_LIMIT`` nonzeros).
    """
    if name in PEERS and not is_installed(name):
        return f"{name}: {PEERS[name]} is not installed"
    if name in SINGLE_CHANNEL_PEERS:
        if _same_or_valid(problem) is None:
            return (f"{name}: single-channel, unit-stride convolution with no padding or "
                    "'same' padding only")
        if name != NDIMAGE and problem.dims != 2:
            return f"{name}: 2-D only"
    need = _matrix_need(name, problem)
    if need is None:
        return None
    need_bytes, matrix = need
    if name == SPARSE and problem.matrix_nonzeros() > SPARSE_LIMIT:
        return f"{matrix}: over fastconv's limit of {SPARSE_LIMIT} nonzeros"
    if name == DENSE:
        budget = min(budget, DENSE_LIMIT)
    if need_bytes > budget:
        return (f"{matrix} needs {need_bytes / 2**30:.2f} GiB, over the budget of "
                f"{budget / 2**30:.2f} GiB")
    return None


def make_call(name: str, problem: Problem, x: NDArray[Any], weight: NDArray[Any],
              n_threads: int) -> Callable[[], Any]:
    """A no-argument callable computing ``problem`` with contender ``name``.

    Parameters
    ----------
    name : str
        A contender of ``problem.operation`` that :func:`skip_reason` lets run.
    problem : Problem
    x, weight : numpy.ndarray
        As made by :meth:`Problem.arrays`.
    n_threads : int
        Threads of fastconv, torch, ONNX Runtime and OpenCV (SciPy has one,
        jax one per core: see :func:`jax_module`).

    Returns
    -------
    callable
        Returns the result: a NumPy array, a torch tensor or a jax array
        (of ``problem.dims`` axes for the single-channel peers).  Whatever a
        peer's user makes once is made here, outside the call: torch's
        tensors sharing the arrays' memory, ONNX Runtime's session, jax's
        arrays on its device and its compiled function (after one call);
        the jax call waits for its result.
    """
    arguments = problem.arguments()
    if name == TORCH:
        torch = torch_module()
        torch.set_num_threads(n_threads)
        x_tensor, weight_tensor = torch.from_numpy(x), torch.from_numpy(weight)
        torch_function = getattr(torch.nn.functional, problem.function_name)
        return lambda: torch_function(x_tensor, weight_tensor, **arguments)
    if name == ONNXRUNTIME:
        return _onnxruntime_call(problem, x, weight, n_threads)
    if name == JAX:
        return _jax_call(problem, x, weight)
    if name in SINGLE_CHANNEL_PEERS:
        return _single_channel_call(name, problem, x[0, 0], weight[0, 0], n_threads)
    function = getattr(_api, problem.function_name)
    return lambda: function(x, weight, **arguments, method=name, n_threads=n_threads)


def _onnxruntime_call(problem: Problem, x: NDArray[Any], weight: NDArray[Any],
                      n_threads: int) -> Callable[[], Any]:
    """ONNX Runtime on a one-node model: Conv or ConvTranspose, the weight an
    initializer, ``n_threads`` intra-op threads that sleep when idle (by
    default they spin after a call, taking the cores from whatever runs
    next, here the next contender)."""
    import onnx
    import onnx.helper as oh
    import onnx.numpy_helper
    import onnxruntime

    dims = problem.dims
    attributes: dict[str, Any] = dict(kernel_shape=[problem.kernel_side] * dims,
                                      strides=[problem.stride] * dims,
                                      pads=[problem.padding] * (2 * dims))
    if problem.operation == CONV_TRANSPOSE:
        attributes["output_padding"] = [problem.output_padding] * dims
    if problem.groups != 1:
        attributes["group"] = problem.groups
    node = oh.make_node("Conv" if problem.operation == CONV else "ConvTranspose",
                        ["x", "weight"], ["y"], **attributes)
    graph = oh.make_graph(
        [node], problem.function_name,
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x.shape))],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(problem.output_shape()))],
        initializer=[onnx.numpy_helper.from_array(weight, "weight")])
    # IR 10 and opset 21: read by ONNX Runtime 1.20 and later
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 21)], ir_version=10)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    feed = {"x": x}
    return lambda: session.run(None, feed)[0]


def _jax_call(problem: Problem, x: NDArray[Any], weight: NDArray[Any]) -> Callable[[], Any]:
    """``jax.jit`` of ``jax.lax.conv_general_dilated``, compiled by one call here.

    A transposed convolution is the convolution of the input dilated by the
    stride (``lhs_dilation``) with the kernel flipped and its channel axes
    swapped, padded by k - 1 - padding (plus output_padding at the end).
    """
    jax = jax_module()
    dims, k, p = problem.dims, problem.kernel_side, problem.padding
    spatial = "DHW"[3 - dims:]
    numbers = ("NC" + spatial, "OI" + spatial, "NC" + spatial)
    if problem.operation == CONV:
        def convolve(x, weight):
            return jax.lax.conv_general_dilated(
                x, weight, (problem.stride,) * dims, [(p, p)] * dims,
                dimension_numbers=numbers, feature_group_count=problem.groups)
    else:
        flip = (Ellipsis,) + (slice(None, None, -1),) * dims
        padding = [(k - 1 - p, k - 1 - p + problem.output_padding)] * dims

        def convolve(x, weight):
            return jax.lax.conv_general_dilated(
                x, jax.numpy.swapaxes(weight, 0, 1)[flip], (1,) * dims, padding,
                lhs_dilation=(problem.stride,) * dims, dimension_numbers=numbers)
    compiled = jax.jit(convolve)
    x_device, weight_device = jax.device_put(x), jax.device_put(weight)
    compiled(x_device, weight_device).block_until_ready()
    return lambda: compiled(x_device, weight_device).block_until_ready()


def _single_channel_call(name: str, problem: Problem, image: NDArray[Any],
                         kernel: NDArray[Any], n_threads: int) -> Callable[[], Any]:
    """correlate2d, ndimage.correlate or cv2.filter2D on one image and kernel.

    ndimage and OpenCV compute the 'same' correlation with zeros beyond the
    border (centred on the middle tap of an odd kernel); 'valid' is the
    middle of it.
    """
    mode = _same_or_valid(problem)
    if name == SCIPY:
        import scipy.signal
        return lambda: scipy.signal.correlate2d(image, kernel, mode=mode)
    inner = ((Ellipsis,) if mode == "same" else
             (slice(problem.kernel_side // 2, problem.kernel_side // 2 + problem.output_side),)
             * problem.dims)
    if name == NDIMAGE:
        import scipy.ndimage
        return lambda: scipy.ndimage.correlate(image, kernel, mode="constant")[inner]
    import cv2
    cv2.setNumThreads(n_threads)
    return lambda: cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT)[inner]


def best_time(call: Callable[[], Any], seconds: float) -> float:
    """Best time of one ``call()`` over at least 3 calls and about ``seconds`` in all."""
    start = time.perf_counter()
    call()
    best = time.perf_counter() - start
    for _ in range(min(max(int(seconds / max(best, 1e-7)), 2), 200)):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------
# large kernels (bench/test_fft.py)
# --------------------------------------------------------------------------

class LargeKernelWorkload(NamedTuple):
    """One call: ``function(x, weight, **kwargs)`` on x of ``x_shape`` and
    weight of ``weight_shape``; ``smoke_x`` is the input of the stand-in."""

    function: str
    x_shape: tuple
    weight_shape: tuple
    kwargs: dict
    smoke_x: tuple

    @property
    def single_channel(self):
        return self.x_shape[:2] == (1, 1) and self.weight_shape[:2] == (1, 1)

    def arrays(self, smoke, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(self.smoke_x if smoke else self.x_shape, dtype=np.float32)
        return x, rng.standard_normal(self.weight_shape, dtype=np.float32)


_SAME = dict(padding="same")

#: The large-kernel workloads of bench/test_fft.py (tests/test_fft.py checks
#: which 'auto' sends to 'fft').
FFT_WORKLOADS = {
    "psf-31": LargeKernelWorkload("conv2d", (1, 1, 1024, 1024), (1, 1, 31, 31), _SAME, (1, 1, 96, 96)),
    "psf-63": LargeKernelWorkload("conv2d", (1, 1, 2048, 2048), (1, 1, 63, 63), _SAME, (1, 1, 160, 160)),
    "fir-1d": LargeKernelWorkload("conv1d", (1, 1, 2**20), (1, 1, 1001), _SAME, (1, 1, 8192)),
    "lk-depthwise": LargeKernelWorkload("conv2d", (8, 64, 64, 64), (64, 1, 31, 31),
                             dict(padding="same", groups=64), (2, 64, 40, 40)),
    "lk-dense": LargeKernelWorkload("conv2d", (4, 16, 128, 128), (16, 16, 15, 15), _SAME,
                         (1, 16, 48, 48)),
    "fft-T": LargeKernelWorkload("conv_transpose2d", (1, 8, 256, 256), (8, 8, 16, 16),
                      dict(stride=2), (1, 8, 32, 32)),
}
