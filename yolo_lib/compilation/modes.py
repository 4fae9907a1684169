"""Every PyTensor compile mode of the project, in one place, each with the reason for it.

Numbers do not depend on the mode within the parity tolerances; compile time and memory do.
"""

from __future__ import annotations

from pytensor.compile.mode import Mode
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.link.jax.linker import JAXLinker

from yolo_lib.compilation.donating_linker import donating_jax_mode

#: Rewrites of the model and training functions. XLA fuses elementwise ops and simplifies on its
#: own, so PyTensor's ``fast_compile`` set (plus the rewrites JAX needs) suffices: measured on the
#: 2-core VM it cuts the graph rewriting about 3x and the XLA compile about 2x against ``fast_run``
#: (whose fused Composite ops XLA compiles slowly), at the same step time and the same numbers.
REWRITES = ("fast_compile", "jax")

#: Model functions (eval, train forward, blocks): the JAX linker with :data:`REWRITES` (compile time).
MODEL = Mode(JAXLinker(), RewriteDatabaseQuery(include=list(REWRITES)))

#: The loss inspector (``yolo_lib.loss.inspection``): PyTensor's stock JAX mode (``fast_run``
#: rewrites); the graph is small, so compile time does not matter, and the loss parity figures
#: were measured with it.
LOSS_INSPECTION = "JAX"


def training(mesh=None, batch_inputs: int = 0) -> Mode:
    """The training step: :data:`REWRITES` with the donating JAX linker, so parameter, momentum and
    BN buffers are updated in place (no second copy of the weights per step). With a ``mesh``
    (:func:`yolo_lib.compilation.parallel.data_mesh`) the first ``batch_inputs`` inputs are split over its
    devices and everything else is replicated (data parallel)."""
    return donating_jax_mode(include=REWRITES, mesh=mesh, batch_inputs=batch_inputs)


def export_reference() -> Mode:
    """The exporter's parity reference: the Python linker (every Op's numpy ``perform``) with no
    rewriting, so onnxruntime is compared against the very graph that was exported, not JAX's."""
    return Mode(linker="py", optimizer=None)
