"""Wizard step 1: the system check (:class:`~fizz_app.gui.pages.system_check.SystemCheckPage`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from ....core.state import NodeSnapshot
from ..system_check import SystemCheckPage
from .base import WizardContext, WizardStep, set_message, text_label

__all__ = ["SystemStep"]


class SystemStep(WizardStep):
    """Shows the engine's system check with its remedies; "Check again" re-runs it.

    Next is allowed once a check has run; when the machine is below the minimums a note says
    that setup may go on but no job arrives until the failed checks pass.
    """

    title = "Check this computer"

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.page = SystemCheckPage(self)
        self.page.sig_recheck_requested.connect(self._on_page_recheck_requested)
        self._note: QLabel = text_label(self, "system_step_note")
        self._note.setContentsMargins(24, 0, 24, 0)
        self._note.hide()
        self.body.addWidget(self.page, 1)
        self.body.addWidget(self._note)

    # ---- Public API

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        self.page.show_snapshot(snapshot)
        verdict = snapshot.verdict
        if verdict is None:
            return
        if not self.context.calls.busy:
            self.page.set_checking(False)
        if verdict.meets_minimum:
            set_message(self._note, "")
        else:
            set_message(
                self._note,
                "This computer is below the network's minimums. You can finish setting up, "
                "but no job will arrive until the failed checks pass.",
                error=True,
            )
        self.set_ready(True)

    # ---- Private API

    def _on_page_recheck_requested(self) -> None:
        self.page.set_checking(True)
        self.context.calls.call(
            lambda node: node.check_hardware(), self._on_check_done, self._on_check_failed
        )

    def _on_check_done(self, _verdict: Any) -> None:
        self.page.set_checking(False)

    def _on_check_failed(self, text: str) -> None:
        self.page.set_checking(False)
        set_message(self._note, text, error=True)
