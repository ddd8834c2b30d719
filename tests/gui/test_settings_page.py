"""The Settings page against the real engine: limits, schedule and network are saved to the
settings file and used by the engine; bad values are refused naming the field; start at login
creates and removes the XDG autostart file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.config import SettingsStore  # noqa: E402
from fizz_app.core.logs import LOG_FILE_NAME  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.pages.settings import SettingsPage, saved_theme  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def page(
    qtbot: QtBot,
    make_bridge: Callable[..., EngineBridge],
    gui_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[SettingsPage, EngineBridge]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    (gui_home / "logs").mkdir()
    (gui_home / "logs" / LOG_FILE_NAME).write_text("first line\nthe node started\n")
    bridge = make_bridge()
    widget = SettingsPage(bridge)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    bridge.start()
    qtbot.waitUntil(lambda: widget._loaded is not None, timeout=15_000)
    return widget, bridge


def _save(qtbot: QtBot, page: SettingsPage) -> str:
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.save_button.isEnabled(), timeout=15_000)
    return page.message.text()


def test_shows_saved_values_and_the_log(page: tuple[SettingsPage, EngineBridge]) -> None:
    widget, _ = page
    assert widget.idle_only.isChecked()  # the defaults
    assert widget.idle_minutes.value() == 3
    assert widget.cpu_threads.text() == "All offered"
    assert widget.network.currentText() == "devnet"
    assert "the node started" in widget.log_viewer.text.toPlainText()


def test_limits_and_schedule_persist_and_reach_the_engine(
    qtbot: QtBot, page: tuple[SettingsPage, EngineBridge], gui_home: Path
) -> None:
    widget, bridge = page
    widget.cpu_threads.setValue(2)
    widget.memory_gb.setValue(4)
    widget.gpu.setChecked(False)
    widget.idle_only.setChecked(True)
    widget.idle_minutes.setValue(10)
    widget.battery.setChecked(False)
    widget.programs.setText("steam, blender.exe")
    widget.on_pause.setCurrentIndex(widget.on_pause.findData("stop"))
    widget.max_gpu_temp.setValue(widget.max_gpu_temp.minimum())
    row = widget.schedule.add_row()
    for day in ("mon", "tue", "wed", "thu", "fri"):
        row.days[day].setChecked(True)
    row.start.setText("18:00")
    row.end.setText("08:00")
    with qtbot.waitSignal(widget.sig_saved, timeout=15_000):
        qtbot.mouseClick(widget.save_button, Qt.MouseButton.LeftButton)
    assert "Saved" in widget.message.text()

    limits = SettingsStore(gui_home / "settings.json").load().limits
    assert (limits.cpu_threads, limits.memory_gb, limits.storage_gb) == (2, 4, None)
    assert not limits.gpu and limits.idle_minutes == 10 and not limits.pause_on_battery
    assert limits.pause_programs == ("steam", "blender.exe")
    assert limits.on_pause == "stop" and limits.max_gpu_temp_c is None
    assert [(w.days, w.start, w.end) for w in limits.schedule] == [
        (("mon", "tue", "wed", "thu", "fri"), "18:00", "08:00")
    ]
    assert (
        "mon-fri 18:00-08:00" in widget.findChild(type(widget.message), "schedule_summary").text()
    )
    engine = bridge.submit(_policy).result(10)
    assert engine == limits


async def _policy(node):  # type: ignore[no-untyped-def]
    return node.policy()


def test_bad_values_are_refused_naming_the_field(
    qtbot: QtBot, page: tuple[SettingsPage, EngineBridge], gui_home: Path
) -> None:
    widget, _ = page
    widget.programs.setText("bin/steam")
    text = _save(qtbot, widget)
    assert "limits.pause_programs" in text and "Nothing was saved" in text
    widget.programs.setText("")

    row = widget.schedule.add_row()
    row.days["sat"].setChecked(True)
    row.start.setText("25:00")
    text = _save(qtbot, widget)
    assert text.startswith("Schedule window 1:") and "'25:00'" in text
    row.start.setText("09:00")

    widget.rpc_url.setText("ftp://example.org")
    text = _save(qtbot, widget)
    assert "rpc_url" in text
    assert not (gui_home / "settings.json").exists() or (
        SettingsStore(gui_home / "settings.json").load().rpc_url is None
    )


def test_start_at_login_creates_and_removes_the_desktop_file(
    page: tuple[SettingsPage, EngineBridge],
) -> None:
    import os

    widget, _ = page
    entry = Path(os.environ["XDG_CONFIG_HOME"]) / "autostart" / "fizz-node.desktop"
    assert not widget.autostart.isChecked() and not entry.exists()
    widget.autostart.setChecked(True)
    assert entry.is_file()
    text = entry.read_text()
    assert "Exec=" in text and "fizz_app gui" in text and "X-GNOME-Autostart-enabled=true" in text
    widget.autostart.setChecked(False)
    assert not entry.exists()


def test_theme_choice_is_kept(page: tuple[SettingsPage, EngineBridge]) -> None:
    widget, _ = page
    widget.theme.setCurrentIndex(widget.theme.findData("dark"))
    assert saved_theme() == "dark"
    widget.theme.setCurrentIndex(widget.theme.findData("system"))
    assert saved_theme() == "system"


KEYED_RPC = (
    "https://ada:sekret-pass@base-mainnet.g.alchemy.com/v2/Abc123Def456Ghi789Jkl0?k=TOPSECRET"
)
MASKED_RPC = "https://base-mainnet.g.alchemy.com/v2/***?k=***"
RPC_SECRETS = ("sekret-pass", "Abc123Def456Ghi789Jkl0", "TOPSECRET")


@pytest.fixture
def keyed_page(gui_home: Path, request: pytest.FixtureRequest) -> tuple[SettingsPage, EngineBridge]:
    """The page over settings that hold a custom RPC address with API keys in it."""
    SettingsStore(gui_home / "settings.json").update(rpc_url=KEYED_RPC)
    page: tuple[SettingsPage, EngineBridge] = request.getfixturevalue("page")
    return page


def test_a_keyed_rpc_address_is_shown_masked_and_kept_on_save(
    qtbot: QtBot, keyed_page: tuple[SettingsPage, EngineBridge], gui_home: Path
) -> None:
    widget, _ = keyed_page
    store = SettingsStore(gui_home / "settings.json")
    # The user sees that a custom endpoint is set, never its key.
    assert widget.rpc_url.text() == MASKED_RPC
    assert widget.findChild(type(widget.message), "settings_rpc_hint").isVisible()

    # Saving the page with the field as shown keeps the real address, key included.
    widget.idle_minutes.setValue(12)
    assert "Saved" in _save(qtbot, widget)
    assert store.load().rpc_url == KEYED_RPC and store.load().limits.idle_minutes == 12
    assert widget.rpc_url.text() == MASKED_RPC
    # So does a change of network that leaves the field alone.
    widget.network.setCurrentIndex(widget.network.findText("base-sepolia"))
    assert "Saved" in _save(qtbot, widget)
    assert (store.load().network, store.load().rpc_url) == ("base-sepolia", KEYED_RPC)

    # Editing the masked form cannot work (its key is gone): refused, nothing changes.
    widget.rpc_url.setText(MASKED_RPC.replace("base-mainnet", "base-sepolia"))
    text = _save(qtbot, widget)
    assert "rpc_url" in text and "key included" in text
    assert store.load().rpc_url == KEYED_RPC

    # A new address typed in replaces it; an empty field goes back to the public endpoints.
    widget.rpc_url.setText("https://sepolia.example.org/v3/0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert "Saved" in _save(qtbot, widget)
    assert store.load().rpc_url == "https://sepolia.example.org/v3/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert widget.rpc_url.text() == "https://sepolia.example.org/v3/***"
    widget.rpc_url.setText("")
    assert "Saved" in _save(qtbot, widget)
    assert store.load().rpc_url is None
    assert not widget.findChild(type(widget.message), "settings_rpc_hint").isVisible()
    assert not any(secret in widget.message.text() for secret in RPC_SECRETS)
