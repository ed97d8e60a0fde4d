"""Peak memory of a call is bounded by its output + its inputs + a stated
workspace.

The bound: ``output + inputs + WORKSPACE`` (256 MiB), and for the matrix
methods ('sparse', 'dense') ``+ MATRIX_LIMIT`` (1 GiB, the largest matrix
they may build before refusing with a ValueError).  It is checked on the
reproducers of tests/test_adversarial.py (``reproducer=True``), each run in
the crash-safe child process, two ways:

- tracemalloc's peak: NumPy reports every array allocation to tracemalloc,
  so a runaway array shows even if it is freed before the call returns;
- the rise of the process's resident-size high-water mark (VmHWM, reset
  before the call through /proc/self/clear_refs): it also counts memory the
  compiled kernels allocate with malloc.  Not measured under
  AddressSanitizer, whose shadow memory and quarantine inflate it.

While the call runs, the child's address space is limited to what the bound
allows plus 2 GiB (not under AddressSanitizer, nor for the 1024-thread
cases), so a call asking for terabytes gets a MemoryError at once instead of
filling the machine.
"""

import pytest

from test_adversarial import CASES, MiB, GiB, outcome, params, reproduce

WORKSPACE = 256 * MiB
MATRIX_LIMIT = 1 * GiB


def bound(result, method):
    extra = MATRIX_LIMIT if method in ("sparse", "dense") else 0
    return result["output"] + result["inputs"] + WORKSPACE + extra


@pytest.mark.parametrize("case_id, method",
                         params(c for c in CASES.values() if c.reproducer))
def test_peak_memory(case_id, method):
    r = outcome(case_id, method)
    where = reproduce(case_id, method)
    assert r["status"] in ("ok", "error"), f"{r['status']}: {r.get('message')}\n{where}"
    if r.get("error_type") == "MemoryError":
        pytest.fail(f"asked for more memory than the machine has: {r['message']}\n{where}")
    limit = bound(r, method)
    peak = r["traced_peak"]
    assert peak <= limit, (
        f"tracemalloc peak {peak / MiB:.0f} MiB > bound {limit / MiB:.0f} MiB "
        f"(output {r['output'] / MiB:.0f} MiB + inputs {r['inputs'] / MiB:.0f} MiB "
        f"+ workspace)\n{where}")
    if r["rss_rise"] is not None:
        assert r["rss_rise"] <= limit, (
            f"resident memory rose {r['rss_rise'] / MiB:.0f} MiB > bound "
            f"{limit / MiB:.0f} MiB\n{where}")
