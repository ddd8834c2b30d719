"""One way for every command to print a result: JSON with ``--json``, plain text otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["emit", "emit_json"]


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON and a newline."""
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def emit(as_json: bool, data: Any, text: str) -> None:
    """Print ``data`` as JSON when ``as_json``, else ``text`` (one trailing newline)."""
    if as_json:
        emit_json(data)
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")
