"""What the notebooks use beyond the library itself.

* :mod:`~yolo_lib.notebook.profile`: the ``YOLO_PROFILE`` (smoke / full) of every notebook's first cell;
* :mod:`~yolo_lib.notebook.envcheck`: notebook 00's environment self-check;
* :mod:`~yolo_lib.notebook.exercises`: the checks of the exercises in notebooks 01-08;
* :mod:`~yolo_lib.notebook.show`: the real source code of a function, shown on the page;
* :mod:`~yolo_lib.notebook.diagrams`: block diagrams drawn with matplotlib;
* :mod:`~yolo_lib.notebook.pairs`: the jupytext pairs (``.py`` <-> ``.ipynb``) behind ``workshop.py sync``.

This package file imports nothing: import the module you need.
"""
