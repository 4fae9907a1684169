"""One training step on the fixture batch: every gradient equals Ultralytics' ``grad/*``, the BN
running statistics equal ``train/bn_after_forward/*``, and the SGD update follows PyTorch's rule.

One compile of the full YOLO11n training step serves all checks (it is the slowest test here).
"""

import numpy as np
import pytest

from yolo_lib.parity import TOL_GRAD, fixture_train_step, gradient_checks
from yolo_lib.train.config import TrainConfig
from yolo_lib.train.optimizer import param_group

LR = 0.01


@pytest.fixture(scope="module")
def one_step(reference):
    return fixture_train_step(reference, lr=LR)


def test_gradients_and_bn_statistics_match_ultralytics(reference, one_step):
    model, _, out = one_step
    checks = gradient_checks(reference, out, model)
    failed = [c for c in checks if not c.ok]
    assert not failed, "\n".join(f"{c.name}: {c.value:.3g} > {c.tol:.3g}" for c in failed[:20])
    grads = [c for c in checks if c.metric == "rel_norm_diff"]
    assert len(grads) == 255 and max(c.value for c in grads) < TOL_GRAD
    assert sum(c.name.startswith("train_step/train/bn_after_forward/") for c in checks) == 162


def test_sgd_update_is_clipped_nesterov_with_decay_on_conv_weights(reference, one_step):
    model, step, out = one_step
    sgd, momentum = step.sgd, TrainConfig.momentum
    assert (sgd.weight_decay, sgd.max_grad_norm, sgd.nesterov, momentum) == (5e-4, 10.0, True, 0.937)  # Ultralytics'
    grads = out["gradients"]
    norm = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    coef = min(1.0, sgd.max_grad_norm / (norm + 1e-6))
    assert coef < 1  # the fixture's gradient norm (~140) is clipped to 10
    for name, p in model.params.items():
        p0 = reference[f"state_dict/{name}"].astype(np.float64)
        d = grads[name] * coef + (sgd.weight_decay * p0 if param_group(name) == "weight" else 0)
        np.testing.assert_allclose(np.asarray(sgd.momentum_buffers[name].get_value()), d, rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(np.asarray(sgd.grad_sums[name].get_value()), 0)  # reset by the optimizer step
        # first step: buf = d, Nesterov step = d + momentum * d
        np.testing.assert_allclose(np.asarray(p.get_value()), p0 - LR * (1 + momentum) * d, rtol=1e-5, atol=1e-7)


def test_bad_batch_is_rejected(reference, one_step):
    _, step, _ = one_step
    from yolo_lib.parity import fixture_targets

    targets = fixture_targets(reference)
    shape = reference["input/img"].shape
    with pytest.raises(ValueError, match=r"images must have shape \({}, {}, {}, {}\)".format(*shape)):
        step.run(np.zeros((1, *shape[1:]), np.float32), targets, lr=LR)
    with pytest.raises(ValueError, match=r"targets must be packed as boxes \({}, {}, 4\)".format(*targets.boxes.shape[:2])):
        step.run(reference["input/img"], (targets.boxes[:, :2], targets.classes[:, :2], targets.mask[:, :2]), lr=LR)
