"""The issue's workloads x every contender, one benchmark group per workload.

``pytest bench/test_workloads.py --benchmark-group-by=group`` prints each
workload's contenders side by side; ``bench/report.py`` turns the JSON into
fastconv / torch and fastconv / fastest-peer ratios beside the targets of
the workload table (``fastconv._benchmarks.WORKLOADS``).  A peer that is not
installed, or cannot express a workload, is skipped with the reason.
"""

import pytest

from fastconv._benchmarks import WORKLOADS, contenders
from harness import check, make_call, prepared, record, record_rate

#: With --benchmark-disable (the smoke test) batches are cut to this size
#: and input sides halved down to this many multiply-adds (the largest 2-D
#: workloads cut to 2 samples need that many), keeping channels and
#: kernels, so that CI can afford the run.
SMOKE_BATCH = 2
SMOKE_MULTIPLY_ADDS = 2**28

PARAMS = [pytest.param(name, contender, id=f"{name}-{contender}")
          for name, (problem, _) in WORKLOADS.items()
          for contender in contenders(problem.operation, installed_only=False)]


@pytest.mark.parametrize("workload, contender", PARAMS)
def test_workload(benchmark, workload, contender):
    problem, target = WORKLOADS[workload]
    if not benchmark.enabled:
        problem = problem.stand_in(SMOKE_BATCH, SMOKE_MULTIPLY_ADDS)
    x, weight, expected = prepared(problem)
    call = make_call(contender, problem, x, weight, smoke=not benchmark.enabled)
    benchmark.group = workload
    record(benchmark, problem, contender, kind="workload", workload=workload,
           target=target)
    check(benchmark(call), expected, problem)
    record_rate(benchmark, problem)


#: The 1-D transposed workloads whose rate the issue holds against the
#: machine's float32 GEMM rate on the same multiply-add count.
GEMM_RATE_WORKLOADS = ("vocoder-up", "vocoder-up-late", "istft")


@pytest.mark.parametrize("workload", GEMM_RATE_WORKLOADS)
def test_gemm_rate(benchmark, workload):
    """numpy.matmul of the layer's column product, (C_out * k) x C_in times
    C_in x L: the multiply-adds of the transposed convolution without its
    overlap-add, in the workload's group; bench/report.py sets fastconv's
    GFLOP/s beside it."""
    import numpy as np
    problem, _ = WORKLOADS[workload]
    if not benchmark.enabled:
        problem = problem.stand_in(SMOKE_BATCH, SMOKE_MULTIPLY_ADDS)
    rng = np.random.default_rng(0)
    columns = problem.c_out // problem.groups * problem.kernel_side ** problem.dims
    a = rng.standard_normal((columns, problem.c_in), dtype=np.float32)
    b = rng.standard_normal((problem.c_in, problem.batch * problem.input_side ** problem.dims),
                            dtype=np.float32)
    benchmark.group = workload
    record(benchmark, problem, "numpy.matmul", kind="gemm-rate", workload=workload)
    result = benchmark(lambda: a @ b)
    assert result.shape == (columns, b.shape[1]) and 2 * result.size * a.shape[1] == problem.flops
    record_rate(benchmark, problem)
