"""onnxruntime latency measurement, fair under background load, and a batch-dynamic copy of
Ultralytics' fixed-batch export (used by ``benchmarks/bench_onnx.py`` and notebook 11)."""

from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import numpy_helper
from tqdm.auto import tqdm


def dynamic_batch_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a fixed-batch-1 detector graph with a symbolic batch axis.

    The input/output batch dim becomes ``"batch"`` and a leading 1 in every Reshape target
    becomes 0 ("copy the input's dim"), which is how Ultralytics' graph hard-codes its batch.
    Check the copy against batch-1 runs before trusting it (the benchmark does).
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in list(m.graph.input) + list(m.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    targets = {n.input[1] for n in m.graph.node if n.op_type == "Reshape"}
    for init in m.graph.initializer:
        if init.name in targets:
            arr = numpy_helper.to_array(init).copy()
            if arr.size and arr[0] == 1:
                arr[0] = 0
                init.CopyFrom(numpy_helper.from_array(arr, init.name))
    del m.graph.value_info[:]
    return m


def time_interleaved(sessions: dict, feeds: dict, repeats: int, warmup: int = 5, desc: str = "") -> dict:
    """Median / p90 milliseconds per ``run`` of each onnxruntime session.

    Calls alternate between the sessions (A, B, A, B, ...) so that load from other processes
    hits all of them alike; ``feeds`` is the input dict given to every session.
    """
    for s in sessions.values():
        for _ in range(warmup):
            s.run(None, feeds)
    times = {k: [] for k in sessions}
    for _ in tqdm(range(repeats), desc=desc or "timing", leave=False):
        for name, s in sessions.items():
            t = time.perf_counter()
            s.run(None, feeds)
            times[name].append((time.perf_counter() - t) * 1e3)
    return {k: {"median_ms": float(np.median(v)), "p90_ms": float(np.percentile(v, 90)), "runs": len(v)}
            for k, v in times.items()}
