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
