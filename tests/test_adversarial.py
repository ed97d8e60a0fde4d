"""Calls built to break fastconv: extreme sizes, zero-size arrays, values at
the edge of int64, the reproducers of known crashes, hangs and runaway
allocations.

Every call runs in a child process (:class:`Worker`), so a segfault or a
hang fails its own test instead of the whole run.  A call passes when it
returns the right values (compared exactly, or to float tolerance, with
:func:`oracle`, an exact loop over the valid (output, tap) pairs only, so
it handles strides of 2**40) within :data:`TIME_LIMIT` seconds, or raises a
clear ValueError / OverflowError whose message names the argument at fault.
The child also measures each call's peak memory; tests/test_memory.py holds
the bound.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import fastconv

TESTS_DIR = Path(__file__).resolve().parent

#: Instrumented builds (tools/sanitize.sh) run slower: the time limits scale.
TIME_SCALE = float(os.environ.get("FASTCONV_TEST_TIME_SCALE", "1"))
#: Seconds a call may take; these are tiny problems, a correct method takes
#: milliseconds.  The child is killed a little later (a hang).
TIME_LIMIT = 5.0 * TIME_SCALE
KILL_AFTER = TIME_LIMIT + 10.0

#: AddressSanitizer maps terabytes of shadow memory: no address-space limit
#: and no resident-memory measurement under it, tracemalloc only.
SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")

GiB = 2**30
MiB = 2**20
I64 = 2**63


# --------------------------------------------------------------------------
# the child process
# --------------------------------------------------------------------------

_BOOT = """
import json, os, sys, traceback, importlib
protocol = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)   # stray prints go to stderr, not into the protocol
sys.path.insert(0, {tests!r})
import numpy as np, fastconv
fastconv.conv1d(np.ones((1, 1, 64)), np.ones((1, 1, 3)))  # start the OpenMP threads
protocol.write("ready\\n"); protocol.flush()
for line in sys.stdin:
    module, function, args = json.loads(line)
    try:
        result = getattr(importlib.import_module(module), function)(*args)
    except BaseException:
        result = {{"status": "harness-error", "message": traceback.format_exc()}}
    protocol.write(json.dumps(result) + "\\n"); protocol.flush()
"""


class Worker:
    """A child Python that runs ``module.function(*args)`` calls one at a time
    and answers with the function's JSON-able result.  A crash or a call
    running past ``timeout`` kills the child (the next call starts a new one)
    and answers ``{"status": "crash" | "timeout", ...}`` with the end of the
    child's stderr (a sanitizer report lands there)."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", _BOOT.format(tests=str(TESTS_DIR))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            env=self.env)
        self.buffer = b""
        answer = self._read(60.0 * TIME_SCALE)
        if answer != "ready":
            raise RuntimeError(f"the worker did not start: {answer}")

    def _read(self, timeout: float) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return self._fail("timeout", f"no answer after {timeout:.0f} s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    code = self.proc.wait()
                    return self._fail("crash", f"the child died with exit code {code}")
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return "ready" if line == b"ready" else json.loads(line)

    def _fail(self, status: str, message: str) -> dict[str, Any]:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.stderr.seek(0)
        tail = self.stderr.read()[-6000:].decode(errors="replace")
        return {"status": status, "message": f"{message}\n--- child stderr ---\n{tail}"}

    def call(self, module: str, function: str, *args: Any,
             timeout: float = KILL_AFTER) -> dict[str, Any]:
        if self.proc is None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        self.stderr.seek(0)
        self.stderr.truncate()
        self.proc.stdin.write((json.dumps([module, function, list(args)]) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(timeout)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_WORKERS: dict[tuple[tuple[str, str], ...], Worker] = {}


def worker(env: dict[str, str] | None = None) -> Worker:
    """The shared worker for this environment override."""
    key = tuple(sorted((env or {}).items()))
    if key not in _WORKERS:
        _WORKERS[key] = Worker(env)
    return _WORKERS[key]


@atexit.register
def _close_workers() -> None:
    for w in _WORKERS.values():
        w.close()


# --------------------------------------------------------------------------
# the exact oracle
# --------------------------------------------------------------------------

def _valid(out_len, in_len, k, s, d, p0, transpose):
    """Per dim: the (output index, tap, input index) triples that meet."""
    triples = []
    if transpose:   # input i, tap t land on output i*s + t*d - p0
        for i in range(in_len):
            for t in range(k):
                o = i * s + t * d - p0
                if 0 <= o < out_len:
                    triples.append((o, t, i))
    else:           # output o, tap t read input o*s + t*d - p0
        for o in range(out_len):
            for t in range(k):
                i = o * s + t * d - p0
                if 0 <= i < in_len:
                    triples.append((o, t, i))
    return triples


def oracle(x, w, stride=1, padding=0, dilation=1, groups=1, output_padding=0,
           transpose=False, bias=None):
    """The exact convolution (``transpose=False``) or transposed convolution
    of batched ``x``; integers in Python ints (object array), floats in
    float64.  ``padding`` is an int, a per-dim tuple or (before, after)
    pairs.  It loops over the valid (output, tap, input) triples of each dim,
    so huge strides, paddings and dilations cost nothing."""
    nd = x.ndim - 2
    per = (lambda v: (v,) * nd if isinstance(v, int) else tuple(v))
    s, d, op = per(stride), per(dilation), per(output_padding)
    pads = [(p, p) if isinstance(p, int) else tuple(p) for p in per(padding)]
    k, L = w.shape[2:], x.shape[2:]
    if transpose:
        out = [(L[i] - 1) * s[i] - sum(pads[i]) + d[i] * (k[i] - 1) + 1 + op[i]
               for i in range(nd)]
        c_out = w.shape[1] * groups
    else:
        out = [(L[i] + sum(pads[i]) - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd)]
        c_out = w.shape[0]
    if min(out) < 0:
        raise ValueError(f"empty output {out}")
    exact = x.dtype.kind in "biu" and w.dtype.kind in "biu"
    dtype = object if exact else np.float64
    result = np.zeros((x.shape[0], c_out, *out), dtype=dtype)
    if result.size and x.shape[1]:
        xs, ws = x.astype(dtype), w.astype(dtype)
        cin_g, cout_g = x.shape[1] // groups, c_out // groups
        dims = [_valid(out[i], L[i], k[i], s[i], d[i], pads[i][0], transpose)
                for i in range(nd)]
        for combo in itertools.product(*dims):
            o, t, i = zip(*combo)
            for g in range(groups):
                xv = xs[(slice(None), slice(g * cin_g, (g + 1) * cin_g)) + i]
                if transpose:
                    wv = ws[(slice(g * cin_g, (g + 1) * cin_g), slice(None)) + t]
                else:
                    wv = ws[(slice(g * cout_g, (g + 1) * cout_g), slice(None)) + t].T
                result[(slice(None), slice(g * cout_g, (g + 1) * cout_g)) + o] += xv @ wv
    if bias is not None:
        result += bias.astype(dtype).reshape((1, -1) + (1,) * nd)
    return result


# --------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------

@dataclass
class Case:
    """One adversarial call.  ``make()`` returns ``(args, kwargs)`` for
    ``fastconv.<fn>``, built in the child; the expected outcome is
    ``expect(args, kwargs)``: an array (or None for "must raise"), by default
    :func:`oracle`.  ``names``: words one of which a refusal's message must
    hold."""
    id: str
    fn: str
    make: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    names: tuple[str, ...]
    methods: tuple[str | None, ...] = (None,)   # None: the function has no method=
    expect: Callable[..., Any] | None = None
    errors: tuple[str, ...] = ("ValueError", "OverflowError")
    env: dict[str, str] = field(default_factory=dict)
    limit_address_space: bool = True
    #: a reproducer of the issue's findings: tests/test_memory.py bounds its memory
    reproducer: bool = False
    check: Callable[[Any, Any], str | None] | None = None  # custom comparison


CASES: dict[str, Case] = {}
CONV = ("auto",) + tuple(m for m in fastconv.CONV_METHODS if m != "auto")
CONV_T = ("auto",) + tuple(m for m in fastconv.CONV_TRANSPOSE_METHODS if m != "auto")


def case(id, fn, make, names, methods=None, **kw):
    if methods is None:
        methods = {"conv": CONV, "conv_transpose": CONV_T}.get(fn[:-2], (None,))
    CASES[id] = Case(id, fn, make, tuple(names), tuple(methods), **kw)


def _default_expect(fn, args, kwargs):
    if not fn.startswith("conv"):
        raise AssertionError(f"case of {fn} needs its own expect")
    transpose = "transpose" in fn
    x, w = np.asarray(args[0]), np.asarray(args[1])
    kw = {k: v for k, v in kwargs.items() if k not in ("method", "n_threads")}
    return oracle(x, w, transpose=transpose, **kw)


def ones(shape, dtype=np.float64):
    return np.ones(shape, dtype)


def arrays(x, w, **kwargs):
    """A ``make`` for the fixed arrays and keyword arguments."""
    return lambda: ((x(), w()), dict(kwargs))


def full(shape, value, dtype=np.int64):
    return lambda: np.full(shape, value, dtype)


# 1. the stride-phase product overflows int64 in the channel-blocked kernel
case("issue1-stride2**32", "conv2d",
     arrays(lambda: ones((1, 8, 3, 3)), lambda: ones((4, 8, 3, 3)), stride=2**32),
     ["stride"], reproducer=True)
case("issue1-stride2**32-batch4096", "conv2d",
     arrays(lambda: ones((4096, 8, 3, 3)), lambda: ones((4, 8, 3, 3)), stride=2**32),
     ["stride"], methods=["auto", "direct", "gemm"], reproducer=True)
case("issue1-stride2**31-1x1", "conv2d",
     arrays(lambda: ones((1, 8, 1, 1)), lambda: ones((4, 8, 1, 1)), stride=2**31),
     ["stride"], reproducer=True)
case("issue1-stride2**40-3d", "conv3d",
     arrays(lambda: ones((2, 8, 3, 3, 3)), lambda: ones((4, 8, 2, 2, 2)), stride=2**40),
     ["stride"], reproducer=True)
# 2. memory and time grow with the product of the strides
for s in (512, 65536):
    case(f"issue2-stride{s}", "conv2d",
         arrays(lambda: ones((1, 8, 3, 3)), lambda: ones((4, 8, 3, 3)), stride=s),
         ["stride"], reproducer=True)
case("issue2-stride128-batch4096", "conv2d",
     arrays(lambda: ones((4096, 8, 3, 3)), lambda: ones((4, 8, 3, 3)), stride=128),
     ["stride"], methods=["auto", "direct", "gemm"], reproducer=True)
# 3. the transposed direct kernel with kernel = stride
case("issue3-kernel=stride16384", "conv_transpose1d",
     arrays(lambda: ones((1, 8, 1)), lambda: ones((8, 4, 16384)), stride=16384),
     ["stride"], reproducer=True)
case("issue3-auto-kernel=stride4096-padded", "conv_transpose1d",
     arrays(lambda: ones((64, 8, 2)), lambda: ones((8, 4, 4096)), stride=4096, padding=1),
     ["stride"], methods=["auto", "direct", "scatter"], reproducer=True)
# 4. method='sparse' must refuse a matrix above its limit (like 'dense' above 1 GiB)
case("issue4-sparse-128ch-64x64", "conv2d",
     arrays(lambda: ones((1, 128, 64, 64), np.float32),
            lambda: ones((128, 128, 3, 3), np.float32)),
     ["GiB", "sparse", "method"], methods=["sparse", "dense"], reproducer=True,
     expect=lambda a, k: np.full((1, 128, 62, 62), 1152.0))
case("issue4-sparse-128ch-64x64-transposed", "conv_transpose2d",
     arrays(lambda: ones((1, 128, 62, 62), np.float32),
            lambda: ones((128, 128, 3, 3), np.float32)),
     ["GiB", "sparse", "method"], methods=["sparse", "dense"], reproducer=True,
     expect=lambda a, k: 128.0 * np.outer(*[np.convolve(np.ones(62), np.ones(3))] * 2)
     * np.ones((1, 128, 1, 1)))
# 5. zero_insertion builds the whole zero-inserted input before cropping
for nd in (1, 2, 3):
    case(f"issue5-stride2**40-padding2**40-1-{nd}d", f"conv_transpose{nd}d",
         arrays(full((1, 1) + (3,) * nd, 2), full((1, 1) + (2,) * nd, 5),
                stride=2**40, padding=2**40 - 1),
         ["stride", "padding"], reproducer=True)
case("issue5-float", "conv_transpose1d",
     arrays(lambda: np.array([[[1.0, 2.0, 3.0]]]), lambda: np.array([[[1.0, 10.0]]]),
            stride=2**40, padding=2**40 - 1),
     ["stride", "padding"], reproducer=True,
     expect=lambda a, k: np.array([[[0.0, 2.0, 20.0, 0.0]]]))
# 6. per-thread workspace: n_threads up to 1024, or OMP_NUM_THREADS
_long = arrays(lambda: ones((1, 8, 1, 10**6), np.float32),
               lambda: ones((4, 8, 1, 3), np.float32))
case("issue6-n_threads1024", "conv2d", lambda: (_long()[0], {"n_threads": 1024}),
     ["n_threads"], methods=["direct", "auto"], reproducer=True,
     limit_address_space=False,  # 1024 thread stacks
     expect=lambda a, k: np.full((1, 4, 1, 10**6 - 2), 24.0))
case("issue6-OMP_NUM_THREADS5000", "conv2d", _long,
     ["n_threads", "OMP_NUM_THREADS"], methods=["direct", "auto"], reproducer=True,
     env={"OMP_NUM_THREADS": "5000"}, limit_address_space=False,
     expect=lambda a, k: np.full((1, 4, 1, 10**6 - 2), 24.0))


# 7. conv_operator with zero channels
def _operator_check(product):
    """Expect: a LinearOperator whose matvec / rmatvec give ``product``."""
    def check(op, _):
        shape = op.shape
        got = (op.matvec(np.ones(shape[1])), op.rmatvec(np.ones(shape[0])))
        want = product(shape)
        for a, b, name in zip(got, want, ("matvec", "rmatvec")):
            if a.shape != b.shape or not np.array_equal(a, b):
                return f"{name}: got {a!r}, expected {b!r}"
        return None
    return check


case("issue7-operator-zero-input-channels", "conv_operator",
     lambda: ((np.ones((4, 0, 3, 3)), (0, 8, 8)), {}), ["channel"], reproducer=True,
     expect=lambda a, k: None,
     check=_operator_check(lambda s: (np.zeros(4 * 36), np.zeros(0))))
case("issue7-operator-zero-output-channels", "conv_operator",
     lambda: ((np.ones((0, 3, 3, 3)), (3, 8, 8)), {}), ["channel"], reproducer=True,
     expect=lambda a, k: None,
     check=_operator_check(lambda s: (np.zeros(0), np.zeros(3 * 64))))
# 8. a matrix with more than 2**63 columns: ValueError
for fmt in ("csr", "coo", "dense"):
    for nd in (2, 3):
        case(f"issue8-matrix-2**{40 * nd}-columns-{fmt}", "convolution_matrix",
             lambda nd=nd, fmt=fmt: ((np.ones((1, 1) + (1,) * nd), (1,) + (2**40,) * nd),
                                     {"format": fmt}),
             ["input_shape", "columns", "rows", "matrix"], errors=("ValueError",),
             reproducer=True, expect=lambda a, k: None)
# 9. integer overflow must be exact or an OverflowError
case("issue9-2**62*2", "conv1d", arrays(full((1, 1, 2), 2**62), full((1, 1, 2), 2)),
     ["overflow", "int64", "2**63"], errors=("OverflowError",), reproducer=True)
case("issue9-2**62*2-transposed", "conv_transpose1d",
     arrays(full((1, 2, 1), 2**62), full((2, 1, 1), 2)),
     ["overflow", "int64", "2**63"], errors=("OverflowError",), reproducer=True)
case("issue9-2**62*2-2d-padded", "conv2d",
     arrays(full((1, 1, 3, 3), -2**62), full((1, 1, 2, 2), 3), padding=1),
     ["overflow", "int64", "2**63"], errors=("OverflowError",), reproducer=True)
# at the edge: the exact sum fits (2**62, -2**63); exact, or an OverflowError
# where the bound max|x| * max|w| * terms reaches 2**63
case("int64-edge-2**62-fits", "conv1d",
     arrays(full((1, 1, 2), 2**30), full((1, 1, 2), 2**31)), ["overflow", "int64"],
     errors=())
case("int64-edge-minus2**63", "conv1d",
     arrays(full((1, 1, 2), -2**31), full((1, 1, 2), 2**31)),
     ["overflow", "int64", "2**63"], errors=("OverflowError",))
case("int64-edge-uint64", "conv1d",
     arrays(full((1, 1, 1), 2**63, np.uint64), full((1, 1, 1), 1, np.uint64)),
     ["uint64", "x", "2**63"], errors=("ValueError", "OverflowError", "TypeError"),
     expect=lambda a, k: None)


# extremes of every size argument
def _conv_ones(nd, size=3, k=2, dtype=np.int64, c=(1, 1, 1), transpose=False):
    """x, w for a convolution of nd dims: c = (batch, c_in, c_out)."""
    n, c_in, c_out = c
    x = lambda: np.arange(1, n * c_in * size**nd + 1, dtype=dtype).reshape(
        (n, c_in) + (size,) * nd)
    wshape = ((c_in, c_out) if transpose else (c_out, c_in)) + (k,) * nd
    w = lambda: np.arange(1, int(np.prod(wshape)) + 1, dtype=dtype).reshape(wshape) * 10
    return x, w


for nd in (1, 2, 3):
    for p in (62, 63):   # above the 2**40 limit: refused, naming the argument
        for arg in ("stride", "padding", "dilation"):
            case(f"{arg}2**{p}-{nd}d", f"conv{nd}d",
                 arrays(*_conv_ones(nd), **{arg: 2**p}), [arg], methods=["auto"],
                 expect=lambda a, k: None)
        for arg in ("stride", "padding", "dilation", "output_padding"):
            case(f"{arg}2**{p}-transposed-{nd}d", f"conv_transpose{nd}d",
                 arrays(*_conv_ones(nd, transpose=True), **{arg: 2**p}), [arg],
                 methods=["auto"], expect=lambda a, k: None)
    for p in (31, 32, 40):
        S = 2**p
        case(f"stride2**{p}-{nd}d", f"conv{nd}d",
             arrays(*_conv_ones(nd, c=(2, 3, 2)), stride=S), ["stride"])
        case(f"stride2**{p}-float32-{nd}d", f"conv{nd}d",
             arrays(*_conv_ones(nd, dtype=np.float32, c=(2, 8, 4)), stride=S), ["stride"])
        # stride, padding, dilation together: output 2 per dim
        case(f"stride=padding=dilation=2**{p}-{nd}d", f"conv{nd}d",
             arrays(*_conv_ones(nd, c=(1, 2, 3)), stride=S, padding=S, dilation=S),
             ["stride", "padding", "dilation"])
        case(f"padding2**{p}-huge-output-{nd}d", f"conv{nd}d",
             arrays(*_conv_ones(nd), padding=S), ["padding", "output", "allocate"],
             methods=["auto", "direct"], errors=("ValueError", "OverflowError", "MemoryError"),
             expect=lambda a, k: None)
        case(f"transposed-stride2**{p}-padding2**{p}-1-{nd}d", f"conv_transpose{nd}d",
             arrays(*_conv_ones(nd, c=(2, 3, 2), transpose=True), stride=S, padding=S - 1),
             ["stride", "padding"])
        case(f"transposed-output_padding2**{p}-1-{nd}d", f"conv_transpose{nd}d",
             arrays(*_conv_ones(nd, size=2, k=1, transpose=True), stride=S, padding=S - 1,
                    output_padding=S - 1),
             ["stride", "padding", "output_padding"])
        case(f"transposed-dilation2**{p}-{nd}d", f"conv_transpose{nd}d",
             arrays(*_conv_ones(nd, size=2, transpose=True), dilation=S,
                    padding=((S, 0),) * nd),
             ["dilation", "padding"])
        case(f"transposed-stride2**{p}-huge-output-{nd}d", f"conv_transpose{nd}d",
             arrays(*_conv_ones(nd, transpose=True), stride=S), ["stride", "output", "allocate"],
             methods=["auto", "direct"], errors=("ValueError", "OverflowError", "MemoryError"),
             expect=lambda a, k: None)

for p in (31, 40, 62):
    K = 2**p
    # a kernel of 2**p taps exists with zero channels; so does an input of 2**p
    # (int8 / bool: numpy refuses arrays whose nbytes without the zero would
    # pass 2**63)
    case(f"kernel2**{p}-zero-output-channels", "conv1d",
         arrays(lambda: ones((1, 1, 4)), lambda K=K: np.ones((0, 1, K), np.int8),
                padding=K // 2),
         ["kernel", "padding"])
    case(f"kernel2**{p}-transposed-zero-output-channels", "conv_transpose1d",
         arrays(lambda: ones((1, 1, 2)), lambda K=K: np.ones((1, 0, K), np.int8)),
         ["kernel", "output"], errors=("ValueError", "OverflowError"))
    case(f"input2**{p}-zero-channels", "conv1d",
         lambda K=K: ((np.ones((1, 0, K), np.int8), ones((4, 0, 3))),
                      {"stride": min(K, 2**40), "bias": np.arange(4.0)}),
         ["input", "x", "size", "stride"])
    case(f"input2**{p}-zero-batch", "conv2d",
         arrays(lambda K=K: np.ones((0, 1, 1, K), bool), lambda: ones((4, 1, 1, 3)),
                stride=(1, min(K, 2**40))),
         ["input", "x", "size"])
    case(f"input2**{p}-zero-channels-transposed", "conv_transpose1d",
         lambda K=K: ((np.ones((1, 0, K), np.int8), ones((0, 4, 3))),
                      {"padding": min(K // 2, 2**40), "bias": np.arange(4.0)}),
         ["input", "x", "size", "padding"])

# zero-size arrays
for nd in (1, 2):
    sp = (4,) * nd
    for label, xs, ws in [("batch0", (0, 2) + sp, (3, 2) + (2,) * nd),
                          ("in-channels0", (2, 0) + sp, (3, 0) + (2,) * nd),
                          ("out-channels0", (2, 2) + sp, (0, 2) + (2,) * nd)]:
        case(f"zero-{label}-{nd}d", f"conv{nd}d", arrays(lambda xs=xs: ones(xs),
                                                        lambda ws=ws: ones(ws)),
             ["x", "weight", "channel", "size"])
        wt = (ws[1], ws[0]) + ws[2:]
        case(f"zero-{label}-transposed-{nd}d", f"conv_transpose{nd}d",
             arrays(lambda xs=xs: ones(xs), lambda wt=wt: ones(wt)),
             ["x", "weight", "channel", "size"])
    case(f"zero-spatial-padded-{nd}d", f"conv{nd}d",
         arrays(lambda nd=nd: ones((2, 2) + (0,) * nd), lambda nd=nd: ones((3, 2) + (1,) * nd),
                padding=1), ["x", "size", "input", "padding", "kernel"])

# a big batch of tiny samples
case("batch200000", "conv1d", arrays(lambda: ones((200_000, 1, 3)), lambda: ones((1, 1, 3))),
     ["x"], reproducer=True, expect=lambda a, k: np.full((200_000, 1, 1), 3.0))
case("batch200000-transposed", "conv_transpose1d",
     arrays(lambda: ones((200_000, 1, 3)), lambda: ones((1, 1, 3))), ["x"], reproducer=True,
     expect=lambda a, k: np.tile([1.0, 2.0, 3.0, 2.0, 1.0], (200_000, 1, 1)))
case("batch200000-stride2**32", "conv2d",
     arrays(lambda: ones((200_000, 8, 3, 3), np.float32), lambda: ones((4, 8, 3, 3),
                                                                      np.float32),
            stride=2**32),
     ["stride"], methods=["auto", "direct", "gemm"], reproducer=True,
     expect=lambda a, k: np.full((200_000, 4, 1, 1), 72.0))


# --------------------------------------------------------------------------
# running one case (in the child)
# --------------------------------------------------------------------------

def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 0


def _rss_peak_reset():
    """Reset the kernel's resident-size high-water mark; the current size."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status("VmRSS")


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _compare(out, expected):
    if not isinstance(out, np.ndarray):
        return f"got {type(out).__name__}, expected an array"
    if out.shape != expected.shape:
        return f"shape {out.shape}, expected {expected.shape}"
    if expected.dtype == object:   # exact integers
        if out.dtype.kind not in "iu":
            return f"dtype {out.dtype} for integer input"
        bad = np.argwhere(out.astype(object) != expected)
    else:
        scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
        tol = (1e-5 if out.dtype == np.float32 else 1e-12) * scale
        bad = np.argwhere(~(np.abs(out.astype(np.float64) - expected) <= tol))
    if len(bad):
        at = tuple(int(i) for i in bad[0])
        return (f"{len(bad)} of {out.size} values wrong, first at {at}: "
                f"got {out[at]!r}, expected {expected[at]!r}")
    return None


def run_case(case_id, method):
    """Run one case in this process; a JSON-able verdict and measurements."""
    import resource

    c = CASES[case_id]
    args, kwargs = c.make()
    if method is not None:
        kwargs["method"] = method
    expect_fn = c.expect or (lambda a, k: _default_expect(c.fn, a, k))
    try:
        expected = expect_fn(args, kwargs)
    except ValueError:
        expected = None          # the geometry has no output: must raise
    if isinstance(expected, np.ndarray) and expected.dtype == object and expected.size:
        if not all(-I64 <= v < I64 for v in expected.flat):
            expected = None      # does not fit int64: must raise OverflowError
    fn = getattr(fastconv, c.fn)
    inputs = _nbytes(args) + _nbytes(kwargs)
    expected_bytes = expected.size * 8 if isinstance(expected, np.ndarray) else 0
    limits = resource.getrlimit(resource.RLIMIT_AS)
    limited = c.limit_address_space and not SANITIZED
    rss = None if SANITIZED else _rss_peak_reset()
    if limited:   # a runaway allocation fails fast instead of filling the machine
        room = _status("VmSize") + 2 * inputs + expected_bytes + 2 * GiB
        resource.setrlimit(resource.RLIMIT_AS, (room, limits[1]))
    error = None
    tracemalloc.start()
    start = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
    except Exception as e:
        out, error = None, e
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if limited:
        resource.setrlimit(resource.RLIMIT_AS, limits)
    result = dict(status="ok", seconds=seconds, traced_peak=peak, inputs=inputs,
                  output=_nbytes(out),
                  rss_rise=None if rss is None else _status("VmHWM") - rss)
    if error is not None:
        result.update(status="error", error_type=type(error).__name__,
                      message=str(error)[:2000])
    elif c.check is not None:
        try:
            result["mismatch"] = c.check(out, expected)
        except Exception as e:
            result["mismatch"] = f"{type(e).__name__}: {e}"
    elif expected is None:
        result["mismatch"] = f"expected an error, got {type(out).__name__} {getattr(out, 'shape', '')}"
    else:
        result["mismatch"] = _compare(out, expected)
    return result


# --------------------------------------------------------------------------
# the tests (in pytest's process)
# --------------------------------------------------------------------------

_RESULTS: dict[tuple[str, str | None], dict[str, Any]] = {}


def outcome(case_id, method):
    """The verdict of one case and method, run once per session."""
    key = (case_id, method)
    if key not in _RESULTS:
        _RESULTS[key] = worker(CASES[case_id].env).call(
            "test_adversarial", "run_case", case_id, method)
    return _RESULTS[key]


def params(cases):
    return [pytest.param(c.id, m, id=c.id if m is None else f"{c.id}-{m}")
            for c in cases for m in c.methods]


def _int_input(c):
    args, _ = c.make()
    return all(np.asarray(a).dtype.kind in "biu" for a in args[:2]
               if isinstance(a, np.ndarray))


def reproduce(case_id, method):
    """A line that runs the case alone, for the failure message."""
    return (f"reproduce: PYTHONPATH=tests python -c \"import test_adversarial as t; "
            f"print(t.run_case({case_id!r}, {method!r}))\"")


@pytest.mark.parametrize("case_id, method", params(CASES.values()))
def test_adversarial(case_id, method):
    c = CASES[case_id]
    r = outcome(case_id, method)
    where = reproduce(case_id, method)
    assert r["status"] in ("ok", "error"), f"{r['status']}: {r.get('message')}\n{where}"
    if r["status"] == "error":
        kind, message = r["error_type"], r["message"]
        if method in ("gemm",) and kind == "TypeError" and _int_input(c):
            return   # documented: 'gemm' is floating-point only
        if (method == "fft" and kind == "ValueError" and _int_input(c)
                and "2**52" in message):
            return   # documented: 'fft' rounds integers only when provably exact
        assert kind in c.errors, f"{kind}: {message}\n{where}"
        assert any(n.lower() in message.lower() for n in c.names), (
            f"the {kind} does not name the argument (one of {c.names}): {message}\n{where}")
    else:
        assert r["mismatch"] is None, f"{r['mismatch']}\n{where}"
    assert r["seconds"] <= TIME_LIMIT, f"took {r['seconds']:.1f} s\n{where}"


def test_oracle_matches_reference():
    """The oracle agrees with tests/reference.py where both run."""
    from reference import conv, conv_transpose

    rng = np.random.default_rng(7)
    for _ in range(20):
        nd = int(rng.integers(1, 4))
        groups = int(rng.integers(1, 3))
        s, d = rng.integers(1, 4, nd), rng.integers(1, 3, nd)
        pads = [tuple(int(v) for v in rng.integers(0, 3, 2)) for _ in range(nd)]
        k = rng.integers(1, 3, nd)
        x = rng.integers(-9, 9, (2, 2 * groups) + tuple(rng.integers(4, 7, nd)))
        w = rng.integers(-9, 9, (2 * groups, 2) + tuple(k))
        geo = dict(stride=tuple(int(v) for v in s), padding=pads,
                   dilation=tuple(int(v) for v in d))
        np.testing.assert_array_equal(oracle(x, w, groups=groups, **geo).astype(np.int64),
                                      conv(x, w, groups=groups, **geo))
        np.testing.assert_array_equal(
            oracle(x, w, groups=groups, transpose=True, **geo).astype(np.int64),
            conv_transpose(x, w, groups=groups, **geo))


def test_worker_survives_a_crash():
    """A segfault in the child is reported as a crash; the next call works."""
    w = Worker()
    try:
        r = w.call("ctypes", "string_at", 0, 1)
        assert r["status"] == "crash", r
        assert w.call("math", "factorial", 5) == 120
        r = w.call("time", "sleep", 3, timeout=0.5)
        assert r["status"] == "timeout", r
    finally:
        w.close()
