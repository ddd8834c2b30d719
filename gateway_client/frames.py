"""Binary stream frames of ``fizz-tunnel.v1``: encoders and a strict decoder.

Each WebSocket BINARY message holds exactly one frame::

    kind: u8 | stream_id: u32 big-endian | body (depends on kind)

Build a frame dataclass and call :meth:`encode` (or :func:`encode_frame`) to send it; pass a
received message to :func:`decode_frame`, which returns a frame or raises
:class:`~gateway_client.exceptions.FrameError` and nothing else, whatever the input. Byte
layouts are tabled in ``PROTOCOL.md`` §4.

Stdlib only, pure.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from .exceptions import CloseCode, FrameError, ResetCode

__all__ = [
    "FrameKind",
    "HEADER_SIZE",
    "MAX_DATA",
    "MAX_FRAME_BYTES",
    "INITIAL_WINDOW",
    "MAX_WINDOW",
    "MAX_STREAM_ID",
    "MAX_RESET_REASON",
    "MAX_LEASE_ID_BYTES",
    "Open",
    "Accept",
    "Data",
    "Window",
    "Fin",
    "Reset",
    "Frame",
    "encode_frame",
    "decode_frame",
    "truncate_utf8",
]

_HEADER = struct.Struct(">BI")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_PORT_WINDOW = struct.Struct(">HI")

HEADER_SIZE = _HEADER.size
"""Bytes before every frame body: kind (1) and stream id (4)."""

MAX_DATA = 32 * 1024
"""Largest ``DATA`` payload in one frame. Small enough that one stream's burst never delays a
heartbeat or another stream's frame by more than one 32 KiB write."""

MAX_FRAME_BYTES = HEADER_SIZE + MAX_DATA
"""Largest valid binary message (a full ``DATA`` frame); anything longer closes the session."""

INITIAL_WINDOW = 256 * 1024
"""Default receive window per stream, in bytes (what ``OPEN``/``ACCEPT`` advertise)."""

MAX_WINDOW = 2**31 - 1
"""Largest credit a stream may hold; a ``WINDOW`` pushing credit past it is a flow-control error
(HTTP/2's rule, RFC 9113 §6.9.1): it keeps credit arithmetic bounded."""

MAX_STREAM_ID = 2**32 - 1
"""Largest stream id (u32). Id 0 is reserved and never names a stream."""

MAX_RESET_REASON = 200
"""Largest ``RESET`` reason, in UTF-8 bytes; :meth:`Reset.encode` truncates longer ones."""

MAX_LEASE_ID_BYTES = 255
"""Largest lease id in an ``OPEN`` frame (its length is one byte)."""


class FrameKind(enum.IntEnum):
    """The first byte of every binary frame."""

    OPEN = 1
    ACCEPT = 2
    DATA = 3
    WINDOW = 4
    FIN = 5
    RESET = 6


def truncate_utf8(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    # Lone surrogates (from a str built out of bad bytes) become "?" so the result always
    # encodes; dropping a partial trailing character keeps it valid UTF-8.
    return text.encode("utf-8", errors="replace")[:limit].decode("utf-8", errors="ignore")


def _header(kind: FrameKind, stream_id: int) -> bytes:
    if not 1 <= stream_id <= MAX_STREAM_ID:
        raise ValueError(f"stream id must be 1..{MAX_STREAM_ID}, not {stream_id}")
    return _HEADER.pack(kind, stream_id)


def _check_window(window: int, what: str) -> None:
    if not 0 <= window <= MAX_WINDOW:
        raise ValueError(f"{what} must be 0..{MAX_WINDOW}, not {window}")


@dataclass(frozen=True)
class Open:
    """Gateway → node: a public connection arrived for ``lease_id``'s ``port``.

    The node answers :class:`Accept` once ``127.0.0.1:port`` is connected, or :class:`Reset`.
    """

    kind: ClassVar[FrameKind] = FrameKind.OPEN
    stream_id: int
    lease_id: str
    port: int
    initial_window: int
    """How many bytes the opener can receive before it sends a ``WINDOW``."""

    def encode(self) -> bytes:
        """Return the wire bytes; raises ``ValueError`` for out-of-range fields."""
        lease = self.lease_id.encode("utf-8")
        if not 1 <= len(lease) <= MAX_LEASE_ID_BYTES:
            raise ValueError(f"lease id must be 1..{MAX_LEASE_ID_BYTES} UTF-8 bytes")
        if not 1 <= self.port <= 0xFFFF:
            raise ValueError(f"port must be 1..65535, not {self.port}")
        _check_window(self.initial_window, "initial window")
        return b"".join(
            (
                _header(self.kind, self.stream_id),
                bytes((len(lease),)),
                lease,
                _PORT_WINDOW.pack(self.port, self.initial_window),
            )
        )


@dataclass(frozen=True)
class Accept:
    """Node → gateway: the local connection is up; data may flow both ways now."""

    kind: ClassVar[FrameKind] = FrameKind.ACCEPT
    stream_id: int
    initial_window: int

    def encode(self) -> bytes:
        """Return the wire bytes; raises ``ValueError`` for out-of-range fields."""
        _check_window(self.initial_window, "initial window")
        return _header(self.kind, self.stream_id) + _U32.pack(self.initial_window)


@dataclass(frozen=True)
class Data:
    """Stream bytes, 1..:data:`MAX_DATA` per frame, counted against the sender's credit."""

    kind: ClassVar[FrameKind] = FrameKind.DATA
    stream_id: int
    payload: bytes

    def encode(self) -> bytes:
        """Return the wire bytes; raises ``ValueError`` for an empty or oversized payload."""
        if not 1 <= len(self.payload) <= MAX_DATA:
            raise ValueError(f"DATA payload must be 1..{MAX_DATA} bytes")
        return _header(self.kind, self.stream_id) + self.payload


@dataclass(frozen=True)
class Window:
    """The receiver consumed bytes: the sender may send ``increment`` more."""

    kind: ClassVar[FrameKind] = FrameKind.WINDOW
    stream_id: int
    increment: int

    def encode(self) -> bytes:
        """Return the wire bytes; raises ``ValueError`` unless 0 < increment <= MAX_WINDOW."""
        if not 1 <= self.increment <= MAX_WINDOW:
            raise ValueError(f"window increment must be 1..{MAX_WINDOW}")
        return _header(self.kind, self.stream_id) + _U32.pack(self.increment)


@dataclass(frozen=True)
class Fin:
    """Half-close: the sender will send no more ``DATA`` on this stream."""

    kind: ClassVar[FrameKind] = FrameKind.FIN
    stream_id: int

    def encode(self) -> bytes:
        """Return the wire bytes."""
        return _header(self.kind, self.stream_id)


@dataclass(frozen=True)
class Reset:
    """Abort the stream in both directions; ``code`` is a :class:`ResetCode` (kept as ``int``
    on decode, so codes from newer peers still arrive)."""

    kind: ClassVar[FrameKind] = FrameKind.RESET
    stream_id: int
    code: int
    reason: str = ""

    def encode(self) -> bytes:
        """Return the wire bytes, truncating the reason to :data:`MAX_RESET_REASON` bytes."""
        if not 0 <= self.code <= 0xFFFF:
            raise ValueError(f"reset code must be a u16, not {self.code}")
        reason = truncate_utf8(self.reason, MAX_RESET_REASON).encode("utf-8")
        return _header(self.kind, self.stream_id) + _U16.pack(self.code) + reason


Frame: TypeAlias = Open | Accept | Data | Window | Fin | Reset
"""Any decoded stream frame."""


def encode_frame(frame: Frame) -> bytes:
    """Return the wire bytes of ``frame`` (same as ``frame.encode()``)."""
    return frame.encode()


def decode_frame(data: bytes) -> Frame:
    """Decode one binary WebSocket message.

    Args:
        data: the whole binary message.

    Returns:
        The frame. Its fields are in range; whether it fits the stream's state (credit, order)
        is for :class:`~gateway_client.protocol.TunnelProtocol` to judge.

    Raises:
        FrameError: the only exception, whatever ``data`` holds. With ``stream_id`` set,
            reset just that stream; with ``stream_id=None``, close the session with ``code``.
    """
    if len(data) < HEADER_SIZE:
        raise FrameError(f"frame of {len(data)} bytes is shorter than its header")
    if len(data) > MAX_FRAME_BYTES:
        raise FrameError(
            f"frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}", code=CloseCode.TOO_LARGE
        )
    kind, stream_id = _HEADER.unpack_from(data)
    if stream_id == 0:
        raise FrameError("stream id 0 is reserved", kind=kind)
    body = data[HEADER_SIZE:]
    if kind == FrameKind.DATA:
        if not body:
            raise FrameError("empty DATA frame", stream_id=stream_id, kind=kind)
        return Data(stream_id, bytes(body))
    if kind == FrameKind.OPEN:
        return _decode_open(stream_id, body)
    if kind == FrameKind.ACCEPT:
        return Accept(stream_id, _decode_window(stream_id, kind, body, "initial window"))
    if kind == FrameKind.WINDOW:
        increment = _decode_window(stream_id, kind, body, "window increment")
        if increment == 0:
            raise FrameError("window increment of 0", stream_id=stream_id, kind=kind)
        return Window(stream_id, increment)
    if kind == FrameKind.FIN:
        if body:
            raise FrameError("FIN frame with a body", stream_id=stream_id, kind=kind)
        return Fin(stream_id)
    if kind == FrameKind.RESET:
        return _decode_reset(stream_id, body)
    # A kind from a later version, or garbage: the stream it names cannot go on, but the
    # stream id is readable, so only that stream is reset.
    raise FrameError(f"unknown frame kind {kind}", stream_id=stream_id, kind=kind)


def _decode_window(stream_id: int, kind: int, body: bytes, what: str) -> int:
    if len(body) != _U32.size:
        raise FrameError(f"{what} needs 4 bytes, got {len(body)}", stream_id=stream_id, kind=kind)
    (window,) = _U32.unpack(body)
    if window > MAX_WINDOW:
        raise FrameError(
            f"{what} {window} exceeds {MAX_WINDOW}",
            stream_id=stream_id,
            kind=kind,
            reset_code=ResetCode.FLOW_CONTROL_ERROR,
        )
    return int(window)


def _decode_open(stream_id: int, body: bytes) -> Open:
    kind = FrameKind.OPEN
    lease_len = body[0] if body else 0
    if lease_len == 0 or len(body) != 1 + lease_len + _PORT_WINDOW.size:
        raise FrameError("OPEN body has the wrong length", stream_id=stream_id, kind=kind)
    try:
        lease_id = body[1 : 1 + lease_len].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("OPEN lease id is not UTF-8", stream_id=stream_id, kind=kind) from None
    port, window = _PORT_WINDOW.unpack_from(body, 1 + lease_len)
    if port == 0:
        raise FrameError("OPEN for port 0", stream_id=stream_id, kind=kind)
    if window > MAX_WINDOW:
        raise FrameError(
            f"initial window {window} exceeds {MAX_WINDOW}",
            stream_id=stream_id,
            kind=kind,
            reset_code=ResetCode.FLOW_CONTROL_ERROR,
        )
    return Open(stream_id, lease_id, int(port), int(window))


def _decode_reset(stream_id: int, body: bytes) -> Reset:
    kind = FrameKind.RESET
    if len(body) < _U16.size or len(body) > _U16.size + MAX_RESET_REASON:
        raise FrameError("RESET body has the wrong length", stream_id=stream_id, kind=kind)
    (code,) = _U16.unpack_from(body)
    try:
        reason = body[_U16.size :].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("RESET reason is not UTF-8", stream_id=stream_id, kind=kind) from None
    return Reset(stream_id, int(code), reason)
