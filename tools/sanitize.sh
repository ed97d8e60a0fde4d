#!/usr/bin/env bash
# Run the tests on an instrumented build of the compiled kernels.
#
# Usage: tools/sanitize.sh MODE [PYTEST ARGS...]
#   MODE debug  Cython bounds, wraparound and initialised-memory checks
#               (FASTCONV_DEBUG=1): an out-of-range index raises IndexError
#   MODE asan   AddressSanitizer + UndefinedBehaviorSanitizer
#               (FASTCONV_SANITIZE=1, GCC or Clang): an out-of-bounds access,
#               use after free or signed overflow aborts with a report
# PYTEST ARGS default to the whole suite (tests).
#
# The checkout is copied to a temporary directory and built in place there,
# so the checkout's own build is left alone; the tests import that build
# through PYTHONPATH.  Run it from a virtual environment holding the build
# and test requirements (pip install ".[test]" Cython setuptools).
#
# AddressSanitizer must be the first library loaded, before Python's own
# allocator runs, and an unsanitized python executable does not load it: so
# the runtime is preloaded, LD_PRELOAD=$(gcc -print-file-name=libasan.so),
# and with it the C++ runtime, whose exceptions (matplotlib's ft2font throws
# some at import) the sanitizer intercepts and otherwise cannot find.
# ASAN_OPTIONS: detect_leaks=0 (CPython keeps its interned objects and
# arenas until exit by design, the leak checker would report them all);
# allocator_may_return_null=1 (an allocation above the sanitizer's 1 TiB
# maximum returns NULL, so NumPy raises MemoryError as it does unsanitized,
# instead of aborting).  UBSAN_OPTIONS: halt_on_error=1 makes every
# undefined-behaviour report fatal, print_stacktrace=1 says where.
set -euo pipefail
mode=${1:?usage: tools/sanitize.sh debug|asan [pytest args...]}
shift
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
[ $# -gt 0 ] || set -- tests

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r setup.py pyproject.toml MANIFEST.in README.md src tests examples "$work"
rm -f "$work"/src/fastconv/*.so "$work"/src/fastconv/*.c
case "$mode" in
  debug) build_env=(FASTCONV_DEBUG=1) ;;
  asan) build_env=(FASTCONV_SANITIZE=1) ;;
  *) echo "unknown mode $mode: debug or asan" >&2; exit 2 ;;
esac

echo "== build ($mode) in $work"
start=$SECONDS
(cd "$work" && env "${build_env[@]}" "$python" setup.py -q build_ext --inplace -j 2 \
   >"$work/build.log" 2>&1) || { cat "$work/build.log" >&2; exit 1; }
echo "== built in $((SECONDS - start)) s"

run_env=(PYTHONPATH="$work/src")
if [ "$mode" = asan ]; then
  cc=${CC:-gcc}
  asan=$("$cc" -print-file-name=libasan.so)
  [ -f "$asan" ] || { echo "no libasan.so from $cc" >&2; exit 1; }
  run_env+=(LD_PRELOAD="$asan $("$cc" -print-file-name=libstdc++.so)"
            ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1"
            UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
            # the tests' time limits scale for the instrumented build
            FASTCONV_TEST_TIME_SCALE="${FASTCONV_TEST_TIME_SCALE:-4}")
else
  run_env+=(FASTCONV_TEST_TIME_SCALE="${FASTCONV_TEST_TIME_SCALE:-2}")
fi
start=$SECONDS
echo "+ ${run_env[*]} $python -m pytest -q -p no:cacheprovider $*"
(cd "$work" && env "${run_env[@]}" "$python" -m pytest -q -p no:cacheprovider "$@")
echo "== $mode tests passed in $((SECONDS - start)) s"
