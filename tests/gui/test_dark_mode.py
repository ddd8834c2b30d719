"""Status colours stay readable in a dark theme: the error banner and toned labels are rendered
with a dark palette and the contrast of the pixels drawn is measured (WCAG: at least 4.5:1)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QColor, QImage, QPalette  # noqa: E402
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from fizz_app.core.checks import CheckStatus  # noqa: E402
from fizz_app.gui.widgets.error_banner import (  # noqa: E402
    DARK_COLOURS,
    LIGHT_COLOURS,
    ErrorBanner,
)
from fizz_app.gui.widgets.status_badge import StatusBadge  # noqa: E402
from fizz_app.gui.widgets.tones import Tone, contrast_ratio, set_tone, tone_colour  # noqa: E402

pytestmark = pytest.mark.gui

MESSAGE = "The gateway refused the node. Pick another gateway in Settings."
LEAST_CONTRAST = 4.5


def _palette(window: str, text: str) -> QPalette:
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.Base, window),
        (QPalette.ColorRole.Button, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.ButtonText, text),
    ):
        palette.setColor(role, QColor(colour))
    return palette


DARK = _palette("#202020", "#e8e8e8")
LIGHT = _palette("#efefef", "#1a1a1a")


def _host(qtbot: QtBot, palette: QPalette) -> QWidget:
    host = QWidget()
    host.setPalette(palette)
    host.setAutoFillBackground(True)
    QVBoxLayout(host)
    qtbot.addWidget(host)
    return host


def _add(host: QWidget, widget: QWidget) -> None:
    layout = host.layout()
    assert layout is not None
    layout.addWidget(widget)


def _show(qtbot: QtBot, host: QWidget) -> None:
    host.resize(640, 120)
    host.show()
    qtbot.waitExposed(host)


def _ink(image: QImage, background: QColor) -> QColor:
    """The drawn colour that stands out most from ``background``: the text's own colour,
    where a glyph's stem covers whole pixels."""
    best, best_ratio = background, 1.0
    for y in range(image.height()):
        for x in range(image.width()):
            colour = image.pixelColor(x, y)
            ratio = contrast_ratio(colour, background)
            if ratio > best_ratio:
                best, best_ratio = colour, ratio
    return best


@pytest.mark.parametrize("when", ["created dark", "switched to dark"])
def test_error_banner_text_has_enough_contrast_in_a_dark_theme(qtbot: QtBot, when: str) -> None:
    host = _host(qtbot, DARK if when == "created dark" else LIGHT)
    banner = ErrorBanner(host)
    _add(host, banner)
    banner.show_message(MESSAGE)
    _show(qtbot, host)
    if when == "switched to dark":
        assert banner.colours == LIGHT_COLOURS
        host.setPalette(DARK)  # what a theme change does to every window
        qtbot.waitUntil(lambda: banner.colours == DARK_COLOURS)
    assert banner.colours == DARK_COLOURS

    # The style sheet's own values...
    colours = banner.colours
    assert contrast_ratio(QColor(colours.text), QColor(colours.background)) >= LEAST_CONTRAST
    # ...and the pixels actually drawn: the strip is dark, and its text stands out from it.
    image = banner.grab().toImage()
    background = image.pixelColor(image.width() // 2, 3)  # the top margin, inside the border
    assert background == QColor(colours.background)
    assert QColor(colours.background).lightnessF() < 0.5
    text = banner.findChild(QLabel, "error_text")
    assert text is not None and text.text() == MESSAGE
    drawn = text.grab().toImage()
    ink = _ink(drawn, background)
    assert contrast_ratio(ink, background) >= LEAST_CONTRAST, ink.name()
    # The strip stands apart from the dark window without glaring.
    window = DARK.color(QPalette.ColorRole.Window)
    assert contrast_ratio(QColor(colours.border), window) >= 3.0


def test_error_banner_keeps_its_light_colours_in_a_light_theme(qtbot: QtBot) -> None:
    host = _host(qtbot, LIGHT)
    banner = ErrorBanner(host)
    _add(host, banner)
    banner.show_message(MESSAGE)
    _show(qtbot, host)
    assert banner.colours == LIGHT_COLOURS
    image = banner.grab().toImage()
    background = image.pixelColor(image.width() // 2, 3)
    assert background == QColor(LIGHT_COLOURS.background)
    text = banner.findChild(QLabel, "error_text")
    assert text is not None
    assert contrast_ratio(_ink(text.grab().toImage(), background), background) >= LEAST_CONTRAST


@pytest.mark.parametrize("tone", list(Tone))
@pytest.mark.parametrize("palette", [DARK, LIGHT], ids=["dark", "light"])
def test_every_tone_reads_on_its_window(tone: Tone, palette: QPalette) -> None:
    window = palette.color(QPalette.ColorRole.Window)
    assert contrast_ratio(QColor(tone_colour(tone, palette)), window) >= LEAST_CONTRAST


def test_a_toned_label_follows_the_theme(qtbot: QtBot) -> None:
    host = _host(qtbot, LIGHT)
    label = QLabel("Not saved. The price must be a whole number.", host)
    _add(host, label)
    set_tone(label, Tone.ERROR)
    _show(qtbot, host)
    assert label.styleSheet() == f"color: {Tone.ERROR.value[0]};"

    host.setPalette(DARK)
    qtbot.waitUntil(lambda: label.styleSheet() == f"color: {Tone.ERROR.value[1]};")
    image = label.grab().toImage()
    window = DARK.color(QPalette.ColorRole.Window)
    assert contrast_ratio(_ink(image, window), window) >= LEAST_CONTRAST

    set_tone(label, None)  # back to the theme's own text colour
    assert label.styleSheet() == ""


def test_status_badges_follow_the_theme(qtbot: QtBot) -> None:
    host = _host(qtbot, DARK)
    badges = [StatusBadge(status, "CPU", host) for status in CheckStatus]
    for badge in badges:
        _add(host, badge)
    _show(qtbot, host)
    window = DARK.color(QPalette.ColorRole.Window)
    for badge in badges:
        text = badge.findChild(QLabel, "badge_text")
        assert text is not None
        ink = _ink(text.grab().toImage(), window)
        assert contrast_ratio(ink, window) >= LEAST_CONTRAST, (badge.text, ink.name())
