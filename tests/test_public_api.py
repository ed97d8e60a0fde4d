"""Every public function is annotated and documented, and every compiled
module ships a stub: what mypy users and readers of the docs rely on."""

import importlib.machinery
import inspect
import re
from pathlib import Path

import pytest

import fastconv
import fastconv.plot

PUBLIC = [getattr(module, name) for module in (fastconv, fastconv.plot)
          for name in module.__all__ if callable(getattr(module, name))]


def test_public_functions_found():
    names = {fn.__name__ for fn in PUBLIC}
    assert {"conv1d", "conv_transpose3d", "conv_output_shape", "show_matrix"} <= names


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda fn: fn.__name__)
def test_annotated(fn):
    signature = inspect.signature(fn)
    missing = [p.name for p in signature.parameters.values()
               if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{fn.__name__}: parameters without annotation: {missing}"
    assert signature.return_annotation is not inspect.Signature.empty


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda fn: fn.__name__)
def test_numpydoc_with_shapes_and_examples(fn):
    doc = inspect.getdoc(fn)
    for section in ("Parameters", "Returns", "Examples"):
        assert f"\n{section}\n{'-' * len(section)}\n" in doc, f"{fn.__name__}: no {section}"
    assert "\n>>> " in doc
    # every array argument states its shape, on its line or in its description
    for entry in re.findall(r"^\w+ : array_like.*\n(?:[ \t]+.*\n)*", doc, flags=re.MULTILINE):
        assert "shape" in entry, f"{fn.__name__}: {entry!r} gives no shape"


def test_every_compiled_module_has_a_stub():
    package = Path(fastconv.__file__).parent
    compiled = []
    for path in package.iterdir():
        suffixes = [s for s in importlib.machinery.EXTENSION_SUFFIXES
                    if path.name.endswith(s)]
        if suffixes:
            compiled.append(path.name[: -len(suffixes[0])])
    assert "_direct" in compiled and "_openmp" in compiled
    assert (package / "py.typed").exists()
    missing = [name for name in compiled if not (package / f"{name}.pyi").exists()]
    assert not missing, f"compiled modules without a .pyi stub: {missing}"
