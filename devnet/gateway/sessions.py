"""The live sessions, one per wallet (the real gateway's "already running on another device").

A second login from a wallet that has an open session is refused with ``ALREADY_CONNECTED``,
unless it comes from the same installation (same ``client.instance_id``): then it replaces the
old session, so a node that reconnects after a network drop is not locked out until the old
session's heartbeat timeout expires (PROTOCOL.md §5.3).

The replaced session is closed with ``ALREADY_CONNECTED`` as §5.3 says, not a retryable code:
usually nobody hears it (the old connection is dead), and when someone does it is a second copy
of the same installation (a copied data folder), which must stop and say "already running on
another device" rather than take the session back on every reconnect, for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from gateway_client.client import Connection
from gateway_client.exceptions import CloseCode
from gateway_client.messages import Capacity, ClientInfo, Prices, Usage
from gateway_client.protocol import State

from .auth import AuthRefused

__all__ = ["REPLACED_REASON", "Session", "SessionRegistry"]

log = logging.getLogger(__name__)

REPLACED_REASON = "replaced by a newer session"
"""Close reason sent to a session replaced by a login from the same installation."""


@dataclass(eq=False)
class Session:
    """One admitted node session and what the node reported on it."""

    address: str
    """The wallet address, checksummed."""
    fizz_id: int
    session_id: str
    client: ClientInfo
    connection: Connection
    opened_at: float = field(default_factory=time.time)
    """Unix time the session opened."""
    capacity: Capacity | None = None
    """The node's latest ``capacity`` report."""
    prices: Prices | None = None
    """The node's latest ``prices``."""
    usage: dict[str, Usage] = field(default_factory=dict)
    """The latest ``usage`` report per lease id."""
    unpublished: set[tuple[str, int]] = field(default_factory=set)
    """``(lease id, port)`` pairs the node was told have no public port (told once)."""
    speedtest: int | None = None
    """The stream id of the speed test running now (one at a time per session)."""
    speedtest_timer: asyncio.TimerHandle | None = None
    """Gives up :attr:`speedtest` if it runs too long."""
    bandwidth: dict[str, float] = field(default_factory=dict)
    """Mbit/s measured on this session by direction (``"down"``, ``"up"``)."""
    last_rejection: tuple[float, str] | None = None
    """``(time.monotonic(), reason)`` of the node's latest ``lease_reject``: the bidding agent
    (:mod:`devnet.market.bidding`) leaves a node that just refused work alone for a while."""

    @property
    def name(self) -> str:
        """The node's name in ``/status``: its address, lowercase, without ``0x``."""
        return self.address.lower().removeprefix("0x")

    @property
    def is_open(self) -> bool:
        """True while the session carries traffic (not closing or closed)."""
        return self.connection.protocol.state is State.OPEN


class SessionRegistry:
    """Admitted sessions by wallet address (lowercase key)."""

    def __init__(self) -> None:
        self._by_address: dict[str, Session] = {}

    def admit(self, session: Session) -> Session | None:
        """Register ``session`` as its wallet's live session.

        Returns:
            The session it replaced (already told to close), or ``None``.

        Raises:
            AuthRefused: ``ALREADY_CONNECTED``: the wallet has an open session from another
                installation (or one of the two gave no ``instance_id``).
        """
        key = session.address.lower()
        current = self._by_address.get(key)
        if current is not None and current.is_open:
            old_id, new_id = current.client.instance_id, session.client.instance_id
            if old_id is None or new_id is None or old_id != new_id:
                raise AuthRefused(CloseCode.ALREADY_CONNECTED, "already running on another device")
            log.info("node %s reconnected from the same instance: replacing", session.address)
            current.connection.fail(CloseCode.ALREADY_CONNECTED, REPLACED_REASON)
        self._by_address[key] = session
        return current

    def remove(self, session: Session) -> bool:
        """Forget ``session`` if it is still its wallet's live one; True if it was."""
        key = session.address.lower()
        if self._by_address.get(key) is session:
            del self._by_address[key]
            return True
        return False

    def get(self, address: str) -> Session | None:
        """The wallet's live session, if any (it may be closing)."""
        return self._by_address.get(address.lower())

    def open_session(self, address: str) -> Session | None:
        """The wallet's session if it is open right now."""
        session = self.get(address)
        return session if session is not None and session.is_open else None

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_address.values()))

    def __len__(self) -> int:
        return len(self._by_address)
