"""The fastconv command, run as a user runs it: in a subprocess."""

import re
import subprocess
import sys
import time

import numpy as np
import pytest

import fastconv
from helpers import python_env
from reference import conv, conv_transpose


def run(*args, cwd=None, code=None, timeout=120):
    """``python -m fastconv *args`` (or ``python -c code``) with this fastconv importable."""
    env = python_env()
    command = [sys.executable, "-c", code, *args] if code else [
        sys.executable, "-m", "fastconv", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def blocks(stdout):
    """The numbered steps of the demo: {number: (heading, array or None)}."""
    steps = {}
    for block in stdout.strip().split("\n\n"):
        match = re.match(r"(\d+)\. ", block)
        if not match:
            continue
        heading = [line for line in block.splitlines() if "[" not in line]
        # the first array of the step (the overlap step prints two)
        first = block.split("\n   then\n")[0]
        rows = [re.findall(r"-?\d+", line) for line in first.splitlines()
                if line.strip().startswith("[")]
        array = np.array([[int(v) for v in row] for row in rows]) if rows else None
        steps[int(match.group(1))] = ("\n".join(heading), array)
    return steps


def assert_one_line_error(done):
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("fastconv")


def assert_demo_is_right(stdout):
    steps = blocks(stdout)
    x, w, y = steps[1][1], steps[2][1], steps[3][1]
    assert x.shape == (4, 4) and w.shape == (3, 3)
    np.testing.assert_array_equal(y, conv(x[None, None], w[None, None])[0, 0])
    C = steps[4][1]
    assert C.shape == (4, 16)
    # row 0 of C is w laid into the flattened 4x4 input
    np.testing.assert_array_equal(C[0].reshape(4, 4)[:3, :3], w)
    np.testing.assert_array_equal(steps[5][1].ravel(), y.ravel())
    np.testing.assert_array_equal(steps[6][1], C.T)
    np.testing.assert_array_equal(steps[7][1],
                                  conv_transpose(y[None, None], w[None, None])[0, 0])
    np.testing.assert_array_equal(
        steps[8][1], conv_transpose(y[None, None], w[None, None], stride=(2, 2))[0, 0])
    assert steps[9][1].shape == (9, 9)
    # the agreement table: one line per method of each operation, all equal
    table = stdout.split("\n10. ")[1]
    for function_name, methods in (("conv2d", fastconv.CONV_METHODS),
                                   ("conv_transpose2d", fastconv.CONV_TRANSPOSE_METHODS)):
        for method in methods:
            assert re.search(rf"^\s+{function_name}\s+{method}\s+yes\s+0\s+(int64|float64)$",
                             table, re.M), (function_name, method)
    assert " NO " not in table


def test_no_command_prints_the_demo_and_writes_nothing(tmp_path):
    done = run(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert_demo_is_right(done.stdout)
    assert list(tmp_path.iterdir()) == []


def test_demo_seed_changes_the_numbers():
    first, second = run("demo", "--seed", "1"), run("demo", "--seed", "2")
    assert first.returncode == 0 and second.returncode == 0
    assert_demo_is_right(first.stdout)
    assert_demo_is_right(second.stdout)
    assert blocks(first.stdout)[1][1].tolist() != blocks(second.stdout)[1][1].tolist()
    assert first.stdout == run("demo", "--seed", "1").stdout


def test_demo_writes_one_figure_per_step(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    out = tmp_path / "figs" / "nested"
    done = run("demo", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert_demo_is_right(done.stdout)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["01_input.png", "02_kernel.png", "03_convolution.png",
                     "04_convolution_matrix.png", "05_matrix_product.png",
                     "06_transposed_matrix.png", "07_upsampling.png",
                     "08_zero_insertion.png", "09_overlap_k3_s2_k4_s2.png",
                     "10_upsampling_methods.png"]
    for name in names:
        pixels = plt.imread(out / name)
        assert min(pixels.shape[:2]) >= 200, name
        assert pixels[..., :3].std() > 0.05, name
        assert str(out / name) in done.stdout


def test_demo_figures_show_the_steps(tmp_path):
    """The figures' contents: one value times the kernel before the sum, zero
    insertion, both overlap maps, column-vector shapes."""
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fastconv import _cli
    x = np.array([[7, 6, 5, 3], [3, 1, 1, 1], [2, 7, 6, 8], [5, 5, 8, 6]])
    w = np.array([[3, 3, 3], [4, 2, 4], [3, 1, 2]])
    y = fastconv.conv2d(x, w)
    C = fastconv.convolution_matrix(w, x.shape, format="dense")
    figures = {name: draw() for name, _, _, draw in _cli._demo_steps(x, w, y, C)}
    try:
        titles = [ax.get_title() for ax in figures["07_upsampling.png"].axes]
        # y[0, 0] x w alone comes first, then the four terms and their sum
        assert titles[2].startswith("y[0, 0] × w = 97 × w")
        assert titles[3].startswith("y[0, 0] × w") and titles[-1].startswith("= output")
        assert len(titles) == 3 + 5
        zero = [ax.get_title() for ax in figures["08_zero_insertion.png"].axes]
        assert zero[1].startswith("zero-inserted, padded")
        overlap = figures["09_overlap_k3_s2_k4_s2.png"].axes
        assert "kernel 3, stride 2" in overlap[0].get_xlabel()
        assert "kernel 4, stride 2" in overlap[1].get_xlabel()
        assert figures["05_matrix_product.png"].axes[2].get_title().endswith("(4 × 1)")
        caption = figures["03_convolution.png"]._suptitle.get_text()
        assert "= 7·3 + 6·3 + 5·3 + 3·4 + 1·2 + 1·4 + 2·3 + 7·1 + 6·2 = 97" in caption
    finally:
        plt.close("all")


def test_help_says_what_each_command_shows():
    done = run("--help")
    assert done.returncode == 0
    for words in ("demo", "receptive field", "zero", "bench", "median", "warm-up", "info"):
        assert words in done.stdout, words


def test_bench_quick_is_quick_and_complete(tmp_path):
    pytest.importorskip("matplotlib")
    start = time.perf_counter()
    done = run("bench", "--quick", "--out", str(tmp_path))
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    # the bound leaves room for a shared CI machine (docs/performance.rst
    # gives the usual time)
    assert elapsed < 45, elapsed
    assert "#" in done.stderr  # the progress bar
    assert "median" in done.stdout and "warm-up" in done.stdout
    assert "Traceback" not in done.stderr
    for function_name, methods in (("conv2d", fastconv.CONV_METHODS),
                                   ("conv_transpose2d", fastconv.CONV_TRANSPOSE_METHODS)):
        section = done.stdout.split(f"\n{function_name}(")[1].split("\n\n")[0]
        header = section.splitlines()[1].split()
        for method in methods:
            assert method in header
        rows = section.splitlines()[2:]
        assert [row.split()[0] for row in rows] == ["16", "32", "64"]
        # every fastconv method has a time at the smallest size
        assert all(v != "-" for v in rows[0].split()[1:len(methods) + 1])
    assert (tmp_path / "bench.png").stat().st_size > 10_000


def test_info():
    done = run("info")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith(f"fastconv {fastconv.__version__}")
    assert re.search(r"OpenMP:\s+(on|off)", text)
    for word in ("instruction set:", "BLAS:", "Python:", "NumPy:", "SciPy:"):
        assert word in text
    assert np.__version__ in text


def test_version():
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"fastconv {fastconv.__version__}"


@pytest.mark.parametrize("args", [
    ("--bogus",),
    ("demo", "--bogus"),
    ("frobnicate",),
    ("demo", "--seed", "-1"),
    ("demo", "--seed", "x"),
    ("bench", "--quick", "extra"),
])
def test_bad_options_one_line(args):
    done = run(*args)
    assert_one_line_error(done)
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["demo", "bench"])
def test_unwritable_out_one_line(tmp_path, command):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run(command, "--out", str(blocker / "figs"))
    assert_one_line_error(done)
    assert "--out" in done.stderr
    done = run(command, "--out", str(blocker))
    assert_one_line_error(done)


def test_out_without_matplotlib_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from fastconv._cli import main\n"
            "sys.exit(main(sys.argv[1:]))")
    done = run("demo", "--out", str(tmp_path / "figs"), code=code)
    assert_one_line_error(done)
    assert 'pip install "fastconv[plot]"' in done.stderr
    assert not (tmp_path / "figs").exists()


def test_import_fastconv_needs_no_matplotlib():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import fastconv, fastconv.plot\n"
            "print(fastconv.conv2d([[1, 2], [3, 4]], [[1]]).sum())")
    done = run(code=code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "10"


def test_no_command_needs_no_matplotlib():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from fastconv._cli import main\n"
            "sys.exit(main([]))")
    done = run(code=code)
    assert done.returncode == 0, done.stderr
    assert_demo_is_right(done.stdout)


# the agreement check itself, in process, with methods added to the registry

def _add_method(monkeypatch, name, fn):
    from fastconv import _methods
    monkeypatch.setitem(_methods._REGISTRY[_methods.CONV], name, fn)
    monkeypatch.setattr(fastconv, "CONV_METHODS", fastconv.CONV_METHODS + (name,))


def test_demo_checks_a_float_only_method_in_float64(capsys):
    from fastconv import _cli
    assert _cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"conv2d\s+gemm\s+yes\s+0\s+float64", out)
    assert re.search(r"conv_transpose2d\s+gemm\s+yes\s+0\s+float64", out)
    assert re.search(r"conv2d\s+direct\s+yes\s+0\s+int64", out)


def test_demo_fails_when_a_method_disagrees(monkeypatch, capsys):
    from fastconv import _cli, _methods
    direct = _methods._REGISTRY[_methods.CONV]["direct"]
    _add_method(monkeypatch, "off_by_one",
                lambda *args: direct(*args) + 1)
    assert _cli.main(["demo"]) == 1
    captured = capsys.readouterr()
    assert re.search(r"conv2d\s+off_by_one\s+NO\s+1\s+int64", captured.out)
    assert captured.err.count("\n") == 1 and "disagree" in captured.err


# the problems and contenders fastconv bench times (shared with bench/)

@pytest.mark.parametrize("operation", ["conv", "conv_transpose"])
def test_bench_contenders_compute_the_ladder_problem(operation):
    from fastconv import _benchmarks
    problem = _benchmarks.ladder_problem(operation, 16)
    assert problem.output_side == 16
    x, weight = problem.arrays()
    function = getattr(fastconv, problem.function_name)
    expected = function(x.astype(np.float64), weight.astype(np.float64),
                        **problem.arguments())
    assert expected.shape == (1, 1, 16, 16)
    methods = fastconv.CONV_METHODS if operation == "conv" else fastconv.CONV_TRANSPOSE_METHODS
    names = _benchmarks.contenders(operation)
    assert names[:len(methods)] == list(methods)
    budget = _benchmarks.memory_budget(_benchmarks.QUICK_MATRIX_BYTES)
    for name in names:
        assert _benchmarks.skip_reason(name, problem, budget) is None, name
        result = _benchmarks.make_call(name, problem, x, weight, n_threads=1)()
        result = np.asarray(result.numpy() if hasattr(result, "numpy") else result)
        np.testing.assert_allclose(result.reshape(expected.shape), expected,
                                   rtol=1e-4, atol=1e-4, err_msg=name)


def test_bench_skips_what_does_not_fit_or_apply():
    from fastconv import _benchmarks
    large = _benchmarks.ladder_problem("conv", 1024)
    reason = _benchmarks.skip_reason("dense", large, _benchmarks.QUICK_MATRIX_BYTES)
    assert reason is not None and "dense matrix" in reason
    assert _benchmarks.skip_reason("direct", large, 0) is None
    strided = _benchmarks.Problem("conv", 1, 1, 1, 8, 3, stride=2)
    assert _benchmarks.skip_reason(_benchmarks.SCIPY, strided, 1 << 30) is not None
