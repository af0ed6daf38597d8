#!/usr/bin/env bash
# Installs the Debian packages qlinear builds and tests with (see README "Dependencies").
set -euo pipefail
packages=(
  g++ cmake make pkg-config
  ccache               # a second build of the same objects (pip install . after build.sh) reuses them
  nlohmann-json3-dev   # JSON: safetensors headers, config.json
  libcli11-dev         # command-line parsing of the qlinear tool
  libgtest-dev         # unit tests
  libbenchmark-dev     # Google Benchmark target for developers
  libopenblas-dev      # dense float32 baseline in `qlinear bench` only
  python3 python3-venv # the Python package and its tests
  clang libclang-rt-14-dev  # libFuzzer targets (scripts/fuzz.sh, .ci/run)
  libopenmpi-dev openmpi-bin  # Open MPI: qlinear::distributed and its mpirun tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
