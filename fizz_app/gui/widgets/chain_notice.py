"""A warning on the dashboard while the chain's RPC endpoint does not answer the node."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QWidget

from .tones import Tone, set_tone

__all__ = ["ChainNotice", "chain_notice_text"]


def chain_notice_text(chain: dict[str, Any] | None) -> str | None:
    """The warning for the snapshot's ``chain``, or ``None`` when there is nothing to warn
    about (the chain answers, or the node is not online)."""
    if chain is None or chain.get("reachable", True):
        return None
    since = chain.get("unreachable_since")
    when = f" since {datetime.fromtimestamp(since):%H:%M:%S}" if since else ""
    error = chain.get("error") or "It does not answer."
    rpc = chain.get("rpc")
    # The error names the endpoint itself, as a rule: say it once.
    named = f" {rpc}" if rpc and rpc not in error else ""
    endpoint = f"The chain's RPC endpoint{named}"
    return (
        f"{endpoint} has not answered{when}. {error} Leases keep running and Fizz Node keeps "
        "retrying; rewards and earnings update when it answers again."
    )


class ChainNotice(QFrame):
    """Hidden while the chain answers; while it does not, says since when, why and what to do.

    Call :meth:`set_chain` with each snapshot's ``chain``.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chain_notice")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Chain warning")
        icon = QLabel(self)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(20, 20)
        )
        self._text = QLabel(self)
        self._text.setObjectName("chain_notice_text")
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_tone(self._text, Tone.WARN)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        self.hide()

    # ---- Public API

    @property
    def text(self) -> str:
        """The warning shown ("" before the first one)."""
        return self._text.text()

    def set_chain(self, chain: dict[str, Any] | None) -> None:
        """Show the warning for the snapshot's ``chain``, or hide it when the chain answers."""
        text = chain_notice_text(chain)
        if text is None:
            self.hide()
            return
        if text != self._text.text():  # an unchanged label must not relayout the window
            self._text.setText(text)
            self._text.setAccessibleDescription(text)
        self.show()
