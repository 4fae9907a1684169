"""One compiled training step: train-mode forward, task-aligned assignment, loss, gradient, SGD update.

``step = TrainStep(model, batch_size=8, image_hw=(320, 320), max_boxes=32)`` builds the graph and
compiles it once (JAX; parameters, momentum buffers and BN running statistics are donated, so
updated in place on the device). The compiled program is kept across processes by
:func:`yolo_lib.compilation.step_cache.cached_function` (a later process skips graph building, rewriting and,
through JAX's persistent cache, XLA compilation). Then per batch::

    out = step(images, targets, lr=0.01)   # images (B, 3, H, W) float32 in [0, 1]
    out["total"], out["items"]             # batch_size * sum(items); [7.5 box, 0.5 cls, 1.5 dfl]

The update is PyTorch's SGD as Ultralytics configures it: gradients clipped to a global norm of
10, weight decay (added to the gradient) on convolution weights only (not BN weights, not
biases), momentum 0.937 with Nesterov. Learning rates and momentum are inputs of the compiled
function, so warm-up and schedules never recompile: ``lr`` for weights, ``bias_lr`` for biases
(defaults to ``lr``), ``momentum``. BN running statistics follow the train-mode forward
(momentum 0.03, unbiased batch variance). Ultralytics' EMA of the weights and gradient
accumulation are not part of this step: this is the parity/benchmark step (it can return the raw
gradients); training uses :class:`yolo_lib.train.step.TrainingStep`, which shares its optimizer
pieces (:mod:`yolo_lib.train.optimizer`).

Data parallel: ``TrainStep(..., mesh=data_mesh())`` (:mod:`yolo_lib.compilation.parallel`) splits the batch
(images and targets) over the mesh's devices and replicates parameters, momentum buffers and BN
statistics; gradients and BN statistics are those of the whole batch, so the result matches one
device up to float rounding. ``batch_size`` must divide by the number of devices. The program is
kept by the step cache like the one-device one (:mod:`yolo_lib.compilation.step_cache`, data parallel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib.compilation import modes
from yolo_lib.loss import DenseTargets, detection_loss, target_variables
from yolo_lib.compilation.parallel import check_batch_divides
from yolo_lib.compilation.step_cache import cached_function
from yolo_lib.train.optimizer import clip_by_global_norm, param_group


#: Graph rewrites for the compiled step (the reason: :data:`yolo_lib.compilation.modes.REWRITES`).
STEP_REWRITES = modes.REWRITES


@dataclass(frozen=True)
class SGDConfig:
    """Optimizer settings (Ultralytics defaults; weight decay already scaled for the batch)."""

    momentum: float = 0.937
    nesterov: bool = True
    weight_decay: float = 5e-4
    max_grad_norm: float | None = 10.0


def is_decayed(name: str) -> bool:
    """Weight decay applies to convolution weights only: not to BN weights, not to biases."""
    return param_group(name) == "weight"


def is_bias(name: str) -> bool:
    """Biases (BN biases and head conv biases) get their own learning rate during warm-up."""
    return param_group(name) == "bias"


def sgd_updates(params: dict, grads: list, buffers: dict, lr, bias_lr, momentum, config: SGDConfig) -> list:
    """[(shared, new value)] for parameters and momentum buffers (PyTorch SGD semantics).

    d = g + wd * p (decayed params); buf = momentum * buf + d; step = d + momentum * buf
    (Nesterov) or buf; p = p - lr * step.
    """
    updates = []
    for (name, p), g in zip(params.items(), grads):
        d = g + np.float32(config.weight_decay) * p if is_decayed(name) else g
        buf = buffers[name]
        new_buf = momentum * buf + d
        step = d + momentum * new_buf if config.nesterov else new_buf
        updates += [(buf, new_buf), (p, p - (bias_lr if is_bias(name) else lr) * step)]
    return updates


def check_targets(targets, batch_size: int, max_boxes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes float32, classes int32, mask bool) from :class:`DenseTargets` or such a tuple, with
    the shapes (B, M, 4), (B, M), (B, M) a compiled step expects."""
    boxes, classes, mask = targets.as_inputs() if isinstance(targets, DenseTargets) else targets
    boxes, classes, mask = np.asarray(boxes, np.float32), np.asarray(classes), np.asarray(mask)
    want = (batch_size, max_boxes)
    if boxes.shape != (*want, 4) or classes.shape != want or mask.shape != want:
        raise ValueError(f"targets must be packed as boxes {(*want, 4)}, classes {want}, mask {want} "
                         f"(batch_size, max_boxes); got {boxes.shape}, {classes.shape}, {mask.shape}")
    return boxes, classes.astype(np.int32), mask.astype(bool)


class TrainStep:
    """The compiled training step for one (batch_size, image_hw, max_boxes); see module docstring."""

    def __init__(self, model, batch_size: int, image_hw: tuple[int, int], max_boxes: int,
                 config: SGDConfig = SGDConfig(), mode=None, return_gradients: bool = False, mesh=None):
        if mesh is not None and mode is not None:
            raise ValueError("give either mode or mesh: a mesh builds its own donating JAX mode")
        check_batch_divides(batch_size, mesh)
        self.model, self.config, self.mesh = model, config, mesh
        self.batch_size, self.image_hw, self.max_boxes = int(batch_size), tuple(image_hw), int(max_boxes)
        self.return_gradients = return_gradients
        params = model.params
        self.momentum_buffers = {
            n: pytensor.shared(np.zeros(p.type.shape, np.float32), name=f"momentum/{n}", shape=p.type.shape)
            for n, p in params.items()
        }

        def build():
            images = pt.tensor4("images", dtype="float32", shape=(self.batch_size, 3, *self.image_hw))
            targets = target_variables(self.batch_size, self.max_boxes)
            lr, bias_lr, momentum = (pt.scalar(n, dtype="float32") for n in ("lr", "bias_lr", "momentum"))
            out = model.forward(images, train=True)
            loss = detection_loss(out.box, out.cls, *targets, image_hw=self.image_hw, strides=model.strides)
            grads = pytensor.grad(loss.total, list(params.values()))
            clipped = clip_by_global_norm(grads, config.max_grad_norm) if config.max_grad_norm else grads
            updates = sgd_updates(params, clipped, self.momentum_buffers, lr, bias_lr, momentum, config)
            outputs = [loss.total, loss.items] + (grads if return_gradients else [])
            return [images, *targets, lr, bias_lr, momentum], outputs, updates + list(out.updates)

        if mode is not None:  # a caller's own mode: compiled as given, not cached
            inputs, outputs, updates = build()
            self.function = pytensor.function(inputs, outputs, updates=updates, mode=mode)
        else:  # the batch (images + 3 targets) comes first: split over a mesh
            key = ("TrainStep", model.scale, model.nc, [(n, p.type.shape) for n, p in params.items()],
                   self.batch_size, self.image_hw, self.max_boxes, config, return_gradients, STEP_REWRITES)
            shared = {v.name: v for v in [*params.values(), *model.buffers.values(), *self.momentum_buffers.values()]}
            self.function = cached_function(key, build, shared, modes.training(mesh=mesh, batch_inputs=4))

    def __call__(self, images: np.ndarray, targets, lr: float,
                 bias_lr: float | None = None, momentum: float | None = None) -> dict:
        """Run one step on images (B, 3, H, W) and ``targets``: a :class:`DenseTargets` or the tuple
        (boxes (B, M, 4) normalised xywh, classes (B, M), mask (B, M)), e.g. the data loader's
        ``Batch.loss_targets()``. Returns ``total`` (float), ``items`` (3,) and, if asked for,
        ``gradients`` (dict name -> array, unclipped, before weight decay)."""
        images = np.asarray(images, dtype=np.float32)
        expected = (self.batch_size, 3, *self.image_hw)
        if images.shape != expected:
            raise ValueError(f"images must have shape {expected} (B, 3, H, W), got {images.shape}")
        boxes, classes, mask = check_targets(targets, self.batch_size, self.max_boxes)
        momentum = self.config.momentum if momentum is None else momentum
        scalars = [np.float32(v) for v in (lr, lr if bias_lr is None else bias_lr, momentum)]
        total, items, *grads = self.function(images, boxes, classes, mask, *scalars)
        out = {"total": float(total), "items": np.asarray(items)}
        if self.return_gradients:
            out["gradients"] = {n: np.asarray(g) for n, g in zip(self.model.params, grads)}
        return out
