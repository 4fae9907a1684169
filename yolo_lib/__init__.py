"""yolo_lib: YOLO11n written from scratch in PyTensor.

Importing the package sets process-wide defaults before JAX or PyTensor load, unless the
user already chose otherwise:

* ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` so several notebooks can share one GPU;
* PyTensor ``floatX=float32`` (training precision; it also keeps JAX in 32-bit mode);
* silence JAX's "Explicitly requested dtype float64/int64 ... will be truncated" warning:
  PyTensor's reductions ask for 64-bit accumulators and indices, which JAX in 32-bit mode
  computes in 32 bits, as intended here; the warning would repeat at every compilation.
"""

import os as _os
import warnings as _warnings

_os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
if "floatX" not in _os.environ.get("PYTENSOR_FLAGS", ""):
    _flags = _os.environ.get("PYTENSOR_FLAGS", "")
    _os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (_flags, "floatX=float32") if f)

_warnings.filterwarnings("ignore", message="Explicitly requested dtype (float|int)64 requested in")

__version__ = "0.1.0"
