"""Data parallelism over every local device with `jax.sharding` (one mesh axis, ``"data"``).

Batches are split along their first axis; parameters and optimiser state are replicated.
On one device every helper is a no-op. For several hosts, call `jax.distributed.initialize()`
before anything else (see the README); `data_mesh` then spans the local devices of each host.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def data_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh over `devices` (default: all local devices) with axis ``"data"``."""
    devices = jax.local_devices() if devices is None else devices
    return Mesh(np.asarray(devices), (AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Split the leading (batch) axis over the mesh."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def check_divisible(batch_size: int, mesh: Mesh) -> None:
    """Raises ValueError unless `batch_size` splits evenly over the mesh's devices."""
    count = mesh.devices.size
    if batch_size % count:
        raise ValueError(f"batch size {batch_size} does not split over {count} devices; "
                         f"use a multiple of {count}")
