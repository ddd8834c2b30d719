"""The node's lease desk: answers the gateway's lease messages with the lease manager, and
reports every lease change back through the link.

The engine creates one :class:`GatewayDesk` per run and hands it to
:class:`~fizz_app.core.tunnel.GatewayLink` as its ``desk``. The desk

- accepts an offer only when the node takes leases now (policy, user), the resources fit what
  is free, and the price is at least the node's own ask for them;
- runs the manifest's one service through :meth:`LeaseManager.submit`, and reports a refused
  manifest as a failed lease with the reason;
- turns lease changes (made in worker threads) into ``lease_status`` messages on the loop, with
  the 127.0.0.1 ports in the order of the manifest's ``expose`` list, and closes the lease with
  the gateway when the node ends it;
- sends cumulative ``usage`` for running leases when :meth:`report_usage` is called.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from .errors import UserFacingError
from .jobs.lease_store import Lease, LeaseState
from .jobs.leases import LeaseManager
from .jobs.manifest import JobManifest, ManifestError, Runtime, check_fits, parse_resources
from .tunnel import AnnouncedLease, OfferedLease

__all__ = ["GatewayDesk", "LinkPort", "MAX_LOG_BYTES"]

log = logging.getLogger(__name__)

MAX_LOG_BYTES = 48 * 1024
"""Log lines sent in one ``lease_logs`` message at most (control messages are capped at 64 KiB)."""


class LinkPort(Protocol):
    """What the desk needs of :class:`~fizz_app.core.tunnel.GatewayLink`."""

    def send_status(
        self, lease_id: str, state: str, ports: tuple[int, ...] = (), reason: str | None = None
    ) -> bool: ...

    def send_usage(
        self,
        lease_id: str,
        *,
        cpu_seconds: float,
        memory_peak_bytes: int,
        bytes_in: int,
        bytes_out: int,
        at: float,
    ) -> bool: ...

    def send_close(self, lease_id: str, reason: str) -> bool: ...

    def report_capacity(self) -> bool: ...


@dataclass(frozen=True)
class _Expose:
    ports: tuple[int, ...]
    """The manifest's exposed ports, in order."""


def _expose_order(service: dict[str, Any]) -> tuple[int, ...]:
    ports: list[int] = []
    for entry in service.get("expose") or ():
        port = entry.get("port") if isinstance(entry, dict) else None
        if isinstance(port, int) and not isinstance(port, bool):
            ports.append(port)
    return tuple(ports)


class GatewayDesk:
    """Args:
    manager: the lease manager (its ``on_change`` must call :meth:`lease_changed`).
    refusal: returns why the node takes no new lease now (a policy rule, the user paused
        it), or ``None`` when it does.
    ask_per_block: the node's price for the given resources, in token base units per
        block; ``None`` when it has no price (any offer is accepted).
    on_earned: called with (lease id, cumulative amount, token) from the gateway.
    clock: Unix time, for usage reports.
    on_connected: called with the fizz id after every login (send prices then).
    """

    def __init__(
        self,
        manager: LeaseManager,
        *,
        refusal: Callable[[], str | None],
        ask_per_block: Callable[[JobManifest], Decimal | None],
        on_earned: Callable[[str, str, str], None],
        clock: Callable[[], float],
        on_connected: Callable[[int], None] | None = None,
    ) -> None:
        self._manager = manager
        self._refusal = refusal
        self._ask = ask_per_block
        self._on_earned = on_earned
        self._clock = clock
        self._on_connected = on_connected
        self._link: LinkPort | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expose: dict[str, _Expose] = {}
        self._reported: dict[str, LeaseState] = {}
        self.market_refusal: tuple[str, float] | None = None
        """The last offer refused for its price or size (what the market asks that this node
        does not give), with its time: "why no jobs?" shows it."""

    def attach(self, link: LinkPort, loop: asyncio.AbstractEventLoop) -> None:
        """Send through ``link``; lease changes from worker threads are handled on ``loop``."""
        self._link, self._loop = link, loop

    # ---- lease manager side (any thread) ----------------------------------------------------

    def lease_changed(self, lease: Lease) -> None:
        """The lease manager's ``on_change``: report the lease on the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._report, lease)
        except RuntimeError:  # the loop closed meanwhile: the next login announces the truth
            pass

    def _report(self, lease: Lease) -> None:
        link = self._link
        if link is None:
            return
        previous = self._reported.get(lease.lease_id)
        self._reported[lease.lease_id] = lease.state
        if previous is lease.state and lease.state is not LeaseState.RUNNING:
            return
        ports = self._ordered_ports(lease) if lease.state is LeaseState.RUNNING else ()
        link.send_status(lease.lease_id, lease.state.value, ports, lease.reason or None)
        if not lease.active:
            link.send_close(lease.lease_id, lease.reason or lease.state.value)
            self._expose.pop(lease.lease_id, None)
            self._reported.pop(lease.lease_id, None)
        if previous is None or not lease.active or lease.state is LeaseState.RUNNING:
            link.report_capacity()  # what is available changed

    def _ordered_ports(self, lease: Lease) -> tuple[int, ...]:
        exposed = self._expose.get(lease.lease_id)
        order = exposed.ports if exposed else tuple(sorted(lease.ports))
        return tuple(lease.ports[port] for port in order if port in lease.ports)

    # ---- the LeaseDesk protocol (on the loop) -----------------------------------------------

    def announced(self) -> list[AnnouncedLease]:
        return [
            AnnouncedLease(lease.lease_id, self._ordered_ports(lease), lease.state.value)
            for lease in self._manager.leases(active_only=True)
            if lease.state is LeaseState.RUNNING
        ]

    async def connected(self, fizz_id: int) -> None:
        log.info("lease desk open for fizz node %d", fizz_id)
        if self._on_connected is not None:
            self._on_connected(fizz_id)
        for lease in self._manager.leases(active_only=True):
            if lease.state is not LeaseState.RUNNING:  # running ones were announced at login
                self._reported.pop(lease.lease_id, None)
                self._report(lease)

    async def offered(self, offer: OfferedLease) -> str | None:
        refusal = self._refusal()
        if refusal is not None:
            return refusal
        if self._manager.get(offer.lease_id) is not None:
            return f"lease {offer.lease_id} is already known to this node"
        try:
            wanted = parse_resources(offer.resources)
            # free_capacity pings the container engine: never on the loop.
            free = await asyncio.to_thread(self._manager.free_capacity)
            if not free.runtimes:
                return "no job runtime is available on this node right now"
            # The offer does not say which runtime the manifest will ask for: judge sizes only.
            check_fits(wanted, dataclasses.replace(free, runtimes=frozenset(Runtime)))
        except ManifestError as error:
            if error.code == "exceeds_offer":
                self.market_refusal = (f"an order asked for more: {error.message}", self._clock())
            return str(error)
        ask = self._ask(wanted)
        if ask is not None:
            try:
                offered = Decimal(offer.price_per_block)
            except InvalidOperation:
                return f"the offered price {offer.price_per_block!r} is not a number"
            if offered < ask:
                ask_text = f"{ask.quantize(Decimal('0.000001'))}".rstrip("0").rstrip(".")
                self.market_refusal = (
                    f"an order paid {offered} per block, below your price of {ask_text}",
                    self._clock(),
                )
                return f"the offered price {offered} per block is below this node's {ask_text}"
        log.info("accepting lease %s (order %d)", offer.lease_id, offer.order_id)
        return None

    async def manifest(self, lease_id: str, services: list[dict[str, Any]]) -> None:
        link = self._link
        if len(services) != 1:
            reason = f"a Fizz node runs exactly one service per lease, got {len(services)}"
            self._refuse(lease_id, reason)
            return
        service = services[0]
        # Known before the job can report "running" from its worker thread.
        self._expose[lease_id] = _Expose(_expose_order(service))
        try:
            lease = await asyncio.to_thread(self._manager.submit, lease_id, service)
        except UserFacingError as error:  # ManifestError, LeaseError
            log.warning("lease %s refused: %s", lease_id, error)
            self._expose.pop(lease_id, None)
            self._refuse(lease_id, str(error))
            return
        if link is not None and lease.state is LeaseState.RUNNING:
            self._report(lease)

    def _refuse(self, lease_id: str, reason: str) -> None:
        if self._link is not None:
            self._link.send_status(lease_id, LeaseState.FAILED.value, (), reason[:200])
            self._link.send_close(lease_id, reason)

    async def closed_by_gateway(self, lease_id: str, reason: str) -> None:
        lease = self._manager.get(lease_id)
        if lease is None or not lease.active:
            return
        log.info("the gateway closed lease %s: %s", lease_id, reason)
        self._reported[lease_id] = lease.state  # the gateway knows: no lease_close back
        await asyncio.to_thread(self._manager.close, lease_id)

    def logs(self, lease_id: str, tail: int) -> list[str]:
        lines: list[str] = []
        size = 0
        for line in reversed(self._manager.logs(lease_id, tail=max(1, min(tail, 1000)))):
            text = f"[{line.source}] {line.text}"[:2000]
            size += len(text.encode()) + 8
            if size > MAX_LOG_BYTES:
                break
            lines.append(text)
        return lines[::-1]

    async def earned(self, lease_id: str, amount: str, token: str) -> None:
        self._on_earned(lease_id, amount, token)

    # ---- periodic ---------------------------------------------------------------------------

    def notify_stopping(self, reason: str, seconds: int) -> None:
        """Warn the gateway that every running lease stops in ``seconds`` (the owner's policy
        says so): a ``lease_status`` still ``running``, with the reason."""
        link = self._link
        if link is None:
            return
        for lease in self._manager.leases(active_only=True):
            if lease.state is LeaseState.RUNNING:
                note = f"stopping in {seconds} s: {reason}"
                link.send_status(lease.lease_id, "running", self._ordered_ports(lease), note[:200])

    def report_usage(self) -> None:
        """Send every running lease's cumulative usage (call every ~10 s)."""
        link = self._link
        if link is None:
            return
        now = self._clock()
        for lease in self._manager.leases(active_only=True):
            if lease.state is LeaseState.RUNNING:
                link.send_usage(
                    lease.lease_id,
                    cpu_seconds=lease.usage.cpu_seconds,
                    memory_peak_bytes=lease.usage.peak_memory_bytes,
                    bytes_in=lease.usage.bytes_in,
                    bytes_out=lease.usage.bytes_out,
                    at=now,
                )
