import pathlib

import numpy as np
import pytest

import qlinear

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden"
# The vectors of the released MLX that qlinear matches (older files above: an MLX commit).
RELEASE_GOLDEN = GOLDEN / "mlx-0.32.4"

# The catalogue of modes (include/qlinear/quant_spec.h): the tests iterate over it.
MODES = {mode["name"]: mode for mode in qlinear.quant_modes()}
AFFINE_BITS = MODES["affine"]["bits"]
GROUP_SIZES = MODES["affine"]["group_sizes"]
FLOAT_MODES = tuple(name for name, mode in MODES.items() if not mode["has_biases"])


@pytest.fixture
def rng():
    return np.random.default_rng(20251128)


@pytest.fixture(scope="session")
def mx():
    """mlx.core, or a skip where MLX is not installed or does not load (see python/ci.sh)."""
    return pytest.importorskip("mlx.core", exc_type=ImportError)
