"""yolo_lib: YOLO11n written from scratch in PyTensor.

Importing the package sets two process-wide defaults before JAX or PyTensor load, unless the
user already chose otherwise:

* ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` so several notebooks can share one GPU;
* PyTensor ``floatX=float32`` (training precision; it also keeps JAX in 32-bit mode).
"""

import os as _os

_os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
if "floatX" not in _os.environ.get("PYTENSOR_FLAGS", ""):
    _flags = _os.environ.get("PYTENSOR_FLAGS", "")
    _os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (_flags, "floatX=float32") if f)

__version__ = "0.1.0"
