"""Events a :class:`~gateway_client.protocol.TunnelProtocol` reports to its driver.

Drain them with :meth:`TunnelProtocol.events_received` after each input; each docstring says
what the driver does next. Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Hello, Login, Message, Welcome

__all__ = [
    "Event",
    "HelloReceived",
    "LoginReceived",
    "Welcomed",
    "ControlReceived",
    "HeartbeatAcked",
    "StreamOpened",
    "StreamAccepted",
    "StreamData",
    "StreamWritable",
    "StreamFinished",
    "StreamReset",
    "SessionClosing",
    "SpeedtestDone",
]


@dataclass(frozen=True)
class Event:
    """Base class of everything :meth:`TunnelProtocol.events_received` returns."""


@dataclass(frozen=True)
class HelloReceived(Event):
    """Node: the gateway's challenge arrived. Sign :func:`~gateway_client.messages.login_message`
    for :meth:`TunnelProtocol.login_timestamp`, then call :meth:`TunnelProtocol.send_login`."""

    hello: Hello
    version: int
    """The protocol version chosen (the highest both ends speak)."""


@dataclass(frozen=True)
class LoginReceived(Event):
    """Gateway: a login passed the checks that need no I/O (version, nonce, clock).

    Verify ``text`` was signed by ``login.address`` and that the chain links that node to this
    gateway, then call :meth:`TunnelProtocol.accept` or :meth:`TunnelProtocol.reject`.
    """

    login: Login
    text: str
    """The exact EIP-191 text the signature must cover."""


@dataclass(frozen=True)
class Welcomed(Event):
    """Node: the session is open. Stop leases whose decision is ``close``; send ``capacity``
    and ``prices``."""

    welcome: Welcome


@dataclass(frozen=True)
class ControlReceived(Event):
    """A control message for the application (anything but handshake and heartbeats)."""

    message: Message


@dataclass(frozen=True)
class HeartbeatAcked(Event):
    """Node: the gateway acknowledged heartbeat ``seq`` (the "health check ack")."""

    seq: int
    rtt: float
    """Seconds between sending the heartbeat and receiving its ack."""


@dataclass(frozen=True)
class StreamOpened(Event):
    """Node: the gateway wants ``127.0.0.1:port`` for ``lease_id`` (the port is exposed).

    Connect, then :meth:`TunnelProtocol.accept_stream`; on failure
    :meth:`TunnelProtocol.reset_stream` with ``CONNECT_FAILED``.
    """

    stream_id: int
    lease_id: str
    port: int


@dataclass(frozen=True)
class StreamAccepted(Event):
    """Gateway: the node connected the stream; buffered data is flowing now."""

    stream_id: int


@dataclass(frozen=True)
class StreamData(Event):
    """Bytes for the stream's local socket. After writing them, call
    :meth:`TunnelProtocol.stream_consumed` so the peer gets more credit."""

    stream_id: int
    data: bytes


@dataclass(frozen=True)
class StreamWritable(Event):
    """A stream whose ``send_data`` accepted less than offered has room again: resume reading
    its local socket."""

    stream_id: int


@dataclass(frozen=True)
class StreamFinished(Event):
    """The peer half-closed the stream: shut down the local socket's write side."""

    stream_id: int


@dataclass(frozen=True)
class StreamReset(Event):
    """The stream is gone (peer ``RESET``, a rule the peer broke, its lease closed, or the
    session ending): close its local socket. Not emitted for :meth:`reset_stream` calls."""

    stream_id: int
    code: int
    """A :class:`~gateway_client.exceptions.ResetCode` (any u16 from a newer peer)."""
    reason: str
    by_peer: bool
    """True if the peer reset it (or closed the session/lease); False if this end did."""


@dataclass(frozen=True)
class SessionClosing(Event):
    """The session is over (emitted once). Reconnect after a backoff delay if ``retryable``;
    otherwise stop and show :func:`~gateway_client.exceptions.close_message` to the user."""

    code: int
    reason: str
    retryable: bool
    by_peer: bool


@dataclass(frozen=True)
class SpeedtestDone(Event):
    """A speed-test stream ended (PROTOCOL.md §14), at either end. The protocol moved its bytes
    itself; nothing is connected and there is nothing to close.

    Gateway: answer the node with ``speedtest_result`` (``failure`` empty) or an ``error``
    notice. Node: this end's own timing; the gateway's ``speedtest_result`` is the figure.
    """

    stream_id: int
    direction: str
    """``"down"`` (gateway to node) or ``"up"``."""
    nbytes: int
    """Test bytes moved (sent by the sender, received by the receiver)."""
    seconds: float
    """From ``OPEN`` (sent or received) to the peer's ``FIN``, on this end's clock."""
    failure: str = ""
    """Why the test failed (reset, refused, wrong byte count, session closed); ``""`` if not."""

    @property
    def ok(self) -> bool:
        """True if the test moved all its bytes."""
        return not self.failure
