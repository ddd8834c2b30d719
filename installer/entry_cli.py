"""Frozen entry point of the console ``fizz-node`` executable (the command line)."""

from __future__ import annotations

import sys

from fizz_app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
