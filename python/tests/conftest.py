import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden"
# The vectors of the released MLX that qlinear matches (older files above: an MLX commit).
RELEASE_GOLDEN = GOLDEN / "mlx-0.32.4"

AFFINE_BITS = (2, 3, 4, 5, 6, 8)
GROUP_SIZES = (32, 64, 128)


@pytest.fixture
def rng():
    return np.random.default_rng(20251128)


@pytest.fixture(scope="session")
def mx():
    """mlx.core, or a skip where MLX is not installed or does not load (see python/ci.sh)."""
    return pytest.importorskip("mlx.core", exc_type=ImportError)
