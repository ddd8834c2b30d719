"""Frozen entry point of the Linux bundle's one executable, installed under two names.

``Fizz`` is the desktop app; ``fizz-node``, a hard link to the same file, is the command line
(on Linux a console executable serves as the GUI too, so one executable and one module archive
do for both). The name the program was started by decides: ``sys.argv[0]`` is what the caller
ran, before any link is resolved, so the .deb's ``/usr/bin/fizz-node`` and ``/usr/bin/fizz-app``
links pick the command line and the app in the same way. Windows and macOS keep two executables
(``entry_gui.py``, ``entry_cli.py``): there a console and a windowed program differ.
"""

from __future__ import annotations

import os
import sys

CLI_NAME = "fizz-node"
"""The name (any folder, any case) under which the executable is the command line."""


def is_cli(argv0: str) -> bool:
    """Whether the executable was started as ``fizz-node`` rather than as the app."""
    return os.path.basename(argv0).lower() == CLI_NAME


def main() -> int:
    if is_cli(sys.argv[0] if sys.argv else ""):
        from fizz_app.cli.main import main as cli_main

        return cli_main()
    from fizz_app.launcher import main_gui

    return main_gui()


if __name__ == "__main__":
    sys.exit(main())
