"""Giving leases to nodes: the offer, the manifest, closing, logs, and the tenant's status view.

The flow (PROTOCOL.md §3, §6), driven by :meth:`Deployments.deploy`:

1. **Which node.** A lease id that is a decimal number is looked up on chain
   (:mod:`devnet.gateway.chain_leases`): the lease must be active and matched to this gateway,
   and its ``fizzId`` names the node's wallet; its order id and accepted price go in the offer.
   A lease the chain does not have needs the node's address from the caller (the devnet
   extension ``?node=0x…``); then order id and price are the caller's (default ``0``).
2. **Offer.** ``lease_offer`` goes to the node's open session with ``resources`` = the
   service's ``resources`` object as the tenant sent it (with several services:
   ``{"services": [{"name", "count", "resources"}, ...]}``).
3. **Answer.** ``lease_reject`` ends the attempt with the node's reason; no answer within the
   timeout ends it too (the node is then sent ``lease_close``, so a late accept leaves nothing
   behind). On ``lease_accept`` the lease is recorded in the lease book as ``pending`` and the
   ``manifest`` is queued at once, in the same step, so nothing the node sends next can
   overtake it. From then on the node's ``lease_status`` messages drive the lease: ``running``
   with ports publishes public ports (:mod:`devnet.gateway.ports`).

Every refusal is a :class:`DeploymentError` whose :attr:`~DeploymentError.status` is the HTTP
status the tenant API answers with, and whose text names the problem.

Node-local ports and services: ``lease_status`` carries only the node's local ports. The node
lists them in the order of the manifest's ``expose`` entries (service by service), so when the
counts match, port *i* is expose entry *i*; otherwise every port is shown under the first
service with its local port number.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from gateway_client.messages import (
    MAX_CONTROL_BYTES,
    Earnings,
    LeaseAccept,
    LeaseClose,
    LeaseLogs,
    LeaseOffer,
    LeaseReject,
    LogsRequest,
    Manifest,
    Usage,
    encode_message,
)

from .chain_leases import ChainLeaseError, ChainLeases, chain_lease_number
from .leases import Lease, LeaseBook, LeaseLimitError
from .ports import PublicPorts
from .sessions import Session, SessionRegistry

__all__ = [
    "LOGS_QUIET_S",
    "LOGS_TIMEOUT_S",
    "MAX_LOG_BYTES",
    "MAX_SERVICES",
    "OFFER_TIMEOUT_S",
    "Deployment",
    "DeploymentError",
    "Deployments",
    "manifest_services",
]

log = logging.getLogger(__name__)

OFFER_TIMEOUT_S = 30.0
"""How long a node has to answer ``lease_offer``."""
LOGS_TIMEOUT_S = 10.0
"""How long a node has to start answering ``logs_request``."""
LOGS_QUIET_S = 0.3
"""``lease_logs`` has no end marker: a reply is complete once ``tail`` lines came, or once no
further message came for this long."""
MAX_LOG_BYTES = 8 * 1024 * 1024
"""Most log text kept for one reply (the newest lines win)."""
MAX_SERVICES = 16
"""Most services one deployment may carry."""

_LEASE_ID = re.compile(r"[0-9A-Za-z._:-]{1,128}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL = re.compile(r"[0-9]{1,78}(\.[0-9]{1,78})?")
_ZERO = "0x" + "00" * 20


class DeploymentError(Exception):
    """A deployment request cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> DeploymentError:
    return DeploymentError(400, message)


def manifest_services(body: object) -> list[dict[str, Any]]:
    """The services of a manifest as the real SDK sends it: ``[{name, services: [...]}]``
    (groups; their services are taken in order). A single group object is accepted too.

    Raises:
        DeploymentError: 400, naming what is wrong.
    """
    groups = [body] if isinstance(body, dict) else body
    if not isinstance(groups, list) or not groups:
        raise _bad("the manifest must be a list of groups like [{name, services: [...]}]")
    services: list[dict[str, Any]] = []
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("services"), list):
            raise _bad(f"group {i} of the manifest has no services list")
        for j, service in enumerate(group["services"]):
            if not isinstance(service, dict):
                raise _bad(f"service {j} of group {i} is not an object")
            services.append(service)
    _check_services(services)
    return services


def _check_services(services: Sequence[object]) -> None:
    if not services:
        raise _bad("the manifest has no services")
    if len(services) > MAX_SERVICES:
        raise _bad(f"the manifest has {len(services)} services; at most {MAX_SERVICES}")
    names: set[str] = set()
    for i, service in enumerate(services):
        if not isinstance(service, dict):
            raise _bad(f"service {i} is not an object")
        name = service.get("name")
        if not isinstance(name, str) or not name or len(name) > 128:
            raise _bad(f"service {i} has no name (a string of 1-128 characters)")
        if name in names:
            raise _bad(f"service name {name!r} is used twice")
        names.add(name)


@dataclass(frozen=True)
class ServiceSummary:
    """What the status view needs of a service: its name, replica count and exposed ports."""

    name: str
    count: int
    expose: tuple[tuple[int | None, str], ...]
    """``(port, proto)`` of each ``expose`` entry, in manifest order."""

    @classmethod
    def of(cls, service: Mapping[str, Any]) -> ServiceSummary:
        count = service.get("count")
        entries = service.get("expose")
        expose: list[tuple[int | None, str]] = []
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict):
                continue
            port = entry.get("port")
            proto = entry.get("proto")
            expose.append(
                (
                    port if isinstance(port, int) and not isinstance(port, bool) else None,
                    proto.upper()[:8] if isinstance(proto, str) and proto else "TCP",
                )
            )
        return cls(
            name=str(service.get("name")),
            count=count if isinstance(count, int) and not isinstance(count, bool) else 1,
            expose=tuple(expose),
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "expose": [list(e) for e in self.expose]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceSummary:
        return cls(
            name=str(data["name"]),
            count=int(data["count"]),
            expose=tuple(
                (None if port is None else int(port), str(proto)) for port, proto in data["expose"]
            ),
        )


@dataclass
class Deployment:
    """A lease this gateway gave a node (what the tenant asked for)."""

    lease_id: str
    node: str
    order_id: int
    price_per_block: str
    services: tuple[ServiceSummary, ...]
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "node": self.node,
            "order_id": self.order_id,
            "price_per_block": self.price_per_block,
            "services": [service.to_json() for service in self.services],
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deployment:
        return cls(
            lease_id=str(data["lease_id"]),
            node=str(data["node"]),
            order_id=int(data["order_id"]),
            price_per_block=str(data["price_per_block"]),
            services=tuple(ServiceSummary.from_json(s) for s in data["services"]),
            created_at=float(data["created_at"]),
        )


@dataclass(eq=False)
class _Offer:
    """An offer waiting for the node's answer."""

    session: Session
    deployment: Deployment
    manifest: Manifest
    answer: asyncio.Future[Lease]


@dataclass(eq=False)
class _LogReply:
    """Lines of one ``logs_request`` as they arrive."""

    session: Session
    lines: deque[str] = field(default_factory=deque)
    size: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    messages: int = 0
    gone: bool = False

    def add(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.lines.append(line)
            self.size += len(line)
        while self.size > MAX_LOG_BYTES and self.lines:
            self.size -= len(self.lines.popleft())
        self.messages += 1
        self.arrived.set()


Key = tuple[str, str]
"""``(node address lowercase, lease id)``."""


class Deployments:
    """Offers, manifests, closes and log requests for the gateway's leases.

    Args:
        sessions, leases, ports: the gateway's live sessions, lease book and public ports.
        public_host: the address published in ``forwarded_ports``.
        gateway_id: this gateway's provider id (a chain lease must be matched to it).
        chain_leases: reads leases on chain; ``None``: every deployment names its node.
        sync_ports: makes a lease's public listeners match it (the server's).
        offer_timeout, logs_timeout: how long a node has to answer.
    """

    def __init__(
        self,
        *,
        sessions: SessionRegistry,
        leases: LeaseBook,
        ports: PublicPorts,
        public_host: str,
        gateway_id: int,
        chain_leases: ChainLeases | None,
        sync_ports: Callable[[Lease], Awaitable[None]],
        offer_timeout: float = OFFER_TIMEOUT_S,
        logs_timeout: float = LOGS_TIMEOUT_S,
    ) -> None:
        self.sessions = sessions
        self.leases = leases
        self.ports = ports
        self.public_host = public_host
        self.gateway_id = gateway_id
        self.chain_leases = chain_leases
        self.sync_ports = sync_ports
        self.offer_timeout = offer_timeout
        self.logs_timeout = logs_timeout
        self._offers: dict[Key, _Offer] = {}
        self._records: dict[Key, Deployment] = {}
        self._usage: dict[Key, Usage] = {}
        self._log_replies: dict[Key, _LogReply] = {}
        self._log_locks: dict[Key, asyncio.Lock] = {}
        self._stopping = False

    # ---- Tenant requests

    async def deploy(
        self,
        lease_id: str,
        services: Sequence[Mapping[str, Any]],
        *,
        node: str | None = None,
        order_id: int = 0,
        price_per_block: str = "0",
        timeout: float | None = None,
    ) -> Lease:
        """Offer the lease to its node and, once accepted, send the manifest (module docstring).

        Returns:
            The lease as recorded (``pending`` until the node reports progress).

        Raises:
            DeploymentError: 400 bad input; 404 no such lease on chain and no node given;
                409 rejected by the node (its reason), already deployed or ended, terminated on
                chain, or matched to another gateway; 413 a manifest over the tunnel's 64 KiB;
                503 the node is not connected or the chain cannot be read; 504 no answer.
        """
        if self._stopping:
            raise DeploymentError(503, "the gateway is shutting down")
        if not isinstance(lease_id, str) or not _LEASE_ID.fullmatch(lease_id):
            raise _bad(f"{str(lease_id)[:40]!r} is not a lease id (1-128 of 0-9 A-Z a-z . _ : -)")
        _check_services(services)
        if not _DECIMAL.fullmatch(price_per_block):
            raise _bad(f"price_per_block {price_per_block[:40]!r} is not a decimal number")
        target, order_id, price_per_block = await self._resolve(
            lease_id, node, order_id, price_per_block
        )
        key = (target.lower(), lease_id)
        session = self.sessions.open_session(target)
        if session is None:
            raise DeploymentError(503, f"node {target} is not connected to this gateway")
        if key in self._offers:
            raise DeploymentError(409, f"lease {lease_id} is being offered to {target} already")
        existing = self.leases.get(target, lease_id)
        if existing is not None:
            if existing.active:
                raise DeploymentError(
                    409, f"lease {lease_id} is already on node {target} ({existing.state})"
                )
            raise DeploymentError(
                409, f"lease {lease_id} has ended ({existing.state}): a new lease needs a new id"
            )
        manifest = Manifest(lease_id=lease_id, services=tuple(dict(s) for s in services))
        _check_encodable(manifest)
        offer = LeaseOffer(
            lease_id=lease_id,
            order_id=order_id,
            price_per_block=price_per_block,
            resources=_offered_resources(services),
        )
        _check_encodable(offer)
        deployment = Deployment(
            lease_id=lease_id,
            node=target,
            order_id=order_id,
            price_per_block=price_per_block,
            services=tuple(ServiceSummary.of(s) for s in services),
        )
        answer: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        pending = _Offer(session, deployment, manifest, answer)
        if not session.connection.send_control(offer):
            raise DeploymentError(503, f"node {target} is not connected to this gateway")
        self._offers[key] = pending
        log.info("lease %s offered to %s", lease_id, target)
        wait = self.offer_timeout if timeout is None else timeout
        try:
            await asyncio.wait({answer}, timeout=wait)
        finally:
            if self._offers.get(key) is pending:
                del self._offers[key]
        if not answer.done():
            answer.cancel()
            # A late accept must not leave the node holding an empty lease.
            session.connection.send_control(
                LeaseClose(lease_id=lease_id, reason="the offer timed out on the gateway")
            )
            raise DeploymentError(
                504, f"node {target} did not answer the offer of lease {lease_id} in {wait:g} s"
            )
        return answer.result()

    async def close_lease(
        self, lease_id: str, reason: str = "closed by the tenant", *, node: str | None = None
    ) -> Lease:
        """End a lease: the node is sent ``lease_close`` (now, or told ``close`` when it logs in
        again) and the lease's public ports are released. Closing an ended lease changes
        nothing and returns it.

        Raises:
            DeploymentError: 404 no such lease; 409 the id is used by several nodes (name one).
        """
        reason = reason[:1024] or "closed by the tenant"
        offered = self._find_offer(lease_id, node)
        if offered is not None:
            key, pending = offered
            del self._offers[key]
            deployment = pending.deployment
            pending.answer.set_exception(
                DeploymentError(409, f"lease {lease_id} was closed while it was being offered")
            )
            pending.answer.exception()  # retrieved: the deploy call may be gone already
            if pending.session.is_open:
                pending.session.connection.send_control(
                    LeaseClose(lease_id=lease_id, reason=reason)
                )
            # Recorded as closed, so a status the node sends anyway is answered lease_close.
            try:
                lease = self.leases.open(deployment.node, lease_id)
            except (LeaseLimitError, ValueError) as error:
                raise DeploymentError(409, str(error)) from None
            self.leases.close(deployment.node, lease_id, reason)
            self._records[key] = deployment
            return lease
        lease = self.find(lease_id, node)
        if not lease.active:
            return lease
        self.leases.close(lease.node, lease_id, reason)
        session = self.sessions.open_session(lease.node)
        if session is not None:
            session.connection.send_control(LeaseClose(lease_id=lease_id, reason=reason))
        log.info("lease %s of %s closed: %s", lease_id, lease.node, reason)
        await self.sync_ports(lease)
        return lease

    def credit(self, lease_id: str, amount: str, token: str, *, node: str | None = None) -> bool:
        """Tell the lease's node what it has earned so far: ``amount`` is the lease's
        **cumulative** total in whole tokens (PROTOCOL.md, ``earnings``), sent after the
        gateway credited it on chain. Returns False while the node is away (send the total
        again later: the node books only increases).

        Raises:
            DeploymentError: 404 no such lease; 409 the id is used by several nodes.
        """
        lease = self.find(lease_id, node)
        session = self.sessions.open_session(lease.node)
        if session is None:
            return False
        return bool(
            session.connection.send_control(Earnings(lease_id=lease_id, amount=amount, token=token))
        )

    async def lease_logs(
        self, lease_id: str, tail: int = 100, *, node: str | None = None
    ) -> list[str]:
        """The lease's last ``tail`` log lines, asked of its node (``logs_request``); ``tail``
        0 asks for every line the node keeps.

        Raises:
            DeploymentError: 400 bad tail; 404 no such lease; 409 ambiguous id; 503 the node is
                not connected (or left while answering); 504 it did not answer in time.
        """
        if isinstance(tail, bool) or not isinstance(tail, int) or not 0 <= tail <= 100_000:
            raise _bad("tail must be a whole number from 0 to 100000")
        lease = self.find(lease_id, node)
        key = (lease.node.lower(), lease_id)
        # Replies carry no request id: one request per lease at a time keeps them apart.
        lock = self._log_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                return await self._ask_logs(lease, key, tail)
        finally:
            if not lock.locked() and self._log_locks.get(key) is lock:
                del self._log_locks[key]

    def find(self, lease_id: str, node: str | None = None) -> Lease:
        """The lease with this id (on ``node`` when given).

        Raises:
            DeploymentError: 400 bad node address; 404 unknown; 409 several nodes report that
                id (name the node).
        """
        if node is not None:
            lease = self.leases.get(_address(node), lease_id)
            if lease is None:
                raise DeploymentError(404, f"node {node} has no lease {lease_id} here")
            return lease
        found = self.leases.find(lease_id)
        if not found:
            raise DeploymentError(404, f"no lease {lease_id} on this gateway")
        active = [lease for lease in found if lease.active]
        if len(active) > 1 or (not active and len(found) > 1):
            raise DeploymentError(
                409, f"lease id {lease_id} is used on several nodes: name one (?node=0x…)"
            )
        return found[0]

    def report(self, lease_id: str, node: str | None = None) -> dict[str, Any]:
        """The tenant's status view of a lease, in the real gateway's shape: ``services`` and
        ``forwarded_ports`` by service name, plus the lease's own fields.

        Raises:
            DeploymentError: as :meth:`find`.
        """
        lease = self.find(lease_id, node)
        key = (lease.node.lower(), lease_id)
        record = self._records.get(key)
        summaries = record.services if record is not None else ()
        names = [s.name for s in summaries] or [lease_id]
        ready = lease.running
        services = {
            summary.name: _service_status(summary.name, summary.count, ready)
            for summary in summaries
        } or {lease_id: _service_status(lease_id, 1, ready)}
        forwarded: dict[str, list[dict[str, Any]]] = {}
        exposes = [(s.name, port, proto) for s in summaries for port, proto in s.expose]
        if len(exposes) != len(lease.ports):
            exposes = [(names[0], port, "TCP") for port in lease.ports]
        for (name, port, proto), local in zip(exposes, lease.ports, strict=True):
            public = self.ports.assigned(lease.node, lease_id, local)
            if public is None:
                continue
            forwarded.setdefault(name, []).append(
                {
                    "host": self.public_host,
                    "port": local if port is None else port,
                    "externalPort": public,
                    "proto": proto,
                    "name": name,
                    "available": 1 if self.ports.listening(lease.node, lease_id, local) else 0,
                }
            )
        usage = self._usage.get(key)
        return {
            "lease_id": lease_id,
            "node": lease.node,
            "state": lease.state,
            "reason": lease.reason,
            "order_id": None if record is None else record.order_id,
            "price_per_block": None if record is None else record.price_per_block,
            "services": services,
            "forwarded_ports": forwarded,
            "usage": None if usage is None else _usage_entry(usage),
        }

    # ---- Node messages (called by the server)

    def answer(self, session: Session, message: LeaseAccept | LeaseReject) -> bool:
        """Handle ``lease_accept``/``lease_reject``; False if no offer of ours was waiting."""
        key = (session.address.lower(), message.lease_id)
        pending = self._offers.get(key)
        if pending is None or pending.session is not session or pending.answer.done():
            return False
        del self._offers[key]
        deployment = pending.deployment
        if isinstance(message, LeaseReject):
            reason = message.reason
            log.info("lease %s rejected by %s: %s", message.lease_id, session.address, reason)
            session.last_rejection = (time.monotonic(), reason)
            pending.answer.set_exception(
                DeploymentError(
                    409,
                    f"node {session.address} rejected lease {message.lease_id}: {message.reason}",
                )
            )
            return True
        try:
            lease = self.leases.open(session.address, message.lease_id)
        except (LeaseLimitError, ValueError) as error:
            refusal = LeaseClose(lease_id=message.lease_id, reason=str(error))
            session.connection.send_control(refusal)
            pending.answer.set_exception(DeploymentError(409, str(error)))
            return True
        self._records[key] = deployment
        self._trim()
        # Queued in this same step: nothing the node sends next can get ahead of it.
        session.connection.send_control(pending.manifest)
        log.info("lease %s accepted by %s; manifest sent", message.lease_id, session.address)
        pending.answer.set_result(lease)
        return True

    def logs(self, session: Session, message: LeaseLogs) -> bool:
        """Handle ``lease_logs``; False if nobody asked for them."""
        reply = self._log_replies.get((session.address.lower(), message.lease_id))
        if reply is None or reply.session is not session:
            return False
        reply.add(message.lines)
        return True

    def usage(self, session: Session, message: Usage) -> None:
        """Keep the lease's latest ``usage`` (only for leases in the book)."""
        if self.leases.get(session.address, message.lease_id) is not None:
            self._usage[(session.address.lower(), message.lease_id)] = message
            self._trim()

    def usage_of(self, lease: Lease) -> dict[str, Any] | None:
        """The lease's latest usage report, for ``/status``."""
        usage = self._usage.get((lease.node.lower(), lease.lease_id))
        return None if usage is None else _usage_entry(usage)

    def session_ended(self, session: Session) -> None:
        """Fail what waits on this session: its offers and log requests."""
        for key, pending in list(self._offers.items()):
            if pending.session is session:
                del self._offers[key]
                pending.answer.set_exception(
                    DeploymentError(
                        503,
                        f"node {session.address} disconnected before answering the "
                        f"offer of lease {key[1]}",
                    )
                )
        for reply in self._log_replies.values():
            if reply.session is session:
                reply.gone = True
                reply.arrived.set()

    def stop(self) -> None:
        """Fail every waiting request (the gateway is stopping)."""
        self._stopping = True
        for pending in self._offers.values():
            pending.answer.set_exception(DeploymentError(503, "the gateway is shutting down"))
        self._offers.clear()
        for reply in self._log_replies.values():
            reply.gone = True
            reply.arrived.set()

    def start(self) -> None:
        self._stopping = False

    # ---- Persistence

    def to_json(self) -> list[dict[str, Any]]:
        return [record.to_json() for record in self._records.values()]

    def restore(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Load :meth:`to_json`'s output (replaces the records)."""
        self._records = {}
        for row in rows:
            record = Deployment.from_json(row)
            self._records[(record.node.lower(), record.lease_id)] = record

    # ---- Private

    async def _resolve(
        self, lease_id: str, node: str | None, order_id: int, price: str
    ) -> tuple[str, int, str]:
        """The node, order id and price of the lease (see the module docstring)."""
        wanted = None if node is None else _address(node)
        number = chain_lease_number(lease_id)
        if number is None or self.chain_leases is None:
            if wanted is None:
                raise DeploymentError(
                    404, f"lease {lease_id} cannot be looked up on chain: name its node (?node=0x…)"
                )
            return wanted, order_id, price
        try:
            found = await self.chain_leases.get(number)
            wallet = await self.chain_leases.gateway_wallet(self.gateway_id)
        except ChainLeaseError as error:
            if wanted is None:
                raise DeploymentError(
                    503, f"{error}; retry, or name the node (?node=0x…)"
                ) from None
            log.warning("%s; deploying to %s as asked", error, wanted)
            return wanted, order_id, price
        if found is None:
            if wanted is None:
                raise DeploymentError(
                    404,
                    f"lease {lease_id} is not on chain: name its node (?node=0x…) to "
                    "deploy it without a chain lease",
                )
            return wanted, order_id, price
        if not found.active:
            raise DeploymentError(409, f"lease {lease_id} is terminated on chain")
        if found.provider.lower() != wallet.lower():
            raise DeploymentError(
                409,
                f"lease {lease_id} was matched to gateway {found.provider}, not this one "
                f"({wallet})",
            )
        if found.node == Web3.to_checksum_address(_ZERO):
            text = f"node {found.fizz_id} of lease {lease_id} has left the registry"
            raise DeploymentError(409, text)
        if wanted is not None and wanted.lower() != found.node.lower():
            raise _bad(f"lease {lease_id} belongs to node {found.node} on chain, not {wanted}")
        return found.node, found.order_id, str(found.accepted_price)

    def _find_offer(self, lease_id: str, node: str | None) -> tuple[Key, _Offer] | None:
        for key, pending in self._offers.items():
            if key[1] == lease_id and (node is None or key[0] == node.lower()):
                return key, pending
        return None

    async def _ask_logs(self, lease: Lease, key: Key, tail: int) -> list[str]:
        session = self.sessions.open_session(lease.node)
        if session is None:
            raise DeploymentError(503, f"node {lease.node} is not connected to this gateway")
        reply = _LogReply(session)
        self._log_replies[key] = reply
        try:
            if not session.connection.send_control(LogsRequest(lease_id=key[1], tail=tail)):
                raise DeploymentError(503, f"node {lease.node} is not connected to this gateway")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.logs_timeout
            while True:
                left = deadline - loop.time()
                wait = left if reply.messages == 0 else min(LOGS_QUIET_S, left)
                if wait <= 0:
                    break
                try:
                    await asyncio.wait_for(reply.arrived.wait(), wait)
                except TimeoutError:
                    break
                reply.arrived.clear()
                if reply.gone or (tail and len(reply.lines) >= tail):
                    break
        finally:
            del self._log_replies[key]
        if reply.gone:
            raise DeploymentError(503, f"node {lease.node} left before sending the logs")
        if reply.messages == 0:
            raise DeploymentError(
                504, f"node {lease.node} sent no logs of lease {key[1]} in {self.logs_timeout:g} s"
            )
        lines = list(reply.lines)
        return lines[-tail:] if tail else lines

    def _trim(self) -> None:
        """Forget records and usage of leases the book has pruned (bounded memory)."""
        if len(self._records) + len(self._usage) <= 2 * len(self.leases) + 64:
            return
        for table in (self._records, self._usage):
            for key in [k for k in table if self.leases.get(k[0], k[1]) is None]:
                del table[key]


def _address(node: str) -> str:
    if not isinstance(node, str) or not _ADDRESS.fullmatch(node):
        raise _bad(f"unknown node {str(node)[:60]!r}: not a wallet address (0x + 40 hex)")
    return Web3.to_checksum_address(node)


def _offered_resources(services: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def resources(service: Mapping[str, Any]) -> dict[str, Any]:
        value = service.get("resources")
        return dict(value) if isinstance(value, dict) else {}

    if len(services) == 1:
        return resources(services[0])
    return {
        "services": [
            {"name": s.get("name"), "count": s.get("count", 1), "resources": resources(s)}
            for s in services
        ]
    }


def _check_encodable(message: LeaseOffer | Manifest) -> None:
    """Refuse what the tunnel cannot carry, before the node hears anything."""
    try:
        encode_message(message)
    except ValueError as error:
        size = len(
            json.dumps(message.to_obj(), separators=(",", ":"), default=str).encode(
                "utf-8", "surrogatepass"
            )
        )
        if size > MAX_CONTROL_BYTES:
            raise DeploymentError(
                413,
                f"the {message.type} is {size} bytes; the tunnel carries at most "
                f"{MAX_CONTROL_BYTES} per message",
            ) from None
        raise _bad(f"the manifest cannot be sent: {error}") from None


def _service_status(name: str, count: int, ready: bool) -> dict[str, Any]:
    replicas = count if ready else 0
    return {
        "name": name,
        "available": replicas,
        "total": count,
        "uris": [],
        "observed_generation": 1,
        "replicas": count,
        "updated_replicas": count,
        "ready_replicas": replicas,
        "available_replicas": replicas,
    }


def _usage_entry(usage: Usage) -> dict[str, Any]:
    entry = usage.to_obj()
    del entry["type"], entry["lease_id"]
    return entry
