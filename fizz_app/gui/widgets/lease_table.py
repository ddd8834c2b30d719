"""The leases of a snapshot as a table model (one row per lease, newest first).

Feed it :attr:`NodeSnapshot.leases <fizz_app.core.state.NodeSnapshot.leases>` with
:meth:`LeaseTableModel.set_leases`; call :meth:`LeaseTableModel.tick` every second or so to
advance the uptime column of running leases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

__all__ = ["LeaseTableModel", "ACTIVE_STATES", "format_bytes", "format_duration"]

ACTIVE_STATES = frozenset({"pending", "preparing", "starting", "running", "closing"})
"""Lease states that hold resources (``closed`` and ``failed`` are final)."""

COLUMNS = ("Name", "Image / runtime", "Resources", "Uptime", "State", "Ports")
_UPTIME = COLUMNS.index("Uptime")

Index = QModelIndex | QPersistentModelIndex


def format_bytes(size: float) -> str:
    """``1536 * 1024**2`` -> ``"1.5 GiB"``; binary units, one decimal above a KiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1 h 2 min"``; ``42`` -> ``"42 s"``; days above 48 hours."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, _ = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _resources(lease: dict[str, Any]) -> str:
    parts = [f"{lease.get('cpu_millicores', 0) / 1000:g} CPU"]
    parts.append(format_bytes(lease.get("memory_bytes", 0)))
    if lease.get("storage_bytes"):
        parts.append(f"{format_bytes(lease['storage_bytes'])} disk")
    if lease.get("gpu_units"):
        parts.append(f"{lease['gpu_units']} GPU")
    return ", ".join(parts)


def _state(lease: dict[str, Any]) -> str:
    state = str(lease.get("state", "")).capitalize()
    reason = lease.get("reason")
    if lease.get("state") in ("closed", "failed") and reason:
        return f"{state}: {reason}"
    return state


def _ports(lease: dict[str, Any]) -> str:
    ports = lease.get("ports") or {}
    return ", ".join(f"{port} → 127.0.0.1:{host}" for port, host in sorted(ports.items())) or "—"


class LeaseTableModel(QAbstractTableModel):
    """Read-only rows of lease dicts; the lease id of a row is :meth:`lease_id`.

    Args:
        clock: returns Unix time (for uptimes); injected by tests.
        parent: the usual Qt parent.
    """

    def __init__(self, clock: Callable[[], float] = time.time, parent: Any | None = None) -> None:
        super().__init__(parent)
        self._clock = clock
        self._leases: list[dict[str, Any]] = []

    # ---- Public API

    def set_leases(self, leases: Sequence[dict[str, Any]]) -> None:
        """Show ``leases`` (newest first); unchanged rows are updated in place."""
        rows = sorted(leases, key=lambda lease: lease.get("created_at") or 0.0, reverse=True)
        if [lease["lease_id"] for lease in rows] == [lease["lease_id"] for lease in self._leases]:
            self._leases = list(rows)
            if rows:
                last = self.index(len(rows) - 1, len(COLUMNS) - 1)
                self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self._leases = list(rows)
        self.endResetModel()

    def lease(self, row: int) -> dict[str, Any]:
        """The lease dict shown in ``row``."""
        return self._leases[row]

    def lease_id(self, row: int) -> str:
        return str(self._leases[row]["lease_id"])

    def row_of(self, lease_id: str) -> int | None:
        """The row showing ``lease_id``, or ``None``."""
        for row, lease in enumerate(self._leases):
            if lease["lease_id"] == lease_id:
                return row
        return None

    def tick(self) -> None:
        """Refresh the uptime of active leases."""
        if self._leases:
            self.dataChanged.emit(
                self.index(0, _UPTIME),
                self.index(len(self._leases) - 1, _UPTIME),
                [Qt.ItemDataRole.DisplayRole],
            )

    # ---- QAbstractTableModel

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._leases)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            return None
        lease = self._leases[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Lease {lease['lease_id']}: double-click to see its log"
        if column == 0:
            return str(lease.get("name") or lease["lease_id"])
        if column == 1:
            image = lease.get("image") or ""
            runtime = str(lease.get("runtime", ""))
            return f"{image} ({runtime})" if image else runtime
        if column == 2:
            return _resources(lease)
        if column == _UPTIME:
            return self._uptime(lease)
        if column == 4:
            return _state(lease)
        return _ports(lease)

    # ---- Private API

    def _uptime(self, lease: dict[str, Any]) -> str:
        created = lease.get("created_at")
        if created is None:
            return "—"
        active = lease.get("state") in ACTIVE_STATES
        end = self._clock() if active else (lease.get("updated_at") or created)
        return format_duration(end - created)
