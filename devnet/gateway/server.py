"""The reference gateway: the WebSocket endpoint nodes log in to, ``GET /status``, public
ports carried through the tunnel to the nodes' leases, and the tenant API that gives nodes
their leases (:mod:`devnet.gateway.tenant_api`, :mod:`devnet.gateway.deployments`).

One :class:`~gateway_client.client.Connection` per node session. Logins are verified in a task
of their own (signature, chain) so a slow chain never stalls a connection's reads; every other
node message is handled inline and quickly. Whatever one node sends can only close that node's
session: the protocol closes sessions that break its rules, and any error in handling a
message is logged and contained to that message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

import fizz_app
from fizz_app.core.atomic import write_atomic
from fizz_app.core.chain import AsyncChainClient
from fizz_app.core.requirements import bandwidth_bucket
from gateway_client.client import MAX_WS_MESSAGE, Connection
from gateway_client.exceptions import CloseCode, InvalidState, ResetCode, StreamLimitError
from gateway_client.messages import (
    SUBPROTOCOL,
    Capacity,
    ErrorNotice,
    LeaseAccept,
    LeaseClose,
    LeaseLogs,
    LeaseReject,
    LeaseStatus,
    Message,
    Prices,
    Side,
    SpeedtestRequest,
    SpeedtestResult,
    Usage,
)
from gateway_client.protocol import (
    ControlReceived,
    Event,
    LoginReceived,
    SessionClosing,
    SpeedtestDone,
    State,
    TunnelConfig,
    TunnelProtocol,
)
from gateway_client.speedtest import (
    DOWN,
    NOTICE_SPEEDTEST_BUSY,
    NOTICE_SPEEDTEST_FAILED,
    NOTICE_SPEEDTEST_TOO_LARGE,
    UP,
    mbps,
)

from .auth import AuthRefused, LoginVerifier
from .chain_leases import ChainLeases
from .deployments import LOGS_TIMEOUT_S, OFFER_TIMEOUT_S, Deployments
from .leases import Lease, LeaseBook, LeaseLimitError, TrafficMeter
from .logins import LoginQueue
from .ports import DEFAULT_PUBLIC_PORTS, PortsExhausted, PublicPorts
from .sessions import Session, SessionRegistry
from .tenant_api import TenantApi
from .tls import Certificate, limit_tls_read_buffer

__all__ = [
    "WILDCARD_HOSTS",
    "public_host_for",
    "NOTICE_LEASE_LIMIT",
    "NOTICE_NO_PUBLIC_PORT",
    "LEASE_GRACE_S",
    "SPEEDTEST_MAX_BYTES",
    "SPEEDTEST_TIMEOUT_S",
    "GatewayServer",
]

log = logging.getLogger(__name__)

NOTICE_NO_PUBLIC_PORT = 503
"""``error`` notice code: no public port was free for an exposed port (it stays unpublished)."""
NOTICE_LEASE_LIMIT = 429
"""``error`` notice code: the node reported more active leases than the gateway keeps."""

SPEEDTEST_MAX_BYTES = 64 * 1024 * 1024
"""Most test bytes one ``speedtest_request`` may ask for (larger: notice 413). At 10 Mbit/s
this is about a minute, which bounds what one node can take of the gateway's own link."""

LEASE_GRACE_S = 300.0
"""How long a node may stay disconnected before its active leases are lost (public ports
released). Long enough for a laptop to change networks or reboot; short enough that a node
that is gone for good does not hold public ports for long."""

SPEEDTEST_TIMEOUT_S = 60.0
"""A speed test still running after this is reset and answered with notice 502."""

SHUTDOWN_GRACE_S = 10.0
"""How long :meth:`GatewayServer.stop` waits for sessions to finish their closing handshake."""

STATE_FORMAT = 1
"""Version of the state file's layout (leases and public port assignments)."""

HOUSEKEEPING_S = 1.0
"""Interval of metering live sessions and saving the state file when it changed."""

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
"""Bind addresses meaning "every interface": nobody can dial them, so they are never
published."""


def public_host_for(host: str, public_host: str | None) -> str:
    """The address the gateway publishes (its URL, public lease ports, on chain).

    ``public_host`` when given, else the bind ``host``. A wildcard bind (``0.0.0.0``, ``::``)
    with no public host is refused rather than guessed: a machine's "primary" address is often
    a private one behind NAT, and publishing it would send every node and tenant to a dead end.

    Raises:
        ValueError: a wildcard bind without ``public_host``, or a wildcard ``public_host``.
    """
    chosen = host if public_host is None else public_host.strip()
    if chosen in WILDCARD_HOSTS:
        raise ValueError(
            f"the gateway listens on every address ({host or '*'}), which nobody can dial: "
            "name the address nodes and tenants reach it at (public_host)"
        )
    return chosen


_REFUSALS_THAT_END_LEASES = frozenset({CloseCode.NOT_REGISTERED, CloseCode.NOT_LINKED})
"""Refusals after which the node's leases here are void. Only these: the signature was valid,
so the wallet itself asked; a BAD_SIGNATURE login may come from anyone naming any address."""


class GatewayServer:
    """A gateway serving nodes linked to provider ``gateway_id``.

    Args:
        chain: reads registrations and links.
        gateway_id: this gateway's provider id in ProviderRegistry.
        host, port: where the WebSocket (and ``/status``) listens; port 0 picks a free one.
        public_host: the address nodes and tenants dial, used in everything the gateway
            publishes (:attr:`url`, public lease port addresses, ``/status``); the bind
            ``host`` by default, required when that is a wildcard (:func:`public_host_for`).
        public_ports: the range public lease ports are assigned from.
        certificate: serve ``wss://`` with it; ``None`` serves ``ws://``.
        config: protocol limits and timers of each session.
        state_path: where leases and public port assignments are saved, so a restarted gateway
            gives a running lease its old public port; ``None`` keeps them in memory only
            (still kept across :meth:`stop` and :meth:`start` of the same object).
        verifier: the login checks; a :class:`LoginVerifier` over ``chain`` by default.
        backlog: the listening socket's accept queue (logins come in bursts after a restart).
        login_workers, login_queue: logins verified at once, and allowed to wait (see
            :mod:`devnet.gateway.logins`).
        max_node_ports: public ports one node may hold over all its leases, so that one node
            cannot take the whole range from the others.
        speedtest_max_bytes, speedtest_timeout: the largest speed test served, and how long
            one may run (PROTOCOL.md §14).
        lease_grace: seconds a node may stay disconnected before its active leases are marked
            ``lost`` and their public ports released (counted from the end of its session, or
            from the gateway's start for leases restored from the state file).
        api_port: the tenant API's port (:mod:`devnet.gateway.tenant_api`, on ``host``; the
            real gateway's is 8543); 0 picks a free one, ``None`` serves no tenant API.
        offer_timeout, logs_timeout: how long a node has to answer ``lease_offer`` and
            ``logs_request``.
    """

    def __init__(
        self,
        chain: AsyncChainClient,
        gateway_id: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_host: str | None = None,
        public_ports: range = DEFAULT_PUBLIC_PORTS,
        certificate: Certificate | None = None,
        config: TunnelConfig | None = None,
        state_path: Path | None = None,
        verifier: LoginVerifier | None = None,
        backlog: int = 2048,
        login_workers: int = 2,
        login_queue: int = 256,
        max_node_ports: int = 16,
        speedtest_max_bytes: int = SPEEDTEST_MAX_BYTES,
        speedtest_timeout: float = SPEEDTEST_TIMEOUT_S,
        lease_grace: float = LEASE_GRACE_S,
        api_port: int | None = 0,
        offer_timeout: float = OFFER_TIMEOUT_S,
        logs_timeout: float = LOGS_TIMEOUT_S,
    ) -> None:
        self.chain = chain
        self.gateway_id = gateway_id
        self.host = host
        self.public_host = public_host_for(host, public_host)
        self.requested_port = port
        self.certificate = certificate
        self.config = config if config is not None else TunnelConfig()
        self.state_path = state_path
        self.verifier = verifier if verifier is not None else LoginVerifier(chain, gateway_id)
        self.backlog = backlog
        self.max_node_ports = max_node_ports
        self.speedtest_max_bytes = speedtest_max_bytes
        self.speedtest_timeout = speedtest_timeout
        if lease_grace < 0:
            raise ValueError("lease_grace must be >= 0 seconds")
        self.lease_grace = lease_grace
        self._away: dict[str, tuple[str, float]] = {}  # node lowercase -> (address, since)
        self.sessions = SessionRegistry()
        self.leases = LeaseBook()
        self.ports = PublicPorts(host, public_ports, self._open_public)
        self.deployments = Deployments(
            sessions=self.sessions,
            leases=self.leases,
            ports=self.ports,
            public_host=self.public_host,
            gateway_id=gateway_id,
            chain_leases=ChainLeases(chain),
            sync_ports=self._sync_ports,
            offer_timeout=offer_timeout,
            logs_timeout=logs_timeout,
        )
        self.tenant_api = (
            None
            if api_port is None
            else TenantApi(
                self,
                host,
                api_port,
                ssl_context=None if certificate is None else certificate.server_context(),
            )
        )
        self._server: Server | None = None
        self._bound_port: int | None = None
        self._stopping = False
        self._connections: dict[Connection, Session | None] = {}
        self._unverified: set[Connection] = set()  # connected, not (yet) admitted
        self._meters: dict[Connection, TrafficMeter] = {}
        self._handlers: set[asyncio.Task[Any]] = set()
        self.logins = LoginQueue(
            self._login,
            workers=login_workers,
            capacity=login_queue,
            max_wait=self.config.handshake_timeout / 2,
        )
        self._ports_lock = asyncio.Lock()
        self._housekeeping: asyncio.Task[None] | None = None
        self._saved: str | None = None
        self._restored = False

    # ---- Public API

    @property
    def port(self) -> int:
        """The WebSocket port (bound, once started)."""
        if self._bound_port is None:
            raise RuntimeError("the gateway is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        """Where nodes connect (published on chain): ``wss://public_host:port`` with a
        certificate, ``ws://`` without."""
        scheme = "wss" if self.certificate is not None else "ws"
        return f"{scheme}://{_host_port(self.public_host, self.port)}"

    @property
    def api_port(self) -> int:
        """The tenant API's port (bound, once started)."""
        if self.tenant_api is None:
            raise RuntimeError("this gateway serves no tenant API")
        return self.tenant_api.port

    @property
    def api_url(self) -> str:
        """Where tenants send manifests: ``https://public_host:api_port`` with a certificate,
        ``http://`` without."""
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://{_host_port(self.public_host, self.api_port)}"

    async def start(self) -> None:
        """Listen for nodes, and reopen the public ports of running leases."""
        if self._server is not None:
            raise RuntimeError("the gateway is already running")
        self._stopping = False
        self._restore()
        if self.certificate is not None:
            limit_tls_read_buffer()  # ~190 KiB less per wss:// session (see tls.py)
        self._server = await serve(
            self._handle,
            self.host,
            self._bound_port if self._bound_port is not None else self.requested_port,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            process_request=self._process_request,
            max_size=MAX_WS_MESSAGE,
            compression=None,  # tunnelled bytes are often compressed already
            ping_interval=None,  # the tunnel's heartbeats measure liveness
            ssl=None if self.certificate is None else self.certificate.server_context(),
            backlog=self.backlog,
        )
        self._bound_port = int(self._server.sockets[0].getsockname()[1])
        if self.tenant_api is not None:
            try:
                await self.tenant_api.start()
            except OSError:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
                raise
        self.deployments.start()
        # Every node with active leases is away until it logs in (again); its grace runs.
        now = time.monotonic()
        for node in self.leases.nodes_with_active_leases():
            if self.sessions.open_session(node) is None:
                self._away.setdefault(node.lower(), (node, now))
        # Listen again on the ports of leases that were running: their public ports stay
        # theirs, and connections are refused at once until the node is back.
        for lease in self.leases:
            if lease.running:
                await self._sync_ports(lease)
        self.logins.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="gateway-housekeeping")
        log.info("gateway %d listening at %s", self.gateway_id, self.url)

    async def stop(self) -> None:
        """Close every session (``GATEWAY_SHUTDOWN``) and listener, wait for the handlers, and
        save the state."""
        if self._server is None:
            return
        self._stopping = True
        self.deployments.stop()
        if self.tenant_api is not None:
            await self.tenant_api.stop()
        await self.logins.stop()
        for connection in list(self._connections):
            connection.fail(CloseCode.GATEWAY_SHUTDOWN, "gateway shutting down")
        async with self._ports_lock:
            self.ports.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=SHUTDOWN_GRACE_S)
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        self._save()
        log.info("gateway %d stopped", self.gateway_id)

    def status(self) -> dict[str, Any]:
        """The ``GET /status`` document (the real gateway's inventory shape, plus leases)."""
        self._meter_all()
        nodes = [_inventory_entry(session) for session in self.sessions]
        leases = [self._lease_entry(lease) for lease in self.leases]
        return {
            "cluster": {"inventory": {"available": {"nodes": nodes}}},
            "gateway": {
                "id": self.gateway_id,
                "host": self.public_host,
                "sessions": len(self.sessions),
                "version": fizz_app.__version__,
            },
            "leases": leases,
        }

    # ---- Leases for tenants (devnet/gateway/deployments.py)

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
        """Give lease ``lease_id`` to its node: ``lease_offer``, then on ``lease_accept`` the
        ``manifest`` with ``services`` (ServiceManifest objects, passed through).

        The node is the chain lease's (a decimal id, looked up in ComputeLease and
        FizzRegistry; order id and price come from there), else ``node`` (a wallet address).
        Returns the lease, ``pending`` until the node reports; its ``lease_status`` messages
        drive it from then on (``running`` with ports publishes public ports).

        Raises:
            DeploymentError: with the HTTP status and a sentence naming the problem: node not
                connected (503), rejected with the node's reason (409), no answer within
                ``timeout`` (default ``offer_timeout``; 504), no such lease (404), bad input
                (400), manifest over 64 KiB (413).
        """
        return await self.deployments.deploy(
            lease_id,
            services,
            node=node,
            order_id=order_id,
            price_per_block=price_per_block,
            timeout=timeout,
        )

    def credit_earnings(
        self, lease_id: str, amount: str, token: str = "uSPON", *, node: str | None = None
    ) -> bool:
        """Send the node an ``earnings`` notice: the lease's cumulative credited total in
        whole tokens (see :meth:`Deployments.credit`)."""
        return self.deployments.credit(lease_id, amount, token, node=node)

    async def close_lease(
        self, lease_id: str, reason: str = "closed by the tenant", *, node: str | None = None
    ) -> Lease:
        """End the lease: ``lease_close`` to its node (or ``close`` at its next login), public
        ports released. Idempotent for an ended lease.

        Raises:
            DeploymentError: 404 unknown lease; 409 the id is on several nodes (pass ``node``).
        """
        return await self.deployments.close_lease(lease_id, reason, node=node)

    async def lease_logs(
        self, lease_id: str, tail: int = 100, *, node: str | None = None
    ) -> list[str]:
        """The lease's last ``tail`` log lines from its node (``logs_request``/``lease_logs``).

        Raises:
            DeploymentError: 404 unknown lease; 503 node not connected; 504 no answer.
        """
        return await self.deployments.lease_logs(lease_id, tail, node=node)

    def lease_report(self, lease_id: str, *, node: str | None = None) -> dict[str, Any]:
        """The tenant's status view of a lease: ``services`` and ``forwarded_ports`` (public
        host and ports) as the real gateway shapes them, with state, reason and usage.

        Raises:
            DeploymentError: 404 unknown lease; 409 the id is on several nodes (pass ``node``).
        """
        self._meter_all()
        return self.deployments.report(lease_id, node)

    # ---- HTTP

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if "websocket" in request.headers.get("Upgrade", "").lower():
            if len(self._unverified) >= self.logins.capacity:
                # The cheapest refusal there is: before the WebSocket opens and before the node
                # signs anything. It retries after its backoff (logins.py).
                response = connection.respond(503, "gateway busy: try again later\n")
                response.headers["Retry-After"] = "5"
                return response
            return None  # the tunnel's opening handshake
        path = request.path.split("?", 1)[0]
        if path == "/status":
            response = connection.respond(200, json.dumps(self.status()) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path == "/healthz":
            return connection.respond(200, "ok")
        return connection.respond(404, "not found\n")

    # ---- Sessions

    async def _handle(self, websocket: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        now = time.monotonic()
        protocol = TunnelProtocol(Side.GATEWAY, now, self.config)
        connection = Connection(websocket, protocol, self._on_event)
        self._connections[connection] = None
        self._unverified.add(connection)
        self._meters[connection] = self.leases.new_meter()
        try:
            if self._stopping:
                protocol.fail(CloseCode.GATEWAY_SHUTDOWN, "gateway shutting down")
            else:
                protocol.start(now, self.gateway_id, secrets.token_hex(32), server_time=time.time())
            connection.wake()
            await connection.run()
        except Exception:
            log.exception("session handler failed")
        finally:
            self._end(connection)
            self._handlers.discard(task)

    def _end(self, connection: Connection) -> None:
        self.logins.discard(connection)
        self._unverified.discard(connection)
        session = self._connections.pop(connection, None)
        meter = self._meters.pop(connection)
        if session is None:
            return
        if session.speedtest_timer is not None:
            session.speedtest_timer.cancel()
        self.deployments.session_ended(session)
        self.leases.meter(session.address, connection.traffic, meter)
        if self.sessions.remove(session):  # not replaced by a newer session: the node left
            self._away[session.address.lower()] = (session.address, time.monotonic())

    async def _on_event(self, connection: Connection, event: Event) -> None:
        try:
            if isinstance(event, LoginReceived):
                self.logins.submit(connection, event)  # verified by a worker (logins.py)
            elif isinstance(event, ControlReceived):
                session = self._connections.get(connection)
                if session is not None:
                    await self._control(session, event.message)
            elif isinstance(event, SpeedtestDone):
                session = self._connections.get(connection)
                if session is not None:
                    self._finish_speedtest(session, event)
            elif isinstance(event, SessionClosing):
                session = self._connections.get(connection)
                who = session.address if session is not None else "a node (not logged in)"
                log.info("session of %s closed: %d %s", who, event.code, event.reason)
        except Exception:
            # A bug in handling one message must not end the session, let alone others.
            log.exception("handling %s failed", type(event).__name__)

    async def _login(self, connection: Connection, event: LoginReceived) -> None:
        protocol = connection.protocol
        address = event.login.address
        try:
            node = await self.verifier.verify(event)
            if protocol.state is not State.AUTHENTICATING:
                return  # the node left (or the gateway is stopping) while we checked
            session = Session(
                address=node.address,
                fizz_id=node.fizz_id,
                session_id=secrets.token_hex(8),
                client=event.login.client,
                connection=connection,
            )
            self.sessions.admit(session)
        except AuthRefused as refusal:
            log.info("login of %s refused: %s", address, refusal)
            protocol.reject(refusal.code, refusal.reason)
            connection.wake()
            if refusal.code in _REFUSALS_THAT_END_LEASES:
                for lease in self.leases.fail_node(address, refusal.reason):
                    await self._sync_ports(lease)
            return
        except Exception:
            log.exception("verifying the login of %s failed", address)
            protocol.reject(CloseCode.CHAIN_UNAVAILABLE, "the gateway could not verify the login")
            connection.wake()
            return
        decisions, lost = self.leases.reconcile(node.address, event.login.leases)
        protocol.accept(session.session_id, node.fizz_id, decisions, time.monotonic())
        connection.wake()
        self._connections[connection] = session
        self._unverified.discard(connection)
        self._away.pop(node.address.lower(), None)
        log.info("node %s (fizz %d) logged in", node.address, node.fizz_id)
        for lease in lost:
            log.info("lease %s of %s lost by the node", lease.lease_id, node.address)
        # Lost leases release their ports; kept running ones listen (again).
        for lease in self.leases.of(node.address):
            await self._sync_ports(lease, session)

    async def _control(self, session: Session, message: Message) -> None:
        if isinstance(message, Capacity):
            session.capacity = message
        elif isinstance(message, Prices):
            session.prices = message
        elif isinstance(message, LeaseStatus):
            await self._lease_status(session, message)
        elif isinstance(message, LeaseClose):
            lease = self.leases.close(session.address, message.lease_id, message.reason)
            if lease is not None:
                await self._sync_ports(lease)
        elif isinstance(message, Usage):
            if self.leases.get(session.address, message.lease_id) is not None:
                session.usage[message.lease_id] = message
                self.deployments.usage(session, message)
        elif isinstance(message, SpeedtestRequest):
            self._start_speedtest(session, message)
        elif isinstance(message, ErrorNotice):
            log.warning("node %s notice %d: %s", session.address, message.code, message.message)
        elif isinstance(message, LeaseAccept | LeaseReject):
            if not self.deployments.answer(session, message):
                log.info("node %s sent %s for lease %s, which is not on offer",
                         session.address, message.type, message.lease_id)  # fmt: skip
        elif isinstance(message, LeaseLogs):
            if not self.deployments.logs(session, message):
                log.debug("node %s sent logs of %s unasked", session.address, message.lease_id)

    async def _lease_status(self, session: Session, status: LeaseStatus) -> None:
        try:
            lease = self.leases.update(session.address, status)
        except LeaseLimitError as error:
            self._notice(session, NOTICE_LEASE_LIMIT, str(error))
            return
        if lease is None:
            # Ended here while the node was away: the node must stop it too.
            session.connection.send_control(
                LeaseClose(lease_id=status.lease_id, reason="the lease has ended on the gateway")
            )
            return
        await self._sync_ports(lease, session)

    async def _sync_ports(self, lease: Lease, session: Session | None = None) -> None:
        """Make the public listeners match the lease: its ports while running, none while
        pending (assignments kept), none and released once it ended.

        Every change of listeners goes through here, one at a time, and reads the lease again
        after each bind: whichever call runs last leaves the listeners matching the lease's
        latest state, however messages and logins interleave.
        """
        async with self._ports_lock:
            if not lease.active:
                self.ports.release(lease.node, lease.lease_id)
                return
            if not lease.running or self._stopping:
                self.ports.unpublish(lease.node, lease.lease_id)
                return
            stale = set(self.ports.of(lease.node, lease.lease_id)) - set(lease.ports)
            if stale:
                self.ports.release(lease.node, lease.lease_id, stale)
            for port in lease.ports:
                if not lease.running or port not in lease.ports:
                    break  # changed while binding; that change's own call will finish the job
                try:
                    if (
                        self.ports.assigned(lease.node, lease.lease_id, port) is None
                        and self.ports.count(lease.node) >= self.max_node_ports
                    ):
                        raise PortsExhausted(f"the node holds {self.max_node_ports} public ports")
                    await self.ports.publish(lease.node, lease.lease_id, port)
                except PortsExhausted as error:
                    log.warning("lease %s port %d unpublished: %s", lease.lease_id, port, error)
                    if session is not None and (lease.lease_id, port) not in session.unpublished:
                        session.unpublished.add((lease.lease_id, port))
                        self._notice(
                            session,
                            NOTICE_NO_PUBLIC_PORT,
                            f"lease {lease.lease_id} port {port} is not published: {error}",
                        )
                else:
                    if session is not None:
                        session.unpublished.discard((lease.lease_id, port))

    # ---- Speed tests (PROTOCOL.md §14)

    def _start_speedtest(self, session: Session, request: SpeedtestRequest) -> None:
        if session.speedtest is not None:
            self._notice(session, NOTICE_SPEEDTEST_BUSY, "a speed test is already running")
            return
        if request.nbytes > self.speedtest_max_bytes:
            self._notice(
                session,
                NOTICE_SPEEDTEST_TOO_LARGE,
                f"{request.nbytes} test bytes asked; this gateway moves at most "
                f"{self.speedtest_max_bytes} per test",
            )
            return
        protocol = session.connection.protocol
        try:
            stream_id = protocol.open_speedtest(request.direction, request.nbytes, time.monotonic())
        except (StreamLimitError, InvalidState) as error:
            self._notice(session, NOTICE_SPEEDTEST_FAILED, f"no test stream: {error}")
            return
        session.connection.wake()
        session.speedtest = stream_id
        session.speedtest_timer = asyncio.get_running_loop().call_later(
            self.speedtest_timeout, self._speedtest_timed_out, session, stream_id
        )

    def _speedtest_timed_out(self, session: Session, stream_id: int) -> None:
        if session.speedtest != stream_id:
            return
        session.speedtest = session.speedtest_timer = None
        session.connection.protocol.reset_stream(stream_id, ResetCode.CANCELLED, "too slow")
        session.connection.wake()
        text = f"the speed test did not finish in {self.speedtest_timeout:g} s"
        self._notice(session, NOTICE_SPEEDTEST_FAILED, text)

    def _finish_speedtest(self, session: Session, done: SpeedtestDone) -> None:
        if session.speedtest != done.stream_id:
            return
        if session.speedtest_timer is not None:
            session.speedtest_timer.cancel()
        session.speedtest = session.speedtest_timer = None
        if not done.ok:
            text = f"the {done.direction} speed test failed: {done.failure}"
            self._notice(session, NOTICE_SPEEDTEST_FAILED, text)
            return
        session.bandwidth[done.direction] = round(mbps(done.nbytes, done.seconds), 3)
        log.info("node %s %s: %.1f Mbit/s", session.address, done.direction,
                 session.bandwidth[done.direction])  # fmt: skip
        if session.is_open:
            session.connection.send_control(
                SpeedtestResult(
                    down_mbps=session.bandwidth.get(DOWN, 0.0),
                    up_mbps=session.bandwidth.get(UP, 0.0),
                    bucket=_bucket(session.bandwidth),
                    direction=done.direction,
                    nbytes=done.nbytes,
                    seconds=done.seconds,
                )
            )

    def _notice(self, session: Session, code: int, text: str) -> None:
        if session.is_open:
            session.connection.send_control(ErrorNotice(code=code, message=text[:1024]))

    # ---- Public connections

    def _open_public(
        self,
        node: str,
        lease_id: str,
        port: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        session = self.sessions.open_session(node)
        lease = self.leases.get(node, lease_id)
        if session is None or lease is None or not lease.running or port not in lease.ports:
            writer.close()  # the node is away: refuse at once rather than hang the client
            return
        try:
            session.connection.open_stream(lease_id, port, reader, writer)
        except (StreamLimitError, InvalidState, ValueError) as error:
            log.info("public connection to lease %s port %d refused: %s", lease_id, port, error)
            writer.close()

    # ---- State

    def _meter_all(self) -> None:
        for connection, session in self._connections.items():
            if session is not None:
                self.leases.meter(session.address, connection.traffic, self._meters[connection])

    def _lease_entry(self, lease: Lease) -> dict[str, Any]:
        return {
            "lease_id": lease.lease_id,
            "node": lease.node.lower().removeprefix("0x"),
            "state": lease.state,
            "reason": lease.reason,
            "ports": [self._port_entry(lease, port) for port in lease.ports],
            "bytes_in": lease.bytes_in,
            "bytes_out": lease.bytes_out,
            "usage": self.deployments.usage_of(lease),
        }

    async def _expire_away(self) -> None:
        """Lose the leases of nodes away longer than the grace, and release their ports."""
        deadline = time.monotonic() - self.lease_grace
        for key, (node, since) in list(self._away.items()):
            if since > deadline:
                continue
            del self._away[key]
            reason = f"the node stayed away for more than {self.lease_grace:g} s"
            for lease in self.leases.expire(node, reason):
                log.info("lease %s of %s lost: %s", lease.lease_id, node, reason)
                await self._sync_ports(lease)

    def _port_entry(self, lease: Lease, port: int) -> dict[str, Any]:
        public = self.ports.assigned(lease.node, lease.lease_id, port)
        address = None if public is None else _host_port(self.public_host, public)
        return {"port": port, "public_port": public, "public_address": address}

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                self._meter_all()
                await self._expire_away()
                self._save()
            except Exception:
                log.exception("gateway housekeeping failed")

    def _save(self) -> None:
        if self.state_path is None:
            return
        text = json.dumps(
            {
                "format": STATE_FORMAT,
                "leases": self.leases.to_json(),
                "ports": self.ports.to_json(),
                "deployments": self.deployments.to_json(),
            },
            indent=1,
            sort_keys=True,
        )
        if text != self._saved:
            write_atomic(self.state_path, text.encode("utf-8"))
            self._saved = text

    def _restore(self) -> None:
        if self._restored or self.state_path is None:
            return
        self._restored = True
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"state format {data.get('format')!r}")
            self.leases.restore(data["leases"])
            self.ports.restore(data["ports"])
            self.deployments.restore(data.get("deployments", ()))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("gateway state %s unusable, starting empty: %r", self.state_path, error)
            self.leases.restore(())
            self.deployments.restore(())
            return
        log.info("restored %d leases from %s", len(self.leases), self.state_path)


def _host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bucket(bandwidth: dict[str, float]) -> str:
    """The network's bucket of down + up, once both were measured (else ``"NA"``)."""
    if DOWN not in bandwidth or UP not in bandwidth:
        return "NA"
    return bandwidth_bucket(bandwidth[DOWN] + bandwidth[UP])


def _inventory_entry(session: Session) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": session.name, "fizz_id": session.fizz_id}
    capacity = session.capacity
    if capacity is not None:
        entry.update(capacity.to_obj())
        del entry["type"]
    if session.bandwidth:
        entry["speedtest"] = {
            "down_mbps": session.bandwidth.get(DOWN),
            "up_mbps": session.bandwidth.get(UP),
            "bucket": _bucket(session.bandwidth),
        }
    if session.prices is not None:
        # What the bidding agent offers tenants this node at (the node's last `prices`).
        prices = session.prices.to_obj()
        del prices["type"]
        entry["prices"] = prices
    return entry
