#!/usr/bin/env bash
# The Python package on a fresh machine: a new virtual environment, `pip install .`
# from the repository root, the test dependencies, then the pytest suite.
#
# MLX's CPU wheel is installed when it can be (it needs glibc >= 2.35 on x86-64 Linux);
# without it the cross-checks against mlx.core and mlx.nn skip, and the checks against
# the golden files MLX wrote (tests/data/golden) still run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${QLINEAR_PYTHON_VENV:-build-py/ci-venv}"
"${PYTHON:-python3}" -m venv --clear "$venv"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
"$venv/bin/pip" install --quiet .
"$venv/bin/pip" install --quiet pytest numpy ml_dtypes
if ! "$venv/bin/pip" install --quiet "mlx[cpu]"; then
  echo "python/ci.sh: MLX's CPU wheel did not install; the MLX cross-checks will skip" >&2
fi
"$venv/bin/python" -c 'import mlx.core as mx; print("cross-checking against MLX", mx.__version__)' ||
  true
"$venv/bin/python" -m pytest python/tests -ra
