"""What the ``python -m yolo_lib.<package>`` commands share.

* :mod:`~yolo_lib.cli.runner`: the JSON summary on success, one ``error:`` line and exit status 1
  on bad input, the same exit statuses for every command;
* :mod:`~yolo_lib.cli.interrupts`: Ctrl-C / SIGTERM print one line with the resume command, exit 130.

This package file imports nothing: import the module you need.
"""
