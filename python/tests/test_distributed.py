"""qlinear.distributed: a group of one in this process, and mpirun jobs of 2 and 3 ranks
that run the checks in mpi/ on every rank (against MLX's MPI backend where installed)."""

import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import qlinear.distributed as dist
from qlinear import nn

MPI_CHECKS = pathlib.Path(__file__).resolve().parent / "mpi"
needs_mpi = pytest.mark.skipif(
    not dist.is_available("mpi") or shutil.which("mpirun") is None,
    reason="qlinear was built without MPI, or mpirun is missing",
)


def mlx_installed():
    try:
        import mlx.core  # noqa: F401
    except ImportError:
        return False
    return True


def mpirun(script, ranks, timeout=300):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return subprocess.run(
        ["mpirun", "--oversubscribe", "-np", str(ranks), sys.executable, str(script)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def run_under_mpirun(script, ranks, ok_line=None):
    """Runs script on `ranks` processes; every rank must print its 'ok' line (by default
    saying, with MLX installed, that it compared against MLX)."""
    result = mpirun(script, ranks)
    assert result.returncode == 0, result.stdout + result.stderr
    for rank in range(ranks):
        line = f"rank {rank} of {ranks}: ok" + (
            ok_line if ok_line is not None else ", same bits as MLX" if mlx_installed() else "")
        assert line in result.stdout, result.stdout + result.stderr


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_collectives_under_mpirun(ranks):
    run_under_mpirun(MPI_CHECKS / "collectives_check.py", ranks)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_sharded_layers_under_mpirun(ranks):
    if not mlx_installed():
        pytest.skip("the sharded layers are checked against MLX's own shards")
    run_under_mpirun(MPI_CHECKS / "sharded_layers_check.py", ranks,
                     ", 10 quantized settings, same shards as MLX")


@needs_mpi
def test_a_rank_that_dies_ends_the_job_instead_of_hanging():
    started = time.monotonic()
    result = mpirun(MPI_CHECKS / "rank_dies_check.py", 2, timeout=120)
    assert result.returncode != 0
    assert "the all_sum returned" not in result.stdout
    assert "exited" in result.stdout + result.stderr, result.stdout + result.stderr
    assert time.monotonic() - started < 60


def test_sharded_layers_in_a_group_of_one_are_the_layer(rng):
    linear = nn.Linear(64, 6)
    layer = nn.QuantizedLinear.from_linear(linear, 32, 8, mode="mxfp8")
    x = rng.standard_normal((2, 64)).astype(np.float32)
    for sharding, expected in (("all-to-sharded", nn.QuantizedAllToShardedLinear),
                               ("sharded-to-all", nn.QuantizedShardedToAllLinear)):
        sharded = nn.shard_linear(layer, sharding)
        assert type(sharded) is expected and sharded.group.size() == 1
        assert (sharded.mode, sharded.bits, sharded.group_size) == ("mxfp8", 8, 32)
        assert sharded(x).tobytes() == layer(x).tobytes()
    assert repr(nn.shard_linear(linear, "sharded-to-all")) == (
        "ShardedToAllLinear(input_dims=64, output_dims=6, bias=True)")
    with pytest.raises(ValueError, match=r"^\[shard_linear\] Sharding type sharding='rows' not supported"):
        nn.shard_linear(linear, "rows")
    with pytest.raises(ValueError, match=r"^\[shard_linear\] Expected a Linear or QuantizedLinear, got Embedding\.$"):
        nn.shard_linear(nn.Embedding(4, 8), "all-to-sharded")
    with pytest.raises(ValueError, match=r"^\[AllToShardedLinear\] segments must be an int or a list of floats"):
        nn.AllToShardedLinear.from_linear(linear, segments=[2, 4])
    with pytest.raises(ValueError, match=r"^\[shard_inplace\] Cannot split 'weight' of shape \(6, 64\) into 4 equal segments along axis 0\.$"):
        nn.shard_inplace(linear, "all-to-sharded", segments=4)
    nn.shard_inplace(linear, lambda path, weight: None if path == "bias" else (1, 2))
    assert linear.weight.shape == (6, 64) and linear.bias.shape == (6,)


def test_outside_mpirun_the_group_is_this_process():
    group = dist.init()
    assert (group.rank(), group.size()) == (0, 1)
    x = np.arange(6, dtype=np.float16).reshape(2, 3)
    assert dist.all_sum(x, group=group).tobytes() == x.tobytes()
    assert dist.all_gather(x).tobytes() == x.tobytes()
    with pytest.raises(ValueError, match=r"^\[send\] Invalid destination rank 1 for a group of size 1\.$"):
        dist.send(x, 1)
    with pytest.raises(ValueError, match=r"^\[recv\] The source rank 0 is this process's own rank\.$"):
        dist.recv((2,), np.float32, 0, group=group)
    with pytest.raises(ValueError, match=r"^\[all_gather\] Only float32, float16 and bfloat16"):
        dist.all_gather(np.zeros(3, np.int64))
    assert not dist.is_available("ring")
    with pytest.raises(ValueError, match=r"^\[is_available\] Unknown backend 'tcp'"):
        dist.is_available("tcp")
