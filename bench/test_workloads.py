"""The issue's workloads x every contender, one benchmark group per workload.

``pytest bench/test_workloads.py --benchmark-group-by=group`` prints each
workload's contenders side by side; ``bench/report.py`` turns the JSON into
fastconv / torch ratios beside the targets recorded here.
"""

import pytest

from harness import CONV, CONV_TRANSPOSE, Problem, check, contenders, make_call
from harness import prepared, record, record_rate

#: name: (problem, target for fastconv time / torch time)
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
}

#: With --benchmark-disable (the smoke test) batches are cut to this size,
#: keeping every other dimension: the run stays within a couple of minutes.
SMOKE_BATCH = 2

PARAMS = [pytest.param(name, contender, id=f"{name}-{contender}")
          for name, (problem, _) in WORKLOADS.items()
          for contender in contenders(problem.op)]


@pytest.mark.parametrize("workload, contender", PARAMS)
def test_workload(benchmark, workload, contender):
    problem, target = WORKLOADS[workload]
    if not benchmark.enabled:
        problem = problem.with_batch(min(problem.n, SMOKE_BATCH))
    x, weight, expected = prepared(problem)
    call = make_call(contender, problem, x, weight, smoke=not benchmark.enabled)
    benchmark.group = workload
    record(benchmark, problem, contender, kind="workload", workload=workload,
           target=target)
    check(benchmark(call), expected, problem)
    record_rate(benchmark, problem)
