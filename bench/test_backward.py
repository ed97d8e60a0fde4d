"""A layer's backward pass: fastconv.grad against torch autograd (pytest-benchmark).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python -m pytest \\
        bench/test_backward.py --benchmark-group-by=group \\
        --benchmark-columns=min,median,rounds

One group per workload of ``fastconv._benchmarks.WORKLOADS``, named
``backward-<workload>``: ``conv2d_backward`` / ``conv_transpose2d_backward``
(input, weight and bias gradients) beside ``torch.autograd.grad`` of the
same layer (with a bias) on the same arrays.  Only the backward pass is
timed: each torch round gets a freshly built graph from the ``setup`` of
``benchmark.pedantic``.  ``TARGETS`` holds the issue's fastconv / torch
targets of the min times.

Group ``per-sample-resnet``: the resnet layer's weight gradient, summed and
per sample (``per_sample=True``, N=16); per sample should cost at most
1.5 x the summed one.

With ``--benchmark-disable`` (the CI smoke test) every benchmark runs once
on the workload cut to SMOKE_BATCH samples and its gradients are checked
against torch in float64 (or fastconv's 'direct' method in float64 without
torch).
"""

import math
import time

import numpy as np
import pytest

from fastconv import _benchmarks, grad
from fastconv._benchmarks import CONV, TORCH, WORKLOADS
from harness import THREADS

#: The issue's targets for fastconv's / torch's min time of the backward pass.
TARGETS = {"classic": 1.0, "resnet": 1.0, "down": 1.0, "dcgan-3": 1.0, "dcgan-4": 0.8,
           "unet-up": 0.8}
#: Per-sample weight gradient / summed weight gradient, resnet with N=16.
PER_SAMPLE_TARGET = 1.5
#: Batches are cut to this with --benchmark-disable (and sides as in
#: test_workloads.py).
SMOKE_BATCH = 2
SMOKE_MULTIPLY_ADDS = 2**28

FASTCONV = "fastconv"
CONTENDERS = [FASTCONV] + ([TORCH] if _benchmarks.torch_module() is not None else [])


#: Seconds of timed rounds per benchmark, about.
SECONDS = 2.0


def rounds(setup, target, enabled):
    """Rounds of a timed run: one untimed call first, then as many as fill
    about SECONDS, 3 to 200 (1 for the smoke test)."""
    if not enabled:
        return 1
    args, kwargs = setup()
    start = time.perf_counter()
    target(*args, **kwargs)
    return max(3, min(200, int(SECONDS / (time.perf_counter() - start))))


def _backward(problem):
    return getattr(grad, f"{problem.function_name}_backward")


def layer(problem, seed=0):
    """x, weight and a random output gradient (float32) of ``problem``."""
    x, weight = problem.arrays(seed)
    g = np.random.default_rng(seed + 1).standard_normal(problem.output_shape(),
                                                        dtype=np.float32)
    return x, weight, g


def torch_backward(problem, x, weight, g):
    """(setup, target) for benchmark.pedantic: setup builds the layer's
    forward graph (x, weight and a bias requiring gradients); target runs
    torch.autograd.grad of it and returns the three gradients."""
    torch = _benchmarks.torch_module()
    torch.set_num_threads(THREADS)
    function = getattr(torch.nn.functional, problem.function_name)
    arguments = problem.arguments()
    grad_output = torch.from_numpy(g)
    graph = {}

    def setup():
        X = torch.from_numpy(x).requires_grad_()
        W = torch.from_numpy(weight).requires_grad_()
        B = torch.zeros(problem.c_out, dtype=X.dtype, requires_grad=True)
        graph.update(y=function(X, W, B, **arguments), leaves=(X, W, B))
        return (), {}

    def target():
        return torch.autograd.grad(graph["y"], graph["leaves"], grad_output)
    return setup, target


def expected_gradients(problem, x, weight, g):
    """The three gradients in float64: torch autograd when importable, else
    fastconv's direct method."""
    x64, w64, g64 = (a.astype(np.float64) for a in (x, weight, g))
    torch = _benchmarks.torch_module()
    if torch is None:
        return tuple(_backward(problem)(x64, w64, g64, **problem.arguments(),
                                        method="direct"))
    setup, target = torch_backward(problem, x64, w64, g64)
    setup()
    return tuple(t.numpy() for t in target())


def check(gradients, expected, problem):
    """float32 accuracy of each gradient: error within 1e-5 x sqrt(terms)
    x scale, terms the products one entry sums."""
    n, side, k, d = problem.batch, problem.output_side, problem.kernel_side, problem.dims
    reach = problem.c_out if problem.operation == CONV else problem.c_in
    terms = {"input": reach * k ** d, "weight": n * max(side, problem.input_side) ** d,
             "bias": n * side ** d}
    for name, got, want in zip(("input", "weight", "bias"), gradients, expected):
        got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        scale = max(float(np.max(np.abs(want))), 1.0)
        error = float(np.max(np.abs(got.astype(np.float64) - want)))
        assert error <= 1e-5 * math.sqrt(terms[name]) * scale, \
            f"{name} gradient: max error {error:.3g}, scale {scale:.3g}"


def _record(benchmark, group, problem, contender, **info):
    benchmark.group = group
    benchmark.extra_info.update(kind="backward", method=contender,
                                fastconv=contender == FASTCONV,
                                problem=problem.describe(), **info)


PARAMS = [pytest.param(name, contender, id=f"{name}-{contender}")
          for name in WORKLOADS for contender in CONTENDERS]


@pytest.mark.parametrize("workload, contender", PARAMS)
def test_backward(benchmark, workload, contender):
    problem, _ = WORKLOADS[workload]
    if not benchmark.enabled:
        problem = problem.stand_in(SMOKE_BATCH, SMOKE_MULTIPLY_ADDS)
    x, weight, g = layer(problem)
    _record(benchmark, f"backward-{workload}", problem, contender, workload=workload,
            target=TARGETS.get(workload))
    if contender == TORCH:
        setup, target = torch_backward(problem, x, weight, g)
    else:
        function, arguments = _backward(problem), problem.arguments()

        def setup():
            return (), {}

        def target():
            return function(x, weight, g, **arguments, n_threads=THREADS)
    result = benchmark.pedantic(target, setup=setup,
                                rounds=rounds(setup, target, benchmark.enabled))
    check(result, expected_gradients(problem, x, weight, g), problem)


@pytest.mark.parametrize("per_sample", [False, True], ids=["summed", "per_sample"])
def test_per_sample_weight_gradient(benchmark, per_sample):
    problem, _ = WORKLOADS["resnet"]
    if not benchmark.enabled:
        problem = problem.with_batch(SMOKE_BATCH)
    x, weight, g = layer(problem)
    _record(benchmark, "per-sample-resnet", problem, FASTCONV, per_sample=per_sample,
            target=PER_SAMPLE_TARGET if per_sample else None)
    arguments = dict(**problem.arguments(), n_threads=THREADS, per_sample=per_sample)

    def setup():
        return (x, weight.shape, g), arguments
    result = benchmark.pedantic(grad.conv2d_weight, setup=setup,
                                rounds=rounds(setup, grad.conv2d_weight, benchmark.enabled))
    summed = result.sum(axis=0) if per_sample else result
    expected = grad.conv2d_weight(x.astype(np.float64), weight.shape, g.astype(np.float64),
                                  **problem.arguments())
    assert result.shape == ((problem.batch,) if per_sample else ()) + weight.shape
    scale = float(np.max(np.abs(expected)))
    assert float(np.max(np.abs(summed - expected))) <= 1e-4 * scale
