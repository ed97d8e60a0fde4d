#!/usr/bin/env bash
# Build LLVM's OpenMP runtime (libomp) into PREFIX for the macOS wheels.
#
# Apple's Clang compiles OpenMP (-Xpreprocessor -fopenmp) but ships no
# runtime.  delocate bundles libomp.dylib into each wheel and refuses a
# library whose minimum macOS is newer than the wheel's, and Homebrew's
# libomp targets the runner's own macOS, so the wheels need one built for
# MACOSX_DEPLOYMENT_TARGET (cibuildwheel sets it for before-all from
# pyproject.toml).  setup.py finds the result through FASTCONV_OPENMP_PREFIX.
#
# Usage: MACOSX_DEPLOYMENT_TARGET=11.0 tools/build_libomp_macos.sh PREFIX
# Needs curl, cmake and Xcode's command line tools.
set -euo pipefail

prefix=${1:?usage: build_libomp_macos.sh PREFIX}
target=${MACOSX_DEPLOYMENT_TARGET:?set MACOSX_DEPLOYMENT_TARGET to the minimum macOS of the wheels}
version=${LIBOMP_LLVM_VERSION:-19.1.7}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base="https://github.com/llvm/llvm-project/releases/download/llvmorg-$version"
for part in openmp cmake; do
  curl -fsSL --retry 3 "$base/$part-$version.src.tar.xz" -o "$work/$part.tar.xz"
  tar -xf "$work/$part.tar.xz" -C "$work"
done
# the standalone openmp build looks for LLVM's shared CMake modules in ../cmake
mv "$work/cmake-$version.src" "$work/cmake"

cmake -S "$work/openmp-$version.src" -B "$work/build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_OSX_DEPLOYMENT_TARGET="$target" \
  -DLIBOMP_INSTALL_ALIASES=OFF
cmake --build "$work/build" --parallel
cmake --install "$work/build"
echo "libomp $version for macOS $target in $prefix"
