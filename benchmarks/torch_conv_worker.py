"""PyTorch side of ``bench_conv_layers.py``: times one conv shape per request (runs in the
reference environment with torch, not in the project's; it imports nothing from yolo_lib).

Reads one JSON request per line on stdin::

    {"x": [N, C, H, W], "w": [O, C/g, kh, kw], "stride": [s, s], "padding": [p, p],
     "dilation": [1, 1], "groups": g, "repeats": r, "threads": t}

and answers one JSON line: seconds per call of each of the ``r`` calls for ``forward``,
``grad_input`` and ``grad_weight`` (``aten.convolution_backward`` with one output selected,
as autograd calls it in a training step).
"""

from __future__ import annotations

import json
import sys
import time

import torch


def timings(fn, repeats: int) -> list[float]:
    fn()  # warm-up (allocator, oneDNN primitive cache)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def serve() -> None:
    tensors = {}
    for line in sys.stdin:
        req = json.loads(line)
        torch.set_num_threads(int(req.get("threads", 2)))
        key = json.dumps([req["x"], req["w"], req["stride"]])
        if key not in tensors:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(*req["x"], generator=g)
            w = torch.randn(*req["w"], generator=g) * 0.1
            with torch.no_grad():
                y = torch.nn.functional.conv2d(x, w, None, req["stride"], req["padding"], req["dilation"], req["groups"])
            tensors = {key: (x, w, torch.randn(y.shape, generator=g))}  # keep one shape in memory
        x, w, gy = tensors[key]
        args = (req["stride"], req["padding"], req["dilation"], False, [0, 0], req["groups"])
        r = int(req["repeats"])
        with torch.no_grad():
            res = {
                "forward": timings(lambda: torch.nn.functional.conv2d(
                    x, w, None, req["stride"], req["padding"], req["dilation"], req["groups"]), r),
                "grad_input": timings(lambda: torch.ops.aten.convolution_backward(
                    gy, x, w, None, *args, [True, False, False]), r),
                "grad_weight": timings(lambda: torch.ops.aten.convolution_backward(
                    gy, x, w, None, *args, [False, True, False]), r),
            }
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    serve()
