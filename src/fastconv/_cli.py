"""The ``fastconv`` command (also ``python -m fastconv``).

    fastconv                               the classic worked example, printed
    fastconv demo [--out DIR] [--seed N]   the same, plus one figure per step
    fastconv bench [--quick] [--out DIR]   every method timed over image sizes
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
from . import _direct, _methods, _openmp, plot

PLOT_EXTRA = 'pip install "fastconv[plot]"'


class CommandError(Exception):
    """A problem the user can fix, reported as one line without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------
# shared helpers
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


def _save(fig, out, name):
    import matplotlib.pyplot as plt
    path = out / name
    try:
        fig.savefig(path, dpi=150)
    except OSError as exc:
        raise CommandError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    print(f"   -> {path}")


def _show(array, indent="   "):
    """An array as NumPy prints it, indented."""
    text = np.array2string(np.asarray(array), max_line_width=100)
    return "\n".join(indent + line for line in text.splitlines())


def _size(shape):
    return "x".join(str(s) for s in shape)


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
    up = fastconv.conv_transpose2d(y, w)
    k, s = 3, 2
    overlap = fastconv.conv_transpose2d(np.ones(x.shape, dtype=np.int64),
                                        np.ones((k, k), dtype=np.int64), stride=s)
    n_in, n_out = x.size, y.size

    print(f"fastconv {fastconv.__version__}: convolution and transposed convolution, "
          f"computed for real (seed {args.seed})\n")
    # (file name, heading, printed value, the figure of the step)
    steps = [
        ("01_input.png", f"input x, {_size(x.shape)}:", x,
         lambda: plot.show_matrix(x, title="input x")),
        ("02_kernel.png", f"kernel w, {_size(w.shape)}:", w,
         lambda: plot.show_matrix(w, title="kernel w", style="diverging")),
        ("03_convolution.png",
         f"y = conv2d(x, w), {_size(x.shape)} -> {_size(y.shape)}: each output value is "
         f"w times one {_size(w.shape)} window\n   of x, summed "
         f"({w.size} input values -> 1 output value):", y,
         lambda: plot.plot_convolution(x, w)),
        ("04_convolution_matrix.png",
         f"the convolution matrix C = convolution_matrix(w, {x.shape}), "
         f"{_size(C.shape)}:\n   row i is w laid into the flattened input at output "
         "cell i", C, lambda: plot.plot_convolution_matrix(C)),
        ("05_matrix_product.png",
         f"C @ x.ravel() = y.ravel(), {n_in} values -> {n_out}:", C @ x.ravel(),
         lambda: plot.plot_convolution_matrix(C, x)),
        ("06_transposed_matrix.png",
         f"the transposed convolution matrix C.T, {_size(C.T.shape)}:\n   column j "
         f"spreads y.ravel()[j] over a {_size(w.shape)} patch of the flattened "
         f"{_size(x.shape)} output", C.T,
         lambda: plot.plot_convolution_matrix(C, transpose=True)),
        ("07_upsampling.png",
         f"conv_transpose2d(y, w) = (C.T @ y.ravel()).reshape{x.shape}, "
         f"{_size(y.shape)} -> {_size(up.shape)}:\n   each input value adds "
         f"value * w into the output (1 input value -> {w.size} output values)", up,
         lambda: plot.plot_convolution(y, w, transpose=True)),
        (f"08_overlap_k{k}_s{s}.png",
         f"kernel taps reaching each output cell of conv_transpose2d, kernel {k}, "
         f"stride {s}, {_size(x.shape)} input:\n   uneven, because {k} is not a "
         f"multiple of {s}: the checkerboard artifact", overlap,
         lambda: plot.plot_overlap(k, s, input_size=x.shape)),
    ]
    for number, (name, heading, value, figure) in enumerate(steps, 1):
        print(f"{number}. {heading}\n{_show(value)}")
        if out is not None:
            _save(figure(), out, name)
        print()

    print(f"{len(steps) + 1}. the same results from every method "
          f"(compared with the matrix products C @ x and C.T @ y):")
    print(f"   {'operation':<18}{'method':<18}{'equal':<7}{'max |difference|':<18}dtype")
    agree = True
    checks = [(fastconv.conv2d, _methods.CONV, fastconv.CONV_METHODS, x, C @ x.ravel()),
              (fastconv.conv_transpose2d, _methods.CONV_TRANSPOSE,
               fastconv.CONV_TRANSPOSE_METHODS, y, C.T @ y.ravel())]
    for function, op, methods, data, expected in checks:
        for method in methods:
            if method == "auto" or _methods.supports_integers(op, method):
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
    if not agree:
        raise CommandError("the methods above disagree; please report this as a bug")
    if out is not None:
        print(f"\n{len(steps)} figures in {out}")
    return 0


# --------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------

# methods that build a dense (output size x input size) matrix: skipped
# where that matrix would not fit in this many bytes
_DENSE_METHODS = {"dense"}
_DENSE_LIMIT = 256 * 2**20

# (function, its arguments, input side for output side n): one-channel
# n x n outputs from a 3x3 kernel
_WORKLOADS = [
    ("conv2d", dict(padding=1), lambda n: n),
    ("conv_transpose2d", dict(stride=2, padding=1, output_padding=1), lambda n: n // 2),
]


def _calls(name, kwargs, side, dtype):
    """{label: a call computing workload ``name`` on a ``side`` x ``side`` input}.

    Every fastconv method, then torch and scipy where installed and applicable.
    """
    rng = np.random.default_rng(side)
    x = rng.standard_normal((1, 1, side, side)).astype(dtype)
    kernel = rng.standard_normal((1, 1, 3, 3)).astype(dtype)
    function = getattr(fastconv, name)
    methods = fastconv.CONV_METHODS if name == "conv2d" else fastconv.CONV_TRANSPOSE_METHODS
    calls = {m: (lambda m=m: function(x, kernel, **kwargs, method=m)) for m in methods}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(kernel)
        torch_function = getattr(torch.nn.functional, name)
        calls["torch"] = lambda: torch_function(tx, tw, **kwargs)
    if name == "conv2d":
        from scipy import signal
        # zero 'same' padding of a 3x3 kernel is conv2d's padding=1
        calls["scipy"] = lambda: signal.correlate2d(
            x[0, 0], kernel[0, 0], mode="same")
    return calls, x.size


def _time(fn, budget):
    """Best time of one call of ``fn`` over at least 3 calls and about ``budget`` seconds."""
    start = time.perf_counter()
    fn()
    best = time.perf_counter() - start
    for _ in range(min(max(int(budget / max(best, 1e-7)), 2), 200)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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


def _bench(args):
    out = _output_dir(args.out)
    sizes = (16, 32, 64) if args.quick else (32, 64, 128, 256, 512, 1024)
    # seconds of repeats per point, and the call time after which a method
    # stops climbing the ladder (each step is 4x the work or more)
    budget, limit = (0.01, 0.1) if args.quick else (0.2, 1.0)
    dtype = np.float32
    try:
        import torch
        torch.set_num_threads(_openmp.max_threads())
    except ImportError:
        pass

    # {workload: {label: {n: seconds, or None when skipped}}}, the labels
    # read from the calls for a tiny input
    results = {name: {label: {} for label in _calls(name, kwargs, 2, dtype)[0]}
               for name, kwargs, _ in _WORKLOADS}
    progress = _Progress(sum(len(r) for r in results.values()) * len(sizes))
    errors = []
    for name, kwargs, side in _WORKLOADS:
        table = results[name]
        stopped = set()
        for n in sizes:
            calls, input_size = _calls(name, kwargs, side(n), dtype)
            for label, call in calls.items():
                progress.step(f"{name} {label} {n}x{n}")
                too_big = (label in _DENSE_METHODS
                           and input_size * n * n * np.dtype(dtype).itemsize > _DENSE_LIMIT)
                if label in stopped or too_big:
                    table[label][n] = None
                    continue
                try:
                    table[label][n] = _time(call, budget)
                except (TypeError, ValueError, MemoryError) as exc:
                    errors.append(f"{name} {label} at n={n}: {exc}")
                    table[label][n] = None
                    stopped.add(label)
                    continue
                if table[label][n] > limit:
                    stopped.add(label)
    progress.close()

    threads = _openmp.max_threads()
    print(f"fastconv {fastconv.__version__}: milliseconds per call, float32, one image, "
          f"one channel, 3x3 kernel, {threads} thread{'s' if threads > 1 else ''}")
    print("torch: torch.nn.functional, scipy: scipy.signal.correlate2d; "
          "-: skipped (too slow at the size before, or its matrix too large)\n")
    for name, kwargs, _ in _WORKLOADS:
        table = results[name]
        settings = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        print(f"{name}(x, w, {settings}): n x n output")
        widths = [max(len(label), 8) + 2 for label in table]
        print(f"{'n':>6}" + "".join(f"{label:>{w}}" for label, w in zip(table, widths)))
        for n in sizes:
            print(f"{n:>6}" + "".join(
                f"{'-':>{w}}" if row[n] is None else f"{row[n] * 1e3:>{w}.3g}"
                for row, w in zip(table.values(), widths)))
        print()
    for line in errors:
        print(line)

    if out is not None:
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5),
                                 layout="constrained")
        # every label in every panel, so each keeps one colour throughout
        labels = list(dict.fromkeys(label for table in results.values() for label in table))
        for ax, (name, table) in zip(axes, results.items()):
            points = {label: [(n, t) for n, t in table.get(label, {}).items()
                              if t is not None] for label in labels}
            plot.plot_benchmark(points, title=f"{name}, 3x3 kernel, float32",
                                xlabel="image side n (output n x n)", ax=ax)
        _save(fig, out, "bench.png")
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
        for lib in threadpool_info():
            if lib["user_api"] != "blas":
                continue
            # wheels keep their libraries in <package>.libs
            folder = Path(lib["filepath"]).parent.name
            owner = next((p for p in ("numpy", "scipy") if folder.startswith(p)), "")
            lines.append(f"{lib['internal_api']} {lib['version']} "
                         f"({owner + ', ' if owner else ''}{lib['num_threads']} threads, "
                         f"{lib['prefix']})")
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
    env = os.environ.get("OMP_NUM_THREADS")
    if _openmp.openmp_enabled():
        openmp = (f"on, {threads} threads by default "
                  f"({'OMP_NUM_THREADS=' + env if env else 'OMP_NUM_THREADS unset'}; "
                  "n_threads= per call)")
    else:
        openmp = "off (the compiler had no OpenMP): kernels run on one thread"
    cflags = sysconfig.get_config_var("CFLAGS") or ""
    march = [f for f in cflags.split() if f.startswith(("-march", "-mcpu"))]
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
    )
    parser.add_argument("--version", action="version",
                        version=f"fastconv {fastconv.__version__}")
    parser.set_defaults(run=_demo, out=None, seed=0)
    commands = parser.add_subparsers(title="commands", metavar="{demo,bench,info}")

    demo = commands.add_parser(
        "demo", help="the classic worked example, computed: matrices, figures, checks",
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
        "bench", help="time every method over a ladder of image sizes",
        description="Times every method of conv2d and conv_transpose2d (and torch and "
                    "scipy when installed) on one-channel float32 images of growing "
                    "size; prints a table.")
    bench.add_argument("--quick", action="store_true",
                       help="small sizes and few repeats: a few seconds")
    bench.add_argument("--out", metavar="DIR",
                       help=f"also write bench.png into DIR (needs matplotlib: {PLOT_EXTRA})")
    bench.set_defaults(run=_bench)

    info = commands.add_parser("info", help="version, build options and libraries",
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
