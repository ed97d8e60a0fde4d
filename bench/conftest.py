"""fastconv's methods against torch.nn.functional and SciPy (pytest-benchmark).

    pytest bench/ --benchmark-group-by=group --benchmark-json=results.json
    python bench/report.py results.json          # fastconv / torch ratios
    python bench/plot_scaling.py results.json    # scaling.png

Unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the timed run only, where
they are set (they slow SciPy's BLAS down).  ``pytest bench/
--benchmark-disable`` is the quick correctness smoke test: every contender
runs once, on smaller stand-in problems, and its result is checked.
"""

import sys
from pathlib import Path

# the shared harness is a plain module beside the benchmarks
sys.path.insert(0, str(Path(__file__).parent))
