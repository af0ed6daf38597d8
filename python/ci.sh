#!/usr/bin/env bash
# The Python package on a fresh machine: a new virtual environment, `pip install .`
# from the repository root, the test dependencies, then the pytest suite.
#
# MLX's CPU wheel and mlx-lm are installed when they can be (MLX needs glibc >= 2.35).
# Without them the cross-checks against mlx.core, mlx.nn and mlx-lm skip; the checks
# against the golden files MLX wrote (tests/data/golden) run either way.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${QLINEAR_PYTHON_VENV:-build-py/ci-venv}"
"${PYTHON:-python3}" -m venv --clear "$venv"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
# The compiler CMake finds for scripts/build.sh (c++), not the g++ that scikit-build-core
# takes from Python's sysconfig: ccache keys on the compiler's name, and with the same one
# `pip install .` reuses scripts/build.sh's library objects instead of compiling them again.
export CXX="${CXX:-c++}"
"$venv/bin/pip" install --quiet .
# gguf: llama.cpp's own GGUF writer and quantizers, for the GGUF import tests.
"$venv/bin/pip" install --quiet "pytest>=8.2" numpy ml_dtypes gguf
# The releases qlinear matches (README); another MLX may round the MX scales differently.
for optional in "mlx[cpu]==0.32.4" "mlx-lm==0.32.2"; do
  "$venv/bin/pip" install --quiet "$optional" ||
    echo "python/ci.sh: $optional did not install; the checks against it will skip" >&2
done
"$venv/bin/python" - <<'PY'
from importlib import metadata
for name in ("mlx", "mlx-lm"):
    try:
        print(f"cross-checking against {name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"{name} is not installed: its cross-checks skip")
PY
"$venv/bin/python" -m pytest python/tests -ra
