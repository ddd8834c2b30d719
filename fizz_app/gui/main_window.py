"""The main window: an error banner, the pages, a status line and the menus.

It owns the wiring between the :class:`~fizz_app.gui.bridge.EngineBridge` and the pages: pages
emit requests, the window turns them into bridge commands and renders the bridge's snapshots.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.state import NodeSnapshot
from .bridge import EngineBridge
from .pages.system_check import SystemCheckPage
from .widgets.error_banner import ErrorBanner

__all__ = ["MainWindow"]

DEFAULT_SIZE = (900, 600)
MINIMUM_SIZE = (680, 500)


class MainWindow(QMainWindow):
    """The app's window. Create it before ``bridge.start()`` so it sees the first snapshot.

    Args:
        bridge: the engine bridge; the window connects to it but neither starts nor stops it.
        parent: the usual Qt parent.
    """

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._have_snapshot = False
        self._recheck: concurrent.futures.Future[Any] | None = None

        self.setObjectName("main_window")
        self.setWindowTitle("Fizz Node")
        self.resize(*DEFAULT_SIZE)
        self.setMinimumSize(*MINIMUM_SIZE)

        self._banner = ErrorBanner(self)
        self._pages = QStackedWidget(self)
        self._pages.setObjectName("pages")
        self._system_check = SystemCheckPage(self._pages)
        self._pages.addWidget(self._system_check)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(12, 12, 12, 0)
        layout.setSpacing(0)
        layout.addWidget(self._banner)
        layout.addWidget(self._pages, 1)
        self.setCentralWidget(central)

        self._status = QLabel("Starting…", self)
        self._status.setObjectName("status_label")
        self._status.setTextFormat(Qt.TextFormat.PlainText)
        self._status.setContentsMargins(12, 2, 12, 2)
        self.statusBar().addWidget(self._status, 1)

        self._build_menus()

        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_command_failed.connect(self._on_bridge_command_failed)
        bridge.sig_command_finished.connect(self._on_bridge_command_finished)
        bridge.sig_engine_failed.connect(self._on_bridge_engine_failed)
        self._system_check.sig_recheck_requested.connect(self._on_system_check_recheck_requested)

    # ---- Public API

    @property
    def system_check_page(self) -> SystemCheckPage:
        return self._system_check

    @property
    def error_banner(self) -> ErrorBanner:
        return self._banner

    @property
    def status_text(self) -> str:
        """The status line's text."""
        return self._status.text()

    def show_error(self, text: str) -> None:
        """Show ``text`` in the banner at the top of the window (never a modal dialog)."""
        self._banner.show_message(text)

    # ---- Private API

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setObjectName("action_quit")
        # Explicit Ctrl+Q: QKeySequence.Quit is empty on Windows.
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(QCoreApplication.quit)
        file_menu.addAction(quit_action)

        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction("&About Fizz Node", self)
        about_action.setObjectName("action_about")
        about_action.setMenuRole(QAction.MenuRole.AboutRole)
        about_action.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about_action)

    def _update_checking(self) -> None:
        # Checking until the first snapshot (the engine checks while it starts), and while a
        # check the user asked for is running.
        running = self._recheck is not None and not self._recheck.done()
        self._system_check.set_checking(not self._have_snapshot or running)

    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._have_snapshot = True
        self._system_check.show_snapshot(snapshot)
        self._status.setText(f"{snapshot.status.value.capitalize()}: {snapshot.status_reason}")
        self._update_checking()

    def _on_bridge_command_failed(self, text: str) -> None:
        self.show_error(text)

    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        if future is self._recheck:
            self._recheck = None
        self._update_checking()

    def _on_bridge_engine_failed(self, text: str) -> None:
        self.show_error(text)
        self._status.setText("Stopped: Fizz Node could not run the node engine.")
        self._system_check.show_unavailable("See the message above for what to do.")

    def _on_system_check_recheck_requested(self) -> None:
        if self._recheck is not None and not self._recheck.done():
            return  # one check at a time; the button is disabled meanwhile anyway
        self._system_check.set_checking(True)
        self._recheck = self._bridge.submit(lambda node: node.check_hardware())
        self._update_checking()

    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            "About Fizz Node",
            f"<b>Fizz Node</b> {__version__}<br>"
            "Lend this machine's idle CPU, memory, storage and GPU to a Fizz-style compute "
            "network and earn SPON.",
        )
