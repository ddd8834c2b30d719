"""Start the desktop app: ``run_app(argv)`` returns the process exit code.

One app runs per data folder: a second launch asks the first to show its window and exits 0
(:mod:`fizz_app.gui.single_instance`). Where the desktop has a tray, the app lives there:
closing the window hides it and the node keeps running (said once); Quit in the tray or the
File menu stops it. Without a tray, closing the window quits, as for any ordinary window.

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
from PySide6.QtWidgets import QApplication, QSystemTrayIcon  # noqa: E402

from .. import __version__  # noqa: E402
from ..core import paths  # noqa: E402
from ..core.logs import configure_logging  # noqa: E402
from .bridge import EngineBridge  # noqa: E402
from .main_window import MainWindow  # noqa: E402
from .notifications import Notifier  # noqa: E402
from .pages.settings import apply_theme, saved_theme  # noqa: E402
from .quit_signals import QuitOnSignals  # noqa: E402
from .single_instance import SingleInstance, SingleInstanceError  # noqa: E402
from .tray import TrayIcon  # noqa: E402

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
    parser.add_argument(
        "--minimized",
        action="store_true",
        help="start in the tray without showing the window (how start at login launches it)",
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

    instance = SingleInstance()
    if instance.ask_running_to_raise():
        log.info("Fizz Node is already running; it was asked to show its window")
        return 0
    instance_error: str | None = None
    try:
        instance.listen()
    except SingleInstanceError as error:  # the app still works; a second launch won't find it
        log.warning("single instance: %s", error)
        instance_error = str(error)

    bridge = EngineBridge()
    # Everything that renders the bridge connects before start(): each gets the first snapshot.
    window = MainWindow(bridge)
    window.offer_setup()
    tray = TrayIcon(bridge, paths.data_dir(), parent=app)
    notifier = Notifier(bridge, parent=app)
    notifier.sig_notification.connect(tray.notify)
    _wire_tray(app, window, tray)
    instance.sig_raise_requested.connect(window.bring_to_front)
    app.aboutToQuit.connect(lambda: notifier.set_enabled(False))
    app.aboutToQuit.connect(instance.close)
    app.aboutToQuit.connect(bridge.stop)
    signals = QuitOnSignals(app.quit, parent=app)  # a logout or `kill` drains like Quit does
    app.aboutToQuit.connect(signals.close)
    apply_theme(saved_theme())
    bridge.start()
    if not (args.minimized and QSystemTrayIcon.isSystemTrayAvailable()):
        window.show()  # minimized to a tray that exists; else a window, or nothing shows
        QTimer.singleShot(0, lambda: log.info("first window shown"))  # for benchmarks/gui.py
    if instance_error is not None:
        window.show_error(instance_error)
    if args.quit_after is not None:
        QTimer.singleShot(max(0, int(args.quit_after * 1000)), app.quit)
    code = app.exec()
    bridge.stop()  # a no-op after aboutToQuit; covers an exec() that returned without quitting
    tray.hide()
    log.info("Fizz Node desktop app exiting with code %d", code)
    return code


def _wire_tray(app: QApplication, window: MainWindow, tray: TrayIcon) -> None:
    """Show the tray icon where a tray exists and make closing the window hide it there."""

    def open_dashboard() -> None:
        window.show_page("dashboard")
        window.bring_to_front()

    tray.sig_open_requested.connect(open_dashboard)
    tray.sig_quit_requested.connect(app.quit)
    if not QSystemTrayIcon.isSystemTrayAvailable():
        log.info("no system tray on this desktop: closing the window quits Fizz Node")
        return
    tray.show()
    window.set_close_to_tray(True)
    window.sig_closed_to_tray.connect(tray.tell_closed_to_tray)
    # A hidden main window must not end the app when a log window closes.
    app.setQuitOnLastWindowClosed(False)
