"""A PASS / WARN / FAIL badge: colour, icon and word, so the status never rests on colour alone."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QWidget

from ...core.checks import CheckStatus
from .tones import Tone, backdrop, tone_colour, watch_theme

__all__ = ["StatusBadge", "STATUS_TONES", "status_icon"]

STATUS_TONES: dict[CheckStatus, Tone] = {
    CheckStatus.PASS: Tone.OK,
    CheckStatus.WARN: Tone.WARN,
    CheckStatus.FAIL: Tone.ERROR,
}
"""Text and border tone per status (4.5:1 contrast in light and dark themes)."""

_WORDS = {CheckStatus.PASS: "passed", CheckStatus.WARN: "warning", CheckStatus.FAIL: "failed"}
_ICONS = {
    CheckStatus.PASS: QStyle.StandardPixmap.SP_DialogApplyButton,
    CheckStatus.WARN: QStyle.StandardPixmap.SP_MessageBoxWarning,
    CheckStatus.FAIL: QStyle.StandardPixmap.SP_MessageBoxCritical,
}
ICON_SIZE = 16


def status_icon(widget: QWidget, status: CheckStatus) -> QIcon:
    """Return the standard icon for ``status`` in ``widget``'s style."""
    return widget.style().standardIcon(_ICONS[status])


class StatusBadge(QFrame):
    """Shows ``status`` as a tinted pill with an icon and the word PASS, WARN or FAIL.

    Args:
        status: what to show.
        subject: what the status is about ("CPU"); screen readers say "CPU: failed".
        parent: the usual Qt parent.
    """

    def __init__(self, status: CheckStatus, subject: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.setProperty("fizzBadge", True)
        self._restyle()
        watch_theme(self, self._restyle)
        self.setAccessibleName(f"{subject}: {_WORDS[status]}")
        self.setToolTip(f"{subject}: {_WORDS[status]}")

        icon = QLabel(self)
        icon.setPixmap(status_icon(self, status).pixmap(ICON_SIZE, ICON_SIZE))
        icon.setAccessibleName(_WORDS[status])
        text = QLabel(status.value.upper(), self)
        text.setObjectName("badge_text")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(4)
        layout.addStretch(1)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(text, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addStretch(1)
        # Same width for every badge so the columns beside them line up.
        self.setFixedWidth(self.fontMetrics().horizontalAdvance("WARN") + ICON_SIZE + 30)

    @property
    def text(self) -> str:
        """The word shown: ``PASS``, ``WARN`` or ``FAIL``."""
        return self.status.value.upper()

    def _restyle(self) -> None:
        colour = tone_colour(STATUS_TONES[self.status], backdrop(self))
        # The dynamic-property selector keeps the pill style off the child labels (QLabel is a
        # QFrame too, so a plain "QFrame" selector would draw a border round each of them).
        style = (
            f'QFrame[fizzBadge="true"] {{ border: 1px solid {colour}; border-radius: 4px;'
            f" background: rgba(0, 0, 0, 0); }}"
            f" QLabel {{ color: {colour}; font-weight: bold; }}"
        )
        if self.styleSheet() != style:  # also ends the loop setStyleSheet's palette change starts
            self.setStyleSheet(style)
