"""A pure-JAX training step made from the same forward + loss graph, for benchmarks and cross-checks.

The PyTensor graph of the train-mode forward and the detection loss (parameters and BN buffers
turned into explicit inputs) is rewritten with the same rewrites as the train step
(:data:`yolo_lib.train_step.STEP_REWRITES`) and lowered with PyTensor's
``jax_funcify``; JAX then differentiates it with ``jax.value_and_grad`` (instead of PyTensor's
symbolic gradient) and the SGD update of :mod:`yolo_lib.train_step` is written in ``jax.numpy``.
The whole step is jitted with parameters, momentum buffers and BN buffers donated.

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

from yolo_lib.loss import detection_loss, target_variables
from yolo_lib.train_step import STEP_REWRITES, SGDConfig, check_targets, is_bias, is_decayed


@jax_funcify.register(DisconnectedGrad)
@jax_funcify.register(ZeroGrad)
def _jax_funcify_no_gradient(op, **kwargs):
    import jax

    return jax.lax.stop_gradient


class JaxSGDStep:
    """Pure-JAX SGD step for any PyTensor loss graph: ``jax_funcify`` of the forward + loss,
    ``jax.value_and_grad``, then the SGD of :mod:`yolo_lib.train_step` in ``jax.numpy``.

    ``params``: name -> shared variable of every trained parameter (names decide weight decay and
    bias learning rate as in ``TrainStep``); ``bn_updates``: ``(shared, new value)`` pairs of the
    train-mode forward; ``data``: the symbolic batch inputs (images, targets ...); ``total``: the
    scalar loss; ``items``: a vector of loss terms (reported, not differentiated). Holds its own
    copies of the parameters, momentum buffers and BN buffers as JAX arrays (taken from the shared
    variables now: both steps start from the same weights).
    """

    def __init__(self, params: dict, bn_updates: list, data: list, total, items, config: SGDConfig = SGDConfig()):
        import jax
        import jax.numpy as jnp

        self.config, self.names = config, list(params)
        shared = list(params.values())
        bn_shared = [s for s, _ in bn_updates]
        as_inputs = {s: s.type() for s in shared + bn_shared}
        outputs = clone_replace([total, items, *(new for _, new in bn_updates)], replace=as_inputs)
        graph_fn = pytensor.function(
            [*(as_inputs[s] for s in shared), *(as_inputs[s] for s in bn_shared), *data], outputs,
            mode=Mode(linker=JAXLinker(), optimizer=RewriteDatabaseQuery(include=list(STEP_REWRITES), exclude=["local_view_op"])),
        )
        forward_loss = jax_funcify(graph_fn.maker.fgraph)

        def loss_fn(params, bn, *batch):
            total, items, *new_bn = forward_loss(*params, *bn, *batch)
            return total, (items, new_bn)

        value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)
        decayed = [is_decayed(n) for n in self.names]
        biased = [is_bias(n) for n in self.names]

        def step(params, moms, bn, lr, bias_lr, momentum, *batch):
            (total, (items, new_bn)), grads = value_and_grad(params, bn, *batch)
            if config.max_grad_norm:
                norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in grads))
                coef = jnp.minimum(config.max_grad_norm / (norm + 1e-6), 1.0)
                grads = [g * coef for g in grads]
            new_params, new_moms = [], []
            for p, g, m, dec, bias in zip(params, grads, moms, decayed, biased):
                d = g + config.weight_decay * p if dec else g
                m = momentum * m + d
                update = d + momentum * m if config.nesterov else m
                new_params.append(p - (bias_lr if bias else lr) * update)
                new_moms.append(m)
            return new_params, new_moms, list(new_bn), total, items

        self._step = jax.jit(step, donate_argnums=(0, 1, 2))
        self._value_and_grad = jax.jit(value_and_grad)
        self.params = [jnp.asarray(s.get_value()) for s in shared]
        self.momentum_buffers = [jnp.zeros_like(p) for p in self.params]
        self.bn = [jnp.asarray(s.get_value()) for s in bn_shared]
        self.bn_names = [s.name for s in bn_shared]

    def batch_gradients(self, *batch) -> dict:
        """Gradient of the loss total w.r.t. every parameter at the current state (no update)."""
        _, grads = self._value_and_grad(self.params, self.bn, *batch)
        return {n: np.asarray(g) for n, g in zip(self.names, grads)}

    def step(self, *batch, lr: float, bias_lr: float | None = None, momentum: float | None = None) -> dict:
        """One SGD step on ``batch`` (arrays in the order of ``data``): ``total`` and ``items``."""
        momentum = self.config.momentum if momentum is None else momentum
        scalars = [np.float32(v) for v in (lr, lr if bias_lr is None else bias_lr, momentum)]
        self.params, self.momentum_buffers, self.bn, total, items = self._step(
            self.params, self.momentum_buffers, self.bn, *scalars, *batch)
        return {"total": float(total), "items": np.asarray(items)}


class JaxReferenceStep(JaxSGDStep):
    """Pure-JAX counterpart of :class:`yolo_lib.train_step.TrainStep` (same call signature):
    YOLO11's train-mode forward and the detection loss in :class:`JaxSGDStep`."""

    def __init__(self, model, batch_size: int, image_hw: tuple[int, int], max_boxes: int,
                 config: SGDConfig = SGDConfig()):
        self.batch_size, self.image_hw, self.max_boxes = int(batch_size), tuple(image_hw), int(max_boxes)
        images = pt.tensor4("images", dtype="float32", shape=(self.batch_size, 3, *self.image_hw))
        targets = target_variables(self.batch_size, self.max_boxes)
        out = model.forward(images, train=True)
        loss = detection_loss(out.box, out.cls, *targets, image_hw=self.image_hw, strides=model.strides)
        super().__init__(model.params, out.updates, [images, *targets], loss.total, loss.items, config)

    def gradients(self, images: np.ndarray, targets) -> dict:
        """Gradient of the loss total w.r.t. every parameter at the current state (no update)."""
        return self.batch_gradients(np.asarray(images, np.float32), *check_targets(targets, self.batch_size, self.max_boxes))

    def __call__(self, images: np.ndarray, targets, lr: float,
                 bias_lr: float | None = None, momentum: float | None = None) -> dict:
        return self.step(np.asarray(images, np.float32), *check_targets(targets, self.batch_size, self.max_boxes),
                         lr=lr, bias_lr=bias_lr, momentum=momentum)
