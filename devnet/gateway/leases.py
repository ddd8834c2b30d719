"""The gateway's lease book: which leases each node runs, their state, ports and bytes.

Leases are keyed by ``(node address, lease id)``, so one node can never touch another's lease
by naming its id. The book is pure (no I/O): the server feeds it logins, ``lease_status`` and
``lease_close`` messages and traffic counters, and acts on what it returns (publish or release
public ports). It serialises to JSON so a restarted gateway keeps its leases and meters.

Reconciliation at login (the node announces every lease it still runs):

- announced, and unknown or known and still active: ``keep`` (the book takes the node's word
  for its state and ports);
- announced, but closed or failed here (the gateway ended it while the node was away):
  ``close``;
- active here but not announced: the node lost it; it is marked failed, ``lost by the node``.

A node that stays away longer than the gateway's grace loses its active leases
(:meth:`LeaseBook.expire`, state ``lost``): their public ports go back to the pool, and if the
node comes back after all, it is told to ``close`` them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_client.client import Traffic
from gateway_client.messages import LEASE_RUNNING, LeaseAction, LeaseAnnouncement, LeaseStatus

__all__ = [
    "CLOSED",
    "FAILED",
    "LOST",
    "LOST_REASON",
    "MAX_ACTIVE_LEASES",
    "MAX_ENDED_LEASES",
    "PENDING",
    "TERMINAL_STATES",
    "Lease",
    "LeaseBook",
    "LeaseLimitError",
    "TrafficMeter",
]

PENDING = "pending"
"""Given to the node, not running yet (its first ``lease_status`` replaces it)."""
CLOSED = "closed"
FAILED = "failed"
LOST = "lost"
"""The node stayed disconnected longer than the gateway's lease grace."""
TERMINAL_STATES = frozenset({CLOSED, FAILED, LOST})
"""States a lease never leaves; its ports are released."""

LOST_REASON = "lost by the node"
"""Why a lease the node did not announce at login was failed."""

MAX_ACTIVE_LEASES = 256
"""Most active leases per node; beyond it new leases are refused (bounded memory)."""

MAX_ENDED_LEASES = 256
"""Ended leases remembered per node (to answer ``close`` if the node announces one again)."""


class LeaseLimitError(Exception):
    """A node reported more active leases than :data:`MAX_ACTIVE_LEASES`."""


@dataclass
class Lease:
    """One lease as the gateway knows it."""

    lease_id: str
    node: str
    """The node's wallet address, checksummed."""
    state: str
    ports: tuple[int, ...] = ()
    """Local ports the node exposes for it (meaningful while ``running``)."""
    reason: str | None = None
    bytes_in: int = 0
    """Bytes carried from public clients to the lease."""
    bytes_out: int = 0
    """Bytes carried from the lease to public clients."""
    updated_at: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL_STATES

    @property
    def running(self) -> bool:
        return self.state == LEASE_RUNNING

    def to_json(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "node": self.node,
            "state": self.state,
            "ports": list(self.ports),
            "reason": self.reason,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lease:
        return cls(
            lease_id=str(data["lease_id"]),
            node=str(data["node"]),
            state=str(data["state"]),
            ports=tuple(int(p) for p in data.get("ports", ())),
            reason=None if data.get("reason") is None else str(data["reason"]),
            bytes_in=int(data.get("bytes_in", 0)),
            bytes_out=int(data.get("bytes_out", 0)),
            updated_at=float(data.get("updated_at", 0.0)),
        )


@dataclass
class TrafficMeter:
    """What one connection's traffic counters have already added to the book (one per
    connection, from :meth:`LeaseBook.new_meter`)."""

    seen: dict[str, tuple[int, int]] = field(default_factory=dict)


class LeaseBook:
    """Every node's leases (see the module docstring for the rules)."""

    def __init__(self) -> None:
        self._nodes: dict[str, dict[str, Lease]] = {}  # node address (lowercase) -> id -> lease

    # ---- Queries

    def get(self, node: str, lease_id: str) -> Lease | None:
        return self._nodes.get(node.lower(), {}).get(lease_id)

    def of(self, node: str) -> list[Lease]:
        """The node's leases, active and ended."""
        return list(self._nodes.get(node.lower(), {}).values())

    def __iter__(self) -> Iterator[Lease]:
        return iter([lease for leases in self._nodes.values() for lease in leases.values()])

    def __len__(self) -> int:
        return sum(len(leases) for leases in self._nodes.values())

    def find(self, lease_id: str) -> list[Lease]:
        """Every node's lease with this id (ids are the tenant's; two nodes may report the same
        one), active ones first."""
        found = [leases[lease_id] for leases in self._nodes.values() if lease_id in leases]
        return sorted(found, key=lambda lease: not lease.active)

    # ---- Changes

    def reconcile(
        self, node: str, announced: Iterable[LeaseAnnouncement]
    ) -> tuple[dict[str, LeaseAction], list[Lease]]:
        """Decide every lease the node announced at login (see the module docstring).

        Returns:
            The ``welcome`` decisions, and the leases just failed as lost by the node (release
            their public ports).
        """
        decisions: dict[str, LeaseAction] = {}
        for item in announced:
            lease = self.get(node, item.lease_id)
            if lease is not None and not lease.active:
                decisions[item.lease_id] = LeaseAction.CLOSE
                continue
            try:
                self._set(node, item.lease_id, item.state, item.ports, None)
            except LeaseLimitError:
                decisions[item.lease_id] = LeaseAction.CLOSE
                continue
            decisions[item.lease_id] = LeaseAction.KEEP
        lost = [
            lease for lease in self.of(node) if lease.active and lease.lease_id not in decisions
        ]
        for lease in lost:
            self._end(lease, FAILED, LOST_REASON)
        return decisions, lost

    def open(self, node: str, lease_id: str, state: str = PENDING) -> Lease:
        """Record a lease the gateway gave the node (it accepted the offer), or return it
        unchanged if the node already reported it.

        Raises:
            LeaseLimitError: a new lease beyond :data:`MAX_ACTIVE_LEASES`.
            ValueError: the lease already ended here (a new lease needs a new id).
        """
        lease = self.get(node, lease_id)
        if lease is not None:
            if not lease.active:
                raise ValueError(f"lease {lease_id} has already ended ({lease.state})")
            return lease
        return self._set(node, lease_id, state, (), None)

    def update(self, node: str, status: LeaseStatus) -> Lease | None:
        """Apply a ``lease_status``.

        Returns:
            The lease, or ``None`` if it had ended here already (tell the node to close it).

        Raises:
            LeaseLimitError: a new lease beyond :data:`MAX_ACTIVE_LEASES`.
        """
        lease = self.get(node, status.lease_id)
        if lease is not None and not lease.active:
            return None
        return self._set(node, status.lease_id, status.state, status.ports, status.reason)

    def close(self, node: str, lease_id: str, reason: str, state: str = CLOSED) -> Lease | None:
        """End a lease (``lease_close`` from the node, or the gateway's own decision).

        Returns:
            The lease if it was active (release its ports), else ``None``.
        """
        lease = self.get(node, lease_id)
        if lease is None or not lease.active:
            return None
        self._end(lease, state, reason)
        return lease

    def fail_node(self, node: str, reason: str) -> list[Lease]:
        """Fail every active lease of ``node`` (the chain no longer lets it in)."""
        ended = [lease for lease in self.of(node) if lease.active]
        for lease in ended:
            self._end(lease, FAILED, reason)
        return ended

    def expire(self, node: str, reason: str) -> list[Lease]:
        """Mark every active lease of ``node`` lost (it stayed away past the grace).

        Returns:
            The leases just ended (release their public ports).
        """
        ended = [lease for lease in self.of(node) if lease.active]
        for lease in ended:
            self._end(lease, LOST, reason)
        return ended

    def nodes_with_active_leases(self) -> list[str]:
        """Addresses (as recorded) of the nodes holding at least one active lease."""
        return [
            next(iter(leases.values())).node
            for leases in self._nodes.values()
            if any(lease.active for lease in leases.values())
        ]

    def meter(self, node: str, traffic: Mapping[str, Traffic], meter: TrafficMeter) -> None:
        """Add what ``traffic`` (one gateway-side connection's counters) carried since the last
        call with the same ``meter``. On the gateway side, ``from_local`` was read from public
        clients (into the lease) and ``to_local`` written to them (out of the lease)."""
        for lease_id, counters in traffic.items():
            before_in, before_out = meter.seen.get(lease_id, (0, 0))
            now_in, now_out = counters.from_local, counters.to_local
            if (now_in, now_out) == (before_in, before_out):
                continue
            meter.seen[lease_id] = (now_in, now_out)
            lease = self.get(node, lease_id)
            if lease is not None:
                lease.bytes_in += now_in - before_in
                lease.bytes_out += now_out - before_out

    @staticmethod
    def new_meter() -> TrafficMeter:
        """A fresh meter, one per connection."""
        return TrafficMeter()

    # ---- Persistence

    def to_json(self) -> list[dict[str, Any]]:
        return [lease.to_json() for lease in self]

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Load :meth:`to_json`'s output (replaces the book)."""
        self._nodes = {}
        for row in rows:
            lease = Lease.from_json(row)
            self._nodes.setdefault(lease.node.lower(), {})[lease.lease_id] = lease

    # ---- Private

    def _set(
        self, node: str, lease_id: str, state: str, ports: Iterable[int], reason: str | None
    ) -> Lease:
        leases = self._nodes.setdefault(node.lower(), {})
        lease = leases.get(lease_id)
        if lease is None:
            if sum(1 for lease in leases.values() if lease.active) >= MAX_ACTIVE_LEASES:
                raise LeaseLimitError(f"node {node} has {MAX_ACTIVE_LEASES} active leases")
            lease = leases[lease_id] = Lease(lease_id, node, state)
        lease.state = state
        lease.ports = tuple(dict.fromkeys(ports))  # de-duplicated, order kept
        lease.reason = reason
        lease.updated_at = time.time()
        if not lease.active:
            self._prune(node)
        return lease

    def _end(self, lease: Lease, state: str, reason: str) -> None:
        lease.state = state
        lease.reason = reason
        lease.updated_at = time.time()
        self._prune(lease.node)

    def _prune(self, node: str) -> None:
        ended = sorted(
            (lease for lease in self.of(node) if not lease.active), key=lambda x: x.updated_at
        )
        leases = self._nodes.get(node.lower(), {})
        for lease in ended[: max(0, len(ended) - MAX_ENDED_LEASES)]:
            del leases[lease.lease_id]
