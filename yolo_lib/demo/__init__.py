"""The browser demo: the exported model detecting live in the browser with onnxruntime-web.

``python -m yolo_lib.demo [--model FILE.onnx] [--port N]`` serves ``web/`` (the page, its ES
modules, onnxruntime-web from ``web/node_modules``) and one ONNX model on 127.0.0.1 with the
cross-origin isolation headers that wasm threads need. Modules:

* :mod:`~yolo_lib.demo.server`: the HTTP server (routes, headers, MIME types, one-line errors);
* :mod:`~yolo_lib.demo.model_choice`: which weights to serve, exported to ONNX on the fly;
* :mod:`~yolo_lib.demo.web_setup` and :mod:`~yolo_lib.demo.setup`: ``npm ci`` in ``web/`` and
  Chromium from apt, as run by ``workshop.py lab`` / ``test``;
* :mod:`~yolo_lib.demo.browser`: the system Chromium driven by Playwright (tests, notebook, benchmark);
* :mod:`~yolo_lib.demo.node_check` and :mod:`~yolo_lib.demo.side_by_side`: the page's JavaScript
  run under Node on numpy data, and shown beside the Python it mirrors.
"""
