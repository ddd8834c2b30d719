"""The "System check" page: can this machine join the network, and what to change if not.

It renders the ``verdict`` and ``hardware`` of a :class:`~fizz_app.core.state.NodeSnapshot` and
asks for a new check with ``sig_recheck_requested``; its owner runs the check and says when it
is running with :meth:`SystemCheckPage.set_checking`. It is also the first step of the
first-run wizard.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ...core.checks import CheckResult, Verdict, check_label
from ...core.report import HardwareReport
from ...core.state import NodeSnapshot
from ..widgets.status_badge import STATUS_TONES, StatusBadge
from ..widgets.tones import Tone, set_tone, tone_colour

__all__ = ["SystemCheckPage", "machine_summary"]

GIB = 1024**3
GB = 1000**3


def machine_summary(report: HardwareReport) -> str:
    """Return one line of the machine's main facts (CPU, RAM, free storage, GPU, OS)."""
    cpu, gpu = report.cpu, report.gpu
    if gpu.gpus:
        first = gpu.gpus[0]
        gpu_text = f"{first.name} ({first.vram_total_bytes / GIB:.0f} GiB)"
        if len(gpu.gpus) > 1:
            gpu_text += f" + {len(gpu.gpus) - 1} more"
    else:
        gpu_text = "GPU not readable" if gpu.status == "error" else "No NVIDIA GPU"
    threads = f"{cpu.threads} thread{'' if cpu.threads == 1 else 's'}"
    return " · ".join(
        (
            f"{cpu.apple_chip or cpu.model}, {threads}",
            f"{report.memory.total_bytes / GIB:.1f} GiB RAM",
            f"{report.storage.free_bytes / GB:.1f} GB free storage",
            gpu_text,
            report.os.name,
        )
    )


class SystemCheckPage(QWidget):
    """Shows the verdict, a machine summary and one row per check, with a "Check again" button.

    Feed it snapshots with :meth:`show_snapshot`; connect ``sig_recheck_requested`` to run a
    check, and call :meth:`set_checking` while it runs.
    """

    # ---- Signals

    sig_recheck_requested = Signal()
    """The user asked to run the system check again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("system_check_page")
        self._verdict: Verdict | None = None
        self._checking = True
        self._available = True
        self._build()
        self._show_placeholder("Checking this machine…", "")
        self._update_button()

    # ---- Public API

    @property
    def recheck_button(self) -> QPushButton:
        return self._recheck_button

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        """Render ``snapshot``'s system check; a snapshot without one keeps the placeholder."""
        self._available = True
        self._update_button()
        verdict, report = snapshot.verdict, snapshot.hardware
        if verdict is None or report is None:
            return
        self._set_headline(verdict.headline(), verdict.meets_minimum)
        self._summary.setText(machine_summary(report))
        self._summary.setVisible(True)
        title = verdict.profile_title or verdict.profile
        when = time.strftime("%H:%M:%S", time.localtime(snapshot.checked_at or time.time()))
        self._checked.setText(f"Checked against the {title} profile at {when}.")
        self._checked.setVisible(True)
        if verdict != self._verdict:
            self._verdict = verdict
            self._render_rows(verdict.checks)

    def set_checking(self, checking: bool) -> None:
        """Say whether a check is running: the button is disabled and reads "Checking…"."""
        self._checking = checking
        self._update_button()

    def show_unavailable(self, reason: str) -> None:
        """Say that no check can run (the engine failed); ``reason`` is shown under the headline.

        The rows of the last check, if any, stay visible.
        """
        self._available = False
        self._checking = False
        self._update_button()
        self._show_placeholder("The system check cannot run", reason)

    # ---- Private API

    def _build(self) -> None:
        title = QLabel("System check", self)
        title.setObjectName("page_title")
        title.setFont(_scaled_font(title.font(), 1.5, bold=True))
        title.setAccessibleName("System check")
        intro = QLabel(
            "Fizz Node checks whether this machine can run jobs for the network, "
            "and tells you what to change when it cannot.",
            self,
        )
        intro.setWordWrap(True)

        self._headline_icon = QLabel(self)
        self._headline_icon.setObjectName("headline_icon")
        self._headline = _text_label(self, "headline")
        self._headline.setFont(_scaled_font(self._headline.font(), 1.2, bold=True))
        self._summary = _text_label(self, "machine_summary")
        self._summary.setAccessibleName("Machine summary")
        self._checked = _text_label(self, "checked_at")
        _mute(self._checked)

        self._recheck_button = QPushButton("Check again", self)
        self._recheck_button.setObjectName("recheck_button")
        self._recheck_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._recheck_button.setAutoDefault(False)
        self._recheck_button.setToolTip("Run the system check again (F5)")
        self._recheck_button.clicked.connect(self._on_recheck_clicked)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self, self._on_refresh_shortcut)

        card = QFrame(self)
        card.setObjectName("headline_card")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        texts = QVBoxLayout()
        texts.setSpacing(4)
        for label in (self._headline, self._summary, self._checked):
            texts.addWidget(label)
        card_layout = QHBoxLayout(card)
        card_layout.setContentsMargins(14, 12, 14, 12)
        card_layout.setSpacing(12)
        card_layout.addWidget(self._headline_icon, 0, Qt.AlignmentFlag.AlignTop)
        card_layout.addLayout(texts, 1)
        card_layout.addWidget(self._recheck_button, 0, Qt.AlignmentFlag.AlignVCenter)

        self._scroll = QScrollArea(self)
        self._scroll.setObjectName("check_rows_scroll")
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._scroll.setWidget(QWidget())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(card)
        layout.addWidget(self._scroll, 1)

    def _set_headline(self, text: str, good: bool | None) -> None:
        """Show ``text``: green with a tick, red with a cross, or plain (``good`` is None)."""
        self._headline.setText(text)
        set_tone(self._headline, {True: Tone.OK, False: Tone.ERROR, None: None}[good])
        if good is None:
            self._headline_icon.clear()
        else:
            icon = QStyle.StandardPixmap.SP_DialogApplyButton
            if not good:
                icon = QStyle.StandardPixmap.SP_MessageBoxCritical
            self._headline_icon.setPixmap(self.style().standardIcon(icon).pixmap(32, 32))
        self._headline_icon.setVisible(good is not None)

    def _show_placeholder(self, headline: str, detail: str) -> None:
        self._set_headline(headline, None)
        self._summary.setText(detail)
        self._summary.setVisible(bool(detail))
        self._checked.setText("")
        self._checked.setVisible(False)

    def _update_button(self) -> None:
        checking = self._checking and self._available
        self._recheck_button.setText("Checking…" if checking else "Check again")
        self._recheck_button.setEnabled(self._available and not checking)

    def _render_rows(self, checks: tuple[CheckResult, ...]) -> None:
        rows = QWidget()
        rows.setObjectName("check_rows")
        grid = QGridLayout(rows)
        grid.setContentsMargins(0, 4, 8, 4)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(8)
        grid.setColumnMinimumWidth(1, self.fontMetrics().horizontalAdvance("Operating system") + 16)
        grid.setColumnStretch(2, 1)
        top_left = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
        for index, check in enumerate(checks):
            row = 2 * index
            if index:
                line = QFrame(rows)
                line.setFrameShape(QFrame.Shape.HLine)
                line.setFrameShadow(QFrame.Shadow.Sunken)
                grid.addWidget(line, row - 1, 0, 1, 3)
            label = check_label(check.name)
            badge = StatusBadge(check.status, label, rows)
            badge.setObjectName(f"check_badge_{check.name}")
            name = _text_label(rows, f"check_name_{check.name}", label)
            name.setFont(_scaled_font(name.font(), 1.0, bold=True))
            # Centre the first line of the name and detail on the badge beside them.
            offset = max(0, (badge.sizeHint().height() - name.fontMetrics().height()) // 2)
            name.setContentsMargins(0, offset, 0, 0)
            grid.addWidget(badge, row, 0, top_left)
            grid.addWidget(name, row, 1, top_left)
            grid.addLayout(self._check_texts(rows, check, offset), row, 2)
        grid.setRowStretch(2 * len(checks), 1)
        scroll_value = self._scroll.verticalScrollBar().value()
        self._scroll.setWidget(rows)  # deletes the previous rows at once
        self._scroll.verticalScrollBar().setValue(scroll_value)

    def _check_texts(self, parent: QWidget, check: CheckResult, offset: int) -> QVBoxLayout:
        texts = QVBoxLayout()
        texts.setSpacing(6)
        detail = _text_label(parent, f"check_detail_{check.name}", check.detail)
        detail.setContentsMargins(0, offset, 0, 0)
        texts.addWidget(detail)
        if check.remedy:
            remedy = _text_label(parent, f"check_remedy_{check.name}", check.remedy)
            remedy.setAccessibleName(f"What to do about {check_label(check.name)}")
            colour = tone_colour(STATUS_TONES[check.status], parent.palette())
            # Longhand on purpose: the "border-left: 3px solid" shorthand draws nothing on a
            # QLabel in Qt 6.11.
            remedy.setStyleSheet(
                f"border-style: solid; border-color: {colour}; border-width: 0 0 0 3px;"
                " padding-left: 8px;"
            )
            texts.addWidget(remedy)
        texts.addStretch(1)
        return texts

    def _on_recheck_clicked(self) -> None:
        self.sig_recheck_requested.emit()

    def _on_refresh_shortcut(self) -> None:
        if self._recheck_button.isEnabled():
            self._recheck_button.animateClick()


def _text_label(parent: QWidget, object_name: str, text: str = "") -> QLabel:
    # Plain text: details come from the machine (paths, model names) and must never be read as
    # HTML. Selectable so users can copy a remedy or a detail into a support request.
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    return label


def _mute(label: QLabel) -> None:
    # The theme's placeholder colour: muted in light and dark themes alike, and unlike a
    # disabled label it is not announced as "unavailable" by screen readers.
    palette = label.palette()
    palette.setColor(
        QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText)
    )
    label.setPalette(palette)


def _scaled_font(font: QFont, factor: float, *, bold: bool) -> QFont:
    scaled = QFont(font)
    if font.pointSizeF() > 0:
        scaled.setPointSizeF(font.pointSizeF() * factor)
    scaled.setBold(bold)
    return scaled
