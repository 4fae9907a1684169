"""Write a parity reference file (fixture layout) from real Ultralytics. NEEDS torch + ultralytics.

Checked by ``tests/test_reference_tools.py`` (skipped where torch is absent). It follows the key
layout of ``shared/fixtures/README.md`` so ``python -m yolo_lib.parity OUT.npz`` reads what it writes.

    pip install torch ultralytics   # optional tools, never needed by the workshop itself
    python scripts/make_reference.py OUT.npz --scale n --nc 2 --imgsz 320 --batch 2 [--weights yolo11n.pt]

What it stores (float32 unless noted):
  input/img                         (B,3,H,W) images in [0,1] (random, seeded)
  input/targets_bidx_cls_xywhn      (N,6) random ground truth: [image, class, cx, cy, w, h] normalised;
                                    0..--boxes boxes per image, image 0 also gets one tiny box (< 16 px)
  state_dict/<name>                 every weight and BN buffer (num_batches_tracked dropped)
  {eval,train}/layerNN              output of top-level layer NN (0..22)
  {eval,train}/box_raw_P3..P5       (B,64,H/s,W/s) raw box logits of Detect
  {eval,train}/cls_raw_P3..P5       (B,nc,H/s,W/s) raw class logits
  eval/inference_out                (B,4+nc,A) decoded output (eval mode)
  {eval,train}/tal_*                TaskAlignedAssigner outputs (labels and gt index int64, fg mask bool)
  {eval,train}/loss_items           (3,) [7.5*box, 0.5*cls, 1.5*dfl] (Ultralytics' v8DetectionLoss)
  {eval,train}/loss_total_backward  (1,) sum(loss_items) * B, the scalar Ultralytics back-propagates
  grad/<name>                       d(train/loss_total_backward)/d(parameter), train mode
  train/bn_after_forward/<name>     BN running_mean / running_var after the one train forward
With ``--boxes 0`` no targets are drawn and the loss keys are left out.

``--yolo-lib-seed S`` takes the weights from THIS project's initialiser instead
(``yolo_lib.weights.reference.seeded_state_dict(S)``: ``build_yolo11(seed=S)`` plus randomised BN), so
yolo_lib must be importable next to torch. With ``--compact`` the weights are then not stored
(``yolo_lib.weights.reference.read`` regenerates them and checks ``meta/state_dict_sha256``), the file is
compressed, ``meta/{weights_seed,scale,nc,state_dict_sha256}`` are added and the gradients are
rounded to 12 significant bits (relative error <= 2.5e-4 per element, about 1e-4 of the norm:
a tenth of the 1e-3 gradient tolerance; it roughly halves their compressed size). The compact
reference shipped in ``yolo_lib/weights/reference_data/`` is made with::

    python scripts/make_reference.py yolo_lib/weights/reference_data/yolo11n_nc2_128.npz \
        --imgsz 128 --batch 2 --boxes 4 --seed 0 --yolo-lib-seed 0 --compact
``--ultralytics-onnx PATH`` also exports the same model with Ultralytics' own ONNX exporter
(opset 18, BN folded, onnxslim, batch 1, as ``yolo export format=onnx``) and writes to PATH
(compressed npz) what notebook 11 compares our export with:
  graph                             (bytes,) uint8: the serialised ONNX model; with --compact its
                                    parameter initializers are left out (``yolo_lib.export.ultralytics_reference``
                                    refills them from the seeded weights, BN folded as Ultralytics folds it)
  output                            (B,4+nc,A) Ultralytics' ONNX file run by onnxruntime on input/img
  meta/stripped_initializers        names of the initializers left out (empty without --compact)
  meta/{ultralytics,torch,onnxslim,onnxruntime}_version, meta/state_dict_sha256
The file shipped in ``yolo_lib/weights/reference_data/`` (about 0.1 MB) is made with the command of the
compact reference above plus ``--ultralytics-onnx yolo_lib/weights/reference_data/ultralytics_onnx_nc2_128.npz``
(onnxslim must be importable; ``pip install onnxslim``).
Without --weights the model is random (``torch.manual_seed(seed)``) and its BN statistics and
affine parameters are randomised so that eval mode is non-trivial, like the shared fixture.
"""

from __future__ import annotations

import argparse

import numpy as np


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--scale", default="n", choices=list("nsmlx"))
    ap.add_argument("--nc", type=int, default=2)
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320], help="H [W], multiples of 32")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--boxes", type=int, default=4, help="at most this many random boxes per image (0: no loss keys)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None, help="a .pt checkpoint instead of random weights")
    ap.add_argument("--yolo-lib-seed", type=int, default=None,
                    help="weights from yolo_lib's own initialiser with this seed (needs yolo_lib importable)")
    ap.add_argument("--compact", action="store_true",
                    help="with --yolo-lib-seed: leave the weights out (regenerated at load time), compress")
    ap.add_argument("--ultralytics-onnx", metavar="PATH", default=None,
                    help="also write Ultralytics' ONNX export of the model (graph, outputs on input/img) to PATH")
    return ap.parse_args()


def random_targets(batch: int, nc: int, max_boxes: int, h: int, w: int, seed: int) -> np.ndarray:
    """Rows [image, class, cx, cy, w, h] (normalised), grouped by image; image 0 holds a tiny box."""
    rng = np.random.default_rng(seed)
    rows = [[0, rng.integers(nc), 0.8, 0.2, 6 / w, 5 / h]]  # 6x5 px: below the assigner's 16 px floor
    for b in range(batch):
        for _ in range(rng.integers(0, max_boxes + 1)):
            bw, bh = rng.uniform(0.03, 0.6, 2)
            rows.append([b, rng.integers(nc), rng.uniform(bw / 2, 1 - bw / 2), rng.uniform(bh / 2, 1 - bh / 2), bw, bh])
    rows.sort(key=lambda r: r[0])
    return np.asarray(rows, np.float32)


def round_significant(x: np.ndarray, bits: int = 12) -> np.ndarray:
    """float32 ``x`` rounded to ``bits`` significant bits (the low mantissa bits zeroed: compressible)."""
    drop = 24 - bits
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    rounded = (u + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return rounded.view(np.float32)


def build_model(args, torch):
    from ultralytics.nn.tasks import DetectionModel

    if args.weights:
        ckpt = torch.load(args.weights, map_location="cpu", weights_only=False)
        return (ckpt.get("ema") or ckpt["model"]).float()
    model = DetectionModel(f"yolo11{args.scale}.yaml", nc=args.nc, verbose=False).float()
    if args.yolo_lib_seed is not None:
        from yolo_lib.weights.reference import seeded_state_dict

        sd = seeded_state_dict(args.yolo_lib_seed, args.scale, args.nc)
        result = model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise SystemExit(f"yolo_lib weights do not fit Ultralytics: missing {missing}, "
                             f"unexpected {result.unexpected_keys}")
        return model
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


def capture_hooks(model, captured: dict) -> list:
    """Forward hooks storing each top-level layer's output and Detect's per-level branch outputs."""
    store = captured.__setitem__
    hooks = [layer.register_forward_hook(lambda mod, inp, o, i=i: store(i, o.detach().clone()))
             for i, layer in enumerate(model.model[:-1])]
    detect = model.model[-1]
    for lvl, branches in enumerate(zip(detect.cv2, detect.cv3)):
        for kind, branch in zip(("box_raw", "cls_raw"), branches):
            key = f"{kind}_P{lvl + 3}"
            hooks.append(branch.register_forward_hook(lambda mod, inp, o, k=key: store(k, o.detach().clone())))
    return hooks


def assigner_outputs(outputs) -> dict[str, np.ndarray]:
    """TaskAlignedAssigner's (labels, boxes, scores, fg_mask, gt_idx) as fixture arrays."""
    labels, boxes, scores, fg, gt_idx = (t.detach().cpu() for t in outputs)
    return {"tal_labels": labels.numpy().astype(np.int64), "tal_target_bboxes": boxes.numpy().astype(np.float32),
            "tal_target_scores": scores.numpy().astype(np.float32), "tal_fg_mask": fg.numpy().astype(bool),
            "tal_target_gt_idx": gt_idx.numpy().astype(np.int64)}


def ultralytics_onnx(model, initial: dict, img, compact: bool, digest: str) -> dict[str, np.ndarray]:
    """Ultralytics' ONNX export of ``model`` with the weights ``initial``: graph bytes, outputs, versions."""
    import importlib.metadata as md
    import os
    import tempfile

    import onnx
    import onnxruntime as ort
    from ultralytics.engine.exporter import Exporter

    model.load_state_dict(initial)
    model.eval()
    model.task = "detect"
    h, w = img.shape[2:]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # the exporter writes next to the model's (virtual) yaml file
        try:
            path = Exporter(overrides=dict(format="onnx", imgsz=[h, w], opset=18, simplify=True, batch=1,
                                           device="cpu"))(model=model)
            exported = onnx.load(os.path.join(tmp, path))
        finally:
            os.chdir(cwd)
    session = ort.InferenceSession(exported.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = np.concatenate([session.run(None, {"images": img[i:i + 1].numpy()})[0] for i in range(len(img))])
    # parameters keep their state-dict names; a BN folded into its Conv gives that Conv a bias
    refillable = set(initial) | {k.replace(".bn.running_mean", ".conv.bias") for k in initial if k.endswith(".bn.running_mean")}
    stripped = [t.name for t in exported.graph.initializer if compact and t.name.startswith("model.")]
    if set(stripped) - refillable:
        raise SystemExit(f"initializers of Ultralytics' export that the seeded weights cannot refill: "
                         f"{sorted(set(stripped) - refillable)[:5]}")
    kept = [t for t in exported.graph.initializer if t.name not in set(stripped)]
    del exported.graph.initializer[:]
    exported.graph.initializer.extend(kept)
    versions = {f"meta/{name}_version": np.str_(md.version(name)) for name in ("ultralytics", "torch", "onnxslim", "onnxruntime")}
    return {"graph": np.frombuffer(exported.SerializeToString(), np.uint8), "output": outputs.astype(np.float32),
            "meta/stripped_initializers": np.array(stripped, dtype=np.str_), "meta/state_dict_sha256": np.str_(digest),
            **versions}


def main() -> None:
    args = parse_args()
    try:
        import torch
        from ultralytics.cfg import get_cfg
        from ultralytics.utils.loss import v8DetectionLoss
    except ImportError as err:
        raise SystemExit(f"this tool needs torch and ultralytics ({err}); the workshop itself does not") from None

    if args.compact and args.yolo_lib_seed is None:
        raise SystemExit("--compact needs --yolo-lib-seed (only seeded weights can be left out)")
    h, w = (args.imgsz * 2)[:2]
    if h % 32 or w % 32:
        raise SystemExit(f"image size {h}x{w} must be a multiple of 32")
    torch.manual_seed(args.seed)
    model = build_model(args, torch)
    nc = model.model[-1].nc
    torch.set_float32_matmul_precision("highest")
    out: dict[str, np.ndarray] = {}
    img = torch.rand(args.batch, 3, h, w, generator=torch.Generator().manual_seed(args.seed))
    out["input/img"] = img.numpy()
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    weights = {k: v.cpu().numpy().astype(np.float32) for k, v in initial.items() if not k.endswith("num_batches_tracked")}
    if args.compact:
        from yolo_lib.weights import fingerprint

        out.update({"meta/weights_seed": np.int64(args.yolo_lib_seed), "meta/scale": np.str_(args.scale),
                    "meta/nc": np.int64(nc), "meta/state_dict_sha256": np.str_(fingerprint(weights))})
    else:
        out.update({f"state_dict/{k}": v for k, v in weights.items()})

    criterion = None
    if args.boxes > 0:
        rows = random_targets(args.batch, nc, args.boxes, h, w, args.seed)
        out["input/targets_bidx_cls_xywhn"] = rows
        model.args = get_cfg()  # the default gains: box 7.5, cls 0.5, dfl 1.5
        criterion = v8DetectionLoss(model)
        t = torch.from_numpy(rows)
        batch = {"batch_idx": t[:, 0], "cls": t[:, 1:2], "bboxes": t[:, 2:]}

    for mode in ("eval", "train"):
        model.train(mode == "train")
        model.load_state_dict(initial)  # the BN statistics of the state dict before every forward
        model.zero_grad(set_to_none=True)
        captured: dict = {}
        hooks = capture_hooks(model, captured)
        if criterion is not None:
            hooks.append(criterion.assigner.register_forward_hook(
                lambda mod, inp, o: captured.__setitem__("assigner", o)))
        with torch.set_grad_enabled(mode == "train" and criterion is not None):
            pred = model(img.clone())
            loss = criterion(pred, batch)[0] if criterion is not None else None
        for hk in hooks:
            hk.remove()
        for i in range(len(model.model) - 1):
            out[f"{mode}/layer{i:02d}"] = captured[i].numpy()
        for lvl in (3, 4, 5):
            for kind in ("box_raw", "cls_raw"):
                out[f"{mode}/{kind}_P{lvl}"] = captured[f"{kind}_P{lvl}"].numpy()
        if mode == "eval":
            out["eval/inference_out"] = (pred[0] if isinstance(pred, (list, tuple)) else pred).detach().numpy()
        else:
            for k, v in model.state_dict().items():
                if k.endswith(("running_mean", "running_var")):
                    out[f"train/bn_after_forward/{k}"] = v.numpy().astype(np.float32)
        if loss is not None:
            out.update({f"{mode}/{k}": v for k, v in assigner_outputs(captured["assigner"]).items()})
            out[f"{mode}/loss_items"] = (loss / args.batch).detach().numpy().astype(np.float32)
            total = loss.sum()
            out[f"{mode}/loss_total_backward"] = total.detach().reshape(1).numpy().astype(np.float32)
            if mode == "train":
                total.backward()
                for k, p in model.named_parameters():
                    if p.requires_grad and p.grad is not None:
                        g = p.grad.numpy().astype(np.float32)
                        out[f"grad/{k}"] = round_significant(g) if args.compact else g
    (np.savez_compressed if args.compact else np.savez)(args.out, **out)
    print(f"wrote {len(out)} arrays to {args.out}; check with: python -m yolo_lib.parity {args.out}")
    if args.ultralytics_onnx:
        digest = str(out.get("meta/state_dict_sha256", ""))  # set with --compact: ties the graph to the weights
        onnx_ref = ultralytics_onnx(model, initial, img, args.compact, digest)
        np.savez_compressed(args.ultralytics_onnx, **onnx_ref)
        print(f"wrote Ultralytics' ONNX export ({len(onnx_ref['meta/stripped_initializers'])} initializers left out) "
              f"and its outputs to {args.ultralytics_onnx}")


if __name__ == "__main__":
    main()
