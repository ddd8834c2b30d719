"""Wizard step 3: put a little gas money in the wallet (address, QR code, live balance).

On a test network the step says where free test funds come from: the public faucet's link,
or on the local devnet the command to run (the app itself never calls the devnet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode  # type: ignore[import-untyped]
from PySide6.QtCore import QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ....core.networks import NetworkError, load_network
from .base import WizardContext, WizardStep, set_message, text_label, title_label

__all__ = ["FundingStep", "NetworkHelp", "network_help", "qr_pixmap"]

BALANCE_POLL_MS = 4000
"""How often the step reads the wallet's balance while it is shown."""


@dataclass(frozen=True)
class NetworkHelp:
    title: str
    testnet: bool
    faucet: str | None
    """A URL, or (devnet) the command that funds an address."""
    symbol: str


def network_help(network: str, data_dir: Path) -> NetworkHelp:
    """What to tell the user about funding on ``network`` (falls back to plain words when the
    profile cannot be loaded, e.g. a devnet that is not deployed on this computer)."""
    try:
        profile = load_network(network, data_dir)
    except NetworkError:
        if network == "devnet":
            return NetworkHelp("Local devnet", True, "fizz-node devnet faucet", "ETH")
        return NetworkHelp(network, network != "base", None, "ETH")
    return NetworkHelp(profile.title, profile.testnet, profile.faucet, profile.native_symbol)


def qr_pixmap(text: str, scale: int = 5) -> QPixmap:
    """A QR code of ``text`` as a black-on-white pixmap (with the standard quiet zone)."""
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    image = QImage(QSize(size * scale, size * scale), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    black = QColor("black")
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.fillRect(x * scale, y * scale, scale, scale, black)
    painter.end()
    return QPixmap.fromImage(image)


class FundingStep(WizardStep):
    """Shows the wallet's address and QR code and polls its gas balance; ready once it has some.

    Args:
        poll_ms: milliseconds between balance reads.
    """

    title = "Add gas money"

    def __init__(
        self,
        context: WizardContext,
        parent: QWidget | None = None,
        *,
        poll_ms: int = BALANCE_POLL_MS,
    ) -> None:
        super().__init__(context, parent)
        self._help: NetworkHelp | None = None
        self._polling = False
        self.body.addWidget(title_label(self, self.title))
        self.body.addWidget(
            text_label(
                self,
                "funding_intro",
                "Registering your node is a transaction on the network, and it costs a little "
                "gas money. Send some to your node wallet; this page notices when it arrives.",
            )
        )
        row = QHBoxLayout()
        self.qr = QLabel(self)
        self.qr.setObjectName("funding_qr")
        self.qr.setAccessibleName("QR code of the wallet address")
        texts = QVBoxLayout()
        self.address = text_label(self, "funding_address", selectable=True)
        self.address.setStyleSheet("font-family: monospace;")
        self.copy_button = QPushButton("Copy address", self)
        self.copy_button.setObjectName("funding_copy")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.balance = text_label(self, "funding_balance", "Reading the balance…")
        self.faucet = text_label(self, "funding_faucet", selectable=True)
        self.faucet_button = QPushButton("Get test funds", self)
        self.faucet_button.setObjectName("funding_faucet_open")
        self.faucet_button.clicked.connect(self._on_faucet_clicked)
        for widget in (
            self.address,
            self.copy_button,
            self.balance,
            self.faucet,
            self.faucet_button,
        ):
            texts.addWidget(widget, 0, Qt.AlignmentFlag.AlignLeft)
        texts.addStretch(1)
        row.addWidget(self.qr, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(texts, 1)
        self.body.addLayout(row)
        self.body.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

    # ---- Public API

    def should_skip(self) -> bool:
        return self.context.registered

    def enter(self) -> None:
        address = self.context.wallet_address or ""
        self.address.setText(address)
        if address:
            self.qr.setPixmap(qr_pixmap(address))
        snapshot = self.context.snapshot
        if snapshot is not None:
            self._help = network_help(snapshot.network, Path(snapshot.data_dir))
        self._show_faucet(address)
        self._timer.start()
        self._on_timer_timeout()

    def leave(self) -> None:
        self._timer.stop()

    # ---- Private API

    def _show_faucet(self, address: str) -> None:
        help_ = self._help
        faucet = help_.faucet if help_ is not None and help_.testnet else None
        self.faucet_button.setVisible(bool(faucet and faucet.startswith("http")))
        if not faucet:
            set_message(self.faucet, "Buy a little ETH on Base and send it to this address.")
        elif faucet.startswith("http"):
            set_message(
                self.faucet,
                f"This is a test network ({help_.title if help_ else ''}): its tokens are free. "
                f"Get some at {faucet} for the address above.",
            )
        else:
            set_message(
                self.faucet,
                "This is the local test network. To fund the wallet, run this in a terminal:\n"
                f"{faucet} {address}",
            )

    def _on_timer_timeout(self) -> None:
        if self._polling or not self.context.wallet_exists:
            return
        self._polling = True
        self.context.calls.call(
            lambda node: node.balances(), self._on_balances, self._on_balances_failed
        )

    def _on_balances(self, balances: Any) -> None:
        self._polling = False
        gas = balances.gas
        tokens = ", ".join(str(token) for token in balances.tokens)
        funded = gas.raw > 0
        text = f"Gas balance: {gas}" + (f" · {tokens}" if tokens else "")
        if funded:
            text += "\nThat is enough to register. Press Next."
        else:
            text += "\nWaiting for funds…"
        set_message(self.balance, text, ok=funded)
        self.context.funded = funded
        self.set_ready(funded)

    def _on_balances_failed(self, text: str) -> None:
        self._polling = False
        set_message(self.balance, f"The balance cannot be read now: {text}", error=True)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.address.text())
        self.copy_button.setText("Copied")

    def _on_faucet_clicked(self) -> None:
        if self._help is not None and self._help.faucet:
            QDesktopServices.openUrl(QUrl(self._help.faucet))
