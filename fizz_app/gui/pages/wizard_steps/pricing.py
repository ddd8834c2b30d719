"""Wizard step 5: how much to ask — the Pricing page's editor (presets and custom prices, with
the monthly earnings estimate); Next saves it through the editor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from ...widgets.pricing_editor import PricingEditor
from .base import WizardContext, WizardStep, set_message, text_label, title_label

__all__ = ["PricingStep"]


class PricingStep(WizardStep):
    """Embeds :class:`~fizz_app.gui.widgets.pricing_editor.PricingEditor`; ready while the
    prices shown are valid; :meth:`commit` saves them."""

    title = "Choose your price"

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._on_saved: Callable[[], None] | None = None
        self.body.addWidget(title_label(self, self.title))
        self.body.addWidget(
            text_label(
                self,
                "pricing_intro",
                "Renters pay for what they use. Start from a preset (market price is a good "
                "start); you can change prices any time on the Pricing page.",
            )
        )
        self.editor = PricingEditor(context.bridge, self)
        self.editor.sig_validity_changed.connect(self._on_editor_validity_changed)
        self.editor.sig_applied.connect(self._on_editor_applied)
        self.editor.sig_apply_failed.connect(self._on_editor_apply_failed)
        self.body.addWidget(self.editor, 1)
        self.state = text_label(self, "pricing_state", selectable=True)
        self.state.hide()
        self.body.addWidget(self.state)

    # ---- Public API

    def enter(self) -> None:
        if not self.editor.is_loaded():
            self.editor.reload()
        self.set_ready(self.editor.is_valid())

    def commit(self, on_saved: Callable[[], None]) -> None:
        """Save the prices shown, then call ``on_saved()`` (an error is shown on the step)."""
        self._on_saved = on_saved
        set_message(self.state, "Saving your prices…")
        self.editor.apply()

    # ---- Private API

    def _on_editor_validity_changed(self, valid: bool) -> None:
        self.set_ready(valid)

    def _on_editor_applied(self, _section: Any) -> None:
        set_message(self.state, "")
        callback, self._on_saved = self._on_saved, None
        if callback is not None:
            callback()

    def _on_editor_apply_failed(self, text: str) -> None:
        self._on_saved = None
        set_message(self.state, text, error=True)
