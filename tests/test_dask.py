"""fastconv.dask against the in-memory functions: every output block must be
exactly the in-memory result's slice (bitwise for integers and when the
input channels are one chunk; to rounding when input-channel chunks give
partial sums), over random geometries and chunkings, on the threaded
scheduler and on a LocalCluster of two worker processes."""

import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

import fastconv

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
import fastconv.dask as fcd  # noqa: E402
from fastconv._geometry import conv_geometry, conv_transpose_geometry  # noqa: E402

CONV, CONV_TRANSPOSE = "conv", "conv_transpose"


# --------------------------------------------------------------------------
# random cases
# --------------------------------------------------------------------------

def _partition(rng, size):
    """An irregular chunking of ``size``: one chunk, one-element chunks, or
    random cuts (chunks smaller than the kernel, not stride multiples)."""
    mode = rng.integers(4)
    if size <= 1 or mode == 0:
        return (size,)
    if mode == 1:
        return (1,) * size
    cuts = sorted(set(rng.integers(1, size, size=rng.integers(1, size)).tolist()))
    edges = [0, *cuts, size]
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:]))


def _padding(rng, ndim, op):
    form = rng.integers(5)
    if form == 0:
        return int(rng.integers(0, 3))
    if form == 1:
        return tuple(int(v) for v in rng.integers(0, 3, ndim))
    if form == 2:
        return tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (ndim, 2)))
    return "valid" if form == 3 else "same"


@dataclass
class Case:
    """One call: the operation, its arrays and arguments, and x's chunks."""

    op: str
    ndim: int
    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    chunks: tuple
    kwargs: dict = field(default_factory=dict)

    @property
    def name(self):
        return f"{self.op}{self.ndim}d"

    def expected(self):
        return getattr(fastconv, self.name)(self.x, self.weight, self.bias, **self.kwargs)

    def lazy(self):
        x = da.from_array(self.x, chunks=self.chunks)
        return getattr(fcd, self.name)(x, self.weight, self.bias, **self.kwargs)

    def check(self, **compute_kwargs):
        expected = self.expected()
        lazy = self.lazy()
        assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
        got = lazy.compute(**compute_kwargs)
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        # 'dense' multiplies the whole batch by one BLAS product, whose
        # rounding depends on the batch size; 'fft' transforms blocks whose
        # size depends on the input's; 'zero_insertion' runs 'direct' on the
        # zero-inserted window, whose kernel path depends on its size
        exact = (len(self.chunks[1]) == 1
                 and self.kwargs.get("method") not in ("dense", "fft", "zero_insertion"))
        if self.x.dtype.kind != "f" or exact:
            np.testing.assert_array_equal(got, expected, err_msg=repr(self))
        else:   # partial sums over channel chunks: another summation order
            eps = np.finfo(expected.dtype).eps
            scale = np.abs(self.x).max() * np.abs(self.weight).sum(axis=0).max()
            np.testing.assert_allclose(got, expected, rtol=0, atol=64 * eps * scale,
                                       err_msg=repr(self))


def random_case(seed, ndim=None, op=None):
    """A valid random call (redrawn until the in-memory function takes it)."""
    rng = np.random.default_rng(seed)
    while True:
        n = ndim or int(rng.integers(1, 4))
        operation = op or (CONV, CONV_TRANSPOSE)[rng.integers(2)]
        largest = (12, 9, 6)[n - 1]
        spatial = tuple(int(v) for v in rng.integers(1, largest, n))
        kernel = tuple(int(v) for v in rng.integers(1, 5, n))
        stride = tuple(int(v) for v in rng.integers(1, 4, n))
        dilation = tuple(int(v) for v in rng.integers(1, 3, n))
        groups = int(rng.integers(1, 4))
        c_in = groups * int(rng.integers(1, 4))
        c_out = groups * int(rng.integers(1, 4))
        batch = int(rng.integers(1, 4))
        dtype = (np.float64, np.float32, np.int64)[rng.integers(3)]
        if operation == CONV:
            weight_shape = (c_out, c_in // groups) + kernel
        else:
            weight_shape = (c_in, c_out // groups) + kernel
        if dtype is np.int64:
            x = rng.integers(-9, 10, (batch, c_in) + spatial)
            weight = rng.integers(-9, 10, weight_shape)
            bias = rng.integers(-9, 10, c_out) if rng.integers(2) else None
        else:
            x = rng.standard_normal((batch, c_in) + spatial).astype(dtype)
            weight = rng.standard_normal(weight_shape).astype(dtype)
            bias = rng.standard_normal(c_out).astype(dtype) if rng.integers(2) else None
        padding = _padding(rng, n, operation)
        kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        if operation == CONV_TRANSPOSE and padding != "same" and rng.integers(2):
            kwargs["output_padding"] = tuple(
                int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        methods = fastconv.CONV_METHODS if operation == CONV else fastconv.CONV_TRANSPOSE_METHODS
        method = str(rng.choice(methods)) if rng.integers(2) else "auto"
        if method == "gemm" and dtype is np.int64:
            method = "direct"
        kwargs["method"] = method
        chunks = ((_partition(rng, batch), _partition(rng, c_in))
                  + tuple(_partition(rng, s) for s in spatial))
        case = Case(operation, n, x, weight, bias, chunks, kwargs)
        try:
            case.expected()
        except ValueError:
            continue
        return case


# --------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------

SEEDS = range(240)


@pytest.mark.parametrize("seed", SEEDS)
def test_sweep_threaded(seed):
    random_case(seed).check(scheduler="threads")


def test_sweep_covers_every_form():
    """The random sweep draws every padding form, groups, output_padding,
    every dtype, partial sums and one-element chunks, in 1-D, 2-D and 3-D."""
    seen = set()
    for seed in SEEDS:
        case = random_case(seed)
        padding = case.kwargs["padding"]
        seen.add(("ndim", case.ndim, case.op))
        seen.add(("padding", padding if isinstance(padding, str) else
                  type(padding).__name__ if not isinstance(padding, tuple) else
                  ("pairs" if isinstance(padding[0], tuple) else "ints")))
        seen.add(("groups", case.kwargs["groups"] > 1))
        seen.add(("output_padding", any(case.kwargs.get("output_padding", (0,)))))
        seen.add(("dtype", case.x.dtype.name))
        seen.add(("partial sums", len(case.chunks[1]) > 1))
        seen.add(("one-element chunks", any(c == (1,) * len(c) and len(c) > 2
                                            for c in case.chunks[2:])))
        seen.add(("method", case.kwargs["method"]))
    for ndim in (1, 2, 3):
        for op in (CONV, CONV_TRANSPOSE):
            assert ("ndim", ndim, op) in seen
    for form in ("same", "valid", "int", "ints", "pairs"):
        assert ("padding", form) in seen
    for key in ("groups", "output_padding", "partial sums", "one-element chunks"):
        assert (key, True) in seen and (key, False) in seen
    for dtype in ("float32", "float64", "int64"):
        assert ("dtype", dtype) in seen
    for method in set(fastconv.CONV_METHODS) | set(fastconv.CONV_TRANSPOSE_METHODS):
        assert ("method", method) in seen


@pytest.mark.parametrize("op", [CONV, CONV_TRANSPOSE])
def test_many_channel_chunks_reduce_as_a_tree(op):
    """Nine one-channel chunks: partial sums in a tree of four at a time,
    exact for integers, bias added once."""
    rng = np.random.default_rng(1)
    x = rng.integers(-9, 10, (2, 9, 7, 6))
    weight = rng.integers(-9, 10, (5, 9, 3, 3) if op == CONV else (9, 5, 3, 3))
    bias = rng.integers(-9, 10, 5)
    case = Case(op, 2, x, weight, bias, ((1, 1), (1,) * 9, (3, 4), (6,)),
                dict(stride=2, padding=1))
    case.check(scheduler="threads")
    names = {key[0] for key in case.lazy().__dask_graph__() if isinstance(key, tuple)}
    assert any("-sum1" in n for n in names)


@pytest.mark.parametrize("op", [CONV, CONV_TRANSPOSE])
@pytest.mark.parametrize("channel_chunks", [(6,), (2, 4), (1, 2, 3), (3, 3)])
def test_output_channel_blocks(op, channel_chunks):
    """Output channels split when a block would exceed array.chunk-size; the
    blocks map (no reduction) when input chunks are whole groups."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 6, 10, 10))
    groups = 3
    weight = rng.standard_normal((9, 2, 3, 3) if op == CONV else (6, 3, 3, 3))
    case = Case(op, 2, x, weight, rng.standard_normal(9), ((1,), channel_chunks, (5, 5), (10,)),
                dict(groups=groups, padding="same"))
    with dask.config.set({"array.chunk-size": "1KiB"}):
        lazy = case.lazy()
        assert len(lazy.chunks[1]) > 1
        case.check(scheduler="threads")


def test_float16_sums_in_float32():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9)).astype(np.float16)
    weight = rng.standard_normal((3, 4, 3)).astype(np.float16)
    bias = rng.standard_normal(3).astype(np.float16)
    Case(CONV, 1, x, weight, bias, ((2,), (4,), (2, 3, 4)), dict(padding=1)).check()
    case = Case(CONV, 1, x, weight, bias, ((2,), (1, 3), (2, 3, 4)), dict(padding=1))
    got = case.lazy().compute()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, case.expected(), rtol=2e-3, atol=2e-3)


def test_unbatched_and_plain_forms():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 9, (13, 11))
    k = rng.integers(0, 9, (3, 3))
    lazy = fcd.conv2d(da.from_array(x, chunks=4), k, stride=2, padding=1)
    np.testing.assert_array_equal(lazy.compute(), fastconv.conv2d(x, k, stride=2, padding=1))
    lazy = fcd.conv_transpose2d(da.from_array(x, chunks=5), k, stride=3)
    np.testing.assert_array_equal(lazy.compute(), fastconv.conv_transpose2d(x, k, stride=3))
    xs = rng.integers(0, 9, (2, 13))
    w = rng.integers(0, 9, (2, 3, 4))
    lazy = fcd.conv_transpose1d(da.from_array(xs, chunks=(1, 3)), w, output_padding=1, stride=2)
    np.testing.assert_array_equal(
        lazy.compute(), fastconv.conv_transpose1d(xs, w, output_padding=1, stride=2))


# --------------------------------------------------------------------------
# halos and output chunks
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_axis_blocks_tile_the_output_with_the_documented_halo(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 40))
    chunks = _partition(rng, size)
    k, s, d = (int(v) for v in rng.integers(1, 5, 3))
    try:
        geom = conv_geometry((size,), (k,), s, (tuple(int(v) for v in rng.integers(0, 3, 2)),), d)
    except ValueError:
        return
    p0 = geom.pad_before[-1]
    blocks = fcd.conv_axis_blocks(chunks, size, geom.output_spatial[-1], k, s, d, p0)
    assert blocks[0].out_start == 0 and blocks[-1].out_stop == geom.output_spatial[-1]
    for block, after in zip(blocks[:-1], blocks[1:]):
        assert block.out_stop == after.out_start > block.out_start
    span = d * (k - 1) + 1
    for block in blocks:
        count = block.out_stop - block.out_start
        read = block.in_stop - block.in_start + sum(block.padding)
        assert read == (count - 1) * s + span
        if 0 < block.in_start and block.in_stop < size:   # interior: no padding
            assert block.padding == (0, 0)
    # transposed: with no padding, each block reads its chunk and
    # floor(d*(k - 1)/s) inputs before it
    out = (size - 1) * s + d * (k - 1) + 1
    blocks = fcd.conv_transpose_axis_blocks(chunks, out, k, s, d, 0)
    edges = np.cumsum((0,) + chunks)
    for block, lo, hi in zip(blocks, edges[:-1], edges[1:]):
        assert (block.out_start, block.out_stop) == (lo * s, out if hi == size else hi * s)
        assert block.in_start == max(lo - d * (k - 1) // s, 0)
        assert block.in_stop == hi


def test_stride_aligned_chunks_give_chunks_divided_by_the_stride():
    x = da.zeros((1, 1, 64, 64), chunks=(1, 1, 16, 16))
    y = fcd.conv2d(x, np.ones((1, 1, 3, 3)), stride=2, padding="same")
    assert y.chunks[2:] == ((8,) * 4,) * 2
    z = fcd.conv_transpose2d(y, np.ones((1, 1, 4, 4)), stride=2, padding=1)
    assert z.chunks[2:] == ((16,) * 4,) * 2


# --------------------------------------------------------------------------
# laziness and errors
# --------------------------------------------------------------------------

def _never(block):
    raise AssertionError("a block was computed")


def _unread(shape, chunks, dtype=np.float64):
    """A dask array that fails if any block of it is computed."""
    return da.zeros(shape, chunks=chunks, dtype=dtype).map_blocks(_never, dtype=dtype)


def test_building_reads_nothing():
    x = _unread((2, 3, 40, 40), (1, 3, 10, 10))
    y = fcd.conv2d(x, np.ones((4, 3, 3, 3)), stride=2, padding="same")
    assert y.shape == (2, 4, 20, 20)
    assert all(not np.isnan(c) for chunks in y.chunks for c in chunks)
    with pytest.raises(AssertionError, match="a block was computed"):
        y.compute(scheduler="sync")


def test_import_fastconv_does_not_import_dask():
    code = "import sys, fastconv; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


X = _unread((2, 4, 10, 10), (1, 2, 5, 5))
W = np.ones((6, 4, 3, 3))


@pytest.mark.parametrize("call, error, words", [
    (lambda: fcd.conv2d(X, W, stride=0), ValueError, "stride"),
    (lambda: fcd.conv2d(X, W, padding="full"), ValueError, "padding"),
    (lambda: fcd.conv2d(X, W, padding=-1), ValueError, "padding"),
    (lambda: fcd.conv2d(X, W, dilation=(1, 2, 3)), ValueError, "dilation"),
    (lambda: fcd.conv2d(X, W, groups=3), ValueError, "groups"),
    (lambda: fcd.conv2d(X, np.ones((6, 3, 3, 3))), ValueError, "input channels"),
    (lambda: fcd.conv2d(X, W, np.ones(5)), ValueError, "bias"),
    (lambda: fcd.conv2d(X, W, method="scatter"), ValueError, "method"),
    (lambda: fcd.conv2d(X, W, n_threads=0), ValueError, "n_threads"),
    (lambda: fcd.conv2d(X, W, stride=1.5), TypeError, "stride"),
    (lambda: fcd.conv2d(X, np.ones((6, 4, 30, 3))), ValueError, "kernel"),
    (lambda: fcd.conv2d(X, da.ones((6, 4, 3, 3))), TypeError, "weight"),
    (lambda: fcd.conv2d(X, W, da.ones(6)), TypeError, "bias"),
    (lambda: fcd.conv2d(X.astype(np.clongdouble), W), TypeError, "dtype"),
    (lambda: fcd.conv2d(X[X[:, 0, 0, 0] > 0], W), ValueError, "chunk sizes"),
    (lambda: fcd.conv3d(X, W), ValueError, "must be 5-D"),
    (lambda: fcd.conv_transpose2d(X, np.ones((4, 2, 3, 3)), stride=2, output_padding=2),
     ValueError, "output_padding"),
    (lambda: fcd.conv_transpose2d(X, np.ones((4, 2, 3, 3)), padding="same",
                                  output_padding=1), ValueError, "output_padding"),
    (lambda: fcd.conv_transpose2d(X, np.ones((4, 2, 3, 3)), padding=9), ValueError,
     "output"),
])
def test_bad_input_raises_before_computing(call, error, words):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    assert "fastconv.dask." in message and words in message, message


def test_integer_overflow_is_refused_when_computing():
    x = da.from_array(np.full((1, 2, 4), 2**41), chunks=(1, 1, 4))
    y = fcd.conv1d(x, np.full((1, 2, 3), 2**21))
    with pytest.raises(OverflowError, match="conv1d"):
        y.compute(scheduler="sync")


# --------------------------------------------------------------------------
# a LocalCluster of two worker processes
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, memory_limit="2GiB") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.parametrize("seed", range(0, 240, 8))
def test_sweep_on_a_local_cluster(client, seed):
    random_case(seed).check()


def test_cluster_result_stays_on_the_workers(client):
    """A result reduced on the workers: only the scalar reaches the client."""
    rng = da.random.default_rng(0)
    x = rng.standard_normal((2, 4, 256, 256), chunks=(1, 2, 64, 64), dtype=np.float32)
    weight = np.ones((4, 4, 3, 3), dtype=np.float32)
    y = fcd.conv2d(x, weight, padding="same")
    z = fcd.conv_transpose2d(y, weight, stride=2, padding=1, output_padding=1)
    future = client.compute(z.sum())
    total = future.result()
    assert np.ndim(total) == 0
    x_np = x.compute()
    expected = fastconv.conv_transpose2d(fastconv.conv2d(x_np, weight, padding="same"),
                                         weight, stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(total, expected.sum(dtype=np.float64), rtol=1e-4)
