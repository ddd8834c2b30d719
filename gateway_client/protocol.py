"""Sans-I/O state machine of ``fizz-tunnel.v1``, for either end of the tunnel.

:class:`TunnelProtocol` does no I/O and never reads the clock, like websockets'
``Protocol``. A driver:

1. feeds every received WebSocket message to :meth:`~TunnelProtocol.receive_message` (``str``
   for TEXT, ``bytes`` for BINARY) and a closed connection to
   :meth:`~TunnelProtocol.receive_close`;
2. calls application methods (:meth:`~TunnelProtocol.send_login`,
   :meth:`~TunnelProtocol.send_data`, ...) and :meth:`~TunnelProtocol.tick` at
   :meth:`~TunnelProtocol.next_deadline`;
3. after each of those, handles :meth:`~TunnelProtocol.events_received`, sends every
   :meth:`~TunnelProtocol.messages_to_send` in order, then, if
   :meth:`~TunnelProtocol.close_to_send` returns a :class:`Close`, closes the WebSocket with it.

Bad input from the peer never raises: it becomes events plus a ``RESET`` of the one stream
concerned, or a close of the session with a :class:`~gateway_client.exceptions.CloseCode`.
Only caller mistakes raise (``InvalidState``, ``StreamLimitError``, ``ValueError``).
``PROTOCOL.md`` is the specification this module implements.

Stdlib only, pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .events import (
    ControlReceived,
    Event,
    HeartbeatAcked,
    HelloReceived,
    LoginReceived,
    SessionClosing,
    SpeedtestDone,
    StreamAccepted,
    StreamData,
    StreamFinished,
    StreamOpened,
    StreamReset,
    StreamWritable,
    Welcomed,
)
from .exceptions import (
    CloseCode,
    FrameError,
    InvalidState,
    ProtocolError,
    ResetCode,
    StreamLimitError,
    is_retryable,
)
from .frames import (
    HEADER_SIZE,
    INITIAL_WINDOW,
    MAX_DATA,
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
    truncate_utf8,
)
from .messages import (
    LEASE_RUNNING,
    SUPPORTED_VERSIONS,
    ClientInfo,
    ErrorNotice,
    Heartbeat,
    HeartbeatAck,
    Hello,
    LeaseAction,
    LeaseAnnouncement,
    LeaseClose,
    LeaseDecision,
    LeaseStatus,
    Login,
    Message,
    Side,
    SpeedtestRequest,
    Welcome,
    decode_message,
    encode_message,
    is_lease_id,
)
from .speedtest import (
    DIRECTIONS,
    DOWN,
    TEST_PORT,
    UP,
    SpeedtestTransfer,
    speedtest_direction,
    speedtest_lease_id,
)

__all__ = [
    "Side",
    "State",
    "TunnelConfig",
    "Close",
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
    "TunnelProtocol",
    "MAX_CLOSE_REASON",
    "ABNORMAL_CLOSURE",
]

MAX_CLOSE_REASON = 123
"""Largest WebSocket close reason in UTF-8 bytes (RFC 6455 §5.5: 125-byte payload - 2)."""

ABNORMAL_CLOSURE = 1006
"""The code reported when a connection ends without a close frame (RFC 6455 §7.1.5)."""

_PROTOCOL_MESSAGES = (Hello, Login, Welcome, Heartbeat, HeartbeatAck)


class State(enum.IntEnum):
    """Session state; values grow as the session advances, so ``<`` and ``>=`` read as
    before/after."""

    AWAITING_HELLO = 0
    """Node: waiting for ``hello``. Gateway: :meth:`TunnelProtocol.start` not called yet."""
    AWAITING_LOGIN = 1
    """Hello exchanged: the node must sign and send ``login``; the gateway waits for it."""
    AUTHENTICATING = 2
    """Login sent: the node waits for ``welcome``; the gateway verifies, then accepts/rejects."""
    OPEN = 3
    """Welcome exchanged: control messages, heartbeats and streams flow."""
    CLOSING = 4
    """This end decided to close: send :meth:`TunnelProtocol.close_to_send` and wait."""
    CLOSED = 5
    """The WebSocket is gone; every input is ignored."""


@dataclass(frozen=True)
class TunnelConfig:
    """Limits and timers of one session. The defaults are the specification's."""

    versions: tuple[int, ...] = SUPPORTED_VERSIONS
    """Versions this end speaks (the gateway offers them in ``hello``)."""
    handshake_timeout: float = 30.0
    """Seconds from construction (gateway: from ``start``) for the session to reach OPEN."""
    login_window: float = 60.0
    """Gateway: largest allowed gap between ``login.timestamp`` and the gateway's clock."""
    heartbeat_interval: float = 20.0
    """Gateway: interval put in ``welcome``; below common 30 s proxy idle cuts."""
    heartbeat_timeout: float = 60.0
    """Gateway: timeout put in ``welcome`` and used to drop silent nodes."""
    initial_window: int = INITIAL_WINDOW
    """Receive window advertised for every stream, in bytes."""
    max_send_buffer: int = 256 * 1024
    """Bytes of not-yet-sendable DATA held per stream before ``send_data`` accepts less."""
    max_streams: int = 256
    """Concurrent streams per session; beyond it ``OPEN`` is refused."""

    def __post_init__(self) -> None:
        # Checked here so that a bad setting fails at start-up, not at the first welcome/OPEN.
        checks = (
            (bool(self.versions) and min(self.versions) >= 1, "versions must be >= 1"),
            (self.handshake_timeout > 0 and self.login_window >= 0, "timeouts must be > 0"),
            (
                0.05 <= self.heartbeat_interval <= self.heartbeat_timeout <= 3600,
                "need 0.05 <= heartbeat_interval <= heartbeat_timeout <= 3600",
            ),
            (0 <= self.initial_window <= MAX_WINDOW, f"initial_window must be 0..{MAX_WINDOW}"),
            (self.max_send_buffer >= 0 and self.max_streams >= 1, "buffer/stream limits"),
        )
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Close:
    """A WebSocket close the driver must perform (code and reason for the close frame)."""

    code: int
    reason: str


# ---- Streams ------------------------------------------------------------------------------------


class _Stream:
    """Book-keeping of one stream. Credits are in bytes."""

    __slots__ = (
        "stream_id",
        "lease_id",
        "port",
        "local",
        "accepted",
        "send_credit",
        "recv_credit",
        "unconsumed",
        "ungranted",
        "buffer",
        "blocked",
        "fin_queued",
        "fin_sent",
        "fin_received",
        "test",
    )

    def __init__(self, stream_id: int, lease_id: str, port: int, *, local: bool) -> None:
        self.stream_id = stream_id
        self.lease_id = lease_id
        self.port = port
        self.local = local  # opened by this end
        self.accepted = False  # ACCEPT exchanged: DATA, WINDOW and FIN may flow
        self.send_credit = 0  # bytes the peer can still take
        self.recv_credit = 0  # bytes the peer may still send us
        self.unconsumed = 0  # delivered in StreamData, not yet stream_consumed
        self.ungranted = 0  # consumed, not yet returned to the peer by WINDOW
        self.buffer = bytearray()  # accepted by send_data, waiting for credit
        self.blocked = False  # send_data accepted less than offered: StreamWritable is due
        self.fin_queued = False
        self.fin_sent = False
        self.fin_received = False
        self.test: SpeedtestTransfer | None = None  # a speed-test stream (speedtest.py)


class TunnelProtocol:
    """One tunnel session, node side or gateway side.

    Args:
        side: :attr:`Side.NODE` or :attr:`Side.GATEWAY`.
        now: the driver's clock now (any monotonic clock; the same one for every call).
        config: limits and timers; the defaults are the specification's.

    A node waits for ``HelloReceived``; a gateway calls :meth:`start` at once.
    """

    def __init__(self, side: Side, now: float, config: TunnelConfig | None = None) -> None:
        self.side = side
        self.config = config if config is not None else TunnelConfig()
        self.state = State.AWAITING_HELLO
        self.version: int | None = None
        """The negotiated protocol version, once ``hello``/``login`` settled it."""
        self.hello: Hello | None = None
        self.login: Login | None = None
        self.welcome: Welcome | None = None
        self._events: list[Event] = []
        self._outgoing: list[str | bytes] = []
        self._close: Close | None = None
        self._handshake_deadline = now + self.config.handshake_timeout
        self._hello_at = now
        self._server_time = 0.0
        self._offered: tuple[int, ...] = ()
        # Heartbeats. The node sends and times out on acks; the gateway times out on silence.
        self._interval = self.config.heartbeat_interval
        self._timeout = self.config.heartbeat_timeout
        self._next_heartbeat = now
        self._next_seq = 1
        self._unacked: dict[int, float] = {}  # seq -> sent at, oldest first
        self._last_heard = now
        # Streams. The gateway opens odd ids, the node (in a later version) even ones.
        self._streams: dict[int, _Stream] = {}
        self._next_stream_id = 1 if side is Side.GATEWAY else 2
        self._last_peer_stream_id = 0
        self._exposed: dict[str, frozenset[int]] = {}  # node: lease id -> ports OPEN may use
        self._test_requests: dict[str, int] = {}  # node: direction -> bytes asked, no OPEN yet

    # ---- Public methods for the driver ----------------------------------------------------------

    def receive_message(self, data: str | bytes, now: float) -> None:
        """Feed one received WebSocket message: ``str`` for TEXT, ``bytes`` for BINARY.

        Then handle :meth:`events_received`, :meth:`messages_to_send` and :meth:`close_to_send`.
        Never raises on bad content; ignored once the session is closing.
        """
        if self.state >= State.CLOSING:
            return
        if self.state is State.OPEN:
            self._last_heard = now
        if isinstance(data, str):
            self._receive_control(data, now)
        else:
            self._receive_frame(bytes(data), now)

    def receive_close(self, code: int | None, reason: str = "") -> None:
        """Tell the protocol the WebSocket is closed, whoever closed it.

        Args:
            code: the close code received, or ``None`` if the connection dropped.
            reason: the close reason received.

        If the peer closed first, this emits :class:`StreamReset` for live streams and
        :class:`SessionClosing` with ``by_peer=True``. Afterwards every input is ignored.
        """
        if self.state is State.CLOSED:
            return
        if self.state is not State.CLOSING:
            self._end(ABNORMAL_CLOSURE if code is None else code, reason, by_peer=True)
        self.state = State.CLOSED

    def events_received(self) -> list[Event]:
        """Return and forget the events produced since the last call, in order."""
        events, self._events = self._events, []
        return events

    def messages_to_send(self) -> list[str | bytes]:
        """Return and forget the messages to send, in order: ``str`` as TEXT, ``bytes`` as
        BINARY. Send all of them before performing :meth:`close_to_send`."""
        messages, self._outgoing = self._outgoing, []
        return messages

    def close_to_send(self) -> Close | None:
        """Return, once, the close to perform after sending :meth:`messages_to_send`."""
        close, self._close = self._close, None
        return close

    def next_deadline(self) -> float | None:
        """When to call :meth:`tick` next (same clock as ``now``), or ``None`` if never."""
        if self.state >= State.CLOSING:
            return None
        if self.state < State.OPEN:
            return self._handshake_deadline
        if self.side is Side.GATEWAY:
            return self._last_heard + self._timeout
        if self._unacked:
            oldest = next(iter(self._unacked.values()))
            return min(self._next_heartbeat, oldest + self._timeout)
        return self._next_heartbeat

    def tick(self, now: float) -> None:
        """Run timers due at ``now``: heartbeats, heartbeat and handshake timeouts.

        Call it at :meth:`next_deadline` (calling it early or often is harmless).
        """
        if self.state >= State.CLOSING:
            return
        if self.state < State.OPEN:
            if now >= self._handshake_deadline:
                self._handshake_timed_out()
            return
        if self.side is Side.GATEWAY:
            if now >= self._last_heard + self._timeout:
                self.fail(CloseCode.HEARTBEAT_TIMEOUT, f"node silent for {self._timeout:g} s")
            return
        if self._unacked and now >= next(iter(self._unacked.values())) + self._timeout:
            self.fail(CloseCode.HEARTBEAT_TIMEOUT, f"no heartbeat ack in {self._timeout:g} s")
        elif now >= self._next_heartbeat:
            seq = self._next_seq
            self._next_seq += 1
            self._unacked[seq] = now
            self._outgoing.append(encode_message(Heartbeat(seq=seq)))
            # From now, not from the missed deadline: a late tick must not send a burst.
            self._next_heartbeat = now + self._interval

    def fail(self, code: CloseCode | int, reason: str) -> None:
        """Close the session with ``code``: emits :class:`StreamReset` (``CANCELLED``) for live
        streams and :class:`SessionClosing`, then :meth:`close_to_send` has the close.

        No-op if the session is already closing or closed.
        """
        if self.state >= State.CLOSING:
            return
        self._close = Close(int(code), truncate_utf8(reason, MAX_CLOSE_REASON))
        self._end(int(code), reason, by_peer=False)
        self.state = State.CLOSING

    def close(self, reason: str = "") -> None:
        """Close the session normally (``NORMAL``), e.g. when the user stops the node."""
        self.fail(CloseCode.NORMAL, reason)

    @property
    def stream_count(self) -> int:
        """Streams currently open (including half-closed and not yet accepted ones)."""
        return len(self._streams)

    # ---- Handshake: gateway side -----------------------------------------------------------------

    def start(
        self,
        now: float,
        gateway_id: int,
        nonce: str,
        versions: Iterable[int] | None = None,
        server_time: float | None = None,
    ) -> None:
        """Gateway: send ``hello`` (call it right after the WebSocket opens).

        Args:
            now: the driver's clock now.
            gateway_id: this gateway's on-chain id.
            nonce: 64 fresh lowercase hex digits (``secrets.token_hex(32)``), one per
                connection: it makes every login signature single-use.
            versions: versions to offer; defaults to ``config.versions``.
            server_time: this gateway's Unix time; defaults to ``now`` (right if ``now`` is
                Unix time). Login freshness is judged against it.
        """
        if self.side is not Side.GATEWAY or self.state is not State.AWAITING_HELLO:
            raise InvalidState("start() is for a gateway that has not sent hello yet")
        offered = tuple(self.config.versions if versions is None else versions)
        hello = Hello(
            versions=offered,
            gateway_id=gateway_id,
            nonce=nonce,
            server_time=now if server_time is None else server_time,
        )
        self._outgoing.append(encode_message(hello))
        self.hello = hello
        self._offered = offered
        self._server_time = hello.server_time
        self._hello_at = now
        self._handshake_deadline = now + self.config.handshake_timeout
        self.state = State.AWAITING_LOGIN

    def accept(
        self, session_id: str, fizz_id: int, leases: Mapping[str, LeaseAction], now: float
    ) -> None:
        """Gateway: the login is verified; send ``welcome`` and open the session.

        Args:
            session_id: an id for logs (1..128 characters).
            fizz_id: the node's on-chain Fizz id.
            leases: the decision for every lease the node announced, and no other.
            now: the driver's clock now (starts the silence timer).

        No-op if the session closed meanwhile (the node left during verification).
        """
        if self.state >= State.CLOSING:
            return
        if self.side is not Side.GATEWAY or self.state is not State.AUTHENTICATING:
            raise InvalidState("accept() answers a LoginReceived event")
        assert self.login is not None  # set whenever the state is AUTHENTICATING
        announced = [lease.lease_id for lease in self.login.leases]
        if set(leases) != set(announced):
            raise ValueError("decide every announced lease exactly once, and no other")
        welcome = Welcome(
            session_id=session_id,
            heartbeat_interval=self._interval,
            heartbeat_timeout=self._timeout,
            fizz_id=fizz_id,
            leases=tuple(
                LeaseDecision(lease_id=lease_id, action=LeaseAction(leases[lease_id]))
                for lease_id in announced
            ),
        )
        self._outgoing.append(encode_message(welcome))
        self.welcome = welcome
        self._last_heard = now
        self.state = State.OPEN

    def reject(self, code: CloseCode | int, reason: str) -> None:
        """Gateway: refuse the login (e.g. ``BAD_SIGNATURE``, ``NOT_LINKED``,
        ``CHAIN_UNAVAILABLE``); same as :meth:`fail`."""
        if self.side is not Side.GATEWAY:
            raise InvalidState("reject() is for the gateway")
        self.fail(code, reason)

    # ---- Handshake: node side --------------------------------------------------------------------

    def login_timestamp(self, now: float) -> int:
        """Node: the Unix time to sign, read from the gateway's clock (``hello.server_time``
        plus the time since it arrived), so a wrong local clock cannot break the login."""
        if self.hello is None or self.side is not Side.NODE:
            raise InvalidState("login_timestamp() needs a received hello")
        return int(self._server_time + (now - self._hello_at))

    def send_login(
        self,
        *,
        address: str,
        timestamp: int,
        signature: str,
        client: ClientInfo,
        leases: Iterable[LeaseAnnouncement] = (),
    ) -> None:
        """Node: send ``login`` after :class:`HelloReceived`.

        Args:
            address: the wallet address, exactly as in the signed text.
            timestamp: :meth:`login_timestamp`, exactly as in the signed text.
            signature: EIP-191 signature (``0x`` + 130 hex) of
                ``login_message(hello.gateway_id, address, hello.nonce, timestamp, version)``.
            client: this software's name and version.
            leases: every lease still running on this node (resumption); the gateway answers
                keep/close for each in ``welcome``.

        Raises:
            InvalidState: no hello yet, or login already sent.
            ValueError: a field has the wrong format.
        """
        if self.side is not Side.NODE or self.state is not State.AWAITING_LOGIN:
            raise InvalidState("send_login() answers a HelloReceived event, once")
        assert self.hello is not None and self.version is not None  # set with AWAITING_LOGIN
        login = Login(
            version=self.version,
            address=address,
            gateway_id=self.hello.gateway_id,
            nonce=self.hello.nonce,
            timestamp=timestamp,
            signature=signature,
            client=client,
            leases=tuple(leases),
        )
        self._outgoing.append(encode_message(login))
        self.login = login
        self.state = State.AUTHENTICATING

    # ---- Control messages ------------------------------------------------------------------------

    def send_control(self, message: Message) -> bool:
        """Queue an application control message (``capacity``, ``lease_status``, ...).

        Returns:
            True if queued; False if the session is closing or closed (the message is dropped:
            the session's end was already reported by :class:`SessionClosing`).

        Raises:
            ValueError: a handshake or heartbeat message (the protocol sends those itself), a
                message this side may not send, an invalid field, or over 64 KiB.
            InvalidState: the session is not open yet (``error`` notices excepted).
        """
        if isinstance(message, _PROTOCOL_MESSAGES):
            raise ValueError(f"the protocol sends {message.type!r} itself")
        if self.side not in message.senders:
            raise ValueError(f"a {self.side.name.lower()} does not send {message.type!r}")
        if self.state >= State.CLOSING:
            return False
        if self.state is not State.OPEN and not isinstance(message, ErrorNotice):
            raise InvalidState(f"cannot send {message.type!r} before the session is open")
        self._outgoing.append(encode_message(message))
        if isinstance(message, LeaseStatus):
            self._expose(message.lease_id, message.state, message.ports)
        elif isinstance(message, LeaseClose):
            self._close_lease(message.lease_id, by_peer=False)
        elif isinstance(message, SpeedtestRequest):
            # The gateway answers with a test stream for exactly this (§14); one per request.
            self._test_requests[message.direction] = message.nbytes
        return True

    # ---- Streams ---------------------------------------------------------------------------------

    def open_stream(self, lease_id: str, port: int) -> int:
        """Gateway: open a stream to ``port`` of ``lease_id`` for a public connection.

        Returns:
            The new stream id. Data passed to :meth:`send_data` is buffered until
            :class:`StreamAccepted`; a refusal arrives as :class:`StreamReset`.

        Raises:
            InvalidState: not a gateway, or the session is not open.
            StreamLimitError: ``max_streams`` streams are open already.
            ValueError: bad lease id or port.
        """
        self._check_can_open("open_stream()")
        if not is_lease_id(lease_id) or not 1 <= port <= 0xFFFF:
            raise ValueError(f"bad lease id {lease_id!r} or port {port}")
        return self._open(lease_id, port).stream_id

    def open_speedtest(self, direction: str, nbytes: int, now: float) -> int:
        """Gateway: answer a node's ``speedtest_request`` with a test stream (§14).

        The protocol moves the bytes itself: for ``"down"`` it sends ``nbytes`` as credit
        allows, then ``FIN``; for ``"up"`` it sinks what the node sends. Either way
        :class:`SpeedtestDone` reports the outcome and this end's timing.

        Raises:
            InvalidState: not a gateway, or the session is not open.
            StreamLimitError: ``max_streams`` streams are open already.
            ValueError: ``direction`` is not ``"down"``/``"up"`` or ``nbytes`` not 1..2³²−1.
        """
        self._check_can_open("open_speedtest()")
        if direction not in DIRECTIONS or not 1 <= nbytes <= MAX_STREAM_ID:
            raise ValueError(f"bad speed test: {direction!r}, {nbytes} bytes")
        stream = self._open(speedtest_lease_id(direction), TEST_PORT)
        stream.test = SpeedtestTransfer(direction, nbytes, sending=direction == DOWN, started=now)
        stream.fin_queued = stream.test.sending
        return stream.stream_id

    def accept_stream(self, stream_id: int) -> None:
        """Node: the local connection for :class:`StreamOpened` is up; send ``ACCEPT``.

        No-op if the stream is already gone (the gateway reset it meanwhile).
        """
        stream = self._app_stream(stream_id)
        if stream is None:
            return
        if stream.local or stream.accepted:
            raise InvalidState(f"stream {stream_id} is not waiting to be accepted")
        stream.accepted = True
        stream.recv_credit = self.config.initial_window
        self._outgoing.append(Accept(stream_id, self.config.initial_window).encode())
        self._flush(stream, notify=True)

    def send_data(self, stream_id: int, data: bytes) -> int:
        """Send bytes read from the stream's local socket.

        Returns:
            How many leading bytes of ``data`` were taken (sent now, or buffered until the peer
            grants credit). If fewer than ``len(data)``, keep the rest, stop reading that
            socket, and resume at :class:`StreamWritable`. 0 if the stream or session is gone.

        Raises:
            InvalidState: :meth:`finish_stream` was already called for this stream.
        """
        stream = self._app_stream(stream_id)
        if stream is None:
            return 0
        if stream.fin_queued:
            raise InvalidState(f"stream {stream_id} was finished; it takes no more data")
        credit = stream.send_credit if stream.accepted else 0
        # Invariant: an accepted stream has buffered data only while its credit is 0, so the
        # room is the free buffer plus whatever can go out right away.
        taken = min(len(data), self.config.max_send_buffer - len(stream.buffer) + credit)
        if taken < len(data):
            stream.blocked = True
        if taken > 0:
            stream.buffer += memoryview(data)[:taken]
            self._flush(stream, notify=False)
        return taken

    def stream_consumed(self, stream_id: int, nbytes: int) -> None:
        """Report that ``nbytes`` of :class:`StreamData` were written to the local socket.

        Credit goes back to the peer in one ``WINDOW`` once half the window is consumed (fewer,
        larger updates). No-op if the stream is gone.

        Raises:
            ValueError: ``nbytes`` is negative or more than was delivered and not yet consumed.
        """
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        stream = self._app_stream(stream_id)
        if stream is None:
            return
        if nbytes > stream.unconsumed:
            raise ValueError(f"stream {stream_id} has only {stream.unconsumed} bytes unconsumed")
        self._grant(stream, nbytes)

    def finish_stream(self, stream_id: int) -> None:
        """Half-close: the local socket reached EOF. ``FIN`` follows the buffered data.

        Idempotent; no-op if the stream is gone.
        """
        stream = self._app_stream(stream_id)
        if stream is None or stream.fin_queued:
            return
        stream.fin_queued = True
        self._flush(stream, notify=False)

    def reset_stream(self, stream_id: int, code: ResetCode | int, reason: str = "") -> None:
        """Abort a stream both ways (``CONNECT_FAILED`` to refuse an OPEN, ``CANCELLED`` when
        the local socket failed, or a gateway giving up a speed test). Emits no event; no-op if
        the stream is gone."""
        if self._live_stream(stream_id) is None:
            return
        self._outgoing.append(Reset(stream_id, int(code), reason).encode())
        del self._streams[stream_id]

    # ---- Private: opening and credit -------------------------------------------------------------

    def _check_can_open(self, what: str) -> None:
        if self.side is not Side.GATEWAY or self.state is not State.OPEN:
            raise InvalidState(f"{what} needs an open gateway session")
        if len(self._streams) >= self.config.max_streams:
            raise StreamLimitError(f"{self.config.max_streams} streams are open already")
        if self._next_stream_id > MAX_STREAM_ID:
            raise StreamLimitError("this session used up its stream ids; reconnect")

    def _open(self, lease_id: str, port: int) -> _Stream:
        stream_id = self._next_stream_id
        self._next_stream_id += 2
        self._outgoing.append(Open(stream_id, lease_id, port, self.config.initial_window).encode())
        stream = _Stream(stream_id, lease_id, port, local=True)
        stream.recv_credit = self.config.initial_window
        self._streams[stream_id] = stream
        return stream

    def _grant(self, stream: _Stream, nbytes: int) -> None:
        """``nbytes`` delivered on ``stream`` were consumed: return credit when it is due."""
        stream.unconsumed -= nbytes
        if stream.fin_received:
            return  # the peer sends nothing more; credit would be wasted
        stream.ungranted += nbytes
        # Deadlock-free: while the peer is blocked, recv_credit is 0, so once the application
        # consumes everything, ungranted equals the whole window and crosses the threshold.
        if stream.ungranted and stream.ungranted >= self.config.initial_window // 2:
            self._outgoing.append(Window(stream.stream_id, stream.ungranted).encode())
            stream.recv_credit += stream.ungranted
            stream.ungranted = 0

    # ---- Private: control messages ---------------------------------------------------------------

    def _receive_control(self, text: str, now: float) -> None:
        try:
            message = decode_message(text)
        except ProtocolError as exc:
            self.fail(exc.code, exc.reason)
            return
        peer = Side.GATEWAY if self.side is Side.NODE else Side.NODE
        if peer not in message.senders:
            self.fail(CloseCode.UNEXPECTED_MESSAGE, f"a {peer.name.lower()} sent {message.type}")
        elif isinstance(message, ErrorNotice):
            self._events.append(ControlReceived(message))  # notices are welcome in any state
        elif self.state is State.OPEN:
            self._receive_open_control(message, now)
        elif isinstance(message, Hello) and self.state is State.AWAITING_HELLO:
            self._receive_hello(message, now)
        elif isinstance(message, Login) and self.state is State.AWAITING_LOGIN:
            self._receive_login(message, now)
        elif isinstance(message, Welcome) and self.state is State.AUTHENTICATING:
            self._receive_welcome(message, now)
        else:
            self.fail(CloseCode.UNEXPECTED_MESSAGE, f"{message.type} in state {self.state.name}")

    def _receive_hello(self, hello: Hello, now: float) -> None:
        common = set(hello.versions) & set(self.config.versions)
        if not common:
            self.fail(
                CloseCode.VERSION_UNSUPPORTED,
                f"gateway speaks {list(hello.versions)}, node {list(self.config.versions)}",
            )
            return
        self.version = max(common)
        self.hello = hello
        self._server_time = hello.server_time
        self._hello_at = now
        self.state = State.AWAITING_LOGIN
        self._events.append(HelloReceived(hello, self.version))

    def _receive_login(self, login: Login, now: float) -> None:
        assert self.hello is not None  # sent by start(), which entered AWAITING_LOGIN
        skew = login.timestamp - (self._server_time + (now - self._hello_at))
        if login.version not in self._offered:
            self.fail(CloseCode.VERSION_UNSUPPORTED, f"version {login.version} not offered")
        elif login.gateway_id != self.hello.gateway_id or login.nonce != self.hello.nonce:
            # Signed for another challenge: a replay, or a login meant for another gateway.
            self.fail(CloseCode.NONCE_EXPIRED_OR_REPLAYED, "login answers another hello")
        elif abs(skew) > self.config.login_window:
            self.fail(CloseCode.NONCE_EXPIRED_OR_REPLAYED, f"login timestamp off by {skew:.0f} s")
        else:
            self.version = login.version
            self.login = login
            self.state = State.AUTHENTICATING
            self._events.append(LoginReceived(login, login.text()))

    def _receive_welcome(self, welcome: Welcome, now: float) -> None:
        assert self.login is not None  # sent by send_login(), which entered AUTHENTICATING
        announced = {lease.lease_id: lease for lease in self.login.leases}
        if {decision.lease_id for decision in welcome.leases} != set(announced):
            # A lease answered twice cannot happen (the decoder refuses repeats), so this is a
            # lease left unanswered or one the node never announced: no lease may be lost.
            self.fail(CloseCode.MALFORMED, "welcome does not answer exactly the announced leases")
            return
        for decision in welcome.leases:
            lease = announced[decision.lease_id]
            if decision.action is LeaseAction.KEEP:
                self._expose(lease.lease_id, lease.state, lease.ports)
        self.welcome = welcome
        self._interval = welcome.heartbeat_interval
        self._timeout = welcome.heartbeat_timeout
        self._next_heartbeat = now + self._interval
        self.state = State.OPEN
        self._events.append(Welcomed(welcome))

    def _receive_open_control(self, message: Message, now: float) -> None:
        if isinstance(message, Heartbeat):
            self._outgoing.append(encode_message(HeartbeatAck(seq=message.seq)))
        elif isinstance(message, HeartbeatAck):
            self._receive_heartbeat_ack(message.seq, now)
        elif isinstance(message, Hello | Login | Welcome):
            self.fail(CloseCode.UNEXPECTED_MESSAGE, f"{message.type} after the handshake")
        else:
            if isinstance(message, LeaseClose):
                self._close_lease(message.lease_id, by_peer=True)
            self._events.append(ControlReceived(message))

    def _receive_heartbeat_ack(self, seq: int, now: float) -> None:
        if seq >= self._next_seq:
            self.fail(CloseCode.UNEXPECTED_MESSAGE, f"ack for heartbeat {seq}, never sent")
            return
        sent_at = self._unacked.get(seq)
        if sent_at is None:
            return  # a duplicate, or covered by a later ack already
        # An ack covers every earlier heartbeat too (acks may be coalesced).
        for earlier in [s for s in self._unacked if s <= seq]:
            del self._unacked[earlier]
        self._events.append(HeartbeatAcked(seq, now - sent_at))

    def _handshake_timed_out(self) -> None:
        if self.side is Side.GATEWAY and self.state is State.AUTHENTICATING:
            # Our own verification (signature, chain) is what is late, not the node.
            self.fail(CloseCode.CHAIN_UNAVAILABLE, "login verification took too long")
        else:
            timeout = self.config.handshake_timeout
            self.fail(CloseCode.HEARTBEAT_TIMEOUT, f"handshake not done in {timeout:g} s")

    def _expose(self, lease_id: str, state: str, ports: Iterable[int]) -> None:
        # Node only (its callers handle node-only messages): the node checks OPEN targets
        # itself because it is the node's machine they reach (PROTOCOL.md §8).
        if state == LEASE_RUNNING:
            self._exposed[lease_id] = frozenset(ports)
        else:
            self._exposed.pop(lease_id, None)

    def _close_lease(self, lease_id: str, *, by_peer: bool) -> None:
        self._exposed.pop(lease_id, None)
        # No RESET frames: the other end drops the same streams when it handles lease_close,
        # and frames still in flight for them are ignored as unknown streams.
        for stream in [s for s in self._streams.values() if s.lease_id == lease_id]:
            del self._streams[stream.stream_id]
            self._events.append(
                StreamReset(stream.stream_id, ResetCode.LEASE_CLOSED, "lease closed", by_peer)
            )

    def _end(self, code: int, reason: str, *, by_peer: bool) -> None:
        for stream in self._streams.values():
            self._events.append(self._gone(stream, ResetCode.CANCELLED, "session closed", by_peer))
        self._streams.clear()
        self._events.append(SessionClosing(code, reason, is_retryable(code), by_peer))

    # ---- Private: stream frames ------------------------------------------------------------------

    def _receive_frame(self, data: bytes, now: float) -> None:
        if self.state is not State.OPEN:
            self.fail(CloseCode.UNEXPECTED_MESSAGE, "stream frame before the session is open")
            return
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            if exc.stream_id is None:
                self.fail(exc.code, exc.reason)
            elif exc.kind == FrameKind.RESET:
                # Never answer a RESET with a RESET (no ping-pong): just drop the stream.
                self._drop(exc.stream_id, ResetCode.PROTOCOL_ERROR, exc.reason, by_peer=True)
            else:
                self._reset(exc.stream_id, exc.reset_code, exc.reason)
            return
        self._receive_stream_frame(frame, now)

    def _receive_stream_frame(self, frame: Frame, now: float) -> None:
        if isinstance(frame, Open):
            self._receive_open(frame, now)
            return
        stream = self._streams.get(frame.stream_id)
        if stream is None:
            # A stream this end already reset or closed: frames in flight are expected.
            return
        if isinstance(frame, Reset):
            self._drop(frame.stream_id, frame.code, frame.reason, by_peer=True)
        elif isinstance(frame, Accept):
            if not stream.local or stream.accepted:
                self._reset(stream.stream_id, ResetCode.PROTOCOL_ERROR, "unexpected ACCEPT")
                return
            stream.accepted = True
            stream.send_credit = frame.initial_window
            if stream.test is None:  # the driver knows nothing of test streams
                self._events.append(StreamAccepted(stream.stream_id))
            self._flush(stream, notify=True)
        elif not stream.accepted:
            self._reset(stream.stream_id, ResetCode.PROTOCOL_ERROR, "frame before ACCEPT")
        elif isinstance(frame, Data):
            self._receive_data(stream, frame.payload)
        elif isinstance(frame, Window):
            if stream.send_credit + frame.increment > MAX_WINDOW:
                self._reset(stream.stream_id, ResetCode.FLOW_CONTROL_ERROR, "window overflow")
                return
            stream.send_credit += frame.increment
            self._flush(stream, notify=True)
        else:  # Fin
            if stream.fin_received:
                self._reset(stream.stream_id, ResetCode.PROTOCOL_ERROR, "second FIN")
                return
            if stream.test is not None:
                self._finish_test(stream, stream.test, now)
                return
            stream.fin_received = True
            self._events.append(StreamFinished(stream.stream_id))
            if stream.fin_sent:
                del self._streams[stream.stream_id]

    def _receive_open(self, frame: Open, now: float) -> None:
        stream_id = frame.stream_id
        if self.side is Side.GATEWAY:
            self._reset(stream_id, ResetCode.REFUSED, "gateways accept no streams in v1")
        elif stream_id % 2 == 0 or stream_id <= self._last_peer_stream_id:
            # Ids only grow, so a late frame can never be mistaken for a new stream's.
            self._reset(stream_id, ResetCode.PROTOCOL_ERROR, "stream id reused or of wrong parity")
        else:
            self._last_peer_stream_id = stream_id
            direction = speedtest_direction(frame.lease_id)
            if len(self._streams) >= self.config.max_streams:
                self._reset(stream_id, ResetCode.REFUSED, "too many streams")
            elif direction is not None:
                self._accept_test(frame, direction, now)
            elif frame.port not in self._exposed.get(frame.lease_id, ()):
                self._reset(stream_id, ResetCode.REFUSED, "port not exposed by that lease")
            else:
                stream = _Stream(stream_id, frame.lease_id, frame.port, local=False)
                stream.send_credit = frame.initial_window
                self._streams[stream_id] = stream
                self._events.append(StreamOpened(stream_id, frame.lease_id, frame.port))

    def _receive_data(self, stream: _Stream, payload: bytes) -> None:
        if stream.fin_received:
            self._reset(stream.stream_id, ResetCode.PROTOCOL_ERROR, "DATA after FIN")
        elif len(payload) > stream.recv_credit:
            self._reset(stream.stream_id, ResetCode.FLOW_CONTROL_ERROR, "DATA beyond credit")
        elif stream.test is not None:
            # Test bytes are sunk here and credit returned at once, so the sender's window
            # (not the driver) paces the test, as it paces any stream.
            problem = stream.test.receive(len(payload))
            if problem:
                self._reset(stream.stream_id, ResetCode.PROTOCOL_ERROR, problem)
                return
            stream.recv_credit -= len(payload)
            stream.unconsumed += len(payload)
            self._grant(stream, len(payload))
        else:
            stream.recv_credit -= len(payload)
            stream.unconsumed += len(payload)
            self._events.append(StreamData(stream.stream_id, payload))

    def _flush(self, stream: _Stream, *, notify: bool) -> None:
        """Send what credit allows, then a queued FIN once the buffer is empty."""
        if not stream.accepted:
            return
        buffer = stream.buffer
        header = bytes((FrameKind.DATA,)) + stream.stream_id.to_bytes(HEADER_SIZE - 1, "big")
        while buffer and stream.send_credit > 0:
            size = min(len(buffer), stream.send_credit, MAX_DATA)
            self._outgoing.append(header + buffer[:size])
            del buffer[:size]
            stream.send_credit -= size
        test = stream.test
        while test is not None and test.unsent and stream.send_credit > 0:
            payload = test.chunk(stream.send_credit, MAX_DATA)
            self._outgoing.append(header + payload)
            stream.send_credit -= len(payload)
        if test is not None and test.unsent:
            return
        if stream.fin_queued and not buffer and not stream.fin_sent:
            self._outgoing.append(Fin(stream.stream_id).encode())
            stream.fin_sent = True
            if stream.fin_received:
                del self._streams[stream.stream_id]
                return
        if notify and stream.blocked and len(buffer) < self.config.max_send_buffer:
            stream.blocked = False
            self._events.append(StreamWritable(stream.stream_id))

    def _live_stream(self, stream_id: int) -> _Stream | None:
        if self.state is not State.OPEN:
            return None
        return self._streams.get(stream_id)

    def _app_stream(self, stream_id: int) -> _Stream | None:
        """A live stream the driver may move bytes on: test streams are the protocol's own."""
        stream = self._live_stream(stream_id)
        return stream if stream is not None and stream.test is None else None

    def _reset(self, stream_id: int, code: ResetCode, reason: str) -> None:
        """Reset a stream because of the peer: tell the peer, and the driver if it knew it."""
        self._outgoing.append(Reset(stream_id, code, reason).encode())
        self._drop(stream_id, code, reason, by_peer=False)

    def _drop(self, stream_id: int, code: int, reason: str, *, by_peer: bool) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._events.append(self._gone(stream, code, reason, by_peer))

    @staticmethod
    def _gone(stream: _Stream, code: int, reason: str, by_peer: bool) -> Event:
        """The event for a stream that ended abnormally: a failed test, or a reset stream."""
        test = stream.test
        if test is None:
            return StreamReset(stream.stream_id, code, reason, by_peer)
        who = "the peer" if by_peer else "this end"
        failure = f"reset by {who}: {reason}" if reason else f"reset by {who} (code {code})"
        return SpeedtestDone(stream.stream_id, test.direction, test.moved, 0.0, failure)

    # ---- Private: speed tests (PROTOCOL.md §14) --------------------------------------------------

    def _accept_test(self, frame: Open, direction: str, now: float) -> None:
        """Node: a test stream for a ``speedtest_request`` we sent; handled here, never
        connected anywhere."""
        nbytes = self._test_requests.pop(direction, None)
        if nbytes is None:
            self._reset(frame.stream_id, ResetCode.REFUSED, "no speed test was requested")
            return
        stream = _Stream(frame.stream_id, frame.lease_id, frame.port, local=False)
        stream.test = SpeedtestTransfer(direction, nbytes, sending=direction == UP, started=now)
        stream.accepted = True
        stream.fin_queued = stream.test.sending
        stream.send_credit = frame.initial_window
        stream.recv_credit = self.config.initial_window
        self._streams[frame.stream_id] = stream
        self._outgoing.append(Accept(frame.stream_id, self.config.initial_window).encode())
        self._flush(stream, notify=False)

    def _finish_test(self, stream: _Stream, test: SpeedtestTransfer, now: float) -> None:
        """The peer's FIN on a test stream: the receiver answers with its own FIN; either way
        the test is over, complete or not."""
        problem = test.finished_early(stream.fin_sent)
        if problem:
            self._reset(stream.stream_id, ResetCode.PROTOCOL_ERROR, problem)
            return
        if not stream.fin_sent:
            self._outgoing.append(Fin(stream.stream_id).encode())
        del self._streams[stream.stream_id]
        seconds = now - test.started
        self._events.append(SpeedtestDone(stream.stream_id, test.direction, test.moved, seconds))
