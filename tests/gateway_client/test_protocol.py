"""Tests for gateway_client.protocol: feed messages, assert events and messages_to_send.

Pure: two TunnelProtocols talk through the in-memory ``Pair`` (tests/gateway_client/pair.py)
or a single protocol is fed hand-made messages. No socket, no event loop, a fake clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway_client.exceptions import CloseCode, InvalidState, ResetCode, StreamLimitError
from gateway_client.frames import (
    INITIAL_WINDOW,
    MAX_DATA,
    MAX_STREAM_ID,
    MAX_WINDOW,
    Accept,
    Data,
    Fin,
    FrameKind,
    Open,
    Reset,
    Window,
    decode_frame,
)
from gateway_client.messages import (
    Capacity,
    ErrorNotice,
    Heartbeat,
    HeartbeatAck,
    Hello,
    LeaseAction,
    LeaseAnnouncement,
    LeaseClose,
    LeaseOffer,
    LeaseStatus,
    Login,
    Resources,
    Usage,
    Welcome,
    decode_message,
    encode_message,
    login_message,
)
from gateway_client.protocol import (
    ABNORMAL_CLOSURE,
    Close,
    ControlReceived,
    HeartbeatAcked,
    HelloReceived,
    LoginReceived,
    SessionClosing,
    Side,
    State,
    StreamAccepted,
    StreamData,
    StreamFinished,
    StreamOpened,
    StreamReset,
    StreamWritable,
    TunnelConfig,
    TunnelProtocol,
    Welcomed,
)
from tests.gateway_client.pair import (
    ADDRESS,
    CLIENT,
    GATEWAY_ID,
    NONCE,
    SIGNATURE,
    T0,
    Pair,
    decode_sent,
    open_pair,
)

CAPACITY = Capacity(
    allocatable=Resources(cpu=4000, memory=8 << 30, storage_ephemeral=100 << 30),
    available=Resources(cpu=2000, memory=4 << 30, storage_ephemeral=50 << 30),
    bandwidth="100;50",
    version="0.1.0;0.1.0",
    os="linux",
    arch="amd64",
)


def hello_text(versions: tuple[int, ...] = (1,), server_time: float = T0) -> str:
    return encode_message(
        Hello(versions=versions, gateway_id=GATEWAY_ID, nonce=NONCE, server_time=server_time)
    )


def login_obj(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "login",
        "version": 1,
        "address": ADDRESS,
        "gateway_id": GATEWAY_ID,
        "nonce": NONCE,
        "timestamp": int(T0),
        "signature": SIGNATURE,
        "client": {"name": "fizz", "version": "0.1.0"},
        "leases": [],
    }
    obj.update(overrides)
    return obj


def node_after_hello(config: TunnelConfig | None = None, now: float = T0) -> TunnelProtocol:
    node = TunnelProtocol(Side.NODE, now, config)
    node.receive_message(hello_text(), now)
    node.events_received()
    return node


def node_authenticating(leases: tuple[LeaseAnnouncement, ...] = ()) -> TunnelProtocol:
    node = node_after_hello()
    node.send_login(
        address=ADDRESS, timestamp=int(T0), signature=SIGNATURE, client=CLIENT, leases=leases
    )
    node.messages_to_send()
    return node


def gateway_started(now: float = T0, config: TunnelConfig | None = None) -> TunnelProtocol:
    gateway = TunnelProtocol(Side.GATEWAY, now, config)
    gateway.start(now, GATEWAY_ID, NONCE, server_time=T0)
    gateway.messages_to_send()
    return gateway


def gateway_open(now: float = T0, config: TunnelConfig | None = None) -> TunnelProtocol:
    gateway = gateway_started(now, config)
    gateway.receive_message(json.dumps(login_obj()), now)
    gateway.accept("s", 1, {}, now)
    gateway.messages_to_send()
    gateway.events_received()
    return gateway


def close_code(protocol: TunnelProtocol) -> int | None:
    close = protocol.close_to_send()
    return None if close is None else close.code


def closing_event(events: list[Any]) -> SessionClosing:
    closing = [event for event in events if isinstance(event, SessionClosing)]
    assert len(closing) == 1
    return closing[0]


def node_data(pair: Pair, stream_id: int) -> bytes:
    return b"".join(
        e.data for e in pair.node.events if isinstance(e, StreamData) and e.stream_id == stream_id
    )


def gateway_data(pair: Pair, stream_id: int) -> bytes:
    return b"".join(
        e.data
        for e in pair.gateway.events
        if isinstance(e, StreamData) and e.stream_id == stream_id
    )


def open_stream(pair: Pair, lease_id: str = "L1", port: int = 8080) -> int:
    """Gateway opens, node accepts; returns the stream id, records cleared."""
    stream_id = pair.gateway.protocol.open_stream(lease_id, port)
    pair.pump()
    assert StreamOpened(stream_id, lease_id, port) in pair.node.events
    pair.node.protocol.accept_stream(stream_id)
    pair.pump()
    assert StreamAccepted(stream_id) in pair.gateway.events
    pair.clear()
    return stream_id


def feed_node(pair: Pair, frame: bytes) -> None:
    pair.node.protocol.receive_message(frame, pair.now)
    pair.pump()


def resets_sent(end_sent: list[str | bytes]) -> list[Reset]:
    return [f for f in decode_sent(end_sent) if isinstance(f, Reset)]


class TestConfig:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"versions": ()},
            {"versions": (0,)},
            {"handshake_timeout": 0},
            {"login_window": -1},
            {"heartbeat_interval": 0.01},
            {"heartbeat_interval": 30, "heartbeat_timeout": 20},
            {"heartbeat_timeout": 7200},
            {"initial_window": -1},
            {"initial_window": MAX_WINDOW + 1},
            {"max_send_buffer": -1},
            {"max_streams": 0},
        ],
    )
    def test_bad_settings_fail_at_once(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            TunnelConfig(**kwargs)

    def test_defaults_are_the_specification(self) -> None:
        config = TunnelConfig()
        assert (config.heartbeat_interval, config.heartbeat_timeout) == (20.0, 60.0)
        assert (config.initial_window, config.max_streams) == (INITIAL_WINDOW, 256)
        assert (config.handshake_timeout, config.login_window) == (30.0, 60.0)


class TestHandshake:
    def test_hello_login_welcome_opens_both_sides(self) -> None:
        pair = Pair()
        pair.handshake()
        assert pair.node.protocol.state is State.OPEN
        assert pair.gateway.protocol.state is State.OPEN
        hello, login = decode_sent(pair.gateway.sent)[0], decode_sent(pair.node.sent)[0]
        assert hello == Hello(versions=(1,), gateway_id=GATEWAY_ID, nonce=NONCE, server_time=T0)
        assert isinstance(login, Login)
        assert (login.gateway_id, login.nonce, login.version) == (GATEWAY_ID, NONCE, 1)
        assert [type(e) for e in pair.node.events] == [HelloReceived, Welcomed]
        [received] = pair.gateway.of(LoginReceived)
        assert received.text == login_message(GATEWAY_ID, ADDRESS, NONCE, int(T0), 1)
        assert pair.node.protocol.welcome is not None
        assert pair.node.protocol.welcome.fizz_id == 42

    def test_login_timestamp_reads_the_gateway_clock(self) -> None:
        # The node's own clock is a monotonic 100.0: only the hello's server_time dates it.
        node = TunnelProtocol(Side.NODE, 100.0)
        node.receive_message(hello_text(server_time=T0), 100.0)
        assert node.login_timestamp(105.5) == int(T0 + 5.5)

    def test_node_picks_the_highest_common_version(self) -> None:
        node = TunnelProtocol(Side.NODE, T0, TunnelConfig(versions=(1, 2, 3)))
        node.receive_message(hello_text(versions=(2, 3, 9)), T0)
        [event] = node.events_received()
        assert isinstance(event, HelloReceived) and event.version == 3
        assert node.version == 3 and node.state is State.AWAITING_LOGIN

    def test_no_common_version_is_fatal(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        node.receive_message(hello_text(versions=(2,)), T0)
        assert close_code(node) == CloseCode.VERSION_UNSUPPORTED
        closing = closing_event(node.events_received())
        assert not closing.retryable and not closing.by_peer

    def test_start_offers_given_versions_and_server_time(self) -> None:
        gateway = TunnelProtocol(Side.GATEWAY, 5.0)
        gateway.start(5.0, 3, NONCE, versions=[1, 2], server_time=T0)
        [hello] = decode_sent(gateway.messages_to_send())
        assert hello == Hello(versions=(1, 2), gateway_id=3, nonce=NONCE, server_time=T0)
        assert gateway.state is State.AWAITING_LOGIN

    def test_start_defaults_server_time_to_now(self) -> None:
        gateway = TunnelProtocol(Side.GATEWAY, T0)
        gateway.start(T0 + 1, GATEWAY_ID, NONCE)
        [hello] = decode_sent(gateway.messages_to_send())
        assert isinstance(hello, Hello) and hello.server_time == T0 + 1

    def test_start_is_for_a_fresh_gateway(self) -> None:
        with pytest.raises(InvalidState):
            TunnelProtocol(Side.NODE, T0).start(T0, GATEWAY_ID, NONCE)
        gateway = gateway_started()
        with pytest.raises(InvalidState):
            gateway.start(T0, GATEWAY_ID, NONCE)

    def test_start_refuses_a_bad_nonce(self) -> None:
        with pytest.raises(ValueError):
            TunnelProtocol(Side.GATEWAY, T0).start(T0, GATEWAY_ID, "not-hex")

    def test_send_login_needs_a_hello_and_happens_once(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        with pytest.raises(InvalidState):
            node.send_login(address=ADDRESS, timestamp=1, signature=SIGNATURE, client=CLIENT)
        node = node_authenticating()
        with pytest.raises(InvalidState):
            node.send_login(address=ADDRESS, timestamp=1, signature=SIGNATURE, client=CLIENT)

    def test_send_login_refuses_a_bad_signature_format(self) -> None:
        node = node_after_hello()
        with pytest.raises(ValueError):
            node.send_login(address=ADDRESS, timestamp=1, signature="0x12", client=CLIENT)
        assert node.state is State.AWAITING_LOGIN  # nothing was sent; it can try again

    def test_login_timestamp_needs_a_node_with_a_hello(self) -> None:
        with pytest.raises(InvalidState):
            TunnelProtocol(Side.NODE, T0).login_timestamp(T0)
        with pytest.raises(InvalidState):
            gateway_started().login_timestamp(T0)

    def test_accept_answers_a_login(self) -> None:
        with pytest.raises(InvalidState):
            gateway_started().accept("s", 1, {}, T0)
        with pytest.raises(InvalidState):
            node_authenticating().accept("s", 1, {}, T0)

    def test_accept_after_the_node_left_is_a_no_op(self) -> None:
        gateway = gateway_started()
        gateway.receive_message(json.dumps(login_obj()), T0)
        gateway.receive_close(None)
        gateway.accept("s", 1, {}, T0)
        assert gateway.messages_to_send() == [] and gateway.state is State.CLOSED

    def test_accept_must_decide_every_announced_lease(self) -> None:
        gateway = gateway_started()
        leases = [{"lease_id": "L1", "ports": [80], "state": "running"}]
        gateway.receive_message(json.dumps(login_obj(leases=leases)), T0)
        with pytest.raises(ValueError):
            gateway.accept("s", 1, {}, T0)
        with pytest.raises(ValueError):
            gateway.accept("s", 1, {"L1": LeaseAction.KEEP, "L2": LeaseAction.KEEP}, T0)
        assert gateway.state is State.AUTHENTICATING

    def test_reject_closes_with_a_fatal_code(self) -> None:
        pair = Pair()
        pair.gateway.protocol.start(pair.now, GATEWAY_ID, NONCE)
        pair.pump()
        pair.node.protocol.send_login(
            address=ADDRESS, timestamp=int(T0), signature=SIGNATURE, client=CLIENT
        )
        pair.pump()
        pair.gateway.protocol.reject(CloseCode.NOT_LINKED, "linked to gateway 3")
        pair.pump()
        closing = closing_event(pair.node.events)
        assert (closing.code, closing.reason) == (CloseCode.NOT_LINKED, "linked to gateway 3")
        assert closing.by_peer and not closing.retryable
        assert pair.node.protocol.state is State.CLOSED
        assert pair.gateway.protocol.state is State.CLOSED

    def test_reject_is_for_the_gateway(self) -> None:
        with pytest.raises(InvalidState):
            node_after_hello().reject(CloseCode.BAD_SIGNATURE, "no")

    def test_gateway_not_started_finds_any_message_unexpected(self) -> None:
        gateway = TunnelProtocol(Side.GATEWAY, T0)
        gateway.receive_message(json.dumps(login_obj()), T0)
        assert close_code(gateway) == CloseCode.UNEXPECTED_MESSAGE

    def test_welcome_before_login_is_unexpected(self) -> None:
        node = node_after_hello()
        welcome = Welcome(session_id="s", heartbeat_interval=1, heartbeat_timeout=2, fizz_id=1)
        node.receive_message(encode_message(welcome), T0)
        assert close_code(node) == CloseCode.UNEXPECTED_MESSAGE

    def test_message_from_the_wrong_side_is_unexpected(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        node.receive_message(json.dumps(login_obj()), T0)
        assert close_code(node) == CloseCode.UNEXPECTED_MESSAGE

    def test_error_notice_is_welcome_in_any_state(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        notice = ErrorNotice(code=17, message="gateway busy")
        node.receive_message(encode_message(notice), T0)
        assert node.events_received() == [ControlReceived(notice)]
        assert node.close_to_send() is None
        assert node.send_control(ErrorNotice(code=1, message="hi")) is True

    def test_bad_json_closes_malformed(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        node.receive_message("{not json", T0)
        assert close_code(node) == CloseCode.MALFORMED

    def test_oversized_text_closes_too_large(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        node.receive_message(" " * (64 * 1024 + 1), T0)
        assert close_code(node) == CloseCode.TOO_LARGE

    def test_handshake_messages_after_open_are_unexpected(self) -> None:
        pair = open_pair()
        pair.node.protocol.receive_message(hello_text(), pair.now)
        assert close_code(pair.node.protocol) == CloseCode.UNEXPECTED_MESSAGE
        pair = open_pair()
        pair.gateway.protocol.receive_message(json.dumps(login_obj()), pair.now)
        assert close_code(pair.gateway.protocol) == CloseCode.UNEXPECTED_MESSAGE

    def test_stream_frame_before_open_is_unexpected(self) -> None:
        node = node_after_hello()
        node.receive_message(Fin(1).encode(), T0)
        assert close_code(node) == CloseCode.UNEXPECTED_MESSAGE


class TestLoginCheck:
    """What the gateway checks inside the protocol (no I/O needed) before LoginReceived."""

    @pytest.mark.parametrize(
        "overrides",
        [
            {"version": 2},
        ],
    )
    def test_version_not_offered(self, overrides: dict[str, Any]) -> None:
        gateway = gateway_started()
        gateway.receive_message(json.dumps(login_obj(**overrides)), T0)
        assert close_code(gateway) == CloseCode.VERSION_UNSUPPORTED

    @pytest.mark.parametrize(
        "overrides",
        [
            {"gateway_id": GATEWAY_ID + 1},
            {"nonce": "f" * 64},
            {"timestamp": int(T0) - 61},
            {"timestamp": int(T0) + 61},
        ],
        ids=["other-gateway", "other-nonce", "too-old", "too-new"],
    )
    def test_stale_or_replayed_login(self, overrides: dict[str, Any]) -> None:
        gateway = gateway_started()
        gateway.receive_message(json.dumps(login_obj(**overrides)), T0)
        assert close_code(gateway) == CloseCode.NONCE_EXPIRED_OR_REPLAYED
        closing = closing_event(gateway.events_received())
        assert closing.retryable

    def test_login_window_follows_the_gateway_clock(self) -> None:
        # start() at monotonic 10.0 with server_time T0; login 30 s later dated T0 + 30.
        gateway = TunnelProtocol(Side.GATEWAY, 10.0)
        gateway.start(10.0, GATEWAY_ID, NONCE, server_time=T0)
        gateway.receive_message(json.dumps(login_obj(timestamp=int(T0) + 90)), 40.0)
        assert gateway.state is State.AUTHENTICATING
        [event] = gateway.events_received()
        assert isinstance(event, LoginReceived) and event.login.timestamp == int(T0) + 90

    def test_edge_of_the_window_passes(self) -> None:
        gateway = gateway_started()
        gateway.receive_message(json.dumps(login_obj(timestamp=int(T0) - 60)), T0)
        assert gateway.state is State.AUTHENTICATING


class TestHeartbeat:
    def test_node_heartbeats_every_interval_and_gets_acks(self) -> None:
        pair = open_pair(gateway_config=TunnelConfig(heartbeat_interval=5, heartbeat_timeout=15))
        assert pair.node.protocol.next_deadline() == pair.now + 5
        pair.advance(4.9)
        assert pair.node.sent == []
        pair.advance(0.1)
        assert decode_sent(pair.node.sent) == [Heartbeat(seq=1)]
        assert decode_sent(pair.gateway.sent) == [HeartbeatAck(seq=1)]
        assert pair.node.events == [HeartbeatAcked(1, 0.0)]
        pair.advance(5)
        assert decode_sent(pair.node.sent)[-1] == Heartbeat(seq=2)

    def test_rtt_is_time_from_heartbeat_to_ack(self) -> None:
        pair = open_pair()
        pair.hold_to_gateway = True
        pair.advance(20)
        assert pair.node.protocol.next_deadline() == pair.now + 20  # next beat before timeout
        pair.now += 2.5
        pair.hold_to_gateway = False
        pair.pump()
        assert pair.node.events == [HeartbeatAcked(1, 2.5)]

    def test_a_late_tick_sends_one_heartbeat_not_a_burst(self) -> None:
        pair = open_pair()
        pair.advance(55)
        assert decode_sent(pair.node.sent) == [Heartbeat(seq=1)]
        assert pair.node.protocol.next_deadline() == pair.now + 20

    def test_no_ack_within_timeout_closes(self) -> None:
        pair = open_pair(gateway_config=TunnelConfig(heartbeat_interval=5, heartbeat_timeout=12))
        node = pair.node.protocol
        pair.hold_to_gateway = True  # heartbeats leave; the gateway never sees them

        def tick_node(seconds: float) -> None:
            # Only the node's timers: the gateway would drop the silent node at the same time.
            pair.now += seconds
            node.tick(pair.now)
            pair.pump()

        tick_node(5)  # heartbeat 1 at +5, unacked
        tick_node(5)  # heartbeat 2 at +10
        assert node.next_deadline() == pair.now + 5  # heartbeat 3 is due first
        tick_node(5)  # heartbeat 3 at +15
        assert node.next_deadline() == pair.now + 2  # heartbeat 1's timeout, +17
        tick_node(1.9)
        assert node.state is State.OPEN
        tick_node(0.1)
        assert pair.node.close == Close(CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat ack in 12 s")
        closing = closing_event(pair.node.events)
        assert closing.retryable and not closing.by_peer

    def test_an_ack_covers_earlier_heartbeats(self) -> None:
        pair = open_pair()
        pair.hold_to_node = True
        pair.advance(20)
        pair.advance(20)
        node = pair.node.protocol
        pair.hold_to_node = False
        node.receive_message(encode_message(HeartbeatAck(seq=2)), pair.now)
        node.receive_message(encode_message(HeartbeatAck(seq=1)), pair.now)  # stale: ignored
        assert node.events_received() == [HeartbeatAcked(2, 0.0)]
        assert node.next_deadline() == pair.now + 20
        pair.pump()  # the held acks arrive late: both already covered
        assert node.close_to_send() is None

    def test_ack_for_a_heartbeat_never_sent_is_unexpected(self) -> None:
        pair = open_pair()
        pair.node.protocol.receive_message(encode_message(HeartbeatAck(seq=1)), pair.now)
        assert close_code(pair.node.protocol) == CloseCode.UNEXPECTED_MESSAGE

    def test_gateway_drops_a_silent_node(self) -> None:
        gateway = gateway_open(config=TunnelConfig(heartbeat_timeout=30))
        assert gateway.next_deadline() == T0 + 30
        gateway.receive_message(encode_message(Heartbeat(seq=1)), T0 + 10)
        assert decode_sent(gateway.messages_to_send()) == [HeartbeatAck(seq=1)]
        assert gateway.next_deadline() == T0 + 40
        gateway.tick(T0 + 39.9)
        assert gateway.close_to_send() is None
        gateway.tick(T0 + 40)
        assert close_code(gateway) == CloseCode.HEARTBEAT_TIMEOUT

    def test_any_message_counts_as_life(self) -> None:
        gateway = gateway_open(config=TunnelConfig(heartbeat_timeout=30))
        gateway.receive_message(encode_message(CAPACITY), T0 + 25)
        gateway.tick(T0 + 50)
        assert gateway.close_to_send() is None

    def test_node_handshake_timeout(self) -> None:
        node = TunnelProtocol(Side.NODE, T0, TunnelConfig(handshake_timeout=10))
        assert node.next_deadline() == T0 + 10
        node.tick(T0 + 9)
        assert node.close_to_send() is None
        node.tick(T0 + 10)
        assert close_code(node) == CloseCode.HEARTBEAT_TIMEOUT

    def test_gateway_waiting_for_login_times_out(self) -> None:
        gateway = gateway_started(config=TunnelConfig(handshake_timeout=10))
        gateway.tick(T0 + 10)
        assert close_code(gateway) == CloseCode.HEARTBEAT_TIMEOUT

    def test_slow_verification_is_the_gateway_chain_problem(self) -> None:
        gateway = gateway_started(config=TunnelConfig(handshake_timeout=10))
        gateway.receive_message(json.dumps(login_obj()), T0)
        gateway.tick(T0 + 10)
        assert close_code(gateway) == CloseCode.CHAIN_UNAVAILABLE

    def test_closed_sessions_have_no_deadline(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        node.close()
        assert node.next_deadline() is None
        node.tick(T0 + 1000)
        assert node.messages_to_send() == []


class TestControl:
    def test_node_reports_capacity(self) -> None:
        pair = open_pair()
        assert pair.node.protocol.send_control(CAPACITY) is True
        pair.pump()
        assert pair.gateway.events == [ControlReceived(CAPACITY)]

    def test_gateway_offers_a_lease(self) -> None:
        pair = open_pair()
        offer = LeaseOffer(lease_id="L9", order_id=3, price_per_block="1000", resources={})
        pair.gateway.protocol.send_control(offer)
        pair.pump()
        assert pair.node.events == [ControlReceived(offer)]

    @pytest.mark.parametrize("message", [Heartbeat(seq=1), HeartbeatAck(seq=1)])
    def test_protocol_messages_are_not_for_the_application(self, message: Any) -> None:
        with pytest.raises(ValueError):
            open_pair().node.protocol.send_control(message)

    def test_a_side_sends_only_its_own_messages(self) -> None:
        with pytest.raises(ValueError):
            open_pair().gateway.protocol.send_control(CAPACITY)

    def test_not_before_the_session_opens(self) -> None:
        with pytest.raises(InvalidState):
            node_after_hello().send_control(CAPACITY)

    def test_dropped_once_closing(self) -> None:
        pair = open_pair()
        pair.node.protocol.close()
        assert pair.node.protocol.send_control(CAPACITY) is False

    def test_invalid_fields_raise_before_sending(self) -> None:
        pair = open_pair()
        with pytest.raises(ValueError):
            pair.node.protocol.send_control(LeaseStatus(lease_id="bad id!", state="running"))
        assert pair.node.protocol.messages_to_send() == []


class TestStream:
    def test_a_stream_carries_bytes_both_ways_and_closes_on_two_fins(self) -> None:
        pair = open_pair()
        gateway, node = pair.gateway.protocol, pair.node.protocol
        stream_id = open_stream(pair)
        assert stream_id == 1 and gateway.stream_count == node.stream_count == 1
        assert gateway.send_data(stream_id, b"GET / HTTP/1.1\r\n\r\n") == 18
        gateway.finish_stream(stream_id)
        gateway.finish_stream(stream_id)  # idempotent
        pair.pump()
        assert node_data(pair, stream_id) == b"GET / HTTP/1.1\r\n\r\n"
        assert StreamFinished(stream_id) in pair.node.events
        node.send_data(stream_id, b"HTTP/1.1 200 OK\r\n\r\n")
        node.finish_stream(stream_id)
        pair.pump()
        assert gateway_data(pair, stream_id) == b"HTTP/1.1 200 OK\r\n\r\n"
        assert StreamFinished(stream_id) in pair.gateway.events
        assert gateway.stream_count == node.stream_count == 0

    def test_gateway_buffers_data_and_fin_until_accept(self) -> None:
        pair = open_pair()
        gateway = pair.gateway.protocol
        stream_id = gateway.open_stream("L1", 8080)
        assert gateway.send_data(stream_id, b"early") == 5
        gateway.finish_stream(stream_id)
        pair.pump()
        assert [type(e) for e in pair.node.events] == [StreamOpened]
        pair.node.protocol.accept_stream(stream_id)
        pair.pump()
        assert node_data(pair, stream_id) == b"early"
        assert pair.node.events[-1] == StreamFinished(stream_id)

    def test_node_data_before_accept_waits_too(self) -> None:
        pair = open_pair()
        stream_id = pair.gateway.protocol.open_stream("L1", 8080)
        pair.pump()
        assert pair.node.protocol.send_data(stream_id, b"banner") == 6
        pair.node.protocol.accept_stream(stream_id)
        pair.pump()
        assert gateway_data(pair, stream_id) == b"banner"

    def test_stream_ids_are_odd_and_grow(self) -> None:
        pair = open_pair()
        ids = [pair.gateway.protocol.open_stream("L1", 8080) for _ in range(3)]
        assert ids == [1, 3, 5]

    def test_node_refuses_with_connect_failed(self) -> None:
        pair = open_pair()
        stream_id = pair.gateway.protocol.open_stream("L1", 8080)
        pair.pump()
        pair.node.protocol.reset_stream(stream_id, ResetCode.CONNECT_FAILED, "refused")
        pair.pump()
        assert pair.gateway.events == [
            StreamReset(stream_id, ResetCode.CONNECT_FAILED, "refused", by_peer=True)
        ]
        assert pair.node.of(StreamReset) == []  # the caller knows what it did
        assert pair.node.protocol.stream_count == pair.gateway.protocol.stream_count == 0

    @pytest.mark.parametrize(
        ("lease_id", "port"), [("L1", 22), ("L2", 8080)], ids=["port", "lease"]
    )
    def test_node_refuses_what_no_lease_exposes(self, lease_id: str, port: int) -> None:
        pair = open_pair()
        pair.gateway.protocol.open_stream(lease_id, port)
        pair.pump()
        assert pair.node.events == []
        [event] = pair.gateway.events
        assert isinstance(event, StreamReset) and event.code == ResetCode.REFUSED

    def test_a_lease_that_stops_running_exposes_nothing(self) -> None:
        pair = open_pair()
        pair.node.protocol.send_control(LeaseStatus(lease_id="L1", state="failed", reason="oom"))
        pair.gateway.protocol.open_stream("L1", 8080)
        pair.pump()
        [event] = pair.gateway.of(StreamReset)
        assert isinstance(event, StreamReset) and event.code == ResetCode.REFUSED

    def test_too_many_streams_are_refused(self) -> None:
        pair = open_pair(node_config=TunnelConfig(max_streams=2))
        for _ in range(3):
            pair.gateway.protocol.open_stream("L1", 8080)
        pair.pump()
        assert [e.stream_id for e in pair.node.of(StreamOpened)] == [1, 3]
        [refused] = pair.gateway.of(StreamReset)
        assert refused == StreamReset(5, ResetCode.REFUSED, "too many streams", by_peer=True)

    def test_gateway_stream_limit_raises(self) -> None:
        pair = open_pair(gateway_config=TunnelConfig(max_streams=1))
        pair.gateway.protocol.open_stream("L1", 8080)
        with pytest.raises(StreamLimitError):
            pair.gateway.protocol.open_stream("L1", 8080)

    def test_stream_ids_can_run_out(self) -> None:
        pair = open_pair()
        pair.gateway.protocol._next_stream_id = MAX_STREAM_ID + 2  # four billion streams later
        with pytest.raises(StreamLimitError):
            pair.gateway.protocol.open_stream("L1", 8080)

    def test_open_stream_is_for_an_open_gateway(self) -> None:
        with pytest.raises(InvalidState):
            open_pair().node.protocol.open_stream("L1", 8080)
        with pytest.raises(InvalidState):
            gateway_started().open_stream("L1", 8080)

    @pytest.mark.parametrize(("lease_id", "port"), [("L1", 0), ("L1", 65536), ("bad id", 80)])
    def test_open_stream_checks_its_arguments(self, lease_id: str, port: int) -> None:
        with pytest.raises(ValueError):
            open_pair().gateway.protocol.open_stream(lease_id, port)

    def test_gateway_refuses_streams_from_nodes(self) -> None:
        gateway = gateway_open()
        gateway.receive_message(Open(2, "L1", 80, 100).encode(), T0)
        [reset] = decode_sent(gateway.messages_to_send())
        assert reset == Reset(2, ResetCode.REFUSED, "gateways accept no streams in v1")

    @pytest.mark.parametrize("stream_id", [2, 1], ids=["even", "reused"])
    def test_node_refuses_bad_stream_ids(self, stream_id: int) -> None:
        pair = open_pair()
        live = open_stream(pair)
        feed_node(pair, Open(stream_id, "L1", 8080, 100).encode())
        [reset] = resets_sent(pair.node.sent)
        assert (reset.stream_id, reset.code) == (stream_id, ResetCode.PROTOCOL_ERROR)
        # Reusing the live stream's id ends that stream (and only it).
        gone = stream_id == live
        assert bool(pair.node.of(StreamReset)) is gone
        assert pair.node.protocol.stream_count == (0 if gone else 1)

    def test_accept_stream_only_once_and_only_on_the_node(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        with pytest.raises(InvalidState):
            pair.node.protocol.accept_stream(stream_id)
        other = pair.gateway.protocol.open_stream("L1", 8080)
        with pytest.raises(InvalidState):
            pair.gateway.protocol.accept_stream(other)

    def test_calls_on_gone_streams_are_no_ops(self) -> None:
        pair = open_pair()
        node = pair.node.protocol
        node.accept_stream(99)
        assert node.send_data(99, b"x") == 0
        node.stream_consumed(99, 1)
        node.finish_stream(99)
        node.reset_stream(99, ResetCode.CANCELLED)
        assert node.messages_to_send() == [] and node.events_received() == []

    def test_no_data_after_finish(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.node.protocol.finish_stream(stream_id)
        with pytest.raises(InvalidState):
            pair.node.protocol.send_data(stream_id, b"late")

    def test_frames_for_unknown_streams_are_ignored(self) -> None:
        pair = open_pair()
        for frame in (Data(9, b"x"), Window(9, 5), Fin(9), Reset(9, 1), Accept(9, 5)):
            feed_node(pair, frame.encode())
        assert pair.node.sent == [] and pair.node.events == []
        assert pair.node.protocol.state is State.OPEN

    def test_accept_for_a_stream_the_node_did_not_open(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        feed_node(pair, Accept(stream_id, 10).encode())
        [reset] = resets_sent(pair.node.sent)
        assert reset.code == ResetCode.PROTOCOL_ERROR
        assert pair.node.of(StreamReset) == [
            StreamReset(stream_id, ResetCode.PROTOCOL_ERROR, "unexpected ACCEPT", by_peer=False)
        ]
        assert StreamReset(stream_id, ResetCode.PROTOCOL_ERROR, "unexpected ACCEPT", True) in (
            pair.gateway.events
        )

    def test_a_second_accept_resets_the_stream(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.gateway.protocol.receive_message(Accept(stream_id, 10).encode(), pair.now)
        pair.pump()
        assert pair.gateway.of(StreamReset)

    @pytest.mark.parametrize(
        "frame", [Data(1, b"x"), Window(1, 10), Fin(1)], ids=["data", "window", "fin"]
    )
    def test_frames_before_accept_reset_the_stream(self, frame: Any) -> None:
        pair = open_pair()
        pair.gateway.protocol.open_stream("L1", 8080)
        pair.pump()
        feed_node(pair, frame.encode())
        [reset] = resets_sent(pair.node.sent)
        assert (reset.code, reset.reason) == (ResetCode.PROTOCOL_ERROR, "frame before ACCEPT")

    def test_data_after_fin_resets_the_stream(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        feed_node(pair, Fin(stream_id).encode())
        feed_node(pair, Data(stream_id, b"x").encode())
        [reset] = resets_sent(pair.node.sent)
        assert reset.reason == "DATA after FIN"

    def test_a_second_fin_resets_the_stream(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        feed_node(pair, Fin(stream_id).encode())
        feed_node(pair, Fin(stream_id).encode())
        [reset] = resets_sent(pair.node.sent)
        assert reset.reason == "second FIN"

    def test_reset_by_the_peer(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.gateway.protocol.reset_stream(stream_id, ResetCode.CANCELLED, "client left")
        pair.pump()
        assert pair.node.events == [
            StreamReset(stream_id, ResetCode.CANCELLED, "client left", by_peer=True)
        ]

    def test_a_stream_level_decode_error_resets_only_that_stream(self) -> None:
        pair = open_pair()
        first, second = open_stream(pair), open_stream(pair)
        bad_window = bytes((FrameKind.WINDOW,)) + first.to_bytes(4, "big") + bytes(4)
        feed_node(pair, bad_window)
        [reset] = resets_sent(pair.node.sent)
        assert (reset.stream_id, reset.code) == (first, ResetCode.PROTOCOL_ERROR)
        assert pair.node.protocol.stream_count == 1
        pair.gateway.protocol.send_data(second, b"still fine")
        pair.pump()
        assert node_data(pair, second) == b"still fine"

    def test_a_bad_open_is_answered_with_reset(self) -> None:
        pair = open_pair()
        bad_open = bytes((FrameKind.OPEN,)) + (7).to_bytes(4, "big") + b"\x02\xff\xfe" + bytes(6)
        feed_node(pair, bad_open)
        [reset] = resets_sent(pair.node.sent)
        assert (reset.stream_id, reset.code) == (7, ResetCode.PROTOCOL_ERROR)
        assert pair.node.events == []  # the node never knew stream 7

    def test_a_malformed_reset_is_not_answered(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        bad_reset = bytes((FrameKind.RESET,)) + stream_id.to_bytes(4, "big") + b"\x00"
        feed_node(pair, bad_reset)
        assert pair.node.sent == []  # never RESET in answer to a RESET: no ping-pong
        [event] = pair.node.events
        assert isinstance(event, StreamReset) and event.by_peer
        assert event.code == ResetCode.PROTOCOL_ERROR

    @pytest.mark.parametrize(
        ("frame", "code"),
        [(b"\x03\x00", CloseCode.MALFORMED), (b"\x03" + bytes(4) + b"x", CloseCode.MALFORMED)],
        ids=["short", "stream-0"],
    )
    def test_unusable_headers_close_the_session(self, frame: bytes, code: CloseCode) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        feed_node(pair, frame)
        assert pair.node.close is not None and pair.node.close.code == code
        # Every stream ends with the session, on both sides.
        assert StreamReset(stream_id, ResetCode.CANCELLED, "session closed", False) in (
            pair.node.events
        )
        assert StreamReset(stream_id, ResetCode.CANCELLED, "session closed", True) in (
            pair.gateway.events
        )

    def test_an_oversized_frame_closes_too_large(self) -> None:
        pair = open_pair()
        feed_node(pair, bytes((FrameKind.DATA,)) + (1).to_bytes(4, "big") + bytes(MAX_DATA + 1))
        assert pair.node.close is not None and pair.node.close.code == CloseCode.TOO_LARGE


class TestLease:
    def test_lease_close_from_the_gateway_ends_its_streams_only(self) -> None:
        pair = open_pair()
        pair.expose("L2", 9000)
        doomed = open_stream(pair, "L1", 8080)
        kept = open_stream(pair, "L2", 9000)
        pair.gateway.protocol.send_control(LeaseClose(lease_id="L1", reason="ended"))
        pair.pump()
        expected = StreamReset(doomed, ResetCode.LEASE_CLOSED, "lease closed", by_peer=False)
        assert pair.gateway.events == [expected]
        assert pair.node.events == [
            StreamReset(doomed, ResetCode.LEASE_CLOSED, "lease closed", by_peer=True),
            ControlReceived(LeaseClose(lease_id="L1", reason="ended")),
        ]
        assert resets_sent(pair.node.sent + pair.gateway.sent) == []
        pair.gateway.protocol.send_data(kept, b"alive")
        pair.pump()
        assert node_data(pair, kept) == b"alive"
        # The closed lease's port is no longer exposed.
        pair.gateway.protocol.open_stream("L1", 8080)
        pair.pump()
        assert pair.gateway.of(StreamReset)[-1].code == ResetCode.REFUSED

    def test_lease_close_from_the_node(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.node.protocol.send_control(LeaseClose(lease_id="L1", reason="user stopped"))
        pair.pump()
        assert pair.node.events == [
            StreamReset(stream_id, ResetCode.LEASE_CLOSED, "lease closed", by_peer=False)
        ]
        assert pair.gateway.events[0] == StreamReset(
            stream_id, ResetCode.LEASE_CLOSED, "lease closed", by_peer=True
        )
        assert pair.gateway.protocol.stream_count == pair.node.protocol.stream_count == 0

    def test_frames_in_flight_for_a_closed_lease_are_ignored(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.hold_to_node = True
        pair.gateway.protocol.send_data(stream_id, b"in flight")
        pair.pump()
        pair.node.protocol.send_control(LeaseClose(lease_id="L1", reason="done"))
        pair.hold_to_node = False
        pair.pump()
        assert node_data(pair, stream_id) == b""
        assert resets_sent(pair.node.sent) == []


class TestFlowControl:
    def test_sender_stops_at_credit_and_resumes_on_window(self) -> None:
        pair = open_pair()
        gateway, node = pair.gateway.protocol, pair.node.protocol
        stream_id = open_stream(pair)
        payload = bytes(range(256)) * 1200  # 300 KiB
        assert gateway.send_data(stream_id, payload) == len(payload)
        pair.pump()
        received = node_data(pair, stream_id)
        assert received == payload[:INITIAL_WINDOW]
        frames = decode_sent(pair.gateway.sent)
        assert all(isinstance(f, Data) and len(f.payload) <= MAX_DATA for f in frames)
        # Less than half the window consumed: no WINDOW yet (no tiny updates).
        node.stream_consumed(stream_id, INITIAL_WINDOW // 2 - 1)
        assert node.messages_to_send() == []
        node.stream_consumed(stream_id, 1)
        [window] = decode_sent(node.messages_to_send())
        assert window == Window(stream_id, INITIAL_WINDOW // 2)

    def test_window_releases_buffered_data(self) -> None:
        pair = open_pair()
        gateway, node = pair.gateway.protocol, pair.node.protocol
        stream_id = open_stream(pair)
        payload = b"z" * (INITIAL_WINDOW + 1000)
        gateway.send_data(stream_id, payload)
        pair.pump()
        node.stream_consumed(stream_id, INITIAL_WINDOW)
        pair.pump()
        assert node_data(pair, stream_id) == payload

    def test_send_data_takes_less_when_the_buffer_is_full(self) -> None:
        config = TunnelConfig(max_send_buffer=1000)
        pair = open_pair(gateway_config=config, node_config=TunnelConfig(initial_window=500))
        gateway, node = pair.gateway.protocol, pair.node.protocol
        stream_id = open_stream(pair)
        # 500 bytes of credit go out, 1000 wait in the buffer, the rest is refused.
        assert gateway.send_data(stream_id, b"a" * 2000) == 1500
        assert gateway.send_data(stream_id, b"b") == 0
        pair.pump()
        assert pair.gateway.of(StreamWritable) == []
        node.stream_consumed(stream_id, 250)  # half of the node's 500-byte window
        pair.pump()
        assert pair.gateway.of(StreamWritable) == [StreamWritable(stream_id)]
        assert len(node_data(pair, stream_id)) == 750

    def test_no_writable_event_while_the_buffer_stays_full(self) -> None:
        pair = open_pair(node_config=TunnelConfig(initial_window=0))
        gateway = pair.gateway.protocol
        stream_id = gateway.open_stream("L1", 8080)
        limit = gateway.config.max_send_buffer
        assert gateway.send_data(stream_id, bytes(limit + 1)) == limit
        pair.pump()
        pair.node.protocol.accept_stream(stream_id)  # ACCEPT with a zero window
        pair.pump()
        assert pair.gateway.events == [StreamAccepted(stream_id)]

    def test_data_beyond_credit_resets_that_stream(self) -> None:
        pair = open_pair(node_config=TunnelConfig(initial_window=10))
        stream_id = open_stream(pair)
        feed_node(pair, Data(stream_id, b"x" * 11).encode())
        [reset] = resets_sent(pair.node.sent)
        assert (reset.stream_id, reset.code) == (stream_id, ResetCode.FLOW_CONTROL_ERROR)
        assert pair.gateway.of(StreamReset)[0].code == ResetCode.FLOW_CONTROL_ERROR
        assert pair.node.protocol.state is State.OPEN

    def test_window_overflow_resets_that_stream(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        feed_node(pair, Window(stream_id, MAX_WINDOW).encode())
        [reset] = resets_sent(pair.node.sent)
        assert reset.code == ResetCode.FLOW_CONTROL_ERROR

    def test_window_after_our_fin_is_harmless(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.node.protocol.finish_stream(stream_id)
        pair.pump()
        feed_node(pair, Window(stream_id, 100).encode())
        assert pair.node.sent == [Fin(stream_id).encode()]

    def test_stream_consumed_checks_its_count(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.gateway.protocol.send_data(stream_id, b"abc")
        pair.pump()
        node = pair.node.protocol
        with pytest.raises(ValueError):
            node.stream_consumed(stream_id, -1)
        with pytest.raises(ValueError):
            node.stream_consumed(stream_id, 4)
        node.stream_consumed(stream_id, 0)
        assert node.messages_to_send() == []

    def test_no_credit_after_the_peer_finished(self) -> None:
        pair = open_pair(node_config=TunnelConfig(initial_window=4))
        stream_id = open_stream(pair)
        pair.gateway.protocol.send_data(stream_id, b"abcd")
        pair.gateway.protocol.finish_stream(stream_id)
        pair.pump()
        pair.node.protocol.stream_consumed(stream_id, 4)
        assert pair.node.protocol.messages_to_send() == []


class TestConcurrency:
    def test_a_stream_without_credit_does_not_stop_another(self) -> None:
        pair = open_pair()
        gateway, node = pair.gateway.protocol, pair.node.protocol
        stalled, flowing = open_stream(pair), open_stream(pair)
        big = b"s" * (1 << 20)
        taken = gateway.send_data(stalled, big)  # the node never consumes this stream
        assert taken == INITIAL_WINDOW + gateway.config.max_send_buffer
        expected = bytes(range(256)) * 4096  # 1 MiB
        offset = 0
        # Consume as the application writes to the local socket, until everything arrived.
        consumed = 0
        for _ in range(100):
            delivered = node_data(pair, flowing)
            node.stream_consumed(flowing, len(delivered) - consumed)
            consumed = len(delivered)
            offset += gateway.send_data(flowing, expected[offset:])
            pair.pump()
            if consumed == len(expected):
                break
        assert node_data(pair, flowing) == expected
        assert node_data(pair, stalled) == big[:INITIAL_WINDOW]
        assert node.state is State.OPEN and gateway.stream_count == 2

    def test_many_concurrent_streams(self) -> None:
        pair = open_pair()
        gateway, node = pair.gateway.protocol, pair.node.protocol
        ids = [gateway.open_stream("L1", 8080) for _ in range(256)]
        assert len(set(ids)) == 256
        with pytest.raises(StreamLimitError):
            gateway.open_stream("L1", 8080)
        pair.pump()
        for stream_id in ids:
            node.accept_stream(stream_id)
            gateway.send_data(stream_id, f"request {stream_id}".encode())
            gateway.finish_stream(stream_id)
        pair.pump()
        for stream_id in ids:
            assert node_data(pair, stream_id) == f"request {stream_id}".encode()
            node.send_data(stream_id, f"response {stream_id}".encode())
            node.finish_stream(stream_id)
        pair.pump()
        for stream_id in ids:
            assert gateway_data(pair, stream_id) == f"response {stream_id}".encode()
        assert gateway.stream_count == node.stream_count == 0


class TestResumption:
    LEASES = (
        LeaseAnnouncement(lease_id="L1", ports=(8080,), state="running"),
        LeaseAnnouncement(lease_id="L2", ports=(9000,), state="running"),
        LeaseAnnouncement(lease_id="L3", ports=(7000,), state="pending"),
    )

    def test_gateway_answers_keep_or_close_for_each_announced_lease(self) -> None:
        pair = Pair()
        decisions = {"L1": LeaseAction.KEEP, "L2": LeaseAction.CLOSE, "L3": LeaseAction.KEEP}
        pair.handshake(leases=self.LEASES, decisions=decisions)
        [login] = pair.gateway.of(LoginReceived)
        assert isinstance(login, LoginReceived) and login.login.leases == self.LEASES
        [welcomed] = pair.node.of(Welcomed)
        assert isinstance(welcomed, Welcomed)
        assert [(d.lease_id, d.action) for d in welcomed.welcome.leases] == list(decisions.items())
        # Kept and running: exposed. Closed: not. Kept but pending: not until running.
        pair.clear()
        for lease_id, port in (("L1", 8080), ("L2", 9000), ("L3", 7000)):
            pair.gateway.protocol.open_stream(lease_id, port)
        pair.pump()
        assert [e.lease_id for e in pair.node.of(StreamOpened)] == ["L1"]
        assert len(pair.gateway.of(StreamReset)) == 2

    @pytest.mark.parametrize(
        "decided", [("L1",), ("L1", "L2", "L9")], ids=["lease-lost", "lease-invented"]
    )
    def test_node_refuses_a_welcome_that_loses_or_invents_a_lease(
        self, decided: tuple[str, ...]
    ) -> None:
        node = node_authenticating(self.LEASES[:2])
        welcome = {
            "type": "welcome",
            "session_id": "s",
            "heartbeat_interval": 20,
            "heartbeat_timeout": 60,
            "fizz_id": 1,
            "leases": [{"lease_id": lease_id, "action": "keep"} for lease_id in decided],
        }
        node.receive_message(json.dumps(welcome), T0)
        assert close_code(node) == CloseCode.MALFORMED

    def test_reconnect_announces_what_still_runs(self) -> None:
        first = Pair()
        first.handshake(leases=self.LEASES[:1])
        first.node.protocol.receive_close(None)  # the network dropped
        closing = closing_event(first.node.protocol.events_received())
        assert (closing.code, closing.retryable, closing.by_peer) == (ABNORMAL_CLOSURE, True, True)
        second = Pair(now=T0 + 5)
        second.handshake(leases=self.LEASES[:1])
        assert second.node.protocol.state is State.OPEN
        [welcomed] = second.node.of(Welcomed)
        assert isinstance(welcomed, Welcomed) and len(welcomed.welcome.leases) == 1


class TestClose:
    def test_fail_reports_once_and_closes_once(self) -> None:
        pair = open_pair()
        node = pair.node.protocol
        node.fail(CloseCode.MALFORMED, "bad")
        node.fail(CloseCode.TOO_LARGE, "again")
        assert node.close_to_send() == Close(CloseCode.MALFORMED, "bad")
        assert node.close_to_send() is None
        assert closing_event(node.events_received()) == SessionClosing(
            CloseCode.MALFORMED, "bad", retryable=True, by_peer=False
        )
        assert node.state.name == "CLOSING"  # (by name: mypy would keep it narrowed below)
        node.receive_message(encode_message(CAPACITY), pair.now)
        node.receive_message(b"\x03", pair.now)
        node.receive_close(CloseCode.MALFORMED, "bad")
        node.receive_close(CloseCode.MALFORMED, "bad")
        assert node.state is State.CLOSED
        assert node.events_received() == [] and node.messages_to_send() == []

    def test_normal_close_reaches_the_peer(self) -> None:
        pair = open_pair()
        pair.node.protocol.close("user stopped the node")
        pair.pump()
        assert closing_event(pair.gateway.events) == SessionClosing(
            CloseCode.NORMAL, "user stopped the node", retryable=True, by_peer=True
        )

    def test_fatal_close_from_the_gateway(self) -> None:
        pair = open_pair()
        pair.gateway.protocol.fail(CloseCode.ALREADY_CONNECTED, "running elsewhere")
        pair.pump()
        closing = closing_event(pair.node.events)
        assert not closing.retryable and closing.by_peer

    def test_close_reason_fits_a_close_frame(self) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        node.fail(CloseCode.MALFORMED, "é" * 100)
        close = node.close_to_send()
        assert close is not None and len(close.reason.encode()) <= 123

    def test_messages_queued_before_a_close_still_go_first(self) -> None:
        pair = open_pair()
        pair.node.protocol.send_control(CAPACITY)
        pair.node.protocol.close()
        pair.pump()
        assert pair.gateway.events[0] == ControlReceived(CAPACITY)

    def test_stream_calls_after_close_are_no_ops(self) -> None:
        pair = open_pair()
        stream_id = open_stream(pair)
        pair.node.protocol.close()
        pair.pump()
        assert pair.node.protocol.send_data(stream_id, b"x") == 0
        pair.node.protocol.finish_stream(stream_id)
        assert pair.node.protocol.messages_to_send() == []

    def test_usage_reports_survive_a_round_trip(self) -> None:
        pair = open_pair()
        usage = Usage(
            lease_id="L1",
            cpu_seconds=12.5,
            memory_peak_bytes=1 << 30,
            bytes_in=10,
            bytes_out=20,
            at=T0,
        )
        pair.node.protocol.send_control(usage)
        pair.pump()
        assert pair.gateway.events == [ControlReceived(usage)]


# ---- Fuzzing a live session --------------------------------------------------------------------

_STREAM_IDS = st.sampled_from([1, 2, 3, 5, 7, 9, 0xFFFFFFFF])
_FRAMES = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda kind, stream_id, body: bytes((kind,)) + stream_id.to_bytes(4, "big") + body,
        st.integers(0, 8),
        _STREAM_IDS,
        st.binary(max_size=24),
    ),
    st.builds(lambda s, n: Window(s, n).encode(), _STREAM_IDS, st.integers(1, MAX_WINDOW)),
    st.builds(lambda s, d: Data(s, d).encode(), _STREAM_IDS, st.binary(min_size=1, max_size=64)),
    st.builds(lambda s: Fin(s).encode(), _STREAM_IDS),
    st.builds(
        lambda s, p: Open(s, "L1", p, 1000).encode(), _STREAM_IDS, st.sampled_from([8080, 22])
    ),
)
_TEXTS = st.one_of(
    st.text(max_size=64),
    st.sampled_from(
        [
            encode_message(HeartbeatAck(seq=1)),
            encode_message(LeaseClose(lease_id="L1", reason="x")),
            hello_text(),
            '{"type":"manifest","lease_id":"L1","services":[{}]}',
            '{"type":"heartbeat_ack","seq":99}',
        ]
    ),
)


def _live_pair() -> tuple[Pair, int]:
    pair = open_pair()
    stream_id = open_stream(pair)
    pair.gateway.protocol.open_stream("L1", 8080)  # a second one, not yet accepted
    pair.pump()
    pair.clear()
    return pair, stream_id


def _assert_well_behaved(protocol: TunnelProtocol, sent: list[str | bytes]) -> None:
    for message in sent:
        if isinstance(message, bytes):
            frame = decode_frame(message)  # whatever we send must decode
            if isinstance(frame, Reset):
                assert frame.code in set(ResetCode)
        else:
            decode_message(message)
    close = protocol.close_to_send()
    if close is not None:
        assert close.code in set(CloseCode)
    assert protocol.state in (State.OPEN, State.CLOSING)


class TestFuzz:
    @settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(_FRAMES, _TEXTS), min_size=1, max_size=5))
    def test_random_input_to_a_node_never_raises(self, inputs: list[str | bytes]) -> None:
        pair, _ = _live_pair()
        node = pair.node.protocol
        for message in inputs:
            node.receive_message(message, pair.now)
        node.events_received()
        _assert_well_behaved(node, node.messages_to_send())

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(_FRAMES, _TEXTS), min_size=1, max_size=5))
    def test_random_input_to_a_gateway_never_raises(self, inputs: list[str | bytes]) -> None:
        pair, _ = _live_pair()
        gateway = pair.gateway.protocol
        for message in inputs:
            gateway.receive_message(message, pair.now)
        gateway.events_received()
        _assert_well_behaved(gateway, gateway.messages_to_send())

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(_FRAMES, _TEXTS), max_size=6))
    def test_random_input_during_the_handshake_never_raises(
        self, inputs: list[str | bytes]
    ) -> None:
        node = TunnelProtocol(Side.NODE, T0)
        gateway = gateway_started()
        for message in inputs:
            node.receive_message(message, T0)
            gateway.receive_message(message, T0)
        for protocol in (node, gateway):
            protocol.events_received()
            protocol.messages_to_send()
            close = protocol.close_to_send()
            assert close is None or close.code in set(CloseCode)
