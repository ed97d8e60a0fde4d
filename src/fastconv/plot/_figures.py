"""The public figures of :mod:`fastconv.plot`.

Each function works out what to show (the arrays, the outlined cells, the
caption), lays out a figure or takes the caller's Axes, and leaves the
drawing of each matrix to :mod:`fastconv.plot._drawing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _api, _geometry
from .._zero_insertion import zero_insert
from .._typing import IntOrTuple, Padding
from ._drawing import (
    as_matrix, axes_from, cell_texts, draw_matrix, fit_cell, legible_cell_inches,
    matrix_cell_inches, new_figure, outline, panel_figure, shrink_wrap, wrap_to_width,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase
    from scipy.sparse import sparray, spmatrix


def show_matrix(m: ArrayLike | sparray | spmatrix, *, title: str | None = None,
                style: Literal["auto", "categorical", "diverging", "sequential"] = "auto",
                fmt: str | None = None, muted: ArrayLike | None = None,
                ax: Axes | None = None) -> FigureBase:
    """Draw a matrix as coloured cells, each with its value written in it.

    Parameters
    ----------
    m : array_like, shape (rows, columns) or (n,)
        Real values; a 1-D array is drawn as a column, a scipy.sparse matrix
        as its dense form.
    title : str, optional
        Title; the shape is added to it.
    style : {'auto', 'categorical', 'diverging', 'sequential'}
        Colours.  'categorical': each distinct value its own ``tab10`` colour
        (small integer inputs); 'diverging': blue below zero, red above,
        white at zero (kernels, signed values); 'sequential': ``viridis``
        from smallest to largest (outputs, counts).  'auto' picks
        categorical for at most 10 distinct whole numbers, diverging for
        values of both signs, sequential otherwise.  Categorical colours
        follow the value alone, and a sequential scale runs from 0, so the
        same value has the same colour in every figure.
    fmt : str, optional
        Format spec of the numbers, e.g. ``".2f"``; default ``"d"`` for
        integers and ``".3g"`` for floats.
    muted : array_like of bool, same shape as `m`, optional
        Cells drawn in light grey with grey numbers, outside the colour
        scale (zero padding, structural zeros).  By default none, and the
        zeros of a scipy.sparse matrix.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default a new figure sized to the matrix.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.plot import show_matrix
    >>> fig = show_matrix(np.arange(16).reshape(4, 4) % 9, title="input x")
    >>> fig.axes[0].get_title()
    'input x  (4 × 4)'
    """
    if muted is None and hasattr(m, "toarray"):
        # a sparse matrix's zeros are no connection: grey, as in plot_convolution_matrix
        muted = m.toarray() == 0
    matrix = as_matrix(m, "m")
    if ax is not None:
        draw_matrix(ax, matrix, title=title, style=style, fmt=fmt, muted=muted)
        return ax.figure
    rows, columns = matrix.shape
    cell_inches = matrix_cell_inches(matrix, fmt)
    fig = new_figure(columns * cell_inches + 1.0, rows * cell_inches + 1.0)
    draw_matrix(fig.subplots(), matrix, title=title, style=style, fmt=fmt, muted=muted,
                cell_inches=cell_inches)
    return shrink_wrap(fig)


def _plain_matrices(**arrays: ArrayLike) -> list[NDArray[Any]]:
    """Each keyword's array as a 2-D real matrix; a ValueError naming one that is not 2-D."""
    for name, array in arrays.items():
        if np.ndim(array) != 2:
            raise ValueError(f"{name} must be 2-D, got shape {np.shape(array)}")
    return [as_matrix(array, name) for name, array in arrays.items()]


def _settings_text(stride, padding, dilation, output_padding=0):
    """The arguments that differ from their defaults, as "stride 2, padding 1"."""
    parts = [f"{name} {value}" for name, value, default in (
        ("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1),
        ("output_padding", output_padding, 0)) if value != default]
    return ", ".join(parts)


def _highlighted_cell(cell, shape, name):
    """``cell`` as non-negative (row, column) of a ``shape`` array, or None."""
    if cell is None:
        return None
    cell = tuple(int(index) for index in np.broadcast_to(cell, (2,)))
    if not all(-side <= index < side for index, side in zip(cell, shape)):
        raise ValueError(f"{name} must be a cell of the {shape} array, got {cell}")
    return tuple(index % side for index, side in zip(cell, shape))


def _one_hot(shape, cell):
    """An int64 array of ``shape``, one at ``cell`` and zero elsewhere."""
    hot = np.zeros(shape, dtype=np.int64)
    hot[cell] = 1
    return hot


class _ConvolutionPanels(NamedTuple):
    """What :func:`plot_convolution` draws, besides the kernel."""

    shown_input: NDArray[Any]
    """The input panel, shape (H, W); zero-padded for a convolution."""
    padding: NDArray[np.bool_] | None
    """True on the padding cells of `shown_input`; None without padding."""
    first_index: tuple[int, int]
    """The input's row and column index of `shown_input`'s first cell."""
    output: NDArray[Any]
    """The output panel, shape (out_H, out_W)."""
    highlighted: tuple[int, int] | None
    """The cell whose connections are outlined, in its own panel."""
    reached: NDArray[np.bool_] | None
    """True on the cells of the other panel `highlighted` connects to."""
    names: tuple[str, str, str]
    """Titles of the input, kernel and output panels."""


def _convolution_panels(x, kernel, highlight, *, stride, padding, dilation):
    """Padded input, output and the receptive field of output cell ``highlight``."""
    output = _api.conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation)
    geometry = _geometry.conv_geometry(x.shape, kernel.shape, stride, padding, dilation)
    pad_widths = list(zip(geometry.spatial(geometry.pad_before),
                          geometry.spatial(geometry.pad_after)))
    shown = np.pad(x, pad_widths)
    cell = _highlighted_cell(highlight, output.shape, "highlight")
    # the padded-input cells one output value reads: the adjoint, run
    # without padding, of that output cell with a kernel of ones
    reached = None
    if cell is not None:
        field = _api.conv_transpose2d(_one_hot(output.shape, cell),
                                      np.ones(kernel.shape, dtype=np.int64),
                                      stride=stride, dilation=dilation) > 0
        reached = np.zeros(shown.shape, dtype=bool)
        reached[:field.shape[0], :field.shape[1]] = field
    return _ConvolutionPanels(
        shown_input=shown,
        padding=np.pad(np.zeros(x.shape, dtype=bool), pad_widths, constant_values=True),
        # padded cells keep the input's indices: -1 is the first padding row
        first_index=(-pad_widths[0][0], -pad_widths[1][0]),
        output=output, highlighted=cell, reached=reached,
        names=("input x", "kernel w", "output y"))


def _transposed_convolution_panels(x, kernel, highlight, **arguments):
    """Output, and the output cells input cell ``highlight`` adds into."""
    output = _api.conv_transpose2d(x, kernel, **arguments)
    cell = _highlighted_cell(highlight, x.shape, "highlight")
    # the output cells one input value reaches: its scatter of a kernel of ones
    reached = (None if cell is None else
               _api.conv_transpose2d(_one_hot(x.shape, cell),
                                     np.ones(kernel.shape, dtype=np.int64), **arguments) > 0)
    return _ConvolutionPanels(shown_input=x, padding=None, first_index=(0, 0), output=output,
                              highlighted=cell, reached=reached,
                              names=("input y", "kernel w", "output"))


def _written_sum(inputs, kernel, total):
    """``"7·3 + 6·3 + … = 97"``: each input value times its kernel tap, for up to 9 taps."""
    if kernel.size > 9:
        return ""
    terms = " + ".join(f"{format(a + 0, 'g')}·{format(b + 0, 'g')}"
                       for a, b in zip(inputs, kernel.ravel()))
    return f"\n= {terms} = {format(total + 0, 'g')}"


def _outline_connections(axes, panels, transpose, kernel):
    """Outline the highlighted cell and the cells it reaches; the caption's words for it."""
    if panels.highlighted is None or panels.reached is None:
        return ""
    where = ", ".join(str(index) for index in panels.highlighted)
    if transpose:
        outline(axes[0], [panels.highlighted])
        outline(axes[2], np.argwhere(panels.reached))
        return f":\ny[{where}] × w is added into the outlined cells of the output"
    outline(axes[2], [panels.highlighted])
    outline(axes[0], np.argwhere(panels.reached))
    written = _written_sum(panels.shown_input[panels.reached], kernel,
                           panels.output[panels.highlighted])
    return f":\ny[{where}] = sum of w × the outlined cells of x{written}"

def plot_convolution(x: ArrayLike, kernel: ArrayLike, *, stride: IntOrTuple = 1,
                     padding: Padding = 0, dilation: IntOrTuple = 1,
                     output_padding: IntOrTuple = 0, transpose: bool = False,
                     highlight: tuple[int, int] | None = (0, 0),
                     ax: Sequence[Axes] | None = None) -> FigureBase:
    """Input | kernel | output of a 2-D convolution or transposed convolution.

    For a convolution, the outlined cells of the input are those output cell
    ``highlight`` reads (its receptive field; zero padding drawn in grey).
    For a transposed convolution, the outlined cells of the output are
    those input cell ``highlight`` adds ``value * kernel`` into.

    Parameters
    ----------
    x : array_like, shape (H, W)
        Input.
    kernel : array_like, shape (kH, kW)
    stride, padding, dilation
        As for :func:`fastconv.conv2d`.
    output_padding : int or pair of ints, default 0
        Only with ``transpose=True``, as for :func:`fastconv.conv_transpose2d`.
    transpose : bool, default False
        Draw ``conv_transpose2d(x, kernel, ...)`` instead of ``conv2d``.
    highlight : pair of ints or None, default (0, 0)
        The output cell (convolution) or input cell (transposed
        convolution) whose connections are outlined; None for none.
    ax : sequence of 3 matplotlib.axes.Axes, optional
        Input, kernel and output panels; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.plot import plot_convolution
    >>> x = np.arange(16).reshape(4, 4) % 7
    >>> fig = plot_convolution(x, np.ones((3, 3), dtype=int), highlight=(1, 0))
    >>> [t.get_text() for t in fig.axes[2].texts]     # the output's cells
    ['24', '26', '32', '27']
    """
    x, kernel = _plain_matrices(x=x, kernel=kernel)
    if transpose:
        panels = _transposed_convolution_panels(x, kernel, highlight, stride=stride,
                                                padding=padding, dilation=dilation,
                                                output_padding=output_padding)
    else:
        if output_padding != 0:
            raise ValueError(f"output_padding needs transpose=True, got {output_padding!r}")
        panels = _convolution_panels(x, kernel, highlight, stride=stride, padding=padding,
                                     dilation=dilation)
    arrays = (panels.shown_input, kernel, panels.output)
    if ax is None:
        fig, axes, cell_inches = panel_figure(arrays, (2.5, 1.6))
    else:
        axes, cell_inches = axes_from(ax, 3), None
        fig = axes[0].figure
    draw_matrix(axes[0], panels.shown_input, title=panels.names[0], muted=panels.padding,
                shape=x.shape, cell_inches=cell_inches, first_index=panels.first_index)
    draw_matrix(axes[1], kernel, title=panels.names[1], cell_inches=cell_inches)
    draw_matrix(axes[2], panels.output, title=panels.names[2], cell_inches=cell_inches)
    caption = "conv_transpose2d(y, w)" if transpose else "y = conv2d(x, w)"
    settings = _settings_text(stride, padding, dilation, output_padding)
    if settings:
        caption += f", {settings}"
    caption += _outline_connections(axes, panels, transpose, kernel)
    if panels.padding is not None and panels.padding.any():
        caption += " (grey: zero padding)"
    fig.suptitle(caption, fontsize=11)
    return fig if ax is not None else shrink_wrap(fig)


def plot_convolution_matrix(C: ArrayLike | sparray | spmatrix, x: ArrayLike | None = None,
                            *, transpose: bool = False,
                            ax: Axes | Sequence[Axes] | None = None) -> FigureBase:
    """The convolution matrix ``C`` (or ``C.T``), optionally times a vector.

    A convolution is ``y = C @ x.ravel()``: row ``i`` of ``C`` holds the
    kernel laid into the flattened input at output cell ``i``.  The
    transposed convolution is ``C.T @ y.ravel()``: column ``j`` of ``C.T``
    spreads input value ``y[j]`` over a kernel-sized patch of the output.
    Zeros (no connection) are drawn in grey.

    Parameters
    ----------
    C : array_like or scipy.sparse matrix, shape (output size, input size)
        A convolution matrix, e.g. from :func:`fastconv.convolution_matrix`.
    x : array_like, optional
        ``C.shape[1]`` values (``C.shape[0]`` with ``transpose=True``), any
        shape.  The figure then shows the product the way it is worked by
        hand: ``x.ravel()`` as a row above the matrix, each value over its
        column, and the product as a column beside it, each value by its row.
    transpose : bool, default False
        Draw ``C.T``: the matrix of the transposed convolution.
    ax : matplotlib.axes.Axes, or sequence of 3 Axes when `x` is given, optional
        The matrix; with `x`: the vector, the matrix and the product.  By
        default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.plot import plot_convolution_matrix
    >>> C = np.array([[1, 2, 0], [0, 1, 2]])    # kernel [1, 2] on 3 values
    >>> fig = plot_convolution_matrix(C, np.array([3, 4, 5]))
    >>> [t.get_text() for t in fig.axes[2].texts]     # the product's cells
    ['11', '14']
    """
    if getattr(C, "ndim", np.ndim(C)) != 2:
        raise ValueError(f"C must be 2-D, got shape {np.shape(C)}")
    matrix = as_matrix(C, "C")
    if transpose:
        matrix = matrix.T
        words = _MatrixWords("Cᵀ", "y.ravel()", "Cᵀ @ y",
                             "row i: output cell i of the transposed convolution",
                             "column j: input cell j of the transposed convolution")
    else:
        words = _MatrixWords("C", "x.ravel()", "C @ x",
                             "row i: output cell i of the convolution",
                             "column j: input cell j of the convolution")
    if x is None:
        return _matrix_alone(matrix, words, ax)
    vector = np.asarray(x).ravel()
    if vector.size != matrix.shape[1]:
        raise ValueError(
            f"x must have {matrix.shape[1]} values for a {words.matrix} of shape "
            f"{matrix.shape}, got shape {vector.shape}"
        )
    return _matrix_times_vector(matrix, vector, words, ax)


class _MatrixWords(NamedTuple):
    """The names and axis labels of :func:`plot_convolution_matrix`'s panels."""

    matrix: str
    vector: str
    product: str
    rows: str
    columns: str


def _matrix_alone(matrix, words, ax):
    """The matrix (rows, columns), its rows and columns explained beside it."""
    rows, columns = matrix.shape
    if ax is None:
        cell_inches = matrix_cell_inches(matrix, margins=(1.3, 1.6))
        fig = new_figure(columns * cell_inches + 1.3, rows * cell_inches + 1.6)
        axes = [fig.subplots()]
    else:
        axes, cell_inches = axes_from(ax, 1), None
        fig = axes[0].figure
    draw_matrix(axes[0], matrix, title=words.matrix, muted=matrix == 0,
                cell_inches=cell_inches, name="C")
    axes[0].set_xlabel(wrap_to_width(words.columns, cell_inches and columns * cell_inches),
                       fontsize=9)
    axes[0].set_ylabel(wrap_to_width(words.rows, cell_inches and rows * cell_inches),
                       fontsize=9)
    return fig if ax is not None else shrink_wrap(fig)


def _product_figure(matrix, vector, product):
    """A figure laid out as ``matrix @ vector`` is worked by hand.

    The vector (columns,) as a row above the matrix (rows, columns) and the
    product (rows,) as a column to its right; returns the figure, those
    three Axes and the cell size.
    """
    rows, columns = matrix.shape
    n_chars = max(cell_texts(values[:, None], None)[1]
                  for values in (matrix.ravel(), vector, product))
    margins = (2.2, 2.2)
    cell_inches = fit_cell(legible_cell_inches(n_chars), columns + 1, rows + 1, margins)
    fig = new_figure((columns + 1) * cell_inches + margins[0],
                     (rows + 1) * cell_inches + margins[1])
    grid = fig.subplots(2, 2, width_ratios=[columns, 1], height_ratios=[1, rows])
    grid[0, 1].remove()
    axes = [grid[0, 0], grid[1, 0], grid[1, 1]]
    # pack the three together wherever the square cells leave slack
    for panel_ax, anchor in zip(axes, ("SE", "NE", "NW")):
        panel_ax.set_anchor(anchor)
    return fig, axes, cell_inches


def _matrix_times_vector(matrix, vector, words, ax):
    """The vector (columns,), the matrix (rows, columns) and their product (rows,)."""
    rows, columns = matrix.shape
    product = matrix @ vector
    if ax is None:
        fig, axes, cell_inches = _product_figure(matrix, vector, product)
    else:
        axes, cell_inches = axes_from(ax, 3), None
        fig = axes[0].figure
    draw_matrix(axes[0], vector[None, :], title=None, cell_inches=cell_inches)
    axes[0].set_ylabel(words.vector, rotation=0, ha="right", va="center", fontsize=10)
    axes[0].set_yticks([])
    draw_matrix(axes[1], matrix, muted=matrix == 0, cell_inches=cell_inches, name="C")
    axes[1].set_ylabel(wrap_to_width(f"{words.matrix}:  {words.rows}",
                                     cell_inches and rows * cell_inches), fontsize=9)
    axes[1].set_xlabel(wrap_to_width(words.columns, cell_inches and columns * cell_inches),
                       fontsize=9)
    axes[1].xaxis.set_label_position("bottom")
    axes[1].tick_params(labeltop=False)
    draw_matrix(axes[2], product, title=words.product, cell_inches=cell_inches)
    axes[2].tick_params(labeltop=False, labelleft=False)
    return fig if ax is not None else shrink_wrap(fig)


def plot_overlap(kernel_size: IntOrTuple, stride: IntOrTuple, *, input_size: IntOrTuple = 4,
                 padding: Padding = 0, ax: Axes | None = None) -> FigureBase:
    """How many kernel taps reach each output cell of a transposed convolution.

    A transposed convolution adds one kernel-sized patch per input value,
    ``stride`` cells apart.  Where ``kernel_size`` is not a multiple of
    ``stride`` the patches overlap unevenly, so even a constant input and
    kernel give a checkerboard output: the artifact described by Odena,
    Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts",
    Distill, 2016.

    Parameters
    ----------
    kernel_size : int or pair of ints
    stride : int or pair of ints
    input_size : int or pair of ints, default 4
        Spatial size of the transposed convolution's input.
    padding : int or pair of ints, default 0
        As for :func:`fastconv.conv_transpose2d`: cells cropped from the
        output's borders.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from fastconv.plot import plot_overlap
    >>> fig = plot_overlap(3, 2)
    >>> fig.axes[0].images[0].get_array().shape[:2]
    (9, 9)
    """
    kernel_pair = _int_pair(kernel_size)
    stride_pair = _int_pair(stride)
    input_pair = _int_pair(input_size)
    # conv_transpose2d of ones with a kernel of ones counts the taps per cell
    counts = _api.conv_transpose2d(np.ones(input_pair, dtype=np.int64),
                                   np.ones(kernel_pair, dtype=np.int64),
                                   stride=stride_pair, padding=padding)
    kernel_text, stride_text = _pair_text(kernel_pair), _pair_text(stride_pair)
    if all(kernel % step == 0 for kernel, step in zip(kernel_pair, stride_pair)):
        verdict = (f"kernel {kernel_text} is a multiple of stride {stride_text}:\n"
                   "even overlap away from the borders")
    else:
        verdict = (f"kernel {kernel_text} is not a multiple of stride {stride_text}:\n"
                   "uneven overlap, the checkerboard artifact")
    cell_inches = None
    if ax is None:
        rows, columns = counts.shape
        cell_inches = matrix_cell_inches(counts, margins=(1.0, 1.6))
        fig = new_figure(max(columns * cell_inches + 1.0, 4.6), rows * cell_inches + 1.6)
        ax = fig.subplots()
    draw_matrix(ax, counts, title="kernel taps per output cell", style="sequential",
                cell_inches=cell_inches)
    ax.set_xlabel(f"conv_transpose2d: input {input_pair[0]}×{input_pair[1]}, kernel "
                  f"{kernel_text}, stride {stride_text}\n{verdict}", fontsize=9)
    ax.xaxis.set_label_position("bottom")
    return ax.figure if cell_inches is None else shrink_wrap(ax.figure)


def _int_pair(value) -> tuple[int, ...]:
    """An int or a pair of ints as a pair of ints."""
    return tuple(int(item) for item in np.broadcast_to(np.asarray(value), (2,)))


def _pair_text(pair):
    """``"3"`` for (3, 3), ``"3×2"`` for (3, 2)."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def _format_seconds(seconds, _position=None):
    """``seconds`` in the largest unit that keeps it at least 1: "20 µs"."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:g} {unit}"
    return f"{seconds:g} s"


def plot_benchmark(results: Mapping[str, Sequence[tuple[float, float]]], *,
                   title: str | None = None, xlabel: str = "size",
                   ax: Axes | None = None) -> FigureBase:
    """Time against size for each method, log-log.

    Parameters
    ----------
    results : mapping of str to sequence of (size, seconds)
        For each method, its timings; sizes a method skipped are left out.
        Each method's colour follows its position in the mapping, also when
        it has no timings, so several panels can share one legend's colours.
    title : str, optional
    xlabel : str, default 'size'
        What the sizes are, e.g. ``"image side (pixels)"``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from fastconv.plot import plot_benchmark
    >>> fig = plot_benchmark({"direct": [(32, 1e-5), (64, 4e-5)],
    ...                       "sparse": [(32, 3e-5), (64, 1.3e-4)]})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['direct', 'sparse']
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter
    if ax is None:
        fig = new_figure(7.0, 4.5)
        ax = fig.subplots()
    markers = "osD^vP*Xhp<>"
    sizes: set[float] = set()
    for position, (method, timings) in enumerate(results.items()):
        points = sorted((float(size), float(seconds)) for size, seconds in timings)
        if not points:
            continue
        method_sizes, method_seconds = zip(*points)
        sizes.update(method_sizes)
        ax.plot(method_sizes, method_seconds, marker=markers[position % len(markers)],
                label=method, color=f"C{position % 10}",
                linestyle="-" if position < 10 else "--")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if sizes:
        ax.set_xticks(sorted(sizes))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(_format_seconds))
    ax.grid(which="major", color="0.85")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("time per call")
    if title is not None:
        ax.set_title(title)
    if ax.get_lines():
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                  fontsize=9, frameon=False)
    return ax.figure


def _term_panels(y, kernel, cells, arguments):
    """Each of ``cells``' term ``y[cell] × kernel`` in the output grid, and where it lands."""
    terms, landed = [], []
    for cell in cells:
        hot = _one_hot(y.shape, cell)
        terms.append(_api.conv_transpose2d(hot * y[cell], kernel, **arguments))
        landed.append(_api.conv_transpose2d(hot, np.ones(kernel.shape, dtype=np.int64),
                                            **arguments) > 0)
    return terms, landed


def plot_transposed_terms(y: ArrayLike, kernel: ArrayLike, *, stride: IntOrTuple = 1,
                          padding: Padding = 0,
                          cells: Sequence[tuple[int, int]] | None = None,
                          alone: bool = True) -> FigureBase:
    """A transposed convolution as the sum of its terms ``y[i, j] × kernel``.

    Each input value adds ``value × kernel`` into a kernel-sized patch of the
    output, ``stride`` cells after its neighbour's; the output is the sum of
    these terms.  The top row shows the first of ``cells`` alone: the input
    with that cell outlined, the kernel, and its term in the output grid
    (cells it does not reach in grey).  With more than one cell, the row
    below shows every term and their sum, the transposed convolution's
    output.  All terms and the sum share one colour scale.

    Parameters
    ----------
    y : array_like, shape (H, W)
        Input of the transposed convolution.
    kernel : array_like, shape (kH, kW)
    stride, padding
        As for :func:`fastconv.conv_transpose2d`.
    cells : sequence of (int, int), optional
        The input cells whose terms are drawn; by default every cell.
    alone : bool, default True
        Draw the top row (the first cell's term alone).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.plot import plot_transposed_terms
    >>> y = np.array([[97, 95], [97, 116]])
    >>> w = np.array([[3, 3, 3], [4, 2, 4], [3, 1, 2]])
    >>> fig = plot_transposed_terms(y, w, cells=[(0, 0)])
    >>> fig.axes[2].get_title()
    'y[0, 0] × w = 97 × w  (4 × 4)'
    >>> fig = plot_transposed_terms(y, w, alone=False)
    >>> [ax.get_title().split("  (")[0] for ax in fig.axes]
    ['y[0, 0] × w', '+ y[0, 1] × w', '+ y[1, 0] × w', '+ y[1, 1] × w', '= output']
    """
    y, kernel = _plain_matrices(y=y, kernel=kernel)
    if cells is None:
        cells = [cell for cell, _ in np.ndenumerate(y)]
    cells = [_highlighted_cell(cell, y.shape, "cells") for cell in cells]
    if not cells:
        raise ValueError("cells must name at least one cell of y")
    arguments: dict[str, Any] = {"stride": stride, "padding": padding}
    output = _api.conv_transpose2d(y, kernel, **arguments)
    terms, landed = _term_panels(y, kernel, cells, arguments)
    summed = len(cells) > 1
    if not alone and not summed:
        raise ValueError("alone=False needs more than one cell")
    every = np.concatenate([t.ravel() for t in terms] + [output.ravel()])
    value_range = (min(every.min(), 0), max(every.max(), 0))
    style = "diverging" if value_range[0] < 0 < value_range[1] else "sequential"

    top = [y, kernel, output] if alone else []
    bottom = [output] * (len(cells) + 1) if summed else []
    columns = max(sum(p.shape[1] for p in top), sum(p.shape[1] for p in bottom))
    rows = (y.shape[0] if alone else 0) + (output.shape[0] if summed else 0)
    rows = max(rows, output.shape[0] * (int(alone) + int(summed)))
    n_chars = max(cell_texts(p, None)[1] for p in [y, kernel, *terms, output])
    margins = (1.0 + 0.6 * max(len(top), len(bottom)), 1.6 * (int(alone) + int(summed)))
    cell_inches = fit_cell(legible_cell_inches(n_chars), columns, rows, margins)
    fig = new_figure(columns * cell_inches + margins[0], rows * cell_inches + margins[1])
    rows_of_panels = [panels for panels in (top, bottom) if panels]
    subfigures = np.ravel(fig.subfigures(len(rows_of_panels), 1, height_ratios=[
        max(p.shape[0] for p in panels) + 1.6 for panels in rows_of_panels]))
    where = ", ".join(str(index) for index in cells[0])
    if alone:
        axes = subfigures[0].subplots(1, 3, width_ratios=[max(p.shape[1], 2.5) for p in top])
        draw_matrix(axes[0], y, title="input y", cell_inches=cell_inches, name="y")
        outline(axes[0], [cells[0]])
        draw_matrix(axes[1], kernel, title="kernel w", cell_inches=cell_inches, name="kernel")
        draw_matrix(axes[2], terms[0], title=f"y[{where}] × w = "
                    f"{format(y[cells[0]] + 0, 'g')} × w", style=style,
                    value_range=value_range, muted=~landed[0], cell_inches=cell_inches)
        subfigures[0].suptitle(f"one input value: y[{where}] × w, added where it lands "
                               "(grey: cells it does not reach)", fontsize=11)
    if summed:
        axes = subfigures[-1].subplots(1, len(bottom))
        for number, (ax, cell, term, reach) in enumerate(zip(axes, cells, terms, landed)):
            label = ", ".join(str(index) for index in cell)
            draw_matrix(ax, term, title=f"{'+ ' if number else ''}y[{label}] × w",
                        style=style, value_range=value_range, muted=~reach,
                        cell_inches=cell_inches)
        draw_matrix(axes[-1], output, title="= output", style=style, value_range=value_range,
                    cell_inches=cell_inches)
        settings = _settings_text(stride, padding, 1)
        subfigures[-1].suptitle(
            f"conv_transpose2d(y, w{', ' + settings if settings else ''}): "
            f"the sum of {len(cells)} terms", fontsize=11)
    return shrink_wrap(fig)


def plot_zero_insertion(y: ArrayLike, kernel: ArrayLike, *, stride: IntOrTuple = 2,
                        padding: IntOrTuple = 0) -> FigureBase:
    """A transposed convolution computed as a convolution of the zero-inserted input.

    ``conv_transpose2d(y, w, stride=s, padding=p)`` equals ``conv2d`` of
    ``y`` with ``s - 1`` zeros inserted between neighbours
    (:func:`fastconv.zero_insert`) and ``k - 1 - p`` zeros of padding around
    it, with the kernel flipped in both axes.  The inserted zeros are drawn
    hatched, the padding grey.

    Parameters
    ----------
    y : array_like, shape (H, W)
        Input of the transposed convolution.
    kernel : array_like, shape (kH, kW)
    stride : int or pair of ints, default 2
    padding : int or pair of ints, default 0
        As for :func:`fastconv.conv_transpose2d`; at most ``k - 1``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.plot import plot_zero_insertion
    >>> fig = plot_zero_insertion(np.array([[1, 2], [3, 4]]), np.ones((3, 3), dtype=int))
    >>> [ax.get_title() for ax in fig.axes[1:]]
    ['zero-inserted, padded  (7 × 7)', 'w flipped  (3 × 3)', 'output  (5 × 5)']
    """
    y, kernel = _plain_matrices(y=y, kernel=kernel)
    stride_pair, padding_pair = _int_pair(stride), _int_pair(padding)
    borders = [k - 1 - p for k, p in zip(kernel.shape, padding_pair)]
    if min(borders) < 0 or min(stride_pair) < 1:
        raise ValueError(f"padding must be at most kernel size - 1 and stride at least 1, "
                         f"got padding {padding!r}, stride {stride!r}")
    inserted = zero_insert(y, stride_pair)
    is_value = zero_insert(np.ones(y.shape, dtype=bool), stride_pair)
    shown = np.pad(inserted, [(b, b) for b in borders])
    padded = np.pad(np.zeros(inserted.shape, dtype=bool), [(b, b) for b in borders],
                    constant_values=True)
    marked = np.pad(~is_value, [(b, b) for b in borders])
    flipped = kernel[::-1, ::-1]
    output = _api.conv2d(shown, flipped)
    panels = (y, shown, flipped, output)
    fig, axes, cell_inches = panel_figure(panels, (3.0, 1.9))
    draw_matrix(axes[0], y, title="input y", cell_inches=cell_inches, name="y")
    draw_matrix(axes[1], shown, title="zero-inserted, padded", muted=padded, marked=marked,
                cell_inches=cell_inches, first_index=(-borders[0], -borders[1]))
    draw_matrix(axes[2], flipped, title="w flipped", cell_inches=cell_inches)
    draw_matrix(axes[3], output, title="output", cell_inches=cell_inches)
    fig.suptitle(
        f"conv_transpose2d(y, w, stride {_pair_text(stride_pair)}"
        f"{', padding ' + _pair_text(padding_pair) if any(padding_pair) else ''}) = "
        f"conv2d(zero_insert(y, {_pair_text(stride_pair)}) padded, w flipped)\n"
        f"hatched: the {_pair_text(tuple(s - 1 for s in stride_pair))} zero(s) inserted "
        f"between input values; grey: padding of kernel - 1 - padding", fontsize=10)
    return shrink_wrap(fig)
