"""The first-run wizard: system check, wallet, gas money, registration, price, start.

Embed :class:`FirstRunWizard` in a window (or show it on its own) when the snapshot shows no
wallet or an unregistered node; connect ``sig_finished`` to leave it. It talks to the engine only
through the bridge, skips what is done already (an existing wallet, a registered node), and is
usable from the keyboard: Tab moves between fields, Enter presses the focused button, Alt+N
and Alt+B are Next and Back.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserFacingError
from ...core.node import Node
from ...core.state import NodeSnapshot
from ..bridge import EngineBridge
from .wizard_steps.base import WizardContext, WizardStep, set_message, text_label
from .wizard_steps.calls import EngineCalls
from .wizard_steps.funding import BALANCE_POLL_MS, FundingStep
from .wizard_steps.pricing import PricingStep
from .wizard_steps.register import RegisterStep
from .wizard_steps.start import StartStep
from .wizard_steps.system import SystemStep
from .wizard_steps.wallet import WalletStep

__all__ = ["FirstRunWizard", "WizardFacts", "read_wizard_facts"]


class WizardFacts:
    """What the wizard asks the engine before it decides which steps to skip."""

    def __init__(self, info: Any, needs_passphrase: bool, registered: bool) -> None:
        self.info = info
        self.needs_passphrase = needs_passphrase
        self.registered = registered


async def read_wizard_facts(node: Node) -> WizardFacts:
    """The wallet (exists, address, storage), whether a new one needs a passphrase, and
    whether the wallet is registered on chain (the chain is asked; when it cannot be reached,
    the saved region and gateway that ``register()`` leaves behind stand in)."""
    info = await node.wallet_info()  # builds the wallet access first: then the flag is right
    needs = node.wallet_needs_passphrase()
    try:
        registered = await node.registration() is not None
    except UserFacingError:
        saved = node.settings.node
        registered = bool(info.exists and saved.region and saved.gateway_id)
    return WizardFacts(info, needs, registered)


class FirstRunWizard(QWidget):
    """Steps with Back / Next; Next turns into Finish on the last one.

    Create it before or after ``bridge.start()``: it reads what it needs once the engine is
    ready. Keep feeding it nothing else; it listens to the bridge itself.

    Args:
        bridge: the engine bridge (started by its owner).
        parent: the usual Qt parent.
        balance_poll_ms: milliseconds between balance reads on the funding step.
    """

    # ---- Signals

    sig_finished = Signal()
    """The user pressed Finish: the node is set up and started."""
    sig_step_changed = Signal(int)
    """The index of the step now shown."""

    def __init__(
        self,
        bridge: EngineBridge,
        parent: QWidget | None = None,
        *,
        balance_poll_ms: int = BALANCE_POLL_MS,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("first_run_wizard")
        self.setWindowTitle("Set up Fizz Node")
        self._bridge = bridge
        self._calls = EngineCalls(bridge, self)
        self.context = WizardContext(bridge, self._calls)
        self._facts_read = False
        self._reading = False
        self._current = 0
        self._steps: list[WizardStep] = [
            SystemStep(self.context, self),
            WalletStep(self.context, self),
            FundingStep(self.context, self, poll_ms=balance_poll_ms),
            RegisterStep(self.context, self),
            PricingStep(self.context, self),
            StartStep(self.context, self),
        ]
        self._build()
        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_engine_failed.connect(self._on_bridge_engine_failed)
        for step in self._steps:
            step.sig_ready_changed.connect(self._on_step_ready_changed)
        self._show(0)
        if bridge.is_ready:
            self._read_facts()

    # ---- Public API

    @property
    def steps(self) -> list[WizardStep]:
        return list(self._steps)

    @property
    def next_button(self) -> QPushButton:
        return self._next

    @property
    def back_button(self) -> QPushButton:
        return self._back

    def current_step(self) -> WizardStep:
        return self._steps[self._current]

    def go_next(self) -> None:
        """What Next does: save the step's choice if it has one, then show the next step that
        is not done already; on the last step, finish."""
        step = self.current_step()
        if not step.ready or not self._facts_read:
            return
        if isinstance(step, PricingStep):
            step.commit(self._advance)
        else:
            self._advance()

    def go_back(self) -> None:
        """Show the previous step that is not skipped."""
        for index in range(self._current - 1, -1, -1):
            if not self._steps[index].should_skip():
                self._show(index)
                return

    def forget(self) -> None:
        """Drop every secret the steps hold (called on finish and close)."""
        for step in self._steps:
            step.leave()
            step.forget()

    # ---- Private API

    def _build(self) -> None:
        self._list = QListWidget(self)
        self._list.setObjectName("wizard_step_list")
        self._list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self._list.setMaximumWidth(190)
        for number, step in enumerate(self._steps, start=1):
            self._list.addItem(f"{number}. {step.title}")
        self._stack = QStackedWidget(self)
        self._stack.setObjectName("wizard_steps")
        for step in self._steps:
            self._stack.addWidget(step)
        self._message = text_label(self, "wizard_message", selectable=True)
        self._message.hide()
        self._back = QPushButton("&Back", self)
        self._back.setObjectName("wizard_back")
        self._next = QPushButton("&Next", self)
        self._next.setObjectName("wizard_next")
        for button in (self._back, self._next):
            button.setAutoDefault(True)  # Enter on the focused button presses it
            button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._back.clicked.connect(self.go_back)
        self._next.clicked.connect(self.go_next)
        buttons = QHBoxLayout()
        buttons.addWidget(self._message, 1)
        buttons.addWidget(self._back)
        buttons.addWidget(self._next)
        right = QVBoxLayout()
        right.addWidget(self._stack, 1)
        right.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(self._list)
        layout.addLayout(right, 1)

    def _read_facts(self) -> None:
        if self._reading or self._facts_read:
            return
        self._reading = True
        self._calls.call(read_wizard_facts, self._on_facts, self._on_facts_failed)

    def _on_facts(self, facts: WizardFacts) -> None:
        self._reading = False
        self._facts_read = True
        context, info = self.context, facts.info
        context.wallet_exists = bool(info.exists)
        context.wallet_address = info.address
        context.wallet_storage = info.storage
        context.unlocked = bool(info.exists) and info.storage != "keystore"
        context.needs_passphrase = facts.needs_passphrase
        context.registered = facts.registered
        set_message(self._message, "")
        self._update_buttons()

    def _on_facts_failed(self, text: str) -> None:
        self._reading = False
        set_message(self._message, text, error=True)

    def _advance(self) -> None:
        for index in range(self._current + 1, len(self._steps)):
            if not self._steps[index].should_skip():
                self._show(index)
                return
        self.forget()
        self.sig_finished.emit()

    def _show(self, index: int) -> None:
        if index != self._current:
            self._steps[self._current].leave()
        self._current = index
        step = self._steps[index]
        self._stack.setCurrentWidget(step)
        for row in range(self._list.count()):
            item = self._list.item(row)
            font = item.font()
            font.setBold(row == index)
            item.setFont(font)
            skipped = row != index and self._steps[row].should_skip()
            item.setForeground(
                self.palette().placeholderText() if skipped else self.palette().text()
            )
        step.enter()
        self._update_buttons()
        self.sig_step_changed.emit(index)

    def _update_buttons(self) -> None:
        last = all(step.should_skip() for step in self._steps[self._current + 1 :])
        self._next.setText("&Finish" if last else "&Next")
        self._next.setEnabled(self.current_step().ready and self._facts_read)
        self._back.setEnabled(any(not s.should_skip() for s in self._steps[: self._current]))

    def _on_step_ready_changed(self, _ready: bool) -> None:
        self._update_buttons()

    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        self.context.snapshot = snapshot
        if not self._facts_read:
            self._read_facts()
        for step in self._steps:
            step.show_snapshot(snapshot)

    def _on_bridge_engine_failed(self, text: str) -> None:
        set_message(self._message, text, error=True)
        self._steps[0].page.show_unavailable(text)  # type: ignore[attr-defined]

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.forget()
        super().closeEvent(event)
