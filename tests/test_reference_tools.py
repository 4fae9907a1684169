"""The optional torch tools in ``scripts/``: new reference files and converted checkpoints.

``scripts/make_reference.py`` and ``scripts/pt_to_npz.py`` need torch and ultralytics, which
the workshop never installs. These tests run them with the interpreter named by
``YOLO_REFERENCE_PYTHON`` (a separate environment holding torch + ultralytics), or with this
one if it has them, and skip with a reason otherwise:

    YOLO_REFERENCE_PYTHON=/path/to/torch-env/bin/python python3 workshop.py test tests/test_reference_tools.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from yolo_lib import weights
from yolo_lib.compilation import functions as compiled
from yolo_lib.paths import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"

# A random 80-class YOLO11n saved like Ultralytics' released checkpoints (half precision, no EMA),
# with randomised BN statistics so that eval mode is not the identity, and randomised class
# biases so that every class has its own score range (picking a wrong row would show).
MAKE_CHECKPOINT = """
import sys, torch
from ultralytics.nn.tasks import DetectionModel
torch.manual_seed(1)
m = DetectionModel("yolo11n.yaml", nc=80, verbose=False).float()
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.5, 0.5)
    for branch in m.model[-1].cv3:
        branch[-1].bias.uniform_(-4.0, 4.0)
torch.save({"model": m.half(), "ema": None, "epoch": -1}, sys.argv[1])
"""


def _has_torch_tools(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import torch, ultralytics"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def torch_python() -> str:
    python = os.environ.get("YOLO_REFERENCE_PYTHON", sys.executable)
    if not _has_torch_tools(python):
        pytest.skip(f"torch + ultralytics are not importable by {python} (optional tools; set "
                    "YOLO_REFERENCE_PYTHON to an interpreter that has them)")
    return python


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res


def test_new_reference_file_passes_the_parity_command(tmp_path, torch_python):
    """Another class count, a non-square size, batch 3 and random boxes (small ones included):
    every check of the parity command passes, layers to loss, assignment and gradients."""
    ref = tmp_path / "n_nc3_128x96.npz"
    _run([torch_python, str(SCRIPTS / "make_reference.py"), str(ref),
          "--nc", "3", "--imgsz", "128", "96", "--batch", "3", "--boxes", "6", "--seed", "3"])
    with np.load(ref) as npz:
        assert npz["input/img"].shape == (3, 3, 128, 96)
        assert npz["eval/inference_out"].shape == (3, 4 + 3, 16 * 12 + 8 * 6 + 4 * 3)
        assert npz["train/tal_fg_mask"].sum() > 0
    res = _run([sys.executable, "-m", "yolo_lib.parity", str(ref)])
    report = json.loads(res.stdout)
    names = {c["name"] for c in report["checks"]}
    assert report["ok"] and {"eval/layer22", "train/layer22", "eval/inference_out/scores", "train/tal_fg_mask",
                             "eval/loss_total_backward", "train_step/loss_total_backward",
                             "grad/model.0.conv.weight"} <= names
    assert sum(n.startswith("train/bn_after_forward/") for n in names) > 0


def test_converted_checkpoint_gives_ultralytics_output_for_the_selected_classes(tmp_path, torch_python):
    """A .pt checkpoint -> npz -> person + cell phone model == the 80-class model's rows 0 and 67."""
    ckpt, sd_path, ref = tmp_path / "rand80.pt", tmp_path / "rand80.npz", tmp_path / "ref80.npz"
    _run([torch_python, "-c", MAKE_CHECKPOINT, str(ckpt)])
    _run([torch_python, str(SCRIPTS / "pt_to_npz.py"), str(ckpt), str(sd_path)])
    _run([torch_python, str(SCRIPTS / "make_reference.py"), str(ref), "--weights", str(ckpt),
          "--imgsz", "128", "--batch", "2", "--boxes", "0"])
    model = weights.model_from_state_dict(weights.read_npz(sd_path),
                                          class_ids=[weights.COCO_PERSON, weights.COCO_CELL_PHONE])
    names = weights.read_class_names(sd_path)  # the checkpoint's names travel with it
    assert names is not None and len(names) == 80
    with np.load(ref) as npz:
        images, full = npz["input/img"], npz["eval/inference_out"]
    out = compiled.eval_function(model, 2, 128, 128)(images)
    want = full[:, [0, 1, 2, 3, 4 + weights.COCO_PERSON, 4 + weights.COCO_CELL_PHONE]]
    np.testing.assert_allclose(out[:, :4], want[:, :4], rtol=0, atol=1e-4 * np.abs(want[:, :4]).max())
    np.testing.assert_allclose(out[:, 4:], want[:, 4:], rtol=1e-4, atol=1e-6)
    assert np.abs(want[:, 4] - want[:, 5]).max() > 0.1  # the two classes are told apart


def test_compact_reference_regenerates_the_weights_ultralytics_ran(tmp_path, torch_python):
    """``--yolo-lib-seed --compact`` (how yolo_lib/weights/reference_data is made): no weights stored, and
    the weights yolo_lib regenerates at load time hash to the ones torch actually ran."""
    from yolo_lib.weights import reference

    if subprocess.run([torch_python, "-c", "import yolo_lib.model"], capture_output=True, cwd=REPO_ROOT).returncode:
        pytest.skip(f"{torch_python} cannot import yolo_lib (needs the project's dependencies next to torch)")
    ref_path = tmp_path / "compact.npz"
    _run([torch_python, str(SCRIPTS / "make_reference.py"), str(ref_path), "--imgsz", "64", "--batch", "1",
          "--boxes", "0", "--yolo-lib-seed", "5", "--compact"])
    with np.load(ref_path) as npz:
        assert not any(k.startswith("state_dict/") for k in npz.files) and int(npz["meta/weights_seed"]) == 5
    ref = reference.read(ref_path)  # raises if the regenerated weights' SHA-256 differs
    assert ref.compact and len(ref.state_dict()) > 400
