#!/usr/bin/env bash
# Builds ggml (CPU backend, with its repack buffer types) from source as a bench-only
# baseline, outside this repository, and the harness next to it. Never linked into qlinear.
#
#   bench/ggml/build_ggml.sh [GGML_GIT_DIR] [WORK_DIR]
#
# GGML_GIT_DIR: a clone (or bare mirror) of github.com/ggml-org/ggml; default: the mirror
# the development machine keeps at /work/.mirror/ggml-org+ggml/repo, else a fresh clone.
# WORK_DIR (default /tmp/qlinear-ggml): the checkout, ggml's build and the harness binary
# (WORK_DIR/ggml_mul_mat_bench).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src_git="${1:-/work/.mirror/ggml-org+ggml/repo}"
work="${2:-/tmp/qlinear-ggml}"
mkdir -p "$work"
if [ ! -d "$work/ggml/.git" ]; then
  if [ -d "$src_git" ]; then
    git clone --quiet "$src_git" "$work/ggml"
  else
    git clone --quiet --depth 1 https://github.com/ggml-org/ggml "$work/ggml"
  fi
fi
# Native code generation: this is a baseline measured on this machine, as llama.cpp's own
# builds are (GGML_NATIVE), with OpenMP threads and the repack (extra) buffer types.
cmake -S "$work/ggml" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DGGML_CPU_REPACK=ON -DGGML_OPENMP=ON -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
  -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$work/build" -j"${JOBS:-2}" --target ggml ggml-cpu ggml-base
c++ -O2 -std=c++17 -fopenmp "$here/ggml_mul_mat_bench.cpp" -I"$work/ggml/include" \
  -o "$work/ggml_mul_mat_bench" \
  $(find "$work/build" -name 'libggml.a') $(find "$work/build" -name 'libggml-cpu.a') \
  $(find "$work/build" -name 'libggml-base.a') -lpthread -ldl
git -C "$work/ggml" log -1 --format="ggml %h %cs %s"
echo "$work/ggml_mul_mat_bench"
