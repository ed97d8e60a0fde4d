"""Peak extra memory of ``conv_transpose2d(..., method="gemm")``.

The workload is DCGAN's third layer at batch 256: x (256, 256, 16, 16),
weight (256, 128, 4, 4), stride 2, padding 1, float32, giving a
(256, 128, 32, 32) output of 128 MiB.  The gemm method promises a peak
of at most the output plus 64 MiB of workspace, whatever the batch size.

tracemalloc does not see C buffers (BLAS, NumPy data), so the measurement
is the process's resident set: each run happens in a fresh subprocess that
allocates the inputs, warms up on a one-sample call (BLAS and thread pools
initialised), records its current RSS, runs the call once and reads the
peak RSS (``resource.getrusage``).  Linux only (``/proc/self/statm``).

Usage::

    python bench/memory_gemm.py [--batch 256] [--method gemm]

Exits with status 1 if the extra peak exceeds output size + 64 MiB.
"""

import argparse
import json
import subprocess
import sys

MiB = 2**20
ALLOWANCE = 64 * MiB

CHILD = r"""
import json, os, resource, sys
import numpy as np
import fastconv

batch, method = int(sys.argv[1]), sys.argv[2]
page = os.sysconf("SC_PAGE_SIZE")

def rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

rng = np.random.default_rng(0)
# generated straight in float32: no float64 temporaries to raise the peak
x = rng.standard_normal((batch, 256, 16, 16), dtype=np.float32)
w = rng.standard_normal((256, 128, 4, 4), dtype=np.float32)
fastconv.conv_transpose2d(x[:1], w, stride=2, padding=1, method=method)

# the current RSS, not the peak so far: if an earlier peak was higher, the
# result can only overstate the call's extra memory
before = rss_now()
out = fastconv.conv_transpose2d(x, w, stride=2, padding=1, method=method)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"extra": peak - before, "output": out.nbytes}))
"""


def measure(batch, method):
    """(extra peak bytes, output bytes) of one call in a fresh process."""
    result = subprocess.run([sys.executable, "-c", CHILD, str(batch), method],
                            capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    return data["extra"], data["output"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--method", default="gemm")
    args = parser.parse_args()
    extra, output = measure(args.batch, args.method)
    limit = output + ALLOWANCE
    print(f"conv_transpose2d method={args.method!r}, x ({args.batch}, 256, 16, 16) "
          f"float32, weight (256, 128, 4, 4), stride 2, padding 1")
    print(f"  output         {output / MiB:8.1f} MiB")
    print(f"  extra peak RSS {extra / MiB:8.1f} MiB  (limit: output + 64 MiB = "
          f"{limit / MiB:.1f} MiB)")
    print(f"  beyond output  {(extra - output) / MiB:8.1f} MiB")
    if extra > limit:
        print("  FAIL: over the limit")
        sys.exit(1)
    print("  ok")


if __name__ == "__main__":
    main()
