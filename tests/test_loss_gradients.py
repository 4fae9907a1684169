"""The gradient of the training loss w.r.t. every YOLO11n parameter equals Ultralytics' ``grad/*``."""

from yolo_lib.loss.parity_checks import GRAD_RTOL, gradient_checks


def test_every_parameter_gradient_matches_ultralytics(reference):
    checks = gradient_checks(reference)
    failed = [c for c in checks if not c.passed]
    assert not failed, "\n".join(f"{c.name}: {c.error:.3g} > {c.tolerance:.3g}" for c in failed[:20])
    grads = [c for c in checks if c.name.startswith("grad/")]
    assert len(grads) == 255 and max(c.error for c in grads) < GRAD_RTOL
