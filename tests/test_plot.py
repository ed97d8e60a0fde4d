"""fastconv.plot: every figure renders, shows the right numbers, and fits."""

import io
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from fastconv import plot  # noqa: E402
from reference import conv, conv_transpose  # noqa: E402
from tables import CLASSIC_INPUT as X, CLASSIC_KERNEL as W  # noqa: E402


def matrix_of(kernel, shape):
    """The convolution matrix, built from the reference one unit vector at a time."""
    n = int(np.prod(shape))
    columns = [conv(np.eye(n, dtype=np.int64)[j].reshape((1, 1) + shape),
                    kernel[None, None]).ravel() for j in range(n)]
    return np.stack(columns, axis=1)


C = matrix_of(W, X.shape)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def render(fig):
    """The figure as an RGBA pixel array, through a PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    buffer.seek(0)
    return plt.imread(buffer)


def assert_good_figure(fig, max_inches=16):
    pixels = render(fig)
    height, width = pixels.shape[:2]
    # sensible size: neither a stamp nor a poster
    assert min(width, height) >= 60 and max(width, height) >= 200
    assert max(width, height) <= max_inches * 100
    # non-blank: many distinct colours, not one flat background
    assert pixels[..., :3].std() > 0.05
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 20
    # nothing clipped: everything drawn lies inside the figure
    inside = fig.get_tightbbox(fig.canvas.get_renderer())
    width_in, height_in = fig.get_size_inches()
    tolerance = 0.01
    assert inside.x0 >= -tolerance and inside.y0 >= -tolerance
    assert inside.x1 <= width_in + tolerance and inside.y1 <= height_in + tolerance


def cell_values(ax):
    """The numbers written in the cells of a matrix panel, as a 2-D array."""
    texts = [t for t in ax.texts if t.get_text().strip()]
    rows = 1 + max(round(t.get_position()[1]) for t in texts)
    columns = 1 + max(round(t.get_position()[0]) for t in texts)
    values = np.full((rows, columns), np.nan)
    for t in texts:
        column, row = (round(v) for v in t.get_position())
        values[row, column] = float(t.get_text())
    return values


def outlined(ax):
    """The (row, column) cells outlined in a panel."""
    return {(round(p.get_y() + 0.5), round(p.get_x() + 0.5))
            for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()}


# --------------------------------------------------------------------------
# show_matrix
# --------------------------------------------------------------------------

@pytest.mark.parametrize("m", [
    X,
    W - 2,
    np.linspace(-1.5, 2.5, 35).reshape(5, 7),
    np.arange(12),
    np.array([[True, False], [False, True]]),
])
def test_show_matrix_writes_every_value(m):
    fig = plot.show_matrix(m, title="m")
    assert_good_figure(fig)
    shown = cell_values(fig.axes[0])
    expected = np.asarray(m, dtype=float).reshape(shown.shape)
    np.testing.assert_allclose(shown, expected, rtol=5e-3)
    for text in fig.axes[0].texts:
        assert text.get_fontsize() >= 6
    assert "(" in fig.axes[0].get_title() and "m" in fig.axes[0].get_title()


def test_show_matrix_title_has_shape():
    fig = plot.show_matrix(X, title="input x")
    assert fig.axes[0].get_title() == "input x  (4 × 4)"


def test_categorical_colours_are_distinct_per_value():
    fig = plot.show_matrix(X, style="categorical")
    rgba = fig.axes[0].images[0].get_array()
    colours = {}
    for (i, j), v in np.ndenumerate(X):
        colours.setdefault(v, set()).add(tuple(np.round(rgba[i, j], 6)))
    # one colour per value, a different one for each value
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)


def test_text_contrasts_with_its_cell():
    fig = plot.show_matrix(np.arange(-50, 50).reshape(10, 10), style="diverging")
    rgba = fig.axes[0].images[0].get_array()
    for t in fig.axes[0].texts:
        column, row = (round(v) for v in t.get_position())
        cell = np.asarray(rgba[row, column][:3], dtype=float)
        text = np.asarray(matplotlib.colors.to_rgb(t.get_color()))
        # perceived brightness differs clearly between number and cell
        assert abs(cell @ [0.299, 0.587, 0.114] - text @ [0.299, 0.587, 0.114]) > 0.3


def test_large_matrix_fits_and_drops_unreadable_numbers():
    m = np.arange(40 * 90).reshape(40, 90)
    fig = plot.show_matrix(m, title="large")
    assert_good_figure(fig)
    assert all(t.get_fontsize() >= 6 for t in fig.axes[0].texts)


def test_muted_cells_are_grey_and_outside_the_scale():
    muted = np.zeros(X.shape, dtype=bool)
    muted[0] = True
    fig = plot.show_matrix(X, muted=muted, style="sequential")
    rgba = fig.axes[0].images[0].get_array()
    assert np.allclose(rgba[0, :, :3], rgba[0, 0, :3])  # one grey for the row
    assert np.ptp(rgba[0, 0, :3]) < 1e-9


@pytest.mark.parametrize("bad, error", [
    (np.zeros((2, 2, 2)), ValueError),
    (np.zeros((0, 3)), ValueError),
    (np.array([["a"]]), TypeError),
])
def test_show_matrix_rejects(bad, error):
    with pytest.raises(error, match="m"):
        plot.show_matrix(bad)


def test_show_matrix_rejects_unknown_style():
    with pytest.raises(ValueError, match="style"):
        plot.show_matrix(X, style="rainbow")


# --------------------------------------------------------------------------
# plot_convolution
# --------------------------------------------------------------------------

def test_plot_convolution_panels_and_receptive_field():
    fig = plot.plot_convolution(X, W, highlight=(1, 0))
    assert_good_figure(fig)
    x_ax, w_ax, y_ax = fig.axes
    np.testing.assert_array_equal(cell_values(x_ax), X)
    np.testing.assert_array_equal(cell_values(w_ax), W)
    expected = conv(X[None, None], W[None, None])[0, 0]
    np.testing.assert_array_equal(cell_values(y_ax), expected)
    # y[1, 0] reads rows 1..3, columns 0..2 of x
    assert outlined(x_ax) == {(r, c) for r in range(1, 4) for c in range(3)}
    assert outlined(y_ax) == {(1, 0)}


@pytest.mark.parametrize("stride, padding, dilation, cell", [
    (2, 1, 1, (1, 1)),
    (1, 2, 2, (0, 3)),
    ((1, 2), ((1, 0), (2, 1)), 1, (2, 1)),
])
def test_plot_convolution_with_padding_stride_dilation(stride, padding, dilation, cell):
    fig = plot.plot_convolution(X, W, stride=stride, padding=padding, dilation=dilation,
                                highlight=cell)
    assert_good_figure(fig)
    x_ax, _, y_ax = fig.axes
    s = np.broadcast_to(stride, (2,))
    d = np.broadcast_to(dilation, (2,))
    pads = [p if isinstance(p, tuple) else (p, p)
            for p in (padding if isinstance(padding, tuple) else (padding, padding))]
    padded = np.pad(X, pads)
    expected = conv(padded[None, None], W[None, None], stride=tuple(s),
                    dilation=tuple(d))[0, 0]
    np.testing.assert_array_equal(cell_values(y_ax), expected)
    # the padded input is shown, zeros included
    np.testing.assert_array_equal(cell_values(x_ax), padded)
    field = {(cell[0] * s[0] + a * d[0], cell[1] * s[1] + b * d[1])
             for a in range(3) for b in range(3)}
    assert outlined(x_ax) == field
    # tick labels keep the input's own indices: padding is negative
    assert x_ax.get_yticklabels()[0].get_text() == str(-pads[0][0])


def test_plot_convolution_transposed_footprint():
    y = np.array([[1, 2], [3, 4]])
    fig = plot.plot_convolution(y, W, transpose=True, highlight=(1, 0))
    assert_good_figure(fig)
    _, _, out_ax = fig.axes
    expected = conv_transpose(y[None, None], W[None, None])[0, 0]
    np.testing.assert_array_equal(cell_values(out_ax), expected)
    assert outlined(fig.axes[0]) == {(1, 0)}
    assert outlined(out_ax) == {(r, c) for r in range(1, 4) for c in range(3)}


def test_plot_convolution_transposed_stride_crops_footprint():
    y = np.arange(1, 10).reshape(3, 3)
    fig = plot.plot_convolution(y, W, transpose=True, stride=2, padding=1,
                                output_padding=1, highlight=(0, 0))
    _, _, out_ax = fig.axes
    full = conv_transpose(y[None, None], W[None, None], stride=(2, 2),
                          output_padding=(1, 1))[0, 0]
    np.testing.assert_array_equal(cell_values(out_ax), full[1:-1, 1:-1])
    # y[0, 0] reaches full cells 0..2, i.e. 0..1 after cropping one
    assert outlined(out_ax) == {(r, c) for r in range(2) for c in range(2)}


def test_plot_convolution_rejects():
    with pytest.raises(ValueError, match="x"):
        plot.plot_convolution(np.ones((1, 4, 4)), W)
    with pytest.raises(ValueError, match="highlight"):
        plot.plot_convolution(X, W, highlight=(2, 0))
    with pytest.raises(ValueError, match="output_padding"):
        plot.plot_convolution(X, W, output_padding=1)


# --------------------------------------------------------------------------
# the convolution matrix
# --------------------------------------------------------------------------

def test_plot_convolution_matrix():
    fig = plot.plot_convolution_matrix(C)
    assert_good_figure(fig)
    ax = fig.axes[0]
    np.testing.assert_array_equal(cell_values(ax), C)
    assert ax.get_title() == "C  (4 × 16)"
    assert "output" in ax.get_ylabel() and "input" in ax.get_xlabel()


def test_plot_convolution_matrix_transposed():
    fig = plot.plot_convolution_matrix(C, transpose=True)
    assert_good_figure(fig)
    ax = fig.axes[0]
    np.testing.assert_array_equal(cell_values(ax), C.T)
    assert ax.get_title() == "Cᵀ  (16 × 4)"
    assert "transposed" in ax.get_ylabel() and "transposed" in ax.get_xlabel()


@pytest.mark.parametrize("transpose", [False, True])
def test_plot_convolution_matrix_product(transpose):
    vector = X if not transpose else conv(X[None, None], W[None, None])[0, 0]
    fig = plot.plot_convolution_matrix(C, vector, transpose=transpose)
    assert_good_figure(fig)
    vector_ax, matrix_ax, product_ax = fig.axes
    matrix = C.T if transpose else C
    np.testing.assert_array_equal(cell_values(vector_ax), vector.reshape(1, -1))
    np.testing.assert_array_equal(cell_values(matrix_ax), matrix)
    np.testing.assert_array_equal(cell_values(product_ax).ravel(), matrix @ vector.ravel())


def test_plot_convolution_matrix_accepts_sparse():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    fig = plot.plot_convolution_matrix(scipy_sparse.csr_array(C))
    np.testing.assert_array_equal(cell_values(fig.axes[0]), C)


def test_plot_convolution_matrix_rejects():
    with pytest.raises(ValueError, match="x must have 16 values"):
        plot.plot_convolution_matrix(C, np.ones(4))
    with pytest.raises(ValueError, match="C must be 2-D"):
        plot.plot_convolution_matrix(np.ones(4))


def test_show_matrix_greys_the_zeros_of_a_sparse_matrix():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    fig = plot.show_matrix(scipy_sparse.csr_array(C), title="C")
    rgba = fig.axes[0].images[0].get_array()
    grey = rgba[C == 0][:, :3]
    assert np.allclose(grey, grey[0]) and np.ptp(grey[0]) < 1e-9
    assert not np.allclose(rgba[C != 0][:, :3], grey[0])


def test_column_vector_title_has_both_dimensions():
    fig = plot.show_matrix(np.array([[1], [2], [3], [4]]), title="x2")
    assert fig.axes[0].get_title() == "x2\n(4 × 1)"


def colours_of(ax, values):
    """{value: RGB} of the cells of a panel showing ``values``."""
    rgba = ax.images[0].get_array()
    return {v: tuple(np.round(rgba[i, j, :3], 6)) for (i, j), v in np.ndenumerate(values)}


def test_same_value_same_colour_across_figures():
    y = conv(X[None, None], W[None, None])[0, 0]
    conv_fig = plot.plot_convolution(X, W)
    kernel_colours = colours_of(conv_fig.axes[1], W)
    y_colours = colours_of(conv_fig.axes[2], y)
    x_colours = colours_of(conv_fig.axes[0], X)
    assert colours_of(plot.show_matrix(W).axes[0], W) == kernel_colours
    # the input's 3s are the kernel's 3s
    assert x_colours[3] == kernel_colours[3] and x_colours[1] == kernel_colours[1]
    # C's entries in the kernel's colours, the product in y's
    product = plot.plot_convolution_matrix(C, X)
    rgba = product.axes[1].images[0].get_array()
    for (i, j), v in np.ndenumerate(C):
        if v:
            assert tuple(np.round(rgba[i, j, :3], 6)) == kernel_colours[v]
    assert colours_of(product.axes[2], y.reshape(-1, 1)) == y_colours
    # y as the input of the transposed convolution
    up = plot.plot_convolution(y, W, transpose=True)
    assert colours_of(up.axes[0], y) == y_colours
    # the up-sampled output: the same colours alone and as the sum of terms
    out = conv_transpose(y[None, None], W[None, None])[0, 0]
    terms = plot.plot_transposed_terms(y, W)
    assert colours_of(terms.axes[-1], out) == colours_of(up.axes[2], out)


def test_receptive_field_sum_written_out():
    fig = plot.plot_convolution(X, W)
    assert ("= 7·3 + 6·3 + 5·3 + 3·4 + 1·2 + 1·4 + 2·3 + 7·1 + 6·2 = 97"
            in fig._suptitle.get_text())


def test_plot_transposed_terms():
    y = np.array([[1, 2], [3, 4]])
    fig = plot.plot_transposed_terms(y, W, stride=2)
    assert_good_figure(fig)
    axes = fig.axes
    assert len(axes) == 3 + 5
    np.testing.assert_array_equal(cell_values(axes[0]), y)
    assert outlined(axes[0]) == {(0, 0)}
    full = conv_transpose(y[None, None], W[None, None], stride=(2, 2))[0, 0]
    terms = [cell_values(ax) for ax in axes[3:7]]
    # the first term alone is y[0, 0] * W in the top-left corner
    np.testing.assert_array_equal(cell_values(axes[2]), terms[0])
    np.testing.assert_array_equal(terms[0][:3, :3], W)
    np.testing.assert_array_equal(sum(terms), full)
    np.testing.assert_array_equal(cell_values(axes[7]), full)
    alone = plot.plot_transposed_terms(y, W, cells=[(1, 1)])
    assert len(alone.axes) == 3 and outlined(alone.axes[0]) == {(1, 1)}
    assert len(plot.plot_transposed_terms(y, W, alone=False).axes) == 5
    with pytest.raises(ValueError, match="cells"):
        plot.plot_transposed_terms(y, W, cells=[(2, 0)])


@pytest.mark.parametrize("stride, padding", [(2, 0), (3, 1), ((2, 1), (0, 1))])
def test_plot_zero_insertion(stride, padding):
    y = np.array([[1, 2], [3, 4]])
    fig = plot.plot_zero_insertion(y, W, stride=stride, padding=padding)
    assert_good_figure(fig)
    _, shown_ax, flipped_ax, out_ax = fig.axes
    s, p = np.broadcast_to(stride, (2,)), np.broadcast_to(padding, (2,))
    expected = conv_transpose(y[None, None], W[None, None], stride=tuple(s),
                              padding=tuple((q, q) for q in p))[0, 0]
    np.testing.assert_array_equal(cell_values(out_ax), expected)
    np.testing.assert_array_equal(cell_values(flipped_ax), W[::-1, ::-1])
    # the inserted zeros are hatched, the padding is not
    hatched = {(round(r.get_y() + 0.5), round(r.get_x() + 0.5))
               for r in shown_ax.patches if r.get_hatch()}
    border = [2 - q for q in p]
    inserted = {(border[0] + i, border[1] + j)
                for i in range((y.shape[0] - 1) * s[0] + 1)
                for j in range((y.shape[1] - 1) * s[1] + 1)
                if i % s[0] or j % s[1]}
    assert hatched == inserted
    with pytest.raises(ValueError, match="padding"):
        plot.plot_zero_insertion(y, W, padding=3)


# --------------------------------------------------------------------------
# overlap and benchmark
# --------------------------------------------------------------------------

def taps_per_cell(kernel, stride, size):
    counts = np.zeros(((size - 1) * stride + kernel,) * 2, dtype=int)
    for i in range(size):
        for j in range(size):
            counts[i * stride:i * stride + kernel, j * stride:j * stride + kernel] += 1
    return counts


@pytest.mark.parametrize("kernel, stride, even", [(3, 2, False), (4, 2, True),
                                                  (3, 1, True), (5, 3, False)])
def test_plot_overlap(kernel, stride, even):
    fig = plot.plot_overlap(kernel, stride)
    assert_good_figure(fig)
    counts = cell_values(fig.axes[0])
    np.testing.assert_array_equal(counts, taps_per_cell(kernel, stride, 4))
    label = fig.axes[0].get_xlabel()
    assert ("not a multiple" not in label) == even
    assert ("checkerboard" in label) == (not even)


def test_plot_benchmark():
    results = {"direct": [(64, 4e-5), (32, 1e-5), (128, 1.6e-4)],
               "sparse": [(32, 3e-5), (64, 1.3e-4)],
               "skipped everywhere": []}
    fig = plot.plot_benchmark(results, title="conv2d", xlabel="image side")
    assert_good_figure(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"direct", "sparse"}
    np.testing.assert_array_equal(lines["direct"].get_xdata(), [32, 64, 128])
    np.testing.assert_array_equal(lines["direct"].get_ydata(), [1e-5, 4e-5, 1.6e-4])
    assert ax.get_legend() is not None


# --------------------------------------------------------------------------
# contract shared by every function
# --------------------------------------------------------------------------

FIGURES = {
    "show_matrix": (lambda ax: plot.show_matrix(X, ax=ax), 1),
    "plot_convolution": (lambda ax: plot.plot_convolution(X, W, ax=ax), 3),
    "plot_convolution_matrix": (lambda ax: plot.plot_convolution_matrix(C, ax=ax), 1),
    "plot_convolution_matrix product":
        (lambda ax: plot.plot_convolution_matrix(C, X, ax=ax), 3),
    "plot_overlap": (lambda ax: plot.plot_overlap(3, 2, ax=ax), 1),
    "plot_benchmark": (lambda ax: plot.plot_benchmark({"a": [(1, 1.0)]}, ax=ax), 1),
}


@pytest.mark.parametrize("name", FIGURES)
def test_draws_into_given_axes(name):
    make, n_axes = FIGURES[name]
    fig, axes = plt.subplots(1, n_axes, figsize=(4 * n_axes, 4))
    n_figures = len(plt.get_fignums())
    result = make(axes)
    assert result is fig
    assert len(plt.get_fignums()) == n_figures
    assert all(a.has_data() for a in np.ravel(axes))


@pytest.mark.parametrize("name", FIGURES)
def test_never_shows_and_returns_figure(name, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() was called")
    monkeypatch.setattr(plt, "show", refuse)
    make, _ = FIGURES[name]
    fig = make(None)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert_good_figure(fig)


def test_wrong_number_of_axes():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="3 Axes"):
        plot.plot_convolution(X, W, ax=ax)


def test_inputs_not_modified():
    x, w, c = X.copy(), W.copy(), C.copy()
    for a in (x, w, c):
        a.setflags(write=False)
    plot.show_matrix(x)
    plot.plot_convolution(x, w, padding=1)
    plot.plot_convolution_matrix(c, x, transpose=False)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(c, C)


def test_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "fastconv\[plot\]"'):
        plot.show_matrix(X)
    with pytest.raises(ImportError, match=r'pip install "fastconv\[plot\]"'):
        plot.plot_overlap(3, 2)
