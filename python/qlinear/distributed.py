"""Communication between processes, as ``mlx.core.distributed``, over MPI.

Run a script on N processes with ``mpirun --oversubscribe -np N python script.py``
(as root add ``--allow-run-as-root``). Without mpirun, or in a build without MPI,
``init()`` gives a group of one process. The collectives are blocking, release the
GIL while they wait, and must be called in the same order on every rank.
"""

from qlinear._qlinear.distributed import (
    Group,
    all_gather,
    all_sum,
    init,
    is_available,
    recv,
    recv_like,
    send,
)

__all__ = [
    "Group",
    "all_gather",
    "all_sum",
    "init",
    "is_available",
    "recv",
    "recv_like",
    "send",
]

Group.__module__ = __name__
