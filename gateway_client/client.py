"""The asyncio driver: runs a :class:`~gateway_client.protocol.TunnelProtocol` over a
``websockets`` connection and bridges tunnel streams to TCP sockets.

This is the only module of ``gateway_client`` that does I/O. Both ends use it:

- a node runs :class:`NodeClient`, which logs in, keeps the session alive and reconnects with
  backoff (``async with`` or :meth:`NodeClient.run`);
- a gateway wraps each accepted WebSocket in a :class:`Connection` with ``Side.GATEWAY`` and
  calls :meth:`Connection.open_stream` for every public TCP connection.

One writer task per connection sends everything the protocol queues, in order; every stream
has its own tasks for each direction, so a stream whose local socket is slow only ever waits on
its own credit, never on the other streams (see PROTOCOL.md, "Flow control").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .backoff import ReconnectPolicy
from .exceptions import CloseCode, ResetCode, close_message, is_retryable
from .frames import MAX_DATA
from .messages import (
    SUBPROTOCOL,
    ClientInfo,
    ErrorNotice,
    LeaseAnnouncement,
    Message,
    Side,
    SpeedtestRequest,
    SpeedtestResult,
    login_message,
)
from .protocol import (
    ABNORMAL_CLOSURE,
    ControlReceived,
    Event,
    HeartbeatAcked,
    HelloReceived,
    SessionClosing,
    SpeedtestDone,
    State,
    StreamData,
    StreamFinished,
    StreamOpened,
    StreamReset,
    StreamWritable,
    TunnelConfig,
    TunnelProtocol,
    Welcomed,
)
from .speedtest import DEFAULT_TEST_BYTES, DIRECTIONS, DOWN, SPEEDTEST_NOTICES, UP, mbps

__all__ = [
    "Connection",
    "Traffic",
    "NodeClient",
    "FatalSessionError",
    "SpeedTestError",
    "SpeedTestReport",
    "Signer",
    "LOCAL_HOST",
]

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
"""Where a node connects tunnel streams: a lease's port on this machine's loopback, nowhere
else (the protocol itself refuses ports a lease did not expose)."""

CONNECT_TIMEOUT = 10.0
"""Seconds for a local connection to a lease's port."""

IDLE_TIMER_S = 30.0
"""Longest timer sleep when the protocol has no deadline (an event re-arms it sooner)."""

MAX_WS_MESSAGE = 1 << 20
"""Largest WebSocket message accepted (control messages are 64 KiB, DATA frames 32 KiB)."""

Signer = Callable[[str], Awaitable[str]]
"""Signs the login text (EIP-191) with the node's wallet and returns ``0x`` + 130 hex."""


class FatalSessionError(Exception):
    """The gateway refused this node for good (bad signature, not registered, not linked,
    already connected from another device, version unsupported): reconnecting cannot help.

    ``message`` is the plain sentence to show the user.
    """

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        self.message = close_message(code)
        super().__init__(f"{self.message} ({reason})" if reason else self.message)


class SpeedTestError(Exception):
    """A speed test gave no figure: not connected, refused by the gateway (an older gateway
    runs none), failed, or too slow. ``str(error)`` is a plain sentence for the user."""


@dataclass(frozen=True)
class SpeedTestReport:
    """What :meth:`NodeClient.speed_test` measured (Mbit/s, 10⁶ bits)."""

    down_mbps: float
    """Gateway to node, as the gateway timed it (the figure the network uses)."""
    up_mbps: float
    """Node to gateway, as the gateway timed it."""
    bucket: str
    """The network's bandwidth bucket of down + up (``"1gbps"``...), from the gateway."""
    node_down_mbps: float | None
    """The same transfers timed by this end (``None`` if its timing was not seen)."""
    node_up_mbps: float | None
    nbytes: int
    """Test bytes per direction."""


@dataclass
class _PendingTest:
    direction: str
    future: asyncio.Future[SpeedtestResult]
    local: SpeedtestDone | None = None


# ---- One stream ---------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Bytes carried for one lease on this connection (metering)."""

    to_local: int = 0
    """Arrived through the tunnel and written to the local socket."""
    from_local: int = 0
    """Read from the local socket and sent through the tunnel."""

    @property
    def total(self) -> int:
        return self.to_local + self.from_local


class _Bridge:
    """Pumps one tunnel stream to and from a local TCP socket."""

    def __init__(
        self,
        connection: Connection,
        stream_id: int,
        lease_id: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.meter = connection.traffic.setdefault(lease_id, Traffic())
        self.reader = reader
        self.writer = writer
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.writable = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.bytes_in = 0
        self.bytes_out = 0

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._local_to_tunnel(), name=f"tunnel-{self.stream_id}-up"),
            asyncio.create_task(self._tunnel_to_local(), name=f"tunnel-{self.stream_id}-down"),
        ]

    async def _local_to_tunnel(self) -> None:
        protocol = self.connection.protocol
        try:
            while True:
                data = await self.reader.read(MAX_DATA)
                if not data:
                    protocol.finish_stream(self.stream_id)
                    self.connection.wake()
                    return
                self.bytes_out += len(data)
                self.meter.from_local += len(data)
                while data:
                    self.writable.clear()
                    taken = protocol.send_data(self.stream_id, data)
                    self.connection.wake()
                    if self.stream_id not in self.connection.bridges:
                        return  # reset meanwhile
                    data = data[taken:]
                    if data:
                        # The stream is out of credit and its buffer is full: stop reading
                        # this socket (TCP pushes back on its sender) until StreamWritable.
                        await self.writable.wait()
        except (ConnectionError, OSError):
            protocol.reset_stream(self.stream_id, ResetCode.CANCELLED, "local socket failed")
            self.connection.wake()
            self.connection.forget(self.stream_id)

    async def _tunnel_to_local(self) -> None:
        protocol = self.connection.protocol
        try:
            while True:
                data = await self.incoming.get()
                if data is None:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    return
                self.writer.write(data)
                await self.writer.drain()
                self.bytes_in += len(data)
                self.meter.to_local += len(data)
                protocol.stream_consumed(self.stream_id, len(data))
                self.connection.wake()
        except (ConnectionError, OSError):
            protocol.reset_stream(self.stream_id, ResetCode.CANCELLED, "local socket failed")
            self.connection.wake()
            self.connection.forget(self.stream_id)

    def close(self) -> None:
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.writer.close()


# ---- One session --------------------------------------------------------------------------------


EventHandler = Callable[["Connection", Event], Awaitable[None]]


class Connection:
    """Drives one tunnel session over one open WebSocket.

    Args:
        websocket: an open ``websockets`` connection (client or server side).
        protocol: the session's protocol object (its side decides the role).
        on_event: awaited for every event the driver does not handle itself (handshake,
            control messages, heartbeat acks, the final :class:`SessionClosing`). Keep it
            short: the connection reads no further messages while it runs.
        clock: a monotonic clock (the protocol's ``now``).

    Call :meth:`run` once; it returns the :class:`SessionClosing` that ended the session.
    """

    def __init__(
        self,
        websocket: Any,
        protocol: TunnelProtocol,
        on_event: EventHandler,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.websocket = websocket
        self.protocol = protocol
        self.on_event = on_event
        self.clock = clock
        self.bridges: dict[int, _Bridge] = {}
        self.traffic: dict[str, Traffic] = {}
        """Bytes carried per lease id since the connection opened."""
        self._wakeup = asyncio.Event()
        self._rearm = asyncio.Event()
        self._closing: SessionClosing | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # local connects in flight

    # ---- Public API

    def wake(self) -> None:
        """Tell the writer task the protocol has something to send (call after any protocol
        method that queues output)."""
        self._wakeup.set()

    def send_control(self, message: Message) -> bool:
        """Queue a control message; False if the session is closing."""
        sent = self.protocol.send_control(message)
        self.wake()
        return sent

    def open_stream(
        self,
        lease_id: str,
        port: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> int:
        """Gateway: carry an accepted public TCP connection to ``port`` of ``lease_id``."""
        stream_id = self.protocol.open_stream(lease_id, port)
        bridge = _Bridge(self, stream_id, lease_id, reader, writer)
        self.bridges[stream_id] = bridge
        bridge.start()
        self.wake()
        return stream_id

    def forget(self, stream_id: int) -> None:
        bridge = self.bridges.pop(stream_id, None)
        if bridge is not None:
            bridge.close()

    def close(self, reason: str = "") -> None:
        """Close the session normally (the node is stopping, the gateway shutting down)."""
        self.protocol.close(reason)
        self.wake()

    def fail(self, code: int, reason: str) -> None:
        """Close the session with ``code`` (e.g. a gateway refusing a login)."""
        self.protocol.fail(code, reason)
        self.wake()

    @property
    def stats(self) -> dict[int, tuple[int, int]]:
        """Bytes (in, out) of every open stream, by stream id (for metering)."""
        return {sid: (b.bytes_in, b.bytes_out) for sid, b in self.bridges.items()}

    async def run(self) -> SessionClosing:
        """Pump the session until it ends; returns how it ended."""
        writer = asyncio.create_task(self._write_loop(), name="tunnel-writer")
        timer = asyncio.create_task(self._timer_loop(), name="tunnel-timer")
        try:
            await self._read_loop()
        finally:
            self.wake()
            await self._finish(writer, timer)
        assert self._closing is not None
        return self._closing

    # ---- Private API

    async def _read_loop(self) -> None:
        try:
            async for message in self.websocket:
                self.protocol.receive_message(message, self.clock())
                await self._dispatch()
                if self.protocol.state is State.CLOSED:
                    break
        except ConnectionClosed:
            pass
        # The WebSocket is gone: tell the protocol how (it emits SessionClosing once).
        close = getattr(self.websocket, "close_code", None)
        reason = getattr(self.websocket, "close_reason", "") or ""
        self.protocol.receive_close(close if close is not None else ABNORMAL_CLOSURE, reason)
        await self._dispatch()

    async def _dispatch(self) -> None:
        events = self.protocol.events_received()
        if events:
            self._rearm.set()  # an event may move the protocol's next deadline
        for event in events:
            if isinstance(event, StreamData):
                bridge = self.bridges.get(event.stream_id)
                if bridge is not None:
                    bridge.incoming.put_nowait(event.data)
            elif isinstance(event, StreamFinished):
                bridge = self.bridges.get(event.stream_id)
                if bridge is not None:
                    bridge.incoming.put_nowait(None)
            elif isinstance(event, StreamWritable):
                bridge = self.bridges.get(event.stream_id)
                if bridge is not None:
                    bridge.writable.set()
            elif isinstance(event, StreamReset):
                self.forget(event.stream_id)
            elif isinstance(event, StreamOpened):
                task = asyncio.create_task(
                    self._connect_local(event), name=f"tunnel-open-{event.stream_id}"
                )
                # Keep a reference: the loop holds tasks only weakly.
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                if isinstance(event, SessionClosing):
                    self._closing = event
                await self.on_event(self, event)
        self.wake()

    async def _connect_local(self, event: StreamOpened) -> None:
        # Node: the protocol already checked that the lease exposes this port.
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(LOCAL_HOST, event.port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            self.protocol.reset_stream(
                event.stream_id, ResetCode.CONNECT_FAILED, f"port {event.port}: {error}"[:120]
            )
            self.wake()
            return
        if self.protocol.state is not State.OPEN:
            writer.close()
            return
        bridge = _Bridge(self, event.stream_id, event.lease_id, reader, writer)
        self.bridges[event.stream_id] = bridge
        self.protocol.accept_stream(event.stream_id)
        bridge.start()
        self.wake()

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            for message in self.protocol.messages_to_send():
                try:
                    await self.websocket.send(message)
                except ConnectionClosed:
                    return
            close = self.protocol.close_to_send()
            if close is not None:
                with contextlib.suppress(ConnectionClosed):
                    await self.websocket.close(close.code, close.reason)
                return
            if self.protocol.state is State.CLOSED:
                return  # the peer closed first: nothing more will ever be sent

    async def _timer_loop(self) -> None:
        while self.protocol.state is not State.CLOSED:
            deadline = self.protocol.next_deadline()
            delay = IDLE_TIMER_S if deadline is None else max(0.0, deadline - self.clock())
            # Sleep until the deadline, or until an event may have moved it (a welcome sets the
            # heartbeat interval), whichever comes first. asyncio.timeout arms one timer handle;
            # wait_for would create and cancel a task per wake-up (costly at 2,000 sessions).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._rearm.wait()
            self._rearm.clear()
            self.protocol.tick(self.clock())
            await self._dispatch()

    async def _finish(self, writer: asyncio.Task[None], timer: asyncio.Task[None]) -> None:
        timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        # Let the writer send a queued close frame, but never hang on a dead peer.
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, 5.0)
        writer.cancel()
        for stream_id in list(self.bridges):
            self.forget(stream_id)
        with contextlib.suppress(asyncio.CancelledError):
            await timer
        if self._closing is None:  # pragma: no cover - receive_close always emits it
            self._closing = SessionClosing(ABNORMAL_CLOSURE, "", True, True)


# ---- The node side ------------------------------------------------------------------------------


@dataclass
class _NodeState:
    connection: Connection | None = None
    fizz_id: int | None = None


class NodeClient:
    """Keeps a node connected to its gateway.

    Args:
        uri: the gateway's ``wss://host:port/`` (``ws://`` only for tests on loopback).
        address: the node's wallet address.
        sign: signs the login text with the node's wallet.
        client: this software's name and version.
        leases: returns the leases running now (announced at every login: resumption).
        on_event: awaited for each application event (:class:`Welcomed`,
            :class:`ControlReceived`, :class:`HeartbeatAcked`, :class:`SessionClosing`).
        ssl_context: TLS settings (pin the gateway's certificate); ``None`` for ``ws://``.
        on_connect_error: called with the error of every attempt that failed before a
            session opened (refused, timed out, a TLS certificate that fails verification:
            ``ssl.SSLCertVerificationError``...); keep it short, it runs inside the reconnect
            loop. :attr:`last_connect_error` keeps the latest.
        policy: reconnect delays; ``config``: protocol limits and timers.
        clock: monotonic clock; ``wall_clock``: Unix time (not used for login timestamps,
            which come from the gateway's clock).

    Run it with :meth:`run` (returns when :meth:`stop` is called; raises
    :class:`FatalSessionError` when the gateway refuses the node for good).
    """

    def __init__(
        self,
        uri: str,
        *,
        address: str,
        sign: Signer,
        client: ClientInfo,
        leases: Callable[[], Iterable[LeaseAnnouncement]],
        on_event: EventHandler,
        ssl_context: ssl.SSLContext | None = None,
        on_connect_error: Callable[[BaseException], None] | None = None,
        policy: ReconnectPolicy | None = None,
        config: TunnelConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        open_timeout: float = 10.0,
    ) -> None:
        self.uri = uri
        self.address = address
        self.sign = sign
        self.client = client
        self.leases = leases
        self.on_event = on_event
        self.ssl_context = ssl_context
        self.on_connect_error = on_connect_error
        self.policy = policy or ReconnectPolicy()
        self.config = config
        self.clock = clock
        self.open_timeout = open_timeout
        self._state = _NodeState()
        self._stopping = asyncio.Event()
        self._test: _PendingTest | None = None
        self.attempts = 0
        """Connection attempts so far (for status displays and tests)."""
        self.last_connect_error: BaseException | None = None
        """Why the latest attempt failed before a session opened; ``None`` once a WebSocket
        opened. An ``ssl.SSLCertVerificationError`` means the gateway's certificate is not the
        one trusted: reconnecting with the same ``ssl_context`` cannot succeed."""

    @property
    def connection(self) -> Connection | None:
        """The live connection, once a session is open (``None`` while reconnecting)."""
        return self._state.connection

    def send_control(self, message: Message) -> bool:
        """Send a control message on the live session; False when there is none."""
        connection = self._state.connection
        if connection is None or connection.protocol.state is not State.OPEN:
            return False
        return connection.send_control(message)

    async def speed_test(
        self, nbytes: int = DEFAULT_TEST_BYTES, timeout: float = 60.0
    ) -> SpeedTestReport:
        """Measure this node's bandwidth through the live session (PROTOCOL.md §14): ``nbytes``
        down, then ``nbytes`` up, each over a test stream the gateway opens and times.

        Args:
            nbytes: test bytes per direction (the gateway may refuse a large test).
            timeout: seconds allowed for each direction.

        Raises:
            SpeedTestError: no open session, a test already running, the gateway refused (an
                ``error`` notice: older gateways run no tests), the test failed, the session
                ended meanwhile, or it took longer than ``timeout``.
        """
        if self._test is not None:
            raise SpeedTestError("A speed test is already running.")
        results: dict[str, tuple[SpeedtestResult, SpeedtestDone | None]] = {}
        for direction in DIRECTIONS:
            results[direction] = await self._one_test(direction, nbytes, timeout)
        (down, down_local), (up, up_local) = results[DOWN], results[UP]

        def local(done: SpeedtestDone | None) -> float | None:
            return None if done is None else mbps(done.nbytes, done.seconds)

        return SpeedTestReport(
            down_mbps=down.down_mbps,
            up_mbps=up.up_mbps,
            bucket=up.bucket,  # the up result is the first to know both directions
            node_down_mbps=local(down_local),
            node_up_mbps=local(up_local),
            nbytes=nbytes,
        )

    async def _one_test(
        self, direction: str, nbytes: int, timeout: float
    ) -> tuple[SpeedtestResult, SpeedtestDone | None]:
        pending = _PendingTest(direction, asyncio.get_running_loop().create_future())
        self._test = pending
        try:
            if not self.send_control(SpeedtestRequest(direction=direction, nbytes=nbytes)):
                raise SpeedTestError("Not connected to the gateway: no speed test is possible.")
            async with asyncio.timeout(timeout):
                result = await pending.future
        except TimeoutError:
            raise SpeedTestError(
                f"The gateway did not finish the {direction} speed test in {timeout:g} s."
            ) from None
        finally:
            self._test = None
        return result, pending.local

    def _settle_test(self, event: Event) -> None:
        """Answer a pending speed test from the session's events (see :meth:`speed_test`)."""
        pending = self._test
        if pending is None or pending.future.done():
            return
        message = event.message if isinstance(event, ControlReceived) else None
        if isinstance(event, SpeedtestDone) and event.direction == pending.direction:
            pending.local = event
            if not event.ok:
                pending.future.set_exception(
                    SpeedTestError(f"The speed test failed: {event.failure}.")
                )
        elif isinstance(message, SpeedtestResult):
            pending.future.set_result(message)
        elif isinstance(message, ErrorNotice) and message.code in SPEEDTEST_NOTICES:
            pending.future.set_exception(
                SpeedTestError(f"The gateway ran no speed test: {message.message}")
            )
        elif isinstance(event, SessionClosing):
            pending.future.set_exception(
                SpeedTestError("The gateway connection closed during the speed test.")
            )

    def stop(self) -> None:
        """Close the session normally and end :meth:`run`."""
        self._stopping.set()
        connection = self._state.connection
        if connection is not None:
            connection.close("node stopping")

    async def run(self) -> None:
        """Connect, and reconnect with backoff, until :meth:`stop`.

        Raises:
            FatalSessionError: the gateway refused this node with a fatal close code.
        """
        while not self._stopping.is_set():
            self.attempts += 1
            closing = await self._session()
            self.policy.disconnected(self.clock())
            if self._stopping.is_set():
                return
            if closing is not None and not is_retryable(closing.code):
                raise FatalSessionError(closing.code, closing.reason)
            delay = self.policy.next_delay()
            log.info("gateway connection ended; reconnecting in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _session(self) -> SessionClosing | None:
        try:
            websocket: ClientConnection = await connect(
                self.uri,
                ssl=self.ssl_context,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                max_size=MAX_WS_MESSAGE,
                open_timeout=self.open_timeout,
                ping_interval=None,  # the tunnel's own heartbeats measure liveness
                compression=None,  # tunnelled bytes are often compressed already
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            log.warning("cannot reach the gateway at %s: %s", self.uri, error)
            self.last_connect_error = error
            if self.on_connect_error is not None:
                self.on_connect_error(error)
            return None
        self.last_connect_error = None
        protocol = TunnelProtocol(Side.NODE, self.clock(), self.config)
        connection = Connection(websocket, protocol, self._handle, clock=self.clock)
        try:
            return await connection.run()
        finally:
            self._state = _NodeState()
            await websocket.close()

    async def _handle(self, connection: Connection, event: Event) -> None:
        if isinstance(event, HelloReceived):
            protocol = connection.protocol
            timestamp = protocol.login_timestamp(self.clock())
            text = login_message(
                event.hello.gateway_id, self.address, event.hello.nonce, timestamp, event.version
            )
            signature = await self.sign(text)
            protocol.send_login(
                address=self.address,
                timestamp=timestamp,
                signature=signature,
                client=self.client,
                leases=tuple(self.leases()),
            )
            connection.wake()
            return
        if isinstance(event, Welcomed):
            self._state = _NodeState(connection, event.welcome.fizz_id)
            self.policy.connected(self.clock())
        self._settle_test(event)
        await self.on_event(connection, event)


__all__ += ["ControlReceived", "HeartbeatAcked", "CloseCode"]
