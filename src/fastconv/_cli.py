"""The ``fastconv`` command (also ``python -m fastconv``).

    fastconv                               the classic worked example, printed
    fastconv demo [--out DIR] [--seed N]   the same, plus one figure per step
    fastconv bench [--quick] [--out DIR]   every method timed over image sizes
                                           (median of repeated calls after a warm-up)
    fastconv info                          version, build and libraries

Errors the user can fix (a bad option, an unwritable ``--out``) print one
line on stderr and exit with a non-zero status.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import fastconv
from . import _benchmarks, _direct, _methods, _openmp, _upsample_figure, plot

PLOT_EXTRA = 'pip install "fastconv[plot]"'


class CommandError(Exception):
    """A problem the user can fix, reported as one line without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------
# writing figures and arrays
# --------------------------------------------------------------------------

def _output_dir(path):
    """The ``--out`` directory, created and checked writable; None without ``--out``.

    Figures need matplotlib, so it is checked here, before any work, and
    put on the file-only Agg backend.
    """
    if path is None:
        return None
    try:
        import matplotlib
    except ImportError:
        raise CommandError(f"--out writes figures, which needs matplotlib: {PLOT_EXTRA}") from None
    matplotlib.use("Agg")
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CommandError(f"cannot write to --out {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _save(fig, out, file_name):
    """Write ``fig`` into directory ``out`` as PNG ``file_name``, and close it."""
    import matplotlib.pyplot as plt
    path = out / file_name
    try:
        fig.savefig(path, dpi=150)
    except OSError as exc:
        raise CommandError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    print(f"   -> {path}")


def _indented(array, indent="   "):
    """An array as NumPy prints it, indented; a tuple of arrays one after
    another; text as it is."""
    if isinstance(array, tuple):
        return f"\n{indent}then\n".join(_indented(item, indent) for item in array)
    text = array if isinstance(array, str) else np.array2string(np.asarray(array),
                                                                max_line_width=100)
    return "\n".join(indent + line for line in text.splitlines())


def _shape_text(shape):
    """``"4x4"`` for (4, 4)."""
    return "x".join(str(side) for side in shape)


# --------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------

def _demo(args):
    out = _output_dir(args.out)
    rng = np.random.default_rng(args.seed)
    x = rng.integers(1, 9, size=(4, 4))
    w = rng.integers(1, 5, size=(3, 3))
    y = fastconv.conv2d(x, w)
    C = fastconv.convolution_matrix(w, x.shape, format="dense")
    print(f"fastconv {fastconv.__version__}: convolution and transposed convolution, "
          f"computed for real (seed {args.seed})\n")
    steps = _demo_steps(x, w, y, C)
    for number, (file_name, heading, value, figure) in enumerate(steps, 1):
        print(f"{number}. {heading}\n{_indented(value)}")
        if out is not None:
            _save(figure(), out, file_name)
        print()
    print(f"{len(steps) + 1}. the same results from every method "
          f"(compared with the matrix products C @ x and C.T @ y):")
    if not _methods_agree(x, w, y, C):
        raise CommandError("the methods above disagree; please report this as a bug")
    if out is not None:
        print(f"\n{len(steps)} figures in {out}")
    return 0


def _demo_steps(x, w, y, C):
    """The worked example, step by step.

    Parameters
    ----------
    x : numpy.ndarray, shape (4, 4)
        Input.
    w : numpy.ndarray, shape (3, 3)
        Kernel.
    y : numpy.ndarray, shape (2, 2)
        ``conv2d(x, w)``.
    C : numpy.ndarray, shape (4, 16)
        The convolution matrix: ``C @ x.ravel() == y.ravel()``.

    Returns
    -------
    list of (file name, heading, printed array, function drawing the figure)
    """
    upsampled = fastconv.conv_transpose2d(y, w)
    strided = fastconv.conv_transpose2d(y, w, stride=2)
    overlap_pairs = ((3, 2), (4, 2))
    overlaps = tuple(fastconv.conv_transpose2d(np.ones(x.shape, dtype=np.int64),
                                               np.ones((kernel, kernel), dtype=np.int64),
                                               stride=stride)
                     for kernel, stride in overlap_pairs)
    return [
        ("01_input.png", f"input x, {_shape_text(x.shape)}:", x,
         lambda: plot.show_matrix(x, title="input x")),
        ("02_kernel.png", f"kernel w, {_shape_text(w.shape)}:", w,
         lambda: plot.show_matrix(w, title="kernel w")),
        ("03_convolution.png",
         f"y = conv2d(x, w), {_shape_text(x.shape)} -> {_shape_text(y.shape)}: each output "
         f"value is w times one {_shape_text(w.shape)} window\n   of x, summed "
         f"({w.size} input values -> 1 output value):", y,
         lambda: plot.plot_convolution(x, w)),
        ("04_convolution_matrix.png",
         f"the convolution matrix C = convolution_matrix(w, {x.shape}), "
         f"{_shape_text(C.shape)}:\n   row i is w laid into the flattened input at output "
         "cell i", C, lambda: plot.plot_convolution_matrix(C)),
        ("05_matrix_product.png",
         f"C @ x.ravel() = y.ravel(), {x.size} values -> {y.size}:", C @ x.ravel(),
         lambda: plot.plot_convolution_matrix(C, x)),
        ("06_transposed_matrix.png",
         f"the transposed convolution matrix C.T, {_shape_text(C.T.shape)}:\n   column j "
         f"spreads y.ravel()[j] over a {_shape_text(w.shape)} patch of the flattened "
         f"{_shape_text(x.shape)} output", C.T,
         lambda: plot.plot_convolution_matrix(C, transpose=True)),
        ("07_upsampling.png",
         f"conv_transpose2d(y, w) = (C.T @ y.ravel()).reshape{x.shape}, "
         f"{_shape_text(y.shape)} -> {_shape_text(upsampled.shape)}:\n   each input value "
         f"adds value * w into the output (1 input value -> {w.size} output values); "
         f"y[0, 0] * w alone,\n   then the sum of all {y.size} terms", upsampled,
         lambda: plot.plot_transposed_terms(y, w)),
        ("08_zero_insertion.png",
         f"conv_transpose2d(y, w, stride=2) = conv2d(zero_insert(y, 2) padded by "
         f"{w.shape[0] - 1}, w flipped), {_shape_text(y.shape)} -> "
         f"{_shape_text(strided.shape)}:\n   the textbook construction, with stride - 1 "
         "zeros inserted between the input values", strided,
         lambda: plot.plot_zero_insertion(y, w, stride=2)),
        ("09_overlap_k3_s2_k4_s2.png",
         f"kernel taps reaching each output cell of conv_transpose2d, stride 2, "
         f"{_shape_text(x.shape)} input, kernel 3 (then kernel 4):\n"
         "   uneven for kernel 3, which is not a multiple of 2: the checkerboard "
         "artifact; even inside for kernel 4", overlaps,
         lambda: _overlap_figure(x.shape, overlap_pairs)),
        ("10_upsampling_methods.png",
         "one image up-sampled x2 by interpolation, transposed convolution, "
         "resize-convolution and pixel shuffle,\n   each with its checkerboard score "
         "(peak-to-peak of its response to a constant image / its mean):",
         _upsampling_scores(),
         lambda: _upsample_figure.upsampling_figure()),
    ]


def _upsampling_scores():
    """Each up-sampling method's checkerboard score, as printed lines."""
    results = _upsample_figure.upsampling_results()
    width = max(map(len, results))
    return "\n".join(f"{name:<{width}}  {score:.3f}" for name, (_, score) in results.items())


def _overlap_figure(input_shape, pairs):
    """The overlap maps of each (kernel, stride) in ``pairs``, side by side."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 6.0),
                             layout="constrained")
    for ax, (kernel, stride) in zip(axes, pairs):
        plot.plot_overlap(kernel, stride, input_size=input_shape, ax=ax)
    return fig


def _methods_agree(x, w, y, C):
    """Whether every method's conv2d(x, w) equals C @ x and its conv_transpose2d(y, w)
    equals C.T @ y; prints one line per method.  Arguments as for :func:`_demo_steps`."""
    print(f"   {'operation':<18}{'method':<18}{'equal':<7}{'max |difference|':<18}dtype")
    agree = True
    checks = [(fastconv.conv2d, _methods.CONV, fastconv.CONV_METHODS, x, C @ x.ravel()),
              (fastconv.conv_transpose2d, _methods.CONV_TRANSPOSE,
               fastconv.CONV_TRANSPOSE_METHODS, y, C.T @ y.ravel())]
    for function, operation, methods, data, expected in checks:
        for method in methods:
            if method == "auto" or _methods.supports_integers(operation, method):
                got = function(data, w, method=method)
            else:
                # a floating-point-only method: these small integers are
                # exact in float64 too, whatever the order of the sums
                got = function(data.astype(np.float64), w.astype(np.float64), method=method)
            equal = np.array_equal(got.ravel(), expected)
            agree &= equal
            difference = np.abs(got.ravel() - expected).max()
            print(f"   {function.__name__:<18}{method:<18}{'yes' if equal else 'NO':<7}"
                  f"{difference:<18g}{got.dtype}")
    return agree


# --------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------

class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total):
        self.total, self.done = total, 0

    def step(self, label):
        self.done += 1
        filled = 30 * self.done // self.total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] "
                         f"{self.done}/{self.total} {label:<44.44}")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\r" + " " * 90 + "\r")
        sys.stderr.flush()


_MIN_REPEATS = 5


def _median_time(call, seconds):
    """Median time of one ``call()``: one untimed warm-up call (first-call costs:
    page faults, caches, thread start-up), then at least ``_MIN_REPEATS`` timed
    calls, more while they fit in about ``seconds`` (at most 200)."""
    call()
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = [first]
    for _ in range(min(max(int(seconds / max(first, 1e-7)), _MIN_REPEATS), 200) - 1):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _time_ladders(sides, seconds, stop_after, n_threads):
    """Every contender's best time on the ladder problems of each operation.

    Parameters
    ----------
    sides : sequence of int
        Output sides n of the problems (n x n outputs, see
        :func:`fastconv._benchmarks.ladder_problem`), smallest first.
    seconds : float
        Seconds of repeated calls per contender and side.
    stop_after : float
        A contender slower than this many seconds per call at one side is
        not run at the larger ones.
    n_threads : int

    Returns
    -------
    times : dict
        ``{operation: {contender: {side: seconds, or None when skipped}}}``.
    errors : list of str
        One line per contender that failed, at the side where it did.
    """
    budget = _benchmarks.memory_budget(_benchmarks.QUICK_MATRIX_BYTES)
    operations = (_benchmarks.CONV, _benchmarks.CONV_TRANSPOSE)
    times = {operation: {name: {} for name in _benchmarks.contenders(operation)}
             for operation in operations}
    progress = _Progress(sum(len(table) for table in times.values()) * len(sides))
    errors = []
    for operation, table in times.items():
        stopped = set()
        for side in sides:
            problem = _benchmarks.ladder_problem(operation, side)
            x, weight = problem.arrays()
            for name, row in table.items():
                progress.step(f"{problem.function_name} {name} {side}x{side}")
                row[side] = None
                if name in stopped or _benchmarks.skip_reason(name, problem, budget):
                    continue
                try:
                    call = _benchmarks.make_call(name, problem, x, weight, n_threads)
                    row[side] = _median_time(call, seconds)
                except (TypeError, ValueError, MemoryError) as exc:
                    errors.append(f"{problem.function_name} {name} at n={side}: {exc}")
                    stopped.add(name)
                    continue
                if row[side] > stop_after:
                    stopped.add(name)
    progress.close()
    return times, errors


def _print_ladders(times, sides, n_threads):
    """One table of milliseconds per operation: a row per side, a column per contender."""
    print(f"fastconv {fastconv.__version__}: milliseconds per call, float32, one image, "
          f"one channel, 3x3 kernel, {n_threads} thread{'s' if n_threads > 1 else ''}")
    print(f"each time: the median of at least {_MIN_REPEATS} calls after one untimed "
          "warm-up call")
    print(f"{_benchmarks.TORCH}: torch.nn.functional, {_benchmarks.SCIPY}: "
          "scipy.signal.correlate2d; -: skipped (too slow at the size before, "
          "or its matrix too large)\n")
    for operation, table in times.items():
        problem = _benchmarks.ladder_problem(operation, sides[0])
        settings = ", ".join(f"{name}={value}" for name, value in problem.arguments().items())
        print(f"{problem.function_name}(x, w, {settings}): n x n output")
        widths = [max(len(name), 8) + 2 for name in table]
        print(f"{'n':>6}" + "".join(f"{name:>{width}}" for name, width in zip(table, widths)))
        for side in sides:
            print(f"{side:>6}" + "".join(
                f"{'-':>{width}}" if row[side] is None else f"{row[side] * 1e3:>{width}.3g}"
                for row, width in zip(table.values(), widths)))
        print()


def _save_ladder_figure(times, out):
    """bench.png: one log-log panel of time against side per operation."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(times), figsize=(6.5 * len(times), 4.5),
                             layout="constrained")
    # every contender in every panel, so each keeps one colour throughout
    names = list(dict.fromkeys(name for table in times.values() for name in table))
    for ax, (operation, table) in zip(axes, times.items()):
        points = {name: [(side, seconds) for side, seconds in table.get(name, {}).items()
                         if seconds is not None] for name in names}
        function_name = _benchmarks.ladder_problem(operation, 2).function_name
        plot.plot_benchmark(points, title=f"{function_name}, 3x3 kernel, float32",
                            xlabel="image side n (output n x n)", ax=ax)
    _save(fig, out, "bench.png")


def _bench(args):
    out = _output_dir(args.out)
    sides = (16, 32, 64) if args.quick else (32, 64, 128, 256, 512, 1024)
    # seconds of repeats per point, and the call time after which a method
    # stops climbing the ladder (each step is 4x the work or more)
    seconds, stop_after = (0.01, 0.1) if args.quick else (0.2, 1.0)
    n_threads = _openmp.max_threads()
    times, errors = _time_ladders(sides, seconds, stop_after, n_threads)
    _print_ladders(times, sides, n_threads)
    for line in errors:
        print(line)
    if out is not None:
        _save_ladder_figure(times, out)
    return 0


# --------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------

def _package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas():
    """Lines describing the BLAS libraries NumPy and SciPy use."""
    import scipy
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, so it can be seen)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        lines = []
        for library in threadpool_info():
            if library["user_api"] != "blas":
                continue
            # wheels keep their libraries in <package>.libs
            folder = Path(library["filepath"]).parent.name
            owner = next((package for package in ("numpy", "scipy")
                          if folder.startswith(package)), "")
            lines.append(f"{library['internal_api']} {library['version']} "
                         f"({owner + ', ' if owner else ''}{library['num_threads']} threads, "
                         f"{library['prefix']})")
        if lines:
            return lines
    # without threadpoolctl: what NumPy and SciPy were built against
    lines = []
    for module in (np, scipy):
        try:
            blas = module.show_config(mode="dicts")["Build Dependencies"]["blas"]
            lines.append(f"{blas['name']} {blas.get('version', '')} ({module.__name__}, "
                         "as built; pip install threadpoolctl for the threads)")
        except (TypeError, KeyError):
            continue
    return lines or ["unknown"]


def _info(args):
    import sysconfig
    import scipy

    threads = _openmp.max_threads()
    omp_num_threads = os.environ.get("OMP_NUM_THREADS")
    if _openmp.openmp_enabled():
        setting = (f"OMP_NUM_THREADS={omp_num_threads}" if omp_num_threads
                   else "OMP_NUM_THREADS unset")
        openmp = (f"on, {threads} threads by default ({setting}; "
                  "n_threads= per call)")
    else:
        openmp = "off (the compiler had no OpenMP): kernels run on one thread"
    cflags = sysconfig.get_config_var("CFLAGS") or ""
    march = [flag for flag in cflags.split() if flag.startswith(("-march", "-mcpu"))]
    # setup.py adds no machine flags; the direct kernels pick their vector
    # width at import from what this CPU runs
    isa = (f"{platform.machine()}, {' '.join(march) if march else 'baseline (no -march)'}"
           f", direct kernels dispatched at run time to {_direct.simd_version()}")
    blas = _blas()
    rows = [
        ("OpenMP", openmp),
        ("instruction set", isa),
        ("BLAS", blas[0]),
        *(("", line) for line in blas[1:]),
        ("conv methods", ", ".join(fastconv.CONV_METHODS)),
        ("conv_transpose", ", ".join(fastconv.CONV_TRANSPOSE_METHODS)),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()}, "
                   f"{platform.system()} {platform.machine()})"),
        ("NumPy", np.__version__),
        ("SciPy", scipy.__version__),
    ]
    for package, use in (("matplotlib", "figures"), ("torch", "benchmarks"),
                         ("threadpoolctl", "thread limits")):
        version = _package_version(package)
        rows.append((package, f"{version} ({use})" if version else f"not installed ({use})"))
    print(f"fastconv {fastconv.__version__} ({Path(fastconv.__file__).parent})")
    for key, value in rows:
        print(f"  {key + ':' if key else '':<17}{value}")
    return 0


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------

def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _parser():
    parser = _Parser(
        prog="fastconv",
        description="Convolution and transposed convolution on NumPy arrays: "
                    "a worked tour, benchmarks and build information. "
                    "Without a command, prints the demo.",
        epilog="What each command shows:\n"
               "  demo   a 4x4 input and 3x3 kernel step by step: the convolution, one\n"
               "         output's receptive field, the convolution matrix C, C @ x, C.T,\n"
               "         the 2x2 -> 4x4 up-sampling as a sum of value x kernel terms, zero\n"
               "         insertion, the kernel-overlap maps (checkerboard); checks every\n"
               "         method agrees; --out DIR writes one PNG per step\n"
               "  bench  milliseconds per call of every method (torch and scipy alongside\n"
               "         when installed) over image sizes; --quick takes seconds; --out DIR\n"
               "         writes bench.png\n"
               "  info   version, OpenMP and threads, instruction set, BLAS, libraries\n"
               "Run 'fastconv COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"fastconv {fastconv.__version__}")
    parser.set_defaults(run=_demo, out=None, seed=0)
    commands = parser.add_subparsers(title="commands", metavar="{demo,bench,info}")

    demo = commands.add_parser(
        "demo", help="the worked example step by step: input, kernel, convolution, C, "
                     "C @ x, C.T, up-sampling, zero insertion, overlap; every method checked",
        description="A random 4x4 integer input and 3x3 kernel through convolution, "
                    "the convolution matrix and transposed convolution; prints each "
                    "step and checks that every method agrees.")
    demo.add_argument("--out", metavar="DIR",
                      help=f"also write one PNG per step into DIR (needs matplotlib: "
                           f"{PLOT_EXTRA})")
    demo.add_argument("--seed", type=_seed, default=0, metavar="N",
                      help="random seed of the input and kernel (default 0)")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser(
        "bench", help="every method's time per call (median after a warm-up) over image "
                      "sizes, torch and scipy alongside",
        description="Times every method of conv2d and conv_transpose2d (and torch and "
                    "scipy when installed) on one-channel float32 images of growing "
                    "size; prints a table.")
    bench.add_argument("--quick", action="store_true",
                       help="small sizes (16 to 64) and few repeats: a few seconds")
    bench.add_argument("--out", metavar="DIR",
                       help=f"also write bench.png into DIR (needs matplotlib: {PLOT_EXTRA})")
    bench.set_defaults(run=_bench)

    info = commands.add_parser("info", help="version, OpenMP threads, SIMD, BLAS and "
                                            "library versions",
                               description="Version, OpenMP, instruction set, BLAS and "
                                           "library versions.")
    info.set_defaults(run=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastconv`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as exc:
        print(f"fastconv: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastconv: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (fastconv | head): stop quietly
        sys.stdout = open(os.devnull, "w")
        return 1
