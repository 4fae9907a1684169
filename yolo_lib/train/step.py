"""The compiled training step: forward, loss, gradient, SGD with accumulation, EMA, on-device logging.

One donating JAX function per (batch, image size, max boxes), built once::

    step = TrainingStep(model, sgd, ema, batch=16, imgsz=320, max_boxes=32)
    step(images_u8, boxes, classes, mask, settings, do_step, ema_decay, iteration)

Inputs: ``images`` (B, 3, S, S) uint8 RGB (scaled to [0, 1] on the device), ``boxes`` (B, M, 4)
float32 xyxy input pixels, ``classes`` (B, M) int32, ``mask`` (B, M) float32 (the data
loader's :class:`~yolo_lib.data.Batch` fields, unconverted), learning rates, momentum,
``do_step`` (optimizer step this iteration, else only accumulate the gradient), the EMA decay
and the global iteration. The function has no outputs: parameters, BN statistics, optimizer
state, EMA and the loss accumulators are shared variables updated in place (donated buffers),
so a call only dispatches work and the host never waits for the device. :meth:`read_losses`
reads (and resets) the accumulated loss items every N iterations; :meth:`first_bad_iteration`
names the first iteration whose loss was not finite. :meth:`put` starts the host-to-device copy
of a batch, so the loop transfers the next batch while the current step runs.

The compiled program is kept across processes by :func:`yolo_lib.compilation.step_cache.cached_function`
(keyed by the shapes, loss gains, optimizer constants, the number of devices and yolo_lib's
source): a resumed run, a notebook after a restart or CI loads it in a second instead of
rebuilding and rewriting the graph.

Precision: ``TrainingStep(..., precision="bfloat16")`` computes the convolutions with bfloat16
operands (weights, BN, loss and optimizer stay float32); ``"tf32"`` (default) is JAX's default
arithmetic, ``"float32"`` full float32 products (:mod:`yolo_lib.ops.precision`).

Data parallel: ``TrainingStep(..., mesh=data_mesh(n))`` (:mod:`yolo_lib.compilation.parallel`) splits the four
batch inputs over the mesh's devices (:meth:`put` places them so) and replicates all state;
gradients and BN statistics are those of the whole batch, so the weights follow one device's up
to float rounding. ``batch`` must divide by the number of devices. Shared variables then hold
replicated device arrays; ``get_value()`` of them (checkpoints) is read back with ``np.asarray``.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib.compilation import modes
from yolo_lib.compilation.functions import check_float32, enable_jax_cache
from yolo_lib.loss import detection_loss
from yolo_lib.loss.detection_loss import LossGains
from yolo_lib.ops.precision import DEFAULT as DEFAULT_PRECISION
from yolo_lib.compilation.parallel import batch_sharding, check_batch_divides
from yolo_lib.compilation.step_cache import cached_function
from yolo_lib.train.ema import EMA
from yolo_lib.train.optimizer import SGD
from yolo_lib.train.schedule import IterationSettings


def _targets_in_graph(boxes_xyxy, mask, size: int):
    """Loader targets -> the loss's (normalised cx, cy, w, h; bool mask)."""
    xy1, xy2 = boxes_xyxy[..., :2], boxes_xyxy[..., 2:]
    cxcywh = pt.concatenate([(xy1 + xy2) / 2, xy2 - xy1], axis=-1) / np.float32(size)
    return cxcywh, mask > 0


class TrainingStep:
    """The compiled step over ``model`` with optimizer ``sgd`` and ``ema``; see module docstring."""

    def __init__(self, model, sgd: SGD, ema: EMA, batch: int, imgsz: int, max_boxes: int,
                 gains: LossGains = LossGains(), mesh=None, precision: str = DEFAULT_PRECISION):
        check_float32()
        check_batch_divides(batch, mesh)
        enable_jax_cache()
        self.model, self.sgd, self.ema, self.mesh = model, sgd, ema, mesh
        self.shapes = {"images": (batch, 3, imgsz, imgsz), "boxes": (batch, max_boxes, 4),
                       "classes": (batch, max_boxes), "mask": (batch, max_boxes)}
        self.loss_sum = pytensor.shared(np.zeros(3, np.float32), name="log/loss_sum", shape=(3,))
        self.loss_count = pytensor.shared(np.float32(0), name="log/loss_count")
        self.bad_iteration = pytensor.shared(np.int32(-1), name="log/bad_iteration")

        def build():
            images = pt.tensor4("images", dtype="uint8", shape=self.shapes["images"])
            boxes = pt.tensor3("boxes", dtype="float32", shape=self.shapes["boxes"])
            classes = pt.matrix("classes", dtype="int32", shape=self.shapes["classes"])
            mask = pt.matrix("mask", dtype="float32", shape=self.shapes["mask"])
            lr_w, lr_b, mom, decay = (pt.scalar(n, dtype="float32") for n in ("lr_weight", "lr_bias", "momentum", "ema_decay"))
            do_step = pt.scalar("do_step", dtype="bool")
            iteration = pt.scalar("iteration", dtype="int32")

            x = images.astype("float32") / np.float32(255.0)
            out = model.forward(x, train=True)
            gt_boxes, gt_mask = _targets_in_graph(boxes, mask, imgsz)
            loss = detection_loss(out.box, out.cls, gt_boxes, classes, gt_mask, image_hw=(imgsz, imgsz),
                                  strides=model.strides, gains=gains)
            grads = pytensor.grad(loss.total, list(model.params.values()))
            sgd_updates, new_params = sgd.updates(grads, lr_w, lr_b, mom, do_step)
            by_var = {id(v): n for n, v in model.buffers.items()}
            new_values = {**new_params, **{by_var[id(var)]: new for var, new in out.updates}}
            ema_updates = ema.symbolic_updates(new_values, decay, do_step)
            finite = pt.all(pt.isfinite(loss.items))
            log_updates = [
                (self.loss_sum, self.loss_sum + pt.switch(finite, loss.items, pt.zeros_like(loss.items))),
                (self.loss_count, self.loss_count + np.float32(1)),
                (self.bad_iteration, pt.switch(pt.and_(pt.lt(self.bad_iteration, 0), pt.invert(finite)),
                                               iteration, self.bad_iteration)),
            ]
            inputs = [images, boxes, classes, mask, lr_w, lr_b, mom, do_step, decay, iteration]
            return inputs, [], sgd_updates + list(out.updates) + ema_updates + log_updates

        # the graph is a function of these (and of yolo_lib's source, which the cache key adds):
        # a later process (a resumed run, CI, a notebook) loads the compiled program instead
        key = ("TrainingStep", model.scale, model.nc, [(n, p.type.shape) for n, p in model.params.items()],
               batch, imgsz, max_boxes, gains, sgd.weight_decay, sgd.max_grad_norm, sgd.nesterov, modes.REWRITES)
        shared = {v.name: v for v in [*model.params.values(), *model.buffers.values(),
                                      *sgd.momentum_buffers.values(), *sgd.grad_sums.values(), *ema.values.values(),
                                      self.loss_sum, self.loss_count, self.bad_iteration]}
        # the four batch inputs (images, boxes, classes, mask) come first: split over a mesh
        self.function = cached_function(key, build, shared, modes.training(mesh=mesh, batch_inputs=4), precision)

    def put(self, images, boxes, classes, mask) -> tuple:
        """Check shapes and start copying one batch to the device (split over the mesh's
        devices, if any); returns the device arrays."""
        import jax

        arrays = (np.asarray(images, np.uint8), np.asarray(boxes, np.float32),
                  np.asarray(classes, np.int32), np.asarray(mask, np.float32))
        for name, a in zip(("images", "boxes", "classes", "mask"), arrays):
            if a.shape != self.shapes[name]:
                raise ValueError(f"{name} must have shape {self.shapes[name]}, got {a.shape}")
        sharding = batch_sharding(self.mesh)
        return tuple(jax.device_put(a, sharding) for a in arrays)

    def __call__(self, device_batch: tuple, settings: IterationSettings, do_step: bool, ema_decay: float,
                 iteration: int) -> None:
        """Dispatch one iteration on a batch from :meth:`put` (returns without waiting)."""
        f32 = np.float32
        self.function(*device_batch, f32(settings.lr_weight), f32(settings.lr_bias), f32(settings.momentum),
                      np.bool_(do_step), f32(ema_decay), np.int32(iteration))

    def wait(self) -> None:
        """Block until every dispatched call has finished."""
        float(self.loss_count.get_value())  # reading a value the last call wrote waits for it

    def read_losses(self) -> tuple[np.ndarray, int]:
        """(sum of the finite loss items (3,) since the last read, number of iterations); resets."""
        total, count = np.asarray(self.loss_sum.get_value(), np.float64), int(self.loss_count.get_value())
        self.loss_sum.set_value(np.zeros(3, np.float32))
        self.loss_count.set_value(np.float32(0))
        return total, count

    def first_bad_iteration(self) -> int | None:
        """The first iteration whose loss was NaN or infinite, or None."""
        bad = int(self.bad_iteration.get_value())
        return None if bad < 0 else bad
