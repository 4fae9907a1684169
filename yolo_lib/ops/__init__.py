"""CNN building blocks PyTensor 3 lacks, as Ops with gradients, numpy and JAX implementations.

All image tensors are NCHW; weights are OIHW. See each module for the exact semantics:

* :mod:`.conv`: ``conv2d`` / ``Conv2d`` (+ ``Conv2dGradInput``, ``Conv2dGradWeight``)
* :mod:`.pool`: ``max_pool2d`` / ``MaxPool2d`` (+ ``MaxPool2dGrad``, ``MaxPool2dSelect``), -inf padding
* :mod:`.upsample`: ``upsample_nearest`` / ``UpsampleNearest`` (+ ``UpsampleNearestGrad``)
* :mod:`.batchnorm`: ``batch_norm_train`` / ``BatchNormTrain``, ``batch_norm_eval`` /
  ``BatchNormEval``, ``running_stat_updates`` (eps 1e-3, momentum 0.03 as in Ultralytics)
* :mod:`.activations`: ``silu``
* :mod:`.precision`: the convolutions' arithmetic in a traced program (``tf32``, ``float32``,
  ``bfloat16``), chosen by the training step

Every Op has a vectorised numpy ``perform`` (PyTensor's own backends; Numba runs it in object
mode), ``infer_shape``, static output shapes when the input shapes are known, a gradient
(``pullback``) and a JAX implementation registered with ``jax_funcify``. Bad arguments raise
``ValueError`` when the graph is built.

Shapes in JAX mode: leave the batch dimension unknown if you like, but give H and W static
sizes in graphs that are differentiated. PyTensor's JAX backend needs concrete numbers for
allocations such as the ones ``pytensor.grad`` creates from an output's shape, and with unknown
H/W the output size of a strided conv (``(H + 2p - k) // s + 1``) is arithmetic on traced
scalars (upstream ``concatenate`` and ``repeat`` have the same limitation). Call compiled
functions with JAX device arrays only after setting ``f.trust_input = True``, or PyTensor copies
them back to numpy on every call (see docs/benchmarks.md).
"""

from .activations import silu
from .batchnorm import (
    BatchNormEval,
    BatchNormTrain,
    batch_norm_eval,
    batch_norm_train,
    running_stat_updates,
)
from .conv import Conv2d, Conv2dGradInput, Conv2dGradWeight, conv2d
from .pool import MaxPool2d, MaxPool2dGrad, MaxPool2dSelect, max_pool2d
from .upsample import UpsampleNearest, UpsampleNearestGrad, upsample_nearest

__all__ = [
    "BatchNormEval",
    "BatchNormTrain",
    "Conv2d",
    "Conv2dGradInput",
    "Conv2dGradWeight",
    "MaxPool2d",
    "MaxPool2dGrad",
    "MaxPool2dSelect",
    "UpsampleNearest",
    "UpsampleNearestGrad",
    "batch_norm_eval",
    "batch_norm_train",
    "conv2d",
    "max_pool2d",
    "running_stat_updates",
    "silu",
    "upsample_nearest",
]
