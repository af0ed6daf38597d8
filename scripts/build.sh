#!/usr/bin/env bash
# Configures and builds qlinear in build/ (extra arguments go to cmake's configure step).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B "${BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "${BUILD_DIR:-build}" -j "$(nproc)"
