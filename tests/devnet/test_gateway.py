"""The reference gateway end to end: the in-process chain, real WebSockets and TCP on
loopback, NodeClients signing with real keys registered on chain."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from devnet.gateway.auth import AuthRefused, LoginVerifier, VerifiedNode
from devnet.gateway.leases import LOST, LOST_REASON
from devnet.gateway.server import NOTICE_NO_PUBLIC_PORT, GatewayServer
from devnet.gateway.sessions import REPLACED_REASON
from devnet.gateway.tls import TLS_READ_BUFFER, self_signed_certificate
from fizz_app.core.chain import AsyncChainClient, ChainClient
from fizz_app.core.networks import load_network
from fizz_app.core.pinning import pinned_client_context
from gateway_client.backoff import ReconnectPolicy
from gateway_client.exceptions import CloseCode
from gateway_client.messages import (
    SUBPROTOCOL,
    ClientInfo,
    ErrorNotice,
    LeaseAnnouncement,
    LeaseClose,
    LeaseStatus,
    Login,
    login_message,
)
from gateway_client.protocol import (
    ControlReceived,
    LoginReceived,
    State,
    TunnelConfig,
    Welcomed,
)

from .gateway_env import (
    CAPACITY,
    Chain,
    free_port_range,
    http_get,
    http_server,
    running_node,
    status_of,
    wait_for,
    wait_until,
)

CONFIG = TunnelConfig(heartbeat_interval=0.2, heartbeat_timeout=5.0)
LEASE = "lease-1"


pytestmark = pytest.mark.usefixtures("one_chain_thread")


@pytest.fixture(scope="module")
def chain(gateway_chain: Chain) -> Chain:
    return gateway_chain


def make_gateway(chain: Chain, tmp_path: Path, **kwargs: Any) -> GatewayServer:
    options: dict[str, Any] = {
        "public_ports": free_port_range(),
        "config": CONFIG,
        "state_path": tmp_path / "gateway-state.json",
    }
    options.update(kwargs)
    return GatewayServer(AsyncChainClient(chain.client), chain.gateway_id, **options)


@pytest.fixture
async def gateway(chain: Chain, tmp_path: Path) -> AsyncIterator[GatewayServer]:
    server = make_gateway(chain, tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def lease_row(status: dict[str, Any], lease_id: str = LEASE) -> dict[str, Any]:
    return next(row for row in status["leases"] if row["lease_id"] == lease_id)


# ---- Login ---------------------------------------------------------------------------------------


async def test_linked_node_is_listed_with_its_capacity(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    name = account.address.lower().removeprefix("0x")

    async def listed() -> bool:
        nodes = (await status_of(gateway.port))["cluster"]["inventory"]["available"]["nodes"]
        return any(n["name"] == name and "allocatable" in n for n in nodes)

    async with running_node(gateway.url, account) as node:
        await wait_until(listed)
        status = await status_of(gateway.port)
        (entry,) = status["cluster"]["inventory"]["available"]["nodes"]
        registration = chain.client.registration(account.address)
        assert registration is not None
        assert entry["fizz_id"] == registration.fizz_id
        assert entry["allocatable"] == CAPACITY.allocatable.to_obj()
        assert entry["available"]["cpu"] == 3000
        assert (entry["bandwidth"], entry["os"], entry["arch"]) == ("100;50", "linux", "x86_64")
        assert status["gateway"]["id"] == chain.gateway_id and status["gateway"]["sessions"] == 1
        assert status["gateway"]["host"] == "127.0.0.1"
        (welcome,) = node.of(Welcomed)
        assert welcome.welcome.fizz_id == registration.fizz_id
        await wait_for(lambda: node.acks >= 2)  # the "health check ack"
    assert await http_get(gateway.port, "/healthz") == (200, b"ok")
    assert (await http_get(gateway.port, "/nothing-here"))[0] == 404
    await wait_for(lambda: len(gateway.sessions) == 0)


@pytest.mark.parametrize("case", ["unregistered", "linked elsewhere", "bad signature"])
async def test_refused_logins(chain: Chain, gateway: GatewayServer, case: str) -> None:
    if case == "unregistered":
        account = Account.create()
    elif case == "linked elsewhere":
        account = chain.register(chain.other_gateway())
    else:
        account = chain.register()
    sign_with = Account.create() if case == "bad signature" else None
    expected = {
        "unregistered": CloseCode.NOT_REGISTERED,
        "linked elsewhere": CloseCode.NOT_LINKED,
        "bad signature": CloseCode.BAD_SIGNATURE,
    }[case]
    async with running_node(gateway.url, account, sign_with=sign_with) as node:
        refusal = await node.outcome()
    assert refusal is not None and refusal.code == expected
    assert refusal.message == expected.user_message
    assert len(gateway.sessions) == 0


async def test_second_device_is_refused_and_the_first_stays(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    async with running_node(gateway.url, account, instance_id="laptop") as first:
        await wait_for(lambda: first.client.connection is not None)
        for other in ("desktop", None):
            async with running_node(gateway.url, account, instance_id=other) as second:
                refusal = await second.outcome()
            assert refusal is not None and refusal.code == CloseCode.ALREADY_CONNECTED
            assert "another device" in refusal.message
        acks = first.acks
        await wait_for(lambda: first.acks >= acks + 2)
        assert first.closes == []
        session = gateway.sessions.get(account.address)
        assert session is not None and session.connection.protocol.state is State.OPEN
        assert session.client.instance_id == "laptop"


async def test_same_instance_replaces_the_old_session(chain: Chain, gateway: GatewayServer) -> None:
    account = chain.register()
    async with running_node(gateway.url, account, instance_id="pc") as old:
        await wait_for(lambda: old.client.connection is not None)
        async with running_node(gateway.url, account, instance_id="pc") as new:
            await wait_for(lambda: new.client.connection is not None)
            # The old session is closed for good (PROTOCOL.md 5.3): were it still alive, it
            # would be a copy of this installation that must stop, not take the session back.
            refusal = await old.outcome()
            assert refusal is not None and refusal.code == CloseCode.ALREADY_CONNECTED
            assert refusal.reason == REPLACED_REASON
            session = gateway.sessions.get(account.address)
            (welcome,) = new.of(Welcomed)
            assert session is not None and session.session_id == welcome.welcome.session_id
            acks = new.acks
            await wait_for(lambda: new.acks >= acks + 2)
            assert new.closes == []


# ---- Leases and public ports ---------------------------------------------------------------------


async def test_http_through_a_public_port_is_metered(chain: Chain, gateway: GatewayServer) -> None:
    account = chain.register()
    body = b"served from behind the node\n" * 50
    server, local_port = await http_server(body)
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(local_port,))
    async with running_node(gateway.url, account, leases=[lease]):
        await wait_for(lambda: gateway.ports.listening(account.address, LEASE, local_port))
        public = gateway.ports.assigned(account.address, LEASE, local_port)
        assert public in gateway.ports.range
        before = lease_row(await status_of(gateway.port))
        assert before["ports"] == [
            {"port": local_port, "public_port": public, "public_address": f"127.0.0.1:{public}"}
        ]
        assert before["node"] == account.address.lower()[2:] and before["state"] == "running"
        assert public is not None
        code, received = await http_get(public)
        assert (code, received) == (200, body)

        async def metered() -> bool:
            row = lease_row(await status_of(gateway.port))
            return bool(row["bytes_out"] > len(body) and row["bytes_in"] > 20)

        await wait_until(metered)
        first = lease_row(await status_of(gateway.port))
        await http_get(public)
        await wait_until(
            lambda: _grew(gateway, first["bytes_out"]),
        )
    server.close()


async def _grew(gateway: GatewayServer, previous: int) -> bool:
    return bool(lease_row(await status_of(gateway.port))["bytes_out"] >= 2 * previous)


async def test_a_stream_to_an_unexposed_port_is_refused_and_the_session_survives(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    server, local_port = await http_server(b"fine")
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(local_port,))
    async with running_node(gateway.url, account, leases=[lease]) as node:
        await wait_for(lambda: gateway.ports.listening(account.address, LEASE, local_port))
        session = gateway.sessions.get(account.address)
        assert session is not None

        # A public client whose connection the gateway carries to a port the lease never
        # exposed (what a gateway racing a lease_status would do): the node resets the stream.
        async def carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            session.connection.open_stream(LEASE, 9, reader, writer)

        listener = await asyncio.start_server(carry, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", listener.sockets[0].getsockname()[1]
        )
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await closed_without_reply(reader)
        writer.close()
        listener.close()
        assert session.connection.protocol.state is State.OPEN
        acks = node.acks
        await wait_for(lambda: node.acks >= acks + 2)
        public = gateway.ports.assigned(account.address, LEASE, local_port)
        assert public is not None
        assert (await http_get(public))[1].endswith(b"fine")
    server.close()


async def test_gateway_restart_keeps_the_public_port(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    body = b"still here"
    server, local_port = await http_server(body)
    gateway = make_gateway(chain, tmp_path)
    await gateway.start()
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(local_port,))
    try:
        async with running_node(gateway.url, account, leases=[lease]) as node:
            await wait_for(lambda: gateway.ports.listening(account.address, LEASE, local_port))
            public = gateway.ports.assigned(account.address, LEASE, local_port)
            assert public is not None and (await http_get(public))[1] == body
            await gateway.stop()
            await wait_for(lambda: node.closes)
            assert node.closes[0].code == CloseCode.GATEWAY_SHUTDOWN
            # A new gateway process: same WebSocket port, same state file, nothing else shared.
            gateway = make_gateway(
                chain, tmp_path, port=gateway.port, public_ports=gateway.ports.range
            )
            await gateway.start()
            await wait_for(lambda: len(node.of(Welcomed)) == 2)
            await wait_for(lambda: gateway.sessions.open_session(account.address) is not None)
            assert gateway.ports.assigned(account.address, LEASE, local_port) == public
            assert (await http_get(public))[1] == body
            row = lease_row(await status_of(gateway.port))
            assert row["ports"][0]["public_port"] == public
    finally:
        await gateway.stop()
        server.close()


async def test_public_connections_are_refused_while_the_node_is_away(
    chain: Chain, gateway: GatewayServer
) -> None:
    account = chain.register()
    server, local_port = await http_server(b"x")
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(local_port,))
    async with running_node(gateway.url, account, leases=[lease]):
        await wait_for(lambda: gateway.ports.listening(account.address, LEASE, local_port))
    public = gateway.ports.assigned(account.address, LEASE, local_port)
    assert public is not None
    await wait_for(lambda: gateway.sessions.get(account.address) is None)
    # The node is gone but its lease keeps its port: connections are closed at once.
    reader, writer = await asyncio.open_connection("127.0.0.1", public)
    assert await closed_without_reply(reader)
    writer.close()
    server.close()


async def test_lease_lifecycle_and_reconciliation(chain: Chain, gateway: GatewayServer) -> None:
    account = chain.register()
    server, local_port = await http_server(b"x")
    leases = [
        LeaseAnnouncement(lease_id="keep-me", ports=(local_port,)),
        LeaseAnnouncement(lease_id="lose-me", ports=(local_port + 1,)),
    ]
    async with running_node(gateway.url, account, leases=leases) as node:
        for lease in leases:
            await wait_for(lambda lease=lease: gateway.ports.of(account.address, lease.lease_id))
        lost_public = gateway.ports.assigned(account.address, "lose-me", local_port + 1)
        # The node closes one lease itself: its port goes back to the pool.
        assert node.client.send_control(LeaseClose(lease_id="keep-me", reason="done"))
        await wait_for(lambda: not gateway.ports.of(account.address, "keep-me"))
        book = gateway.leases.get(account.address, "keep-me")
        assert book is not None and book.state == "closed"
        # A status for a lease that ended here is answered with lease_close.
        assert node.client.send_control(
            LeaseStatus(lease_id="keep-me", state="running", ports=(local_port,))
        )
        await wait_for(lambda: _controls(node, LeaseClose))
        # Reconnect announcing the closed lease but not "lose-me".
        leases[:] = [LeaseAnnouncement(lease_id="keep-me", ports=(local_port,))]
        connection = node.client.connection
        assert connection is not None
        connection.close("test reconnect")
        await wait_for(lambda: len(node.of(Welcomed)) == 2)
        decisions = {d.lease_id: d.action for d in node.of(Welcomed)[1].welcome.leases}
        assert decisions == {"keep-me": "close"}
        lost = gateway.leases.get(account.address, "lose-me")
        assert lost is not None and (lost.state, lost.reason) == ("failed", LOST_REASON)
        assert not gateway.ports.of(account.address, "lose-me")
        assert lost_public is not None
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", lost_public)
    server.close()


async def test_leases_of_a_node_that_stays_away_are_lost(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    server, local_port = await http_server(b"x")
    gateway = make_gateway(chain, tmp_path, lease_grace=0.5)
    await gateway.start()
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(local_port,))
    try:
        async with running_node(gateway.url, account, leases=[lease]):
            await wait_for(lambda: gateway.ports.listening(account.address, LEASE, local_port))
            public = gateway.ports.assigned(account.address, LEASE, local_port)
            await asyncio.sleep(1.5)  # connected: the grace does not run
            assert lease_row(await status_of(gateway.port))["state"] == "running"

        async def lost() -> bool:
            return bool(lease_row(await status_of(gateway.port))["state"] == LOST)

        await wait_until(lost)
        row = lease_row(await status_of(gateway.port))
        assert "stayed away for more than 0.5 s" in row["reason"]
        assert row["ports"] == [{"port": local_port, "public_port": None, "public_address": None}]
        assert not gateway.ports.of(account.address, LEASE)
        assert public is not None
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", public)
        # Back after all: the node is told to close the lease it still runs.
        async with running_node(gateway.url, account, leases=[lease]) as node:
            await wait_for(lambda: node.of(Welcomed))
            decisions = {d.lease_id: d.action for d in node.of(Welcomed)[0].welcome.leases}
            assert decisions == {LEASE: "close"}
    finally:
        await gateway.stop()
        server.close()


async def test_restored_leases_of_a_node_that_never_returns_are_lost(
    chain: Chain, tmp_path: Path
) -> None:
    account = chain.register()
    gateway = make_gateway(chain, tmp_path)
    await gateway.start()
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(5005,))
    try:
        async with running_node(gateway.url, account, leases=[lease]):
            await wait_for(lambda: gateway.ports.listening(account.address, LEASE, 5005))
    finally:
        await gateway.stop()
    # A new gateway process from the saved state; the node never comes back.
    gateway = make_gateway(chain, tmp_path, lease_grace=0.3, public_ports=gateway.ports.range)
    await gateway.start()
    try:
        assert gateway.ports.listening(account.address, LEASE, 5005)
        await wait_for(lambda: not gateway.ports.of(account.address, LEASE))
        book = gateway.leases.get(account.address, LEASE)
        assert book is not None and book.state == LOST
    finally:
        await gateway.stop()


async def test_a_negative_lease_grace_is_refused(chain: Chain, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lease_grace"):
        make_gateway(chain, tmp_path, lease_grace=-1)


async def closed_without_reply(reader: asyncio.StreamReader) -> bool:
    """True once the peer closes (FIN or RST) without sending a byte."""
    try:
        return await asyncio.wait_for(reader.read(), 10) == b""
    except ConnectionResetError:
        return True


def _controls(node: Any, kind: type) -> list[Any]:
    return [e.message for e in node.of(ControlReceived) if isinstance(e.message, kind)]


@pytest.mark.parametrize("limit", ["range", "per node"])
async def test_exhausted_ports_are_reported(chain: Chain, tmp_path: Path, limit: str) -> None:
    account = chain.register()
    if limit == "range":
        gateway = make_gateway(chain, tmp_path, public_ports=free_port_range(1))
    else:
        gateway = make_gateway(chain, tmp_path, public_ports=free_port_range(3), max_node_ports=1)
    await gateway.start()
    leases = [
        LeaseAnnouncement(lease_id="a", ports=(5001,)),
        LeaseAnnouncement(lease_id="b", ports=(5002,)),
    ]
    try:
        async with running_node(gateway.url, account, leases=leases) as node:
            await wait_for(lambda: _controls(node, ErrorNotice))
            (notice,) = _controls(node, ErrorNotice)
            assert notice.code == NOTICE_NO_PUBLIC_PORT and "is not published" in notice.message
            assert ("holds 1 public ports" in notice.message) == (limit == "per node")
            rows = {row["lease_id"]: row for row in (await status_of(gateway.port))["leases"]}
            published = {row["ports"][0]["public_port"] for row in rows.values()}
            assert published == {gateway.ports.range.start, None}
            assert node.client.connection is not None
    finally:
        await gateway.stop()


# ---- Public host ---------------------------------------------------------------------------------


async def test_a_wildcard_bind_publishes_the_public_host(chain: Chain, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every address"):
        make_gateway(chain, tmp_path, host="0.0.0.0")
    with pytest.raises(ValueError, match="every address"):
        make_gateway(chain, tmp_path, host="127.0.0.1", public_host="::")
    account = chain.register()
    server, local_port = await http_server(b"public")
    gateway = make_gateway(chain, tmp_path, host="0.0.0.0", public_host="127.0.0.1")
    await gateway.start()
    lease = LeaseAnnouncement(lease_id=LEASE, ports=(local_port,))
    try:
        assert gateway.url == f"ws://127.0.0.1:{gateway.port}"
        async with running_node(gateway.url, account, leases=[lease]):
            await wait_for(lambda: gateway.ports.listening(account.address, LEASE, local_port))
            status = await status_of(gateway.port)
            assert status["gateway"]["host"] == "127.0.0.1"
            (entry,) = lease_row(status)["ports"]
            host, _, port = entry["public_address"].rpartition(":")
            assert (host, int(port)) == ("127.0.0.1", entry["public_port"])
            assert (await http_get(int(port), host=host))[1] == b"public"
    finally:
        await gateway.stop()
        server.close()
    ipv6 = make_gateway(chain, tmp_path, host="::", public_host="2001:db8::1", port=8544)
    ipv6._bound_port = 8544  # the URL of a gateway that would listen there
    assert ipv6.url == "ws://[2001:db8::1]:8544"


# ---- TLS -----------------------------------------------------------------------------------------


async def test_tls_with_the_pinned_certificate_only(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    certificate = self_signed_certificate("127.0.0.1")
    gateway = make_gateway(chain, tmp_path, certificate=certificate)
    await gateway.start()
    try:
        assert gateway.url.startswith("wss://127.0.0.1:")
        assert asyncio.sslproto.SSLProtocol.max_size == TLS_READ_BUFFER  # not 256 KiB each
        impostor = self_signed_certificate("127.0.0.1")
        async with running_node(
            gateway.url, account, ssl_context=pinned_client_context(impostor.cert_pem)
        ) as wrong:
            await wait_for(lambda: wrong.client.attempts >= 3)
            assert wrong.client.connection is None and not wrong.of(Welcomed)
        assert len(gateway.sessions) == 0
        async with running_node(
            gateway.url, account, ssl_context=pinned_client_context(certificate.cert_pem)
        ) as node:
            await wait_for(lambda: node.acks >= 1)
            assert len(gateway.sessions) == 1
    finally:
        await gateway.stop()


# ---- The verifier on its own ---------------------------------------------------------------------


def login_event(account: Any, gateway_id: int, *, signature: str | None = None) -> LoginReceived:
    nonce = secrets.token_hex(32)
    timestamp = int(time.time())
    address = account.address.lower()  # any case: the check is case-insensitive
    text = login_message(gateway_id, address, nonce, timestamp)
    login = Login(
        version=1,
        address=address,
        gateway_id=gateway_id,
        nonce=nonce,
        timestamp=timestamp,
        signature=signature or signer_hex(account, text),
        client=ClientInfo(name="test", version="0"),
    )
    return LoginReceived(login, login.text())


def signer_hex(account: Any, text: str) -> str:
    return str(account.sign_message(encode_defunct(text=text)).signature.to_0x_hex())


async def test_the_verifier_refuses_replays_and_garbage_signatures(chain: Chain) -> None:
    account = chain.register()
    verifier = LoginVerifier(AsyncChainClient(chain.client), chain.gateway_id)
    event = login_event(account, chain.gateway_id)
    node = await verifier.verify(event)
    registration = chain.client.registration(account.address)
    assert registration is not None
    assert node == VerifiedNode(account.address, registration.fizz_id)
    with pytest.raises(AuthRefused) as replayed:
        await verifier.verify(event)
    assert replayed.value.code == CloseCode.NONCE_EXPIRED_OR_REPLAYED
    garbage = login_event(account, chain.gateway_id, signature="0x" + "00" * 65)
    with pytest.raises(AuthRefused) as bad:
        await verifier.verify(garbage)
    assert bad.value.code == CloseCode.BAD_SIGNATURE


async def test_an_unreachable_chain_is_a_retryable_refusal(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    network = load_network("devnet", chain.home, rpc_url="http://127.0.0.1:9")
    offline = ChainClient(network, tmp_path, sleep=lambda _: None)
    gateway = make_gateway(chain, tmp_path)
    gateway.verifier = LoginVerifier(AsyncChainClient(offline), chain.gateway_id)
    await gateway.start()
    try:
        slow = ReconnectPolicy(initial=30, maximum=30)
        async with running_node(gateway.url, account, policy=slow) as node:
            await wait_for(lambda: node.closes)
            assert node.closes[0].code == CloseCode.CHAIN_UNAVAILABLE
            assert node.closes[0].retryable and not node.task.done()
    finally:
        await gateway.stop()


async def test_a_busy_gateway_refuses_new_handshakes_cheaply(chain: Chain, tmp_path: Path) -> None:
    account = chain.register()
    gateway = make_gateway(chain, tmp_path, login_queue=1)
    await gateway.start()
    try:
        # A connection that never logs in holds the only unverified place.
        silent = await connect(gateway.url, subprotocols=[Subprotocol(SUBPROTOCOL)])
        with pytest.raises(InvalidStatus) as busy:
            await connect(gateway.url, subprotocols=[Subprotocol(SUBPROTOCOL)])
        assert busy.value.response.status_code == 503
        await silent.close()
        async with running_node(gateway.url, account) as node:
            await wait_for(lambda: node.client.connection is not None)
    finally:
        await gateway.stop()
