"""A fresh clone (no ``../shared``) runs the same notebook code as CI, and nothing in it is skipped.

CI executes the notebooks once, with ``../shared``, and the output scan of ``conftest.py`` fails
any notebook that says a part was skipped. What a fresh clone sees differently can only come
from the few library functions through which the notebooks reach ``../shared``; the notebooks
themselves never look for it (first test). Those functions are run here as a fresh clone, with
``YOLO_SHARED_DIR=none`` and without ``CI``, and must work without a word of skipping. Running
all notebooks that way (``YOLO_SHARED_DIR=none python3 workshop.py test notebooks``) applies the
same output scan to every notebook.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from yolo_lib.notebook import pairs as notebook_pairs
from yolo_lib.weights import reference
from yolo_lib.export import ultralytics_reference
from yolo_lib.export.report import op_histogram
from yolo_lib.notebook.outputs import SKIPPED

# how the notebooks reach ../shared: only through these (each is run below as a fresh clone)
GATEWAYS = ("reference.load", "ultralytics_reference.load", "pretrained.choose_weights", "default_model",
            "check_environment")
SHARED_LOOKUPS = re.compile(r"shared_dir|fixture_path|\.\./shared|coco128|YOLO_SHARED_DIR|fixtures/")


@pytest.fixture
def fresh_clone(monkeypatch):
    monkeypatch.setenv("YOLO_SHARED_DIR", "none")
    monkeypatch.delenv("CI", raising=False)


@pytest.mark.parametrize("py", [p for p, _ in notebook_pairs.notebook_pairs()], ids=lambda p: p.stem)
def test_notebooks_never_look_for_the_shared_folder_themselves(py):
    code = "\n".join(line for line in py.read_text().splitlines() if not line.lstrip().startswith("#"))
    found = sorted(set(SHARED_LOOKUPS.findall(code)))
    assert not found, f"{py.name} looks for ../shared itself ({found}); go through one of {GATEWAYS}"


def test_the_environment_check_passes_without_a_skip(fresh_clone, capsys):
    from yolo_lib.notebook.envcheck import check_environment, report

    report(check_environment("smoke"))
    text = capsys.readouterr().out
    assert "compact reference" in text and not SKIPPED.search(text), text


def test_the_reference_and_ultralytics_export_come_from_the_repository(fresh_clone, capsys):
    ref = reference.load(verbose=True)
    assert ref.compact and not SKIPPED.search(capsys.readouterr().out)
    theirs = ultralytics_reference.load(ref)  # refilled from the seeded weights and checked against Ultralytics
    hist = op_histogram(theirs)
    assert hist["Conv"] == 88 and hist["Softmax"] == 2 and sum(hist.values()) == 320
    assert theirs.graph.input[0].type.tensor_type.shape.dim[2].dim_value == ref["input/img"].shape[-1]
    assert ultralytics_reference.outputs(ref).shape == ref["eval/inference_out"].shape


def test_a_wrong_weight_in_the_refilled_export_is_caught(fresh_clone, monkeypatch):
    ref = reference.load()
    folded = ultralytics_reference.folded_state_dict

    def off_by_a_little(sd):
        out = folded(sd)
        out["model.22.cv2.conv.bias"] = out["model.22.cv2.conv.bias"] + np.float32(1e-2)
        return out

    monkeypatch.setattr(ultralytics_reference, "folded_state_dict", off_by_a_little)
    with pytest.raises(ValueError, match="differs from Ultralytics' own outputs"):
        ultralytics_reference.load(ref)


def test_the_weights_for_pictures_say_which_without_a_skip(fresh_clone, capsys):
    from yolo_lib.weights import pretrained

    chosen = pretrained.choose_weights(reference.load())
    text = capsys.readouterr().out
    assert not SKIPPED.search(text), text
    assert chosen.trained or "UNTRAINED" in text
