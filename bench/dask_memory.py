"""fastconv.dask on a memory-limited LocalCluster, against the in-memory call.

The workloads, float32, on one 16384 x 16384 image (1 GiB):

- conv: ``conv2d`` with a (4, 1, 3, 3) kernel, padding 1: a 4-channel,
  4 GiB output;
- transposed: ``conv_transpose2d`` with a (1, 4, 4, 4) kernel, stride 2,
  padding 1: a 4-channel 32768 x 32768 output, 16 GiB.

Neither output fits in the cluster: two worker processes, one thread each,
``--memory-limit`` (1.5 GiB) each.  The image is generated on the workers
(``dask.array.random``) and kept there (``persist``), then each result is
summed on the workers, or written to a Zarr store with ``--zarr DIR``, so
only a scalar reaches the client.  A thread samples each worker's resident
memory every 0.2 s; the run fails if a worker dies or is restarted.

The in-memory baseline runs first, in this process, before the cluster
starts: the same call on the largest square image whose input and output
fit in ``--in-memory-budget`` (6 GiB), timed (best of 2) alone and with
the same sum.  Throughput is input pixels per second; the ratio is
dask's throughput over the in-memory one (both use the 2 cores: the
workers one thread each, the in-memory call OpenMP's / BLAS's 2 threads).

Usage (the BLAS variables slow SciPy's BLAS down on these machines)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/dask_memory.py
        [--side 16384] [--chunk 4096] [--memory-limit 1.5GiB] [--zarr DIR]

Needs the ``dask`` extra (``pip install "fastconv[dask]"``), and zarr for
``--zarr``.
"""

import argparse
import threading
import time

import numpy as np

import fastconv

GiB = 2**30


def workloads(side):
    """name -> (function name, weight, keyword arguments, output bytes per
    input pixel)."""
    rng = np.random.default_rng(0)
    return {
        "conv": ("conv2d", rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
                 dict(padding=1), 4 * 4),
        "transposed": ("conv_transpose2d",
                       rng.standard_normal((1, 4, 4, 4)).astype(np.float32),
                       dict(stride=2, padding=1), 4 * 4 * 4),
    }


def in_memory(name, weight, kwargs, out_per_pixel, budget, side):
    """(side, seconds of the call, seconds of call + sum) of the in-memory
    baseline on the largest power-of-two side within the budget."""
    while side > 256 and side * side * (4 + out_per_pixel) > budget:
        side //= 2
    x = np.random.default_rng(1).random((1, 1, side, side), dtype=np.float32)
    function = getattr(fastconv, name)
    call = total = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        out = function(x, weight, **kwargs)
        middle = time.perf_counter()
        out.sum(dtype=np.float64)
        end = time.perf_counter()
        call, total = min(call, middle - start), min(total, end - start)
        del out
    return side, call, total


class MemorySampler(threading.Thread):
    """Samples each worker's resident set size until stopped."""

    def __init__(self, client, period=0.2):
        super().__init__(daemon=True)
        self.client, self.period = client, period
        self.peak = {}
        self.running = True

    def run(self):
        import psutil

        def rss():
            return psutil.Process().memory_info().rss

        while self.running:
            for worker, value in self.client.run(rss).items():
                self.peak[worker] = max(self.peak.get(worker, 0), value)
            time.sleep(self.period)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=16384)
    parser.add_argument("--chunk", type=int, default=4096,
                        help="image chunk side for the convolution (half for the "
                             "transposed convolution, whose output is 4x larger)")
    parser.add_argument("--memory-limit", default="1.5GiB")
    parser.add_argument("--in-memory-budget", type=float, default=6.0,
                        help="GiB for the in-memory baseline's input and output")
    parser.add_argument("--zarr", help="write each result to a Zarr store in this "
                                       "directory instead of summing it")
    parser.add_argument("--only", choices=["conv", "transposed"])
    args = parser.parse_args()

    import dask.array as da
    from distributed import Client, LocalCluster, wait

    import fastconv.dask

    side = args.side
    jobs = workloads(side)
    if args.only:
        jobs = {args.only: jobs[args.only]}
    baseline = {}
    for label, (name, weight, kwargs, out_per_pixel) in jobs.items():
        baseline[label] = in_memory(name, weight, kwargs, out_per_pixel,
                                    args.in_memory_budget * GiB, side)
        s, call, total = baseline[label]
        print(f"in-memory {label}: {s}x{s}, call {call:.2f} s "
              f"({s * s / call / 1e6:.0f} Mpx/s), call + sum {total:.2f} s "
              f"({s * s / total / 1e6:.0f} Mpx/s)", flush=True)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        for label, (name, weight, kwargs, out_per_pixel) in jobs.items():
            # one image at a time on the workers, chunked for this workload
            chunk = args.chunk if label == "conv" else args.chunk // 2
            x = da.random.default_rng(1).random((1, 1, side, side), dtype=np.float32,
                                                chunks=(1, 1, chunk, chunk))
            x = client.persist(x)
            wait(x)
            # the workers import fastconv and plan once before the timed run
            getattr(fastconv.dask, name)(x[..., :64, :64], weight, **kwargs).sum().compute()
            y = getattr(fastconv.dask, name)(x, weight, **kwargs)
            sampler = MemorySampler(client)
            sampler.start()
            start = time.perf_counter()
            if args.zarr:
                y.to_zarr(f"{args.zarr}/{label}.zarr", overwrite=True)
                what = f"written to {args.zarr}/{label}.zarr"
            else:
                what = f"sum {float(y.sum(dtype=np.float64).compute()):.6g}"
            seconds = time.perf_counter() - start
            peak = sampler.stop()
            alive = set(client.scheduler_info()["workers"])
            s, call, total = baseline[label]
            rate = side * side / seconds / 1e6
            print(f"dask {label}: image {side}x{side} ({x.nbytes / GiB:.2f} GiB, chunks "
                  f"{chunk}x{chunk}) persisted on 2 workers of {args.memory_limit}; output "
                  f"{y.shape} ({y.nbytes / GiB:.1f} GiB) in {y.npartitions} blocks of "
                  f"{y.chunksize}, {what}: {seconds:.2f} s, {rate:.0f} Mpx/s = "
                  f"{rate / (s * s / call / 1e6):.2f}x the in-memory call, "
                  f"{rate / (s * s / total / 1e6):.2f}x call + sum; peak worker memory "
                  + ", ".join(f"{v / GiB:.2f} GiB" for v in peak.values()), flush=True)
            if alive != workers:
                raise SystemExit(f"workers died or restarted: {workers} -> {alive}")
            del x, y
        print("no worker died", flush=True)


if __name__ == "__main__":
    main()
