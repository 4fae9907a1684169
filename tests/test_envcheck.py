import pytest

from yolo_lib.notebook.envcheck import Check, check_environment, report


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


def _reference_check():
    (check,) = [c for c in check_environment(profile_name="smoke") if c.name == "Ultralytics reference"]
    return check


def test_reference_check_fresh_clone_ok_ci_fail(monkeypatch):
    """Without ../shared a fresh clone uses the compact reference (OK); under CI it is a FAIL."""
    monkeypatch.setenv("YOLO_SHARED_DIR", "none")
    monkeypatch.delenv("CI", raising=False)
    check = _reference_check()
    assert check.ok and "compact reference" in check.detail
    monkeypatch.setenv("CI", "true")
    check = _reference_check()
    assert not check.ok and "CI=true" in check.detail
    with pytest.raises(EnvironmentError, match="Ultralytics reference"):
        report([check])


def test_missing_reference_skips_locally_and_fails_under_ci(monkeypatch):
    from conftest import missing

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        missing("no reference")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no reference"):
        missing("no reference")
