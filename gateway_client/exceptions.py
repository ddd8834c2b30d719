"""Close codes, stream reset codes, and the one exception tree of the tunnel.

Every error this package raises is a :class:`TunnelError`::

    TunnelError
    ├── ProtocolError     the peer broke the protocol (decoders raise it; carries a CloseCode)
    │   └── FrameError    a binary stream frame could not be decoded
    ├── SessionClosed     the session ended (for drivers to raise; knows if a retry can help)
    │   └── AuthError     the gateway refused the login (version, signature, chain, device)
    ├── InvalidState      a method was called when the session or stream forbids it
    └── StreamLimitError  ``open_stream`` beyond the session's concurrent-stream limit

:class:`~gateway_client.protocol.TunnelProtocol` never lets :class:`ProtocolError` escape: it
turns it into a WebSocket close (session-level) or a stream ``RESET`` (stream-level), and an
event. Only mistakes by the *caller* (``InvalidState``, ``StreamLimitError``, ``ValueError``)
are raised to the caller.

Stdlib only, pure.
"""

from __future__ import annotations

import enum

__all__ = [
    "CloseCode",
    "ResetCode",
    "FATAL_CLOSE_CODES",
    "AUTH_CLOSE_CODES",
    "is_retryable",
    "close_message",
    "TunnelError",
    "ProtocolError",
    "FrameError",
    "SessionClosed",
    "AuthError",
    "InvalidState",
    "StreamLimitError",
    "session_closed",
]


class CloseCode(enum.IntEnum):
    """WebSocket close codes of ``fizz-tunnel.v1`` (RFC 6455 §7.4.2 leaves 4000–4999 to apps).

    Use :attr:`retryable` to decide whether to reconnect and :attr:`user_message` for the one
    sentence to show the user.
    """

    NORMAL = 4000
    VERSION_UNSUPPORTED = 4001
    BAD_SIGNATURE = 4002
    NOT_REGISTERED = 4003
    NOT_LINKED = 4004
    NONCE_EXPIRED_OR_REPLAYED = 4005
    ALREADY_CONNECTED = 4006
    MALFORMED = 4007
    TOO_LARGE = 4008
    HEARTBEAT_TIMEOUT = 4009
    GATEWAY_SHUTDOWN = 4010
    UNEXPECTED_MESSAGE = 4011
    CHAIN_UNAVAILABLE = 4012

    @property
    def retryable(self) -> bool:
        """True if reconnecting (with backoff) can succeed; False if the user must act first."""
        return self not in FATAL_CLOSE_CODES

    @property
    def user_message(self) -> str:
        """One plain sentence for the user, saying what happened and what to do."""
        return _USER_MESSAGES[self]


class ResetCode(enum.IntEnum):
    """Why one stream was reset (u16 in a ``RESET`` frame); the session itself carries on."""

    REFUSED = 1
    """The lease does not expose that port, or the session has too many streams."""
    CONNECT_FAILED = 2
    """The node could not connect to ``127.0.0.1:<port>``."""
    FLOW_CONTROL_ERROR = 3
    """The peer sent more ``DATA`` than its credit allowed, or overflowed the window."""
    LEASE_CLOSED = 4
    """The stream's lease was closed."""
    PROTOCOL_ERROR = 5
    """The peer broke the stream rules (bad frame, ``DATA`` after ``FIN``, ...)."""
    CANCELLED = 6
    """Either end gave up on the stream (local socket closed, session closing)."""


FATAL_CLOSE_CODES: frozenset[int] = frozenset(
    {
        CloseCode.VERSION_UNSUPPORTED,
        CloseCode.BAD_SIGNATURE,
        CloseCode.NOT_REGISTERED,
        CloseCode.NOT_LINKED,
        CloseCode.ALREADY_CONNECTED,
    }
)
"""Close codes after which the node stops reconnecting and tells the user: retrying the same
login would only be refused again. Every other code, known or not, is retryable."""

AUTH_CLOSE_CODES: frozenset[int] = frozenset(
    {
        CloseCode.VERSION_UNSUPPORTED,
        CloseCode.BAD_SIGNATURE,
        CloseCode.NOT_REGISTERED,
        CloseCode.NOT_LINKED,
        CloseCode.NONCE_EXPIRED_OR_REPLAYED,
        CloseCode.ALREADY_CONNECTED,
    }
)
"""Close codes that mean "the gateway refused this login": :func:`session_closed` maps them to
:class:`AuthError`."""

_USER_MESSAGES: dict[CloseCode, str] = {
    CloseCode.NORMAL: "The gateway ended the session normally; reconnecting.",
    CloseCode.VERSION_UNSUPPORTED: (
        "This version of Fizz Node Desktop is not supported by the gateway: update the app."
    ),
    CloseCode.BAD_SIGNATURE: (
        "The gateway could not verify this wallet's signature: check that the app uses the "
        "wallet that registered this node."
    ),
    CloseCode.NOT_REGISTERED: (
        "This wallet is not registered as a Fizz node: register it, then start again."
    ),
    CloseCode.NOT_LINKED: (
        "This node is registered with a different gateway: check the gateway in the settings."
    ),
    CloseCode.NONCE_EXPIRED_OR_REPLAYED: (
        "The gateway refused a stale login; retrying. If this repeats, set this computer's "
        "clock automatically."
    ),
    CloseCode.ALREADY_CONNECTED: (
        "This node is already running on another device: stop it there, then start it here."
    ),
    CloseCode.MALFORMED: "The gateway and this app misunderstood each other; reconnecting.",
    CloseCode.TOO_LARGE: "A message was too large for the tunnel; reconnecting.",
    CloseCode.HEARTBEAT_TIMEOUT: "The connection to the gateway went quiet; reconnecting.",
    CloseCode.GATEWAY_SHUTDOWN: "The gateway is restarting; reconnecting shortly.",
    CloseCode.UNEXPECTED_MESSAGE: (
        "The gateway and this app got out of step with each other; reconnecting."
    ),
    CloseCode.CHAIN_UNAVAILABLE: (
        "The gateway cannot reach the blockchain right now; retrying in a moment."
    ),
}


def is_retryable(code: int | None) -> bool:
    """Say whether a node should reconnect after the WebSocket closed with ``code``.

    Args:
        code: the close code received, or ``None`` when the connection dropped without a close
            frame (websockets reports 1006 then).

    Returns:
        False only for :data:`FATAL_CLOSE_CODES`; network drops, 1xxx codes and codes this
        version does not know are retryable, so a newer gateway never strands an older node.
    """
    return code not in FATAL_CLOSE_CODES


def close_message(code: int | None) -> str:
    """The sentence to show the user for a close with ``code`` (any code, even unknown ones)."""
    if code is not None and code in CloseCode._value2member_map_:
        return CloseCode(code).user_message
    if code is None or code == 1006:
        return "The connection to the gateway dropped; reconnecting."
    return f"The gateway closed the connection (code {code}); reconnecting."


class TunnelError(Exception):
    """Base class of every exception raised by ``gateway_client``."""


class ProtocolError(TunnelError):
    """The peer sent something this protocol version forbids.

    Decoders raise it; :class:`~gateway_client.protocol.TunnelProtocol` catches it and closes
    the WebSocket with :attr:`code`, so a caller of the protocol never sees it.

    Attributes:
        code: the close code to send.
        reason: a short English explanation, safe to log and to send as the close reason.
    """

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{code.name}: {reason}")
        self.code = code
        self.reason = reason


class FrameError(ProtocolError):
    """A binary stream frame could not be decoded.

    When :attr:`stream_id` is ``None`` the header itself was unusable and the whole session
    closes with :attr:`code`. Otherwise only that stream is reset with :attr:`reset_code`: one
    bad stream must never take the others down.

    Attributes:
        stream_id: the stream the frame named, or ``None`` if the header was unusable.
        kind: the frame kind byte, when the header was readable.
        reset_code: the ``RESET`` code to send for a stream-level error.
    """

    def __init__(
        self,
        reason: str,
        *,
        stream_id: int | None = None,
        kind: int | None = None,
        code: CloseCode = CloseCode.MALFORMED,
        reset_code: ResetCode = ResetCode.PROTOCOL_ERROR,
    ) -> None:
        super().__init__(code, reason)
        self.stream_id = stream_id
        self.kind = kind
        self.reset_code = reset_code


class SessionClosed(TunnelError):
    """The session ended; raise it from a driver so the application can decide what to do.

    Attributes:
        code: the WebSocket close code (``None`` if the connection dropped without one).
        reason: the close reason received or sent.
        retryable: whether reconnecting can help (see :func:`is_retryable`).
        user_message: the sentence to show the user (see :func:`close_message`).
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"session closed (code {code})" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason
        self.retryable = is_retryable(code)
        self.user_message = close_message(code)


class AuthError(SessionClosed):
    """The gateway refused the login (one of :data:`AUTH_CLOSE_CODES`)."""


class InvalidState(TunnelError):
    """A method was called when the session or the stream does not allow it (a caller bug).

    Example: ``send_login`` before ``HelloReceived``, or ``send_data`` after ``finish_stream``.
    """


class StreamLimitError(TunnelError):
    """``open_stream`` would exceed the session's limit of concurrent streams.

    Refuse the public connection that wanted the stream; retry once a stream has closed.
    """


def session_closed(code: int | None, reason: str = "") -> SessionClosed:
    """Build the exception a driver raises for a close: :class:`AuthError` for login refusals,
    :class:`SessionClosed` otherwise."""
    if code in AUTH_CLOSE_CODES:
        return AuthError(code, reason)
    return SessionClosed(code, reason)
