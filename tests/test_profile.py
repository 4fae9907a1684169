import pytest

from yolo_lib.notebook.profile import FULL, SMOKE, resolve_profile, start


def test_explicit_profiles(monkeypatch):
    monkeypatch.setenv("YOLO_PROFILE", "smoke")
    assert resolve_profile() is SMOKE
    monkeypatch.setenv("YOLO_PROFILE", "FULL")
    assert resolve_profile() is FULL


def test_default_follows_gpu(monkeypatch):
    import jax

    monkeypatch.delenv("YOLO_PROFILE", raising=False)
    expected = FULL if jax.default_backend() == "gpu" else SMOKE
    assert resolve_profile() is expected


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("YOLO_PROFILE", "medium")
    with pytest.raises(ValueError, match="medium"):
        resolve_profile()


def test_start_prints_header_and_sets_float32(capsys, monkeypatch):
    import pytensor

    monkeypatch.setenv("YOLO_PROFILE", "smoke")
    assert start().name == "smoke"
    out = capsys.readouterr().out
    for word in ("profile", "backend=", "devices=", "pytensor", "floatX=float32"):
        assert word in out
    assert pytensor.config.floatX == "float32"


@pytest.mark.parametrize("profile", [SMOKE, FULL], ids=lambda p: p.name)
def test_profile_image_size_is_usable_by_the_model(profile):
    """The model and the exporter accept the profile's image size (a multiple of the stride 32)."""
    from yolo_lib.export.yolo import image_size

    assert image_size(profile.imgsz) == (profile.imgsz, profile.imgsz)


def test_the_synthetic_dataset_of_a_profile_has_the_profile_sizes(tmp_path, monkeypatch):
    from dataclasses import replace

    from yolo_lib.data import dataset_for_profile

    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    tiny = replace(SMOKE, imgsz=64, n_train=3, n_val=2)
    assert len(dataset_for_profile(tiny, "train", progress=False)) == 3
    assert len(dataset_for_profile(tiny, "val", progress=False)) == 2
    bigger = replace(tiny, n_train=4)
    assert len(dataset_for_profile(bigger, "train", progress=False)) == 4
