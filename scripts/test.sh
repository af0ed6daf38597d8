#!/usr/bin/env bash
# Every test on a fresh machine: install dependencies, build, run the C++ suite (ctest)
# and the Python package's suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")
if [ -x python/ci.sh ]; then python/ci.sh; fi
