"""
Timing the methods
==================

Every method of :func:`fastconv.conv_transpose2d` on a few small images,
timed here as the page is built (median of several calls after a warm-up
call), and drawn with :func:`fastconv.plot.plot_benchmark`.  The sizes are
small to keep the build fast: ``fastconv bench`` times larger ones.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastconv
from fastconv import plot


def median_time(call, repeats=5):
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


rng = np.random.default_rng(0)
w = rng.standard_normal((1, 1, 3, 3))
results: dict[str, list[tuple[float, float]]] = {}
for method in fastconv.CONV_TRANSPOSE_METHODS:
    results[method] = []
    for side in (16, 32, 64):
        x = rng.standard_normal((1, 1, side, side))
        seconds = median_time(
            lambda: fastconv.conv_transpose2d(x, w, stride=2, padding=1, method=method))
        results[method].append((side, seconds))
        print(f"{method:>15} {side:>3}x{side:<3} {seconds * 1e6:9.1f} µs")

plot.plot_benchmark(results, title="conv_transpose2d, 3x3 kernel, stride 2, float64",
                    xlabel="input side")
plt.show()
