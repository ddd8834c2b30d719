"""The dashboard over a real engine on the local network: status and actions from the tray and
the page's own buttons, resources, the lease table, logs, and the notifications they cause."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.state import NodeSnapshot, NodeStatus  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.main_window import MainWindow  # noqa: E402
from fizz_app.gui.notifications import Notifier  # noqa: E402
from fizz_app.gui.tray import TrayIcon  # noqa: E402
from fizz_app.gui.widgets.lease_logs import LeaseLogsDialog  # noqa: E402
from tests.core.jobs.wasm_modules import module  # noqa: E402

pytestmark = pytest.mark.gui

READY_MS = 30_000
ONLINE_MS = 60_000

# Prints "serving", then sleeps ten minutes in WASI poll_oneoff: "running" until closed.
SERVER = module(
    """
  (data (i32.const 256) "serving\\n")
  (func (export "_start")
    (call $print (i32.const 256) (i32.const 8))
    (i64.store (i32.const 64) (i64.const 7))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 600000000000))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 160))))
""",
    imports="""
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
""",
)


def server_service(name: str = "web") -> dict[str, Any]:
    """A WebAssembly service that keeps running until its lease is closed."""
    return {
        "name": name,
        "runtime": "wasm",
        "wasm_module": base64.b64encode(SERVER).decode(),
        "resources": {"cpu": {"units": {"val": "100"}}, "memory": {"size": {"val": "16777216"}}},
    }


class App:
    """The window, tray and notifier of run_app over one started bridge."""

    def __init__(self, qtbot: QtBot, bridge: EngineBridge, data_dir: Any) -> None:
        self.qtbot = qtbot
        self.bridge = bridge
        self.window = MainWindow(bridge)
        qtbot.addWidget(self.window)
        self.tray = TrayIcon(bridge, data_dir)
        self.notifier = Notifier(bridge, coalesce_s=0.0)
        self.notifier.sig_notification.connect(self.tray.notify)
        self.notes: list[tuple[str, str]] = []
        self.tray.sig_notified.connect(lambda title, text: self.notes.append((title, text)))
        self.snapshots: list[NodeSnapshot] = []
        bridge.sig_snapshot.connect(self.snapshots.append)
        self.dashboard = self.window.dashboard_page
        self.window.show()
        qtbot.waitExposed(self.window)
        bridge.start()
        qtbot.waitUntil(lambda: bridge.is_ready and bool(self.snapshots), timeout=READY_MS)

    def wait_status(self, status: NodeStatus, title: str, timeout: int = ONLINE_MS) -> None:
        self.qtbot.waitUntil(
            lambda: self.snapshots[-1].status is status and self.dashboard.status_text == title,
            timeout=timeout,
        )

    def titles(self) -> list[str]:
        return [title for title, _ in self.notes]


@pytest.fixture
def online_app(
    qtbot: QtBot,
    make_bridge: Callable[..., EngineBridge],
    online_node_factory: Any,
    gui_gateway: Any,
    gui_home: Any,
) -> App:
    bridge = make_bridge(node_factory=online_node_factory, snapshot_interval=0.05)
    return App(qtbot, bridge, gui_home)


def test_tray_start_pause_resume_stop_drive_the_dashboard(online_app: App) -> None:
    app, dashboard, tray = online_app, online_app.dashboard, online_app.tray
    assert dashboard.status_text == "Offline"
    app.qtbot.waitUntil(lambda: "Press Start" in dashboard.detail_text)
    assert tray.icon_status is NodeStatus.OFFLINE
    assert tray.action("start").isEnabled() and not tray.action("stop").isEnabled()
    assert dashboard.button("start").isVisibleTo(dashboard)
    assert not dashboard.button("stop").isVisibleTo(dashboard)

    tray.action("start").trigger()
    app.wait_status(NodeStatus.ONLINE, "Online")
    # "Why no jobs?" shows even when online (here: no container engine, WebAssembly only).
    latest = app.snapshots[-1]
    assert dashboard.detail_text == (latest.why_no_jobs or latest.status_reason)
    assert tray.icon_status is NodeStatus.ONLINE
    assert tray.toolTip().startswith("Fizz Node: Online")
    assert dashboard.findChild(QLabel, "dashboard_gateway").text().startswith("Connected to wss://")
    app.qtbot.waitUntil(lambda: dashboard.meter("cpu").text.startswith("0 of "))
    assert dashboard.button("pause").isVisibleTo(dashboard)
    assert dashboard.button("stop").isVisibleTo(dashboard)
    assert not dashboard.button("start").isVisibleTo(dashboard)
    assert tray.action("stop").isEnabled() and not tray.action("start").isEnabled()
    assert not tray.action("resume").isEnabled()

    tray.action("pause_1h").trigger()
    app.wait_status(NodeStatus.PAUSED, "Paused by you")
    assert dashboard.detail_text.startswith("Paused by you until ")
    assert "Press Resume" in dashboard.detail_text
    assert app.snapshots[-1].paused_until is not None
    assert tray.icon_status is NodeStatus.PAUSED
    assert "Paused by you until" in tray.toolTip()
    assert tray.action("resume").isEnabled()
    assert dashboard.button("resume").isVisibleTo(dashboard)

    tray.action("resume").trigger()
    app.wait_status(NodeStatus.ONLINE, "Online")
    assert app.snapshots[-1].paused_until is None

    tray.action("stop").trigger()
    app.wait_status(NodeStatus.OFFLINE, "Offline")
    assert tray.action("start").isEnabled()
    # The user stopped it: no "went offline" message.
    assert "Fizz Node went offline" not in app.titles()


def test_a_lease_shows_in_the_table_with_its_log_and_ends(
    online_app: App, gui_gateway: Any, online_node_factory: Any
) -> None:
    app, dashboard = online_app, online_app.dashboard
    app.qtbot.mouseClick(dashboard.button("start"), Qt.MouseButton.LeftButton)
    app.wait_status(NodeStatus.ONLINE, "Online")
    assert dashboard.findChild(QLabel, "dashboard_no_leases").isVisible()

    gui_gateway.call(
        lambda server: server.deploy(
            "41", [server_service("web")], node=online_node_factory.address, price_per_block="1000"
        )
    )
    model = dashboard.lease_model

    def row_state() -> str:
        row = model.row_of("41")
        return "" if row is None else model.index(row, 4).data()

    app.qtbot.waitUntil(lambda: row_state() == "Running", timeout=ONLINE_MS)
    row = model.row_of("41")
    assert row is not None
    assert model.index(row, 0).data() == "web"
    assert model.index(row, 1).data() == "wasm"
    assert model.index(row, 2).data().startswith("0.1 CPU, 16.0 MiB")
    assert model.index(row, 3).data().endswith(" s")
    app.qtbot.waitUntil(lambda: dashboard.meter("cpu").text.startswith("0.1 of "))
    app.qtbot.waitUntil(lambda: "Lease started" in app.titles())
    assert ("Lease started", "web is running on this machine.") in app.notes

    # Double-click opens the log, fetched through the engine's lease_logs intent.
    view = dashboard.lease_view
    rect = view.visualRect(model.index(row, 0))
    # A real double-click is press, release, double-click: the view checks the first press.
    app.qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    app.qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = dashboard.findChild(LeaseLogsDialog)
    assert dialog is not None and dialog.isVisible()
    app.qtbot.waitUntil(lambda: "serving" in dialog.text, timeout=10_000)
    assert "job: serving" in dialog.text
    dialog.close()

    gui_gateway.call(
        lambda server: server.close_lease(
            "41", "the tenant is done", node=online_node_factory.address
        )
    )
    app.qtbot.waitUntil(lambda: row_state().startswith("Closed"), timeout=ONLINE_MS)
    app.qtbot.waitUntil(lambda: dashboard.meter("cpu").text.startswith("0 of "))
    app.qtbot.waitUntil(lambda: "Lease finished" in app.titles(), timeout=10_000)
    text = dict(app.notes)["Lease finished"]
    assert text.startswith("web stopped: ")


def test_engine_failure_is_shown_on_the_dashboard(
    qtbot: QtBot, gui_home: Any, make_bridge: Callable[..., EngineBridge]
) -> None:
    (gui_home / "settings.json").write_text('{"netwrok": 1}', encoding="utf-8")
    bridge = make_bridge()
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    bridge.start()
    dashboard = window.dashboard_page
    qtbot.waitUntil(lambda: dashboard.status_text == "Not running", timeout=READY_MS)
    assert "See the message above" in dashboard.detail_text
    assert not dashboard.button("start").isEnabled()
