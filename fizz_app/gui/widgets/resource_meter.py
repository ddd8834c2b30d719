"""One resource's use against what the node offers: "CPU  [=====    ]  1.5 of 3 threads"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

__all__ = ["ResourceMeter"]

_STEPS = 1000


class ResourceMeter(QWidget):
    """A labelled bar; call :meth:`set_values` with the used and offered amounts.

    Args:
        name: the resource ("CPU", "Memory"...), also the screen-reader name of the bar.
        unit: the unit shown after the amounts ("threads", "GB").
        parent: the usual Qt parent.
    """

    def __init__(self, name: str, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._unit = unit
        key = name.lower()
        self.setObjectName(f"meter_{key}")
        title = QLabel(name, self)
        title.setMinimumWidth(70)
        self._bar = QProgressBar(self)
        self._bar.setObjectName(f"meter_bar_{key}")
        self._bar.setRange(0, _STEPS)
        self._bar.setTextVisible(False)
        self._bar.setAccessibleName(f"{name} in use")
        self._text = QLabel("—", self)
        self._text.setObjectName(f"meter_text_{key}")
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setMinimumWidth(180)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self._bar, 1)
        layout.addWidget(self._text)

    # ---- Public API

    @property
    def text(self) -> str:
        """The amounts as shown ("1.5 of 3 threads in use")."""
        return self._text.text()

    def set_values(self, used: float, offered: float | None) -> None:
        """Show ``used`` of ``offered``; ``offered`` ``None`` means not known yet, ``0`` means
        the resource is not offered."""
        if offered is None:
            self._bar.setValue(0)
            self._text.setText(f"{used:g} {self._unit} in use (offer not known yet)")
        elif offered <= 0:
            self._bar.setValue(0)
            self._text.setText("Not offered")
        else:
            self._bar.setValue(int(min(1.0, used / offered) * _STEPS))
            self._text.setText(f"{used:g} of {offered:g} {self._unit} in use")
        self._bar.setAccessibleDescription(self._text.text())
