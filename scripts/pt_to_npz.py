"""Convert an Ultralytics ``.pt`` checkpoint into a state-dict ``.npz`` that yolo_lib reads.

NEEDS torch + ultralytics (optional tools; the workshop never requires torch). Checked by
``tests/test_reference_tools.py`` (skipped where torch is absent).

    python scripts/pt_to_npz.py yolo11n.pt yolo11n_coco.npz

Keys are written as ``state_dict/<Ultralytics name>`` (the fixtures' layout), float32; the EMA
weights are taken when the checkpoint has them (that is what Ultralytics evaluates and ships);
``num_batches_tracked`` counters are dropped; the class names go to ``meta/names`` (read them
with ``weights.read_class_names``). Load with::

    from yolo_lib import weights
    sd = weights.read_npz("yolo11n_coco.npz")
    model = weights.model_from_state_dict(sd, class_ids=[weights.COCO_PERSON, weights.COCO_CELL_PHONE])
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python scripts/pt_to_npz.py CHECKPOINT.pt OUT.npz", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("this converter needs torch and ultralytics installed", file=sys.stderr)
        return 2
    ckpt = torch.load(argv[0], map_location="cpu", weights_only=False)  # unpickles ultralytics classes
    model = ckpt.get("ema") or ckpt["model"]
    sd = {f"state_dict/{k}": v.detach().float().cpu().numpy()
          for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    names = getattr(model, "names", None)
    if names:
        sd["meta/names"] = np.array([names[i] for i in sorted(names)] if isinstance(names, dict) else list(names), dtype=str)
    np.savez(argv[1], **sd)
    print(f"wrote {len(sd)} tensors to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
