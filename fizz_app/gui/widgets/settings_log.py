"""Read-only viewer of the tail of the app's log file, with a Refresh button."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

__all__ = ["LogViewer", "tail_lines"]

TAIL_BYTES = 64 * 1024
"""How much of the end of the log file is shown."""


def tail_lines(path: Path, max_bytes: int = TAIL_BYTES) -> str:
    """The last ``max_bytes`` of ``path`` as text, from a whole line on ("" when missing)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if len(data) >= max_bytes and "\n" in text:
        text = text.split("\n", 1)[1]
    return text


class LogViewer(QWidget):
    """Shows the end of ``path``; :meth:`refresh` (or the button) reads it again."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("log_viewer")
        self._path = path
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("log_text")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setMinimumHeight(160)
        self.text.setAccessibleName("Log file")
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setObjectName("log_refresh")
        self.refresh_button.clicked.connect(self.refresh)
        where = QLabel(str(path), self)
        where.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(where, 1)
        row.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.text)

    def refresh(self) -> None:
        """Read the end of the log file again and scroll to its last line."""
        text = tail_lines(self._path)
        self.text.setPlainText(text or "The log file is empty or does not exist yet.")
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())
