"""A bar chart of earnings per day, week or month, drawn with pyqtgraph.

Feed it the engine's :class:`~fizz_app.core.ledger_types.PeriodTotal` rows with
:meth:`EarningsChart.set_totals`; it draws one bar per period for one token (lease earnings
plus reward credits in that token) and follows the window's light or dark palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from ...core.ledger_types import PeriodTotal, format_units

__all__ = ["EarningsChart", "period_label"]

BAR_WIDTH = 0.6


def period_label(start: date, period: str) -> str:
    """How a bar is named on the axis: ``12 Mar`` (day), ``w/c 10 Mar`` (week), ``Mar 2025``."""
    if period == "month":
        return start.strftime("%b %Y")
    day = f"{start.day} {start.strftime('%b')}"
    return f"w/c {day}" if period == "week" else day


class EarningsChart(QWidget):
    """One bar per period of the earnings of one token; "No earnings yet" while there are none.

    Call :meth:`set_totals` with the rows of ``node.earnings_totals(period)``; the amounts stay
    exact (:class:`~decimal.Decimal`) in :meth:`values`, and are turned into floats only to be
    drawn. The chart's accessible description lists every bar, for screen readers.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("earnings_chart")
        self.setAccessibleName("Earnings chart")
        self.setMinimumHeight(180)
        self._token = "uSPON"
        self._period = "day"
        self._labels: list[str] = []
        self._values: list[Decimal] = []
        self._descriptions: list[str] = []

        # pyqtgraph (and numpy) cost ~25 MB: built the first time there are bars to show.
        self._plot: Any = None
        self._bars: Any = None
        self._dirty = False

        self._empty = QLabel("No earnings yet. Bars appear here once leases pay.", self)
        self._empty.setObjectName("earnings_chart_empty")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)

        self._stack = QStackedLayout(self)
        self._stack.addWidget(self._empty)
        self._redraw()

    # ---- Public API

    def set_totals(self, totals: Sequence[PeriodTotal], period: str, token: str) -> None:
        """Draw the ``token`` rows of ``totals`` (oldest first) as one bar per ``period``."""
        self._period, self._token = period, token
        rows = [row for row in totals if row.token == token]
        self._labels = [period_label(row.start, period) for row in rows]
        self._values = [
            Decimal(row.lease_earnings + row.rewards).scaleb(-row.decimals) for row in rows
        ]
        self._descriptions = [
            f"{label}: {format_units(row.lease_earnings + row.rewards, row.decimals)} {token}"
            for label, row in zip(self._labels, rows, strict=True)
        ]
        self._redraw()

    def labels(self) -> list[str]:
        """The bars' names, oldest first."""
        return list(self._labels)

    def values(self) -> list[Decimal]:
        """The bars' amounts in whole tokens, oldest first."""
        return list(self._values)

    def drawn_heights(self) -> list[float]:
        """The heights pyqtgraph draws (for tests: proves the plot itself was updated)."""
        if self._bars is None:
            return []
        heights = self._bars.opts.get("height")
        return [] if heights is None else [float(h) for h in heights]

    # ---- Qt overrides

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._dirty:
            self._redraw()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()
        super().changeEvent(event)

    # ---- Private API

    def _redraw(self) -> None:
        heights = [float(value) for value in self._values]  # drawing only; money stays Decimal
        summary = "; ".join(self._descriptions) or "No earnings yet."
        self.setAccessibleDescription(f"{self._token} earned per {self._period}. {summary}")
        if not heights:
            self._stack.setCurrentWidget(self._empty)
            return
        if not self.isVisible():
            self._dirty = True  # drawn when shown: nothing loads for a page never opened
            return
        self._dirty = False
        self._ensure_plot()
        self._bars.setOpts(x=list(range(len(heights))), height=heights, width=BAR_WIDTH)
        axis = self._plot.getAxis("bottom")
        axis.setTicks([list(enumerate(self._labels))])
        self._plot.setLabel("left", self._token)
        if heights:
            self._plot.setXRange(-0.6, len(heights) - 0.4, padding=0)
            self._plot.setYRange(0, max(max(heights), 1e-9) * 1.15, padding=0)
        self._stack.setCurrentWidget(self._plot)

    def _ensure_plot(self) -> None:
        if self._plot is not None:
            return
        import pyqtgraph as pg  # type: ignore[import-untyped]

        self._plot = pg.PlotWidget(self)
        self._plot.setObjectName("earnings_plot")
        self._plot.setMenuEnabled(False)
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.hideButtons()
        self._plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._bars = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH)
        self._plot.addItem(self._bars)
        self._stack.addWidget(self._plot)
        self._apply_palette()

    def _apply_palette(self) -> None:
        if self._plot is None:
            return
        import pyqtgraph as pg

        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        accent = palette.color(QPalette.ColorRole.Highlight)
        self._plot.setBackground(background)
        for name in ("left", "bottom"):
            axis = self._plot.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        self._bars.setOpts(brush=pg.mkBrush(accent), pen=pg.mkPen(accent.darker(130)))
