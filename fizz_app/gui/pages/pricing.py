"""The "Pricing" page: the :class:`~fizz_app.gui.widgets.pricing_editor.PricingEditor` with
"Apply" and "Undo changes" buttons and a line that says what happened.

The page (through its editor) connects itself to the bridge: the main window only adds it to its
pages. ``_on_bridge_snapshot`` is public for a window that feeds snapshots itself, but it must
not be connected a second time.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ...core.state import NodeSnapshot
from ..bridge import EngineBridge
from ..widgets.earnings_parts import text_label, title_font
from ..widgets.pricing_editor import PricingEditor
from ..widgets.tones import Tone, set_tone

__all__ = ["PricingPage"]

SAVED_TEXT = "Saved. The node now asks these prices; the gateway has been told."


class PricingPage(QWidget):
    """Asking prices: a preset or your own, what they mean per block and per month.

    Args:
        bridge: the engine bridge; the page connects to it but neither starts nor stops it.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_applied = Signal(object)
    """The prices were saved and announced: the pricing section as a JSON-ready dict."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pricing_page")
        self._busy = False

        title = QLabel("Pricing", self)
        title.setFont(title_font(title.font(), 1.5))
        title.setAccessibleName("Pricing")
        intro = text_label(
            self,
            "pricing_intro",
            "Tenants pay per block for what they rent. Pick a preset based on the network's "
            "rates, or set your own price per resource in US dollars a month (paid in uSPON). "
            "Changes apply at once, without a restart.",
        )
        self._editor = PricingEditor(bridge, self)
        self._apply_button = QPushButton("Apply prices", self)
        self._apply_button.setObjectName("apply_button")
        self._apply_button.setAccessibleName("Apply prices")
        self._apply_button.setAutoDefault(False)
        self._apply_button.clicked.connect(self._on_apply_clicked)
        self._revert_button = QPushButton("Undo changes", self)
        self._revert_button.setObjectName("revert_button")
        self._revert_button.setAccessibleName("Undo changes")
        self._revert_button.setAutoDefault(False)
        self._revert_button.clicked.connect(self._on_revert_clicked)
        self._status = text_label(self, "pricing_status", "", "Pricing status")

        buttons = QHBoxLayout()
        buttons.addWidget(self._apply_button)
        buttons.addWidget(self._revert_button)
        buttons.addWidget(self._status, 1)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self._editor)
        layout.addLayout(buttons)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        QWidget.setTabOrder(self._editor.utilisation_slider, self._apply_button)
        QWidget.setTabOrder(self._apply_button, self._revert_button)

        self._editor.sig_changed.connect(self._on_editor_changed)
        self._editor.sig_loaded.connect(self._on_editor_changed)
        self._editor.sig_applied.connect(self._on_editor_applied)
        self._editor.sig_apply_failed.connect(self._on_editor_apply_failed)
        self._update_buttons()

    # ---- Public API

    @property
    def editor(self) -> PricingEditor:
        return self._editor

    @property
    def apply_button(self) -> QPushButton:
        return self._apply_button

    @property
    def status_text(self) -> str:
        return self._status.text()

    # ---- Slots

    @Slot(object)
    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        """Render ``snapshot`` (the editor is connected already; see the module docstring)."""
        self._editor._on_bridge_snapshot(snapshot)

    def _on_apply_clicked(self) -> None:
        self._busy = True
        set_tone(self._status, None)
        self._status.setText("Saving…")
        self._update_buttons()
        self._editor.apply()

    def _on_revert_clicked(self) -> None:
        self._status.setText("")
        self._editor.reload()

    def _on_editor_changed(self) -> None:
        if not self._busy and self._editor.has_changes():
            set_tone(self._status, None)
            self._status.setText("Not saved yet: press Apply prices.")
        elif not self._editor.has_changes() and self._status.text().startswith("Not saved yet"):
            self._status.setText("")
        self._update_buttons()

    def _on_editor_applied(self, pricing: Any) -> None:
        self._busy = False
        set_tone(self._status, None)
        self._status.setText(SAVED_TEXT)
        self._update_buttons()
        self.sig_applied.emit(pricing)

    def _on_editor_apply_failed(self, text: str) -> None:
        self._busy = False
        set_tone(self._status, Tone.ERROR)
        self._status.setText(f"Not saved. {text}")
        self._update_buttons()

    def _update_buttons(self) -> None:
        editor = self._editor
        changed = editor.is_loaded() and editor.has_changes()
        self._apply_button.setEnabled(not self._busy and changed and editor.is_valid())
        self._revert_button.setEnabled(not self._busy and changed)
