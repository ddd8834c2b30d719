"""The node's link to its gateway: the only module of the core that uses ``gateway_client``.

:class:`GatewayLink` finds the gateway's address and certificate on chain (ProviderRegistry),
pins that certificate, logs in with the node's wallet, reports the node's capacity, keeps the
session alive and reconnects with backoff. Run it as a task of the engine::

    gateway = chain.gateway(provider_id)   # ProviderRegistry: hostUri and certificate
    link = GatewayLink(gateway.provider_id, gateway.host_uri, gateway.certificate,
                       signer=wallet, capacity=lambda: report, leases=lambda: [])
    task = asyncio.create_task(link.run())   # raises GatewayRefused when refused for good
    ...
    link.stop(); await task

The pin never loosens: when the gateway presents another certificate, every reconnect fails
and :meth:`GatewayLink.certificate_rejected` returns; the engine then builds a new link if the
chain publishes a new certificate (a renewal), and reports the mismatch otherwise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from gateway_client.backoff import ReconnectPolicy
from gateway_client.client import Connection, FatalSessionError, NodeClient, SpeedTestError
from gateway_client.exceptions import close_message
from gateway_client.messages import (
    Capacity,
    ClientInfo,
    Earnings,
    ErrorNotice,
    GpuInfo,
    LeaseAccept,
    LeaseAction,
    LeaseAnnouncement,
    LeaseClose,
    LeaseLogs,
    LeaseOffer,
    LeaseReject,
    LeaseStatus,
    LogsRequest,
    Manifest,
    Message,
    Prices,
    Resources,
    Usage,
)
from gateway_client.protocol import (
    ControlReceived,
    Event,
    HeartbeatAcked,
    SessionClosing,
    TunnelConfig,
    Welcomed,
)
from gateway_client.speedtest import DEFAULT_TEST_BYTES

from .. import __version__
from .errors import UserFacingError
from .pinning import pinned_client_context
from .report import BandwidthInfo

__all__ = [
    "AnnouncedLease",
    "LeaseDesk",
    "OfferedLease",
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_TEST_BYTES",
    "BandwidthTestFailed",
    "GatewayRefused",
    "GatewayLink",
    "LinkState",
    "MessageSigner",
    "RECHECK_AFTER_FAILURES",
    "gateway_url",
]

log = logging.getLogger(__name__)

DEFAULT_GATEWAY_PORT = 8544
"""The real network's gateway WebSocket port (spheron-network.md 5.3)."""

RECHECK_AFTER_FAILURES = 3
"""Failed connection attempts in a row (other than certificate errors) after which
:meth:`GatewayLink.unreachable` returns: the gateway may have moved to another address."""


class MessageSigner(Protocol):
    """The unlocked wallet: signs text with EIP-191."""

    @property
    def address(self) -> str: ...

    def sign_message(self, text: str) -> str: ...


@dataclass(frozen=True)
class OfferedLease:
    """A gateway's ``lease_offer``: answer through :meth:`LeaseDesk.offered`."""

    lease_id: str
    order_id: int
    price_per_block: str
    """What the tenant pays, in the token's base units per block (a decimal string)."""
    resources: dict[str, Any]
    """The service's ``resources`` as the real manifest writes them."""


@dataclass(frozen=True)
class AnnouncedLease:
    """A lease the node runs, announced at every login so the gateway can reconcile."""

    lease_id: str
    ports: tuple[int, ...] = ()
    state: str = "running"


class LeaseDesk(Protocol):
    """The engine's side of the lease conversation; the link calls it for every lease message
    and turns the answers into protocol messages. Methods must return quickly."""

    def announced(self) -> list[AnnouncedLease]:
        """The leases to announce at login (resumption)."""
        ...

    async def connected(self, fizz_id: int) -> None:
        """A session is open (after every login): resend prices and lease states."""
        ...

    async def offered(self, offer: OfferedLease) -> str | None:
        """Accept (``None``) or refuse (the reason, in plain words) a lease."""
        ...

    async def manifest(self, lease_id: str, services: list[dict[str, Any]]) -> None:
        """Run the lease's services; report progress with :meth:`GatewayLink.send_status`."""
        ...

    async def closed_by_gateway(self, lease_id: str, reason: str) -> None:
        """The gateway ended the lease (or, at login, no longer counts it): stop it."""
        ...

    def logs(self, lease_id: str, tail: int) -> list[str]:
        """The lease's last ``tail`` log lines."""
        ...

    async def earned(self, lease_id: str, amount: str, token: str) -> None:
        """The gateway credited ``amount`` (cumulative for the lease) in ``token``."""
        ...


class GatewayRefused(UserFacingError):
    """The gateway refused this node for good (not registered, not linked to it, already
    running on another device...): reconnecting cannot help until the user acts."""

    def __init__(self, code: int, reason: str) -> None:
        remedies = {
            4003: "Register this node first.",
            4004: "Link the node to this gateway (or pick its own gateway) in Settings.",
            4006: "Stop Fizz Node on the other device, then start it here again.",
            4001: "Update Fizz Node to the newest version.",
            4002: "Re-import the node's wallet; if it keeps happening, report it.",
        }
        super().__init__(close_message(code), remedies.get(code, ""))
        self.code = code
        self.reason = reason


class BandwidthTestFailed(UserFacingError):
    """The gateway's speed test gave no figure (not connected, the gateway runs none, or it
    failed or timed out). The last saved measurement, if any, still stands."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            reason,
            "Check the connection to the gateway and try again later; an older gateway may "
            "not run speed tests at all.",
        )


def gateway_url(host_uri: str) -> str:
    """Turn a published ``hostUri`` into the WebSocket URL to dial.

    ``wss://host:port`` and ``ws://host:port`` are used as they are; a bare host gets
    ``wss://`` and the real network's port 8544.

    Raises:
        UserFacingError: an unusable address, or plain ``ws://`` to a host that is not this
            machine (the login would travel unencrypted).
    """
    text = host_uri.strip()
    if "://" not in text:
        text = f"wss://{text}:{DEFAULT_GATEWAY_PORT}"
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UserFacingError(
            f"The gateway publishes an address this app cannot use ({host_uri!r}).",
            "Choose another gateway.",
        )
    if parts.scheme == "ws" and not _is_loopback(parts.hostname):
        raise UserFacingError(
            f"The gateway at {parts.hostname} offers no encryption (ws://).",
            "Choose another gateway: only a local development gateway may skip TLS.",
        )
    return text


def _is_certificate_error(error: BaseException | None) -> bool:
    """True for a TLS handshake that failed because the peer's certificate did not verify
    against the pin (not for a refused or dropped connection)."""
    return isinstance(error, ssl.SSLCertVerificationError)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def capacity_message(report: dict[str, Any]) -> Capacity:
    """Build the ``capacity`` message from :func:`fizz_app.core.offer.capacity_report`."""

    def resources(part: dict[str, Any]) -> Resources:
        return Resources(
            cpu=int(part["cpu"]),
            memory=int(part["memory"]),
            storage_ephemeral=int(part["storage_ephemeral"]),
            gpu=int(part["gpu"]),
            gpu_infos=tuple(GpuInfo(**info) for info in part.get("gpu_infos") or ()),
        )

    return Capacity(
        allocatable=resources(report["allocatable"]),
        available=resources(report["available"]),
        bandwidth=report["bandwidth"],
        version=report["version"],
        os=report["os"],
        arch=report["arch"],
        cuda_version=report["cuda_version"],
        nvidia_driver_version=report["nvidia_driver_version"],
    )


@dataclass(frozen=True)
class LinkState:
    """What the link is doing, for the snapshot."""

    connected: bool
    fizz_id: int | None
    attempts: int
    last_rtt: float | None
    last_close: str
    """The last reason the session ended, in words ("" before any)."""
    certificate_rejected: bool = False
    """The latest connection attempt failed because the gateway's certificate is not the
    pinned one (see :meth:`GatewayLink.certificate_rejected`)."""


class GatewayLink:
    """Keeps this node logged in to ``gateway``.

    Args:
        provider_id: the gateway's on-chain id (for logs).
        host_uri: where it listens, as ProviderRegistry publishes it (see :func:`gateway_url`).
        certificate: its published TLS certificate (PEM), pinned; unused for ``ws://``.
        signer: the node's unlocked wallet.
        capacity: returns the current status report
            (:func:`fizz_app.core.offer.capacity_report`), sent after every login.
        leases: returns the leases running now, announced at every login (resumption).
        on_message: awaited for each control message from the gateway (lease offers,
            manifests, earnings notices...).
        instance_id: this installation's random id, so a reconnect replaces a lingering
            session instead of being refused as "another device"; a fresh one by default.
        policy, config: reconnect delays and protocol settings (tests shorten them).
    """

    def __init__(
        self,
        provider_id: int,
        host_uri: str,
        certificate: str,
        *,
        signer: MessageSigner,
        capacity: Callable[[], dict[str, Any]],
        leases: Callable[[], Iterable[LeaseAnnouncement]] = tuple,
        on_message: Callable[[Message], Awaitable[None]] | None = None,
        desk: LeaseDesk | None = None,
        instance_id: str | None = None,
        policy: ReconnectPolicy | None = None,
        config: TunnelConfig | None = None,
    ) -> None:
        url = gateway_url(host_uri)
        context = pinned_client_context(certificate) if url.startswith("wss") else None
        self.provider_id = provider_id
        self.host_uri = host_uri
        self.certificate = certificate
        """The pinned certificate (PEM), as published on chain when the link was built."""
        self.url = url
        self._rejected = asyncio.Event()
        self._unreachable = asyncio.Event()
        self._failures = 0
        """Failed connection attempts since the last login (certificate errors excluded)."""
        self._signer = signer
        self._capacity = capacity
        self._on_message = on_message
        self._desk = desk
        if desk is not None:

            def leases() -> list[LeaseAnnouncement]:
                return [
                    LeaseAnnouncement(lease_id=lease.lease_id, ports=lease.ports, state=lease.state)
                    for lease in desk.announced()
                ]

        self._fizz_id: int | None = None
        self._rtt: float | None = None
        self._last_close = ""
        self._client = NodeClient(
            url,
            address=signer.address,
            sign=self._sign,
            client=ClientInfo(
                name="fizz-node-desktop",
                version=__version__,
                instance_id=instance_id or secrets.token_hex(16),
            ),
            leases=leases,
            on_event=self._on_event,
            ssl_context=context,
            on_connect_error=self._on_connect_error,
            policy=policy,
            config=config,
        )

    @property
    def state(self) -> LinkState:
        connection = self._client.connection
        return LinkState(
            connected=connection is not None,
            fizz_id=self._fizz_id,
            attempts=self._client.attempts,
            last_rtt=self._rtt,
            last_close=self._last_close,
            certificate_rejected=_is_certificate_error(self._client.last_connect_error),
        )

    async def certificate_rejected(self) -> None:
        """Return once a connection attempt failed because the gateway presented another
        certificate than the pinned one (at once if one did since the last return).

        The link keeps retrying with the same pin, which cannot succeed: read the gateway
        from chain again, and build a new link when it published another certificate (a
        renewal); otherwise keep this one and tell the user (it may be an impostor).
        """
        await self._rejected.wait()
        self._rejected.clear()

    async def unreachable(self) -> None:
        """Return after every :data:`RECHECK_AFTER_FAILURES` connection attempts in a row that
        failed for another reason than the certificate (at once if that happened since the
        last return).

        The link keeps retrying the same address: read the gateway from chain again, and
        build a new link when it published another address (the gateway moved).
        """
        await self._unreachable.wait()
        self._unreachable.clear()

    def send(self, message: Message) -> bool:
        """Send a control message now; False while disconnected (the caller resends its state
        after the next login)."""
        return self._client.send_control(message)

    def report_capacity(self) -> bool:
        """Send the current capacity (after prices, limits or leases changed)."""
        return self.send(capacity_message(self._capacity()))

    def send_prices(self, fields: dict[str, Any]) -> bool:
        """Announce prices (:meth:`fizz_app.core.pricing.PriceSheet.prices_fields`)."""
        return self.send(Prices(**fields))

    def send_status(
        self, lease_id: str, state: str, ports: tuple[int, ...] = (), reason: str | None = None
    ) -> bool:
        """Report a lease's state; ``running`` with ``ports`` (127.0.0.1 ports, in the order
        of the manifest's ``expose`` list) lets the gateway open streams to exactly those."""
        return self.send(LeaseStatus(lease_id=lease_id, state=state, ports=ports, reason=reason))

    def send_usage(
        self,
        lease_id: str,
        *,
        cpu_seconds: float,
        memory_peak_bytes: int,
        bytes_in: int,
        bytes_out: int,
        at: float,
    ) -> bool:
        """Report a lease's cumulative use up to ``at`` (Unix time)."""
        return self.send(
            Usage(
                lease_id=lease_id,
                cpu_seconds=cpu_seconds,
                memory_peak_bytes=memory_peak_bytes,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                at=at,
            )
        )

    def send_close(self, lease_id: str, reason: str) -> bool:
        """Tell the gateway the node ended a lease (finished, failed, stopped)."""
        return self.send(LeaseClose(lease_id=lease_id, reason=reason[:200]))

    async def run(self) -> None:
        """Stay connected until :meth:`stop`.

        Raises:
            GatewayRefused: the gateway refused the node for good.
        """
        try:
            await self._client.run()
        except FatalSessionError as error:
            raise GatewayRefused(error.code, error.reason) from None

    def stop(self) -> None:
        self._client.stop()

    async def measure_bandwidth(
        self, nbytes: int = DEFAULT_TEST_BYTES, timeout: float = 60.0
    ) -> BandwidthInfo:
        """Run the gateway's speed test (down, then up) on the live session.

        Save the result with :func:`fizz_app.core.bandwidth.save_measurement` so the system
        check shows it, then :meth:`report_capacity` once the capacity report includes it.

        Args:
            nbytes: test bytes per direction; ``timeout``: seconds allowed per direction.

        Raises:
            BandwidthTestFailed: not connected, refused by the gateway, failed or too slow.
        """
        try:
            result = await self._client.speed_test(nbytes, timeout)
        except SpeedTestError as error:
            raise BandwidthTestFailed(str(error)) from None
        log.info(
            "speed test through gateway %d: %.1f Mbit/s down, %.1f up (%s)",
            self.provider_id,
            result.down_mbps,
            result.up_mbps,
            result.bucket,
        )
        return BandwidthInfo(
            measured=True,
            download_mbps=round(result.down_mbps, 1),
            upload_mbps=round(result.up_mbps, 1),
            bucket=result.bucket,
            measured_at=time.time(),
        )

    # ---- Private API

    def _on_connect_error(self, error: BaseException) -> None:
        if _is_certificate_error(error):
            self._rejected.set()
            return
        self._failures += 1
        if self._failures % RECHECK_AFTER_FAILURES == 0:
            self._unreachable.set()

    async def _sign(self, text: str) -> str:
        # Keyring-backed wallets may block (D-Bus): sign off the event loop.
        return await asyncio.to_thread(self._signer.sign_message, text)

    async def _on_event(self, connection: Connection, event: Event) -> None:
        if isinstance(event, Welcomed):
            self._fizz_id = event.welcome.fizz_id
            self._failures = 0
            log.info(
                "connected to gateway %d as fizz node %d",
                self.provider_id,
                event.welcome.fizz_id,
            )
            connection.send_control(capacity_message(self._capacity()))
            if self._desk is not None:
                for decision in event.welcome.leases:
                    if decision.action is LeaseAction.CLOSE:
                        await self._desk.closed_by_gateway(
                            decision.lease_id, "the gateway no longer counts this lease"
                        )
                await self._desk.connected(event.welcome.fizz_id)
        elif isinstance(event, HeartbeatAcked):
            self._rtt = event.rtt
        elif isinstance(event, SessionClosing):
            self._last_close = close_message(event.code)
            log.info("gateway session ended: %s (%s)", self._last_close, event.reason)
        elif isinstance(event, ControlReceived):
            if self._desk is not None:
                await self._to_desk(connection, self._desk, event.message)
            if self._on_message is not None:
                await self._on_message(event.message)

    async def _to_desk(self, connection: Connection, desk: LeaseDesk, message: Message) -> None:
        # A desk bug must cost one lease at most, never the session.
        try:
            if isinstance(message, LeaseOffer):
                offer = OfferedLease(
                    message.lease_id,
                    message.order_id,
                    message.price_per_block,
                    dict(message.resources),
                )
                refusal = await desk.offered(offer)
                answer: Message = (
                    LeaseAccept(lease_id=message.lease_id)
                    if refusal is None
                    else LeaseReject(lease_id=message.lease_id, reason=refusal[:200])
                )
                connection.send_control(answer)
            elif isinstance(message, Manifest):
                await desk.manifest(message.lease_id, [dict(s) for s in message.services])
            elif isinstance(message, LeaseClose):
                await desk.closed_by_gateway(message.lease_id, message.reason)
            elif isinstance(message, LogsRequest):
                lines = desk.logs(message.lease_id, message.tail)
                connection.send_control(LeaseLogs(lease_id=message.lease_id, lines=tuple(lines)))
            elif isinstance(message, Earnings):
                await desk.earned(message.lease_id, message.amount, message.token)
            elif isinstance(message, ErrorNotice):
                log.warning("gateway %d says: %s", self.provider_id, message)
        except Exception:
            log.exception("handling %s from the gateway failed", message.type)
