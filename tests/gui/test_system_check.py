"""SystemCheckPage on its own, fed with a snapshot from the real engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.checks import CheckResult, CheckStatus, Verdict, check_label  # noqa: E402
from fizz_app.core.state import NodeSnapshot  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.pages.system_check import SystemCheckPage  # noqa: E402
from fizz_app.gui.widgets.status_badge import StatusBadge  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def snapshot(qtbot: QtBot, make_bridge: Callable[..., EngineBridge]) -> NodeSnapshot:
    """The first snapshot of a real engine on the devnet profile."""
    bridge = make_bridge()
    with qtbot.waitSignal(bridge.sig_snapshot, timeout=15_000) as blocker:
        bridge.start()
    result = blocker.args[0]
    assert isinstance(result, NodeSnapshot)
    return result


@pytest.fixture
def page(qtbot: QtBot) -> SystemCheckPage:
    widget = SystemCheckPage()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


def _label(page: SystemCheckPage, name: str) -> QLabel:
    label = page.findChild(QLabel, name)
    assert label is not None, f"no label {name!r}"
    return label


def test_starts_in_checking_state(page: SystemCheckPage) -> None:
    assert _label(page, "headline").text() == "Checking this machine…"
    assert not page.recheck_button.isEnabled()
    assert page.recheck_button.text() == "Checking…"
    assert page.findChildren(StatusBadge) == []


def test_renders_rows_and_toggles_checking(page: SystemCheckPage, snapshot: NodeSnapshot) -> None:
    page.set_checking(False)
    page.show_snapshot(snapshot)
    assert snapshot.verdict is not None
    badges = page.findChildren(StatusBadge)
    assert len(badges) == len(snapshot.verdict.checks)
    for badge, check in zip(badges, snapshot.verdict.checks, strict=True):
        assert (
            badge.accessibleName()
            == f"{check_label(check.name)}: "
            + {
                CheckStatus.PASS: "passed",
                CheckStatus.WARN: "warning",
                CheckStatus.FAIL: "failed",
            }[check.status]
        )
        assert _label(page, f"check_detail_{check.name}").text() == check.detail
        remedy = page.findChild(QLabel, f"check_remedy_{check.name}")
        assert (remedy is not None) == bool(check.remedy)
    assert page.recheck_button.isEnabled()

    page.set_checking(True)
    assert not page.recheck_button.isEnabled()
    assert page.recheck_button.text() == "Checking…"
    page.set_checking(False)
    assert page.recheck_button.isEnabled()
    assert page.recheck_button.text() == "Check again"


def test_same_verdict_keeps_rows(page: SystemCheckPage, snapshot: NodeSnapshot) -> None:
    # Re-rendering only on change keeps focus, selection and scroll position in the rows.
    page.show_snapshot(snapshot)
    before = page.findChildren(StatusBadge)
    page.show_snapshot(snapshot.evolve(seq=snapshot.seq + 1))
    assert page.findChildren(StatusBadge) == before


def test_failed_checks_are_named_and_text_is_plain(
    page: SystemCheckPage, snapshot: NodeSnapshot
) -> None:
    assert snapshot.verdict is not None
    failing = Verdict(
        profile="spheron-fizz",
        profile_title="Spheron Fizz node",
        checks=(
            CheckResult("cpu", CheckStatus.FAIL, "2 CPU threads <b>only</b>.", "Use <i>8</i>."),
            *snapshot.verdict.checks[1:2],
            CheckResult("storage", CheckStatus.FAIL, "5 GB free.", "Free 95 GB."),
        ),
    )
    page.show_snapshot(dataclasses.replace(snapshot, verdict=failing))

    headline = _label(page, "headline").text()
    assert headline == failing.headline()
    assert headline.endswith("Spheron Fizz node minimums (CPU, storage)")
    detail = _label(page, "check_detail_cpu")
    assert detail.textFormat() == Qt.TextFormat.PlainText
    assert detail.text() == "2 CPU threads <b>only</b>."
    assert _label(page, "check_remedy_cpu").isVisible()
    assert len(page.findChildren(StatusBadge)) == 3


def test_unavailable_disables_check_again(page: SystemCheckPage) -> None:
    page.show_unavailable("See the message above.")
    assert not page.recheck_button.isEnabled()
    assert page.recheck_button.text() == "Check again"
    assert _label(page, "headline").text() == "The system check cannot run"
    assert _label(page, "machine_summary").text() == "See the message above."


def test_recheck_button_emits_request(qtbot: QtBot, page: SystemCheckPage) -> None:
    page.set_checking(False)
    assert page.recheck_button.focusPolicy() & Qt.FocusPolicy.TabFocus
    with qtbot.waitSignal(page.sig_recheck_requested):
        qtbot.mouseClick(page.recheck_button, Qt.MouseButton.LeftButton)
