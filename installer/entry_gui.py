"""Frozen entry point of the windowed ``Fizz`` executable (the desktop app)."""

from __future__ import annotations

import sys

from fizz_app.launcher import main_gui

if __name__ == "__main__":
    sys.exit(main_gui())
