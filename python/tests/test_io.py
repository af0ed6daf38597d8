"""qlinear.load and qlinear.save_safetensors: round trips, views, MLX's conventions."""

import ml_dtypes
import numpy as np
import pytest

import qlinear


@pytest.fixture
def arrays(rng):
    return {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f16": rng.standard_normal((5,)).astype(np.float16),
        "bf16": rng.standard_normal((2, 2, 2)).astype(ml_dtypes.bfloat16),
        "u32": rng.integers(0, 2**32, (4, 8), dtype=np.uint32),
        "u8": rng.integers(0, 256, (7,), dtype=np.uint8),
        "i64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "scalar": np.array(1.5, np.float32),
    }


def test_round_trip_keeps_names_dtypes_shapes_bytes_and_metadata(tmp_path, arrays):
    path = tmp_path / "model.safetensors"
    qlinear.save_safetensors(path, arrays, metadata={"format": "mlx", "note": "ü"})
    loaded, metadata = qlinear.load(path, return_metadata=True)
    assert metadata == {"format": "mlx", "note": "ü"}
    assert loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        assert loaded[name].tobytes() == array.tobytes(), name


def test_loaded_arrays_are_read_only_views_that_outlive_the_dict(tmp_path, arrays):
    path = tmp_path / "a.safetensors"
    qlinear.save_safetensors(path, arrays)
    u32 = qlinear.load(path)["u32"]  # the dict is gone; the mapping lives on in u32
    assert not u32.flags.writeable and not u32.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        u32[0, 0] = 1
    # Saving over a mapped file replaces it; the old views keep the old data.
    qlinear.save_safetensors(path, {"u32": np.zeros((4, 8), np.uint32)})
    np.testing.assert_array_equal(u32, arrays["u32"])
    np.testing.assert_array_equal(qlinear.load(path)["u32"], 0)


def test_save_appends_the_extension_like_mlx(tmp_path):
    qlinear.save_safetensors(tmp_path / "weights", {"a": np.ones(2, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]
    assert qlinear.load(str(tmp_path / "weights.safetensors"), return_metadata=True)[1] == {}


def test_load_refuses_other_formats_and_reports_missing_files(tmp_path):
    with pytest.raises(ValueError, match=r"^\[load\] Only safetensors and gguf files can be loaded, got '.*model\.npz'\.$"):
        qlinear.load(tmp_path / "model.npz")
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(RuntimeError, match="missing.safetensors"):
        qlinear.load(missing)


def test_metadata_must_map_strings_to_strings(tmp_path):
    with pytest.raises(ValueError, match=r"^\[save_safetensors\] Metadata must be a dictionary with string keys and values\.$"):
        qlinear.save_safetensors(tmp_path / "m", {"a": np.ones(2, np.float32)}, metadata={"k": 1})
    assert list(tmp_path.iterdir()) == []
