"""Tests for gateway_client.frames: byte layouts, strict decoding, and decoder fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_client.exceptions import CloseCode, FrameError, ResetCode
from gateway_client.frames import (
    MAX_DATA,
    MAX_FRAME_BYTES,
    MAX_RESET_REASON,
    MAX_STREAM_ID,
    MAX_WINDOW,
    Accept,
    Data,
    Fin,
    Frame,
    FrameKind,
    Open,
    Reset,
    Window,
    decode_frame,
    encode_frame,
    truncate_utf8,
)


def header(kind: int, stream_id: int) -> bytes:
    return bytes((kind,)) + stream_id.to_bytes(4, "big")


def decode_error(data: bytes) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode_frame(data)
    return info.value


class TestLayouts:
    """The byte tables of PROTOCOL.md §4, checked byte for byte."""

    def test_open(self) -> None:
        frame = Open(1, "L1", 8080, 262144)
        wire = b"\x01\x00\x00\x00\x01" + b"\x02L1" + b"\x1f\x90" + b"\x00\x04\x00\x00"
        assert frame.encode() == wire
        assert decode_frame(wire) == frame

    def test_accept(self) -> None:
        assert Accept(3, 65536).encode() == b"\x02\x00\x00\x00\x03\x00\x01\x00\x00"

    def test_data(self) -> None:
        assert Data(0xFFFFFFFF, b"hi").encode() == b"\x03\xff\xff\xff\xffhi"

    def test_window(self) -> None:
        assert Window(2, 1).encode() == b"\x04\x00\x00\x00\x02\x00\x00\x00\x01"

    def test_fin(self) -> None:
        assert Fin(5).encode() == b"\x05\x00\x00\x00\x05"

    def test_reset(self) -> None:
        wire = b"\x06\x00\x00\x00\x07\x00\x02refused"
        assert Reset(7, ResetCode.CONNECT_FAILED, "refused").encode() == wire
        assert decode_frame(wire) == Reset(7, 2, "refused")

    def test_reset_without_reason(self) -> None:
        assert decode_frame(Reset(7, 6).encode()) == Reset(7, 6, "")

    @pytest.mark.parametrize(
        "frame",
        [
            Open(1, "lease.with:odd-chars_9", 1, 0),
            Open(MAX_STREAM_ID, "é" * 127, 65535, MAX_WINDOW),
            Accept(2, 0),
            Data(4, bytes(MAX_DATA)),
            Window(6, MAX_WINDOW),
            Fin(8),
            Reset(10, 0xFFFF, "ünïcode"),
        ],
    )
    def test_round_trip(self, frame: Frame) -> None:
        assert decode_frame(encode_frame(frame)) == frame

    def test_the_largest_frame_is_a_full_data_frame(self) -> None:
        assert len(Data(1, bytes(MAX_DATA)).encode()) == MAX_FRAME_BYTES


class TestEncodeChecks:
    """Encoders refuse values that cannot be on the wire (a bug in the caller)."""

    @pytest.mark.parametrize(
        "frame",
        [
            Fin(0),
            Fin(MAX_STREAM_ID + 1),
            Open(1, "", 80, 0),
            Open(1, "x" * 256, 80, 0),
            Open(1, "L1", 0, 0),
            Open(1, "L1", 65536, 0),
            Open(1, "L1", 80, MAX_WINDOW + 1),
            Accept(1, -1),
            Data(1, b""),
            Data(1, bytes(MAX_DATA + 1)),
            Window(1, 0),
            Window(1, MAX_WINDOW + 1),
            Reset(1, 0x10000),
        ],
    )
    def test_out_of_range(self, frame: Frame) -> None:
        with pytest.raises(ValueError):
            frame.encode()

    def test_reset_reason_is_truncated_not_refused(self) -> None:
        wire = Reset(1, 5, "é" * 150).encode()
        frame = decode_frame(wire)
        assert isinstance(frame, Reset)
        assert frame.reason == "é" * (MAX_RESET_REASON // 2)


class TestTruncateUtf8:
    def test_short_text_is_unchanged(self) -> None:
        assert truncate_utf8("abc", 3) == "abc"

    def test_never_splits_a_character(self) -> None:
        assert truncate_utf8("aé", 2) == "a"
        assert truncate_utf8("€€", 5) == "€"

    def test_lone_surrogates_become_encodable(self) -> None:
        assert truncate_utf8("a\ud800b", 10) == "a?b"


class TestDecodeErrors:
    """Session-level errors have no stream id; stream-level ones name the stream to reset."""

    @pytest.mark.parametrize("data", [b"", b"\x03", b"\x03\x00\x00\x00"])
    def test_shorter_than_the_header(self, data: bytes) -> None:
        error = decode_error(data)
        assert (error.stream_id, error.code) == (None, CloseCode.MALFORMED)

    def test_longer_than_any_frame(self) -> None:
        error = decode_error(header(3, 1) + bytes(MAX_DATA + 1))
        assert (error.stream_id, error.code) == (None, CloseCode.TOO_LARGE)

    def test_stream_zero(self) -> None:
        error = decode_error(header(5, 0))
        assert (error.stream_id, error.kind) == (None, 5)

    @pytest.mark.parametrize(
        ("data", "reset_code"),
        [
            (header(3, 9), ResetCode.PROTOCOL_ERROR),  # empty DATA
            (header(1, 9), ResetCode.PROTOCOL_ERROR),  # OPEN without body
            (header(1, 9) + b"\x00" + bytes(6), ResetCode.PROTOCOL_ERROR),  # empty lease id
            (header(1, 9) + b"\x02L1" + bytes(5), ResetCode.PROTOCOL_ERROR),  # short
            (header(1, 9) + b"\x02L1" + bytes(7), ResetCode.PROTOCOL_ERROR),  # long
            (header(1, 9) + b"\x02\xff\xfe" + b"\x00\x50" + bytes(4), ResetCode.PROTOCOL_ERROR),
            (header(1, 9) + b"\x02L1" + bytes(6), ResetCode.PROTOCOL_ERROR),  # port 0
            (header(1, 9) + b"\x02L1\x00\x50\x80\x00\x00\x00", ResetCode.FLOW_CONTROL_ERROR),
            (header(2, 9) + bytes(3), ResetCode.PROTOCOL_ERROR),
            (header(2, 9) + b"\xff\xff\xff\xff", ResetCode.FLOW_CONTROL_ERROR),
            (header(4, 9) + bytes(4), ResetCode.PROTOCOL_ERROR),  # increment 0
            (header(4, 9) + bytes(5), ResetCode.PROTOCOL_ERROR),
            (header(4, 9) + b"\x80\x00\x00\x00", ResetCode.FLOW_CONTROL_ERROR),
            (header(5, 9) + b"x", ResetCode.PROTOCOL_ERROR),  # FIN with a body
            (header(6, 9) + b"\x00", ResetCode.PROTOCOL_ERROR),  # RESET without a code
            (header(6, 9) + bytes(2 + MAX_RESET_REASON + 1), ResetCode.PROTOCOL_ERROR),
            (header(6, 9) + b"\x00\x01\xff", ResetCode.PROTOCOL_ERROR),  # reason not UTF-8
            (header(0, 9), ResetCode.PROTOCOL_ERROR),  # unknown kinds
            (header(7, 9) + b"future", ResetCode.PROTOCOL_ERROR),
            (header(255, 9), ResetCode.PROTOCOL_ERROR),
        ],
    )
    def test_stream_level(self, data: bytes, reset_code: ResetCode) -> None:
        error = decode_error(data)
        assert (error.stream_id, error.kind, error.reset_code) == (9, data[0], reset_code)

    def test_the_error_reads_well(self) -> None:
        assert str(decode_error(header(7, 9))) == "MALFORMED: unknown frame kind 7"


# ---- Fuzzing ------------------------------------------------------------------------------------

STREAM_IDS = st.integers(1, MAX_STREAM_ID)
WINDOWS = st.integers(0, MAX_WINDOW)
FRAMES = st.one_of(
    st.builds(
        Open,
        STREAM_IDS,
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),  # <= 80 bytes
        st.integers(1, 65535),
        WINDOWS,
    ),
    st.builds(Accept, STREAM_IDS, WINDOWS),
    st.builds(Data, STREAM_IDS, st.binary(min_size=1, max_size=256)),
    st.builds(Window, STREAM_IDS, st.integers(1, MAX_WINDOW)),
    st.builds(Fin, STREAM_IDS),
    st.builds(Reset, STREAM_IDS, st.integers(0, 0xFFFF), st.text(max_size=60)),  # truncated
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame, then one mutation: flip, truncate, extend, splice or re-kind."""
    wire = bytearray(draw(FRAMES).encode())
    mutation = draw(st.sampled_from(["flip", "truncate", "extend", "splice", "kind"]))
    if mutation == "flip":
        index = draw(st.integers(0, len(wire) - 1))
        wire[index] ^= draw(st.integers(1, 255))
    elif mutation == "truncate":
        del wire[draw(st.integers(0, len(wire) - 1)) :]
    elif mutation == "extend":
        wire += draw(st.binary(min_size=1, max_size=16))
    elif mutation == "splice":
        start = draw(st.integers(0, len(wire)))
        wire[start : start + draw(st.integers(0, 8))] = draw(st.binary(max_size=8))
    else:
        wire[0] = draw(st.integers(0, 255))
    return bytes(wire)


class TestFuzz:
    @settings(max_examples=2000, deadline=None)
    @given(st.binary(max_size=300))
    def test_arbitrary_bytes_raise_only_frame_error(self, data: bytes) -> None:
        try:
            frame = decode_frame(data)
        except FrameError as error:
            assert error.stream_id is None or 1 <= error.stream_id <= MAX_STREAM_ID
            return
        # Whatever decodes re-encodes to the very same bytes: one meaning per byte string.
        assert frame.encode() == data
        assert frame.kind == FrameKind(data[0])

    @settings(max_examples=2000, deadline=None)
    @given(mutated_frames())
    def test_mutated_frames_raise_only_frame_error(self, data: bytes) -> None:
        try:
            frame = decode_frame(data)
        except FrameError:
            return
        assert frame.encode() == data

    @settings(max_examples=500, deadline=None)
    @given(FRAMES)
    def test_valid_frames_round_trip(self, frame: Frame) -> None:
        decoded = decode_frame(frame.encode())
        if isinstance(frame, Reset):  # the reason may have been truncated or sanitised
            assert isinstance(decoded, Reset) and decoded.code == frame.code
        else:
            assert decoded == frame
