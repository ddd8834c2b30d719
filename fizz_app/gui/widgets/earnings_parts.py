"""Building blocks of the Earnings page: money formatting and the card and label helpers.

Amounts arrive from the engine as base units (strings or ints) with their ``decimals``; the
core's :mod:`~fizz_app.core.earnings_text` turns them into whole tokens (never floats).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from ...core.earnings_text import amount_of, grouped

__all__ = [
    "amount_of",
    "card",
    "grouped",
    "lease_lines",
    "mute",
    "rewards_lines",
    "text_label",
    "title_font",
]


def _token_amount(data: Mapping[str, Any] | None) -> tuple[Decimal, str] | None:
    """A chain ``TokenAmount`` as the engine serialises it: ``raw`` with ``decimals``, or
    ``raw`` with ``value`` (whole tokens) and ``symbol``."""
    if not data:
        return None
    symbol = str(data.get("symbol", ""))
    try:
        if "decimals" in data:
            return Decimal(int(str(data["raw"]))).scaleb(-int(data["decimals"])), symbol
        return Decimal(str(data["value"])), symbol
    except (KeyError, ValueError, InvalidOperation):
        return None


def rewards_lines(earnings: Mapping[str, Any] | None) -> tuple[str, str, bool]:
    """(pending text, lifetime text, whether a claim can pay out) for the rewards card."""
    earnings = earnings or {}
    status = earnings.get("rewards") or None
    pending_text = "Not read from the chain yet: the node reads it while online."
    claimable = status is None  # unknown: let the user try; the engine says when there is none
    if status is not None:
        pending = _token_amount(status.get("pending"))
        per_era = _token_amount(status.get("per_era"))
        if pending is not None:
            value, symbol = pending
            claimable = value > 0 and not status.get("denied") and not status.get("paused")
            pending_text = f"{grouped(value)} {symbol} ready to claim"
            era = status.get("current_era")
            if era is not None:
                pending_text += f" (era {era}"
                if per_era is not None:
                    pending_text += f", {grouped(per_era[0])} {per_era[1]} per era"
                pending_text += ")"
            if status.get("paused"):
                pending_text += ". Rewards are paused for this node by the network."
            elif status.get("denied"):
                pending_text += ". The network has stopped rewards for this node."
    lifetime = (earnings.get("lifetime") or {}).get("SPON")
    if lifetime:
        decimals = int(lifetime.get("decimals", 18))
        lifetime_text = (
            f"{amount_of(lifetime.get('rewards', 0), decimals)} SPON earned in rewards, "
            f"{amount_of(lifetime.get('claimed', 0), decimals)} SPON claimed"
        )
    else:
        lifetime_text = "No era rewards recorded yet."
    return pending_text, lifetime_text, claimable


def lease_lines(earnings: Mapping[str, Any] | None) -> tuple[str, str]:
    """(lifetime lease earnings per token, the chain's reconciliation) for the leases card."""
    earnings = earnings or {}
    parts = []
    for token, total in sorted((earnings.get("lifetime") or {}).items()):
        decimals = int(total.get("decimals", 6))
        earned, withdrawn = total.get("lease_earnings", "0"), total.get("withdrawn", "0")
        if int(str(earned)) == 0 and int(str(withdrawn)) == 0:
            continue
        parts.append(
            f"{amount_of(earned, decimals)} {token} earned from leases, "
            f"{amount_of(withdrawn, decimals)} {token} withdrawn"
        )
    lifetime = "\n".join(parts) or "0 uSPON: no lease has paid yet."
    chain = "\n".join(str(line) for line in earnings.get("chain") or ())
    return lifetime, chain or "Not compared with the chain yet: the node checks while online."


def text_label(parent: QWidget, object_name: str, text: str = "", accessible: str = "") -> QLabel:
    """A plain-text, word-wrapped, selectable label (amounts and hashes can be copied)."""
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if accessible:
        label.setAccessibleName(accessible)
    return label


def mute(label: QLabel) -> None:
    """Draw ``label`` in the theme's placeholder colour (muted in light and dark themes)."""
    palette = label.palette()
    palette.setColor(
        QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText)
    )
    label.setPalette(palette)


def title_font(font: QFont, factor: float = 1.0) -> QFont:
    """``font`` in bold, ``factor`` times larger."""
    scaled = QFont(font)
    if font.pointSizeF() > 0:
        scaled.setPointSizeF(font.pointSizeF() * factor)
    scaled.setBold(True)
    return scaled


def card(parent: QWidget, object_name: str, title: str) -> tuple[QFrame, QVBoxLayout]:
    """A framed panel with a bold ``title``; add the contents to the returned layout."""
    frame = QFrame(parent)
    frame.setObjectName(object_name)
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setAccessibleName(title)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(14, 10, 14, 12)
    layout.setSpacing(6)
    heading = QLabel(title, frame)
    heading.setFont(title_font(heading.font(), 1.1))
    layout.addWidget(heading)
    return frame, layout
