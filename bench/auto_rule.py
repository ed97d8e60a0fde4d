"""The measurements behind ``method='auto'``: direct time / gemm time.

For a grid of float32 2-D problems (channels, image side, kernel, stride),
each method's best of ``--repeat`` calls, with a pause before each method:
after a call, OpenBLAS's worker threads spin for a while (and GNU OpenMP's
after a direct call), taking the core the other method's threads need, so
timing one method right after the other measures that hand-over, not the
method.  Prints one line per problem, with whether ``fastconv.choose_method`` picks
the faster method.  The batch is cut so that each input holds about two
million values.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/auto_rule.py [conv|conv_transpose]
"""

import argparse
import itertools
import time

import numpy as np

import fastconv

CONV_CHANNELS = [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64), (128, 128), (256, 256),
                 (3, 64), (64, 16)]
CONV_TRANSPOSE_CHANNELS = [(8, 8), (16, 16), (64, 64), (128, 64), (256, 128),
                           (512, 256), (64, 4)]
SIDES = [8, 14, 28, 56]
CONV_KERNELS = [1, 3, 5]
CONV_TRANSPOSE_KERNELS = [2, 3, 4]
STRIDES = [1, 2]


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", choices=["conv", "conv_transpose"], default="conv", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.3,
                        help="seconds of rest before timing each method")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    conv = args.op == "conv"
    fn = fastconv.conv2d if conv else fastconv.conv_transpose2d
    channels = CONV_CHANNELS if conv else CONV_TRANSPOSE_CHANNELS
    kernels = CONV_KERNELS if conv else CONV_TRANSPOSE_KERNELS
    right = total = 0
    for (c_in, c_out), side, k, s in itertools.product(channels, SIDES, kernels, STRIDES):
        n = min(16, max(1, 2_000_000 // (c_in * side * side)))
        x = rng.standard_normal((n, c_in, side, side), dtype=np.float32)
        shape = (c_out, c_in, k, k) if conv else (c_in, c_out, k, k)
        w = rng.standard_normal(shape, dtype=np.float32)
        kw = dict(stride=s, padding=k // 2 if conv else (k - 1) // 2)
        times = {}
        for method in ("direct", "gemm"):
            time.sleep(args.pause)
            times[method] = best(lambda: fn(x, w, method=method, **kw), args.repeat)
        auto = fastconv.choose_method(fn, x, w, **kw)
        faster = min(times, key=times.get)
        right += auto == faster
        total += 1
        print(f"{args.op} N={n} {c_in}->{c_out} {side}x{side} k{k} s{s}: "
              f"direct / gemm {times['direct'] / times['gemm']:.2f} "
              f"({times['direct'] * 1e3:.2f} / {times['gemm'] * 1e3:.2f} ms), "
              f"auto {auto}{'' if auto == faster else ' (slower)'}", flush=True)
    print(f"auto picks the faster method in {right} of {total} problems")


if __name__ == "__main__":
    main()
