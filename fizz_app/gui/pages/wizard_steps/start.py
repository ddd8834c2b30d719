"""Wizard step 6: start the node, and watch it come online."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget

from ....core.state import DesiredState, NodeSnapshot, NodeStatus
from .base import WizardContext, WizardStep, set_message, text_label, title_label

__all__ = ["StartStep"]


class StartStep(WizardStep):
    """A Start button (``start()``) and the node's live status; ready once started."""

    title = "Start earning"

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.body.addWidget(title_label(self, self.title))
        self.body.addWidget(
            text_label(
                self,
                "start_intro",
                "Everything is set. Start the node: it connects to its gateway and takes jobs "
                "when your settings allow (by default only while you are away from the "
                "computer). It keeps running in the background, and you can pause it any time.",
            )
        )
        self.start_button = QPushButton("Start the node", self)
        self.start_button.setObjectName("start_button")
        self.start_button.setAutoDefault(True)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.status = text_label(self, "start_status", selectable=True)
        self.status.hide()
        self.body.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.body.addWidget(self.status)
        self.body.addStretch(1)

    # ---- Public API

    def enter(self) -> None:
        self.start_button.setFocus()
        if self.context.snapshot is not None:
            self.show_snapshot(self.context.snapshot)

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        if snapshot.desired is DesiredState.OFFLINE:
            return
        self.start_button.setEnabled(False)
        self.set_ready(True)
        if snapshot.status is NodeStatus.ONLINE:
            set_message(self.status, "Your node is online and taking jobs. Press Finish.", ok=True)
        elif snapshot.status is NodeStatus.ERROR:
            set_message(self.status, snapshot.status_reason, error=True)
        else:
            reason = snapshot.why_no_jobs or snapshot.status_reason
            set_message(self.status, f"{snapshot.status.value.capitalize()}: {reason}")

    # ---- Private API

    def _on_start_clicked(self) -> None:
        self.start_button.setEnabled(False)
        set_message(self.status, "Starting…")
        self.context.calls.call(lambda node: node.start(), self._on_started, self._on_failed)

    def _on_started(self, _result: Any) -> None:
        self.set_ready(True)
        set_message(self.status, "Started: connecting to the gateway…")

    def _on_failed(self, text: str) -> None:
        self.start_button.setEnabled(True)
        set_message(self.status, text, error=True)
