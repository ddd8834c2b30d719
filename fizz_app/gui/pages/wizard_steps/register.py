"""Wizard step 4: register the node on chain — region, gateway (with measured latency), and
the transactions' progress in plain words."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QWidget,
)

from .base import WizardContext, WizardStep, set_message, text_label, title_label

__all__ = ["REGIONS", "RegisterStep", "gateway_text"]

REGIONS = (
    ("us-east", "United States (east)"),
    ("us-central", "United States (central)"),
    ("us-west", "United States (west)"),
    ("canada", "Canada"),
    ("india", "India"),
    ("japan", "Japan"),
    ("bosnia-h", "Bosnia and Herzegovina"),
    ("cent-afr", "Central African Republic"),
)
"""Region codes the network lists (spheron-network.md 3.3, docs ``rent-gpu/supports.mdx``);
the picker also takes any other code typed in, which the engine checks."""

_SLOW_MS = 1500
"""After this long the progress text moves on to "waiting for the network"."""


def gateway_text(choice: Any) -> str:
    """One gateway as the picker lists it: id, address, latency."""
    latency = "no answer" if choice.latency_ms is None else f"{choice.latency_ms:.0f} ms"
    return f"Gateway {choice.provider_id} · {choice.host_uri} · {latency}"


class RegisterStep(WizardStep):
    """Region picker, gateway list and a Register button; ready once registered."""

    title = "Register your node"

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.body.addWidget(title_label(self, self.title))
        self.body.addWidget(
            text_label(
                self,
                "register_intro",
                "Tell the network where this computer is and which gateway it connects "
                "through. Pick the gateway with the lowest delay.",
            )
        )
        form = QFormLayout()
        self.region = QComboBox(self)
        self.region.setObjectName("register_region")
        self.region.setEditable(True)
        self.region.setAccessibleName("Region")
        for code, name in REGIONS:
            self.region.addItem(f"{name} ({code})", code)
        form.addRow("Region:", self.region)
        self.gateways = QListWidget(self)
        self.gateways.setObjectName("register_gateways")
        self.gateways.setAccessibleName("Gateways")
        self.refresh = QPushButton("Measure again", self)
        self.refresh.setObjectName("register_refresh")
        self.refresh.clicked.connect(self._on_refresh_clicked)
        gateway_row = QHBoxLayout()
        gateway_row.addWidget(self.gateways, 1)
        gateway_row.addWidget(self.refresh, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow("Gateway:", gateway_row)
        self.body.addLayout(form)
        self.register_button = QPushButton("Register", self)
        self.register_button.setObjectName("register_button")
        self.register_button.setAutoDefault(True)
        self.register_button.clicked.connect(self._on_register_clicked)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("register_progress")
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.state = text_label(self, "register_state", selectable=True)
        self.state.hide()
        self.body.addWidget(self.register_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.body.addWidget(self.progress)
        self.body.addWidget(self.state)
        self.body.addStretch(1)
        self._slow = QTimer(self)
        self._slow.setSingleShot(True)
        self._slow.setInterval(_SLOW_MS)
        self._slow.timeout.connect(self._on_slow_timeout)

    # ---- Public API

    def should_skip(self) -> bool:
        return self.context.registered

    def enter(self) -> None:
        if self.context.registered:
            self.set_ready(True)
            return
        if self.gateways.count() == 0:
            self._on_refresh_clicked()

    def selected_region(self) -> str:
        """The region code chosen (a listed one, or what the user typed)."""
        index = self.region.currentIndex()
        text = self.region.currentText().strip()
        if index >= 0 and self.region.itemText(index) == text:
            return str(self.region.itemData(index))
        return text.lower()

    def selected_gateway(self) -> int | None:
        item = self.gateways.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    # ---- Private API

    def _on_refresh_clicked(self) -> None:
        self.refresh.setEnabled(False)
        set_message(self.state, "Looking up the gateways and measuring their delay…")
        self.context.calls.call(
            lambda node: node.gateways(), self._on_gateways, self._on_gateways_failed
        )

    def _on_gateways(self, choices: Any) -> None:
        self.refresh.setEnabled(True)
        set_message(self.state, "")
        self.gateways.clear()
        ordered = sorted(
            choices, key=lambda c: (c.latency_ms is None, c.latency_ms or 0.0, c.provider_id)
        )
        for choice in ordered:
            item = QListWidgetItem(gateway_text(choice), self.gateways)
            item.setData(Qt.ItemDataRole.UserRole, choice.provider_id)
        if ordered:
            self.gateways.setCurrentRow(0)
        else:
            set_message(
                self.state, "The network lists no gateway yet. Try again later.", error=True
            )

    def _on_gateways_failed(self, text: str) -> None:
        self.refresh.setEnabled(True)
        set_message(self.state, f"The gateways cannot be listed: {text}", error=True)

    def _on_register_clicked(self) -> None:
        region, gateway = self.selected_region(), self.selected_gateway()
        if gateway is None:
            set_message(self.state, "Gateway: choose one from the list.", error=True)
            return
        self.register_button.setEnabled(False)
        self.progress.show()
        set_message(self.state, "Unlocking your wallet and preparing the registration…")
        self._slow.start()
        self.context.calls.call(
            lambda node: node.register(region, gateway), self._on_registered, self._on_failed
        )

    def _on_slow_timeout(self) -> None:
        set_message(
            self.state,
            "Sent. Waiting for the network to confirm the transactions (this can take a minute)…",
        )

    def _on_registered(self, result: Any) -> None:
        self._slow.stop()
        self.progress.hide()
        self.context.registered = True
        lines = "\n".join(result.lines())
        set_message(self.state, f"Done. {lines}", ok=True)
        self.set_ready(True)

    def _on_failed(self, text: str) -> None:
        self._slow.stop()
        self.progress.hide()
        self.register_button.setEnabled(True)
        set_message(self.state, f"Registration failed: {text}", error=True)
