"""The browser demo: the exported model detecting live in the browser with onnxruntime-web.

``python -m yolo_lib.demo [--model FILE.onnx] [--port N]`` serves ``web/`` (the page, its ES
modules, onnxruntime-web from ``web/node_modules``) and one ONNX model on 127.0.0.1 with the
cross-origin isolation headers that wasm threads need. Modules: :mod:`~yolo_lib.demo.server`
(HTTP), :mod:`~yolo_lib.demo.model_choice` (which weights to serve, exported on the fly),
:mod:`~yolo_lib.demo.web_setup` (``npm ci`` when ``web/node_modules`` is missing),
:mod:`~yolo_lib.demo.browser` (locating Chromium for the tests and the notebook's screenshot).
"""
