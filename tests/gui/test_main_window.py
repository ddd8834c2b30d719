"""MainWindow over a real bridge and the real Node: rendering, re-checks, errors, keyboard."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QToolButton  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.checks import CheckStatus  # noqa: E402
from fizz_app.core.errors import UserFacingError  # noqa: E402
from fizz_app.core.events import HardwareChecked  # noqa: E402
from fizz_app.core.node import Node  # noqa: E402
from fizz_app.core.state import NodeSnapshot  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.main_window import MainWindow  # noqa: E402
from fizz_app.gui.widgets.status_badge import StatusBadge  # noqa: E402

pytestmark = pytest.mark.gui

START_TIMEOUT_MS = 15_000
SPHERON_MIN_THREADS = 8


class Running:
    """A shown MainWindow over a started bridge, and every snapshot the bridge emitted."""

    def __init__(self, window: MainWindow, bridge: EngineBridge) -> None:
        self.window = window
        self.bridge = bridge
        self.page = window.system_check_page
        self.snapshots: list[NodeSnapshot] = []
        bridge.sig_snapshot.connect(self.snapshots.append)

    def label(self, name: str) -> QLabel:
        # The set-up wizard shows a system check of its own: look in the page under test.
        label = self.page.findChild(QLabel, name)
        assert label is not None, f"no label {name!r}"
        return label

    def badges(self) -> list[StatusBadge]:
        return self.page.findChildren(StatusBadge)


@pytest.fixture
def start_window(qtbot: QtBot, make_bridge: Callable[..., EngineBridge]) -> Callable[[], Running]:
    """Return a function that opens the window on the System check page, starts its bridge and
    waits for the check."""

    def start() -> Running:
        bridge = make_bridge()
        window = MainWindow(bridge)  # before start(), as run_app does: it gets the first snapshot
        qtbot.addWidget(window)
        running = Running(window, bridge)
        window.show_page("system_check")
        window.show()
        qtbot.waitExposed(window)
        bridge.start()
        qtbot.waitUntil(lambda: running.page.recheck_button.isEnabled(), timeout=START_TIMEOUT_MS)
        return running

    return start


def test_renders_one_row_per_check_headline_and_status(start_window: Callable[[], Running]) -> None:
    running = start_window()
    snapshot = running.snapshots[-1]
    assert snapshot.verdict is not None
    names = [check.name for check in snapshot.verdict.checks]
    badges = running.badges()
    assert [badge.objectName() for badge in badges] == [f"check_badge_{n}" for n in names]
    assert [badge.status for badge in badges] == [c.status for c in snapshot.verdict.checks]
    assert running.label("check_name_container_engine").text() == "Container engine"
    assert "meets the Local devnet minimums" in running.label("headline").text()
    assert "does not" not in running.label("headline").text()
    assert snapshot.status_reason in running.window.status_text
    assert "threads" in running.label("machine_summary").text()
    assert running.page.recheck_button.text() == "Check again"
    assert running.window.windowTitle() == "Fizz Node"
    assert not running.window.error_banner.isVisible()


def test_check_again_runs_a_new_check(qtbot: QtBot, start_window: Callable[[], Running]) -> None:
    running = start_window()
    first = running.snapshots[-1]
    assert first.checked_at is not None
    button = running.page.recheck_button

    with qtbot.waitSignal(
        running.bridge.sig_event,
        timeout=START_TIMEOUT_MS,
        check_params_cb=lambda event: isinstance(event, HardwareChecked),
    ) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].seq > first.seq

    qtbot.waitUntil(lambda: (running.snapshots[-1].checked_at or 0.0) > (first.checked_at or 0.0))
    qtbot.waitUntil(lambda: button.isEnabled() and button.text() == "Check again")
    assert len(running.badges()) == len(first.verdict.checks if first.verdict else ())


@pytest.mark.skipif(
    (os.cpu_count() or 1) >= SPHERON_MIN_THREADS,
    reason="this machine has enough CPU threads for the spheron-fizz profile",
)
def test_spheron_profile_shows_cpu_failure_with_remedy(
    gui_home: Path, start_window: Callable[[], Running]
) -> None:
    settings = {"schema_version": 1, "requirements_profile": "spheron-fizz"}
    (gui_home / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    running = start_window()

    cpu_badge = running.page.findChild(StatusBadge, "check_badge_cpu")
    assert cpu_badge is not None
    assert cpu_badge.status is CheckStatus.FAIL
    assert cpu_badge.text == "FAIL"
    assert cpu_badge.accessibleName() == "CPU: failed"
    remedy = running.label("check_remedy_cpu")
    assert remedy.isVisible()
    assert f"at least {SPHERON_MIN_THREADS} CPU threads" in remedy.text()
    headline = running.label("headline").text()
    assert "does not meet the Spheron Fizz node minimums" in headline
    assert "CPU" in headline


def test_check_again_is_reachable_with_tab_and_activates_with_space(
    qtbot: QtBot, start_window: Callable[[], Running]
) -> None:
    running = start_window()
    window, button = running.window, running.page.recheck_button
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)

    for _ in range(10):
        if button.hasFocus():
            break
        qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_Tab)
    assert button.hasFocus()

    with qtbot.waitSignal(running.page.sig_recheck_requested):
        qtbot.keyClick(button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=START_TIMEOUT_MS)


def test_command_failure_shows_a_dismissable_banner(
    qtbot: QtBot, start_window: Callable[[], Running]
) -> None:
    running = start_window()
    banner = running.window.error_banner

    async def fail(node: Node) -> None:
        raise UserFacingError("No gateway answered.", "Check the internet connection.")

    with qtbot.waitSignal(running.bridge.sig_command_failed):
        running.bridge.submit(fail)
    qtbot.waitUntil(banner.isVisible)
    assert banner.text == "No gateway answered. Check the internet connection."

    dismiss = banner.findChild(QToolButton, "error_dismiss")
    assert dismiss is not None and dismiss.accessibleName() == "Dismiss error"
    with qtbot.waitSignal(banner.sig_dismissed):
        qtbot.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert not banner.isVisible()


def test_engine_failure_shows_banner_and_disables_check(
    qtbot: QtBot, gui_home: Path, make_bridge: Callable[..., EngineBridge]
) -> None:
    (gui_home / "settings.json").write_text('{"netwrok": 1}', encoding="utf-8")
    bridge = make_bridge()
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    bridge.start()

    qtbot.waitUntil(window.error_banner.isVisible, timeout=START_TIMEOUT_MS)
    assert "'netwrok'" in window.error_banner.text
    button = window.system_check_page.recheck_button
    assert not button.isEnabled()
    assert button.text() == "Check again"
    headline = window.findChild(QLabel, "headline")
    assert headline is not None and "cannot run" in headline.text()
    assert window.status_text.startswith("Stopped")


# ---- The shell: sidebar, pages, closing ---------------------------------------------------------


def _window(qtbot: QtBot, make_bridge: Callable[..., EngineBridge]) -> MainWindow:
    window = MainWindow(make_bridge())  # never started: the shell needs no engine
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_sidebar_lists_pages_and_opens_on_the_dashboard(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge]
) -> None:
    window = _window(qtbot, make_bridge)
    assert window.page_keys == [
        "dashboard",
        "earnings",
        "pricing",
        "settings",
        "system_check",
        "setup",
    ]
    assert window.current_page_key == "dashboard"
    assert window.page("dashboard") is window.dashboard_page
    sidebar = window.sidebar
    assert sidebar.accessibleName() == "Pages"
    assert [sidebar.item(row).text() for row in range(sidebar.count())] == [
        "Dashboard",
        "Earnings",
        "Pricing",
        "Settings",
        "System check",
        "Set up",
    ]

    extra = QLabel("Help goes here")
    window.add_page("help", "Help", extra, icon=window.windowIcon())
    assert window.page_keys[-1] == "help"
    assert sidebar.item(6).text() == "Help" and not sidebar.item(6).icon().isNull()
    with pytest.raises(ValueError, match="help"):
        window.add_page("help", "Again", QLabel())
    with pytest.raises(KeyError, match="nope"):
        window.show_page("nope")

    with qtbot.waitSignal(window.sig_page_changed) as blocker:
        window.show_page("help")
    assert blocker.args == ["help"]
    assert extra.isVisible() and not window.dashboard_page.isVisible()


def test_sidebar_is_navigated_with_arrow_keys(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge]
) -> None:
    window = _window(qtbot, make_bridge)
    window.activateWindow()
    window.sidebar.setFocus()
    qtbot.waitUntil(window.sidebar.hasFocus)

    qtbot.keyClick(window.sidebar, Qt.Key.Key_Down)
    assert window.current_page_key == "earnings"
    assert window.page("earnings").isVisible()
    qtbot.keyClick(window.sidebar, Qt.Key.Key_Up)
    assert window.current_page_key == "dashboard"
    assert window.dashboard_page.isVisible()


def test_close_hides_to_tray_only_when_enabled(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge]
) -> None:
    window = _window(qtbot, make_bridge)
    window.set_close_to_tray(True)
    with qtbot.waitSignal(window.sig_closed_to_tray):
        assert not window.close()  # the close is refused: the window only hides
    assert not window.isVisible()

    window.bring_to_front()
    qtbot.waitExposed(window)
    assert window.isVisible()

    window.set_close_to_tray(False)
    with qtbot.assertNotEmitted(window.sig_closed_to_tray):
        assert window.close()
    assert not window.isVisible()


def test_a_machine_without_a_wallet_opens_on_the_setup_wizard(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge]
) -> None:
    bridge = make_bridge()
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.offer_setup()
    window.show()
    bridge.start()
    qtbot.waitUntil(lambda: window.current_page_key == "setup", timeout=START_TIMEOUT_MS)
    assert window.page("setup").isVisible()
