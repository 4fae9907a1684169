"""Write a parity reference file (fixture layout) from real Ultralytics. NEEDS torch + ultralytics.

Checked by ``tests/test_reference_tools.py`` (skipped where torch is absent). It follows the key layout of
``shared/fixtures/README.md`` so ``python -m yolo_lib.parity OUT.npz`` can read what it writes.

    pip install torch ultralytics   # optional tools, never needed by the workshop itself
    python scripts/make_reference.py OUT.npz --scale n --nc 2 --imgsz 320 --batch 2 [--weights yolo11n.pt]

What it stores (float32 unless noted):
  input/img                         (B,3,H,W) images in [0,1] (random, seeded)
  state_dict/<name>                 every weight and BN buffer (num_batches_tracked dropped)
  {eval,train}/layerNN              output of top-level layer NN (0..22)
  {eval,train}/box_raw_P3..P5       (B,64,H/s,W/s) raw box logits of Detect
  {eval,train}/cls_raw_P3..P5       (B,nc,H/s,W/s) raw class logits
  eval/inference_out                (B,4+nc,A) decoded output (eval mode)
  train/bn_after_forward/<name>     BN running_mean / running_var after one train forward
Loss/assigner/gradient keys (tal_*, loss_*, grad/*) are not written: they need targets and
the loss helper's conventions; absent keys are skipped by the parity command.
Without --weights the model is random (``torch.manual_seed(seed)``) and its BN statistics and
affine parameters are randomised so that eval mode is non-trivial, like the shared fixture.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--scale", default="n", choices=list("nsmlx"))
    ap.add_argument("--nc", type=int, default=2)
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320], help="H [W], multiples of 32")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None, help="a .pt checkpoint instead of random weights")
    args = ap.parse_args()
    try:
        import torch
        from ultralytics.nn.tasks import DetectionModel
    except ImportError as err:
        raise SystemExit(f"this tool needs torch and ultralytics ({err}); the workshop itself does not") from None

    h, w = (args.imgsz * 2)[:2]
    if h % 32 or w % 32:
        raise SystemExit(f"image size {h}x{w} must be a multiple of 32")
    torch.manual_seed(args.seed)
    if args.weights:
        ckpt = torch.load(args.weights, map_location="cpu", weights_only=False)
        model = (ckpt.get("ema") or ckpt["model"]).float()
    else:
        model = DetectionModel(f"yolo11{args.scale}.yaml", nc=args.nc, verbose=False).float()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
    torch.set_float32_matmul_precision("highest")
    out: dict[str, np.ndarray] = {}
    img = torch.rand(args.batch, 3, h, w, generator=torch.Generator().manual_seed(args.seed))
    out["input/img"] = img.numpy()
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            out[f"state_dict/{k}"] = v.detach().cpu().numpy().astype(np.float32)

    detect = model.model[-1]
    for mode in ("eval", "train"):
        model.train(mode == "train")
        # BN running stats must be those of the state dict before every forward
        model.load_state_dict({k[len("state_dict/"):]: torch.from_numpy(v) for k, v in out.items()
                               if k.startswith("state_dict/")}, strict=False)
        captured: dict = {}
        hooks = [layer.register_forward_hook(lambda mod, inp, o, i=i: captured.__setitem__(i, o.detach().clone()))
                 for i, layer in enumerate(model.model[:-1])]
        # the branch outputs of Detect, hooked in the same pass (whatever Detect itself returns)
        for lvl, (box_branch, cls_branch) in enumerate(zip(detect.cv2, detect.cv3)):
            hooks.append(box_branch.register_forward_hook(lambda mod, inp, o, k=f"box_raw_P{lvl + 3}": captured.__setitem__(k, o.detach().clone())))
            hooks.append(cls_branch.register_forward_hook(lambda mod, inp, o, k=f"cls_raw_P{lvl + 3}": captured.__setitem__(k, o.detach().clone())))
        with torch.no_grad():
            pred = model(img.clone())
        for hk in hooks:
            hk.remove()
        for i in range(len(model.model) - 1):
            out[f"{mode}/layer{i:02d}"] = captured[i].numpy()
        for lvl in (3, 4, 5):
            for kind in ("box_raw", "cls_raw"):
                out[f"{mode}/{kind}_P{lvl}"] = captured[f"{kind}_P{lvl}"].numpy()
        if mode == "eval":
            y = pred[0] if isinstance(pred, (list, tuple)) else pred
            out["eval/inference_out"] = y.numpy()
        else:
            for k, v in model.state_dict().items():
                if k.endswith(("running_mean", "running_var")):
                    out[f"train/bn_after_forward/{k}"] = v.numpy().astype(np.float32)
    np.savez(args.out, **out)
    print(f"wrote {len(out)} arrays to {args.out}; check with: python -m yolo_lib.parity {args.out}")


if __name__ == "__main__":
    main()
