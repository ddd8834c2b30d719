"""A dismissable, non-modal error strip for the top of a window."""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

from .tones import backdrop, is_dark, watch_theme

__all__ = ["BannerColours", "DARK_COLOURS", "ErrorBanner", "LIGHT_COLOURS"]


class BannerColours(NamedTuple):
    """The banner's ``#rrggbb`` colours; the text has over 4.5:1 contrast on the background."""

    background: str
    border: str
    text: str


LIGHT_COLOURS = BannerColours(background="#fdecea", border="#b3261e", text="#5f1410")
DARK_COLOURS = BannerColours(background="#410e0b", border="#ffb4ab", text="#ffdad6")


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
        self._colours: BannerColours | None = None
        self._restyle()
        watch_theme(self, self._restyle)
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

    @property
    def colours(self) -> BannerColours:
        """The colours in use now: a light or a dark set, after the window's theme."""
        assert self._colours is not None
        return self._colours

    def show_message(self, text: str) -> None:
        """Show ``text`` (replacing any message shown now)."""
        self._text.setText(text)
        self._text.setAccessibleDescription(text)
        self.show()

    # ---- Private API

    def _restyle(self) -> None:
        colours = DARK_COLOURS if is_dark(backdrop(self)) else LIGHT_COLOURS
        if colours == self._colours:
            return  # also ends the loop that setStyleSheet's own palette change starts
        self._colours = colours
        self.setStyleSheet(
            f'QFrame[fizzBanner="true"] {{ background: {colours.background};'
            f" border: 1px solid {colours.border}; border-radius: 4px; }}"
            f" QLabel {{ color: {colours.text}; }}"
        )

    def _on_dismiss_clicked(self) -> None:
        self.hide()
        self.sig_dismissed.emit()
