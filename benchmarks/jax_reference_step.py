"""A pure-JAX training step made from the same forward + loss graph, for benchmarks and cross-checks.

The PyTensor graph of the train-mode forward and the detection loss (parameters and BN buffers
turned into explicit inputs) is rewritten with the same rewrites as the training step
(:data:`yolo_lib.compilation.modes.REWRITES`) and lowered with PyTensor's ``jax_funcify``; JAX
then differentiates it with ``jax.value_and_grad`` (instead of PyTensor's symbolic gradient) and
the update of :class:`yolo_lib.train.optimizer.SGD` (gradient sums for accumulation, clipping,
decay of the ``weight`` group, Nesterov momentum, the bias group's learning rate) is written in
``jax.numpy``. The whole step is jitted with parameters, momentum buffers, gradient sums and BN
buffers donated.

The assigner must not receive gradient, so the ``disconnected_grad`` markers, which PyTensor's
rewrites normally delete, are kept here (rewrite ``local_view_op`` excluded) and lowered to
``jax.lax.stop_gradient``.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.graph import RewriteDatabaseQuery
from pytensor.link.jax.linker import JAXLinker
from pytensor.gradient import DisconnectedGrad, ZeroGrad
from pytensor.graph.replace import clone_replace
from pytensor.link.jax.dispatch import jax_funcify

from yolo_lib.compilation.modes import REWRITES
from yolo_lib.loss import detection_loss, target_variables
from yolo_lib.train.config import TrainConfig
from yolo_lib.train.optimizer import param_group
from yolo_lib.train.step import check_targets


@jax_funcify.register(DisconnectedGrad)
@jax_funcify.register(ZeroGrad)
def _jax_funcify_no_gradient(op, **kwargs):
    import jax

    return jax.lax.stop_gradient


class JaxSGDStep:
    """Pure-JAX SGD step for any PyTensor loss graph: ``jax_funcify`` of the forward + loss,
    ``jax.value_and_grad``, then the update of :class:`yolo_lib.train.optimizer.SGD` in ``jax.numpy``
    (every call an optimizer step, as ``TrainingStep.run`` does).

    ``params``: name -> shared variable of every trained parameter (names decide weight decay and
    bias learning rate, :func:`~yolo_lib.train.optimizer.param_group`); ``bn_updates``: ``(shared,
    new value)`` pairs of the train-mode forward; ``data``: the symbolic batch inputs (images,
    targets ...); ``total``: the scalar loss; ``items``: a vector of loss terms (reported, not
    differentiated); ``weight_decay``, ``max_grad_norm``, ``nesterov``: the optimizer's settings.
    Holds its own copies of the parameters, momentum buffers, gradient sums and BN buffers as JAX
    arrays (taken from the shared variables now: both steps start from the same weights).
    """

    def __init__(self, params: dict, bn_updates: list, data: list, total, items,
                 weight_decay: float = TrainConfig.weight_decay, max_grad_norm: float | None = TrainConfig.max_grad_norm,
                 nesterov: bool = True):
        import jax
        import jax.numpy as jnp

        self.names = list(params)
        shared = list(params.values())
        bn_shared = [s for s, _ in bn_updates]
        as_inputs = {s: s.type() for s in shared + bn_shared}
        outputs = clone_replace([total, items, *(new for _, new in bn_updates)], replace=as_inputs)
        graph_fn = pytensor.function(
            [*(as_inputs[s] for s in shared), *(as_inputs[s] for s in bn_shared), *data], outputs,
            mode=Mode(linker=JAXLinker(), optimizer=RewriteDatabaseQuery(include=list(REWRITES), exclude=["local_view_op"])),
        )
        forward_loss = jax_funcify(graph_fn.maker.fgraph)

        def loss_fn(params, bn, *batch):
            total, items, *new_bn = forward_loss(*params, *bn, *batch)
            return total, (items, new_bn)

        value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)
        groups = [param_group(n) for n in self.names]

        def step(params, moms, sums, bn, lr, bias_lr, momentum, do_step, *batch):
            (total, (items, new_bn)), grads = value_and_grad(params, bn, *batch)
            grads = [s + g for s, g in zip(sums, grads)]
            if max_grad_norm:
                norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in grads))
                coef = jnp.minimum(max_grad_norm / (norm + 1e-6), 1.0)
                clipped = [g * coef for g in grads]
            else:
                clipped = grads
            new_params, new_moms, new_sums = [], [], []
            for p, g, g_sum, m, group in zip(params, clipped, grads, moms, groups):
                d = g + weight_decay * p if group == "weight" else g
                new_m = momentum * m + d
                update = d + momentum * new_m if nesterov else new_m
                new_params.append(jnp.where(do_step, p - (bias_lr if group == "bias" else lr) * update, p))
                new_moms.append(jnp.where(do_step, new_m, m))
                new_sums.append(jnp.where(do_step, jnp.zeros_like(g_sum), g_sum))
            return new_params, new_moms, new_sums, list(new_bn), total, items

        self._step = jax.jit(step, donate_argnums=(0, 1, 2, 3))
        self._value_and_grad = jax.jit(value_and_grad)
        self.params = [jnp.asarray(s.get_value()) for s in shared]
        self.momentum_buffers = [jnp.zeros_like(p) for p in self.params]
        self.grad_sums = [jnp.zeros_like(p) for p in self.params]
        self.bn = [jnp.asarray(s.get_value()) for s in bn_shared]
        self.bn_names = [s.name for s in bn_shared]

    def batch_gradients(self, *batch) -> dict:
        """Gradient of the loss total w.r.t. every parameter at the current state (no update)."""
        _, grads = self._value_and_grad(self.params, self.bn, *batch)
        return {n: np.asarray(g) for n, g in zip(self.names, grads)}

    def step(self, *batch, lr: float, bias_lr: float | None = None, momentum: float = TrainConfig.momentum) -> dict:
        """One SGD step on ``batch`` (arrays in the order of ``data``): ``total`` and ``items``."""
        scalars = [np.float32(v) for v in (lr, lr if bias_lr is None else bias_lr, momentum)]
        self.params, self.momentum_buffers, self.grad_sums, self.bn, total, items = self._step(
            self.params, self.momentum_buffers, self.grad_sums, self.bn, *scalars, np.bool_(True), *batch)
        return {"total": float(total), "items": np.asarray(items)}


class JaxReferenceStep(JaxSGDStep):
    """Pure-JAX counterpart of :class:`yolo_lib.train.step.TrainingStep` with
    ``input_format="normalised"`` and no EMA (the call signature of its ``run``): YOLO11's
    train-mode forward and the detection loss in :class:`JaxSGDStep`."""

    def __init__(self, model, batch_size: int, image_hw: tuple[int, int], max_boxes: int, **sgd_settings):
        self.batch_size, self.image_hw, self.max_boxes = int(batch_size), tuple(image_hw), int(max_boxes)
        images = pt.tensor4("images", dtype="float32", shape=(self.batch_size, 3, *self.image_hw))
        targets = target_variables(self.batch_size, self.max_boxes)
        out = model.forward(images, train=True)
        loss = detection_loss(out.box, out.cls, *targets, image_hw=self.image_hw, strides=model.strides)
        super().__init__(model.params, out.updates, [images, *targets], loss.total, loss.items, **sgd_settings)

    def _batch(self, images: np.ndarray, targets) -> tuple:
        boxes, classes, mask = check_targets(targets, self.batch_size, self.max_boxes)
        return np.asarray(images, np.float32), boxes, classes, mask > 0

    def gradients(self, images: np.ndarray, targets) -> dict:
        """Gradient of the loss total w.r.t. every parameter at the current state (no update)."""
        return self.batch_gradients(*self._batch(images, targets))

    def run(self, images: np.ndarray, targets, lr: float, bias_lr: float | None = None,
            momentum: float = TrainConfig.momentum) -> dict:
        return self.step(*self._batch(images, targets), lr=lr, bias_lr=bias_lr, momentum=momentum)
