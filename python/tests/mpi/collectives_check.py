"""qlinear.distributed on every rank of an mpirun job (run by test_distributed.py).

Each check is made on every rank in the same order, so the collectives meet. With MLX
installed, its MPI backend (initialised first: MLX calls MPI_Init unconditionally) sums
and gathers the same arrays, and the bits must agree.
"""

import os
import sys

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import FLOAT_DTYPES, from_mx, to_mx  # noqa: E402

try:
    import mlx.core as mx
except ImportError:
    mx = None

mx_group = mx.distributed.init(strict=True, backend="mpi") if mx else None

import qlinear.distributed as dist  # noqa: E402

group = dist.init(backend="mpi")
rank, size = group.rank(), group.size()
assert size == int(os.environ["OMPI_COMM_WORLD_SIZE"]), size
assert dist.init().rank() == rank


def expect_value_error(call, message):
    try:
        call()
    except ValueError as error:
        assert str(error) == message, (str(error), message)
    else:
        raise AssertionError(f"no ValueError; expected {message}")


# Exact sums and gathers: small integers times (rank + 1).
base = np.arange(-6, 6, dtype=np.float32).reshape(3, 4)
for dtype in FLOAT_DTYPES:
    total = dist.all_sum((base * (rank + 1)).astype(dtype), group=group)
    assert total.dtype == np.dtype(dtype) and total.shape == (3, 4)
    np.testing.assert_array_equal(total.astype(np.float32), base * (size * (size + 1) // 2))
    gathered = dist.all_gather(np.full((2, 3), rank, dtype=dtype))
    assert gathered.shape == (2 * size, 3)
    np.testing.assert_array_equal(gathered.astype(np.float32)[::2, 0], np.arange(size))

# The same random arrays through MLX's MPI backend: the same bits.
if mx is not None:
    rng = np.random.default_rng(1000 + rank)
    for dtype in FLOAT_DTYPES:
        x = rng.standard_normal((5, 33)).astype(dtype)
        ours = dist.all_sum(x)
        theirs = from_mx(mx, mx.distributed.all_sum(to_mx(mx, x), group=mx_group))
        assert ours.tobytes() == theirs.tobytes(), (dtype, ours, theirs)
        ours = dist.all_gather(x)
        theirs = from_mx(mx, mx.distributed.all_gather(to_mx(mx, x), group=mx_group))
        assert ours.tobytes() == theirs.tobytes(), dtype

# A ring of send / recv: rank 0 sends first, every other rank receives first.
if size > 1:
    mine = np.arange(4, dtype=ml_dtypes.bfloat16) + 10 * rank
    nxt, prev = (rank + 1) % size, (rank - 1) % size
    if rank == 0:
        assert dist.send(mine, nxt, group=group) is not None
    received = dist.recv((4,), ml_dtypes.bfloat16, prev, group=group)
    if rank != 0:
        dist.send(mine, nxt)
    np.testing.assert_array_equal(received.astype(np.float32), np.arange(4) + 10 * prev)
    if rank == 0:
        dist.send(mine, 1)
    if rank == 1:
        like = dist.recv_like(mine, 0, group=group)
        assert like.dtype == mine.dtype
        np.testing.assert_array_equal(like.astype(np.float32), np.arange(4))

# Errors, on every rank.
expect_value_error(
    lambda: dist.all_sum(np.zeros(2, np.int32)),
    "[all_sum] Only float32, float16 and bfloat16 tensors are supported, got int32.",
)
expect_value_error(
    lambda: dist.send(np.zeros(2, np.float32), size),
    f"[send] Invalid destination rank {size} for a group of size {size}.",
)
expect_value_error(
    lambda: dist.recv((2,), np.float32, rank),
    f"[recv] The source rank {rank} is this process's own rank.",
)
if size > 1:
    shape = (2,) if rank == 0 else (3,)
    expect_value_error(
        lambda: dist.all_sum(np.zeros(shape, np.float32), group=group),
        "[all_sum] Every rank must pass the same shape and dtype; "
        f"rank {rank} has {shape} float32 and another rank differs.",
    )

# Subgroups by parity of the rank.
parity = group.split(rank % 2)
assert parity.size() == (size + 1 - rank % 2) // 2 and parity.rank() == rank // 2
total = dist.all_sum(np.array([rank], np.float32), group=parity)
assert total[0] == sum(range(rank % 2, size, 2)), total

print(f"rank {rank} of {size}: ok" + (", same bits as MLX" if mx else ""), flush=True)
