"""The measurements behind ``method='auto'``: direct time / gemm time.

For a grid of float32 2-D problems (channels, image side, kernel, stride),
each method's best of ``--repeat`` calls (``--methods``: direct and gemm
unless told; scatter and zero_insertion also compute transposed
convolutions), with a pause before each method:
after a call, OpenBLAS's worker threads spin for a while (and GNU OpenMP's
after a direct call), taking the core the other method's threads need, so
timing one method right after the other measures that hand-over, not the
method.  Prints one line per problem, with whether ``fastconv.choose_method`` picks
the faster method.  The batch is cut so that each input holds about two
million values.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/auto_rule.py [conv|conv_transpose]
        [--channels 3x64,1x16] [--sides 8,14] [--kernels 3] [--strides 1]
        [--methods direct,gemm,scatter] [--threads 1]

The options replace one axis of the grid, to measure again where the rule
was found to miss.
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


def integers(text):
    """'8,14' -> [8, 14]."""
    return [int(item) for item in text.split(",")]


def channel_pairs(text):
    """'3x64,1x16' -> [(3, 64), (1, 16)]: input x output channels."""
    return [tuple(int(c) for c in pair.split("x")) for pair in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", choices=["conv", "conv_transpose"], default="conv", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.3,
                        help="seconds of rest before timing each method")
    parser.add_argument("--channels", type=channel_pairs,
                        help="input x output channel pairs, e.g. 3x64,1x16")
    parser.add_argument("--sides", type=integers, default=SIDES)
    parser.add_argument("--kernels", type=integers)
    parser.add_argument("--strides", type=integers, default=STRIDES)
    parser.add_argument("--methods", type=lambda text: text.split(","),
                        default=["direct", "gemm"])
    parser.add_argument("--threads", type=int,
                        help="n_threads of each call (gemm's BLAS threads: "
                             "OPENBLAS_NUM_THREADS); default: every core")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    conv = args.op == "conv"
    fn = fastconv.conv2d if conv else fastconv.conv_transpose2d
    channels = args.channels or (CONV_CHANNELS if conv else CONV_TRANSPOSE_CHANNELS)
    kernels = args.kernels or (CONV_KERNELS if conv else CONV_TRANSPOSE_KERNELS)
    right = total = 0
    for (c_in, c_out), side, k, s in itertools.product(channels, args.sides, kernels,
                                                       args.strides):
        n = min(16, max(1, 2_000_000 // (c_in * side * side)))
        x = rng.standard_normal((n, c_in, side, side), dtype=np.float32)
        shape = (c_out, c_in, k, k) if conv else (c_in, c_out, k, k)
        w = rng.standard_normal(shape, dtype=np.float32)
        kw = dict(stride=s, padding=k // 2 if conv else (k - 1) // 2, n_threads=args.threads)
        times = {}
        for method in args.methods:
            time.sleep(args.pause)
            times[method] = best(lambda: fn(x, w, method=method, **kw), args.repeat)
        auto = fastconv.choose_method(fn, x, w, **kw)
        faster = min(times, key=times.get)
        right += auto == faster
        total += 1
        ratio = (f"direct / gemm {times['direct'] / times['gemm']:.2f} "
                 if {"direct", "gemm"} <= times.keys() else "")
        print(f"{args.op} N={n} {c_in}->{c_out} {side}x{side} k{k} s{s}: {ratio}("
              + " / ".join(f"{method} {t * 1e3:.3g}" for method, t in times.items())
              + f" ms), auto {auto}{'' if auto == faster else ' (slower)'}", flush=True)
    print(f"auto picks the faster method in {right} of {total} problems")


if __name__ == "__main__":
    main()
