"""The widgets of the Earnings page, laid out: balances, rewards, lease earnings and history.

:func:`build_earnings_view` creates them on a page and returns them in an
:class:`EarningsView`; the page connects their signals and fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .earnings_chart import EarningsChart
from .earnings_parts import card, mute, text_label, title_font
from .tones import Tone, set_tone

__all__ = ["EarningsView", "PERIODS", "build_earnings_view"]

"""Error text: dark enough for 4.5:1 contrast on light backgrounds, readable on dark ones."""
PERIODS = (("Per day", "day"), ("Per week", "week"), ("Per month", "month"))
BALANCE_TOKENS = (("uSPON", "uSPON"), ("SPON", "SPON (rewards)"))


@dataclass
class EarningsView:
    """Every widget of the Earnings page the page reads or changes."""

    balances: dict[str, QLabel]
    """Token symbol (``uSPON``, ``SPON``) -> its balance label."""
    gas_name: QLabel
    gas: QLabel
    balances_status: QLabel
    refresh_button: QPushButton
    pending: QLabel
    rewards_lifetime: QLabel
    claim_button: QPushButton
    lease_lifetime: QLabel
    chain: QLabel
    amount: QLineEdit
    amount_error: QLabel
    withdraw_button: QPushButton
    tx_status: QLabel
    period: QComboBox
    token: QComboBox
    export_button: QPushButton
    export_status: QLabel
    chart: EarningsChart


def _button(parent: QWidget, name: str, text: str) -> QPushButton:
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setAccessibleName(text.rstrip("…"))
    button.setAutoDefault(False)
    button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return button


def _combo(parent: QWidget, name: str, accessible: str) -> QComboBox:
    box = QComboBox(parent)
    box.setObjectName(name)
    box.setAccessibleName(accessible)
    return box


def build_earnings_view(page: QWidget) -> EarningsView:
    """Lay the Earnings page's widgets out on ``page`` (in a scroll area) and return them."""
    title = QLabel("Earnings", page)
    title.setFont(title_font(title.font(), 1.5))
    title.setAccessibleName("Earnings")

    wallet, wallet_layout = card(page, "balances_card", "Wallet balances")
    grid = QGridLayout()
    balances: dict[str, QLabel] = {}
    for index, (symbol, name) in enumerate(BALANCE_TOKENS):
        grid.addWidget(QLabel(name, wallet), index, 0)
        balances[symbol] = text_label(wallet, f"balance_{symbol}", "—", f"{name} balance")
        grid.addWidget(balances[symbol], index, 1)
    gas_name = QLabel("Gas", wallet)
    gas = text_label(wallet, "balance_gas", "—", "Gas balance")
    grid.addWidget(gas_name, 2, 0)
    grid.addWidget(gas, 2, 1)
    grid.setColumnStretch(1, 1)
    refresh = _button(wallet, "refresh_button", "Refresh")
    refresh.setToolTip("Read the balances from the chain again")
    grid.addWidget(refresh, 0, 2)
    balances_status = text_label(wallet, "balances_status")
    mute(balances_status)
    wallet_layout.addLayout(grid)
    wallet_layout.addWidget(balances_status)

    rewards, rewards_layout = card(page, "rewards_card", "Era rewards")
    pending = text_label(rewards, "pending_rewards", "", "Pending rewards")
    rewards_lifetime = text_label(rewards, "lifetime_rewards", "", "Lifetime rewards")
    claim = _button(rewards, "claim_button", "Claim rewards")
    rewards_layout.addWidget(pending)
    rewards_layout.addWidget(rewards_lifetime)
    rewards_layout.addWidget(claim, 0, Qt.AlignmentFlag.AlignLeft)

    leases, leases_layout = card(page, "leases_card", "Lease earnings")
    lease_lifetime = text_label(leases, "lease_lifetime", "", "Lifetime lease earnings")
    chain = text_label(leases, "chain_reconciliation", "", "Check against the chain")
    mute(chain)
    amount = QLineEdit(leases)
    amount.setObjectName("withdraw_amount")
    amount.setPlaceholderText("all")
    amount.setAccessibleName("Amount to withdraw in uSPON (empty: all)")
    amount.setMaximumWidth(160)
    withdraw = _button(leases, "withdraw_button", "Withdraw")
    amount_error = text_label(leases, "withdraw_amount_error")
    set_tone(amount_error, Tone.ERROR)
    amount_error.setVisible(False)
    amount_label = QLabel("&Amount (uSPON):", leases)
    amount_label.setBuddy(amount)
    withdraw_row = QHBoxLayout()
    for widget in (amount_label, amount, withdraw):
        withdraw_row.addWidget(widget)
    withdraw_row.addStretch(1)
    leases_layout.addWidget(lease_lifetime)
    leases_layout.addWidget(chain)
    leases_layout.addLayout(withdraw_row)
    leases_layout.addWidget(amount_error)

    tx_status = text_label(page, "transaction_status", "", "Transaction status")

    history, history_layout = card(page, "history_card", "Earnings over time")
    period = _combo(history, "period_box", "Chart period")
    for text, value in PERIODS:
        period.addItem(text, value)
    token = _combo(history, "token_box", "Chart token")
    token.addItem("uSPON")
    export = _button(history, "export_button", "Export CSV…")
    export.setToolTip("Save every ledger entry as a CSV file")
    controls = QHBoxLayout()
    controls.addWidget(period)
    controls.addWidget(token)
    controls.addStretch(1)
    controls.addWidget(export)
    chart = EarningsChart(history)
    export_status = text_label(history, "export_status")
    mute(export_status)
    history_layout.addLayout(controls)
    history_layout.addWidget(chart, 1)
    history_layout.addWidget(export_status)

    content = QWidget()
    layout = QVBoxLayout(content)
    layout.setContentsMargins(24, 20, 24, 16)
    layout.setSpacing(12)
    for part in (title, wallet, rewards, leases, tx_status, history):
        layout.addWidget(part)
    scroll = QScrollArea(page)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    scroll.setWidget(content)
    outer = QVBoxLayout(page)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)

    order = (refresh, claim, amount, withdraw, period, token, export)
    for first, second in zip(order, order[1:], strict=False):
        QWidget.setTabOrder(first, second)
    return EarningsView(
        balances=balances,
        gas_name=gas_name,
        gas=gas,
        balances_status=balances_status,
        refresh_button=refresh,
        pending=pending,
        rewards_lifetime=rewards_lifetime,
        claim_button=claim,
        lease_lifetime=lease_lifetime,
        chain=chain,
        amount=amount,
        amount_error=amount_error,
        withdraw_button=withdraw,
        tx_status=tx_status,
        period=period,
        token=token,
        export_button=export,
        export_status=export_status,
        chart=chart,
    )
