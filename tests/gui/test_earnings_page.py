"""EarningsPage over a real engine on the local network: a credited lease reaches the chart and
the lifetime totals, a claim and a withdrawal go through on chain, the CSV export is written."""

from __future__ import annotations

import base64
import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from devnet.chain.tx import send  # noqa: E402
from fizz_app.core.state import DesiredState, NodeSnapshot, NodeStatus  # noqa: E402
from fizz_app.gui.bridge import EngineBridge  # noqa: E402
from fizz_app.gui.pages.earnings import EarningsPage, default_export_name  # noqa: E402
from tests.core.test_engine import lease_on_chain, settle  # noqa: E402
from tests.gui.test_local_network import HELLO  # noqa: E402

pytestmark = pytest.mark.gui

USPON = 10**6
SPON = 10**18
ONLINE_MS = 60_000


class Online:
    """A shown EarningsPage over a started bridge whose node is online."""

    def __init__(self, qtbot: QtBot, bridge: EngineBridge, page: EarningsPage, address: str):
        self.qtbot, self.bridge, self.page, self.address = qtbot, bridge, page, address
        self.snapshots: list[NodeSnapshot] = []

    def label(self, name: str) -> str:
        label = self.page.findChild(QLabel, name)
        assert label is not None, f"no label {name!r}"
        return label.text()

    def wait_label(self, name: str, contains: str, timeout: int = 30_000) -> None:
        try:
            self.qtbot.waitUntil(lambda: contains in self.label(name), timeout=timeout)
        except Exception:
            earnings = self.snapshots[-1].earnings if self.snapshots else None
            raise AssertionError(f"{name}: {self.label(name)!r}; earnings: {earnings}") from None


@pytest.fixture
def online(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge], online_node_factory: Any
) -> Online:
    bridge = make_bridge(node_factory=online_node_factory, snapshot_interval=0.05)
    page = EarningsPage(bridge)  # before start(): it sees the first snapshot
    qtbot.addWidget(page)
    page.resize(900, 900)
    page.show()
    running = Online(qtbot, bridge, page, online_node_factory.address)
    bridge.sig_snapshot.connect(running.snapshots.append)
    bridge.start()
    qtbot.waitUntil(lambda: bridge.is_ready, timeout=30_000)
    bridge.submit(lambda node: node.start())
    qtbot.waitUntil(
        lambda: bool(running.snapshots) and running.snapshots[-1].status is NodeStatus.ONLINE,
        timeout=ONLINE_MS,
    )
    return running


def answer_next_dialog(button: QMessageBox.StandardButton) -> None:
    """Click ``button`` in the confirmation box the page is about to open (modal)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        assert box.objectName() == "confirm_dialog"
        found = box.button(button)
        assert found is not None
        found.click()

    QTimer.singleShot(0, click)


def test_credited_lease_reaches_chart_lifetime_and_csv(
    online: Online, gui_gateway: Any, tmp_path: Path
) -> None:
    page = online.page
    assert page.chart.values() == []
    service = {
        "name": "hello",
        "runtime": "wasm",
        "wasm_module": base64.b64encode(HELLO).decode(),
        "resources": {"cpu": {"units": {"val": "100"}}, "memory": {"size": {"val": "16777216"}}},
    }
    gui_gateway.call(
        lambda server: server.deploy("41", [service], node=online.address, price_per_block="1000")
    )

    async def credit(server: Any) -> bool:
        return bool(server.credit_earnings("41", "15"))

    assert gui_gateway.call(credit)

    online.qtbot.waitUntil(lambda: page.chart.values() == [Decimal(15)], timeout=30_000)
    assert page.chart.drawn_heights() == [15.0]
    assert "15 uSPON" in (page.chart.accessibleDescription())
    assert online.label("lease_lifetime") == "15 uSPON earned from leases, 0 uSPON withdrawn"

    page.period_box.setCurrentIndex(page.period_box.findData("month"))
    online.qtbot.waitUntil(lambda: len(page.chart.labels()) == 1, timeout=10_000)
    assert page.chart.values() == [Decimal(15)]

    target = tmp_path / default_export_name()
    suggested: list[Path] = []

    def choose(path: Path) -> Path:
        suggested.append(path)
        return target

    page.choose_export_path = choose  # type: ignore[method-assign]
    online.qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    online.wait_label("export_status", "Saved 1 row to")
    assert suggested[0].name.startswith("fizz-earnings-") and suggested[0].suffix == ".csv"
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["lease_id"], row["amount"], row["token"]) for row in rows] == [
        ("41", "15", "uSPON")
    ]


def test_claim_rewards_end_to_end(online: Online, gui_chain: Any) -> None:
    page = online.page
    online.wait_label("balance_SPON", "0")
    manager = gui_chain.deployment.contract(gui_chain.w3, "FizzRewardsManager")
    send(
        gui_chain.w3,
        manager.functions.addFizzPendingRewards([online.address], [7 * SPON]),
        gui_chain.deployment.admin,
    )
    online.wait_label("pending_rewards", "7 SPON ready to claim")
    online.qtbot.waitUntil(page.claim_button.isEnabled, timeout=5_000)

    answer_next_dialog(QMessageBox.StandardButton.No)  # declined: nothing is sent
    online.qtbot.mouseClick(page.claim_button, Qt.MouseButton.LeftButton)
    assert online.label("transaction_status") == ""

    answer_next_dialog(QMessageBox.StandardButton.Yes)
    online.qtbot.mouseClick(page.claim_button, Qt.MouseButton.LeftButton)
    assert not page.claim_button.isEnabled()  # busy until the chain answers
    online.wait_label("transaction_status", "Rewards claimed in transaction 0x")
    online.wait_label("balance_SPON", "7")
    assert online.label("balance_SPON") == "7"
    online.wait_label("lifetime_rewards", "7 SPON claimed")
    online.wait_label("pending_rewards", "0 SPON ready to claim")
    assert not page.claim_button.isEnabled()


def test_withdraw_part_of_settled_earnings(online: Online, gui_chain: Any) -> None:
    page = online.page
    registration = gui_chain.client.registration(online.address)
    assert registration is not None
    lease_id, tenant = lease_on_chain(gui_chain, registration.fizz_id)
    settle(gui_chain, tenant, registration.fizz_id, 15 * USPON)
    online.wait_label("chain_reconciliation", "The chain shows 15 uSPON more than the ledger")
    online.wait_label("balance_uSPON", "0")

    page.amount_field.setText("1.2345678")  # more decimals than uSPON has: refused here
    online.qtbot.mouseClick(page.withdraw_button, Qt.MouseButton.LeftButton)
    assert "at most 6 decimals" in online.label("withdraw_amount_error")
    assert online.label("transaction_status") == ""

    page.amount_field.setText("5")
    answer_next_dialog(QMessageBox.StandardButton.Yes)
    online.qtbot.mouseClick(page.withdraw_button, Qt.MouseButton.LeftButton)
    online.wait_label("transaction_status", "Withdrew 5 uSPON in transaction 0x")
    online.wait_label("balance_uSPON", "5")
    assert page.amount_field.text() == ""
    online.wait_label("lease_lifetime", "5 uSPON withdrawn")

    page.amount_field.setText("50")  # more than is left: the engine's words, shown as they are
    answer_next_dialog(QMessageBox.StandardButton.Yes)
    online.qtbot.mouseClick(page.withdraw_button, Qt.MouseButton.LeftButton)
    online.wait_label("transaction_status", "The withdrawal did not go through.")
    assert "10 uSPON" in online.label("transaction_status")
    assert page.withdraw_button.isEnabled()


def test_the_page_says_when_a_claim_is_pending_and_when_the_chain_settles_it(
    qtbot: QtBot, make_bridge: Callable[..., EngineBridge], tmp_path: Path
) -> None:
    # The snapshots the engine publishes (their pending and settled transfers come from a real
    # chain in tests/core/test_node_pending_transfers.py), delivered through the bridge's signal.
    bridge = make_bridge()
    page = EarningsPage(bridge)
    qtbot.addWidget(page)
    tx_hash = "0x" + "12" * 32
    claim = {"kind": "claim", "tx_hash": tx_hash, "token": "SPON", "decimals": 18}
    claim["amount"] = str(7 * SPON)
    base = NodeSnapshot(
        seq=1, version="test", status=NodeStatus.OFFLINE, status_reason="", network="devnet",
        desired=DesiredState.OFFLINE, profile="devnet", data_dir=str(tmp_path),
    )  # fmt: skip
    status = page.findChild(QLabel, "transaction_status")
    assert status is not None
    for seq, state in enumerate(("pending", "pending", "dropped"), start=2):
        earnings = {"lifetime": {}, "transfers": [{**claim, "status": state}]}
        bridge.sig_snapshot.emit(base.evolve(seq=seq, earnings=earnings))
        if seq == 2:
            assert status.text() == (
                f"Claim of 7 SPON (transaction {tx_hash}) is pending: the node keeps checking "
                "the chain and says here once it is confirmed or dropped."
            )
    assert status.text() == (
        f"Claim of 7 SPON (transaction {tx_hash}) dropped: it never went through, nothing was paid."
    )
