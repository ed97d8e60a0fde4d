"""Drawing steps shared by the figures of :mod:`fastconv.plot`.

A matrix is drawn as a grid of coloured cells with its value written in
each; this module owns the cell colours, the fonts, the outlines, the
figure and cell sizes and the drawing of one matrix into one Axes.
matplotlib is imported inside the functions, so that importing this module
does not need it.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
from numpy.typing import NDArray

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
_MARKED_EDGE = "0.72"


def pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'fastconv.plot needs matplotlib: pip install "fastconv[plot]"'
        ) from exc
    return plt


# --------------------------------------------------------------------------
# cells: values, texts, colours
# --------------------------------------------------------------------------

def as_matrix(values, name) -> NDArray[Any]:
    """A 2-D real array from an array, a 1-D vector (as a column) or a sparse matrix.

    Parameters
    ----------
    values : array_like, shape (rows, columns) or (n,), or scipy.sparse matrix
    name : str
        The argument's name, for the error messages.

    Returns
    -------
    numpy.ndarray, shape (rows, columns) or (n, 1)
        Booleans become int64.
    """
    if hasattr(values, "toarray"):
        values = values.toarray()
    matrix = np.asarray(values)
    if matrix.dtype == bool:
        matrix = matrix.astype(np.int64)
    if matrix.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {matrix.dtype}")
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D or 2-D array, got shape {matrix.shape}")
    return matrix


def cell_texts(matrix, fmt):
    """The text of every cell, and the widest text's length.

    Parameters
    ----------
    matrix : numpy.ndarray, shape (rows, columns)
    fmt : str or None
        Format spec; None: ``"d"`` for integers, ``".3g"`` for floats.

    Returns
    -------
    texts : numpy.ndarray of str, shape (rows, columns), or None
        None for a matrix too large to write its numbers in.
    widest : int
        Characters in the longest text (1 when `texts` is None).
    """
    if matrix.size > _MAX_ANNOTATED_CELLS:
        return None, 1
    if fmt is None:
        fmt = "d" if matrix.dtype.kind in "iu" else ".3g"
    # + 0 turns -0.0 into 0.0
    texts = np.array([format(value + 0, fmt) for value in matrix.ravel()], dtype=object)
    return texts.reshape(matrix.shape), max(len(text) for text in texts.ravel())


def _resolve_style(matrix, live, style):
    """The colour style 'auto' stands for, from the ``live`` cells' values."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if style != "auto":
        return style
    values = matrix[live]
    if _integer_valued(values) and np.unique(values).size <= 10:
        return "categorical"
    if values.size and values.min() < 0 < values.max():
        return "diverging"
    return "sequential"


def _integer_valued(values):
    """Whether every value is a whole number (any dtype)."""
    return values.dtype.kind in "iub" or bool(np.all(np.mod(values, 1) == 0))


def _value_keyed_colours(values):
    """One palette colour per whole number, picked by the value alone, or None.

    Value ``v`` gets colour ``v mod 18`` of an 18-colour palette (the nine
    strong ``tab20`` colours other than grey, which marks muted cells, then
    their nine light partners), so a value has
    the same colour in every figure: the 3 of a kernel in the kernel panel,
    in the convolution matrix and in the input.  None when two of ``values``
    would share a colour, or they are not whole numbers.
    """
    from matplotlib import colormaps
    if values.size == 0 or not _integer_valued(values):
        return None
    keys = np.mod(values.astype(np.int64), 18)
    if np.unique(keys).size != np.unique(values).size:
        return None
    tab20 = np.delete(np.asarray(colormaps["tab20"].colors), [14, 15], axis=0)
    palette = np.concatenate([tab20[0::2], tab20[1::2]])
    return palette[keys]


def _cell_colours(matrix, live, style, value_range=None):
    """RGBA colour of every cell, shape (rows, columns, 4); cells not ``live`` are muted grey.

    ``value_range`` (low, high) fixes the ends of a sequential or diverging
    scale, so that several panels share one; by default a sequential scale
    runs from 0 (or the smallest value, if negative) to the largest value,
    so that a matrix has the same colours wherever it is drawn alone or
    with others of its sign.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    rgba = np.empty(matrix.shape + (4,))
    rgba[...] = _MUTED_FACE
    values = matrix[live].astype(np.float64)
    if values.size == 0:
        return rgba
    if style == "categorical":
        keyed = _value_keyed_colours(values)
        if keyed is not None:
            rgba[live, :3] = keyed
            rgba[live, 3] = 1.0
            return rgba
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
        largest = (np.abs(values).max() if value_range is None
                   else max(abs(value_range[0]), abs(value_range[1]))) or 1.0
        rgba[live] = colormaps["RdBu_r"](Normalize(-1.35 * largest, 1.35 * largest)(values))
    else:
        low, high = ((min(values.min(), 0.0), max(values.max(), 0.0)) if value_range is None
                     else value_range)
        rgba[live] = colormaps["viridis"](Normalize(low, high)(values))
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


# --------------------------------------------------------------------------
# sizes: fonts, cells, figures
# --------------------------------------------------------------------------

def _font_size(cell_inches, n_chars):
    """Largest font in range whose widest label fits in a cell, or None."""
    cell_points = 72.0 * cell_inches
    # a digit is about 0.6 em wide; keep a margin of 15% of the cell
    size = min(0.85 * cell_points / (0.6 * max(n_chars, 1)), 0.55 * cell_points,
               _FONT_RANGE[1])
    return size if size >= _FONT_RANGE[0] else None


def legible_cell_inches(n_chars):
    """Cell size that fits labels of ``n_chars`` characters at a legible size."""
    return max(_CELL_INCHES, 0.6 * n_chars * 9.0 / 72.0 / 0.85)


def fit_cell(cell_inches, columns, rows, margins=(1.0, 1.0)):
    """Shrink ``cell_inches`` so ``columns`` x ``rows`` cells and ``margins``
    (width, height in inches) fit the largest figure."""
    width = (_MAX_FIGURE_INCHES[0] - margins[0]) / columns
    height = (_MAX_FIGURE_INCHES[1] - margins[1]) / rows
    return min(cell_inches, width, height)


def matrix_cell_inches(matrix, fmt=None, margins=(1.0, 1.0)):
    """Cell size for drawing ``matrix`` (rows, columns) alone in a new figure."""
    rows, columns = matrix.shape
    return fit_cell(legible_cell_inches(cell_texts(matrix, fmt)[1]), columns, rows, margins)


def new_figure(width, height):
    """An empty figure of ``width`` x ``height`` inches with constrained layout."""
    return pyplot().figure(figsize=(width, height), layout="constrained")


def shrink_wrap(fig):
    """Resize ``fig`` to fit its drawn content, with constrained layout's margins.

    Constrained layout keeps square cells by leaving slack around them, and
    can misjudge stacked decorations by a few points; fitting the figure to
    what was drawn removes the slack and anything clipped.
    """
    layout_pads = fig.get_layout_engine().get()
    for _ in range(3):
        fig.draw_without_rendering()
        box = fig.get_tightbbox()
        width, height = fig.get_size_inches()
        fitted = (box.width + 2 * layout_pads["w_pad"], box.height + 2 * layout_pads["h_pad"])
        if (abs(fitted[0] - width) < 0.02 and abs(fitted[1] - height) < 0.02
                and box.x0 >= 0 and box.y0 >= 0):
            break
        fig.set_size_inches(*fitted)
    return fig


def panel_figure(panels, margins):
    """A figure with one Axes per panel, in a row, every cell the same size.

    Parameters
    ----------
    panels : sequence of numpy.ndarray, each shape (rows, columns)
    margins : (float, float)
        Inches around the cells: width, height.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes, one per panel
    cell_inches : float
    """
    columns = sum(panel.shape[1] for panel in panels)
    rows = max(panel.shape[0] for panel in panels)
    n_chars = max(cell_texts(panel, None)[1] for panel in panels)
    cell_inches = fit_cell(legible_cell_inches(n_chars), columns, rows, margins)
    fig = new_figure(columns * cell_inches + margins[0], rows * cell_inches + margins[1])
    # a panel narrower than its title gets room for it
    ratios = [max(panel.shape[1], 2.5) for panel in panels]
    return fig, list(fig.subplots(1, len(panels), width_ratios=ratios)), cell_inches


def axes_from(ax, count):
    """``count`` Axes from the caller's ``ax`` (one Axes, or a sequence of ``count``)."""
    if count == 1 and not isinstance(ax, (list, tuple, np.ndarray)):
        axes = [ax]
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != count:
        wanted = "an Axes" if count == 1 else f"a sequence of {count} Axes"
        raise ValueError(f"ax must be {wanted}, got {ax!r}")
    return axes


def wrap_to_width(text, inches, fontsize=9):
    """``text`` broken into lines about ``inches`` wide (None: one line)."""
    if inches is None:
        return text
    # an average character is about half an em wide
    return textwrap.fill(text, max(int(inches * 72 / (0.55 * fontsize)), 12))


def outline(ax, cells, colour=_HIGHLIGHT):
    """Outline each (row, column) in ``cells``."""
    from matplotlib.patches import Rectangle
    for row, column in cells:
        ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False,
                               edgecolor=colour, linewidth=3, clip_on=False, zorder=3))


# --------------------------------------------------------------------------
# one matrix into one Axes
# --------------------------------------------------------------------------

def draw_matrix(ax, values, *, title=None, style="auto", fmt=None, muted=None,
                cell_inches=None, name="m", shape=None, first_index=(0, 0),
                value_range=None, marked=None):
    """Draw a matrix into ``ax`` as annotated cells.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    values : array_like, shape (rows, columns) or (n,), or scipy.sparse matrix
    title : str, optional
        The shape is added to it.
    style, fmt, muted
        As for :func:`fastconv.plot.show_matrix`.
    cell_inches : float, optional
        The cell size the figure was made for; by default estimated from
        the Axes' place in its figure.
    name : str
        The argument's name, for the error messages.
    shape : tuple of int, optional
        The shape written in the title, if not the matrix's own.
    first_index : (int, int)
        The row and column index labels of the first cell.
    value_range : (float, float), optional
        The ends of a sequential or diverging colour scale shared with
        other panels; by default from the matrix's own values.
    marked : array_like of bool, same shape as the matrix, optional
        Cells drawn white and hatched, outside the colour scale, apart from
        the grey ``muted`` ones (the zeros inserted between the inputs of a
        transposed convolution, beside its grey padding).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    matrix = as_matrix(values, name)
    if muted is None:
        muted = np.zeros(matrix.shape, dtype=bool)
    else:
        muted = np.asarray(muted, dtype=bool).reshape(matrix.shape)
    marked = (np.zeros(matrix.shape, dtype=bool) if marked is None
              else np.asarray(marked, dtype=bool).reshape(matrix.shape))
    live = ~muted & ~marked
    if matrix.dtype.kind == "f":
        live &= np.isfinite(matrix)
    rgba = _cell_colours(matrix, live, _resolve_style(matrix, live, style), value_range)
    rgba[marked] = (1.0, 1.0, 1.0, 1.0)
    ax.imshow(rgba, interpolation="nearest", aspect="equal")
    _hatch(ax, np.argwhere(marked))
    if cell_inches is None:
        cell_inches = _estimated_cell_inches(ax, matrix.shape)
    if cell_inches >= _MIN_BORDERED_CELL:
        _draw_borders(ax, matrix.shape)
    _label_indices(ax, matrix.shape, first_index)
    _write_values(ax, matrix, fmt, cell_inches, rgba, live)
    if title is not None:
        _set_title(ax, title, matrix.shape, shape)
    return ax


def _hatch(ax, cells):
    """Hatch each (row, column) in ``cells``."""
    from matplotlib.patches import Rectangle
    for row, column in cells:
        ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, facecolor="none",
                               edgecolor=_MARKED_EDGE, hatch="///", linewidth=0, zorder=2))


def _estimated_cell_inches(ax, shape):
    """The cell size the Axes will have, near enough before layout."""
    rows, columns = shape
    box = ax.get_position()
    width, height = ax.figure.get_size_inches()
    return 0.85 * min(box.width * width / columns, box.height * height / rows)


def _draw_borders(ax, shape):
    """Grey lines between the cells of a (rows, columns) matrix."""
    rows, columns = shape
    # two line collections, not minor-tick grids, which draw one line per tick
    ax.vlines(np.arange(1, columns) - 0.5, -0.5, rows - 0.5, color="0.7", linewidth=0.6)
    ax.hlines(np.arange(1, rows) - 0.5, -0.5, columns - 0.5, color="0.7", linewidth=0.6)


def _label_indices(ax, shape, first_index):
    """Row and column indices on the left and top, counted from ``first_index``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
    rows, columns = shape
    ax.tick_params(which="major", length=0, labelsize=8, top=True, bottom=False,
                   labeltop=True, labelbottom=False)
    ax.xaxis.set_label_position("top")
    for axis, size, first in ((ax.yaxis, rows, first_index[0]),
                              (ax.xaxis, columns, first_index[1])):
        axis.set_major_locator(FixedLocator(np.arange(size)) if size <= 20
                               else MaxNLocator(nbins=10, integer=True))
        axis.set_major_formatter(
            FuncFormatter(lambda position, _, first=first: f"{round(position) + first}"))
    for spine in ax.spines.values():
        spine.set_color("0.4")


def _write_values(ax, matrix, fmt, cell_inches, rgba, live):
    """Each cell's value in it, when the matrix is small enough to read."""
    texts, n_chars = cell_texts(matrix, fmt)
    font = _font_size(cell_inches, n_chars)
    if font is None or texts is None:
        return
    colours = _text_colour(rgba)
    colours[~live] = _MUTED_TEXT
    for (row, column), text in np.ndenumerate(texts):
        # inside the cells, so constrained layout need not measure them
        ax.text(column, row, text, ha="center", va="center", fontsize=font,
                color=colours[row, column], in_layout=False)


def _set_title(ax, title, matrix_shape, shape=None):
    """``title`` with ``shape``, by default the matrix's: a column's as (n × 1)."""
    if shape is None:
        shape = matrix_shape
    # narrow panels get the shape on a line of its own
    gap = "\n" if matrix_shape[1] <= 2 else "  "
    ax.set_title(f"{title}{gap}({' × '.join(str(s) for s in shape)})", fontsize=11)
