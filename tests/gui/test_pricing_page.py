"""PricingPage over a real engine: a preset applies live (the engine re-announces its prices) and
the estimate follows; a bad custom price is refused under its field and nothing is saved."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QRadioButton, QWidget  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.pricing import PricingError, load_tier_table, preset_rates  # noqa: E402
from fizz_app.core.state import NodeSnapshot, NodeStatus  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.pages.pricing import SAVED_TEXT, PricingPage  # noqa: E402

pytestmark = pytest.mark.gui


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _open(
    qtbot: QtBot, bridge: EngineBridge, snapshots: list[NodeSnapshot]
) -> tuple[PricingPage, Any]:
    page = PricingPage(bridge)
    qtbot.addWidget(page)
    page.resize(900, 800)
    page.show()
    bridge.sig_snapshot.connect(snapshots.append)
    return page, page.editor


def _click_preset(qtbot: QtBot, page: PricingPage, name: str) -> None:
    radio = page.findChild(QRadioButton, f"preset_{name}")
    assert radio is not None
    # On the indicator: a radio button ignores clicks beside its text.
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))


def test_premium_applies_live_and_updates_the_estimate(
    qtbot: QtBot,
    make_bridge: Callable[..., EngineBridge],
    online_node_factory: Any,
    gui_gateway: Any,
    gui_home: Path,
) -> None:
    bridge = make_bridge(node_factory=online_node_factory, snapshot_interval=0.05)
    snapshots: list[NodeSnapshot] = []
    page, editor = _open(qtbot, bridge, snapshots)
    bridge.start()
    qtbot.waitUntil(lambda: bridge.is_ready, timeout=30_000)
    bridge.submit(lambda node: node.start())
    qtbot.waitUntil(
        lambda: (
            bool(snapshots)
            and snapshots[-1].status is NodeStatus.ONLINE
            and snapshots[-1].prices is not None
        ),
        timeout=60_000,
    )
    qtbot.waitUntil(editor.is_loaded, timeout=10_000)
    market = preset_rates("market", load_tier_table(), None)
    premium = preset_rates("premium", load_tier_table(), None)
    assert snapshots[-1].prices["cpu_per_thread_month_usd"] == _plain(market.cpu)
    assert editor.preset() == "market"
    assert not page.apply_button.isEnabled()  # nothing changed yet
    before = editor.estimate()
    assert before is not None and before.net_usd > 0
    estimate_text = editor.estimate_text()

    _click_preset(qtbot, page, "premium")
    assert editor.preset() == "premium"
    assert editor.price_field("cpu").text() == _plain(premium.cpu)
    assert not editor.price_field("cpu").isEnabled()  # a preset's rates are not edited
    after = editor.estimate()
    assert after is not None and after.net_usd > before.net_usd
    assert editor.estimate_text() != estimate_text
    assert "Not saved yet" in page.status_text

    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status_text == SAVED_TEXT, timeout=15_000)
    qtbot.waitUntil(
        lambda: (snapshots[-1].prices or {}).get("cpu_per_thread_month_usd") == _plain(premium.cpu),
        timeout=15_000,
    )
    assert snapshots[-1].status is NodeStatus.ONLINE  # applied live, no restart

    async def told_gateway(server: Any) -> str | None:
        session = server.sessions.open_session(online_node_factory.address)
        prices = None if session is None or session.prices is None else session.prices.to_obj()
        return None if prices is None else str(prices["cpu_per_thread_month_usd"])

    qtbot.waitUntil(lambda: gui_gateway.call(told_gateway) == _plain(premium.cpu), timeout=10_000)
    saved = json.loads((gui_home / "settings.json").read_text())["pricing"]
    assert saved["preset"] == "premium"
    announced = page.findChild(QWidget, "announced_prices")
    assert announced is not None and _plain(premium.cpu) in announced.text()  # type: ignore[attr-defined]
    assert not page.apply_button.isEnabled()

    # The utilisation slider moves the estimate: 100 % is twice 50 %.
    editor.utilisation_slider.setValue(100)
    full = editor.estimate()
    assert full is not None and full.net_usd == after.net_usd * 2
    assert "100 % of the time" in editor.estimate_text()


def test_negative_custom_price_is_refused_and_nothing_saved(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge], gui_home: Path
) -> None:
    bridge = make_bridge(snapshot_interval=0.05)
    snapshots: list[NodeSnapshot] = []
    page, editor = _open(qtbot, bridge, snapshots)
    bridge.start()
    qtbot.waitUntil(editor.is_loaded, timeout=30_000)
    settings = gui_home / "settings.json"
    saved_before = settings.read_bytes() if settings.exists() else None

    _click_preset(qtbot, page, "custom")
    field = editor.price_field("cpu")
    assert field.isEnabled() and field.text() == "0.75"  # custom starts from what was shown
    field.selectAll()
    qtbot.keyClicks(field, "-1")
    message = editor.field_error("cpu")
    assert message.startswith("The CPU price per thread per month cannot be negative (got -1).")
    assert "Enter 0 or more US dollars." in message
    assert field.accessibleDescription() == message
    assert not editor.is_valid()
    assert not page.apply_button.isEnabled()
    assert editor.estimate() is None

    failures: list[str] = []
    editor.sig_apply_failed.connect(failures.append)
    future = editor.apply()  # what the wizard would call: refused without reaching the engine
    assert isinstance(future.exception(), PricingError)
    assert failures and failures[0] == message
    assert page.status_text.startswith("Not saved.")

    field.selectAll()
    qtbot.keyClicks(field, "abc")
    assert "must be a number" in editor.field_error("cpu")
    qtbot.wait(200)
    assert (settings.read_bytes() if settings.exists() else None) == saved_before
    assert all(s.prices is None for s in snapshots)  # nothing was announced either

    field.selectAll()
    qtbot.keyClicks(field, "0.9")
    assert editor.field_error("cpu") == ""
    assert page.apply_button.isEnabled()
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status_text == SAVED_TEXT, timeout=15_000)
    saved = json.loads(settings.read_text())["pricing"]
    assert (saved["preset"], saved["cpu_per_thread_month_usd"]) == ("custom", "0.9")
    qtbot.waitUntil(
        lambda: (snapshots[-1].prices or {}).get("cpu_per_thread_month_usd") == "0.9",
        timeout=10_000,
    )


def test_keyboard_walks_presets_fields_slider_and_buttons(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge]
) -> None:
    bridge = make_bridge(snapshot_interval=0.05)
    page, editor = _open(qtbot, bridge, [])
    bridge.start()
    qtbot.waitUntil(editor.is_loaded, timeout=30_000)
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow, timeout=5_000)
    radio = page.findChild(QRadioButton, "preset_market")
    assert radio is not None
    radio.setFocus()
    qtbot.keyClick(radio, Qt.Key.Key_Down)  # arrows move between presets
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
    assert editor.preset() == "custom"
    editor.price_field("memory").setText("0.2")
    editor.price_field("memory").textEdited.emit("0.2")
    assert page.apply_button.isEnabled()

    fields = ["price_cpu", "price_memory", "price_storage"]
    if editor.price_field("gpu").isEnabled():
        fields.append("price_gpu")
    expected = [*fields, "utilisation_slider", "apply_button", "revert_button"]
    visited = []
    for _ in expected:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget().objectName())
    assert visited == expected
