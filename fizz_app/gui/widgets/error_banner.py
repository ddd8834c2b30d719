"""A dismissable, non-modal error strip for the top of a window."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

__all__ = ["ErrorBanner"]


class ErrorBanner(QFrame):
    """Shows one error message until the user dismisses it; hidden while there is none.

    Call :meth:`show_message` with the text to show; a newer message replaces the older one.
    Unlike a dialog it never blocks the window (or a test) waiting for a click.
    """

    # ---- Signals

    sig_dismissed = Signal()
    """The user closed the banner."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("error_banner")
        self.setProperty("fizzBanner", True)
        self.setStyleSheet(
            'QFrame[fizzBanner="true"] { background: #fdecea; border: 1px solid #b3261e;'
            " border-radius: 4px; }"
            " QLabel { color: #5f1410; }"
        )
        self.setAccessibleName("Error")

        icon = QLabel(self)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(20, 20)
        )
        self._text = QLabel(self)
        self._text.setObjectName("error_text")
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._dismiss = QToolButton(self)
        self._dismiss.setObjectName("error_dismiss")
        self._dismiss.setText("Dismiss")
        self._dismiss.setAccessibleName("Dismiss error")
        self._dismiss.clicked.connect(self._on_dismiss_clicked)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    # ---- Public API

    @property
    def text(self) -> str:
        """The message shown (the last one given, even after dismissal)."""
        return self._text.text()

    def show_message(self, text: str) -> None:
        """Show ``text`` (replacing any message shown now)."""
        self._text.setText(text)
        self._text.setAccessibleDescription(text)
        self.show()

    # ---- Private API

    def _on_dismiss_clicked(self) -> None:
        self.hide()
        self.sig_dismissed.emit()
