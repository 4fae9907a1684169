import pytest

from yolo_lib.envcheck import Check, check_environment, report


def test_every_requirement_passes_on_this_machine():
    checks = check_environment(profile_name="smoke")
    names = {c.name for c in checks}
    assert {"python", "pytensor", "jax", "onnxruntime", "jax devices", "pytensor floatX"} <= names
    failed = [c for c in checks if not c.ok]
    assert not failed, failed


def test_full_profile_without_gpu_fails_clearly():
    import jax

    if jax.default_backend() == "gpu":
        pytest.skip("this machine has a GPU")
    checks = check_environment(profile_name="full")
    (device_check,) = [c for c in checks if c.name == "jax devices"]
    assert not device_check.ok and "needs a GPU" in device_check.detail
    with pytest.raises(EnvironmentError, match="jax devices"):
        report(checks)


def test_report_prints_ok_and_fail(capsys):
    with pytest.raises(EnvironmentError):
        report([Check("a", True, "fine"), Check("b", False, "broken")])
    out = capsys.readouterr().out
    assert "OK    a  fine" in out and "FAIL  b  broken" in out
