"""Weekly schedule editor: rows of days x start/end windows, read back through
:func:`fizz_app.core.policy.parse_schedule` so its errors name the row and the fault."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserFacingError
from ...core.policy import DAYS, ScheduleWindow, describe_window, parse_schedule

__all__ = ["ScheduleEditor"]


class _WindowRow(QWidget):
    def __init__(self, number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"schedule_row_{number}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.days: dict[str, QCheckBox] = {}
        for day in DAYS:
            box = QCheckBox(day.capitalize(), self)
            box.setObjectName(f"schedule_{number}_{day}")
            layout.addWidget(box)
            self.days[day] = box
        self.start = QLineEdit("18:00", self)
        self.start.setObjectName(f"schedule_{number}_start")
        self.end = QLineEdit("08:00", self)
        self.end.setObjectName(f"schedule_{number}_end")
        for field, name in ((self.start, "Start"), (self.end, "End")):
            field.setMaximumWidth(70)
            field.setPlaceholderText("HH:MM")
            field.setAccessibleName(f"Window {number} {name.lower()} time")
        self.remove = QPushButton("Remove", self)
        self.remove.setObjectName(f"schedule_{number}_remove")
        layout.addWidget(QLabel("from", self))
        layout.addWidget(self.start)
        layout.addWidget(QLabel("to", self))
        layout.addWidget(self.end)
        layout.addWidget(self.remove)
        layout.addStretch(1)

    def text(self) -> str:
        days = ",".join(day for day, box in self.days.items() if box.isChecked())
        return f"{days} {self.start.text().strip()}-{self.end.text().strip()}".strip()

    def set_window(self, window: ScheduleWindow) -> None:
        for day, box in self.days.items():
            box.setChecked(day in window.days)
        self.start.setText(window.start)
        self.end.setText(window.end)


class ScheduleEditor(QWidget):
    """Edit the weekly windows when leases are welcome; no window means any time.

    :meth:`windows` returns them validated (or raises a ``UserFacingError`` naming the row);
    :meth:`set_windows` shows saved ones.
    """

    # ---- Signals

    sig_changed = Signal()
    """A row was added or removed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("schedule_editor")
        self._rows: list[_WindowRow] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._summary = QLabel(self)
        self._summary.setObjectName("schedule_summary")
        self._summary.setWordWrap(True)
        self.add_button = QPushButton("Add a time window", self)
        self.add_button.setObjectName("schedule_add")
        self.add_button.clicked.connect(self._on_add_clicked)
        self._layout.addWidget(self._summary)
        self._layout.addWidget(self.add_button)
        self._update_summary()

    # ---- Public API

    @property
    def rows(self) -> int:
        return len(self._rows)

    def row(self, index: int) -> _WindowRow:
        return self._rows[index]

    def add_row(self) -> _WindowRow:
        """Add a window row (Mon–Fri 18:00–08:00 unticked days by default)."""
        row = _WindowRow(len(self._rows) + 1, self)
        row.remove.clicked.connect(lambda: self._remove(row))
        self._rows.append(row)
        self._layout.insertWidget(len(self._rows) - 1, row)
        self._update_summary()
        self.sig_changed.emit()
        return row

    def set_windows(self, windows: tuple[ScheduleWindow, ...]) -> None:
        for row in list(self._rows):
            self._remove(row)
        for window in windows:
            self.add_row().set_window(window)
        self._update_summary(windows)

    def windows(self) -> tuple[ScheduleWindow, ...]:
        """The windows as entered.

        Raises:
            UserFacingError: a row has no day or a bad time ("Schedule window 2: ...").
        """
        found: list[ScheduleWindow] = []
        for number, row in enumerate(self._rows, start=1):
            if not any(box.isChecked() for box in row.days.values()):
                raise UserFacingError(
                    f"Schedule window {number}: tick at least one day.", "Or remove the window."
                )
            try:
                found.extend(parse_schedule(row.text()))
            except UserFacingError as error:
                raise UserFacingError(
                    f"Schedule window {number}: {error.message}", error.remedy
                ) from None
        self._update_summary(tuple(found))
        return tuple(found)

    # ---- Private API

    def _remove(self, row: _WindowRow) -> None:
        self._rows.remove(row)
        self._layout.removeWidget(row)
        row.deleteLater()
        self._update_summary()
        self.sig_changed.emit()

    def _on_add_clicked(self) -> None:
        self.add_row().days["mon"].setFocus()

    def _update_summary(self, windows: tuple[ScheduleWindow, ...] | None = None) -> None:
        if not self._rows:
            self._summary.setText("Any time (no schedule).")
        elif windows:
            self._summary.setText("Leases welcome: " + "; ".join(map(describe_window, windows)))
        else:
            self._summary.setText("Leases welcome only inside these windows (local time):")
