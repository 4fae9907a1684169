"""The compiled training step: forward, loss, gradient, SGD with accumulation, EMA, on-device logging.

The one step of the project: the Trainer runs it, and so do the parity checks against
Ultralytics' gradients, the tests and the benchmarks. One donating JAX function per (batch,
image size, max boxes), built once::

    step = TrainingStep.from_config(model, cfg, max_boxes=32)     # SGD and EMA from a TrainConfig
    device_batch = step.put(images_u8, boxes, classes, mask)       # the data loader's Batch fields
    step(device_batch, settings, do_step, ema_decay, iteration)    # dispatch; returns at once

    out = step.run(images, targets, lr=0.01)   # one optimizer step, waited for (checks, benchmarks)
    out["total"], out["items"]                 # batch * sum(items); [7.5 box, 0.5 cls, 1.5 dfl]

Inputs, by ``input_format``:

* ``"loader"`` (the default; what the Trainer feeds): ``images`` (B, 3, H, W) uint8 RGB, scaled to
  [0, 1] on the device; ``boxes`` (B, M, 4) float32 xyxy input pixels; ``classes`` (B, M) int32;
  ``mask`` (B, M), nonzero where a slot holds a box (the loader's :class:`~yolo_lib.data.Batch`
  fields, unconverted);
* ``"normalised"`` (the reference tensors of Ultralytics): ``images`` float32 in [0, 1]; ``boxes``
  (cx, cy, w, h) divided by the image width / height, as in :class:`~yolo_lib.loss.DenseTargets`.

Both formats turn into the loss's normalised (cx, cy, w, h) inside the graph
(:func:`loss_targets`), so they run the same loss, gradient and update. Per call also: learning
rates of the weight and bias groups, momentum (inputs, so warm-up and schedules never
recompile), ``do_step`` (an optimizer step this iteration, else only accumulate the gradient:
:class:`~yolo_lib.train.optimizer.SGD`), the EMA decay (no EMA when ``ema`` is None) and the
global iteration. Parameters, BN statistics, optimizer state, EMA and the loss accumulators are
shared variables updated in place (donated buffers); the call returns the loss total and items
(and with ``return_gradients=True`` the raw gradient of every parameter, before clipping and
weight decay) as device arrays without waiting for them, so the host never waits for the device.
:meth:`read_losses` reads (and resets) the accumulated loss items every N iterations;
:meth:`first_bad_iteration` names the first iteration whose loss was not finite. :meth:`put`
starts the host-to-device copy of a batch, so the loop transfers the next batch while the
current step runs.

The compiled program is kept across processes by :func:`yolo_lib.compilation.step_cache.cached_function`
(keyed by the shapes, input format, outputs, loss gains, optimizer constants, the number of
devices and yolo_lib's source): a resumed run, a notebook after a restart or CI loads it in a
second instead of rebuilding and rewriting the graph.

Precision: ``TrainingStep(..., precision="bfloat16")`` computes the convolutions with bfloat16
operands (weights, BN, loss and optimizer stay float32); ``"tf32"`` (default) is JAX's default
arithmetic, ``"float32"`` full float32 products (:mod:`yolo_lib.ops.precision`).

Data parallel: ``TrainingStep(..., mesh=data_mesh(n))`` (:mod:`yolo_lib.compilation.parallel`)
splits the four batch inputs over the mesh's devices (:meth:`put` places them so) and replicates
all state; gradients and BN statistics are those of the whole batch, so the weights follow one
device's up to float rounding. ``batch`` must divide by the number of devices. Shared variables
then hold replicated device arrays; ``get_value()`` of them (checkpoints) is read back with
``np.asarray``.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib.compilation import modes
from yolo_lib.compilation.functions import check_float32, enable_jax_cache
from yolo_lib.compilation.parallel import batch_sharding, check_batch_divides
from yolo_lib.compilation.step_cache import cached_function
from yolo_lib.loss import DenseTargets, detection_loss
from yolo_lib.loss.detection_loss import LossGains
from yolo_lib.ops.precision import DEFAULT as DEFAULT_PRECISION
from yolo_lib.train.config import TrainConfig
from yolo_lib.train.ema import EMA
from yolo_lib.train.optimizer import SGD
from yolo_lib.train.schedule import IterationSettings

#: ``input_format`` -> dtypes of the four batch inputs (images, boxes, classes, mask) in the graph.
INPUT_FORMATS = {
    "loader": ("uint8", "float32", "int32", "float32"),
    "normalised": ("float32", "float32", "int32", "float32"),
}
BATCH_INPUTS = ("images", "boxes", "classes", "mask")


def loss_targets(boxes, mask, image_hw: tuple[int, int], input_format: str):
    """Symbolic batch targets -> the loss's (normalised cx, cy, w, h (B, M, 4); bool mask (B, M)).
    ``"loader"`` boxes are xyxy input pixels; ``"normalised"`` boxes are already the loss's."""
    if input_format == "loader":
        h, w = image_hw
        xy1, xy2 = boxes[..., :2], boxes[..., 2:]
        scale = np.array([w, h, w, h], np.float32)
        boxes = pt.concatenate([(xy1 + xy2) / 2, xy2 - xy1], axis=-1) / scale
    return boxes, mask > 0


def check_targets(targets, batch_size: int, max_boxes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes float32, classes int32, mask float32) from :class:`DenseTargets` or such a tuple, with
    the shapes (B, M, 4), (B, M), (B, M) a compiled step expects."""
    boxes, classes, mask = targets.as_inputs() if isinstance(targets, DenseTargets) else targets
    boxes, classes, mask = np.asarray(boxes, np.float32), np.asarray(classes), np.asarray(mask)
    want = (batch_size, max_boxes)
    if boxes.shape != (*want, 4) or classes.shape != want or mask.shape != want:
        raise ValueError(f"targets must be packed as boxes {(*want, 4)}, classes {want}, mask {want} "
                         f"(batch_size, max_boxes); got {boxes.shape}, {classes.shape}, {mask.shape}")
    return boxes, classes.astype(np.int32), mask.astype(np.float32)


class TrainingStep:
    """The compiled step over ``model`` with optimizer ``sgd`` and ``ema`` (None: no EMA); see
    module docstring. ``imgsz``: the image size, an int (square) or (H, W)."""

    def __init__(self, model, sgd: SGD, ema: EMA | None, batch: int, imgsz: int | tuple[int, int], max_boxes: int,
                 gains: LossGains = LossGains(), mesh=None, precision: str = DEFAULT_PRECISION,
                 input_format: str = "loader", return_gradients: bool = False):
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {sorted(INPUT_FORMATS)}, got {input_format!r}")
        check_float32()
        check_batch_divides(batch, mesh)
        enable_jax_cache()
        self.model, self.sgd, self.ema, self.mesh = model, sgd, ema, mesh
        self.input_format, self.return_gradients = input_format, return_gradients
        self.batch, self.max_boxes = int(batch), int(max_boxes)
        self.image_hw = (int(imgsz), int(imgsz)) if np.ndim(imgsz) == 0 else tuple(int(s) for s in imgsz)
        self.shapes = {"images": (self.batch, 3, *self.image_hw), "boxes": (self.batch, self.max_boxes, 4),
                       "classes": (self.batch, self.max_boxes), "mask": (self.batch, self.max_boxes)}
        self.dtypes = dict(zip(BATCH_INPUTS, INPUT_FORMATS[input_format]))
        self.loss_sum = pytensor.shared(np.zeros(3, np.float32), name="log/loss_sum", shape=(3,))
        self.loss_count = pytensor.shared(np.float32(0), name="log/loss_count")
        self.bad_iteration = pytensor.shared(np.int32(-1), name="log/bad_iteration")

        def build():
            images, boxes, classes, mask = (pt.tensor(name=n, dtype=self.dtypes[n], shape=self.shapes[n]) for n in BATCH_INPUTS)
            lr_w, lr_b, mom = (pt.scalar(n, dtype="float32") for n in ("lr_weight", "lr_bias", "momentum"))
            do_step = pt.scalar("do_step", dtype="bool")
            iteration = pt.scalar("iteration", dtype="int32")

            x = images.astype("float32") / np.float32(255.0) if input_format == "loader" else images
            out = model.forward(x, train=True)
            gt_boxes, gt_mask = loss_targets(boxes, mask, self.image_hw, input_format)
            loss = detection_loss(out.box, out.cls, gt_boxes, classes, gt_mask, image_hw=self.image_hw,
                                  strides=model.strides, gains=gains)
            grads = pytensor.grad(loss.total, list(model.params.values()))
            sgd_updates, new_params = sgd.updates(grads, lr_w, lr_b, mom, do_step)
            updates = sgd_updates + list(out.updates)
            inputs = [images, boxes, classes, mask, lr_w, lr_b, mom, do_step]
            if ema is not None:
                decay = pt.scalar("ema_decay", dtype="float32")
                by_var = {id(v): n for n, v in model.buffers.items()}
                new_values = {**new_params, **{by_var[id(var)]: new for var, new in out.updates}}
                updates += ema.symbolic_updates(new_values, decay, do_step)
                inputs.append(decay)
            finite = pt.all(pt.isfinite(loss.items))
            updates += [
                (self.loss_sum, self.loss_sum + pt.switch(finite, loss.items, pt.zeros_like(loss.items))),
                (self.loss_count, self.loss_count + np.float32(1)),
                (self.bad_iteration, pt.switch(pt.and_(pt.lt(self.bad_iteration, 0), pt.invert(finite)),
                                               iteration, self.bad_iteration)),
            ]
            outputs = [loss.total, loss.items] + (grads if return_gradients else [])
            return [*inputs, iteration], outputs, updates

        # the graph is a function of these (and of yolo_lib's source, which the cache key adds):
        # a later process (a resumed run, CI, a notebook) loads the compiled program instead
        key = ("TrainingStep", model.scale, model.nc, [(n, p.type.shape) for n, p in model.params.items()],
               self.batch, self.image_hw, self.max_boxes, input_format, return_gradients, ema is not None, gains,
               sgd.weight_decay, sgd.max_grad_norm, sgd.nesterov, modes.REWRITES)
        state = [*model.params.values(), *model.buffers.values(), *sgd.momentum_buffers.values(),
                 *sgd.grad_sums.values(), *(ema.values.values() if ema is not None else ()),
                 self.loss_sum, self.loss_count, self.bad_iteration]
        # the four batch inputs (images, boxes, classes, mask) come first: split over a mesh
        self.function = cached_function(key, build, {v.name: v for v in state},
                                        modes.training(mesh=mesh, batch_inputs=len(BATCH_INPUTS)), precision)

    @classmethod
    def from_config(cls, model, cfg: TrainConfig, max_boxes: int, mesh=None, **options) -> "TrainingStep":
        """The step of a training run: SGD and EMA of ``model`` with ``cfg``'s settings (scaled weight
        decay, clipping, EMA decay and tau), its loss gains, batch, image size and precision."""
        sgd = SGD(model.params, cfg.scaled_weight_decay, cfg.max_grad_norm)
        ema = EMA({**model.params, **model.buffers}, cfg.ema_decay, cfg.ema_tau)
        return cls(model, sgd, ema, cfg.batch, cfg.imgsz, max_boxes, LossGains(cfg.box, cfg.cls, cfg.dfl),
                   mesh=mesh, precision=cfg.precision, **options)

    def put(self, images, boxes, classes, mask) -> tuple:
        """Check shapes and start copying one batch to the device (split over the mesh's
        devices, if any); returns the device arrays."""
        import jax

        arrays = [np.asarray(a, self.dtypes[n]) for n, a in zip(BATCH_INPUTS, (images, boxes, classes, mask))]
        for name, a in zip(BATCH_INPUTS, arrays):
            if a.shape != self.shapes[name]:
                raise ValueError(f"{name} must have shape {self.shapes[name]}, got {a.shape}")
        sharding = batch_sharding(self.mesh)
        return tuple(jax.device_put(a, sharding) for a in arrays)

    def __call__(self, device_batch: tuple, settings: IterationSettings, do_step: bool, ema_decay: float,
                 iteration: int) -> list:
        """Dispatch one iteration on a batch from :meth:`put` (returns without waiting): the outputs
        as device arrays (loss total, items, then the gradients if asked for). An optimizer step
        (``do_step``) is counted in ``sgd.last_step``, ``sgd.steps`` and ``ema.updates``."""
        f32 = np.float32
        scalars = [f32(settings.lr_weight), f32(settings.lr_bias), f32(settings.momentum), np.bool_(do_step)]
        if self.ema is not None:
            scalars.append(f32(ema_decay))
        outputs = self.function(*device_batch, *scalars, np.int32(iteration))
        if do_step:
            self.sgd.last_step, self.sgd.steps = iteration, self.sgd.steps + 1
            if self.ema is not None:
                self.ema.updates += 1
        return outputs

    def run(self, images, targets, lr: float, bias_lr: float | None = None,
            momentum: float = TrainConfig.momentum) -> dict:
        """One optimizer step on ``images`` and ``targets`` (a :class:`DenseTargets` or the tuple
        (boxes (B, M, 4), classes (B, M), mask (B, M)) in this step's input format), waited for.
        Returns ``total`` (float), ``items`` (3,) and, with ``return_gradients``, ``gradients``
        (dict name -> array, unclipped, before weight decay)."""
        boxes, classes, mask = check_targets(targets, self.batch, self.max_boxes)
        device_batch = self.put(images, boxes, classes, mask)
        settings = IterationSettings(lr, lr if bias_lr is None else bias_lr, momentum, 1)
        decay = self.ema.decay(self.ema.updates + 1) if self.ema is not None else 0.0
        total, items, *grads = self(device_batch, settings, True, decay, self.sgd.steps)
        out = {"total": float(total), "items": np.asarray(items)}
        if self.return_gradients:
            out["gradients"] = {n: np.asarray(g) for n, g in zip(self.model.params, grads)}
        return out

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
