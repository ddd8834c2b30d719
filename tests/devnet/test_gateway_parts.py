"""The gateway's parts on their own: the lease book's rules, public port assignment over real
sockets, and the one-session-per-wallet registry."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import pytest

from devnet.gateway import leases as leases_module
from devnet.gateway.auth import AuthRefused
from devnet.gateway.leases import LOST_REASON, LeaseBook, LeaseLimitError
from devnet.gateway.logins import TRY_AGAIN_LATER, LoginQueue
from devnet.gateway.ports import PortsExhausted, PublicPorts
from devnet.gateway.sessions import REPLACED_REASON, Session, SessionRegistry
from gateway_client.client import Connection, Traffic
from gateway_client.exceptions import CloseCode
from gateway_client.messages import ClientInfo, LeaseAction, LeaseAnnouncement, LeaseStatus, Side
from gateway_client.protocol import Event, LoginReceived, State, TunnelProtocol

from .gateway_env import free_port_range, wait_for

NODE = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def running(lease_id: str, *ports: int) -> LeaseAnnouncement:
    return LeaseAnnouncement(lease_id=lease_id, ports=ports)


# ---- LeaseBook -----------------------------------------------------------------------------------


def test_reconciliation_rules() -> None:
    book = LeaseBook()
    book.reconcile(NODE, [running("active", 80), running("ended", 81), running("away", 82)])
    book.reconcile(OTHER, [running("away", 90)])  # same id, another node: never touched
    assert book.close(NODE, "ended", "done") is not None
    decisions, lost = book.reconcile(
        NODE.upper().replace("0X", "0x"),
        [running("active", 8080), running("ended"), running("new")],
    )
    assert decisions == {
        "active": LeaseAction.KEEP,
        "ended": LeaseAction.CLOSE,
        "new": LeaseAction.KEEP,
    }
    assert [lease.lease_id for lease in lost] == ["away"]
    away = book.get(NODE, "away")
    assert away is not None and (away.state, away.reason) == ("failed", LOST_REASON)
    active = book.get(NODE, "active")
    assert active is not None and active.ports == (8080,) and active.running
    other = book.get(OTHER, "away")
    assert other is not None and other.running


def test_status_updates_and_closes() -> None:
    book = LeaseBook()
    lease = book.update(NODE, LeaseStatus(lease_id="L", state="pending"))
    assert lease is not None and lease.active and not lease.running
    lease = book.update(NODE, LeaseStatus(lease_id="L", state="running", ports=(80, 80, 81)))
    assert lease is not None and lease.ports == (80, 81)
    assert book.close(NODE, "L", "finished") is lease and lease.state == "closed"
    assert book.close(NODE, "L", "again") is None
    # A status for an ended lease is refused: the node must close it.
    assert book.update(NODE, LeaseStatus(lease_id="L", state="running", ports=(80,))) is None
    assert [x.lease_id for x in book.fail_node(NODE, "gone")] == []


def test_lease_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases_module, "MAX_ACTIVE_LEASES", 3)
    monkeypatch.setattr(leases_module, "MAX_ENDED_LEASES", 2)
    book = LeaseBook()
    for n in range(3):
        book.update(NODE, LeaseStatus(lease_id=f"L{n}", state="running"))
    with pytest.raises(LeaseLimitError):
        book.update(NODE, LeaseStatus(lease_id="L3", state="running"))
    decisions, _ = book.reconcile(NODE, [running(f"L{n}") for n in range(4)])
    assert decisions["L3"] == LeaseAction.CLOSE and decisions["L0"] == LeaseAction.KEEP
    for n in range(3):
        book.close(NODE, f"L{n}", "done")  # the oldest ended lease is forgotten first
    assert sorted(lease.lease_id for lease in book.of(NODE)) == ["L1", "L2"]


def test_metering_adds_each_byte_once_and_survives_a_round_trip() -> None:
    book = LeaseBook()
    book.reconcile(NODE, [running("L", 80)])
    traffic = {"L": Traffic(to_local=100, from_local=10), "unknown": Traffic(5, 5)}
    meter = book.new_meter()
    book.meter(NODE, traffic, meter)
    book.meter(NODE, traffic, meter)
    traffic["L"].to_local += 50
    book.meter(NODE, traffic, meter)
    book.meter(NODE, {"L": Traffic(to_local=7, from_local=3)}, book.new_meter())  # next session
    lease = book.get(NODE, "L")
    assert lease is not None and (lease.bytes_in, lease.bytes_out) == (13, 157)
    copy = LeaseBook()
    copy.restore(book.to_json())
    restored = copy.get(NODE, "L")
    assert restored is not None and restored.to_json() == lease.to_json()


# ---- PublicPorts ---------------------------------------------------------------------------------


async def test_public_ports_assign_listen_release_and_restore() -> None:
    opened: list[tuple[str, str, int]] = []

    def opener(
        node: str, lease: str, port: int, _: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        opened.append((node, lease, port))
        writer.close()

    span = free_port_range(3)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", span.start))  # another program holds the first port
    blocker.listen()
    ports = PublicPorts("127.0.0.1", span, opener)
    try:
        first = await ports.publish(NODE, "L", 80)
        assert first == span.start + 1 and await ports.publish(NODE, "L", 80) == first
        second = await ports.publish(NODE, "L", 81)
        assert second == span.start + 2
        with pytest.raises(PortsExhausted):
            await ports.publish(OTHER, "M", 80)
        reader, writer = await asyncio.open_connection("127.0.0.1", first)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert opened == [(NODE, "L", 80)]
        ports.unpublish(NODE, "L", [81])  # pending: no listener, the port stays assigned
        assert not ports.listening(NODE, "L", 81) and ports.assigned(NODE, "L", 81) == second
        with pytest.raises(PortsExhausted):
            await ports.publish(OTHER, "M", 80)
        saved = ports.to_json()
        ports.close()
        again = PublicPorts("127.0.0.1", span, opener)
        again.restore(saved)
        assert again.of(NODE, "L") == {80: first, 81: second}
        assert await again.publish(NODE, "L", 81) == second
        again.release(NODE, "L")
        assert again.of(NODE, "L") == {} and len(again) == 0
        assert await again.publish(OTHER, "M", 80) == first
        again.close()
    finally:
        blocker.close()
        ports.close()


# ---- SessionRegistry -----------------------------------------------------------------------------


def session(instance: str | None, state: State = State.OPEN) -> Session:
    async def on_event(_: Connection, __: Event) -> None:
        return None

    protocol = TunnelProtocol(Side.GATEWAY, 0.0)
    protocol.state = state
    connection = Connection(None, protocol, on_event)
    client = ClientInfo(name="t", version="0", instance_id=instance)
    return Session(NODE, 1, "s", client, connection)


async def test_one_session_per_wallet() -> None:
    registry = SessionRegistry()
    first = session("a")
    assert registry.admit(first) is None
    for other in (session("b"), session(None)):
        with pytest.raises(AuthRefused) as refused:
            registry.admit(other)
        assert refused.value.code == CloseCode.ALREADY_CONNECTED
    same = session("a")
    assert registry.admit(same) is first
    close = first.connection.protocol.close_to_send()
    assert close is not None and (close.code, close.reason) == (
        CloseCode.ALREADY_CONNECTED,
        REPLACED_REASON,
    )
    assert registry.remove(first) is False and registry.get(NODE.upper()) is same
    # A session already closing never blocks a new one, whatever its instance.
    same.connection.protocol.state = State.CLOSING
    newcomer = session(None)
    assert registry.admit(newcomer) is same and registry.open_session(NODE) is newcomer
    assert registry.remove(newcomer) and len(registry) == 0


# ---- LoginQueue ----------------------------------------------------------------------------------


def waiting_login(state: State = State.AUTHENTICATING) -> Connection:
    async def on_event(_: Connection, __: Event) -> None:
        return None

    protocol = TunnelProtocol(Side.GATEWAY, 0.0)
    protocol.state = state
    return Connection(None, protocol, on_event)


def closed_with(connection: Connection) -> int | None:
    close = connection.protocol.close_to_send()
    return None if close is None else close.code


async def test_login_queue_bounds_waits_and_skips_departed_nodes() -> None:
    now = [0.0]
    verified: list[Connection] = []
    release = asyncio.Event()

    async def verify(connection: Connection, _: object) -> None:
        verified.append(connection)
        await release.wait()

    queue = LoginQueue(verify, workers=1, capacity=2, max_wait=10.0, clock=lambda: now[0])
    queue.start()
    event = cast(LoginReceived, object())  # passed through untouched
    first, stale, gone, fresh, extra = (waiting_login() for _ in range(5))
    try:
        queue.submit(first, event)
        await wait_for(lambda: verified == [first])
        queue.submit(stale, event)
        now[0] = 20.0  # `stale` has now waited too long to be worth verifying
        queue.submit(gone, event)
        queue.submit(extra, event)  # full: refused at once
        assert closed_with(extra) == TRY_AGAIN_LATER and len(queue) == 2
        gone.protocol.state = State.CLOSED  # its node left while it waited
        queue.submit(fresh, event)  # still full: refused
        assert closed_with(fresh) == TRY_AGAIN_LATER
        release.set()
        await wait_for(lambda: len(queue) == 0)
        assert closed_with(stale) == TRY_AGAIN_LATER and closed_with(gone) is None
        assert verified == [first] and queue.refused == 3
    finally:
        await queue.stop()
