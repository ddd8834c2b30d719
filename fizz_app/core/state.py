"""The node's state as front ends see it: enums and the immutable :class:`NodeSnapshot`.

Stdlib only. A front end renders the latest snapshot and applies numbered events on top of it
(see :mod:`fizz_app.core.events`); when it notices a gap in event numbers it asks for a fresh
snapshot instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from .checks import Verdict
from .report import HardwareReport

__all__ = ["NodeStatus", "DesiredState", "NodeSnapshot"]


class NodeStatus(enum.StrEnum):
    """What the node is doing now."""

    STARTING = "starting"
    """Loading settings and checking the machine."""
    OFFLINE = "offline"
    """Not taking leases (stopped by the user, or not started yet)."""
    CONNECTING = "connecting"
    ONLINE = "online"
    PAUSED = "paused"
    """Online but refusing new leases (a policy rule or the user paused it)."""
    ERROR = "error"
    """Needs the user's action; ``status_reason`` says which."""


class DesiredState(enum.StrEnum):
    """What the user asked for; persisted and reconciled towards."""

    ONLINE = "online"
    PAUSED = "paused"
    OFFLINE = "offline"


@dataclass(frozen=True)
class NodeSnapshot:
    """Everything a front end needs to draw the node, at event number ``seq``."""

    seq: int
    """Number of the last event included in this snapshot."""
    version: str
    status: NodeStatus
    status_reason: str
    desired: DesiredState
    network: str
    profile: str
    data_dir: str
    hardware: HardwareReport | None = None
    verdict: Verdict | None = None
    checked_at: float | None = None
    """Unix time of the last system check."""
    accepting: bool = False
    """Whether the node takes new leases right now."""
    why_no_jobs: str = ""
    """The first reason no lease can arrive ("" when accepting): what to fix first."""
    paused_until: float | None = None
    """Unix time a pause by the user ends (``None``: not paused, or until resumed)."""
    wallet_address: str | None = None
    gateway: dict[str, Any] | None = None
    """The gateway link: ``provider_id``, ``url``, ``connected``, ``fizz_id``, ``rtt_ms``,
    ``last_close``; ``None`` while not going online."""
    leases: tuple[dict[str, Any], ...] = ()
    """Active and recent leases (:meth:`fizz_app.core.jobs.lease_store.Lease.to_dict`)."""
    prices: dict[str, Any] | None = None
    """The prices announced to the gateway (the ``prices`` message's fields)."""
    earnings: dict[str, Any] | None = None
    """Lifetime totals per token (base units as strings, with ``decimals``) and the latest
    reconciliation with the chain, from the earnings ledger."""
    chain: dict[str, Any] | None = None
    """Whether the chain's RPC endpoint answers the node's checks while online: ``reachable``,
    ``checked_at`` (Unix time of the last attempt), ``unreachable_since`` (Unix time, or
    ``None``), ``error`` (what failed, with its remedy; ``None`` while reachable), ``rpc`` (the
    endpoint with any credentials and keys masked) and ``next_check_at`` (Unix time). ``None``
    while not online, and until the first check."""

    def evolve(self, **changes: Any) -> NodeSnapshot:
        """Return a copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "seq": self.seq,
            "version": self.version,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "desired": self.desired.value,
            "network": self.network,
            "profile": self.profile,
            "data_dir": self.data_dir,
            "hardware": None if self.hardware is None else self.hardware.to_dict(),
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "checked_at": self.checked_at,
            "accepting": self.accepting,
            "why_no_jobs": self.why_no_jobs,
            "paused_until": self.paused_until,
            "wallet_address": self.wallet_address,
            "gateway": self.gateway,
            "leases": list(self.leases),
            "prices": self.prices,
            "earnings": self.earnings,
            "chain": self.chain,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeSnapshot:
        """Rebuild a snapshot from :meth:`to_dict` output."""
        hardware = data.get("hardware")
        verdict = data.get("verdict")
        return cls(
            seq=int(data["seq"]),
            version=str(data["version"]),
            status=NodeStatus(data["status"]),
            status_reason=str(data["status_reason"]),
            desired=DesiredState(data["desired"]),
            network=str(data["network"]),
            profile=str(data["profile"]),
            data_dir=str(data["data_dir"]),
            hardware=None if hardware is None else HardwareReport.from_dict(hardware),
            verdict=None if verdict is None else Verdict.from_dict(verdict),
            checked_at=data.get("checked_at"),
            accepting=bool(data.get("accepting", False)),
            why_no_jobs=str(data.get("why_no_jobs", "")),
            paused_until=data.get("paused_until"),
            wallet_address=data.get("wallet_address"),
            gateway=data.get("gateway"),
            leases=tuple(data.get("leases") or ()),
            prices=data.get("prices"),
            earnings=data.get("earnings"),
            chain=data.get("chain"),
        )
