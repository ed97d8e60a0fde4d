"""method='fft': the sweep within its documented error, with and without
blocks and tiles, integers, non-finite inputs, memory, and 'auto'."""

import itertools
import math
import tracemalloc

import numpy as np
import pytest
import scipy.fft

import fastconv
from fastconv import _fft, _planner
from fastconv._benchmarks import FFT_WORKLOADS, WORKLOADS as CLASSIC_WORKLOADS
from sweep import CASES



#: The workloads 'auto' sends elsewhere, and why (docs/performance.rst):
#: measured, 'direct' runs fft-T 2.4x faster than 'fft' on this machine.
NOT_FFT = {"fft-T": "direct"}


def documented_error(dtype, points):
    """docs/performance.rst: max |error| <= 4 u log2(points per transform)
    x max(|exact|, 1)."""
    return 4 * np.finfo(dtype).eps / 2 * math.log2(max(points, 2))


def assert_within_documented_error(out, case, points):
    expected = case.reference()
    assert out.shape == expected.shape and out.dtype == case.x.dtype
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    error = float(np.abs(out.astype(np.float64) - expected).max(initial=0.0))
    assert error <= documented_error(case.x.dtype, points) * scale, (error, scale)


FLOAT_CASES = [c for c in CASES if c.x.dtype.kind == "f"]


@pytest.mark.parametrize("case", FLOAT_CASES, ids=lambda c: f"{c.name}-{c.index}")
def test_sweep_within_documented_error(case):
    points = _planner.THRESHOLDS["fft_block_points"]
    assert_within_documented_error(case.run(method="fft"), case, points)


@pytest.mark.parametrize("case", FLOAT_CASES[::4], ids=lambda c: f"{c.name}-{c.index}")
def test_sweep_in_blocks_and_tiles(case, monkeypatch):
    """A workspace too small for anything: blocks of a few points, one
    sample and one output channel per tile."""
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_workspace_bytes", 1)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_block_points", 8)
    assert_within_documented_error(case.run(method="fft"), case, 64)


@pytest.mark.parametrize("batch_bytes", [1, 2000, 20000])
@pytest.mark.parametrize("case", FLOAT_CASES[1::6], ids=lambda c: f"{c.name}-{c.index}")
def test_sweep_in_batches_of_blocks(case, batch_bytes, monkeypatch):
    """Blocks of a few points, batched one, a few or many per transform
    call: the last batch and block of a dim partial, outputs per block
    fewer than the kernel's taps, batches split along any dim."""
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_block_points", 8)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_block_overhead", 0)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_batch_bytes", batch_bytes)
    assert_within_documented_error(case.run(method="fft"), case, 64)


@pytest.mark.parametrize("case", FLOAT_CASES[2::8], ids=lambda c: f"{c.name}-{c.index}")
def test_threads_are_bit_identical_to_one_thread(case, monkeypatch):
    """Batches of blocks on two threads give the bits of one thread."""
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_block_points", 16)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_batch_bytes", 2000)
    np.testing.assert_array_equal(case.run(method="fft", n_threads=2),
                                  case.run(method="fft", n_threads=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_out, kernel, stride, dilation, groups", [
    (300007, 1001, 1, 1, 1),     # the last block partial, fir-1d's kernel
    (100000, 301, 3, 1, 2),      # stride, groups
    (200013, 101, 1, 9, 1),      # dilation
])
def test_long_1d_in_batches(n_out, kernel, stride, dilation, groups, dtype):
    """fir-1d's shape, smaller: many blocks batched (the default
    thresholds), against 'direct' in float64."""
    rng = np.random.default_rng(n_out)
    x = rng.standard_normal((1, groups, n_out * stride)).astype(dtype)
    weight = rng.standard_normal((groups, 1, kernel)).astype(dtype)
    args = dict(stride=stride, padding=kernel // 2 * dilation, dilation=dilation, groups=groups)
    call = fastconv._api.check_call("conv", 1, x, weight, None,
                                    (stride, args["padding"], dilation), groups, "fft", 1)
    layout = _fft.fft_layout("conv", call.x.shape, call.weight.shape, x.itemsize, call.geom,
                             groups)
    assert layout.n_blocks > 2 and 1 < layout.batch < layout.n_blocks, layout
    out = fastconv.conv1d(x, weight, **args, method="fft")
    expected = fastconv.conv1d(x.astype(np.float64), weight.astype(np.float64), **args,
                               method="direct")
    scale = max(float(np.abs(expected).max()), 1.0)
    error = float(np.abs(out - expected).max())
    assert out.dtype == dtype
    assert error <= documented_error(dtype, math.prod(layout.length)) * scale, error


def test_block_lengths_are_every_fast_length():
    lengths = _fft._smooth_lengths(1, 5000)
    assert set(lengths) == {scipy.fft.next_fast_len(n, real=True) for n in range(1, 4500)
                            } | {n for n in lengths if n >= 4500}
    assert all(scipy.fft.next_fast_len(n, real=True) == n for n in lengths)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batches_are_whole_simd_vectors_of_lines(dtype):
    """pocketfft transforms lines a vector at a time: fir-1d's batches hold
    a multiple of fft_vector_bytes / itemsize blocks."""
    spec = FFT_WORKLOADS["fir-1d"]
    x, weight = np.zeros(spec.x_shape, dtype), np.zeros(spec.weight_shape, dtype)
    call = fastconv._api.check_call("conv", 1, x, weight, None, (1, "same", 1), 1, "fft", 1)
    layout = _fft.fft_layout("conv", call.x.shape, call.weight.shape, x.itemsize, call.geom, 1)
    lanes = _planner.THRESHOLDS["fft_vector_bytes"] // x.itemsize
    assert layout.n_blocks > layout.batch >= lanes and layout.batch % lanes == 0, layout


def test_batches_cover_every_block_once():
    for counts in [(1, 1, 7), (1, 3, 5), (2, 3, 4), (5, 1, 1)]:
        for batch in range(1, 30):
            seen = []
            for ranges in _fft._batches(counts, batch):
                blocks = math.prod(b - a for a, b in ranges)
                assert 1 <= blocks <= batch
                seen += itertools.product(*(range(a, b) for a, b in ranges))
            assert sorted(seen) == sorted(np.ndindex(*counts)), (counts, batch)


def test_outputs_past_z_are_zeros():
    """Every output reads the padding only: zeros, without a transform."""
    x = np.ones((1, 1, 1), np.float32)
    out = fastconv.conv1d(x, np.ones((1, 1, 1), np.float32), padding=5, stride=6,
                          method="fft")
    np.testing.assert_array_equal(out, np.zeros((1, 1, 2), np.float32))


def test_small_workspace_cuts_blocks_and_tiles(monkeypatch):
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_workspace_bytes", 1)
    geom = fastconv._api.resolve_geometry("conv", (1, 40, 40), (1, 5, 5), (1, "same", 1))
    layout = _fft.fft_layout("conv", (3, 4, 1, 40, 40), (6, 2, 1, 5, 5), 8, geom, 2)
    assert layout.n_blocks > 1 and layout.samples == 1 and layout.channels == 1


def test_bounded_memory_on_long_inputs():
    """Peak extra memory (tracemalloc) at most 4 x the output on psf-63
    and fir-1d: the blocks, not the input, set the workspace."""
    for name in ("psf-63", "fir-1d"):
        spec = FFT_WORKLOADS[name]
        x, weight = spec.arrays(smoke=False)
        function = getattr(fastconv, spec.function)
        _fft.Scratch.of_thread().arrays.clear()     # the kept arrays count too
        tracemalloc.start()
        try:
            out = function(x, weight, **spec.kwargs, method="fft")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak - out.nbytes <= 4 * out.nbytes, (name, peak, out.nbytes)


@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_integers_exact_when_provably_exact(op):
    rng = np.random.default_rng(3)
    x = rng.integers(-255, 256, (2, 4, 300))
    if op == "conv":
        weight = rng.integers(-255, 256, (6, 2, 41))
        args = dict(stride=2, padding=7, dilation=3, groups=2)
        out = fastconv.conv1d(x, weight, **args, method="fft")
        expected = fastconv.conv1d(x, weight, **args, method="direct")
    else:
        weight = rng.integers(-255, 256, (4, 3, 41))
        args = dict(stride=3, padding=5, output_padding=2, dilation=2, groups=2)
        out = fastconv.conv_transpose1d(x, weight, **args, method="fft")
        expected = fastconv.conv_transpose1d(x, weight, **args, method="direct")
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("peak, words", [
    (2**24, ("2**52", "direct")),          # the sums exceed float64's integers
    (2**16, ("error bound", "direct")),    # the FFT's error could reach 1/4
])
def test_integers_refused_unless_exact(peak, words):
    x = np.full((1, 1, 4096), peak, dtype=np.int64)
    weight = np.full((1, 1, 255), peak, dtype=np.int64)
    with pytest.raises(ValueError) as info:
        fastconv.conv1d(x, weight, method="fft")
    for word in words:
        assert word in str(info.value)
    assert fastconv.conv1d(x[..., :300] // peak, weight // peak, method="fft").dtype == np.int64


def test_auto_never_chooses_fft_for_integers():
    x = np.ones((1, 1, 1024, 1024), dtype=np.int32)
    assert fastconv.choose_method("conv2d", x, np.ones((1, 1, 31, 31), np.int32),
                                  padding="same") == "direct"


def test_nan_stays_where_direct_puts_it():
    x = np.ones((1, 2, 64))
    x[0, 0, 10] = np.nan
    weight = np.ones((3, 2, 5))
    out = fastconv.conv1d(x, weight, padding=2, method="fft")
    np.testing.assert_array_equal(np.isnan(out),
                                  np.isnan(fastconv.conv1d(x, weight, padding=2,
                                                           method="direct")))
    assert np.isnan(out[0, :, 8:13]).all() and np.isfinite(out[0, :, :8]).all()


@pytest.mark.parametrize("name", CLASSIC_WORKLOADS)
def test_auto_keeps_the_classic_workloads_off_fft(name):
    problem = CLASSIC_WORKLOADS[name][0]
    x, weight = problem.arrays()
    assert fastconv.choose_method(problem.function_name, x, weight,
                                  **problem.arguments()) != "fft"


@pytest.mark.parametrize("name", FFT_WORKLOADS)
def test_auto_chooses_fft_for_large_kernels(name):
    spec = FFT_WORKLOADS[name]
    x = np.zeros(spec.x_shape, np.float32)
    weight = np.zeros(spec.weight_shape, np.float32)
    chosen = fastconv.choose_method(spec.function, x, weight, **spec.kwargs)
    assert chosen == NOT_FFT.get(name, "fft")


def test_measure_confirms_fft_on_a_long_kernel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 2**16), dtype=np.float32)
    weight = rng.standard_normal((1, 1, 4001), dtype=np.float32)
    assert fastconv.choose_method("conv1d", x, weight, padding="same") == "fft"
    fastest, timings = fastconv.choose_method("conv1d", x, weight, padding="same",
                                              measure=True)
    assert fastest == "fft", timings


@pytest.mark.parametrize("case", FLOAT_CASES[3::5], ids=lambda c: f"{c.name}-{c.index}")
def test_sweep_through_scipy_fft_without_pocketfft_out(case, monkeypatch):
    """Where pocketfft's out= functions are missing, scipy.fft's public ones
    compute the same transforms (blocks batched, so every stage runs)."""
    monkeypatch.setattr(_fft, "_pocketfft", None)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_block_points", 16)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_batch_bytes", 2000)
    assert_within_documented_error(case.run(method="fft"), case, 64)


def test_scratch_is_kept_within_its_bound_and_reused(monkeypatch):
    """The arrays a call reuses stay for the next call up to fft_kept_bytes
    (the largest dropped first); a smaller call reuses them in place."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 200, 150)).astype(np.float32)
    w = rng.standard_normal((4, 3, 21, 21)).astype(np.float32)
    scratch = _fft.Scratch.of_thread()
    scratch.arrays.clear()
    fastconv.conv2d(x, w, padding="same", method="fft")
    kept = {name: a.__array_interface__["data"][0] for name, a in scratch.arrays.items()}
    assert {"windows", "spectrum", "z", "kernel spectrum"} <= set(kept)
    small = fastconv.conv2d(x[:1, :, :100, :90], w, padding="same", method="fft")
    assert {name: a.__array_interface__["data"][0]
            for name, a in scratch.arrays.items()} == kept
    expected = fastconv.conv2d(x[:1, :, :100, :90].astype(np.float64), w.astype(np.float64),
                               padding="same", method="direct")
    np.testing.assert_allclose(small, expected, rtol=1e-4, atol=1e-4)
    monkeypatch.setitem(_planner.THRESHOLDS, "fft_kept_bytes", 100_000)
    fastconv.conv2d(x, w, padding="same", method="fft")
    assert sum(a.nbytes for a in scratch.arrays.values()) <= 100_000


def test_threads_of_the_caller_have_their_own_scratch():
    """Calls from several Python threads at once give each thread's result
    (each thread's scratch is its own)."""
    import concurrent.futures
    rng = np.random.default_rng(6)
    inputs = [rng.standard_normal((1, 2, 96 + 8 * i, 80)).astype(np.float64) for i in range(4)]
    w = rng.standard_normal((3, 2, 17, 17))
    expected = [fastconv.conv2d(x, w, padding="same", method="direct") for x in inputs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            results = list(pool.map(
                lambda x: fastconv.conv2d(x, w, padding="same", method="fft", n_threads=1),
                inputs))
            for got, want in zip(results, expected):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
