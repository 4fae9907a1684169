"""``python -m yolo_lib.parity FILE.npz``: see :mod:`yolo_lib.parity`."""

import sys

from yolo_lib.parity import main

sys.exit(main())
