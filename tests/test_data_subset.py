"""COCO subset selection on the real COCO128 sample (class mapping, crowd boxes, determinism)."""

import json

import numpy as np
import pytest

from yolo_lib.data.coco_subset import (
    image_labels, load_annotations, resolve_categories, select_images, write_subset_json)


@pytest.fixture(scope="module")
def coco(shared):
    return load_annotations(shared / "data" / "coco128" / "annotations" / "instances_train2017.json")


def test_counts_match_the_sample_readme(coco):
    sel = select_images(coco, ["person", "cell phone"], None)
    # README: person 254 non-crowd boxes (+5 crowd) in 61 images, cell phone 8 boxes, 63 images with either
    assert sel.eligible_images == 63 and len(sel.image_ids) == 63
    assert sel.boxes_per_class == {"person": 254, "cell phone": 8}
    assert sel.dropped_crowd == 5


def test_rare_class_images_come_first_and_selection_is_seeded(coco):
    cat_ids = resolve_categories(coco, ["person", "cell phone"])
    phone_imgs = {i for i in coco.imgs if 1 in image_labels(coco, i, cat_ids).classes}
    assert len(phone_imgs) == 5
    a = select_images(coco, ["person", "cell phone"], 10, seed=0)
    assert phone_imgs <= set(a.image_ids) and len(a.image_ids) == 10
    assert a.image_ids == select_images(coco, ["person", "cell phone"], 10, seed=0).image_ids
    assert a.image_ids != select_images(coco, ["person", "cell phone"], 10, seed=1).image_ids


def test_class_order_is_configurable_and_crowd_is_dropped(coco):
    cat_ids = resolve_categories(coco, ["cell phone", "person"])
    assert cat_ids == [77, 1]
    crowd_img = next(a["image_id"] for a in coco.dataset["annotations"] if a["iscrowd"] and a["category_id"] == 1)
    lab = image_labels(coco, crowd_img, cat_ids)
    n_person = sum(1 for a in coco.imgToAnns[crowd_img] if a["category_id"] == 1 and not a["iscrowd"])
    assert lab.dropped_crowd >= 1 and int(np.sum(lab.classes == 1)) == n_person
    info = coco.imgs[crowd_img]
    assert np.all(lab.boxes[:, 2] <= info["width"]) and np.all(lab.boxes[:, 0] < lab.boxes[:, 2])


def test_subset_json_is_valid_coco(coco, tmp_path):
    sel = select_images(coco, ["person", "cell phone"], 12, seed=3)
    path = write_subset_json(coco, sel, tmp_path / "subset.json")
    sub = load_annotations(path)
    assert sorted(sub.imgs) == sel.image_ids
    assert {c["name"] for c in sub.dataset["categories"]} == {"person", "cell phone"}
    assert not any(a["iscrowd"] for a in sub.dataset["annotations"])
    again = select_images(sub, ["person", "cell phone"], None)
    assert again.boxes_per_class == sel.boxes_per_class


def test_bad_annotation_files(tmp_path, coco):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_annotations(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_annotations(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="missing keys"):
        load_annotations(bad)
    good = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}]}
    bad.write_text(json.dumps(good))
    assert len(load_annotations(bad).anns) == 1
    bad.write_text(json.dumps(dict(good, annotations=[{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5]}])))
    with pytest.raises(ValueError, match=r"annotations\[0\] \(id 5\) has a malformed bbox"):
        load_annotations(bad)
    bad.write_text(json.dumps(dict(good, images=[{"id": 1, "file_name": "a.jpg"}])))
    with pytest.raises(ValueError, match=r"images\[0\] is malformed"):
        load_annotations(bad)
    with pytest.raises(ValueError, match="unknown COCO category.*'phone'"):
        resolve_categories(coco, ["person", "phone"])
    with pytest.raises(ValueError, match="duplicates"):
        resolve_categories(coco, ["person", "person"])
