"""What the node tells the user unasked: lease started or finished, earnings credited, the node
went offline, action needed. Turned into tray messages, rate-limited.

:class:`Notifier` watches the bridge and emits ``sig_notification(title, text)``; the tray shows
it. Within :data:`COALESCE_S` of a message, further ones are held and then sent as one summary,
so a burst (ten leases ending together) makes one message, not ten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ..core.events import DesiredStateChanged, Event, LeaseChanged, StatusChanged
from ..core.state import DesiredState, NodeSnapshot, NodeStatus
from .bridge import EngineBridge

__all__ = ["Notifier", "COALESCE_S"]

COALESCE_S = 10.0
"""Least seconds between two messages; what comes in between is merged into one."""

_FINISHED = ("closed", "failed")


def _earned(snapshot: NodeSnapshot) -> dict[str, Decimal]:
    """Lease earnings plus rewards per token, in whole tokens."""
    lifetime = (snapshot.earnings or {}).get("lifetime") or {}
    totals: dict[str, Decimal] = {}
    for token, total in lifetime.items():
        try:
            base = Decimal(total.get("lease_earnings", "0")) + Decimal(total.get("rewards", "0"))
            totals[token] = base.scaleb(-int(total.get("decimals", 0)))
        except (InvalidOperation, TypeError, ValueError):
            continue
    return totals


def _amount(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if "." not in text else text.rstrip("0").rstrip(".")


class Notifier(QObject):
    """Turns bridge events and snapshots into user messages.

    Args:
        bridge: the engine bridge to watch.
        coalesce_s: least seconds between two messages (tests shorten it).
        clock: monotonic seconds; injected by tests.
        parent: the usual Qt parent.
    """

    # ---- Signals

    sig_notification = Signal(str, str)
    """(title, text) of a message to show now."""

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        coalesce_s: float = COALESCE_S,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._coalesce_s = coalesce_s
        self._clock = clock
        self._last_sent: float | None = None
        self._held: list[tuple[str, str]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._lease_states: dict[str, str] = {}
        self._earned: dict[str, Decimal] | None = None
        self._desired: DesiredState | None = None
        self._status: NodeStatus | None = None
        self._problem: str | None = None
        self._enabled = True
        bridge.sig_event.connect(self._on_bridge_event)
        bridge.sig_snapshot.connect(self._on_bridge_snapshot)
        bridge.sig_engine_failed.connect(self._on_bridge_engine_failed)

    # ---- Public API

    def set_enabled(self, enabled: bool) -> None:
        """Stop (or resume) sending messages; held ones are dropped when disabled (at quit)."""
        self._enabled = enabled
        if not enabled:
            self._held.clear()
            self._timer.stop()

    def notify(self, title: str, text: str) -> None:
        """Send a message now, or hold it to merge with others when one went out recently."""
        if not self._enabled:
            return
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self._coalesce_s:
            self._send(title, text)
            return
        self._held.append((title, text))
        if not self._timer.isActive():
            wait = self._coalesce_s - (now - self._last_sent)
            self._timer.start(max(0, int(wait * 1000)))

    # ---- Private API

    def _send(self, title: str, text: str) -> None:
        self._last_sent = self._clock()
        self.sig_notification.emit(title, text)

    def _on_timer_timeout(self) -> None:
        held, self._held = self._held, []
        if len(held) == 1:
            self._send(*held[0])
        elif held:
            self._send(f"Fizz Node: {len(held)} updates", "\n".join(text for _, text in held))

    def _on_bridge_event(self, event: Event) -> None:
        if isinstance(event, LeaseChanged):
            self._lease_changed(event.lease)
        elif isinstance(event, StatusChanged):
            self._status_changed(event.status, event.reason)
        elif isinstance(event, DesiredStateChanged):
            self._desired = event.desired

    def _lease_changed(self, lease: dict[str, Any]) -> None:
        lease_id = str(lease["lease_id"])
        state = str(lease.get("state"))
        before = self._lease_states.get(lease_id)
        self._lease_states[lease_id] = state
        if state == before:
            return
        name = lease.get("name") or f"Lease {lease_id}"
        if state == "running":
            self.notify("Lease started", f"{name} is running on this machine.")
        elif state in _FINISHED and before is not None and before not in _FINISHED:
            reason = lease.get("reason") or "it ended"
            title = "Lease finished" if state == "closed" else "Lease failed"
            self.notify(title, f"{name} stopped: {reason}.")

    def _status_changed(self, status: NodeStatus, reason: str) -> None:
        previous, self._status = self._status, status
        if status in (NodeStatus.ONLINE, NodeStatus.PAUSED):
            self._problem = None
            return
        if status is NodeStatus.ERROR:
            if reason != self._problem:  # the engine retries: say each problem once
                self._problem = reason
                self.notify("Fizz Node needs your action", reason)
            return
        went_down = previous in (NodeStatus.ONLINE, NodeStatus.PAUSED)
        if went_down and self._desired is not DesiredState.OFFLINE:
            if status is NodeStatus.OFFLINE:
                self.notify("Fizz Node went offline", reason or "It takes no leases now.")
            elif status is NodeStatus.CONNECTING:
                self.notify(
                    "Fizz Node lost the gateway",
                    "The connection dropped; it reconnects by itself.",
                )

    def _on_bridge_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._desired = snapshot.desired
        if self._status is None:
            self._status = snapshot.status
        for lease in snapshot.leases:
            self._lease_states.setdefault(str(lease["lease_id"]), str(lease.get("state")))
        earned = _earned(snapshot)
        if self._earned is not None:
            for token, total in earned.items():
                gained = total - self._earned.get(token, Decimal(0))
                if gained > 0:
                    self.notify(
                        "Earnings credited",
                        f"+{_amount(gained)} {token} (lifetime {_amount(total)} {token}).",
                    )
        if earned or snapshot.earnings is not None:
            self._earned = earned

    def _on_bridge_engine_failed(self, text: str) -> None:
        self.notify("Fizz Node stopped", text)
