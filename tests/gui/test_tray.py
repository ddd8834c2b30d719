"""The tray icon and notifications: menu states, icons, told-once close to tray, rate limiting,
the pause menu's times, and "action needed" from a real engine whose wallet is not registered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QIcon  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.state import NodeSnapshot, NodeStatus  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.main_window import MainWindow  # noqa: E402
from fizz_app.gui.notifications import Notifier  # noqa: E402
from fizz_app.gui.tray import TOLD_FILE, TrayIcon  # noqa: E402
from fizz_app.gui.widgets.node_status import (  # noqa: E402
    pause_choices,
    seconds_until_morning,
    status_icon,
    status_icon_path,
)

pytestmark = pytest.mark.gui

READY_MS = 30_000


def _notes(tray: TrayIcon) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    tray.sig_notified.connect(lambda title, text: notes.append((title, text)))
    return notes


def test_every_status_has_a_crisp_svg_icon(qtbot: QtBot) -> None:
    for status in NodeStatus:
        path = status_icon_path(status)
        assert path.suffix == ".svg" and path.is_file()
        icon = status_icon(status)
        assert not icon.isNull()
        # Scalable: a large pixmap is rendered at full size, not upscaled from a small one.
        assert icon.pixmap(256, 256).width() == 256
    assert QIcon(str(status_icon_path(NodeStatus.ONLINE))).pixmap(16, 16).width() == 16


def test_menu_follows_the_node_state(
    qtbot: QtBot, gui_home: Path, make_bridge: Callable[..., EngineBridge]
) -> None:
    bridge = make_bridge()
    tray = TrayIcon(bridge, gui_home)
    # Before the engine answers, nothing but Open and Quit can be chosen.
    assert tray.icon_status is NodeStatus.STARTING
    assert tray.action("open").isEnabled() and tray.action("quit").isEnabled()
    assert not any(tray.action(key).isEnabled() for key in ("start", "stop", "resume"))
    keys = [action.objectName() for action in tray.menu.actions() if action.objectName()]
    assert keys == [
        "tray_open",
        "tray_start",
        "tray_stop",
        "tray_pause_1h",
        "tray_pause_4h",
        "tray_pause_morning",
        "tray_resume",
        "tray_quit",
    ]

    snapshots: list[NodeSnapshot] = []
    bridge.sig_snapshot.connect(snapshots.append)
    bridge.start()
    qtbot.waitUntil(lambda: bool(snapshots), timeout=READY_MS)
    assert tray.icon_status is NodeStatus.OFFLINE
    assert tray.toolTip().startswith("Fizz Node: Offline\n")
    assert tray.action("start").isEnabled()
    assert not tray.action("stop").isEnabled()
    assert not tray.action("pause_1h").isEnabled()
    assert not tray.action("resume").isEnabled()

    with qtbot.waitSignal(tray.sig_open_requested):
        tray.action("open").trigger()
    with qtbot.waitSignal(tray.sig_quit_requested):
        tray.action("quit").trigger()


def test_closing_the_window_keeps_running_and_says_so_once(
    qtbot: QtBot, gui_home: Path, make_bridge: Callable[..., EngineBridge]
) -> None:
    bridge = make_bridge()
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    tray = TrayIcon(bridge, gui_home)
    notes = _notes(tray)
    window.set_close_to_tray(True)
    window.sig_closed_to_tray.connect(tray.tell_closed_to_tray)
    window.show()
    qtbot.waitExposed(window)

    assert not tray.told_close_to_tray
    window.close()
    assert not window.isVisible()
    assert notes == [
        (
            "Fizz Node is still running",
            "The node keeps lending this computer from the tray. Choose Quit in the tray menu "
            "to stop it.",
        )
    ]
    assert (gui_home / TOLD_FILE).is_file()

    window.bring_to_front()
    window.close()
    assert len(notes) == 1  # told once
    # Remembered across launches: a new tray on the same data folder stays quiet.
    again = TrayIcon(bridge, gui_home)
    assert again.told_close_to_tray and not again.tell_closed_to_tray()


def test_notifications_are_coalesced(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge]
) -> None:
    notifier = Notifier(make_bridge(), coalesce_s=0.3)
    sent: list[tuple[str, str]] = []
    notifier.sig_notification.connect(lambda title, text: sent.append((title, text)))

    notifier.notify("Lease started", "a is running on this machine.")
    notifier.notify("Lease started", "b is running on this machine.")
    notifier.notify("Lease finished", "a stopped: done.")
    assert sent == [("Lease started", "a is running on this machine.")]
    qtbot.waitUntil(lambda: len(sent) == 2, timeout=2000)
    assert sent[1] == (
        "Fizz Node: 2 updates",
        "b is running on this machine.\na stopped: done.",
    )

    qtbot.wait(400)  # the window passed: the next one goes out at once, alone
    notifier.notify("Earnings credited", "+1 uSPON (lifetime 1 uSPON).")
    assert sent[-1] == ("Earnings credited", "+1 uSPON (lifetime 1 uSPON).")

    notifier.set_enabled(False)
    notifier.notify("Lease started", "c is running on this machine.")
    assert len(sent) == 3


@pytest.mark.parametrize(
    ("now", "hours", "label"),
    [
        (datetime(2025, 3, 4, 2, 0), 6.0, "Pause until this morning 08:00"),
        (datetime(2025, 3, 4, 9, 30), 22.5, "Pause until tomorrow 08:00"),
        (datetime(2025, 3, 4, 8, 0), 24.0, "Pause until tomorrow 08:00"),
    ],
)
def test_pause_until_morning(now: datetime, hours: float, label: str) -> None:
    moment = now.timestamp()
    assert seconds_until_morning(moment) == pytest.approx(hours * 3600, abs=3600)
    end = datetime.fromtimestamp(moment + seconds_until_morning(moment))
    assert (end.hour, end.minute) == (8, 0)
    choices = {key: (text, seconds) for key, text, seconds in pause_choices(moment)}
    assert choices["pause_1h"] == ("Pause for 1 hour", 3600.0)
    assert choices["pause_4h"] == ("Pause for 4 hours", 14400.0)
    assert choices["pause_morning"][0] == label


def test_an_unregistered_wallet_asks_for_action(
    qtbot: QtBot,
    gui_chain: Any,
    gui_gateway: Any,
    gui_home: Path,
    make_bridge: Callable[..., EngineBridge],
) -> None:
    from fizz_app.core.node import Node
    from tests.local_network import registered_node_parts

    _address, kwargs = registered_node_parts(gui_chain, gui_home, register=False)
    bridge = make_bridge(node_factory=lambda: Node(**kwargs), snapshot_interval=0.05)
    tray = TrayIcon(bridge, gui_home)
    notifier = Notifier(bridge, coalesce_s=0.0)
    notifier.sig_notification.connect(tray.notify)
    notes = _notes(tray)
    bridge.start()
    qtbot.waitUntil(lambda: bridge.is_ready, timeout=READY_MS)

    tray.action("start").trigger()
    qtbot.waitUntil(lambda: tray.icon_status is NodeStatus.ERROR, timeout=READY_MS)
    qtbot.waitUntil(lambda: bool(notes))
    title, text = notes[0]
    assert title == "Fizz Node needs your action"
    assert "not registered" in text
    assert "not registered" in tray.toolTip()
