"""Figures of convolution and transposed convolution (needs matplotlib).

Every matrix is drawn as a grid of coloured cells with its value written in
each cell, as in the classic explanation of transposed convolution: the
input, the kernel, the output, the convolution matrix ``C`` and its
transpose, a transposed convolution as a sum of ``value × kernel`` terms
and as a convolution of the zero-inserted input, how many kernel taps reach each output cell of a transposed
convolution, and benchmark timings.

matplotlib is an optional extra (``pip install "fastconv[plot]"``); it is
imported when a function here is first called.  Every function returns the
:class:`matplotlib.figure.Figure`, draws into the Axes given as ``ax`` if
any, and never calls ``plt.show()``.
"""

from ._drawing import STYLES
from ._figures import (
    plot_benchmark, plot_convolution, plot_convolution_matrix, plot_overlap,
    plot_transposed_terms, plot_zero_insertion, show_matrix,
)

__all__ = [
    "show_matrix",
    "plot_convolution",
    "plot_convolution_matrix",
    "plot_transposed_terms",
    "plot_zero_insertion",
    "plot_overlap",
    "plot_benchmark",
]

