"""Checks for the notebooks' exercises: each compares an attendee's function with ``yolo_lib``.

Every exercise in notebooks 01-08 has three cells: a stub the attendee fills in (it raises
``NotImplementedError`` until then), a hidden solution, and ``run_exercise(check, attempt,
solution)``. A check calls the function on fixed inputs and returns a :class:`Result` whose
message says exactly what is wrong: the shape, the worst element and by how much. While the
attempt is still the stub, ``run_exercise`` says so and checks the hidden solution instead,
so a notebook run by CI exercises every solution. Where a common mistake is known, a FAIL adds a
second line, ``hint: ...``, when the attempt's output is the one that mistake gives.

Checks (notebook · function the attendee writes):

* 01 :func:`check_bn_backward` · ``fn(g, x, gamma, eps) -> (dx, dgamma, dbeta)``, numpy
* 02 :func:`check_conv_output_shape` · ``fn(x_shape, w_shape, stride, padding, dilation, groups)``
* 02 :func:`check_jax_conv` · ``fn(x, w, stride, padding, groups)`` with ``jax.lax``
* 03 :func:`check_c3k2_forward` · ``fn(block, x, ctx)``, symbolic PyTensor
* 04 :func:`check_attention` · ``fn(attn, x, ctx)``, symbolic PyTensor
* 05 :func:`check_dfl_decode` · ``fn(box_logits, anchors, strides) -> boxes``, numpy
* 06 :func:`check_layer_sources` · ``fn(index, src) -> tuple of absolute layer indices``
* 07 :func:`check_ciou` · ``fn(box1, box2) -> ciou``, numpy
* 07 :func:`check_alignment` · ``fn(scores, ious, gt_labels, candidates) -> align``, numpy
* 08 :func:`check_letterbox_params` · ``fn(width, height, size) -> (new_w, new_h, left, top)``
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Result:
    """Outcome of one check: ``ok``; ``stub`` when the function raised NotImplementedError."""

    ok: bool
    message: str
    stub: bool = False
    hint: str = ""

    def __str__(self) -> str:
        verdict = ("PASS: " if self.ok else "FAIL: ") + self.message
        return verdict + (f"\n  hint: {self.hint}" if self.hint else "")


def matches(got, want, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """``got`` has ``want``'s shape and values (within rtol/atol)."""
    return mismatch("x", got, want, rtol, atol) is None


def with_hint(result: Result, known_mistakes) -> Result:
    """``result`` with the hint of the first known mistake whose test holds, when it is a FAIL.

    ``known_mistakes``: (test, hint) pairs; ``test()`` says whether the attempt's output is the
    one that mistake gives (a test that raises counts as no).
    """
    if result.ok or result.stub:
        return result
    for test, hint in known_mistakes:
        try:
            hit = bool(test())
        except Exception:  # the attempt's output does not even fit the mistake's shape
            hit = False
        if hit:
            return replace(result, hint=hint)
    return result


def mismatch(name: str, got, want, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """None when ``got`` matches ``want``; else one sentence naming the shape, or the first wrong
    element, by how much, how many are wrong and the worst."""
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        transposed = " (transposed?)" if got.shape == want.shape[::-1] and got.ndim > 1 else ""
        return f"{name} has shape {got.shape}, expected {want.shape}{transposed}"
    if want.dtype == bool or np.issubdtype(want.dtype, np.integer):
        bad = got != want
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            return f"{name}[{idx}] is {got[idx]}, expected {want[idx]} ({int(bad.sum())} of {bad.size} differ)"
        return None
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    if not np.isfinite(got64).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(got64))[0])
        return f"{name}[{idx}] is {got64[idx]} (not finite), expected {want64[idx]:.6g}"
    err = np.abs(got64 - want64)
    bad = err > atol + rtol * np.abs(want64)
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
    return (f"{name}[{idx}] is {got64[idx]:.6g}, expected {want64[idx]:.6g} (off by {err[idx]:.3g}); "
            f"{int(bad.sum())} of {bad.size} elements outside rtol={rtol:g}, atol={atol:g}, "
            f"the worst off by {err[worst]:.3g} at {worst}")


def _compare(what: str, pairs) -> Result:
    """PASS when every (name, got, want[, rtol, atol]) matches, else FAIL with the first problem."""
    for name, got, want, *tol in pairs:
        problem = mismatch(name, got, want, *tol)
        if problem:
            return Result(False, f"{what}: {problem}")
    return Result(True, what)


def _call(fn, *args):
    """Call the attendee's function; a stub (NotImplementedError) or a crash becomes a Result."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, Result(False, "still the stub (raises NotImplementedError)", stub=True)
    except Exception as err:  # the attendee's code crashed: report it in one line
        return None, Result(False, f"your function raised {type(err).__name__}: {err}")


def run_exercise(check, attempt, solution) -> Result:
    """Check ``attempt``; while it is the stub, say so and check the hidden ``solution``.

    Prints the verdict. Raises AssertionError only if the hidden solution fails (a bug in the
    notebook, which CI must catch); a wrong attempt prints FAIL and returns its Result.
    """
    result = check(attempt)
    if not result.stub:
        print(result)
        return result
    print("Your cell still holds the stub: fill it in and run this cell again.")
    reference = check(solution)
    print(f"The hidden solution (expand the cell above to read it): {reference}")
    assert reference.ok, reference.message
    return reference


# --- 01 BatchNorm backward ----------------------------------------------------------------


@lru_cache(maxsize=None)
def _bn_case():
    """Inputs and the Op's gradients (dx, dgamma), computed once per process."""
    import pytensor
    import pytensor.tensor as pt

    from yolo_lib.compilation.functions import MODE
    from yolo_lib.ops import batch_norm_train

    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3, 2, 4, 5)) * 1.5 + 0.3).astype(np.float32)
    gamma = rng.normal(size=2).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    xs = pt.tensor("x", dtype="float32", shape=x.shape)
    gs = pt.tensor("gamma", dtype="float32", shape=gamma.shape)
    y = batch_norm_train(xs, gs, pt.zeros_like(gs), eps=1e-3)[0]
    want = pytensor.function([xs, gs], pytensor.grad((y * g).sum(), [xs, gs]), mode=MODE)(x, gamma)
    return g, x, gamma, [np.asarray(w) for w in want]


def check_bn_backward(fn) -> Result:
    """``fn(g, x, gamma, eps)`` numpy (N, C, H, W) → (dx, dgamma, dbeta) of training-mode BN,
    compared with the gradient of ``yolo_lib.ops.batch_norm_train`` (its hand-written Op)."""
    g, x, gamma, want = _bn_case()
    got, failed = _call(fn, g, x, gamma, 1e-3)
    if failed:
        return failed
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return Result(False, "return a tuple (dx, dgamma, dbeta)")
    result = _compare("BatchNorm backward matches the Op's gradient",
                      [("dx", got[0], want[0]), ("dgamma", got[1], want[1]), ("dbeta", got[2], g.sum(axis=(0, 2, 3)))])
    inv_std = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-3)
    return with_hint(result, [
        (lambda: matches(got[0], g * gamma[None, :, None, None] * inv_std),
         "dx = g * gamma / sigma is the eval-mode gradient: in training mode the batch mean and variance "
         "depend on x too, which adds the terms - mean(dxhat) - xhat * mean(dxhat * xhat)"),
        (lambda: np.shape(got[1]) != gamma.shape or np.shape(got[2]) != gamma.shape,
         "dgamma and dbeta have one value per channel: sum over the batch and both spatial axes (0, 2, 3)"),
    ])


# --- 02 Conv Op: output shape and JAX lowering ---------------------------------------------

CONV_SHAPE_CASES = (  # x_shape, w_shape, stride, padding, dilation, groups
    ((2, 3, 32, 32), (16, 3, 3, 3), 2, 1, 1, 1),
    ((1, 8, 7, 9), (4, 8, 3, 3), 2, 1, 1, 1),
    ((1, 8, 10, 10), (8, 1, 3, 3), 1, 1, 1, 8),
    ((1, 4, 11, 11), (4, 4, 3, 3), 1, 0, 2, 1),
    ((1, 4, 9, 12), (6, 2, 5, 3), (2, 3), ((2, 1), (0, 3)), 1, 2),
)


def check_conv_output_shape(fn) -> Result:
    """``fn(x_shape, w_shape, stride, padding, dilation, groups)`` → output shape tuple, compared
    with the static shape ``yolo_lib.ops.conv2d`` infers (stride/padding as Conv2d accepts them)."""
    import pytensor.tensor as pt

    from yolo_lib.ops import conv2d

    for x_shape, w_shape, stride, padding, dilation, groups in CONV_SHAPE_CASES:
        x = pt.tensor(dtype="float32", shape=x_shape)
        w = pt.tensor(dtype="float32", shape=w_shape)
        want = tuple(conv2d(x, w, stride, padding, dilation, groups).type.shape)
        got, failed = _call(fn, x_shape, w_shape, stride, padding, dilation, groups)
        if failed:
            return failed
        if tuple(int(v) for v in got) != want:
            result = Result(False, f"x {x_shape}, w {w_shape}, stride {stride}, padding {padding}, "
                                   f"dilation {dilation}, groups {groups}: you return {tuple(got)}, expected {want}")
            return with_hint(result, [
                (lambda: dilation != 1 and tuple(got[2:]) == _conv_spatial(x_shape, w_shape, stride, padding, 1),
                 "dilation d spreads the kernel: its span is d * (k - 1) + 1, not k"),
                (lambda: tuple(got[:2]) != want[:2],
                 "the first two dimensions are the batch (x_shape[0]) and the output channels (w_shape[0])"),
            ])
    return Result(True, f"output shapes agree with Conv2d on {len(CONV_SHAPE_CASES)} cases")


def _conv_spatial(x_shape, w_shape, stride, padding, dilation) -> tuple[int, int]:
    """The output height and width of a convolution (used to recognise mistakes)."""
    strides = (stride, stride) if isinstance(stride, int) else stride
    pads = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    return tuple((n + p0 + p1 - dilation * (k - 1) - 1) // s + 1
                 for n, k, s, (p0, p1) in zip(x_shape[2:], w_shape[2:], strides, pads))


@lru_cache(maxsize=None)
def _jax_conv_cases():
    """(x, w, stride, padding, groups, Conv2d output) for two cases, computed once."""
    import pytensor

    from yolo_lib.compilation.functions import MODE
    from yolo_lib.ops import conv2d

    rng = np.random.default_rng(2)
    cases = []
    for (n, c, h, w_), (o, k), stride, padding, groups in (((1, 4, 9, 8), (6, 3), 2, 1, 2), ((2, 3, 6, 6), (5, 1), 1, 0, 1)):
        x = rng.normal(size=(n, c, h, w_)).astype(np.float32)
        w = rng.normal(size=(o, c // groups, k, k)).astype(np.float32)
        want = np.asarray(pytensor.function([], conv2d(x, w, stride, padding, 1, groups), mode=MODE)())
        cases.append((x, w, stride, padding, groups, want))
    return cases


def check_jax_conv(fn) -> Result:
    """``fn(x, w, stride, padding, groups)`` (numpy NCHW / OIHW, symmetric int padding) written
    with ``jax.lax``, compared with ``yolo_lib.ops.conv2d`` compiled to JAX."""
    for x, w, stride, padding, groups, want in _jax_conv_cases():
        got, failed = _call(fn, x, w, stride, padding, groups)
        if failed:
            return failed
        result = _compare(f"stride {stride}, padding {padding}, groups {groups}", [("y", got, want)])
        if not result.ok:
            return with_hint(result, [
                (lambda: np.shape(got)[2:] != want.shape[2:] or matches(got, _same_padded(x, w, stride, groups)),
                 "pad explicitly, ((padding, padding), (padding, padding)): 'SAME' pads by the output size "
                 "(and unevenly when the stride is 2), not by `padding` on every side"),
                (lambda: np.shape(got)[1] != want.shape[1],
                 "the output has w.shape[0] channels: pass feature_group_count=groups and "
                 "dimension_numbers=('NCHW', 'OIHW', 'NCHW')"),
            ])
    return Result(True, "your jax.lax convolution matches the Conv2d Op (stride, padding, groups)")


def _same_padded(x, w, stride, groups) -> np.ndarray:
    """The convolution with padding="SAME" (used to recognise that mistake)."""
    import jax

    return np.asarray(jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME", feature_group_count=groups,
                                                   dimension_numbers=("NCHW", "OIHW", "NCHW")))


# --- 03/04 blocks, compared symbolically ----------------------------------------------------


def _seeded(block, seed: int):
    """Give ``block`` random weights and BN statistics (so that no mistake hides behind 0 or 1)."""
    rng = np.random.default_rng(seed)
    block.reset_parameters(rng)
    for name, var in [*block.named_parameters(), *block.named_buffers()]:
        shape = var.type.shape
        if name.endswith("running_var"):
            var.set_value(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        elif name.endswith(("running_mean", "bn.bias", "bn.weight")):
            var.set_value((rng.normal(size=shape) * 0.3 + (1.0 if name.endswith("bn.weight") else 0.0)).astype(np.float32))
    return block


@lru_cache(maxsize=None)
def _block_case(kind: str):
    """(block with random weights, input, yolo_lib's output) for "c3k2" or "attention", once."""
    from yolo_lib.compilation.functions import block_function
    from yolo_lib.nn import C3k2, Attention

    if kind == "c3k2":
        block = _seeded(C3k2(8, 16, n=2, c3k=False, e=0.5), 3)
        x = np.random.default_rng(4).normal(size=(1, 8, 6, 5)).astype(np.float32)
    else:
        block = _seeded(Attention(32, num_heads=2, attn_ratio=0.5), 5)
        x = np.random.default_rng(6).normal(size=(2, 32, 3, 4)).astype(np.float32)
    return block, x, block_function(block, [x.shape])(x)


BLOCK_HINTS = {
    "c3k2": "cv1's output is split in two; each bottleneck takes the newest piece (pieces[-1]) and "
            "appends its output; cv2 gets all pieces concatenated on the channel axis",
    "attention": "after the softmax, out = v @ attn^T reshaped to (B, C, H, W), plus the positional "
                 "conv pe(v) on v as an image, then proj",
}


def _block_check(what: str, kind: str, fn) -> Result:
    from yolo_lib.compilation.functions import block_function

    block, x, want = _block_case(kind)
    try:
        got = block_function(block, [x.shape], outputs=lambda m, xs, ctx: [fn(m, xs, ctx)])(x)
    except NotImplementedError:
        return Result(False, "still the stub (raises NotImplementedError)", stub=True)
    except Exception as err:
        return Result(False, f"building or running your graph raised {type(err).__name__}: {err}")
    result = _compare(what, [("output", got, want)])
    return with_hint(result, [(lambda: np.shape(got) == want.shape, BLOCK_HINTS[kind])])


def check_c3k2_forward(fn) -> Result:
    """``fn(block, x, ctx)`` → C3k2 output (symbolic), on C3k2(8, 16, n=2) with random weights."""
    return _block_check("C3k2(8, 16, n=2) forward matches yolo_lib", "c3k2", fn)


def check_attention(fn) -> Result:
    """``fn(attn, x, ctx)`` → Attention output (symbolic), on Attention(32, 2 heads), H != W."""
    return _block_check("Attention(32, heads=2) forward matches yolo_lib", "attention", fn)


# --- 05 DFL decoding ---------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _dfl_case():
    """Logits (2, 64, 21), anchors, strides and yolo_lib's decoded boxes, computed once."""
    import pytensor
    import pytensor.tensor as pt

    from yolo_lib.compilation.functions import MODE
    from yolo_lib.geometry import dfl_distances, make_anchors
    from yolo_lib.nn import dist2bbox_xywh

    anchors, strides = make_anchors(shapes=[(4, 4), (2, 2), (1, 1)])
    strides = strides[:, 0]
    logits = (np.random.default_rng(7).normal(size=(2, 64, len(anchors))) * 2).astype(np.float32)
    boxes = dist2bbox_xywh(dfl_distances(pt.constant(logits)), pt.constant(anchors.T.copy())) * strides[None, None, :]
    return logits, anchors, strides, np.asarray(pytensor.function([], boxes, mode=MODE)())


def check_dfl_decode(fn) -> Result:
    """``fn(box_logits (B, 64, A), anchors (A, 2), strides (A,))`` numpy → boxes (B, 4, A)
    (cx, cy, w, h in pixels), compared with ``yolo_lib.nn.dfl`` compiled to JAX."""
    logits, anchors, strides, want = _dfl_case()
    got, failed = _call(fn, logits, anchors, strides)
    if failed:
        return failed
    result = _compare("DFL decoding matches yolo_lib (boxes cx, cy, w, h in px)", [("boxes", got, want, 1e-4, 1e-3)])
    corners = np.concatenate([want[:, :2] - want[:, 2:] / 2, want[:, :2] + want[:, 2:] / 2], axis=1)
    return with_hint(result, [
        (lambda: matches(got, corners, 1e-4, 1e-3), "those are the corners x1, y1, x2, y2: return the centre "
         "and size, cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, w = x2 - x1, h = y2 - y1"),
        (lambda: matches(np.asarray(got) * strides, want, 1e-4, 1e-3),
         "the distances are in grid cells of each level: multiply the boxes by the anchors' strides"),
        (lambda: matches(got, want * strides, 1e-4, 1e-3), "the boxes are multiplied by the stride twice"),
    ])


# --- 06 routing -----------------------------------------------------------------------------------


def check_layer_sources(fn) -> Result:
    """``fn(index, src)`` → absolute input indices (tuple; -1 = the image) for every yolo11.yaml
    layer, compared with the model's own ``layer_info``."""
    from yolo_lib.model import YOLO11_LAYERS, build_yolo11

    model = build_yolo11("n", nc=2, init=False)
    for info, (src, *_rest) in zip(model.layer_info, YOLO11_LAYERS):
        got, failed = _call(fn, info.index, src)
        if failed:
            return failed
        if tuple(got) != tuple(info.sources):
            result = Result(False, f"layer {info.index} (from={src}): you return {tuple(got)}, "
                                   f"expected {tuple(info.sources)}")
            return with_hint(result, [(lambda: -1 in tuple(got),
                                       "-1 means the previous layer, index - 1, also inside a list such as [-1, 6]")])
    return Result(True, f"the inputs of all {len(YOLO11_LAYERS)} layers are right")


# --- 07 loss pieces -----------------------------------------------------------------------------


def _box_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Pairs of xyxy boxes in px: overlapping, nested, disjoint, identical, different aspects."""
    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 100, (40, 2))
    wh = rng.uniform(2, 60, (40, 2))
    b1 = np.concatenate([xy, xy + wh], 1)
    xy2 = xy + rng.normal(0, 20, (40, 2))
    wh2 = wh * rng.uniform(0.3, 2.5, (40, 2))
    b2 = np.concatenate([xy2, xy2 + wh2], 1)
    b2[0] = b1[0]  # identical
    b2[1] = b1[1] + np.array([200, 0, 200, 0])  # disjoint
    return b1.astype(np.float32), b2.astype(np.float32)


@lru_cache(maxsize=None)
def _ciou_case():
    """40 box pairs and yolo_lib's CIoU of each, computed once."""
    import pytensor

    from yolo_lib.compilation.functions import MODE
    from yolo_lib.loss.boxes import ciou

    b1, b2 = _box_pairs()
    return b1, b2, np.asarray(pytensor.function([], ciou(b1, b2), mode=MODE)())


def check_ciou(fn) -> Result:
    """``fn(box1 (N, 4), box2 (N, 4))`` xyxy numpy → CIoU (N,), compared with
    ``yolo_lib.loss.boxes.ciou`` (eps 1e-7 as Ultralytics) on 40 pairs."""
    b1, b2, want = _ciou_case()
    got, failed = _call(fn, b1, b2)
    if failed:
        return failed
    result = _compare("CIoU matches yolo_lib.loss.boxes.ciou", [("ciou", got, want, 1e-4, 1e-5)])
    return with_hint(result, [
        (lambda: matches(got, _plain_iou(b1, b2), 1e-4, 1e-5),
         "that is plain IoU: CIoU subtracts the centre term rho^2 / c^2 and the aspect term v * alpha"),
        (lambda: np.all(np.asarray(got) >= -1e-6) and np.any(want < 0),
         "CIoU is negative for boxes far apart: the centre term rho^2 / c^2 keeps growing where IoU is 0"),
    ])


def _plain_iou(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """IoU of xyxy box pairs (used to recognise the mistake of returning it as CIoU)."""
    iw = np.clip(np.minimum(b1[:, 2], b2[:, 2]) - np.maximum(b1[:, 0], b2[:, 0]), 0, None)
    ih = np.clip(np.minimum(b1[:, 3], b2[:, 3]) - np.maximum(b1[:, 1], b2[:, 1]), 0, None)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    return iw * ih / (area1 + area2 - iw * ih)


@lru_cache(maxsize=None)
def _alignment_case():
    """64 anchors on an 8x8 grid (px), 3 classes, 3 gts: inputs and the assigner's align."""
    import pytensor
    import pytensor.tensor as pt

    from yolo_lib.compilation.functions import MODE
    from yolo_lib.loss.assigner import assign, candidates_in_gts
    from yolo_lib.loss.boxes import ciou

    rng = np.random.default_rng(9)
    points = np.stack(np.meshgrid(np.arange(4, 64, 8.0), np.arange(4, 64, 8.0)), -1).reshape(-1, 2).astype(np.float32)
    a, c = len(points), 3
    scores = rng.uniform(0.01, 0.99, (1, a, c)).astype(np.float32)
    pd_boxes = np.concatenate([points - rng.uniform(2, 20, (a, 2)), points + rng.uniform(2, 20, (a, 2))], 1)[None].astype(np.float32)
    gt_boxes = np.array([[[5, 5, 40, 30], [30, 20, 60, 62], [10, 40, 18, 46]]], np.float32)
    labels = np.array([[0, 2, 1]], np.int32)
    mask = np.ones((1, 3), bool)
    sym = [pt.as_tensor_variable(v) for v in (scores, pd_boxes, points, labels, gt_boxes, mask)]
    res = assign(*sym, num_classes=c)
    cand = candidates_in_gts(sym[2], sym[4], sym[5]) & sym[5][:, :, None]
    ious = ciou(sym[4][:, :, None, :], sym[1][:, None, :, :])
    want, cand_v, ious_v = pytensor.function([], [res.align, cand, ious], mode=MODE)()
    return scores[0], np.asarray(ious_v)[0], labels[0], np.asarray(cand_v)[0], np.asarray(want)[0]


def check_alignment(fn) -> Result:
    """``fn(scores (A, C), ious (M, A), gt_labels (M,), candidates (M, A))`` numpy → the
    alignment metric (M, A), compared with ``align`` of ``yolo_lib.loss.assigner.assign``.

    ``ious`` is the raw CIoU of every (gt, predicted box) pair (may be negative).
    """
    scores, ious, labels, candidates, want = _alignment_case()
    got, failed = _call(fn, scores, ious, labels, candidates)
    if failed:
        return failed
    result = _compare("alignment metric matches the assigner's", [("align", got, want, 1e-4, 1e-9)])
    class_scores = scores[:, labels].T
    return with_hint(result, [
        (lambda: matches(got, np.where(candidates, class_scores ** 0.5 * ious.astype(np.float64) ** 6, 0.0), 1e-4, 1e-9),
         "clamp the CIoU at 0 before the 6th power: a negative CIoU to an even power looks like a good overlap"),
        (lambda: matches(got, class_scores ** 0.5 * np.clip(ious, 0, None) ** 6, 1e-4, 1e-9),
         "set the metric to 0 where the anchor is not a candidate of the gt"),
        (lambda: matches(got, np.where(candidates, scores[:, :len(labels)].T ** 0.5 * np.clip(ious, 0, None) ** 6, 0.0),
                         1e-4, 1e-9),
         "s is the score of each gt's own class: scores[:, gt_labels].T, not the first M columns"),
    ])


# --- 08 letterbox ---------------------------------------------------------------------------------


def check_letterbox_params(fn) -> Result:
    """``fn(width, height, size)`` → (new_w, new_h, left, top), compared with
    ``yolo_lib.data.letterbox.letterbox_params`` on landscape, portrait, square and odd sizes."""
    from yolo_lib.data.letterbox import letterbox_params

    for width, height, size in ((640, 480, 320), (480, 640, 320), (500, 500, 320), (333, 101, 128), (101, 333, 128), (1000, 10, 64)):
        p = letterbox_params(width, height, size)
        want = (p.new_w, p.new_h, p.left, p.top)
        got, failed = _call(fn, width, height, size)
        if failed:
            return failed
        if tuple(int(v) for v in got) != want:
            result = Result(False, f"image {width}x{height} into {size}: you return (new_w, new_h, left, top) = "
                                   f"{tuple(got)}, expected {want}")
            return with_hint(result, [
                (lambda: tuple(got[:2]) == want[:2] and tuple(got[2:]) == (0, 0),
                 "the image is centred: left = round(dw - 0.1) with dw = (size - new_w) / 2, top likewise"),
                (lambda: tuple(got[:2]) == want[:2] and all(abs(int(g) - w) <= 1 for g, w in zip(got[2:], want[2:])),
                 "one pixel off: round(dw - 0.1) puts an odd padding pixel on the right or bottom"),
                (lambda: tuple(got[:2]) == want[:2][::-1], "new_w and new_h are swapped"),
            ])
    return Result(True, "letterbox geometry matches yolo_lib on 6 image sizes")
