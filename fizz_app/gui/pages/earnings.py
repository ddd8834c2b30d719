"""The "Earnings" page: wallet balances, era rewards, lease earnings, a chart, claim, withdraw.

It connects itself to the bridge (``sig_snapshot`` and ``sig_command_finished``): the main
window only adds it to its pages and must not connect ``_on_bridge_snapshot`` again. Every
engine call goes through :meth:`EngineBridge.submit`; nothing here waits on a future.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QFileDialog, QLineEdit, QMessageBox, QPushButton, QWidget

from ...core.earnings_text import SETTLED_WORDS, TransferWatch, transfer_words
from ...core.ledger_types import PeriodTotal, parse_units
from ...core.state import NodeSnapshot
from ..bridge import EngineBridge, EngineNotRunning, describe_error
from ..widgets.earnings_chart import EarningsChart
from ..widgets.earnings_panels import build_earnings_view
from ..widgets.earnings_parts import amount_of, lease_lines, rewards_lines
from ..widgets.tones import Tone, set_tone

if TYPE_CHECKING:
    from ...core.chain import Balances
    from ...core.node import Node
    from ...core.registration import WithdrawalResult

__all__ = ["EarningsPage", "default_export_name"]

GAS_PLACES = 6
"""Gas money is shown to a millionth: more digits mean nothing to the owner."""
USPON_DECIMALS = 6

Handler = Callable[[concurrent.futures.Future[Any]], None]


def default_export_name(today: date | None = None) -> str:
    """The file name the CSV export suggests: ``fizz-earnings-YYYY-MM-DD.csv``."""
    return f"fizz-earnings-{(today or date.today()).isoformat()}.csv"


class EarningsPage(QWidget):
    """Balances, rewards and lease earnings with Claim, Withdraw and Export CSV.

    Create it with the bridge (before or after ``bridge.start()``); it renders each snapshot,
    reads balances when shown and on "Refresh", and reloads the chart when the earnings change.
    :meth:`confirm` and :meth:`choose_export_path` are the two questions it asks the user;
    subclasses (or tests) may override them.

    Args:
        bridge: the engine bridge; the page connects to it but neither starts nor stops it.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_transaction_sent = Signal(str, str)
    """A claim or withdrawal went through: (``"claim"`` or ``"withdraw"``, transaction hash)."""
    sig_exported = Signal(str, int)
    """The CSV export was written: (path, number of rows)."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("earnings_page")
        self._bridge = bridge
        self._handlers: dict[concurrent.futures.Future[Any], Handler] = {}
        self._earnings: dict[str, Any] | None = None
        self._chart_stale = True
        """Reload the chart at the next snapshot (nothing loaded yet, or the engine was down)."""
        self._chart_loading = False
        self._chart_again = False
        self._balances_loaded = False
        self._busy = False
        self._claimable = True
        self._transfers = TransferWatch()
        """Which claims and withdrawals were pending at the last snapshot, to say when the
        chain settles them (the engine rechecks them by itself)."""
        self._totals: list[PeriodTotal] = []
        self._view = build_earnings_view(self)
        self._connect()
        self._render_earnings()
        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_command_finished.connect(self._on_bridge_command_finished)

    # ---- Public API

    @property
    def chart(self) -> EarningsChart:
        return self._view.chart

    @property
    def claim_button(self) -> QPushButton:
        return self._view.claim_button

    @property
    def withdraw_button(self) -> QPushButton:
        return self._view.withdraw_button

    @property
    def amount_field(self) -> QLineEdit:
        return self._view.amount

    @property
    def export_button(self) -> QPushButton:
        return self._view.export_button

    @property
    def refresh_button(self) -> QPushButton:
        return self._view.refresh_button

    @property
    def period_box(self) -> QComboBox:
        return self._view.period

    def refresh_balances(self) -> None:
        """Read the wallet's balances from the chain (answer shown when it arrives)."""
        self._view.refresh_button.setEnabled(False)
        self._view.balances_status.setText("Reading balances…")
        self._run(lambda node: node.balances(), self._on_balances_done)

    def refresh_chart(self) -> None:
        """Reload the chart's totals for the chosen period (one request at a time)."""
        if self._chart_loading:
            self._chart_again = True
            return
        self._chart_loading, self._chart_stale = True, False
        period = str(self._view.period.currentData())
        self._run(lambda node: node.earnings_totals(period), self._on_totals_done)

    def confirm(self, title: str, text: str) -> bool:
        """Ask the user to confirm a transaction; True to go ahead. A modal question box
        (object name ``confirm_dialog``) with "No" as the default button."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        box.setObjectName("confirm_dialog")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def choose_export_path(self, suggested: Path) -> Path | None:
        """Ask where to save the CSV (``suggested`` preselected); ``None`` when cancelled."""
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export earnings as CSV", str(suggested), "CSV files (*.csv)"
        )
        return Path(chosen) if chosen else None

    # ---- Slots

    @Slot(object)
    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        """Render the snapshot's earnings; reload the chart when they changed."""
        earnings = snapshot.earnings
        changed = (earnings or {}).get("lifetime") != (self._earnings or {}).get("lifetime")
        if earnings != self._earnings:
            self._earnings = earnings
            self._render_earnings()
        if changed or self._chart_stale:
            self.refresh_chart()
        if self.isVisible() and not self._balances_loaded and self._view.refresh_button.isEnabled():
            self.refresh_balances()

    @Slot(object)
    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        handler = self._handlers.pop(future, None)
        if handler is not None:
            handler(future)

    # ---- Qt overrides

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._bridge.is_ready:
            self.refresh_balances()
            self.refresh_chart()

    # ---- Private API: commands

    def _run(self, command: Callable[[Node], Awaitable[Any]], handler: Handler) -> None:
        future = self._bridge.submit(command)
        if future.done():  # refused at once (engine not running): no signal will follow for us
            handler(future)
        else:
            self._handlers[future] = handler

    def _on_balances_done(self, future: concurrent.futures.Future[Balances]) -> None:
        self._view.refresh_button.setEnabled(True)
        error = future.exception()
        self._balances_loaded = not isinstance(error, EngineNotRunning)
        if error is not None:
            self._view.balances_status.setText(
                f"Balances could not be read. {describe_error(error)}"
            )
            return
        balances = future.result()
        by_symbol = {token.symbol: token for token in balances.tokens}
        for symbol, label in self._view.balances.items():
            token = by_symbol.get(symbol)
            label.setText("—" if token is None else amount_of(token.raw, token.decimals))
        gas = balances.gas
        self._view.gas_name.setText(f"Gas ({gas.symbol})")
        self._view.gas.setText(amount_of(gas.raw, gas.decimals, GAS_PLACES))
        self._view.balances_status.setText("Up to date.")

    def _on_totals_done(self, future: concurrent.futures.Future[list[PeriodTotal]]) -> None:
        self._chart_loading = False
        error = future.exception()
        if error is None:
            totals = future.result()
            tokens = sorted({row.token for row in totals}, key=lambda t: (t != "uSPON", t))
            current = self._view.token.currentText() or "uSPON"
            self._view.token.blockSignals(True)
            self._view.token.clear()
            self._view.token.addItems(tokens or ["uSPON"])
            self._view.token.setCurrentText(
                current if current in tokens else self._view.token.itemText(0)
            )
            self._view.token.blockSignals(False)
            self._totals = totals
            self._draw_chart()
        elif isinstance(error, EngineNotRunning):
            self._chart_stale = True  # try again with the first snapshot of a running engine
        if self._chart_again:
            self._chart_again = False
            self.refresh_chart()

    def _draw_chart(self) -> None:
        period = str(self._view.period.currentData())
        self._view.chart.set_totals(self._totals, period, self._view.token.currentText() or "uSPON")

    def _on_claim_clicked(self) -> None:
        pending, _lifetime, _claimable = rewards_lines(self._earnings)
        text = (
            f"Claim your era rewards ({pending}) to this node's wallet?\n\n"
            "This sends a transaction on the chain and uses a little gas money."
        )
        if not self.confirm("Claim rewards", text):
            return
        self._set_busy("Sending the claim and waiting for the chain to confirm it…")
        self._run(lambda node: node.claim_rewards(), self._on_claim_done)

    def _on_claim_done(self, future: concurrent.futures.Future[str]) -> None:
        error = future.exception()
        if error is not None:
            self._set_done(f"The claim did not go through. {describe_error(error)}", ok=False)
            return
        tx_hash = future.result()
        self._set_done(f"Rewards claimed in transaction {tx_hash}.", ok=True)
        self.sig_transaction_sent.emit("claim", tx_hash)

    def _on_withdraw_clicked(self) -> None:
        text = self._view.amount.text().strip()
        amount = "all" if text.lower() in ("", "all") else text
        if amount != "all":
            try:
                if parse_units(amount, USPON_DECIMALS) == 0:
                    raise ValueError("zero")
            except ValueError:
                self._view.amount_error.setText(
                    "Enter an amount of uSPON above 0 with at most 6 decimals, like 12.5, "
                    "or leave it empty (or type all) to withdraw everything."
                )
                self._view.amount_error.setVisible(True)
                self._view.amount.setFocus()
                return
        self._view.amount_error.setVisible(False)
        what = "all your lease earnings" if amount == "all" else f"{amount} uSPON"
        question = (
            f"Withdraw {what} to this node's wallet?\n\n"
            "This sends a transaction on the chain and uses a little gas money."
        )
        if not self.confirm("Withdraw lease earnings", question):
            return
        self._set_busy("Sending the withdrawal and waiting for the chain to confirm it…")
        self._run(lambda node: node.withdraw_earnings(amount), self._on_withdraw_done)

    def _on_withdraw_done(self, future: concurrent.futures.Future[WithdrawalResult]) -> None:
        error = future.exception()
        if error is not None:
            self._set_done(f"The withdrawal did not go through. {describe_error(error)}", ok=False)
            return
        result = future.result()
        self._set_done(" ".join(result.lines()), ok=True)
        self._view.amount.clear()
        self.sig_transaction_sent.emit("withdraw", result.transaction.hash)

    def _on_export_clicked(self) -> None:
        path = self.choose_export_path(Path.home() / default_export_name())
        if path is None:
            return
        self._view.export_button.setEnabled(False)
        self._view.export_status.setText("Exporting…")
        self._run(
            lambda node: node.export_earnings_csv(path),
            lambda future: self._on_export_done(future, path),
        )

    def _on_export_done(self, future: concurrent.futures.Future[int], path: Path) -> None:
        self._view.export_button.setEnabled(True)
        error = future.exception()
        if error is not None:
            self._view.export_status.setText(f"The export failed. {describe_error(error)}")
            return
        rows = future.result()
        self._view.export_status.setText(f"Saved {rows} row{'' if rows == 1 else 's'} to {path}.")
        self.sig_exported.emit(str(path), rows)

    def _set_busy(self, text: str) -> None:
        self._busy = True
        set_tone(self._view.tx_status, None)
        self._view.tx_status.setText(text)
        self._update_buttons()

    def _set_done(self, text: str, *, ok: bool) -> None:
        self._busy = False
        set_tone(self._view.tx_status, None if ok else Tone.ERROR)
        self._view.tx_status.setText(text)
        self._update_buttons()
        if ok:
            self.refresh_balances()

    def _update_buttons(self) -> None:
        self._view.claim_button.setEnabled(not self._busy and self._claimable)
        self._view.claim_button.setToolTip(
            "" if self._claimable else "There is nothing to claim yet."
        )
        self._view.withdraw_button.setEnabled(not self._busy)
        self._view.claim_button.setText("Claiming…" if self._busy else "Claim rewards")

    # ---- Private API: rendering

    def _render_earnings(self) -> None:
        pending, lifetime, self._claimable = rewards_lines(self._earnings)
        self._view.pending.setText(pending)
        self._view.rewards_lifetime.setText(lifetime)
        leases, chain = lease_lines(self._earnings)
        self._view.lease_lifetime.setText(leases)
        self._view.chain.setText(chain)
        self._render_transfers()
        self._update_buttons()

    def _render_transfers(self) -> None:
        """A line when a claim or withdrawal is pending (its send got no answer, or it waits
        to be mined), and when the chain settles one that was."""
        news = self._transfers.update(self._earnings)
        if self._busy:  # the intent's own answer comes next
            return
        if news.settled:
            transfer = news.settled[0]
            status = str(transfer.get("status"))
            set_tone(self._view.tx_status, None if status == "confirmed" else Tone.ERROR)
            self._view.tx_status.setText(
                f"{transfer_words(transfer)} {SETTLED_WORDS.get(status, status)}."
            )
        elif news.pending:
            set_tone(self._view.tx_status, None)
            self._view.tx_status.setText(
                f"{transfer_words(news.pending[0])} is pending: the node keeps checking the chain "
                "and says here once it is confirmed or dropped."
            )

    def _connect(self) -> None:
        view = self._view
        view.refresh_button.clicked.connect(lambda _checked=False: self.refresh_balances())
        view.claim_button.clicked.connect(lambda _checked=False: self._on_claim_clicked())
        view.withdraw_button.clicked.connect(lambda _checked=False: self._on_withdraw_clicked())
        view.amount.returnPressed.connect(self._on_withdraw_clicked)
        view.export_button.clicked.connect(lambda _checked=False: self._on_export_clicked())
        view.period.currentIndexChanged.connect(lambda _index: self.refresh_chart())
        view.token.currentIndexChanged.connect(lambda _index: self._draw_chart())
