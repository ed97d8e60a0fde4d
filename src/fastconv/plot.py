"""Figures of convolution and transposed convolution (needs matplotlib).

Every matrix is drawn as a grid of coloured cells with its value written in
each cell, as in the classic explanation of transposed convolution: the
input, the kernel, the output, the convolution matrix ``C`` and its
transpose, how many kernel taps reach each output cell of a transposed
convolution, and benchmark timings.

matplotlib is an optional extra (``pip install "fastconv[plot]"``); it is
imported when a function here is first called.  Every function returns the
:class:`matplotlib.figure.Figure`, draws into the Axes given as ``ax`` if
any, and never calls ``plt.show()``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _api, _geometry
from ._typing import IntOrTuple, Padding

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase
    from scipy.sparse import sparray, spmatrix

__all__ = [
    "show_matrix",
    "plot_convolution",
    "plot_convolution_matrix",
    "plot_overlap",
    "plot_benchmark",
]

STYLES = ("auto", "categorical", "diverging", "sequential")

# cell size when a function sizes the figure itself, the font sizes the
# numbers in the cells may use, and the limits for writing the numbers and
# drawing cell borders at all
_CELL_INCHES = 0.5
_MAX_FIGURE_INCHES = (15.0, 11.0)
_FONT_RANGE = (6.0, 12.0)
_MAX_ANNOTATED_CELLS = 4096
_MIN_BORDERED_CELL = 0.1
_MUTED_FACE = (0.93, 0.93, 0.93, 1.0)
_MUTED_TEXT = "0.55"
_HIGHLIGHT = "black"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'fastconv.plot needs matplotlib: pip install "fastconv[plot]"'
        ) from exc
    return plt


# --------------------------------------------------------------------------
# cells: colours, labels, sizes
# --------------------------------------------------------------------------

def _as_matrix(m, name) -> NDArray[Any]:
    """A 2-D real array from an array, a 1-D vector (as a column) or a sparse matrix."""
    if hasattr(m, "toarray"):
        m = m.toarray()
    m = np.asarray(m)
    if m.dtype == bool:
        m = m.astype(np.int64)
    if m.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {m.dtype}")
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D or 2-D array, got shape {m.shape}")
    return m


def _labels(m, fmt):
    """The text of every cell, and the widest text's length.

    (None, 1) for a matrix too large to write its numbers in.
    """
    if m.size > _MAX_ANNOTATED_CELLS:
        return None, 1
    if fmt is None:
        fmt = "d" if m.dtype.kind in "iu" else ".3g"
    # + 0 turns -0.0 into 0.0
    texts = np.array([format(v + 0, fmt) for v in m.ravel()], dtype=object)
    return texts.reshape(m.shape), max(len(t) for t in texts.ravel())


def _resolve_style(m, live, style):
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if style != "auto":
        return style
    values = m[live]
    if m.dtype.kind in "iu" and np.unique(values).size <= 10:
        return "categorical"
    if values.size and values.min() < 0 < values.max():
        return "diverging"
    return "sequential"


def _cell_colours(m, live, style):
    """RGBA colour of every cell; cells not ``live`` are muted grey."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    rgba = np.empty(m.shape + (4,))
    rgba[...] = _MUTED_FACE
    values = m[live].astype(np.float64)
    if values.size == 0:
        return rgba
    if style == "categorical":
        distinct = np.unique(values)
        if distinct.size > 20:
            style = "sequential"
        else:
            # each distinct value its own colour, the same colour wherever it is
            palette = colormaps["tab10" if distinct.size <= 10 else "tab20"].colors
            colours = np.asarray(palette)[np.searchsorted(distinct, values)]
            rgba[live, :3] = colours[:, :3]
            rgba[live, 3] = 1.0
            return rgba
    if style == "diverging":
        # centred on zero, so zero is white and a value and its negative
        # have opposite colours of one strength; the darkest quarter of each
        # end is left out, which keeps the strongest cells from looking black
        vmax = np.abs(values).max() or 1.0
        rgba[live] = colormaps["RdBu_r"](Normalize(-1.35 * vmax, 1.35 * vmax)(values))
    else:
        rgba[live] = colormaps["viridis"](Normalize(values.min(), values.max())(values))
    return rgba


def _text_colour(rgba):
    """Near-black or white text, whichever contrasts more with each cell.

    Contrast as WCAG 2 defines it, from the relative luminance ``Y`` of the
    linearised sRGB colour: ``(Y_light + 0.05) / (Y_dark + 0.05)``.
    """
    rgb = rgba[..., :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    dark = 0.01  # the luminance of the "0.1" grey used for dark text
    with_dark = (luminance + 0.05) / (dark + 0.05)
    with_white = 1.05 / (luminance + 0.05)
    return np.where(with_dark >= with_white, "0.1", "white")


def _font_size(cell_inches, n_chars):
    """Largest font in range whose widest label fits in a cell, or None."""
    cell_points = 72.0 * cell_inches
    # a digit is about 0.6 em wide; keep a margin of 15% of the cell
    size = min(0.85 * cell_points / (0.6 * max(n_chars, 1)), 0.55 * cell_points,
               _FONT_RANGE[1])
    return size if size >= _FONT_RANGE[0] else None


def _cell_inches(n_chars):
    """Cell size that fits labels of ``n_chars`` characters at a legible size."""
    return max(_CELL_INCHES, 0.6 * n_chars * 9.0 / 72.0 / 0.85)


def _fit_cell(cell, columns, rows, extra=(1.0, 1.0)):
    """Shrink ``cell`` so ``columns`` x ``rows`` cells fit the largest figure."""
    width = (_MAX_FIGURE_INCHES[0] - extra[0]) / columns
    height = (_MAX_FIGURE_INCHES[1] - extra[1]) / rows
    return min(cell, width, height)


def _draw_matrix(ax, m, *, title=None, style="auto", fmt=None, muted=None,
                 cell_inches=None, name="m", shape=None, first_index=(0, 0)):
    """Draw ``m`` into ``ax`` as annotated cells; returns ``ax``."""
    m = _as_matrix(m, name)
    if muted is None:
        muted = np.zeros(m.shape, dtype=bool)
    else:
        muted = np.asarray(muted, dtype=bool).reshape(m.shape)
    live = ~muted
    if m.dtype.kind == "f":
        live &= np.isfinite(m)
    style = _resolve_style(m, live, style)
    rgba = _cell_colours(m, live, style)

    ax.imshow(rgba, interpolation="nearest", aspect="equal")
    rows, columns = m.shape
    if cell_inches is None:
        # the cell size the Axes will have, near enough before layout
        box = ax.get_position()
        width, height = ax.figure.get_size_inches()
        cell_inches = 0.85 * min(box.width * width / columns, box.height * height / rows)
    if cell_inches >= _MIN_BORDERED_CELL:
        # cell borders as two line collections: far cheaper than minor-tick grids
        ax.vlines(np.arange(1, columns) - 0.5, -0.5, rows - 0.5, color="0.7", linewidth=0.6)
        ax.hlines(np.arange(1, rows) - 0.5, -0.5, columns - 0.5, color="0.7", linewidth=0.6)
    ax.tick_params(which="major", length=0, labelsize=8, top=True, bottom=False,
                   labeltop=True, labelbottom=False)
    ax.xaxis.set_label_position("top")
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
    for axis, size, first in ((ax.yaxis, rows, first_index[0]),
                              (ax.xaxis, columns, first_index[1])):
        axis.set_major_locator(FixedLocator(np.arange(size)) if size <= 20
                               else MaxNLocator(nbins=10, integer=True))
        axis.set_major_formatter(FuncFormatter(lambda v, _, first=first: f"{round(v) + first}"))
    for spine in ax.spines.values():
        spine.set_color("0.4")

    texts, n_chars = _labels(m, fmt)
    font = _font_size(cell_inches, n_chars)
    if font is not None and texts is not None:
        colours = _text_colour(rgba)
        colours[~live] = _MUTED_TEXT
        for (i, j), text in np.ndenumerate(texts):
            # inside the cells, so constrained layout need not measure them
            ax.text(j, i, text, ha="center", va="center", fontsize=font,
                    color=colours[i, j], in_layout=False)
    if title is not None:
        if shape is None:
            shape = m.shape if m.shape[1] > 1 else m.shape[:1]
        # narrow panels get the shape on a line of its own
        gap = "\n" if columns <= 2 else "  "
        ax.set_title(f"{title}{gap}({' × '.join(str(s) for s in shape)})", fontsize=11)
    return ax


def _new_figure(width, height):
    plt = _pyplot()
    return plt.figure(figsize=(width, height), layout="constrained")


def _shrink_wrap(fig):
    """Resize ``fig`` to fit its drawn content, with constrained layout's margins.

    Constrained layout keeps square cells by leaving slack around them, and
    can misjudge stacked decorations by a few points; fitting the figure to
    what was drawn removes the slack and anything clipped.
    """
    pads = fig.get_layout_engine().get()
    for _ in range(3):
        fig.draw_without_rendering()
        box = fig.get_tightbbox()
        width, height = fig.get_size_inches()
        new = (box.width + 2 * pads["w_pad"], box.height + 2 * pads["h_pad"])
        if (abs(new[0] - width) < 0.02 and abs(new[1] - height) < 0.02
                and box.x0 >= 0 and box.y0 >= 0):
            break
        fig.set_size_inches(*new)
    return fig


def _wrap(text, inches, fontsize=9):
    """``text`` broken into lines about ``inches`` wide (None: one line)."""
    if inches is None:
        return text
    # an average character is about half an em wide
    return textwrap.fill(text, max(int(inches * 72 / (0.55 * fontsize)), 12))


def _outline(ax, cells, colour=_HIGHLIGHT):
    """Outline each (row, column) in ``cells``."""
    from matplotlib.patches import Rectangle
    for i, j in cells:
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=colour,
                               linewidth=3, clip_on=False, zorder=3))


def _axes(ax, n):
    """``n`` Axes from the caller's ``ax`` (one Axes, or a sequence of ``n``)."""
    axes = [ax] if n == 1 and not isinstance(ax, (list, tuple, np.ndarray)) else list(
        np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n:
        raise ValueError(f"ax must be {'an Axes' if n == 1 else f'a sequence of {n} Axes'}, "
                         f"got {ax!r}")
    return axes


# --------------------------------------------------------------------------
# public figures
# --------------------------------------------------------------------------

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
        categorical for at most 10 distinct integers, diverging for values
        of both signs, sequential otherwise.
    fmt : str, optional
        Format spec of the numbers, e.g. ``".2f"``; default ``"d"`` for
        integers and ``".3g"`` for floats.
    muted : array_like of bool, same shape as `m`, optional
        Cells drawn in light grey with grey numbers, outside the colour
        scale (zero padding, structural zeros).
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
    matrix = _as_matrix(m, "m")
    if ax is not None:
        _draw_matrix(ax, matrix, title=title, style=style, fmt=fmt, muted=muted)
        return ax.figure
    rows, columns = matrix.shape
    cell = _fit_cell(_cell_inches(_labels(matrix, fmt)[1]), columns, rows)
    fig = _new_figure(columns * cell + 1.0, rows * cell + 1.0)
    _draw_matrix(fig.subplots(), matrix, title=title, style=style, fmt=fmt, muted=muted,
                 cell_inches=cell)
    return _shrink_wrap(fig)


def _describe(stride, padding, dilation, output_padding=0):
    parts = [f"{name} {value}" for name, value, default in (
        ("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1),
        ("output_padding", output_padding, 0)) if value != default]
    return ", ".join(parts)


def _index(cell, shape, name):
    if cell is None:
        return None
    cell = tuple(int(c) for c in np.broadcast_to(cell, (2,)))
    if not all(-s <= c < s for c, s in zip(cell, shape)):
        raise ValueError(f"{name} must be a cell of the {shape} array, got {cell}")
    return tuple(c % s for c, s in zip(cell, shape))


def _one_hot(shape, cell):
    hot = np.zeros(shape, dtype=np.int64)
    hot[cell] = 1
    return hot


def _panel_figure(panels, extra):
    """A figure with one Axes per panel, in a row, every cell the same size."""
    columns = sum(p.shape[1] for p in panels)
    rows = max(p.shape[0] for p in panels)
    n_chars = max(_labels(p, None)[1] for p in panels)
    cell = _fit_cell(_cell_inches(n_chars), columns, rows, extra)
    fig = _new_figure(columns * cell + extra[0], rows * cell + extra[1])
    # a panel narrower than its title gets room for it
    ratios = [max(p.shape[1], 2.5) for p in panels]
    return fig, list(fig.subplots(1, len(panels), width_ratios=ratios)), cell


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
    for name, a in (("x", x), ("kernel", kernel)):
        if np.ndim(a) != 2:
            raise ValueError(f"{name} must be 2-D, got shape {np.shape(a)}")
    x = _as_matrix(x, "x")
    kernel = _as_matrix(kernel, "kernel")
    ones = np.ones(kernel.shape, dtype=np.int64)
    if transpose:
        ct_args: dict[str, Any] = dict(stride=stride, padding=padding,
                                       output_padding=output_padding, dilation=dilation)
        out = _api.conv_transpose2d(x, kernel, **ct_args)
        shown, muted, pads = x, None, [(0, 0), (0, 0)]
        cell = _index(highlight, x.shape, "highlight")
        # the output cells one input value reaches: its scatter of a kernel of ones
        reached = (None if cell is None else
                   _api.conv_transpose2d(_one_hot(x.shape, cell), ones, **ct_args) > 0)
        names = ("input y", "kernel w", "output")
    else:
        if output_padding != 0:
            raise ValueError(f"output_padding needs transpose=True, got {output_padding!r}")
        out = _api.conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation)
        geom = _geometry.conv_geometry(x.shape, kernel.shape, stride, padding, dilation)
        pads = list(zip(geom.spatial(geom.pad_before), geom.spatial(geom.pad_after)))
        shown = np.pad(x, pads)
        muted = np.pad(np.zeros(x.shape, dtype=bool), pads, constant_values=True)
        cell = _index(highlight, out.shape, "highlight")
        # the padded-input cells one output value reads: the adjoint, run
        # without padding, of that output cell with a kernel of ones
        reached = None
        if cell is not None:
            field = _api.conv_transpose2d(_one_hot(out.shape, cell), ones, stride=stride,
                                          dilation=dilation) > 0
            reached = np.zeros(shown.shape, dtype=bool)
            reached[:field.shape[0], :field.shape[1]] = field
        names = ("input x", "kernel w", "output y")

    panels = (shown, kernel, out)
    if ax is None:
        fig, axes, cell_inches = _panel_figure(panels, (2.5, 1.6))
    else:
        axes, cell_inches = _axes(ax, 3), None
        fig = axes[0].figure
    # padded cells keep the input's indices: -1 is the first padding row
    _draw_matrix(axes[0], shown, title=names[0], muted=muted, shape=x.shape,
                 cell_inches=cell_inches, first_index=[-p[0] for p in pads])
    _draw_matrix(axes[1], kernel, title=names[1], style="diverging",
                 cell_inches=cell_inches)
    _draw_matrix(axes[2], out, title=names[2], style="sequential", cell_inches=cell_inches)

    if transpose:
        story = "conv_transpose2d(y, w)"
    else:
        story = "y = conv2d(x, w)"
    settings = _describe(stride, padding, dilation, output_padding)
    if settings:
        story += f", {settings}"
    if cell is not None and reached is not None:  # reached is None only without a cell
        where = ", ".join(str(c) for c in cell)
        if transpose:
            _outline(axes[0], [cell])
            _outline(axes[2], np.argwhere(reached))
            story += f":\ny[{where}] × w is added into the outlined cells of the output"
        else:
            _outline(axes[2], [cell])
            _outline(axes[0], np.argwhere(reached))
            story += f":\ny[{where}] = sum of w × the outlined cells of x"
    if muted is not None and muted.any():
        story += " (grey: zero padding)"
    fig.suptitle(story, fontsize=11)
    return fig if ax is not None else _shrink_wrap(fig)


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
    matrix = _as_matrix(C, "C")
    if transpose:
        matrix = matrix.T
        name, vector_name, product_name = "Cᵀ", "y.ravel()", "Cᵀ @ y"
        row_text = "row i: output cell i of the transposed convolution"
        column_text = "column j: input cell j of the transposed convolution"
    else:
        name, vector_name, product_name = "C", "x.ravel()", "C @ x"
        row_text = "row i: output cell i of the convolution"
        column_text = "column j: input cell j of the convolution"
    rows, columns = matrix.shape

    if x is None:
        if ax is None:
            cell = _fit_cell(_cell_inches(_labels(matrix, None)[1]), columns, rows, (1.3, 1.6))
            fig = _new_figure(columns * cell + 1.3, rows * cell + 1.6)
            axes = [fig.subplots()]
        else:
            axes, cell = _axes(ax, 1), None
            fig = axes[0].figure
        _draw_matrix(axes[0], matrix, title=name, style="diverging", muted=matrix == 0,
                     cell_inches=cell, name="C")
        axes[0].set_xlabel(_wrap(column_text, cell and columns * cell), fontsize=9)
        axes[0].set_ylabel(_wrap(row_text, cell and rows * cell), fontsize=9)
        return fig if ax is not None else _shrink_wrap(fig)

    x = np.asarray(x).ravel()
    if x.size != columns:
        raise ValueError(
            f"x must have {columns} values for a {name} of shape {matrix.shape}, "
            f"got shape {np.shape(x)}"
        )
    product = matrix @ x
    if ax is None:
        n_chars = max(_labels(p[:, None], None)[1] for p in (matrix.ravel(), x, product))
        extra = (2.2, 2.2)
        cell = _fit_cell(_cell_inches(n_chars), columns + 1, rows + 1, extra)
        fig = _new_figure((columns + 1) * cell + extra[0], (rows + 1) * cell + extra[1])
        grid = fig.subplots(2, 2, width_ratios=[columns, 1], height_ratios=[1, rows])
        grid[0, 1].remove()
        axes = [grid[0, 0], grid[1, 0], grid[1, 1]]
        # pack the three together wherever the square cells leave slack
        for a, anchor in zip(axes, ("SE", "NE", "NW")):
            a.set_anchor(anchor)
    else:
        axes, cell = _axes(ax, 3), None
        fig = axes[0].figure
    _draw_matrix(axes[0], x[None, :], title=None, cell_inches=cell)
    axes[0].set_ylabel(vector_name, rotation=0, ha="right", va="center", fontsize=10)
    axes[0].set_yticks([])
    _draw_matrix(axes[1], matrix, style="diverging", muted=matrix == 0, cell_inches=cell,
                 name="C")
    axes[1].set_ylabel(_wrap(f"{name}:  {row_text}", cell and rows * cell), fontsize=9)
    axes[1].set_xlabel(_wrap(column_text, cell and columns * cell), fontsize=9)
    axes[1].xaxis.set_label_position("bottom")
    axes[1].tick_params(labeltop=False)
    _draw_matrix(axes[2], product, title=product_name, style="sequential",
                 cell_inches=cell, shape=product.shape)
    axes[2].tick_params(labeltop=False, labelleft=False)
    return fig if ax is not None else _shrink_wrap(fig)


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
    kernel_size = tuple(int(v) for v in np.broadcast_to(np.asarray(kernel_size), (2,)))
    stride = tuple(int(v) for v in np.broadcast_to(np.asarray(stride), (2,)))
    input_size = tuple(int(v) for v in np.broadcast_to(np.asarray(input_size), (2,)))
    # conv_transpose2d of ones with a kernel of ones counts the taps per cell
    counts = _api.conv_transpose2d(np.ones(input_size, dtype=np.int64),
                                   np.ones(kernel_size, dtype=np.int64),
                                   stride=stride, padding=padding)
    even = all(k % s == 0 for k, s in zip(kernel_size, stride))

    def pair(v):
        return str(v[0]) if v[0] == v[1] else f"{v[0]}×{v[1]}"

    verdict = (f"kernel {pair(kernel_size)} is a multiple of stride {pair(stride)}:\n"
               "even overlap away from the borders" if even else
               f"kernel {pair(kernel_size)} is not a multiple of stride {pair(stride)}:\n"
               "uneven overlap, the checkerboard artifact")
    cell = None
    if ax is None:
        rows, columns = counts.shape
        cell = _fit_cell(_cell_inches(_labels(counts, None)[1]), columns, rows, (1.0, 1.6))
        fig = _new_figure(max(columns * cell + 1.0, 4.6), rows * cell + 1.6)
        ax = fig.subplots()
    _draw_matrix(ax, counts, title="kernel taps per output cell", style="sequential",
                 cell_inches=cell)
    ax.set_xlabel(f"conv_transpose2d: input {input_size[0]}×{input_size[1]}, kernel "
                  f"{pair(kernel_size)}, stride {pair(stride)}\n{verdict}", fontsize=9)
    ax.xaxis.set_label_position("bottom")
    return ax.figure if cell is None else _shrink_wrap(ax.figure)


def _format_seconds(t, _=None):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if t >= scale:
            return f"{t / scale:g} {unit}"
    return f"{t:g} s"


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
        fig = _new_figure(7.0, 4.5)
        ax = fig.subplots()
    markers = "osD^vP*Xhp<>"
    sizes: set[float] = set()
    for k, (method, points) in enumerate(results.items()):
        points = sorted((float(s), float(t)) for s, t in points)
        if not points:
            continue
        size, seconds = zip(*points)
        sizes.update(size)
        ax.plot(size, seconds, marker=markers[k % len(markers)], label=method,
                color=f"C{k % 10}", linestyle="-" if k < 10 else "--")
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
