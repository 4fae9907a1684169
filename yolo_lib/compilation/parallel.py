"""Data parallel training over the devices of one machine with ``jax.sharding``.

``mesh = data_mesh()`` makes a one-dimensional device mesh (axis ``"data"``) over all of
``jax.devices()`` (or the first ``n_devices``). A step compiled with that mesh (see
:class:`yolo_lib.compilation.donating_linker.DonatingJAXLinker`) splits its batch inputs along dim 0 over the
mesh and replicates everything else (parameters, optimizer state, BN statistics, scalars); XLA
(GSPMD) inserts the all-reduces, so gradients and batch-norm statistics are those of the global
batch and every device holds identical weights. Updated shared variables stay on the mesh as
replicated jax arrays.

To simulate several devices on a CPU set ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
before JAX is imported (a fresh process).
"""

from __future__ import annotations

DATA_AXIS = "data"


def data_mesh(n_devices: int | None = None):
    """A 1-D :class:`jax.sharding.Mesh` with axis ``"data"`` over the first ``n_devices`` of
    ``jax.devices()`` (default: all of them)."""
    import jax
    import numpy as np
    from jax.sharding import Mesh

    devices = jax.devices()
    n = len(devices) if n_devices is None else int(n_devices)
    if not 1 <= n <= len(devices):
        raise ValueError(f"n_devices={n_devices} but JAX sees {len(devices)} device(s): {devices}")
    return Mesh(np.array(devices[:n]), (DATA_AXIS,))


def mesh_size(mesh) -> int:
    """Number of devices along the data axis (1 for ``mesh=None``)."""
    return 1 if mesh is None else int(mesh.shape[DATA_AXIS])


def check_batch_divides(batch_size: int, mesh) -> None:
    """One-line error unless the batch splits evenly over the mesh's devices."""
    n = mesh_size(mesh)
    if batch_size % n:
        raise ValueError(f"batch size {batch_size} does not divide by the {n} devices of the mesh; "
                         f"use a multiple of {n}")


def input_shardings(mesh, n_inputs: int, batch_inputs: int) -> tuple:
    """Shardings of a jitted function's ``n_inputs`` positional inputs: the first ``batch_inputs``
    split along dim 0 over ``"data"``, the rest replicated."""
    from jax.sharding import NamedSharding, PartitionSpec

    return tuple(NamedSharding(mesh, PartitionSpec(DATA_AXIS) if i < batch_inputs else PartitionSpec())
                 for i in range(n_inputs))


def replicated(mesh):
    """The fully replicated sharding on ``mesh`` (outputs and updated state)."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh):
    """Sharding for ``jax.device_put`` of one batch array (dim 0 split over ``"data"``), so a step
    that takes device arrays receives them already laid out as its ``in_shardings`` expect;
    ``None`` (the default device) without a mesh."""
    if mesh is None:
        return None
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))
