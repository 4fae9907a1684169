"""onnxruntime CPU latency of our YOLO11n export vs Ultralytics' own export of the same weights.

    python benchmarks/bench_onnx.py [--repeats 50] [--batches 1 8] [--threads 0]

Both models come from ``../shared/fixtures`` (our export is made here from
``yolo11n_nc2_320.npz``; theirs is ``ultralytics_yolo11n_nc2_320.onnx``), 320x320 input, same
process, calls interleaved (ours, theirs, ours, ...) so background load hits both alike.
Ultralytics' file has a fixed batch of 1; for batch > 1 this script makes a copy batch-dynamic
(input dim -> "batch", the leading 1 of its Reshape targets -> 0 = "copy the batch dim") and
checks that copy against per-image batch-1 runs before timing it.
Prints median / p90 ms per call and the ratio ours / theirs (target <= 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import numpy as np
import onnx

import yolo_lib  # noqa: F401
from yolo_lib.export.latency import dynamic_batch_copy, time_interleaved
from yolo_lib.export.yolo import export_yolo, onnx_session
from yolo_lib.paths import fixture_path
from yolo_lib.weights import model_from_state_dict, read_npz


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = its default)")
    args = p.parse_args(argv)
    npz, theirs_path = fixture_path("yolo11n_nc2_320.npz"), fixture_path("ultralytics_yolo11n_nc2_320.onnx")
    if npz is None or theirs_path is None:
        raise SystemExit("needs ../shared/fixtures (yolo11n_nc2_320.npz and ultralytics_yolo11n_nc2_320.onnx)")
    ours = export_yolo(model_from_state_dict(read_npz(npz)), 320)
    theirs = onnx.load(str(theirs_path))
    threads = args.threads or None
    rng = np.random.default_rng(0)
    results = {"machine": f"{platform.node()} {os.cpu_count()} cores", "load_average": os.getloadavg(),
               "nodes": {"ours": len(ours.graph.node), "theirs": len(theirs.graph.node)}, "batches": {}}
    for batch in args.batches:
        x = rng.random((batch, 3, 320, 320), dtype=np.float32)
        sessions = {"ours": onnx_session(ours, threads)}
        if batch == 1:
            sessions["theirs"] = onnx_session(theirs, threads)
        else:
            sessions["theirs"] = onnx_session(dynamic_batch_copy(theirs), threads)
            one = onnx_session(theirs, threads)
            want = np.concatenate([one.run(None, {"images": x[i:i + 1]})[0] for i in range(batch)])
            got = sessions["theirs"].run(None, {"images": x})[0]
            assert np.abs(got - want).max() <= 1e-3, "batch-dynamic copy of Ultralytics' graph is wrong"
        figures = time_interleaved(sessions, {"images": x}, args.repeats, desc=f"batch {batch}")
        figures["ratio_ours_over_theirs"] = figures["ours"]["median_ms"] / figures["theirs"]["median_ms"]
        results["batches"][batch] = figures
        print(f"batch {batch}: ours {figures['ours']['median_ms']:.2f} ms (p90 {figures['ours']['p90_ms']:.2f}), "
              f"Ultralytics {figures['theirs']['median_ms']:.2f} ms (p90 {figures['theirs']['p90_ms']:.2f}), "
              f"ratio {figures['ratio_ours_over_theirs']:.3f} (target <= 1.0)")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
