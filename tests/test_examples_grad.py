"""examples/learn_upsampling.py runs, small, and its learned kernel beats
bilinear up-sampling on held-out images."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import python_env

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "learn_upsampling.py"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/ is not beside the tests")
def test_learn_upsampling_beats_bilinear():
    run = subprocess.run([sys.executable, str(EXAMPLE), "--small"], capture_output=True,
                         text=True, timeout=120, env=python_env(MPLBACKEND="Agg"))
    assert run.returncode == 0, run.stderr
    losses = [float(v) for v in re.findall(r"^step +\d+ +loss ([\d.e-]+)$", run.stdout,
                                           re.MULTILINE)]
    assert len(losses) >= 5 and losses[-1] < losses[0] / 10
    errors = dict(re.findall(r"^ +(nearest|bilinear|learned) +([\d.e-]+)$", run.stdout,
                             re.MULTILINE))
    assert float(errors["learned"]) < float(errors["bilinear"]) < float(errors["nearest"])
