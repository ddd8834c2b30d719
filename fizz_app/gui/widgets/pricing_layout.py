"""The widgets of the pricing editor, laid out: presets, price fields, the sheet and the estimate.

:func:`build_pricing_view` creates them on the editor and returns them in a
:class:`PricingView`; the editor connects their signals and fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ...core.pricing import Preset
from ...core.settings_sections import PRESETS, RATE_FIELDS
from .earnings_parts import mute, text_label, title_font
from .pricing_model import RESOURCES, plain
from .tones import Tone, set_tone

__all__ = ["PricingView", "announced_text", "build_pricing_view"]

PRESET_TEXTS = {
    "market": "Market: the network's standard rates.",
    "competitive": "Competitive: {pct} % below market, to win more leases when work is scarce.",
    "premium": "Premium: {pct} % above market, for fewer, better-paid leases.",
    "custom": "Custom: your own price for each resource.",
}
HEADS = ("Resource", "Price (USD / unit / month)", "Offered", "Per block*", "Per month")
DEFAULT_UTILISATION = 50


@dataclass
class PricingView:
    """Every widget of the pricing editor the editor reads or changes."""

    presets: dict[str, QRadioButton]
    fields: dict[str, QLineEdit]
    """Resource (``cpu``, ``memory``, ``storage``, ``gpu``) -> its USD/unit/month field."""
    errors: dict[str, QLabel]
    sheet_rows: dict[str, tuple[QLabel, QLabel, QLabel]]
    """Resource -> (units offered, per-block price, USD per month)."""
    total: QLabel
    problem: QLabel
    slider: QSlider
    slider_value: QLabel
    estimate: QLabel
    announced: QLabel


def announced_text(prices: dict[str, Any] | None) -> str:
    """A sentence on the prices the node announces now (``NodeSnapshot.prices``)."""
    if not prices:
        return "Not announced yet: the node sends its prices to the gateway when it is online."
    parts = [
        f"{short} {prices[RATE_FIELDS[name]]}"
        for name, short, _meaning in RESOURCES
        if prices.get(RATE_FIELDS[name]) is not None
    ]
    return f"The node announces now (USD per unit per month): {', '.join(parts)}."


def _presets(editor: QWidget, layout: QVBoxLayout) -> dict[str, QRadioButton]:
    group = QButtonGroup(editor)
    buttons: dict[str, QRadioButton] = {}
    for name in PRESETS:
        pct = "" if name == "custom" else plain(abs(Preset(name).factor - 1) * 100, 1)
        button = QRadioButton(PRESET_TEXTS[name].format(pct=pct), editor)
        button.setObjectName(f"preset_{name}")
        button.setAccessibleName(f"{name.capitalize()} prices")
        group.addButton(button)
        buttons[name] = button
        layout.addWidget(button)
    buttons["market"].setChecked(True)
    return buttons


def build_pricing_view(editor: QWidget) -> PricingView:
    """Lay the pricing editor's widgets out on ``editor`` and return them."""
    layout = QVBoxLayout(editor)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(10)
    presets = _presets(editor, layout)

    grid = QGridLayout()
    grid.setHorizontalSpacing(14)
    for column, text in enumerate(HEADS):
        head = QLabel(text, editor)
        head.setFont(title_font(head.font()))
        grid.addWidget(head, 0, column)
    fields: dict[str, QLineEdit] = {}
    errors: dict[str, QLabel] = {}
    rows: dict[str, tuple[QLabel, QLabel, QLabel]] = {}
    for index, (name, short, meaning) in enumerate(RESOURCES):
        row = 1 + 2 * index
        field = QLineEdit(editor)
        field.setObjectName(f"price_{name}")
        field.setAccessibleName(meaning)
        field.setToolTip(meaning)
        field.setMaximumWidth(140)
        fields[name] = field
        error = text_label(editor, f"price_{name}_error")
        set_tone(error, Tone.ERROR)
        error.setVisible(False)
        errors[name] = error
        units, block, month = (
            text_label(editor, f"sheet_{name}_{part}") for part in ("units", "block", "month")
        )
        rows[name] = (units, block, month)
        label = QLabel(short, editor)
        label.setBuddy(field)
        for column, widget in enumerate((label, field, units, block, month)):
            grid.addWidget(widget, row, column)
        grid.addWidget(error, row + 1, 0, 1, len(HEADS))
    grid.setColumnStretch(len(HEADS) - 1, 1)
    layout.addLayout(grid)
    note = QLabel("* base units (millionths) of uSPON per unit per 2-second block.", editor)
    mute(note)
    total = text_label(editor, "sheet_total")
    problem = text_label(editor, "pricing_problem")
    set_tone(problem, Tone.ERROR)
    for widget in (note, total, problem):
        layout.addWidget(widget)

    slider = QSlider(Qt.Orientation.Horizontal, editor)
    slider.setObjectName("utilisation_slider")
    slider.setAccessibleName("Expected share of the month rented, in percent")
    slider.setRange(0, 100)
    slider.setSingleStep(5)
    slider.setPageStep(10)
    slider.setValue(DEFAULT_UTILISATION)
    slider_value = QLabel(f"{DEFAULT_UTILISATION} %", editor)
    slider_row = QGridLayout()
    rented = QLabel("&Rented:", editor)
    rented.setBuddy(slider)
    slider_row.addWidget(rented, 0, 0)
    slider_row.addWidget(slider, 0, 1)
    slider_row.addWidget(slider_value, 0, 2)
    slider_row.setColumnStretch(1, 1)
    layout.addLayout(slider_row)
    estimate = text_label(editor, "estimate", "", "Estimated monthly earnings")
    estimate.setFont(title_font(estimate.font()))
    announced = text_label(editor, "announced_prices", announced_text(None))
    mute(announced)
    layout.addWidget(estimate)
    layout.addWidget(announced)

    order = [*presets.values(), *fields.values(), slider]
    for first, second in zip(order, order[1:], strict=False):
        QWidget.setTabOrder(first, second)
    return PricingView(
        presets=presets,
        fields=fields,
        errors=errors,
        sheet_rows=rows,
        total=total,
        problem=problem,
        slider=slider,
        slider_value=slider_value,
        estimate=estimate,
        announced=announced,
    )
