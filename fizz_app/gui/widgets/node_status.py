"""The node's status in words and icons, shared by the dashboard, the tray and notifications.

The icons are SVG files in ``fizz_app/gui/assets`` (packaged as data: see pyproject's
``package-data`` and the PyInstaller spec), found relative to this package so that a frozen
app finds them beside its modules.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

from PySide6.QtGui import QIcon

from ...core.state import DesiredState, NodeSnapshot, NodeStatus

__all__ = [
    "ASSETS_DIR",
    "MORNING_HOUR",
    "pause_choices",
    "seconds_until_morning",
    "status_detail",
    "status_icon",
    "status_icon_path",
    "status_title",
]

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
"""The folder holding the app's SVG icons."""

_ICON_FILES = {
    NodeStatus.ONLINE: "tray-online.svg",
    NodeStatus.PAUSED: "tray-paused.svg",
    NodeStatus.OFFLINE: "tray-offline.svg",
    NodeStatus.ERROR: "tray-error.svg",
    NodeStatus.CONNECTING: "tray-connecting.svg",
    NodeStatus.STARTING: "tray-connecting.svg",
}

_TITLES = {
    NodeStatus.STARTING: "Starting",
    NodeStatus.OFFLINE: "Offline",
    NodeStatus.CONNECTING: "Connecting",
    NodeStatus.ONLINE: "Online",
    NodeStatus.PAUSED: "Paused",
    NodeStatus.ERROR: "Needs attention",
}

_icons: dict[NodeStatus, QIcon] = {}


def status_icon_path(status: NodeStatus) -> Path:
    """Return the SVG file that shows ``status``."""
    return ASSETS_DIR / _ICON_FILES[status]


def status_icon(status: NodeStatus) -> QIcon:
    """Return the (cached) icon for ``status``; it renders crisply at any size."""
    icon = _icons.get(status)
    if icon is None:
        icon = _icons[status] = QIcon(str(status_icon_path(status)))
    return icon


def status_title(snapshot: NodeSnapshot) -> str:
    """One or two words for the status: "Online", "Paused", "Needs attention"...

    A node the user paused says "Paused by you"; one a rule paused says "Paused by a rule".
    """
    title = _TITLES[snapshot.status]
    if snapshot.status is NodeStatus.PAUSED:
        by_user = snapshot.desired is DesiredState.PAUSED
        title = "Paused by you" if by_user else "Paused by a rule"
    return title


def status_detail(snapshot: NodeSnapshot) -> str:
    """The sentence under the title: why no lease can come (with what to do), else the status
    reason."""
    if snapshot.why_no_jobs:
        return snapshot.why_no_jobs
    if snapshot.status is NodeStatus.OFFLINE and snapshot.desired is DesiredState.OFFLINE:
        # The engine fills why_no_jobs on its first tick, which publishes no event when the
        # status stays the same: say what the engine would say.
        return "The node is stopped. Press Start to take leases."
    return snapshot.status_reason


MORNING_HOUR = 8
""""Pause until tomorrow" ends at this local hour."""


def _next_morning(now: float, hour: int) -> datetime:
    moment = datetime.fromtimestamp(now)
    target = datetime.combine(moment.date(), dt_time(hour))
    if target <= moment:
        target = datetime.combine(moment.date() + timedelta(days=1), dt_time(hour))
    return target


def seconds_until_morning(now: float | None = None, hour: int = MORNING_HOUR) -> float:
    """Seconds from ``now`` (Unix time; the clock by default) to the next local ``hour``:00,
    the end of a "pause until tomorrow" (daylight-saving changes included)."""
    start = time.time() if now is None else now
    return _next_morning(start, hour).timestamp() - start


def pause_choices(now: float | None = None) -> list[tuple[str, str, float]]:
    """The pause menu: ``(key, label, seconds)`` for 1 h, 4 h and until the next morning
    (tomorrow's, or this morning's when it is still night)."""
    start = time.time() if now is None else now
    morning = _next_morning(start, MORNING_HOUR)
    day = "tomorrow" if morning.date() > datetime.fromtimestamp(start).date() else "this morning"
    return [
        ("pause_1h", "Pause for 1 hour", 3600.0),
        ("pause_4h", "Pause for 4 hours", 4 * 3600.0),
        ("pause_morning", f"Pause until {day} {MORNING_HOUR:02d}:00", morning.timestamp() - start),
    ]
