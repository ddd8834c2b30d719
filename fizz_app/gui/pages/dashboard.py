"""The dashboard: what the node is doing, why no lease comes, what it offers and what runs, and
a warning while the chain's RPC endpoint does not answer.

It renders the bridge's snapshots and sends Start / Pause / Resume / Stop through the bridge;
errors of those commands reach the window's banner through ``sig_command_failed``.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.events import Event, HardwareChecked, SettingsChanged
from ...core.node import Node
from ...core.policy import units_offered
from ...core.pricing import Units
from ...core.state import DesiredState, NodeSnapshot, NodeStatus
from ..bridge import EngineBridge
from ..widgets.chain_notice import ChainNotice
from ..widgets.lease_logs import LeaseLogsDialog
from ..widgets.lease_table import ACTIVE_STATES, LeaseTableModel, format_duration
from ..widgets.node_status import pause_choices, status_detail, status_icon, status_title
from ..widgets.resource_meter import ResourceMeter

__all__ = ["DashboardPage"]

_ICON_SIZE = 40


async def _offered_units(node: Node) -> Units | None:
    # Runs on the engine thread: what the node announces (the owner's caps or the machine
    # minus a reserve), the same numbers the gateway sees.
    report = node.snapshot().hardware
    return None if report is None else units_offered(node.policy(), report)


class DashboardPage(QWidget):
    """The first page: status with the fitting action, resources, gateway, leases.

    Args:
        bridge: the engine bridge (connected here; the page neither starts nor stops it).
        clock: returns Unix time (uptimes); injected by tests.
        parent: the usual Qt parent.
    """

    def __init__(
        self,
        bridge: EngineBridge,
        clock: Callable[[], float] = time.time,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._clock = clock
        self._snapshot: NodeSnapshot | None = None
        self._offered: Units | None = None
        self._offer_future: concurrent.futures.Future[Units | None] | None = None
        self._action: concurrent.futures.Future[Any] | None = None
        self._connected_since: float | None = None
        self.setObjectName("dashboard_page")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_status())
        self._chain_notice = ChainNotice(self)
        layout.addWidget(self._chain_notice)
        middle = QHBoxLayout()
        middle.addWidget(self._build_resources(), 3)
        middle.addWidget(self._build_connection(), 2)
        layout.addLayout(middle)
        layout.addWidget(self._build_leases(), 1)

        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_event.connect(self._on_bridge_event)
        bridge.sig_command_finished.connect(self._on_bridge_command_finished)
        bridge.sig_engine_failed.connect(self._on_bridge_engine_failed)
        self._render_actions()

    # ---- Public API

    @property
    def status_text(self) -> str:
        """The status title shown ("Online", "Paused by you"...)."""
        return self._title.text()

    @property
    def detail_text(self) -> str:
        """The sentence under the title: why no jobs, with what to do."""
        return self._detail.text()

    @property
    def chain_notice(self) -> ChainNotice:
        """The warning shown while the chain's RPC endpoint does not answer."""
        return self._chain_notice

    @property
    def lease_model(self) -> LeaseTableModel:
        return self._model

    @property
    def lease_view(self) -> QTableView:
        return self._table

    def button(self, key: str) -> QPushButton:
        """The action button ``start``, ``resume``, ``pause`` or ``stop``."""
        return self._buttons[key]

    def meter(self, key: str) -> ResourceMeter:
        """The meter ``cpu``, ``memory``, ``storage`` or ``gpu``."""
        return self._meters[key]

    def open_logs(self, row: int) -> LeaseLogsDialog:
        """Open (and return) the log window of the lease in ``row``."""
        lease = self._model.lease(row)
        dialog = LeaseLogsDialog(
            self._bridge, str(lease["lease_id"]), str(lease.get("name") or lease["lease_id"]), self
        )
        dialog.show()
        return dialog

    # ---- Building

    def _build_status(self) -> QWidget:
        box = QGroupBox("Status", self)
        self._icon = QLabel(box)
        self._icon.setFixedSize(_ICON_SIZE, _ICON_SIZE)
        self._title = QLabel("Starting", box)
        self._title.setObjectName("dashboard_status")
        font = QFont(self._title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self._title.setFont(font)
        self._detail = QLabel("Loading settings and checking this machine…", box)
        self._detail.setObjectName("dashboard_why_no_jobs")
        self._detail.setWordWrap(True)
        self._detail.setTextFormat(Qt.TextFormat.PlainText)
        self._detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._buttons: dict[str, QPushButton] = {}
        buttons = QHBoxLayout()
        for key, text in (("start", "&Start"), ("resume", "&Resume"), ("pause", "&Pause")):
            self._buttons[key] = self._add_button(box, buttons, key, text)
        self._buttons["stop"] = self._add_button(box, buttons, "stop", "S&top")
        pause_menu = QMenu(self._buttons["pause"])
        pause_menu.aboutToShow.connect(lambda: self._fill_pause_menu(pause_menu))
        self._buttons["pause"].setMenu(pause_menu)
        self._buttons["start"].clicked.connect(lambda: self._run(lambda node: node.start()))
        self._buttons["resume"].clicked.connect(lambda: self._run(lambda node: node.resume()))
        self._buttons["stop"].clicked.connect(lambda: self._run(lambda node: node.stop()))
        buttons.addStretch(1)

        column = QVBoxLayout()
        column.addWidget(self._title)
        column.addWidget(self._detail)
        column.addLayout(buttons)
        row = QHBoxLayout(box)
        row.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(column, 1)
        return box

    def _add_button(self, box: QWidget, layout: QHBoxLayout, key: str, text: str) -> QPushButton:
        button = QPushButton(text, box)
        button.setObjectName(f"dashboard_{key}")
        layout.addWidget(button)
        return button

    def _build_resources(self) -> QWidget:
        box = QGroupBox("Offered and in use", self)
        layout = QVBoxLayout(box)
        self._meters = {
            "cpu": ResourceMeter("CPU", "threads", box),
            "memory": ResourceMeter("Memory", "GB", box),
            "storage": ResourceMeter("Storage", "GB", box),
            "gpu": ResourceMeter("GPU", "GPUs", box),
        }
        for meter in self._meters.values():
            layout.addWidget(meter)
        return box

    def _build_connection(self) -> QWidget:
        box = QGroupBox("Connection", self)
        form = QFormLayout(box)
        self._gateway = self._form_label(box, "dashboard_gateway", "Not connected")
        self._online_for = self._form_label(box, "dashboard_online_for", "—")
        self._bandwidth = self._form_label(box, "dashboard_bandwidth", "Not measured yet")
        form.addRow("Gateway:", self._gateway)
        form.addRow("Connected for:", self._online_for)
        form.addRow("Bandwidth:", self._bandwidth)
        return box

    def _form_label(self, box: QWidget, name: str, text: str) -> QLabel:
        label = QLabel(text, box)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        return label

    def _build_leases(self) -> QWidget:
        box = QGroupBox("Leases", self)
        self._model = LeaseTableModel(self._clock, self)
        self._table = QTableView(box)
        self._table.setObjectName("lease_table")
        self._table.setAccessibleName("Leases (double-click or press Enter to see a log)")
        self._table.setModel(self._model)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.verticalHeader().hide()
        self._table.horizontalHeader().setStretchLastSection(True)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._table.activated.connect(self._on_table_activated)
        self._no_leases = QLabel(
            "No leases yet. They appear here when a tenant rents this machine.", box
        )
        self._no_leases.setObjectName("dashboard_no_leases")
        layout = QVBoxLayout(box)
        layout.addWidget(self._no_leases)
        layout.addWidget(self._table, 1)
        return box

    # ---- Rendering

    def _render_actions(self) -> None:
        snapshot = self._snapshot
        ready = snapshot is not None and self._bridge.is_ready
        busy = self._action is not None and not self._action.done()
        desired = snapshot.desired if snapshot is not None else DesiredState.OFFLINE
        shown = {
            "start": desired is DesiredState.OFFLINE,
            "resume": desired is DesiredState.PAUSED,
            "pause": desired is DesiredState.ONLINE,
            "stop": desired is not DesiredState.OFFLINE,
        }
        for key, button in self._buttons.items():
            button.setVisible(shown[key])
            button.setEnabled(ready and not busy)

    def _render_resources(self, leases: tuple[dict[str, Any], ...]) -> None:
        active = [lease for lease in leases if lease.get("state") in ACTIVE_STATES]
        offered = self._offered
        used = {
            "cpu": sum(lease["cpu_millicores"] for lease in active) / 1000,
            "memory": round(sum(lease["memory_bytes"] for lease in active) / 1024**3, 2),
            "storage": round(sum(lease["storage_bytes"] for lease in active) / 1000**3, 2),
            "gpu": sum(lease["gpu_units"] for lease in active),
        }
        totals: dict[str, float | None] = {
            "cpu": None if offered is None else offered.cpu_units,
            "memory": None if offered is None else offered.memory_gb,
            "storage": None if offered is None else offered.storage_gb,
            "gpu": None if offered is None else offered.gpu_units,
        }
        for key, meter in self._meters.items():
            meter.set_values(used[key], totals[key])

    def _render_connection(self, snapshot: NodeSnapshot) -> None:
        gateway = snapshot.gateway
        if gateway is None:
            self._gateway.setText("Not connected (the node is not going online)")
            self._connected_since = None
        elif gateway.get("connected"):
            rtt = gateway.get("rtt_ms")
            delay = f", round trip {rtt:.0f} ms" if rtt is not None else ""
            self._gateway.setText(f"Connected to {gateway.get('url')}{delay}")
            if self._connected_since is None:
                self._connected_since = self._clock()
        else:
            last = gateway.get("last_close")
            why = f" (last closed: {last})" if last else ""
            self._gateway.setText(f"Connecting to {gateway.get('url')}{why}")
            self._connected_since = None
        self._render_online_for()
        hardware = snapshot.hardware
        bandwidth = hardware.bandwidth if hardware is not None else None
        if bandwidth is None or not bandwidth.measured:
            self._bandwidth.setText("Not measured yet: the gateway measures it once online")
        else:
            when = (
                f", measured {datetime.fromtimestamp(bandwidth.measured_at):%d %b %H:%M}"
                if bandwidth.measured_at
                else ""
            )
            stale = " (old: it is measured again soon)" if bandwidth.stale else ""
            self._bandwidth.setText(
                f"↓ {bandwidth.download_mbps or 0:.0f} Mbit/s, "
                f"↑ {bandwidth.upload_mbps or 0:.0f} Mbit/s{when}{stale}"
            )

    def _render_online_for(self) -> None:
        since = self._connected_since
        if since is None:
            text = "—"
        else:
            # Minutes, not seconds: a label whose size changes relayouts the whole window,
            # which once a second costs an idle app ~2 % of a core.
            elapsed = self._clock() - since
            text = "less than a minute" if elapsed < 60 else format_duration(elapsed)
        self._online_for.setText(text)

    def _fill_pause_menu(self, menu: QMenu) -> None:
        menu.clear()
        for key, label, seconds in pause_choices(self._clock()):
            action = menu.addAction(label)
            action.setObjectName(f"dashboard_{key}")
            action.triggered.connect(
                lambda _checked=False, s=seconds: self._run(lambda node: node.pause(s))
            )

    def _run(self, command: Callable[[Node], Any]) -> None:
        self._action = self._bridge.submit(command)
        self._render_actions()

    def _refresh_offer(self) -> None:
        if self._offer_future is None or self._offer_future.done():
            self._offer_future = self._bridge.submit(_offered_units)

    # ---- Slots

    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        first_with_hardware = snapshot.hardware is not None and (
            self._snapshot is None or self._snapshot.hardware is None
        )
        self._snapshot = snapshot
        self._icon.setPixmap(status_icon(snapshot.status).pixmap(_ICON_SIZE, _ICON_SIZE))
        self._title.setText(status_title(snapshot))
        self._detail.setText(status_detail(snapshot))
        self._chain_notice.set_chain(snapshot.chain)
        self._model.set_leases(snapshot.leases)
        self._no_leases.setVisible(not snapshot.leases)
        self._render_resources(snapshot.leases)
        self._render_connection(snapshot)
        self._render_actions()
        if first_with_hardware:
            self._refresh_offer()

    def _on_bridge_event(self, event: Event) -> None:
        if isinstance(event, HardwareChecked | SettingsChanged):
            self._refresh_offer()

    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        if future is self._offer_future and not future.cancelled() and not future.exception():
            self._offered = future.result()
            if self._snapshot is not None:
                self._render_resources(self._snapshot.leases)
        if future is self._action:
            self._render_actions()

    def _on_bridge_engine_failed(self, text: str) -> None:
        self._title.setText("Not running")
        self._detail.setText("The node engine stopped. See the message above for what to do.")
        self._chain_notice.set_chain(None)
        self._icon.setPixmap(status_icon(NodeStatus.ERROR).pixmap(_ICON_SIZE, _ICON_SIZE))
        self._render_actions()

    def _on_table_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_logs(index.row())

    def _on_timer_timeout(self) -> None:
        if self.isVisible():
            self._model.tick()
            self._render_online_for()
