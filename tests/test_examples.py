"""The scripts in examples/ (the documentation's gallery) run and show what they say."""

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", ["worked_example_figures", "dcgan_generator",
                                  "benchmark_plot"])
def test_gallery_script_runs_and_draws(name, capsys):
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    assert plt.get_fignums()
    assert capsys.readouterr().out


def test_dcgan_generator_shapes():
    namespace = runpy.run_path(str(EXAMPLES / "dcgan_generator.py"), run_name="__main__")
    assert namespace["images"].shape == (4, 3, 32, 32)


def test_noise_needs_regularisation():
    example = runpy.run_path(str(EXAMPLES / "deconvolution.py"))
    truth, noisy, plain, damped = example["with_noise"](size=48, iterations=150)
    error = example["relative_error"]
    # plain least squares amplifies the noise; damping keeps it down
    assert error(plain, truth) > 2 * error(noisy, truth)
    assert error(damped, truth) < error(noisy, truth)
    assert np.isfinite(damped).all()
