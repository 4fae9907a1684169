"""Write the small checkpoint in Ultralytics' released layout that tests/test_checkpoint_pt.py reads.

NEEDS torch + ultralytics (optional tools). The official ``yolo11n.pt`` is 5.4 MB; to keep the
repository small this one is a YOLO11 of the n recipe at width 1/8 (stem 8 channels, depth 0.5),
80 classes, randomised BN statistics and class biases, saved the way Ultralytics saves it: the
trainer's dict (``ema`` = a half-precision copy of the model) passed through
``ultralytics.utils.torch_utils.strip_optimizer``, which makes the released layout (``model`` =
the fp16 ``DetectionModel``, ``ema``/``optimizer`` None, ``epoch`` -1, ``train_args`` ...). Next to it
goes the state dict as torch sees it (float16: the weights are fp16), the ground truth of the torch-free reader::

    python scripts/make_test_checkpoint.py tests/data/yolo11_w8_nc80.pt tests/data/yolo11_w8_nc80_state_dict.npz
"""

from __future__ import annotations

import sys
from copy import deepcopy

import numpy as np


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python scripts/make_test_checkpoint.py OUT.pt OUT_state_dict.npz", file=sys.stderr)
        return 2
    try:
        import torch
        from ultralytics.cfg import get_cfg
        from ultralytics.nn.tasks import DetectionModel, yaml_model_load
        from ultralytics.utils.torch_utils import strip_optimizer
    except ImportError as err:
        print(f"this tool needs torch and ultralytics ({err})", file=sys.stderr)
        return 2
    torch.manual_seed(2)
    cfg = yaml_model_load("yolo11n.yaml")
    cfg["scales"] = {"n": [0.5, 0.125, 1024]}
    model = DetectionModel(cfg, nc=80, verbose=False).float()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
        for branch in model.model[-1].cv3:
            branch[-1].bias.uniform_(-4.0, 4.0)
    model.args = get_cfg()
    ema = deepcopy(model).half()
    trainer_ckpt = {"epoch": 0, "best_fitness": 0.0, "model": None, "ema": ema, "updates": 1,
                    "optimizer": None, "train_args": {"model": "yolo11n.yaml", "data": "coco.yaml", "epochs": 1},
                    "train_metrics": {"metrics/mAP50(B)": 0.0}}
    torch.save(trainer_ckpt, argv[0])
    strip_optimizer(argv[0])  # the released layout, written over argv[0]
    released = torch.load(argv[0], map_location="cpu", weights_only=False)
    sd = {k: v.half().numpy() for k, v in released["model"].state_dict().items() if not k.endswith("num_batches_tracked")}
    np.savez_compressed(argv[1], **sd)
    print(f"wrote {argv[0]} ({len(sd)} tensors; keys {sorted(released)}) and {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
