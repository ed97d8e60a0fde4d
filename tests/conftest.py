"""Fixtures shared by the tests.

The reference, the sweep and the shared tables, helpers and case builders
are plain modules beside the tests (reference.py, sweep.py, tables.py,
helpers.py, cases.py); this folder is put on sys.path for them.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from fastconv import _direct

# the reference and the sweep are plain modules beside the tests
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(params=_direct.simd_versions())
def simd_version(request):
    """Each version of the vectorised kernel this CPU runs, in turn (the
    version in use before is restored afterwards)."""
    before = _direct.simd_version()
    _direct.use_simd(request.param)
    yield request.param
    _direct.use_simd(before)


@pytest.fixture
def spy(monkeypatch):
    """``spy(module, name, record=...)``: a list that gets ``record(*args,
    **kwargs)`` (by default the positional arguments, as a tuple) for every
    call of ``module.name`` from then on, until the test ends; the function
    itself still runs and its result is returned."""
    def watch(module, name, record=lambda *args, **kwargs: args):
        calls = []
        function = getattr(module, name)

        def recording(*args, **kwargs):
            calls.append(record(*args, **kwargs))
            return function(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
        return calls
    return watch


@pytest.fixture
def poisoned_empty(monkeypatch):
    """np.empty fills float arrays with NaN: an output value or a workspace
    value that is read before it is written shows up as NaN."""
    empty = np.empty

    def poisoned(shape, dtype=float, **kwargs):
        out = empty(shape, dtype, **kwargs)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        return out

    monkeypatch.setattr(np, "empty", poisoned)
