"""Start the desktop app: ``run_app(argv)`` returns the process exit code.

Importing this module raises :class:`~fizz_app.gui.GuiUnavailable` (with what to install) when
Qt cannot load, before any Qt import below can fail with a bare ImportError.
"""

from __future__ import annotations

from . import require_qt

require_qt()

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from .. import __version__  # noqa: E402
from ..core import paths  # noqa: E402
from ..core.logs import configure_logging  # noqa: E402
from .bridge import EngineBridge  # noqa: E402
from .main_window import MainWindow  # noqa: E402

__all__ = ["run_app"]

log = logging.getLogger(__name__)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fizz-app", description="Open the Fizz Node app.")
    parser.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="quit by itself after SECONDS (for smoke tests and start-up benchmarks)",
    )
    parser.add_argument("--version", action="version", version=f"Fizz Node {__version__}")
    return parser.parse_args(argv)


def run_app(argv: list[str]) -> int:
    """Open the main window, run the engine beside it, and return the exit code on quit.

    Args:
        argv: the arguments after the program name; Qt's own options (``-platform``,
            ``-style``...) are taken out before the app's are parsed.
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *argv])
    try:
        args = _parse_args(app.arguments()[1:] if existing is None else argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return exit_.code if isinstance(exit_.code, int) else 2
    app.setApplicationName("Fizz Node")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("FizzNode")
    app.setDesktopFileName("fizz-node")
    configure_logging(paths.log_dir())
    log.info("Fizz Node %s desktop app starting (data folder %s)", __version__, paths.data_dir())

    bridge = EngineBridge()
    window = MainWindow(bridge)  # connected before start(), so it gets the first snapshot
    app.aboutToQuit.connect(bridge.stop)
    bridge.start()
    window.show()
    if args.quit_after is not None:
        QTimer.singleShot(max(0, int(args.quit_after * 1000)), app.quit)
    code = app.exec()
    bridge.stop()  # a no-op after aboutToQuit; covers an exec() that returned without quitting
    log.info("Fizz Node desktop app exiting with code %d", code)
    return code
