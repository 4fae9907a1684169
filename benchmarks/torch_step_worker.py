"""PyTorch / Ultralytics side of ``bench_vs_ultralytics.py`` (runs in the reference environment
with torch and ultralytics; imports nothing from yolo_lib).

    python torch_step_worker.py LAUNCH_TIME BATCH IMGSZ THREADS

Builds YOLO11n (nc=2) as Ultralytics does, a random batch with random boxes, v8DetectionLoss and
SGD as Ultralytics configures it (Nesterov momentum 0.937, weight decay 5e-4 on conv weights
only, gradient norm clipped to 10), runs one training step, and prints a JSON line with the
seconds from LAUNCH_TIME (the parent's ``time.time()`` just before starting this process) to
the end of that first step. Then answers each stdin line ``step`` or ``eval`` (eval-mode
forward of the same batch, inference mode) with the seconds that call took.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from ultralytics.cfg import get_cfg
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.loss import v8DetectionLoss


def random_rows(batch: int, nc: int, max_boxes: int, seed: int = 0) -> torch.Tensor:
    """Target rows [image, class, cx, cy, w, h] (normalised), 1..max_boxes boxes per image."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(batch):
        for _ in range(int(rng.integers(1, max_boxes + 1))):
            bw, bh = rng.uniform(0.03, 0.5, 2)
            rows.append([b, rng.integers(nc), rng.uniform(bw / 2, 1 - bw / 2), rng.uniform(bh / 2, 1 - bh / 2), bw, bh])
    return torch.tensor(rows, dtype=torch.float32)


def main() -> None:
    launch, batch, imgsz, threads = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = DetectionModel("yolo11n.yaml", nc=2, verbose=False).float()
    model.args = get_cfg()
    criterion = v8DetectionLoss(model)
    decay, no_decay, biases = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "bias":
                biases.append(p)
            elif isinstance(module, torch.nn.BatchNorm2d):
                no_decay.append(p)
            else:
                decay.append(p)
    opt = torch.optim.SGD([{"params": biases}, {"params": no_decay}, {"params": decay, "weight_decay": 5e-4}],
                          lr=0.01, momentum=0.937, nesterov=True)
    images = torch.rand(batch, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    rows = random_rows(batch, 2, 16)
    targets = {"batch_idx": rows[:, 0], "cls": rows[:, 1:2], "bboxes": rows[:, 2:]}

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = criterion(model(images), targets)[0].sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        opt.step()
        return float(loss.detach())

    def evaluate():
        model.eval()
        with torch.inference_mode():
            model(images)

    step()
    print(json.dumps({"first_step_s": time.time() - launch}), flush=True)
    for line in sys.stdin:
        fn = step if line.strip() == "step" else evaluate
        t = time.perf_counter()
        fn()
        print(json.dumps({"s": time.perf_counter() - t}), flush=True)


if __name__ == "__main__":
    main()
