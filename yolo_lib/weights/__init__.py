"""Weights in and out: Ultralytics-named state dicts, the official ``.pt`` file, the reference arrays.

* :mod:`~yolo_lib.weights.state_dicts` (re-exported here): state dicts to and from a model and
  ``.npz`` files, class-row selection from an 80-class head;
* :mod:`~yolo_lib.weights.checkpoint_pt`: read an Ultralytics ``.pt`` checkpoint without torch;
* :mod:`~yolo_lib.weights.pretrained`: download and choose the official COCO-trained ``yolo11n.pt``;
* :mod:`~yolo_lib.weights.reference`: the Ultralytics reference arrays behind every parity check
  (``reference_data/`` holds the compact one shipped with the repository).
"""

from yolo_lib.weights.state_dicts import (
    COCO_CELL_PHONE, COCO_PERSON, IGNORED_SUFFIX, NAMES_KEY, NPZ_PREFIX, CheckpointError, StateDictError,
    class_row_keys, dfl_key, fingerprint, infer_architecture, load_state_dict, model_from_state_dict,
    read_class_names, read_npz, save_npz, select_class_rows, state_dict, write_npz,
)

__all__ = [
    "COCO_CELL_PHONE", "COCO_PERSON", "IGNORED_SUFFIX", "NAMES_KEY", "NPZ_PREFIX", "CheckpointError",
    "StateDictError", "class_row_keys", "dfl_key", "fingerprint", "infer_architecture", "load_state_dict",
    "model_from_state_dict", "read_class_names", "read_npz", "save_npz", "select_class_rows", "state_dict",
    "write_npz",
]
