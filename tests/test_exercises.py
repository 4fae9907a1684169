"""Every exercise check fails on the stub and on a subtly wrong answer, and passes on the
notebook's own hidden solution (read from the notebook's percent-format source)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yolo_lib.notebook import exercises as ex

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def solution_cells(notebook: str) -> dict:
    """Run the cells tagged ``solution`` of ``notebooks/<notebook>.py``; return their names."""
    namespace: dict = {}
    cells = (NOTEBOOKS / f"{notebook}.py").read_text().split("\n# %%")
    code = [c.split("\n", 1)[1] for c in cells if c.split("\n", 1)[0].find('tags=["solution"]') >= 0]
    assert code, f"no solution cell in {notebook}"
    for source in code:
        exec(compile(source, f"{notebook}:solution", "exec"), namespace)
    return namespace


def stub(*args):
    raise NotImplementedError("exercise")


# --- subtly wrong answers, one per check ---------------------------------------------------------


def bn_inference_formula(g, x, gamma, eps):  # forgets that μ and σ² depend on the batch
    xhat = (x - x.mean((0, 2, 3), keepdims=True)) / np.sqrt(x.var((0, 2, 3), keepdims=True) + eps)
    return g * gamma[None, :, None, None] / np.sqrt(x.var((0, 2, 3), keepdims=True) + eps), (g * xhat).sum((0, 2, 3)), g.sum((0, 2, 3))


def conv_shape_without_dilation(x_shape, w_shape, stride, padding, dilation, groups):
    pads = ex_pads(padding)
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    return (x_shape[0], w_shape[0]) + tuple(
        (n + p0 + p1 - k) // s + 1 for n, (p0, p1), k, s in zip(x_shape[2:], pads, w_shape[2:], strides))


def ex_pads(padding):
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return padding


def jax_conv_same_padding(x, w, stride, padding, groups):
    import jax

    return jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME", feature_group_count=groups,
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))


def c3k2_chaining_first_piece(block, x, ctx):
    import pytensor.tensor as pt

    y = block.cv1(x, ctx)
    pieces = [y[:, : block.c], y[:, block.c:]]
    for m in block.m:
        pieces.append(m(pieces[1], ctx))  # should be pieces[-1]
    return block.cv2(pt.concatenate(pieces, axis=1), ctx)


def attention_without_pe(attn, x, ctx):
    import pytensor.tensor as pt

    weights, v = attn.scores(x, ctx)
    b, c, h, w = x.type.shape
    return attn.proj(pt.matmul(v, weights.transpose(0, 1, 3, 2)).reshape((b, c, h, w)), ctx)


def dfl_xyxy(box_logits, anchors, strides):  # returns corners instead of centre and size
    b, _, a = box_logits.shape
    logits = box_logits.reshape(b, 4, 16, a)
    p = np.exp(logits - logits.max(2, keepdims=True))
    dist = (p / p.sum(2, keepdims=True) * np.arange(16)[None, None, :, None]).sum(2)
    x1y1 = anchors.T[None] - dist[:, :2]
    x2y2 = anchors.T[None] + dist[:, 2:]
    return np.concatenate([x1y1, x2y2], 1) * strides


def sources_tuple_minus_one_kept(index, src):
    return (index - 1,) if src == -1 else tuple(src)


def plain_iou(b1, b2):
    iw = np.clip(np.minimum(b1[:, 2], b2[:, 2]) - np.maximum(b1[:, 0], b2[:, 0]), 0, None)
    ih = np.clip(np.minimum(b1[:, 3], b2[:, 3]) - np.maximum(b1[:, 1], b2[:, 1]), 0, None)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    return iw * ih / (area(b1) + area(b2) - iw * ih)


def alignment_unclamped(scores, ious, gt_labels, candidates):  # CIoU not clamped at 0
    return np.where(candidates, scores[:, gt_labels].T ** 0.5 * ious.astype(np.float64) ** 6, 0.0)


def letterbox_top_left(width, height, size):  # forgets to centre the image
    r = min(size / width, size / height)
    return round(width * r), round(height * r), 0, 0


CASES = [  # notebook, check, solution name, wrong answer, a phrase of the hint it must get
    ("01_batchnorm_gradients", ex.check_bn_backward, "solution_bn_backward_staged", bn_inference_formula, "eval-mode"),
    ("02_custom_ops", ex.check_conv_output_shape, "solution_conv_output_shape", conv_shape_without_dilation, "dilation"),
    ("02_custom_ops", ex.check_jax_conv, "solution_jax_conv", jax_conv_same_padding, "'SAME'"),
    ("03_conv_c3k2", ex.check_c3k2_forward, "solution_c3k2_forward", c3k2_chaining_first_piece, "pieces[-1]"),
    ("04_sppf_c2psa_attention", ex.check_attention, "solution_attention_forward", attention_without_pe, "pe(v)"),
    ("05_detect_dfl", ex.check_dfl_decode, "solution_dfl_decode", dfl_xyxy, "corners"),
    ("06_model", ex.check_layer_sources, "solution_layer_sources", sources_tuple_minus_one_kept, "previous layer"),
    ("07_loss", ex.check_ciou, "solution_ciou", plain_iou, "plain IoU"),
    ("07_loss", ex.check_alignment, "solution_alignment", alignment_unclamped, "clamp"),
    ("08_data_prep", ex.check_letterbox_params, "solution_letterbox_params", letterbox_top_left, "centred"),
]


@pytest.mark.parametrize("notebook,check,solution,wrong,hint", CASES, ids=[c[2] for c in CASES])
def test_check_fails_on_stub_and_wrong_answer_and_passes_on_solution(notebook, check, solution, wrong, hint):
    on_stub = check(stub)
    assert on_stub.stub and not on_stub.ok and not on_stub.hint
    on_wrong = check(wrong)
    assert not on_wrong.ok and not on_wrong.stub, on_wrong
    assert "expected" in on_wrong.message or "shape" in on_wrong.message, on_wrong.message
    assert "\n" not in on_wrong.message, "what is wrong fits on one line"
    assert hint in on_wrong.hint, f"the planted mistake should get the hint with {hint!r}: {on_wrong}"
    assert str(on_wrong).splitlines()[1].strip().startswith("hint:")
    on_solution = check(solution_cells(notebook)[solution])
    assert on_solution.ok and not on_solution.hint, on_solution.message


def test_hints_name_only_the_mistake_they_recognise():
    """An answer that is wrong in another way gets no hint (or another one), never a wrong one."""
    ciou = solution_cells("07_loss")["solution_ciou"]
    off = ex.check_ciou(lambda b1, b2: ciou(b1, b2) * 1.01)
    assert not off.ok and "plain IoU" not in off.hint
    assert ex.check_dfl_decode(lambda *a: dfl_xyxy(*a) + 5.0).hint == ""
    letterbox = solution_cells("08_data_prep")["solution_letterbox_params"]
    swapped = ex.check_letterbox_params(lambda w, h, s: (lambda r: (r[1], r[0], r[2], r[3]))(letterbox(w, h, s)))
    assert "swapped" in swapped.hint
    unscaled = ex.check_dfl_decode(lambda logits, anchors, strides: solution_cells("05_detect_dfl")["solution_dfl_decode"](
        logits, anchors, np.ones_like(strides)))
    assert "strides" in unscaled.hint


def test_mismatch_names_shape_first_wrong_element_and_worst():
    assert "shape (2,)" in ex.mismatch("y", np.zeros(2), np.zeros(3))
    assert "(transposed?)" in ex.mismatch("y", np.zeros((2, 3)), np.zeros((3, 2)))
    message = ex.mismatch("y", np.array([0.0, 1.5, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert "y[(1,)] is 1.5" in message and "expected 1" in message and "off by 0.5" in message
    assert "2 of 3 elements" in message and "the worst off by 3 at (2,)" in message
    assert ex.mismatch("y", np.ones(3), np.ones(3) + 1e-7) is None


def test_run_exercise_checks_the_solution_while_the_attempt_is_the_stub(capsys):
    def solution(width, height, size):
        p = __import__("yolo_lib.data.letterbox", fromlist=["x"]).letterbox_params(width, height, size)
        return p.new_w, p.new_h, p.left, p.top

    assert ex.run_exercise(ex.check_letterbox_params, stub, solution).ok
    assert "still holds the stub" in capsys.readouterr().out
    assert not ex.run_exercise(ex.check_letterbox_params, letterbox_top_left, solution).ok
    assert "FAIL" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        ex.run_exercise(ex.check_letterbox_params, stub, letterbox_top_left)
