"""A non-modal window showing one lease's log, fetched through the engine bridge."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..bridge import EngineBridge, describe_error

__all__ = ["LeaseLogsDialog", "LOG_TAIL"]

LOG_TAIL = 200
"""How many of the lease's last lines are shown."""


class LeaseLogsDialog(QDialog):
    """Shows the last :data:`LOG_TAIL` lines of lease ``lease_id``; "Refresh" fetches again.

    Open it with ``show()`` (it deletes itself when closed). It asks the engine through
    ``bridge`` and never blocks the GUI while waiting.

    Args:
        bridge: the running engine bridge.
        lease_id: the lease whose log to show.
        title: what the window calls the lease (its name).
        parent: the window it belongs to.
    """

    def __init__(
        self, bridge: EngineBridge, lease_id: str, title: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._lease_id = lease_id
        self._pending: concurrent.futures.Future[list[str]] | None = None
        self.setObjectName("lease_logs_dialog")
        self.setWindowTitle(f"Log of {title}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(720, 420)

        self._state = QLabel("Loading the log…", self)
        self._state.setObjectName("lease_logs_state")
        self._text = QPlainTextEdit(self)
        self._text.setObjectName("lease_logs_text")
        self._text.setReadOnly(True)
        self._text.setAccessibleName(f"Log of lease {lease_id}")
        self._text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self._refresh = QPushButton("&Refresh", self)
        self._refresh.setObjectName("lease_logs_refresh")
        buttons.addButton(self._refresh, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        self._refresh.clicked.connect(self._on_refresh_clicked)

        layout = QVBoxLayout(self)
        layout.addWidget(self._state)
        layout.addWidget(self._text, 1)
        layout.addWidget(buttons)

        bridge.sig_command_finished.connect(self._on_bridge_command_finished)
        self.fetch()

    # ---- Public API

    @property
    def text(self) -> str:
        """The log as shown."""
        return self._text.toPlainText()

    def fetch(self) -> None:
        """Ask the engine for the log again; the view updates when it answers."""
        if self._pending is not None and not self._pending.done():
            return
        self._refresh.setEnabled(False)
        lease_id = self._lease_id
        self._pending = self._bridge.submit(lambda node: node.lease_logs(lease_id, LOG_TAIL))

    # ---- Private API

    def _on_refresh_clicked(self) -> None:
        self.fetch()

    def _on_bridge_command_finished(self, future: concurrent.futures.Future[Any]) -> None:
        if future is not self._pending:
            return
        self._pending = None
        self._refresh.setEnabled(True)
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            why = describe_error(error) if error is not None else "Press Refresh to try again."
            self._state.setText(f"The log could not be read. {why}")
            return
        lines: list[str] = future.result()
        self._text.setPlainText("\n".join(lines))
        self._text.verticalScrollBar().setValue(self._text.verticalScrollBar().maximum())
        count = len(lines)
        self._state.setText(
            f"The last {count} line{'s' if count != 1 else ''} of the lease's log."
            if count
            else "This lease has written nothing to its log yet."
        )
