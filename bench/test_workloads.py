"""The issue's workloads x every contender, one benchmark group per workload.

``pytest bench/test_workloads.py --benchmark-group-by=group`` prints each
workload's contenders side by side; ``bench/report.py`` turns the JSON into
fastconv / torch ratios beside the targets of the workload table
(``fastconv._benchmarks.WORKLOADS``).
"""

import pytest

from fastconv._benchmarks import WORKLOADS, contenders
from harness import check, make_call, prepared, record, record_rate

#: With --benchmark-disable (the smoke test) batches are cut to this size,
#: keeping every other dimension, so that CI can afford the run.
SMOKE_BATCH = 2

PARAMS = [pytest.param(name, contender, id=f"{name}-{contender}")
          for name, (problem, _) in WORKLOADS.items()
          for contender in contenders(problem.operation)]


@pytest.mark.parametrize("workload, contender", PARAMS)
def test_workload(benchmark, workload, contender):
    problem, target = WORKLOADS[workload]
    if not benchmark.enabled:
        problem = problem.with_batch(min(problem.batch, SMOKE_BATCH))
    x, weight, expected = prepared(problem)
    call = make_call(contender, problem, x, weight, smoke=not benchmark.enabled)
    benchmark.group = workload
    record(benchmark, problem, contender, kind="workload", workload=workload,
           target=target)
    check(benchmark(call), expected, problem)
    record_rate(benchmark, problem)
