"""The tray icon: the node's state at a glance, quick Start / Stop / Pause, and messages.

Closing the main window hides it and leaves the node running here, which the tray says once
(remembered in the data folder). Where the desktop has no tray
(``QSystemTrayIcon.isSystemTrayAvailable()`` is False: bare X servers, some Wayland shells)
:mod:`fizz_app.gui.app` keeps a normal window instead: closing it quits the app and stops the
node, as users expect from a window with no tray icon to come back through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ..core.node import Node
from ..core.state import DesiredState, NodeSnapshot, NodeStatus
from .bridge import EngineBridge
from .widgets.node_status import (
    pause_choices,
    seconds_until_morning,
    status_detail,
    status_icon,
    status_title,
)

__all__ = ["TrayIcon", "TOLD_FILE"]

log = logging.getLogger(__name__)

TOLD_FILE = "told-close-to-tray"
"""Marker file in the data folder: the user was told that closing the window keeps the node
running in the tray."""

_TOOLTIP_MAX = 120  # Windows cuts tray tooltips at 127 characters


class TrayIcon(QSystemTrayIcon):
    """The tray icon over ``bridge``. Call ``show()`` only where a tray exists.

    Args:
        bridge: the engine bridge; the menu's actions are sent through it.
        data_dir: the data folder (where "told once" is remembered).
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_notified = Signal(str, str)
    """(title, text) of every message shown (or that would be, where no tray exists)."""
    sig_open_requested = Signal()
    """The user asked for the main window (menu, click or double-click on the icon)."""
    sig_quit_requested = Signal()
    """The user chose Quit."""

    def __init__(self, bridge: EngineBridge, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._told_path = data_dir / TOLD_FILE
        self._snapshot: NodeSnapshot | None = None
        self._engine_failed = False
        self.setObjectName("tray_icon")
        self._menu = QMenu()
        self._menu.setObjectName("tray_menu")
        self._actions: dict[str, QAction] = {}
        self._build_menu()
        self.setContextMenu(self._menu)
        self.setIcon(status_icon(NodeStatus.STARTING))
        self.setToolTip("Fizz Node: starting")
        self.activated.connect(self._on_activated)
        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_engine_failed.connect(self._on_bridge_engine_failed)
        self._render()

    # ---- Public API

    @property
    def menu(self) -> QMenu:
        return self._menu

    @property
    def icon_status(self) -> NodeStatus:
        """The status the icon shows now."""
        if self._engine_failed:
            return NodeStatus.ERROR
        return self._snapshot.status if self._snapshot is not None else NodeStatus.STARTING

    def action(self, key: str) -> QAction:
        """The menu action ``start``, ``stop``, ``pause_1h``, ``pause_4h``, ``pause_morning``,
        ``resume``, ``open`` or ``quit``."""
        return self._actions[key]

    def notify(self, title: str, text: str) -> None:
        """Show a tray message (where the tray is shown) and emit ``sig_notified``."""
        if self.isVisible() and self.supportsMessages():
            self.showMessage(title, text, status_icon(self.icon_status), 8000)
        log.info("notification: %s: %s", title, text)
        self.sig_notified.emit(title, text)

    @property
    def told_close_to_tray(self) -> bool:
        """Whether the user was already told that closing the window keeps the node running."""
        return self._told_path.exists()

    def tell_closed_to_tray(self) -> bool:
        """Say, the first time only, that the node keeps running in the tray; returns whether
        the message was shown now."""
        if self.told_close_to_tray:
            return False
        self.notify(
            "Fizz Node is still running",
            "The node keeps lending this computer from the tray. Choose Quit in the tray "
            "menu to stop it.",
        )
        try:
            self._told_path.parent.mkdir(parents=True, exist_ok=True)
            self._told_path.write_text("told\n", encoding="utf-8")
        except OSError as error:  # the message then shows again next time: harmless
            log.warning("cannot remember that the tray message was shown: %s", error)
        return True

    # ---- Private API

    def _build_menu(self) -> None:
        self._add("open", "Open dashboard", self.sig_open_requested.emit)
        self._menu.addSeparator()
        self._add("start", "Start", lambda: self._run(lambda node: node.start()))
        self._add("stop", "Stop", lambda: self._run(lambda node: node.stop()))
        self._menu.addSeparator()
        for key, label, seconds in pause_choices():
            if key == "pause_morning":
                self._add(key, label, self._on_pause_morning)
            else:
                self._add(key, label, self._pauser(seconds))
        self._add("resume", "Resume", lambda: self._run(lambda node: node.resume()))
        self._menu.addSeparator()
        self._add("quit", "Quit Fizz Node", self.sig_quit_requested.emit)
        self._menu.aboutToShow.connect(self._on_menu_about_to_show)

    def _add(self, key: str, text: str, slot: Callable[[], Any]) -> None:
        action = QAction(text, self._menu)
        action.setObjectName(f"tray_{key}")
        action.triggered.connect(lambda _checked=False: slot())
        self._menu.addAction(action)
        self._actions[key] = action

    def _pauser(self, seconds: float) -> Callable[[], None]:
        return lambda: self._run(lambda node: node.pause(seconds))

    def _run(self, command: Callable[[Node], Any]) -> None:
        # Failures reach the window's banner through sig_command_failed.
        self._bridge.submit(command)

    def _render(self) -> None:
        snapshot = self._snapshot
        self.setIcon(status_icon(self.icon_status))
        if self._engine_failed:
            self.setToolTip("Fizz Node: not running. Open the window to see what to do.")
        elif snapshot is not None:
            tip = f"Fizz Node: {status_title(snapshot)}\n{status_detail(snapshot)}"
            if len(tip) > _TOOLTIP_MAX:
                tip = tip[: _TOOLTIP_MAX - 1] + "…"
            self.setToolTip(tip)
        ready = snapshot is not None and not self._engine_failed
        desired = snapshot.desired if snapshot is not None else None
        self._actions["start"].setEnabled(ready and desired is DesiredState.OFFLINE)
        self._actions["stop"].setEnabled(ready and desired is not DesiredState.OFFLINE)
        for key in ("pause_1h", "pause_4h", "pause_morning"):
            self._actions[key].setEnabled(ready and desired is not DesiredState.OFFLINE)
        self._actions["resume"].setEnabled(ready and desired is DesiredState.PAUSED)

    def _on_pause_morning(self) -> None:
        seconds = seconds_until_morning()
        self._run(lambda node: node.pause(seconds))

    def _on_menu_about_to_show(self) -> None:
        for key, label, _seconds in pause_choices():
            self._actions[key].setText(label)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.sig_open_requested.emit()

    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._snapshot = snapshot
        self._render()

    def _on_bridge_engine_failed(self, text: str) -> None:
        self._engine_failed = True
        self._render()
