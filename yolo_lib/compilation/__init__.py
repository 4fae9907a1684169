"""Compiling PyTensor graphs to JAX programs: how, with which rewrites, on which devices, kept where.

* :mod:`~yolo_lib.compilation.modes`: every compile mode of the project, each with its reason;
* :mod:`~yolo_lib.compilation.functions`: compiled model functions (eval, train forward, one
  block), built once per input shape and cached on the model; JAX's persistent compilation cache;
* :mod:`~yolo_lib.compilation.donating_linker`: the JAX linker that donates updated buffers;
* :mod:`~yolo_lib.compilation.parallel`: the data-parallel device mesh;
* :mod:`~yolo_lib.compilation.step_cache`: compiled programs kept across processes.

This package file imports nothing: import the module you need.
"""
