"""Sphinx configuration for the fastconv user guide.

The API pages are read from the importable fastconv (installed, or the
source tree built in place: ``PYTHONPATH=src``), so every docstring shown is
the one that ships.  Build: ``python -m sphinx -W -b html docs docs/_build``.
"""

import inspect
import re
from pathlib import Path

import fastconv
from fastconv import _methods, _planner

project = "fastconv"
author = "fastconv developers"
copyright = "fastconv developers"
release = version = fastconv.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.doctest", "matplotlib.sphinxext.plot_directive"]
exclude_patterns = ["_build", "_generated"]
napoleon_google_docstring = False
autodoc_typehints = "none"  # the numpydoc docstrings state the types
html_theme = "alabaster"
doctest_global_setup = "import numpy as np\nimport fastconv"


def _escape_stars(lines):
    """Shapes are written as Python, ``(N, C, *spatial)``: escape the star of
    ``*name`` so that reST does not read it as emphasis (outside literals
    and doctest lines)."""
    escaped = []
    for line in lines:
        if not line.lstrip().startswith((">>>", "...")):
            parts = line.split("``")
            parts[::2] = [re.sub(r"(?<![*\\])\*(?=\w)", r"\\*", p) for p in parts[::2]]
            line = "``".join(parts)
        escaped.append(line)
    return escaped


def _escape_docstring_stars(app, what, name, obj, options, lines):
    lines[:] = _escape_stars(lines)


def setup(app):
    # before napoleon turns the numpydoc sections into reST
    app.connect("autodoc-process-docstring", _escape_docstring_stars, priority=400)


def _write_methods(path):
    """The method registry as it is, for methods.rst to include: the 'auto'
    rule, then each registered method with its docstring."""
    lines = ["``method='auto'``", "~~~~~~~~~~~~~~~~~~", "", inspect.getdoc(_planner.auto_rule), ""]
    for op, label in ((_methods.CONV, "convolution"),
                      (_methods.CONV_TRANSPOSE, "transposed convolution")):
        for name in _methods.method_names(op)[1:]:
            fn = _methods.get(op, name)
            title = f"``method='{name}'`` ({label})"
            lines += [title, "~" * len(title), "", *_escape_stars(inspect.getdoc(fn).splitlines()), ""]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines))


_write_methods(Path(__file__).parent / "_generated" / "methods.inc")
