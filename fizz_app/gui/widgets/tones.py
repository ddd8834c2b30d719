"""Status colours (error, warning, success) that stay readable in light and dark themes.

Never hard-code a text colour: a dark red that reads well on a light window is unreadable on a
dark one. Pick a :class:`Tone` and let this module choose, from the widget's palette, the shade
with the better contrast against its window colour:

- :func:`set_tone` colours a label's text now and again whenever the theme changes;
- :func:`tone_colour` gives the colour itself, for borders or a widget that restyles itself
  on :func:`watch_theme`.

Every shade has at least 4.5:1 contrast (WCAG AA for text) against Qt's light and dark window
colours; :func:`contrast_ratio` computes it for tests and checks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

__all__ = [
    "Tone",
    "backdrop",
    "contrast_ratio",
    "is_dark",
    "relative_luminance",
    "set_tone",
    "tone_colour",
    "watch_theme",
]


class Tone(enum.Enum):
    """What a coloured text means; each has a shade for light and one for dark themes."""

    ERROR = ("#b3261e", "#ffb4ab")
    WARN = ("#8a5a00", "#ffb951")
    OK = ("#1e7b34", "#7dd992")


def relative_luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance of ``colour`` (0 black .. 1 white)."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast_ratio(first: QColor, second: QColor) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (none) .. 21; text needs at least 4.5."""
    high, low = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _palette(palette: QPalette | None) -> QPalette:
    return palette if palette is not None else QApplication.palette()


def is_dark(palette: QPalette | None = None) -> bool:
    """True when ``palette`` (the application's by default) has a dark window colour."""
    return _palette(palette).color(QPalette.ColorRole.Window).lightnessF() < 0.5


def tone_colour(tone: Tone, palette: QPalette | None = None) -> str:
    """The ``#rrggbb`` shade of ``tone`` with the better contrast against ``palette``'s window
    colour (the application's palette by default; pass ``widget.palette()`` for a widget)."""
    window = _palette(palette).color(QPalette.ColorRole.Window)
    return max(tone.value, key=lambda shade: contrast_ratio(QColor(shade), window))


def backdrop(widget: QWidget) -> QPalette:
    """The palette ``widget`` is drawn on: its parent's (a widget with a style sheet keeps a
    stale palette of its own when the theme changes), or the application's."""
    parent = widget.parentWidget()
    return parent.palette() if parent is not None else QApplication.palette()


class _ThemeWatcher(QObject):
    """Calls back when the palette of a widget or of its parent changes (a theme change)."""

    _EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)

    def __init__(self, widget: QWidget, on_change: Callable[[], None]) -> None:
        super().__init__(widget)
        self.setObjectName("fizz_theme_watcher")
        self._on_change = on_change
        widget.installEventFilter(self)
        parent = widget.parentWidget()
        if parent is not None:
            parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in self._EVENTS:
            self._on_change()
        return False


def watch_theme(widget: QWidget, on_change: Callable[[], None]) -> None:
    """Call ``on_change()`` whenever the theme changes for ``widget`` (give it its parent
    first). ``on_change`` must do nothing when nothing changed: restyling sends events too."""
    _ThemeWatcher(widget, on_change)


def set_tone(widget: QWidget, tone: Tone | None) -> None:
    """Colour ``widget``'s text with ``tone`` (``None``: the theme's usual text colour), now
    and after every theme change. It owns the widget's style sheet: set no other on it."""
    first = widget.property("fizzTone") is None
    widget.setProperty("fizzTone", "" if tone is None else tone.name)
    if first:
        watch_theme(widget, lambda: _apply_tone(widget))
    _apply_tone(widget)


def _apply_tone(widget: QWidget) -> None:
    name = widget.property("fizzTone")
    tone = Tone[name] if name else None
    style = "" if tone is None else f"color: {tone_colour(tone, backdrop(widget))};"
    if widget.styleSheet() != style:
        widget.setStyleSheet(style)
