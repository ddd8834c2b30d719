"""The asyncio driver over real WebSockets and TCP on loopback: login, heartbeats, HTTP
through a stream, flow control with a stalled reader, reconnects, fatal refusals."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from websockets.asyncio.server import Server, ServerConnection, serve

from gateway_client.backoff import ReconnectPolicy
from gateway_client.client import Connection, FatalSessionError, NodeClient
from gateway_client.exceptions import CloseCode
from gateway_client.messages import (
    SUBPROTOCOL,
    ClientInfo,
    LeaseAction,
    LeaseAnnouncement,
    LeaseStatus,
    Message,
    Side,
)
from gateway_client.protocol import (
    ControlReceived,
    Event,
    HeartbeatAcked,
    LoginReceived,
    SessionClosing,
    TunnelConfig,
    TunnelProtocol,
    Welcomed,
)

ACCOUNT = Account.create()
LEASE = "lease-1"


async def sign(text: str) -> str:
    return "0x" + ACCOUNT.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")


@dataclass
class LoopbackGateway:
    """A minimal gateway: verifies the signature, keeps every announced lease, and forwards a
    public TCP port to the node's lease port."""

    refuse: CloseCode | None = None
    config: TunnelConfig = field(default_factory=TunnelConfig)
    connections: list[Connection] = field(default_factory=list)
    logins: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    statuses: list[LeaseStatus] = field(default_factory=list)
    received: list[Message] = field(default_factory=list)
    server: Server | None = None

    async def handler(self, websocket: ServerConnection) -> None:
        protocol = TunnelProtocol(Side.GATEWAY, time.monotonic(), self.config)
        connection = Connection(websocket, protocol, self.on_event)
        protocol.start(time.monotonic(), 1, secrets.token_hex(32), server_time=time.time())
        connection.wake()
        self.connections.append(connection)
        await connection.run()

    async def on_event(self, connection: Connection, event: Event) -> None:
        if isinstance(event, LoginReceived):
            signer = Account.recover_message(
                encode_defunct(text=event.text), signature=event.login.signature
            )
            self.logins.append((signer, tuple(lease.lease_id for lease in event.login.leases)))
            if self.refuse is not None:
                connection.protocol.reject(self.refuse, "refused by the test")
            elif signer.lower() != event.login.address.lower():
                connection.protocol.reject(CloseCode.BAD_SIGNATURE, "signature mismatch")
            else:
                keep = {lease.lease_id: LeaseAction.KEEP for lease in event.login.leases}
                connection.protocol.accept("session", 7, keep, time.monotonic())
            connection.wake()
        elif isinstance(event, ControlReceived):
            self.received.append(event.message)
            if isinstance(event.message, LeaseStatus):
                self.statuses.append(event.message)

    async def start(self, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await serve(
            self.handler, "127.0.0.1", port, subprotocols=[SUBPROTOCOL], ssl=ssl_context
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        for connection in self.connections:
            connection.fail(CloseCode.GATEWAY_SHUTDOWN, "restart")
        self.server.close()
        await self.server.wait_closed()

    async def public_port(self, lease_port: int) -> int:
        """Listen for public connections and carry each through the last node session."""

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections[-1].open_stream(LEASE, lease_port, reader, writer)

        listener = await asyncio.start_server(forward, "127.0.0.1", 0)
        return int(listener.sockets[0].getsockname()[1])


@contextlib.asynccontextmanager
async def running_node(
    port: int, events: list[Event], **kwargs: object
) -> AsyncIterator[tuple[NodeClient, asyncio.Task[None]]]:
    async def on_event(connection: Connection, event: Event) -> None:
        events.append(event)
        if isinstance(event, Welcomed):
            connection.send_control(
                LeaseStatus(lease_id=LEASE, state="running", ports=(lease_port_of[0],))
            )

    lease_port_of = kwargs.pop("lease_port", [9])  # type: ignore[assignment]
    node = NodeClient(
        f"ws://127.0.0.1:{port}",
        address=ACCOUNT.address,
        sign=sign,
        client=ClientInfo(name="fizz-node-test", version="0"),
        leases=lambda: [
            LeaseAnnouncement(lease_id=LEASE, ports=(lease_port_of[0],), state="running")
        ],
        on_event=on_event,
        policy=ReconnectPolicy(initial=0.05, maximum=0.2),
        **kwargs,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(node.run())
    try:
        yield node, task
    finally:
        node.stop()
        with contextlib.suppress(FatalSessionError):
            await asyncio.wait_for(task, 10)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def http_server(body: bytes) -> tuple[asyncio.Server, int]:
    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def fetch(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_login_heartbeat_and_http_through_the_tunnel() -> None:
    gateway = LoopbackGateway(config=TunnelConfig(heartbeat_interval=0.05, heartbeat_timeout=5))
    port = await gateway.start()
    body = b"hello from behind the node " * 100
    server, lease_port = await http_server(body)
    events: list[Event] = []
    async with running_node(port, events, lease_port=[lease_port]):
        await wait_for(lambda: any(isinstance(e, HeartbeatAcked) for e in events))
        welcome = next(e for e in events if isinstance(e, Welcomed))
        assert welcome.welcome.fizz_id == 7
        assert gateway.logins == [(ACCOUNT.address, (LEASE,))]
        await wait_for(lambda: bool(gateway.statuses))
        public = await gateway.public_port(lease_port)
        response = await fetch(public)
        assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(body)
        # Both ends metered the lease's bytes: the request one way, the response the other.
        gateway_side = gateway.connections[-1].traffic[LEASE]
        await wait_for(lambda: gateway_side.to_local == len(response))
        assert gateway_side.from_local == len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    server.close()
    await gateway.stop()


async def test_a_stalled_reader_does_not_stall_other_streams() -> None:
    gateway = LoopbackGateway()
    port = await gateway.start()
    big = b"x" * (4 * 1024 * 1024)
    server, lease_port = await http_server(big)
    events: list[Event] = []
    async with running_node(port, events, lease_port=[lease_port]):
        await wait_for(lambda: bool(gateway.statuses))
        public = await gateway.public_port(lease_port)
        # Stream 1: request the big body and never read it: its window fills and stays full.
        stalled_reader, stalled_writer = await asyncio.open_connection("127.0.0.1", public)
        stalled_writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await stalled_writer.drain()
        await asyncio.sleep(0.3)
        # Stream 2 still gets all 4 MiB through the same session.
        response = await asyncio.wait_for(fetch(public), 30)
        assert response.endswith(big)
        stalled_writer.close()
    server.close()
    await gateway.stop()


async def test_reconnects_after_the_gateway_restarts_and_announces_its_leases() -> None:
    gateway = LoopbackGateway()
    port = await gateway.start()
    events: list[Event] = []
    async with running_node(port, events, lease_port=[9]) as (node, _task):
        await wait_for(lambda: len(gateway.logins) == 1)
        await gateway.stop()
        restarted = LoopbackGateway()
        await restarted.start(port)
        await wait_for(lambda: len(restarted.logins) == 1)
        # Resumption: the running lease is announced again at the new login.
        assert restarted.logins[0][1] == (LEASE,)
        assert node.attempts >= 2
        closes = [e for e in events if isinstance(e, SessionClosing)]
        assert closes and closes[0].retryable
        await restarted.stop()


@pytest.mark.parametrize("code", [CloseCode.NOT_LINKED, CloseCode.ALREADY_CONNECTED])
async def test_a_fatal_refusal_stops_reconnecting(code: CloseCode) -> None:
    gateway = LoopbackGateway(refuse=code)
    port = await gateway.start()
    events: list[Event] = []
    async with running_node(port, events) as (_node, task):
        with pytest.raises(FatalSessionError) as caught:
            await asyncio.wait_for(task, 10)
    assert caught.value.code == code
    assert caught.value.message == code.user_message
    assert len(gateway.logins) == 1
    await gateway.stop()


async def test_unreachable_gateway_is_retried() -> None:
    events: list[Event] = []
    async with running_node(1, events) as (node, _task):
        await wait_for(lambda: node.attempts >= 3)
        assert node.connection is None


async def test_failed_attempts_are_reported_and_the_last_error_kept_until_one_connects() -> None:
    gateway = LoopbackGateway()
    port = await gateway.start()
    await gateway.stop()  # nothing listens there now
    failures: list[BaseException] = []
    events: list[Event] = []
    async with running_node(port, events, on_connect_error=failures.append) as (node, _task):
        await wait_for(lambda: len(failures) >= 2)
        assert all(isinstance(error, ConnectionRefusedError) for error in failures)
        assert node.last_connect_error is failures[-1]
        restarted = LoopbackGateway()
        await restarted.start(port)
        await wait_for(lambda: node.connection is not None)
        assert node.last_connect_error is None
        await restarted.stop()
