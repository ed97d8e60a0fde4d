"""Time against image side for every transposed-convolution contender.

One channel, 3x3 kernel, stride 2, padding 1, output_padding 1: an input of
side/2 up-sampled to exactly side x side, for side 32 ... 1024.  One group
per contender; ``bench/plot_scaling.py`` draws the JSON as a log-log plot.
"""

import pytest

from fastconv._benchmarks import CONV_TRANSPOSE, contenders, ladder_problem
from harness import check, make_call, prepared, record, record_rate

SIDES = [32, 64, 128, 256, 512, 1024]
#: With --benchmark-disable (the smoke test) the larger sides are skipped.
SMOKE_MAX_SIDE = 256


@pytest.mark.parametrize("contender", contenders(CONV_TRANSPOSE))
@pytest.mark.parametrize("side", SIDES)
def test_scaling(benchmark, side, contender):
    if not benchmark.enabled and side > SMOKE_MAX_SIDE:
        pytest.skip(f"smoke run: sides above {SMOKE_MAX_SIDE} only when benchmarking")
    problem = ladder_problem(CONV_TRANSPOSE, side)
    assert problem.output_side == side
    x, weight, expected = prepared(problem)
    call = make_call(contender, problem, x, weight, smoke=not benchmark.enabled)
    benchmark.group = f"scaling {contender}"
    record(benchmark, problem, contender, kind="scaling", side=side)
    check(benchmark(call), expected, problem)
    record_rate(benchmark, problem)
