"""yolo_lib: YOLO11n written from scratch in PyTensor.

Importing the package sets process-wide defaults, whatever was imported before it, unless the
user already chose otherwise (:func:`yolo_lib.settings.apply_process_defaults`):

* ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` so several notebooks can share one GPU;
* PyTensor ``floatX=float32`` (training precision) and JAX in 32-bit mode;
* silence JAX's "Explicitly requested dtype float64/int64 ... will be truncated" warning:
  PyTensor's reductions ask for 64-bit accumulators and indices, which JAX in 32-bit mode
  computes in 32 bits, as intended here; the warning would repeat at every compilation.
"""

import warnings as _warnings

from yolo_lib.settings import apply_process_defaults as _apply_process_defaults

_apply_process_defaults()

_warnings.filterwarnings("ignore", message="Explicitly requested dtype (float|int)64 requested in")

__version__ = "0.1.0"
