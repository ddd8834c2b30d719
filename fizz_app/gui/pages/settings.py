"""The Settings page: what may be rented out and when, the network, start at login, theme, and
the log file.

Limits are saved with ``update_section("limits", ...)`` and the network with
``update_settings(network=..., rpc_url=...)``; the engine validates them and its refusal (which
names the field, e.g. ``limits.pause_programs``) is shown on the page. Start at login and the
theme apply at once, without Save.

A custom RPC address arrives from the engine with its API key masked (``.../v2/***``): the page
shows that form, and sends ``rpc_url`` only when the user typed something else into the field,
so the saved address and its key are never replaced by what is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core import autostart, paths
from ...core.config import Settings
from ...core.errors import UserFacingError
from ...core.logs import LOG_FILE_NAME
from ...core.networks import available_networks
from ...core.node import Node
from ..bridge import EngineBridge
from ..widgets.settings_log import LogViewer
from ..widgets.settings_schedule import ScheduleEditor
from .wizard_steps.base import set_message
from .wizard_steps.calls import EngineCalls

__all__ = ["THEMES", "SettingsPage", "apply_theme", "saved_theme"]

THEMES = ("system", "light", "dark")
"""Theme choices; ``system`` follows the desktop's light/dark setting."""
_THEME_KEY = "appearance/theme"


def _gui_settings() -> QSettings:
    # The GUI's own preferences (not the engine's): an INI file in the data folder.
    return QSettings(str(paths.data_dir() / "gui.ini"), QSettings.Format.IniFormat)


def saved_theme() -> str:
    """The theme the user chose (``system`` by default)."""
    value = str(_gui_settings().value(_THEME_KEY, "system"))
    return value if value in THEMES else "system"


def apply_theme(theme: str) -> None:
    """Switch the running app to ``theme`` (call it at start-up with :func:`saved_theme`)."""
    scheme = {
        "light": Qt.ColorScheme.Light,
        "dark": Qt.ColorScheme.Dark,
    }.get(theme, Qt.ColorScheme.Unknown)
    QGuiApplication.styleHints().setColorScheme(scheme)


def _spin(parent: QWidget, name: str, maximum: int, special: str | None, suffix: str) -> QSpinBox:
    box = QSpinBox(parent)
    box.setObjectName(name)
    box.setRange(0, maximum)
    if special is not None:
        box.setSpecialValueText(special)  # shown at the minimum, which means "no cap"
    box.setSuffix(suffix)
    return box


class SettingsPage(QWidget):
    """Edit the node's settings; :meth:`reload` shows the saved ones, :meth:`save` saves.

    Args:
        bridge: the engine bridge.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_saved = Signal(object)
    """The :class:`~fizz_app.core.config.Settings` just saved."""
    sig_theme_changed = Signal(str)
    """The user chose another theme (already applied)."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settings_page")
        self._calls = EngineCalls(bridge, self)
        self._loaded: Settings | None = None
        self._shown_rpc = ""
        """The RPC address as shown (masked): the field holding just this means "unchanged"."""
        self._build()
        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        if bridge.is_ready:
            self.reload()

    # ---- Public API

    def reload(self) -> None:
        """Show the settings the engine uses now."""
        self._calls.call(_current_settings, self._show_settings, self._show_error)

    def save(self) -> None:
        """Validate and save the limits and network; the result shows on the page."""
        try:
            limits = self._limits()
        except UserFacingError as error:
            self._show_error(str(error))
            return
        network = self.network.currentText()
        rpc = self.rpc_url.text().strip()
        loaded = self._loaded
        network_changes: dict[str, Any] = {}
        if loaded is None or network != loaded.network:
            network_changes["network"] = network
        # Only what the user typed: the field shows the saved address masked, and sending
        # that back would be refused (or, at best, mean "unchanged").
        if rpc != self._shown_rpc:
            network_changes["rpc_url"] = rpc or None

        async def store(node: Node) -> Settings:
            await node.update_section("limits", **limits)
            if network_changes:
                await node.update_settings(**network_changes)
            return node.settings

        self.save_button.setEnabled(False)
        set_message(self.message, "Saving…")
        self._calls.call(store, self._on_saved, self._on_save_failed)

    # ---- Building

    def _build(self) -> None:
        content = QWidget(self)
        column = QVBoxLayout(content)
        column.addWidget(self._build_resources(content))
        column.addWidget(self._build_when(content))
        column.addWidget(self._build_network(content))
        column.addWidget(self._build_app(content))
        logs = QGroupBox("Log file", content)
        self.log_viewer = LogViewer(paths.log_dir() / LOG_FILE_NAME, logs)
        QVBoxLayout(logs).addWidget(self.log_viewer)
        column.addWidget(logs)
        column.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        self.message = QLabel(self)
        self.message.setObjectName("settings_message")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.hide()
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("settings_save")
        self.save_button.setAutoDefault(True)
        self.save_button.clicked.connect(self.save)
        revert = QPushButton("Revert", self)
        revert.setObjectName("settings_revert")
        revert.clicked.connect(self.reload)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(revert)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)

    def _build_resources(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("What to lend", parent)
        form = QFormLayout(box)
        self.cpu_threads = _spin(box, "limit_cpu_threads", 1024, "All offered", " threads")
        self.memory_gb = _spin(box, "limit_memory_gb", 1_000_000, "All offered", " GB")
        self.storage_gb = _spin(box, "limit_storage_gb", 1_000_000, "All offered", " GB")
        self.gpu = QCheckBox("Rent out the GPU", box)
        self.gpu.setObjectName("limit_gpu")
        self.max_gpu_temp = QSpinBox(box)
        self.max_gpu_temp.setObjectName("limit_max_gpu_temp")
        self.max_gpu_temp.setRange(29, 120)
        self.max_gpu_temp.setSpecialValueText("No limit")
        self.max_gpu_temp.setSuffix(" °C")
        form.addRow("CPU threads:", self.cpu_threads)
        form.addRow("RAM:", self.memory_gb)
        form.addRow("Storage:", self.storage_gb)
        form.addRow("GPU:", self.gpu)
        form.addRow("Pause above GPU temperature:", self.max_gpu_temp)
        return box

    def _build_when(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("When to take jobs", parent)
        form = QFormLayout(box)
        self.idle_only = QCheckBox("Only while I am away from the computer", box)
        self.idle_only.setObjectName("limit_idle_only")
        self.idle_minutes = _spin(box, "limit_idle_minutes", 24 * 60, None, " min")
        self.idle_minutes.setMinimum(1)
        self.idle_only.toggled.connect(self.idle_minutes.setEnabled)
        self.battery = QCheckBox("Pause on battery power", box)
        self.battery.setObjectName("limit_battery")
        self.fullscreen = QCheckBox("Pause while a fullscreen app (a game) is in front", box)
        self.fullscreen.setObjectName("limit_fullscreen")
        self.programs = QLineEdit(box)
        self.programs.setObjectName("limit_programs")
        self.programs.setPlaceholderText("steam, blender.exe")
        self.on_pause = QComboBox(box)
        self.on_pause.setObjectName("limit_on_pause")
        self.on_pause.addItem("Let running jobs finish", "finish")
        self.on_pause.addItem("Stop running jobs after a notice", "stop")
        self.schedule = ScheduleEditor(box)
        form.addRow("", self.idle_only)
        form.addRow("Away for at least:", self.idle_minutes)
        form.addRow("", self.battery)
        form.addRow("", self.fullscreen)
        form.addRow("Pause while these run:", self.programs)
        form.addRow("When paused:", self.on_pause)
        form.addRow("Schedule:", self.schedule)
        return box

    def _build_network(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Network", parent)
        form = QFormLayout(box)
        self.network = QComboBox(box)
        self.network.setObjectName("settings_network")
        self.network.addItems(available_networks())
        self.rpc_url = QLineEdit(box)
        self.rpc_url.setObjectName("settings_rpc_url")
        self.rpc_url.setPlaceholderText("The network's public endpoints")
        self.rpc_hint = QLabel(
            "A custom address is saved; any key in it is hidden (***). Type a new address to "
            "replace it, or clear the field to use the public endpoints.",
            box,
        )
        self.rpc_hint.setObjectName("settings_rpc_hint")
        self.rpc_hint.setWordWrap(True)
        self.rpc_hint.hide()
        form.addRow("Network:", self.network)
        form.addRow("Custom RPC address:", self.rpc_url)
        form.addRow("", self.rpc_hint)
        form.addRow("", QLabel("A new network applies when the node next goes online.", box))
        return box

    def _build_app(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("This app", parent)
        form = QFormLayout(box)
        self.data_folder = QLabel(str(paths.data_dir()), box)
        self.data_folder.setObjectName("settings_data_folder")
        self.data_folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_folder = QPushButton("Open folder", box)
        open_folder.setObjectName("settings_open_folder")
        open_folder.clicked.connect(self._on_open_folder_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.data_folder, 1)
        folder_row.addWidget(open_folder)
        self.autostart = QCheckBox("Start Fizz Node when I log in", box)
        self.autostart.setObjectName("settings_autostart")
        self.autostart.setChecked(autostart.autostart_enabled())
        self.autostart.setToolTip(autostart.entry_location())
        self.autostart.toggled.connect(self._on_autostart_toggled)
        self.theme = QComboBox(box)
        self.theme.setObjectName("settings_theme")
        for theme in THEMES:
            self.theme.addItem("Follow the system" if theme == "system" else theme.title(), theme)
        self.theme.setCurrentIndex(THEMES.index(saved_theme()))
        self.theme.currentIndexChanged.connect(self._on_theme_changed)
        form.addRow("Data folder:", folder_row)
        form.addRow("", self.autostart)
        form.addRow("Theme:", self.theme)
        return box

    # ---- Private API

    def _limits(self) -> dict[str, Any]:
        def cap(box: QSpinBox) -> int | None:
            return None if box.value() == box.minimum() else box.value()

        temp = self.max_gpu_temp.value()
        programs = [name.strip() for name in self.programs.text().split(",") if name.strip()]
        return {
            "cpu_threads": cap(self.cpu_threads),
            "memory_gb": cap(self.memory_gb),
            "storage_gb": cap(self.storage_gb),
            "gpu": self.gpu.isChecked(),
            "max_gpu_temp_c": None if temp == self.max_gpu_temp.minimum() else temp,
            "idle_only": self.idle_only.isChecked(),
            "idle_minutes": self.idle_minutes.value(),
            "pause_on_battery": self.battery.isChecked(),
            "pause_on_fullscreen": self.fullscreen.isChecked(),
            "pause_programs": programs,
            "on_pause": self.on_pause.currentData(),
            "schedule": [window.model_dump() for window in self.schedule.windows()],
        }

    def _show_settings(self, settings: Settings) -> None:
        self._loaded = settings
        limits = settings.limits
        for box, value in (
            (self.cpu_threads, limits.cpu_threads),
            (self.memory_gb, limits.memory_gb),
            (self.storage_gb, limits.storage_gb),
        ):
            box.setValue(box.minimum() if value is None else value)
        self.gpu.setChecked(limits.gpu)
        temp = limits.max_gpu_temp_c
        self.max_gpu_temp.setValue(self.max_gpu_temp.minimum() if temp is None else temp)
        self.idle_only.setChecked(limits.idle_only)
        self.idle_minutes.setValue(limits.idle_minutes)
        self.idle_minutes.setEnabled(limits.idle_only)
        self.battery.setChecked(limits.pause_on_battery)
        self.fullscreen.setChecked(limits.pause_on_fullscreen)
        self.programs.setText(", ".join(limits.pause_programs))
        self.on_pause.setCurrentIndex(max(0, self.on_pause.findData(limits.on_pause)))
        self.schedule.set_windows(limits.schedule)
        index = self.network.findText(settings.network)
        if index < 0:
            self.network.addItem(settings.network)
            index = self.network.count() - 1
        self.network.setCurrentIndex(index)
        self._shown_rpc = settings.rpc_url or ""
        self.rpc_url.setText(self._shown_rpc)
        self.rpc_hint.setVisible(bool(self._shown_rpc))
        self.log_viewer.refresh()

    def _on_saved(self, settings: Settings) -> None:
        self.save_button.setEnabled(True)
        set_message(self.message, "Saved. The node uses the new settings now.", ok=True)
        self._show_settings(settings)
        self.sig_saved.emit(settings)

    def _on_save_failed(self, text: str) -> None:
        self.save_button.setEnabled(True)
        self._show_error(text)

    def _show_error(self, text: str) -> None:
        set_message(self.message, text, error=True)

    def _on_bridge_snapshot(self, _snapshot: Any) -> None:
        if self._loaded is None and not self._calls.busy:
            self.reload()

    def _on_open_folder_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.data_dir())))

    def _on_autostart_toggled(self, enabled: bool) -> None:
        try:
            if enabled:
                where = autostart.enable_autostart(autostart.app_command(minimized=True))
                set_message(self.message, f"Fizz Node will start at login ({where}).", ok=True)
            else:
                autostart.disable_autostart()
                set_message(self.message, "Fizz Node will not start at login.", ok=True)
        except UserFacingError as error:
            self._show_error(str(error))
            self.autostart.blockSignals(True)
            self.autostart.setChecked(autostart.autostart_enabled())
            self.autostart.blockSignals(False)

    def _on_theme_changed(self, index: int) -> None:
        theme = THEMES[index]
        _gui_settings().setValue(_THEME_KEY, theme)
        apply_theme(theme)
        self.sig_theme_changed.emit(theme)


async def _current_settings(node: Node) -> Settings:
    return node.settings
