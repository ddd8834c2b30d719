"""Entry points. The GUI package is imported only inside :func:`main_gui`, so the command line
works on machines without Qt (Electrum's lazy-GUI rule)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main", "main_gui"]


def main_gui(argv: Sequence[str] | None = None) -> int:
    """``fizz-app``: open the desktop app. Returns the process exit code."""
    try:
        from .gui import GuiUnavailable
    except ImportError as error:  # pragma: no cover - the guard itself failed to import
        print(f"fizz-app: the desktop interface cannot start: {error}", file=sys.stderr)
        return 1
    try:
        from .gui.app import run_app
    except GuiUnavailable as error:
        print(f"fizz-app: {error}", file=sys.stderr)
        print("  The command-line node still works: run 'fizz-node --help'.", file=sys.stderr)
        return 1
    return run_app(list(sys.argv[1:] if argv is None else argv))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fizz_app``: the desktop app with no arguments, else the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] == "gui":
        return main_gui(args[1:])
    from .cli.main import main as cli_main

    return cli_main(args)
