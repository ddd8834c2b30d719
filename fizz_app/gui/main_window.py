"""The main window: an error banner, a sidebar of pages, a status line and the menus.

Pages are registered with :meth:`MainWindow.add_page` (the Dashboard and the System check are
built in); the sidebar switches between them. The window shows every command failure in its
banner. Whether closing it hides it (the node keeps running in the tray) or quits is decided by
:mod:`fizz_app.gui.app` through :meth:`MainWindow.set_close_to_tray`.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.state import NodeSnapshot, NodeStatus
from .bridge import EngineBridge
from .pages.dashboard import DashboardPage
from .pages.earnings import EarningsPage
from .pages.pricing import PricingPage
from .pages.settings import SettingsPage
from .pages.system_check import SystemCheckPage
from .pages.wizard import FirstRunWizard, read_wizard_facts
from .widgets.error_banner import ErrorBanner
from .widgets.node_status import status_icon

__all__ = ["MainWindow"]

DEFAULT_SIZE = (1040, 700)
MINIMUM_SIZE = (760, 520)
SIDEBAR_WIDTH = 180
_KEY_ROLE = Qt.ItemDataRole.UserRole


class MainWindow(QMainWindow):
    """The app's window. Create it before ``bridge.start()`` so it sees the first snapshot.

    Args:
        bridge: the engine bridge; the window connects to it but neither starts nor stops it.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_closed_to_tray = Signal()
    """The user closed the window and it was hidden: the node keeps running in the tray."""
    sig_page_changed = Signal(str)
    """The key of the page now shown."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._have_snapshot = False
        self._recheck: concurrent.futures.Future[Any] | None = None
        self._close_to_tray = False
        self._page_keys: list[str] = []

        self.setObjectName("main_window")
        self.setWindowTitle("Fizz Node")
        self.setWindowIcon(status_icon(NodeStatus.ONLINE))
        self.resize(*DEFAULT_SIZE)
        self.setMinimumSize(*MINIMUM_SIZE)

        self._banner = ErrorBanner(self)
        self._sidebar = QListWidget(self)
        self._sidebar.setObjectName("sidebar")
        self._sidebar.setAccessibleName("Pages")
        self._sidebar.setFixedWidth(SIDEBAR_WIDTH)
        self._sidebar.setIconSize(QSize(20, 20))
        self._sidebar.setFrameShape(QListWidget.Shape.NoFrame)
        # The sidebar takes the window's own background so it follows light and dark themes.
        self._sidebar.setAutoFillBackground(False)
        self._sidebar.viewport().setAutoFillBackground(False)
        self._pages = QStackedWidget(self)
        self._pages.setObjectName("pages")
        self._sidebar.currentRowChanged.connect(self._on_sidebar_current_row_changed)

        body = QHBoxLayout()
        body.setSpacing(12)
        body.addWidget(self._sidebar)
        body.addWidget(self._pages, 1)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(12, 12, 12, 0)
        layout.setSpacing(8)
        layout.addWidget(self._banner)
        layout.addLayout(body, 1)
        self.setCentralWidget(central)

        self._dashboard = DashboardPage(bridge, parent=self._pages)
        self._system_check = SystemCheckPage(self._pages)
        self.add_page("dashboard", "Dashboard", self._dashboard)
        # Each of these pages connects to the bridge itself.
        self.add_page("earnings", "Earnings", EarningsPage(bridge, self._pages))
        self.add_page("pricing", "Pricing", PricingPage(bridge, self._pages))
        self.add_page("settings", "Settings", SettingsPage(bridge, self._pages))
        self.add_page("system_check", "System check", self._system_check)
        self._wizard = FirstRunWizard(bridge, self._pages)
        self._wizard.sig_finished.connect(self._on_wizard_finished)
        self.add_page("setup", "Set up", self._wizard)
        self._setup_checked = False
        self._setup_wanted = False
        self._setup_probe: concurrent.futures.Future[Any] | None = None

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

    def offer_setup(self) -> None:
        """Open the set-up wizard once the engine is up if this machine has no wallet or is
        not registered yet (the app calls this at start; call it before ``bridge.start()``)."""
        self._setup_wanted = True

    def add_page(self, key: str, title: str, widget: QWidget, icon: QIcon | None = None) -> None:
        """Add ``widget`` as a page with a sidebar entry ``title`` (after the pages added
        before); the window takes ownership. Show it with :meth:`show_page` ``(key)``.

        Raises:
            ValueError: ``key`` is already used.
        """
        if key in self._page_keys:
            raise ValueError(f"a page with key {key!r} was already added")
        widget.setParent(self._pages)
        self._pages.addWidget(widget)
        self._page_keys.append(key)
        item = QListWidgetItem(title)
        item.setData(_KEY_ROLE, key)
        item.setSizeHint(QSize(SIDEBAR_WIDTH - 8, 36))
        if icon is not None:
            item.setIcon(icon)
        self._sidebar.addItem(item)
        if self._sidebar.currentRow() < 0:
            self._sidebar.setCurrentRow(0)

    def show_page(self, key: str) -> None:
        """Switch to the page added under ``key``.

        Raises:
            KeyError: no page has that key.
        """
        if key not in self._page_keys:
            raise KeyError(f"no page {key!r}; the pages are {self._page_keys}")
        self._sidebar.setCurrentRow(self._page_keys.index(key))

    def page(self, key: str) -> QWidget:
        """The page widget added under ``key``.

        Raises:
            KeyError: no page has that key.
        """
        widget = self._pages.widget(self._page_keys.index(key)) if key in self._page_keys else None
        if widget is None:
            raise KeyError(f"no page {key!r}; the pages are {self._page_keys}")
        return widget

    @property
    def current_page_key(self) -> str:
        """The key of the page shown now."""
        return self._page_keys[self._pages.currentIndex()]

    @property
    def page_keys(self) -> list[str]:
        """The pages' keys in sidebar order."""
        return list(self._page_keys)

    @property
    def sidebar(self) -> QListWidget:
        return self._sidebar

    @property
    def dashboard_page(self) -> DashboardPage:
        return self._dashboard

    @property
    def system_check_page(self) -> SystemCheckPage:
        return self._system_check

    def set_close_to_tray(self, enabled: bool) -> None:
        """With ``enabled``, closing the window hides it (``sig_closed_to_tray``) and the app
        keeps running; otherwise closing closes it as usual. Enable it only while a tray icon
        is shown, or the user has no way back to the window."""
        self._close_to_tray = enabled

    def bring_to_front(self) -> None:
        """Show the window (from the tray or minimised), raise it and give it focus."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

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

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self._close_to_tray:
            event.ignore()
            self.hide()
            self.sig_closed_to_tray.emit()
            return
        super().closeEvent(event)

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

    def _on_sidebar_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self._page_keys):
            self._pages.setCurrentIndex(row)
            self.sig_page_changed.emit(self._page_keys[row])

    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._have_snapshot = True
        if self._setup_wanted and not self._setup_checked:
            # Once, when the engine is up: a machine without a wallet or a registration
            # opens on the set-up wizard instead of an empty dashboard.
            self._setup_checked = True
            self._setup_probe = self._bridge.submit(read_wizard_facts)
        self._system_check.show_snapshot(snapshot)
        self._status.setText(f"{snapshot.status.value.capitalize()}: {snapshot.status_reason}")
        self._update_checking()

    def _on_bridge_command_failed(self, text: str) -> None:
        self.show_error(text)

    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        if future is self._recheck:
            self._recheck = None
        if future is self._setup_probe:
            self._on_setup_probed(future)
        self._update_checking()

    def _on_setup_probed(self, future: concurrent.futures.Future[Any]) -> None:
        self._setup_probe = None
        if future.cancelled() or future.exception() is not None:
            return  # the engine's error is shown already; the wizard stays one click away
        facts = future.result()
        if not facts.info.exists or not facts.registered:
            self.show_page("setup")

    def _on_wizard_finished(self) -> None:
        self.show_page("dashboard")

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
