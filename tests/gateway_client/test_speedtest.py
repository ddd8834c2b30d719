"""Speed tests through the tunnel (PROTOCOL.md §14), pure: a node and a gateway protocol in
memory (``Pair``) or one protocol fed hand-made frames. No socket, no event loop."""

from __future__ import annotations

import pytest

from gateway_client.exceptions import InvalidState, ProtocolError, ResetCode, StreamLimitError
from gateway_client.frames import (
    INITIAL_WINDOW,
    MAX_DATA,
    Accept,
    Data,
    Fin,
    Open,
    Reset,
    Window,
    decode_frame,
)
from gateway_client.messages import (
    SpeedtestRequest,
    SpeedtestResult,
    decode_message,
    encode_message,
)
from gateway_client.protocol import (
    SpeedtestDone,
    State,
    StreamAccepted,
    StreamData,
    StreamOpened,
    StreamReset,
    TunnelConfig,
)
from gateway_client.speedtest import (
    DOWN,
    TEST_PORT,
    UP,
    SpeedtestTransfer,
    mbps,
    speedtest_direction,
    speedtest_lease_id,
)

from .pair import Pair, decode_sent, open_pair

MIB = 1024 * 1024


def request(pair: Pair, direction: str, nbytes: int) -> None:
    assert pair.node.protocol.send_control(SpeedtestRequest(direction=direction, nbytes=nbytes))
    pair.pump()


def run_test(pair: Pair, direction: str, nbytes: int) -> tuple[SpeedtestDone, SpeedtestDone]:
    """Request, open and pump a test; return (node's, gateway's) SpeedtestDone."""
    request(pair, direction, nbytes)
    pair.gateway.protocol.open_speedtest(direction, nbytes, pair.now)
    pair.pump()
    (node_done,) = pair.node.of(SpeedtestDone)
    (gateway_done,) = pair.gateway.of(SpeedtestDone)
    return node_done, gateway_done


def data_frames(sent: list[str | bytes]) -> list[Data]:
    return [f for f in decode_sent(sent) if isinstance(f, Data)]


class TestNames:
    def test_lease_ids_are_reserved_and_round_trip(self) -> None:
        for direction in (DOWN, UP):
            lease_id = speedtest_lease_id(direction)
            assert lease_id.startswith("#") and speedtest_direction(lease_id) == direction
        assert speedtest_direction("#speedtest:sideways") is None
        assert speedtest_direction("L1") is None
        with pytest.raises(ValueError, match="direction"):
            speedtest_lease_id("sideways")

    def test_mbps(self) -> None:
        assert mbps(1_000_000, 1.0) == 8.0
        assert mbps(125, 0.0) == pytest.approx(1000.0)  # a zero duration counts as 1 µs

    def test_transfer_book(self) -> None:
        sender = SpeedtestTransfer(DOWN, 10, sending=True, started=0.0)
        assert sender.chunk(credit=4, limit=100) == bytes(range(4)) and sender.unsent == 6
        assert sender.receive(1) == "DATA from the receiving end of a speed test"
        assert "finished before" in sender.finished_early(fin_sent=False)
        assert sender.finished_early(fin_sent=True) == ""
        receiver = SpeedtestTransfer(UP, 10, sending=False, started=0.0)
        assert receiver.unsent == 0 and receiver.receive(6) == ""
        assert receiver.finished_early(fin_sent=False) == "6 of 10 test bytes arrived"
        assert "more than the 10" in receiver.receive(5)
        assert receiver.receive(4) == "" and receiver.finished_early(fin_sent=False) == ""


class TestTransfer:
    @pytest.mark.parametrize("direction", [DOWN, UP])
    def test_bytes_move_under_credit_and_both_ends_time_them(self, direction: str) -> None:
        pair = open_pair()
        nbytes = 3 * MIB + 5  # many windows, and a last short frame
        node_done, gateway_done = run_test(pair, direction, nbytes)
        for done in (node_done, gateway_done):
            assert done.ok and done.direction == direction and done.nbytes == nbytes
        sender = pair.gateway if direction == DOWN else pair.node
        receiver = pair.node if direction == DOWN else pair.gateway
        frames = data_frames(sender.sent)
        assert sum(len(f.payload) for f in frames) == nbytes
        assert max(len(f.payload) for f in frames) == MAX_DATA
        # Credit came back in WINDOWs from the receiver, as for any stream.
        assert [f for f in decode_sent(receiver.sent) if isinstance(f, Window)]
        # The driver never sees a test stream: nothing to connect, nothing to relay.
        for end in (pair.node, pair.gateway):
            assert not end.of(StreamOpened) and not end.of(StreamData)
            assert not end.of(StreamAccepted) and not end.of(StreamReset)
            assert end.protocol.stream_count == 0
        (opened,) = [f for f in decode_sent(pair.gateway.sent) if isinstance(f, Open)]
        assert (opened.lease_id, opened.port) == (speedtest_lease_id(direction), TEST_PORT)

    def test_timing_runs_from_open_to_the_peer_fin(self) -> None:
        pair = open_pair()
        request(pair, DOWN, 100)
        pair.gateway.protocol.open_speedtest(DOWN, 100, pair.now)
        pair.now += 2.0  # the OPEN takes 2 s to arrive; the rest is instant
        pair.pump()
        (node_done,) = pair.node.of(SpeedtestDone)
        (gateway_done,) = pair.gateway.of(SpeedtestDone)
        assert (node_done.seconds, gateway_done.seconds) == (0.0, 2.0)

    def test_a_stalled_receiver_stops_only_the_test(self) -> None:
        pair = open_pair(gateway_config=TunnelConfig(initial_window=64 * 1024))
        request(pair, UP, MIB)
        pair.hold_to_gateway = True  # nothing reaches the gateway, so no credit comes back
        pair.gateway.protocol.open_speedtest(UP, MIB, pair.now)
        pair.pump()
        sent = sum(len(f.payload) for f in data_frames(pair.node.sent))
        assert sent == 64 * 1024  # one window, not the megabyte
        assert pair.node.protocol.state is State.OPEN

    def test_the_driver_cannot_touch_a_test_stream(self) -> None:
        pair = open_pair()
        request(pair, UP, MIB)
        pair.hold_to_gateway = True
        stream_id = pair.gateway.protocol.open_speedtest(UP, MIB, pair.now)
        pair.pump()
        node = pair.node.protocol
        assert node.send_data(stream_id, b"x") == 0
        node.stream_consumed(stream_id, 0)
        node.finish_stream(stream_id)
        node.accept_stream(stream_id)
        assert node.stream_count == 1
        node.reset_stream(stream_id, ResetCode.CANCELLED, "stop")  # allowed: no event
        assert node.stream_count == 0 and not pair.node.of(SpeedtestDone)


class TestRefusals:
    def test_node_refuses_a_test_it_did_not_ask_for(self) -> None:
        pair = open_pair()
        stream_id = pair.gateway.protocol.open_speedtest(DOWN, 100, pair.now)
        pair.pump()
        (reset,) = [f for f in decode_sent(pair.node.sent) if isinstance(f, Reset)]
        assert (reset.stream_id, reset.code) == (stream_id, ResetCode.REFUSED)
        (done,) = pair.gateway.of(SpeedtestDone)
        assert not done.ok and "no speed test was requested" in done.failure
        assert not pair.node.of(SpeedtestDone) and not pair.node.of(StreamOpened)

    def test_one_open_per_request(self) -> None:
        pair = open_pair()
        request(pair, UP, 10)
        run_twice = [pair.gateway.protocol.open_speedtest(UP, 10, pair.now) for _ in range(2)]
        pair.pump()
        done = {d.stream_id: d for d in pair.gateway.of(SpeedtestDone)}
        assert done[run_twice[0]].ok and not done[run_twice[1]].ok

    def test_open_speedtest_checks_side_state_and_arguments(self) -> None:
        pair = open_pair()
        with pytest.raises(InvalidState):
            pair.node.protocol.open_speedtest(DOWN, 10, pair.now)
        for direction, nbytes in [("sideways", 10), (DOWN, 0), (UP, 2**32)]:
            with pytest.raises(ValueError, match="bad speed test"):
                pair.gateway.protocol.open_speedtest(direction, nbytes, pair.now)
        limited = open_pair(gateway_config=TunnelConfig(max_streams=1))
        limited.gateway.protocol.open_stream("L1", 8080)
        with pytest.raises(StreamLimitError):
            limited.gateway.protocol.open_speedtest(DOWN, 10, limited.now)

    def test_too_many_streams_refuse_a_test_too(self) -> None:
        pair = open_pair(node_config=TunnelConfig(max_streams=1))
        pair.gateway.protocol.open_stream("L1", 8080)
        request(pair, DOWN, 10)
        pair.gateway.protocol.open_speedtest(DOWN, 10, pair.now)
        pair.pump()
        (done,) = pair.gateway.of(SpeedtestDone)
        assert "too many streams" in done.failure


def node_with_test(direction: str, nbytes: int) -> tuple[Pair, int]:
    """A node that asked for a test and accepted the gateway's OPEN (fed by hand)."""
    pair = open_pair()
    request(pair, direction, nbytes)
    pair.clear()
    stream_id = 1001
    feed(pair, Open(stream_id, speedtest_lease_id(direction), TEST_PORT, INITIAL_WINDOW))
    assert isinstance(decode_frame(pair.node.protocol.messages_to_send()[0]), Accept)
    return pair, stream_id


def feed(pair: Pair, frame: Open | Data | Fin | Window) -> None:
    pair.node.protocol.receive_message(frame.encode(), pair.now)


def node_reset(pair: Pair) -> Reset:
    resets = [decode_frame(m) for m in pair.node.protocol.messages_to_send()]
    (reset,) = [f for f in resets if isinstance(f, Reset)]
    return reset


class TestBadPeers:
    def test_too_many_test_bytes_reset_the_test(self) -> None:
        pair, stream_id = node_with_test(DOWN, 10)
        feed(pair, Data(stream_id, b"x" * 11))
        assert node_reset(pair).code == ResetCode.PROTOCOL_ERROR
        (done,) = pair.node.protocol.events_received()
        assert isinstance(done, SpeedtestDone) and "more than the 10" in done.failure

    def test_fin_before_all_bytes_arrived_resets_the_test(self) -> None:
        pair, stream_id = node_with_test(DOWN, 10)
        feed(pair, Data(stream_id, b"x" * 4))
        feed(pair, Fin(stream_id))
        assert node_reset(pair).code == ResetCode.PROTOCOL_ERROR
        (done,) = pair.node.protocol.events_received()
        assert isinstance(done, SpeedtestDone)
        assert done.failure == "reset by this end: 4 of 10 test bytes arrived"

    def test_data_towards_the_sender_resets_the_test(self) -> None:
        pair, stream_id = node_with_test(UP, 10)
        feed(pair, Data(stream_id, b"x"))
        assert node_reset(pair).code == ResetCode.PROTOCOL_ERROR
        (done,) = pair.node.protocol.events_received()
        assert isinstance(done, SpeedtestDone) and "receiving end" in done.failure

    def test_receiver_fin_before_the_sender_finished_resets_the_test(self) -> None:
        pair = open_pair(node_config=TunnelConfig(initial_window=1000))
        request(pair, UP, 100_000)
        pair.clear()
        feed(pair, Open(1001, speedtest_lease_id(UP), TEST_PORT, 1000))  # credit: 1000 bytes
        feed(pair, Fin(1001))
        assert node_reset(pair).code == ResetCode.PROTOCOL_ERROR
        (done,) = pair.node.protocol.events_received()
        assert isinstance(done, SpeedtestDone) and done.nbytes == 1000
        assert "finished before all test bytes were sent" in done.failure

    def test_a_peer_reset_and_a_closing_session_end_the_test(self) -> None:
        pair, stream_id = node_with_test(DOWN, 10)
        pair.node.protocol.receive_message(Reset(stream_id, 99, "").encode(), pair.now)
        (done,) = pair.node.protocol.events_received()
        assert isinstance(done, SpeedtestDone) and done.failure == "reset by the peer (code 99)"
        pair, _ = node_with_test(DOWN, 10)
        pair.node.protocol.close("bye")
        done, _closing = pair.node.protocol.events_received()
        assert isinstance(done, SpeedtestDone) and "session closed" in done.failure

    def test_a_late_fin_for_a_finished_test_is_ignored(self) -> None:
        pair = open_pair()
        request(pair, UP, 10)
        pair.hold_to_node = True
        stream_id = pair.gateway.protocol.open_speedtest(UP, 10, pair.now)
        pair.pump()
        pair.hold_to_node = False
        pair.pump()
        assert pair.gateway.of(SpeedtestDone)[0].ok
        # A late duplicate FIN names a stream that is gone: ignored.
        pair.gateway.protocol.receive_message(Fin(stream_id).encode(), pair.now)
        assert pair.gateway.protocol.messages_to_send() == []


class TestMessages:
    def test_result_optional_fields_round_trip(self) -> None:
        result = SpeedtestResult(
            down_mbps=812.5, up_mbps=0.0, bucket="NA", direction="down", nbytes=MIB, seconds=0.01
        )
        text = encode_message(result)
        assert '"bytes":1048576' in text and decode_message(text) == result
        bare = decode_message('{"type":"speedtest_result","down_mbps":1,"up_mbps":2,"bucket":"NA"}')
        assert isinstance(bare, SpeedtestResult) and bare.direction is None

    def test_result_refuses_a_bad_direction(self) -> None:
        with pytest.raises(ProtocolError):
            decode_message(
                '{"type":"speedtest_result","down_mbps":1,"up_mbps":2,"bucket":"NA",'
                '"direction":"left"}'
            )
