"""Speed tests through the tunnel (``PROTOCOL.md`` §14): names, limits and the book-keeping of
one test stream, shared by :class:`~gateway_client.protocol.TunnelProtocol` on both ends.

A test is an ordinary stream with ordinary per-stream credit, opened by the gateway with a
reserved lease id (``#speedtest:down`` or ``#speedtest:up``) that no lease can have (``#`` is
not a lease id character). The protocol moves and sinks the test bytes itself: a test stream
never reaches the driver as :class:`~gateway_client.events.StreamOpened`, so it can never be
connected to a local port. Its outcome is one
:class:`~gateway_client.events.SpeedtestDone` event on each end.

Stdlib only, pure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DOWN",
    "UP",
    "DIRECTIONS",
    "TEST_LEASE_PREFIX",
    "TEST_PORT",
    "DEFAULT_TEST_BYTES",
    "NOTICE_SPEEDTEST_BUSY",
    "NOTICE_SPEEDTEST_TOO_LARGE",
    "NOTICE_SPEEDTEST_UNSUPPORTED",
    "NOTICE_SPEEDTEST_FAILED",
    "SPEEDTEST_NOTICES",
    "SpeedtestTransfer",
    "speedtest_lease_id",
    "speedtest_direction",
    "mbps",
]

DOWN = "down"
"""Gateway → node: the gateway sends the test bytes, the node sinks them."""
UP = "up"
"""Node → gateway: the node sends the test bytes, the gateway sinks them."""
DIRECTIONS = (DOWN, UP)

TEST_LEASE_PREFIX = "#speedtest:"
"""``OPEN`` lease ids of test streams are this prefix plus the direction. ``#`` is outside the
lease id alphabet, so a test stream can never be mistaken for a lease's stream."""

TEST_PORT = 1
"""The ``port`` field of a test stream's ``OPEN``. Meaningless (nothing is connected); the
node ignores it."""

DEFAULT_TEST_BYTES = 8 * 1024 * 1024
"""Bytes a node asks for per direction by default: about 1.3 s at 50 Mbit/s, long enough for
TCP to leave slow start, short enough to run at every start."""

NOTICE_SPEEDTEST_BUSY = 409
"""``error`` notice code: a test is already running on this session; ask again later."""
NOTICE_SPEEDTEST_TOO_LARGE = 413
"""``error`` notice code: ``bytes`` is over what this gateway moves in one test."""
NOTICE_SPEEDTEST_UNSUPPORTED = 501
"""``error`` notice code: this gateway runs no speed tests (v1 gateways before §14)."""
NOTICE_SPEEDTEST_FAILED = 502
"""``error`` notice code: the test stream was refused or reset, or moved the wrong amount."""

SPEEDTEST_NOTICES = frozenset(
    {
        NOTICE_SPEEDTEST_BUSY,
        NOTICE_SPEEDTEST_TOO_LARGE,
        NOTICE_SPEEDTEST_UNSUPPORTED,
        NOTICE_SPEEDTEST_FAILED,
    }
)
"""Notice codes that answer a pending ``speedtest_request`` instead of a result."""

_PATTERN = bytes(range(256)) * 128
"""32 KiB of test payload. The content does not matter (the tunnel compresses nothing)."""


def speedtest_lease_id(direction: str) -> str:
    """The reserved ``OPEN`` lease id of a test in ``direction``.

    Raises:
        ValueError: ``direction`` is neither :data:`DOWN` nor :data:`UP`.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'down' or 'up', not {direction!r}")
    return TEST_LEASE_PREFIX + direction


def speedtest_direction(lease_id: str) -> str | None:
    """The direction of a test stream's lease id, or ``None`` for any other lease id."""
    if not lease_id.startswith(TEST_LEASE_PREFIX):
        return None
    direction = lease_id.removeprefix(TEST_LEASE_PREFIX)
    return direction if direction in DIRECTIONS else None


def mbps(nbytes: int, seconds: float) -> float:
    """Megabits (10⁶ bits, as ISPs and the network's buckets count) per second; a duration
    below a microsecond counts as one."""
    return nbytes * 8 / max(seconds, 1e-6) / 1e6


@dataclass
class SpeedtestTransfer:
    """One end's book of one test stream.

    The sending end generates :attr:`nbytes` bytes as credit allows, then ``FIN``; the
    receiving end counts and consumes them at once (credit flows back as for any stream), and
    answers the sender's ``FIN`` with its own. Each end's clock runs from ``OPEN`` (sent or
    received) to the peer's ``FIN``.
    """

    direction: str
    nbytes: int
    """Test bytes the stream must carry, exactly."""
    sending: bool
    """True at the end that generates the bytes (gateway for down, node for up)."""
    started: float
    moved: int = 0
    """Bytes generated so far (sender) or received so far (receiver)."""

    @property
    def unsent(self) -> int:
        """Bytes the sender still has to generate (0 at the receiver)."""
        return self.nbytes - self.moved if self.sending else 0

    def chunk(self, credit: int, limit: int) -> bytes:
        """Sender: the next payload, at most ``credit`` and ``limit`` bytes (counted as moved)."""
        size = min(self.unsent, credit, limit, len(_PATTERN))
        self.moved += size
        return _PATTERN[:size]

    def receive(self, size: int) -> str:
        """Receiver: count ``size`` arrived bytes; returns why they break the test, or ``""``."""
        if self.sending:
            return "DATA from the receiving end of a speed test"
        if self.moved + size > self.nbytes:
            return f"more than the {self.nbytes} test bytes requested"
        self.moved += size
        return ""

    def finished_early(self, fin_sent: bool) -> str:
        """On the peer's ``FIN``: why the test ended too early, or ``""`` if it is complete."""
        if self.sending:
            return "" if fin_sent else "the receiver finished before all test bytes were sent"
        if self.moved != self.nbytes:
            return f"{self.moved} of {self.nbytes} test bytes arrived"
        return ""
