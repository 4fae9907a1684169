"""Evaluation throughput: ``yolo_lib.evaluate`` vs Ultralytics' validator, same set, same machine.

    python benchmarks/bench_evaluate.py WEIGHTS.npz CHECKPOINT.pt DATA.yaml \
        --annotations FILE --images DIR [--imgsz 320] [--rounds 3] [--engines jax onnxruntime] \
        --ref-python /work/refvenv/bin/python

WEIGHTS.npz and CHECKPOINT.pt hold the same model (``scripts/pt_to_npz.py``); DATA.yaml is the
Ultralytics view of the same images (``scripts/eval_parity.py prepare``). Both sides are warm:
ours evaluates once before timing (the compile), the Ultralytics subprocess validates once
before its timed call (model fusing, label cache, warm-up). Each of our ``--engines`` (the
compiled JAX function; the ONNX export in onnxruntime, exported once in the first call and
reused while the weights stay the same; the export's own cost is printed) is timed in every
round. Rounds alternate ours / theirs;
each figure is images per wall-clock second of the whole evaluation (decode, letterbox,
forward, NMS, COCO scoring), batch 16, CPU. Ratio = ours / Ultralytics (target >= 1.0). Ours
scores with COCOeval (faster-coco-eval, the evaluator's default); Ultralytics with its own
matcher (rect=False: the same square 320 letterbox as ours).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

ULTRALYTICS_VAL = """
import json, sys, time
from ultralytics import YOLO
model = YOLO(sys.argv[1])
kw = dict(data=sys.argv[2], imgsz=int(sys.argv[3]), batch=16, conf=0.001, iou=0.7, max_det=300, device="cpu",
          rect=False, plots=False, save_json=False, workers=0, verbose=False, project=sys.argv[4], name="bench",
          exist_ok=True)
model.val(**kw)  # warm-up
t = time.perf_counter()
m = model.val(**kw)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "mAP50_95": float(m.box.map), "speed_ms": m.speed}))
"""


def ultralytics_round(args, images: int) -> dict:
    done = subprocess.run([args.ref_python, "-c", ULTRALYTICS_VAL, str(args.checkpoint), str(args.data),
                           str(args.imgsz), args.work], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["images_per_second"] = images / out["seconds"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", type=Path)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("data", type=Path)
    p.add_argument("--annotations", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ref-python", default="/work/refvenv/bin/python")
    p.add_argument("--work", default="/tmp/bench_evaluate")
    p.add_argument("--engines", nargs="+", choices=["jax", "onnxruntime"], default=["jax", "onnxruntime"])
    args = p.parse_args()

    from yolo_lib import weights
    from yolo_lib.evaluate import Evaluator

    model = weights.model_from_state_dict(weights.read_npz(args.weights))
    ev = Evaluator(args.annotations, args.images, weights.read_class_names(args.weights), imgsz=args.imgsz,
                   batch=16, progress=False)
    for engine in args.engines:
        t = time.perf_counter()
        first = ev.evaluate(model, engine=engine)
        print(f"ours ({engine}), first call (compile/export included): {time.perf_counter() - t:.1f} s, "
              f"{first['images']} images")
    if "onnxruntime" in args.engines:
        from yolo_lib.export.yolo import export_yolo, onnx_session

        t = time.perf_counter()
        proto = export_yolo(model, args.imgsz)
        t_export = time.perf_counter() - t
        onnx_session(proto, threads=len(os.sched_getaffinity(0)), spinning=False)
        t_session = time.perf_counter() - t - t_export
        t = time.perf_counter()
        weights.fingerprint(weights.state_dict(model))
        print(f"onnxruntime engine, what a change of weights costs: export {t_export:.2f} s, session "
              f"{t_session:.2f} s; the weights fingerprint checked on every call: {time.perf_counter() - t:.3f} s")
    print(f"load average {os.getloadavg()}")
    ours, theirs = {e: [] for e in args.engines}, []
    for r in range(args.rounds):
        line = [f"round {r + 1}:"]
        for engine in args.engines:
            s = ev.evaluate(model, engine=engine)
            ours[engine].append(s)
            line.append(f"ours/{engine} {s['images_per_second']:.2f} img/s ({s['seconds']:.1f} s; "
                        f"{json.dumps(s['timing_seconds'])}),")
        u = ultralytics_round(args, s["images"])
        theirs.append(u)
        line.append(f"Ultralytics {u['images_per_second']:.2f} img/s ({u['seconds']:.1f} s; ms/img "
                    f"{json.dumps({k: round(v, 1) for k, v in u['speed_ms'].items()})}); ratios")
        line += [f"{e} {ours[e][-1]['images_per_second'] / u['images_per_second']:.2f}" for e in args.engines]
        print(" ".join(line), flush=True)
    mt = statistics.median(x["images_per_second"] for x in theirs)
    print(f"load average {os.getloadavg()}")
    for engine, runs in ours.items():
        mo = statistics.median(x["images_per_second"] for x in runs)
        print(f"median: ours/{engine} {mo:.2f} img/s, Ultralytics {mt:.2f} img/s, ratio {mo / mt:.2f} (target >= 1.0); "
              f"mAP50-95 ours (COCOeval) {runs[-1]['mAP50_95']:.4f}, Ultralytics' metric {theirs[-1]['mAP50_95']:.4f}")


if __name__ == "__main__":
    main()
