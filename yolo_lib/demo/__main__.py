"""``python -m yolo_lib.demo [--model FILE.onnx] [--port 8000]``: serve the browser demo on 127.0.0.1.

Without ``--model`` it serves the best weights of the latest training run (exported to ONNX on
the fly), else the fixture or seeded weights, and says which.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yolo_lib.demo", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--model", type=Path, help="an Ultralytics-format ONNX file (default: the latest run's best weights)")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from yolo_lib.demo.server import DemoServerError, make_server, server_url, tunnel_hint
    from yolo_lib.demo.web_setup import WebSetupError, ensure_node_modules

    if args.model is not None and not args.model.is_file():
        raise SystemExit(f"error: no model file at {args.model}")
    try:
        ensure_node_modules()
    except WebSetupError as e:
        raise SystemExit(f"error: {e}") from None
    if args.model is None:
        from yolo_lib.demo.model_choice import default_model

        choice = default_model()
        model, source = choice.onnx_path, choice.source
        print(f"model: {model}\n  {source}")
    else:
        model, source = args.model, f"chosen with --model ({args.model})"
    try:
        server = make_server(model, args.port, source=source)
    except DemoServerError as e:
        raise SystemExit(f"error: {e}") from None
    port = server.server_address[1]
    print(f"demo at {server_url(server)}  (Ctrl-C stops it)")
    print(f"on a remote machine, forward the port first, from your laptop:\n  {tunnel_hint(port)}\n"
          f"then open http://127.0.0.1:{port}/ in your browser")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
